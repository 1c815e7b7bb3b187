//! The constraint side of generation: a request's JSON Schema, regex or Lark grammar as
//! llguidance's matcher, under per-request limits; the errors it gives; and the check of
//! a generated JSON value by jsonschema.

use llguidance::api::{ParserLimits, TopLevelGrammar};
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
