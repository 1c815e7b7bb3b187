//! The constraint side of generation: a request's JSON Schema, regex or Lark grammar as
//! llguidance's matcher, under per-request limits; the errors it gives; and the check of
//! a generated JSON value by jsonschema.

use llguidance::api::{ParserLimits, TopLevelGrammar};
use llguidance::toktrie::SimpleVob;
use llguidance::Matcher;
use serde_json::Value;

use super::{Constraint, Generator};
use crate::error::{Result, SchemaError, TriageError};

/// Grammar-engine limits for one request: a hostile schema or grammar is refused (422)
/// or cut off, never left to run. llguidance's defaults (2k items per row, 250k lexer
/// states, 500k grammar symbols) are for servers; these bound a request to a few MB and
/// milliseconds (its documented speeds: 50k fuel/ms, 14k/ms per mask).
pub(super) fn parser_limits() -> ParserLimits {
    ParserLimits {
        max_items_in_row: 2_000,
        initial_lexer_fuel: 1_000_000,
        step_lexer_fuel: 200_000,
        step_max_items: 50_000,
        max_lexer_states: 20_000,
        max_grammar_size: 100_000,
        precompute_large_lexemes: true,
        verbose_errors: false,
    }
}

/// Bytes a request's grammar state may take at most beside the model (lexer states at
/// about 1 kB each, Earley rows): counted in the memory estimate.
pub(super) const GRAMMAR_RESERVE_BYTES: usize = 24 * 1024 * 1024;

/// The tokens `matcher`'s grammar allows next; `None` once it has ended. A matcher that
/// failed (past its limits) is the grammar's failure, checked before `is_stopped`, which a
/// failed matcher reports too.
pub(super) fn next_mask(matcher: &mut Matcher) -> Result<Option<SimpleVob>> {
    let mask = matcher.compute_mask();
    if let Some(error) = matcher.get_error() {
        return Err(grammar_failed(error));
    }
    if matcher.is_stopped() {
        return Ok(None);
    }
    mask.map(Some).map_err(grammar_failed)
}

/// Keywords whose value is a schema, or a list or map of schemas.
const SUBSCHEMAS: [&str; 10] = [
    "properties",
    "items",
    "prefixItems",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "$defs",
    "definitions",
    "patternProperties",
];

/// Writes every object schema that lists `properties` and says nothing of others
/// (`additionalProperties`, `patternProperties`) as closed to them, in place and at every
/// depth. JSON Schema allows other properties there, and a small model given the freedom
/// invents keys until its budget runs out (measured: `{"city", "guests"}` became
/// `"date"`, `"country"`, `"country_region"`, ... and 422 `unfinished`). The grammar gets
/// the closed schema; the value is validated against the request's, which it satisfies.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !map.contains_key("patternProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for key in SUBSCHEMAS {
                match map.get_mut(key) {
                    Some(Value::Object(inner))
                        if matches!(
                            key,
                            "properties" | "$defs" | "definitions" | "patternProperties"
                        ) =>
                    {
                        inner.values_mut().for_each(close_objects);
                    }
                    Some(value) => close_objects(value),
                    None => {}
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

impl Generator {
    /// The grammar for `constraint`, checked against the grammar budget. JSON is written
    /// compactly (`", "` and `": "`, no free whitespace): a small model given free
    /// whitespace can spend its budget on it.
    pub(super) fn grammar(&self, constraint: &Constraint) -> Result<Option<TopLevelGrammar>> {
        let size = |bytes: usize| -> Result<()> {
            if bytes > self.budgets.max_grammar_bytes {
                return Err(SchemaError::TooLarge {
                    what: "bytes of grammar",
                    limit: self.budgets.max_grammar_bytes,
                    actual: bytes,
                }
                .into());
            }
            Ok(())
        };
        Ok(match constraint {
            Constraint::None => None,
            Constraint::JsonSchema(schema) => {
                size(serde_json::to_string(schema).map_or(usize::MAX, |s| s.len()))?;
                let mut schema = schema.clone();
                close_objects(&mut schema);
                // oneOf is written as anyOf (llguidance cannot exclude the other branches);
                // the validation after generation enforces it.
                let options = serde_json::json!({
                    "whitespace_flexible": false,
                    "item_separator": ", ",
                    "key_separator": ": ",
                    "coerce_one_of": true,
                });
                match &mut schema {
                    Value::Object(map) => {
                        map.insert("x-guidance".into(), options);
                    }
                    Value::Bool(true) => {
                        schema = serde_json::json!({"x-guidance": options});
                    }
                    _ => return Err(unsupported("schema", "must be an object (or true)".into())),
                }
                Some(TopLevelGrammar::from_json_schema(schema))
            }
            Constraint::Regex(regex) => {
                size(regex.len())?;
                Some(TopLevelGrammar::from_regex(regex))
            }
            Constraint::Lark(lark) => {
                size(lark.len())?;
                Some(TopLevelGrammar::from_lark(lark.clone()))
            }
        })
    }

    /// The grammar engine's matcher for `constraint`, for at most `max_tokens` tokens;
    /// `None` without a constraint.
    pub(super) fn matcher(
        &self,
        constraint: &Constraint,
        max_tokens: usize,
    ) -> Result<Option<Matcher>> {
        let Some(mut grammar) = self.grammar(constraint)? else {
            return Ok(None);
        };
        grammar.max_tokens = Some(max_tokens);
        let matcher = Matcher::new(self.factory.create_parser(grammar));
        if let Some(error) = matcher.get_error() {
            return Err(unsupported("grammar", error));
        }
        Ok(Some(matcher))
    }
}

/// The generated JSON, parsed and validated against `schema` by jsonschema: what
/// llguidance's grammar guarantees, checked by another implementation. A value the grammar
/// allowed and the schema refuses comes from what llguidance approximates (`oneOf` as
/// `anyOf`, some formats): the schema is at fault for this decoder, 422.
pub(super) fn checked_value(text: &str, schema: &Value) -> Result<Value> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        TriageError::Inference(format!(
            "the grammar let through JSON that does not parse: {e}"
        ))
    })?;
    let validator =
        jsonschema::validator_for(schema).map_err(|e| unsupported("schema", e.to_string()))?;
    if let Some(error) = validator.iter_errors(&value).next() {
        return Err(unsupported(
            "schema",
            format!(
                "asks for more than the grammar enforces: the generated {text} fails it at \
                 {:?} ({error}); oneOf is generated as anyOf",
                error.instance_path().to_string()
            ),
        ));
    }
    Ok(value)
}

pub(super) fn unsupported(keyword: &str, reason: String) -> TriageError {
    SchemaError::Unsupported {
        pointer: "the request".into(),
        keyword: keyword.into(),
        reason,
    }
    .into()
}

/// The grammar engine stopped mid-generation: a grammar past its limits (lexer states,
/// Earley items, fuel per mask), which is the request's, so 422.
pub(super) fn grammar_failed(error: impl std::fmt::Display) -> TriageError {
    let reason = error.to_string();
    let reason = reason.lines().next().unwrap_or("").trim();
    unsupported(
        "grammar",
        format!("is past the grammar engine's limits for one request ({reason})"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::close_objects;

    #[test]
    fn objects_are_closed_at_every_depth_unless_they_say_otherwise() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "object", "properties": {"b": {"type": "string"}}},
                "c": {"type": "array", "items": {"properties": {"d": {}}}},
                "e": {"type": "object", "properties": {}, "additionalProperties": true},
                "f": {"anyOf": [{"properties": {"g": {}}}, {"type": "null"}]}
            },
            "$defs": {"h": {"properties": {"i": {}}, "patternProperties": {"^x": {}}}}
        });
        close_objects(&mut schema);
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["a"]["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["c"]["items"]["additionalProperties"],
            false
        );
        assert_eq!(schema["properties"]["e"]["additionalProperties"], true);
        assert_eq!(
            schema["properties"]["f"]["anyOf"][0]["additionalProperties"],
            false
        );
        assert!(schema["$defs"]["h"].get("additionalProperties").is_none());
        // A property named like a keyword is a name, not a schema keyword.
        let mut named = json!({"properties": {"items": {"type": "string"}}});
        close_objects(&mut named);
        assert_eq!(named["properties"]["items"], json!({"type": "string"}));
    }
}
