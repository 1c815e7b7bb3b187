//! The JSON Schema subset `/v1/parse` decodes, read into fields whose allowed values are
//! known before any inference. A schema outside the subset is refused naming the keyword;
//! one over the [`SchemaBudgets`] is refused naming the budget, before any work is done.
//!
//! The subset: an object schema with `properties` and `required`; each property a
//! `string` (`enum`, `const`, or `oneOf`/`anyOf` branches of `const`), a `boolean`, an
//! `integer` (a finite list, or `minimum`..=`maximum`) or a `number` in [0, 1] (`minimum`,
//! `maximum`). Integer keywords are read exactly (see [`crate::parse::json_number`]), and an
//! integer is answered as a JSON integer (`1`, never `1.0`) within the `i64`/`u64` range. A branch may describe its value with `title`, `description` and
//! `examples`: the examples are texts that mean that value, the few shots of few-shot.

use std::cmp::Ordering;

use serde_json::{Map, Value};

pub use crate::engine::classify::LabelSpec;
pub use crate::error::SchemaError;
use crate::parse::json_number::{integer_value, same_value, Exact};
use crate::parse::spans::{
    compile_pattern, pattern_positions, Constraints, Format, MAX_CANDIDATES, MAX_PATTERN_BYTES,
    MAX_SCHEMA_PATTERN_POSITIONS,
};

/// Caps on a schema, so that a hostile one cannot exhaust memory or CPU: every value and
/// prototype text is embedded once per compiled schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SchemaBudgets {
    /// Bytes of the schema's JSON.
    pub max_schema_bytes: usize,
    /// Properties of the object.
    pub max_properties: usize,
    /// Allowed values of one property (enum values, branches, integers in range).
    pub max_values: usize,
    /// Texts (descriptions, titles, examples) embedded to build one schema's prototypes.
    pub max_prototype_texts: usize,
}

impl Default for SchemaBudgets {
    fn default() -> Self {
        SchemaBudgets {
            max_schema_bytes: 16 * 1024,
            max_properties: 16,
            max_values: 32,
            max_prototype_texts: 256,
        }
    }
}

impl SchemaError {
    fn unsupported(pointer: &str, keyword: &str, reason: impl Into<String>) -> SchemaError {
        SchemaError::Unsupported {
            pointer: if pointer.is_empty() {
                "the root".into()
            } else {
                pointer.into()
            },
            keyword: keyword.into(),
            reason: reason.into(),
        }
    }
}

/// A schema read into fields, each with its allowed values and the texts that describe
/// them. [`crate::parse`] embeds those texts into prototypes.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseSchema {
    /// The properties, in the schema's order.
    pub fields: Vec<Field>,
    /// The schema as sent: answers are validated against it with the `jsonschema` crate.
    pub document: Value,
}

/// One property of the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    /// Whether `required` names it: required fields are always answered.
    pub required: bool,
    pub kind: FieldKind,
}

/// How a field's value is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// One of a finite list of values, each scored against its prototype.
    Choice(Vec<Choice>),
    /// A number in `[min, max]` within [0, 1]: the weight of the `high` anchor against the
    /// `low` one.
    Unit {
        min: f64,
        max: f64,
        anchors: Anchors,
    },
    /// A string taken from the text (`format` and/or `pattern`, lengths): every candidate
    /// satisfies the constraints; the `description`, when given, ranks several.
    Span {
        constraints: Constraints,
        description: Option<String>,
    },
    /// An array of every distinct string of the text that satisfies `constraints`, in text
    /// order: at least `min_items`, at most `max_items`.
    SpanList {
        constraints: Constraints,
        min_items: usize,
        max_items: usize,
    },
}

/// One allowed value and how it is recognised.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub value: Value,
    pub prototype: Prototype,
}

/// Where a value's prototype vector comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Prototype {
    /// The texts that mean the value (see [`Texts`]).
    Texts(Texts),
    /// A point of an ordered scale: `at` in [0, 1] between the field's two anchors, for
    /// booleans (false 0, true 1) and numbers without texts of their own.
    Scale { at: f64, anchors: Anchors },
}

/// The texts that mean a value: what describes it (its `title` and `description`, or the
/// value itself for a string without them) and its `examples`, the shots of few-shot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Texts {
    pub describing: Vec<String>,
    pub examples: Vec<String>,
}

impl Texts {
    /// How many texts there are to embed.
    pub fn len(&self) -> usize {
        self.describing.len() + self.examples.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The two ends of an ordered scale, from the property's `description`.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchors {
    pub low: String,
    pub high: String,
}

impl Anchors {
    /// `high` is the description, `low` its negation: a property that says what its top
    /// value means ("the customer fixed it themselves") gives both ends of the scale.
    fn from_description(description: &str) -> Anchors {
        Anchors {
            low: format!("not {description}"),
            high: description.to_owned(),
        }
    }
}

/// Keywords that only annotate: accepted anywhere, never affect decoding.
const ANNOTATIONS: [&str; 6] = [
    "title",
    "description",
    "examples",
    "$comment",
    "default",
    "deprecated",
];
const ROOT_KEYWORDS: [&str; 6] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "$schema",
    "$id",
];
const PROPERTY_KEYWORDS: [&str; 11] = [
    "type",
    "enum",
    "const",
    "oneOf",
    "anyOf",
    "minimum",
    "maximum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
];
const BRANCH_KEYWORDS: [&str; 1] = ["const"];

impl ParseSchema {
    /// Reads `document` into fields, or says which keyword or budget stops it. `bytes` is
    /// the size of the schema's JSON as sent.
    pub fn from_value(
        document: Value,
        bytes: usize,
        budgets: &SchemaBudgets,
    ) -> Result<ParseSchema, SchemaError> {
        if bytes > budgets.max_schema_bytes {
            return Err(SchemaError::TooLarge {
                what: "bytes",
                limit: budgets.max_schema_bytes,
                actual: bytes,
            });
        }
        let root = as_object(&document, "")?;
        check_keywords(root, "", &ROOT_KEYWORDS)?;
        check_draft(root)?;
        if root.get("type") != Some(&Value::from("object")) {
            return Err(SchemaError::unsupported(
                "",
                "type",
                "must be \"object\": /v1/parse answers with one object",
            ));
        }
        if let Some(extra) = root.get("additionalProperties") {
            if !extra.is_boolean() {
                return Err(SchemaError::unsupported(
                    "",
                    "additionalProperties",
                    "must be true or false",
                ));
            }
        }
        let properties = match root.get("properties") {
            Some(Value::Object(properties)) if !properties.is_empty() => properties,
            _ => {
                return Err(SchemaError::unsupported(
                    "",
                    "properties",
                    "must be a non-empty object of properties",
                ))
            }
        };
        if properties.len() > budgets.max_properties {
            return Err(SchemaError::TooLarge {
                what: "properties",
                limit: budgets.max_properties,
                actual: properties.len(),
            });
        }
        let required = required_names(root, properties)?;
        let mut fields = Vec::with_capacity(properties.len());
        let mut texts = 0;
        let mut positions = 0;
        for (name, property) in properties {
            let pointer = format!("/properties/{}", escape_pointer(name));
            let kind = field_kind(property, &pointer, budgets)?;
            texts += prototype_texts(&kind);
            positions += pattern_cost(&kind);
            if positions > MAX_SCHEMA_PATTERN_POSITIONS {
                return Err(SchemaError::TooLarge {
                    what: "pattern positions (pieces times their repetition counts)",
                    limit: MAX_SCHEMA_PATTERN_POSITIONS,
                    actual: positions,
                });
            }
            if texts > budgets.max_prototype_texts {
                return Err(SchemaError::TooLarge {
                    what: "prototype texts (descriptions, titles, examples)",
                    limit: budgets.max_prototype_texts,
                    actual: texts,
                });
            }
            fields.push(Field {
                name: name.clone(),
                required: required.contains(&name.as_str()),
                kind,
            });
        }
        Ok(ParseSchema { fields, document })
    }

    /// A one-field schema for ad-hoc labels (`/v1/classify` with `labels`): the field
    /// `label`, required, one string per label.
    pub fn for_labels(
        labels: &[LabelSpec],
        budgets: &SchemaBudgets,
    ) -> Result<ParseSchema, SchemaError> {
        let branches: Vec<Value> = labels
            .iter()
            .map(|label| {
                let mut branch = Map::new();
                branch.insert("const".into(), Value::from(label.label.as_str()));
                if let Some(description) = &label.description {
                    branch.insert("description".into(), Value::from(description.as_str()));
                }
                if !label.examples.is_empty() {
                    branch.insert("examples".into(), Value::from(label.examples.clone()));
                }
                Value::Object(branch)
            })
            .collect();
        let document = serde_json::json!({
            "type": "object",
            "properties": {"label": {"type": "string", "oneOf": branches}},
            "required": ["label"],
        });
        let bytes = document.to_string().len();
        ParseSchema::from_value(document, bytes, budgets)
    }
}

fn as_object<'a>(value: &'a Value, pointer: &str) -> Result<&'a Map<String, Value>, SchemaError> {
    value.as_object().ok_or_else(|| {
        SchemaError::unsupported(pointer, "type", "this schema must be a JSON object")
    })
}

fn check_keywords(
    object: &Map<String, Value>,
    pointer: &str,
    allowed: &[&str],
) -> Result<(), SchemaError> {
    match object
        .keys()
        .find(|key| !allowed.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()))
    {
        Some(keyword) => Err(SchemaError::unsupported(
            pointer,
            keyword,
            "is not supported by the decoder here",
        )),
        None => Ok(()),
    }
}

/// `$schema`, when given, must name a draft where `const`, `oneOf` and `examples` mean
/// what the decoder assumes (draft 6 on). Under draft 4 `const` is unknown, so branches of
/// `const` would all match and a decoded value would fail its own `oneOf`.
fn check_draft(root: &Map<String, Value>) -> Result<(), SchemaError> {
    const DRAFTS: [&str; 4] = [
        "json-schema.org/draft/2020-12/schema",
        "json-schema.org/draft/2019-09/schema",
        "json-schema.org/draft-07/schema",
        "json-schema.org/draft-06/schema",
    ];
    let Some(uri) = root.get("$schema") else {
        return Ok(());
    };
    let known = uri.as_str().is_some_and(|uri| {
        let uri = uri.trim_end_matches('#');
        let uri = uri
            .strip_prefix("https://")
            .or_else(|| uri.strip_prefix("http://"))
            .unwrap_or(uri);
        DRAFTS.contains(&uri)
    });
    if known {
        Ok(())
    } else {
        Err(SchemaError::unsupported(
            "",
            "$schema",
            "must name JSON Schema draft 2020-12, 2019-09, 7 or 6",
        ))
    }
}

fn required_names<'a>(
    root: &'a Map<String, Value>,
    properties: &Map<String, Value>,
) -> Result<Vec<&'a str>, SchemaError> {
    let Some(required) = root.get("required") else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| SchemaError::unsupported("", "required", reason);
    let names = required
        .as_array()
        .ok_or_else(|| bad("must be an array of property names".into()))?;
    names
        .iter()
        .map(|name| match name.as_str() {
            Some(name) if properties.contains_key(name) => Ok(name),
            Some(name) => Err(bad(format!("names {name:?}, which is not a property"))),
            None => Err(bad("must hold strings".into())),
        })
        .collect()
}

/// The allowed values of one property and their prototypes.
fn field_kind(
    property: &Value,
    pointer: &str,
    budgets: &SchemaBudgets,
) -> Result<FieldKind, SchemaError> {
    let object = as_object(property, pointer)?;
    if object.get("type").and_then(Value::as_str) == Some("array") {
        return span_list_kind(object, pointer);
    }
    check_keywords(object, pointer, &PROPERTY_KEYWORDS)?;
    let kind = match object.get("type").and_then(Value::as_str) {
        Some(kind @ ("string" | "boolean" | "integer" | "number")) => kind,
        Some(other) => {
            return Err(SchemaError::unsupported(
                pointer,
                "type",
                format!(
                    "{other:?} is not decodable; use string, boolean, integer, number, or an \
                     array of strings taken from the text"
                ),
            ))
        }
        None => {
            return Err(SchemaError::unsupported(
                pointer,
                "type",
                "must be one of \"string\", \"boolean\", \"integer\", \"number\"",
            ))
        }
    };
    let description = object.get("description").and_then(Value::as_str);
    let extracted = ["format", "pattern", "minLength", "maxLength"]
        .into_iter()
        .find(|keyword| object.contains_key(*keyword));
    if let Some(keyword) = extracted {
        let listed = ["enum", "const", "oneOf", "anyOf"]
            .into_iter()
            .find(|k| object.contains_key(*k));
        if kind != "string" || listed.is_some() {
            return Err(SchemaError::unsupported(
                pointer,
                keyword,
                "applies to a string taken from the text: a `type: string` property \
                 without enum, const, oneOf or anyOf",
            ));
        }
        return span_kind(object, pointer, description);
    }
    let branches = branches(object, pointer, budgets)?;
    let minimum = bound(object, pointer, "minimum")?;
    let maximum = bound(object, pointer, "maximum")?;
    if (minimum.is_some() || maximum.is_some()) && !matches!(kind, "integer" | "number") {
        return Err(SchemaError::unsupported(
            pointer,
            if minimum.is_some() {
                "minimum"
            } else {
                "maximum"
            },
            format!("applies to numbers, not to a {kind}"),
        ));
    }

    // The candidate values: the first finite list the schema gives, then every other
    // keyword filters it, so that only values the whole schema allows remain.
    let listed = match (&branches, object.get("enum"), object.get("const")) {
        (Some(branches), _, _) => Some(branches.iter().map(|(v, _)| v.clone()).collect()),
        (None, Some(values), _) => Some(enum_values(values, pointer, budgets)?),
        (None, None, Some(value)) => Some(vec![value.clone()]),
        (None, None, None) => None,
    };
    let candidates: Vec<Value> = match (listed, kind) {
        (Some(values), _) => values,
        (None, "boolean") => vec![Value::from(false), Value::from(true)],
        (None, "integer") => integer_range(pointer, minimum, maximum, budgets)?,
        (None, "number") => {
            let (min, max) = unit_bounds(pointer, minimum, maximum)?;
            let anchors = anchors(description, pointer)?;
            return Ok(FieldKind::Unit { min, max, anchors });
        }
        // A plain string with a description: a phrase of the text.
        (None, "string") if description.is_some_and(|d| !d.trim().is_empty()) => {
            return span_kind(object, pointer, description);
        }
        (None, _) => {
            return Err(SchemaError::unsupported(
                pointer,
                "enum",
                "is needed, or a `format` or `pattern` to take the string from the text, or \
                 a `description` of the phrase to take: a free string cannot be decoded \
                 only among allowed values",
            ))
        }
    };
    let allowed: Vec<Value> = candidates
        .into_iter()
        .filter(|value| matches_type(value, kind))
        .filter(|value| {
            object.get("enum").is_none_or(|e| {
                e.as_array()
                    .is_some_and(|e| e.iter().any(|v| same_value(v, value)))
            })
        })
        .filter(|value| object.get("const").is_none_or(|c| same_value(c, value)))
        .filter(|value| within(value, minimum, maximum))
        .map(|value| as_integer_if(kind, value, pointer))
        .collect::<Result<_, _>>()?;
    if allowed.is_empty() {
        let keyword = ["oneOf", "anyOf", "enum", "const", "minimum", "maximum"]
            .into_iter()
            .find(|k| object.contains_key(*k))
            .unwrap_or("type");
        return Err(SchemaError::unsupported(
            pointer,
            keyword,
            format!("leaves no {kind} value the schema allows"),
        ));
    }
    if allowed.len() > budgets.max_values {
        return Err(SchemaError::TooLarge {
            what: "values in one property",
            limit: budgets.max_values,
            actual: allowed.len(),
        });
    }
    let mut choices = Vec::with_capacity(allowed.len());
    let (low, high) = numeric_span(&allowed);
    for value in allowed {
        let texts = branches
            .as_ref()
            .and_then(|b| b.iter().find(|(v, _)| same_value(v, &value)))
            .map(|(_, texts)| texts.clone())
            .unwrap_or_default();
        let prototype = if !texts.is_empty() {
            Prototype::Texts(texts)
        } else if let Some(text) = value.as_str() {
            Prototype::Texts(Texts {
                describing: vec![humanize(text)],
                examples: Vec::new(),
            })
        } else {
            let at = match (&value, Exact::of(&value), low, high) {
                (Value::Bool(b), _, _, _) => f64::from(u8::from(*b)),
                (_, Some(v), Some(low), Some(high)) => position(v, low, high),
                _ => 1.0,
            };
            Prototype::Scale {
                at,
                anchors: anchors(description, pointer)?,
            }
        };
        choices.push(Choice { value, prototype });
    }
    Ok(FieldKind::Choice(choices))
}

/// A string property taken from the text: its `format` (one of [`Format::NAMES`]),
/// `pattern` (compiled under the size limits) and lengths.
fn span_kind(
    object: &Map<String, Value>,
    pointer: &str,
    description: Option<&str>,
) -> Result<FieldKind, SchemaError> {
    let format = match object.get("format") {
        None => None,
        Some(value) => Some(value.as_str().and_then(Format::from_name).ok_or_else(|| {
            SchemaError::unsupported(
                pointer,
                "format",
                format!(
                    "{value} cannot be taken from a text; use one of {}",
                    Format::NAMES
                ),
            )
        })?),
    };
    let pattern = match object.get("pattern") {
        None => None,
        Some(Value::String(pattern)) if pattern.len() > MAX_PATTERN_BYTES => {
            return Err(SchemaError::TooLarge {
                what: "bytes in a pattern",
                limit: MAX_PATTERN_BYTES,
                actual: pattern.len(),
            })
        }
        Some(Value::String(pattern)) => Some(
            compile_pattern(pattern)
                .map_err(|reason| SchemaError::unsupported(pointer, "pattern", reason))?,
        ),
        Some(_) => {
            return Err(SchemaError::unsupported(
                pointer,
                "pattern",
                "must be a string",
            ))
        }
    };
    // A plain string is a phrase of the text, ranked by its description: without one there
    // is nothing to say which.
    if format.is_none() && pattern.is_none() && description.is_none_or(|d| d.trim().is_empty()) {
        let keyword = ["minLength", "maxLength"]
            .into_iter()
            .find(|k| object.contains_key(*k))
            .unwrap_or("format");
        return Err(SchemaError::unsupported(
            pointer,
            keyword,
            "needs a `format` or a `pattern` that says which spans of the text are values, \
             or (not in an array) a `description` of the phrase to take",
        ));
    }
    let length = |keyword: &str| -> Result<Option<usize>, SchemaError> {
        match object.get(keyword) {
            None => Ok(None),
            Some(value) => value.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                SchemaError::unsupported(pointer, keyword, "must be a whole number >= 0")
            }),
        }
    };
    let (min_length, max_length) = (length("minLength")?, length("maxLength")?);
    if let (Some(min), Some(max)) = (min_length, max_length) {
        if min > max {
            return Err(SchemaError::unsupported(
                pointer,
                "maxLength",
                format!("is {max}, under minLength {min}: no string fits"),
            ));
        }
    }
    Ok(FieldKind::Span {
        constraints: Constraints::new(format, pattern, min_length, max_length),
        description: description.map(str::to_owned),
    })
}

/// `{"type": "array", "items": {"type": "string", "format" | "pattern" ...}}`, with
/// `minItems`, `maxItems` (at most [`MAX_CANDIDATES`]) and `uniqueItems`: the strings of
/// the text that satisfy the items' constraints.
fn span_list_kind(object: &Map<String, Value>, pointer: &str) -> Result<FieldKind, SchemaError> {
    check_keywords(
        object,
        pointer,
        &["type", "items", "minItems", "maxItems", "uniqueItems"],
    )?;
    let items_pointer = format!("{pointer}/items");
    let items = match object.get("items") {
        Some(Value::Object(items)) => items,
        _ => {
            return Err(SchemaError::unsupported(
                pointer,
                "items",
                "must be a `type: string` schema with a `format` or `pattern`: an array is \
                 the strings taken from the text",
            ))
        }
    };
    check_keywords(
        items,
        &items_pointer,
        &["type", "format", "pattern", "minLength", "maxLength"],
    )?;
    if items.get("type").and_then(Value::as_str) != Some("string") {
        return Err(SchemaError::unsupported(
            &items_pointer,
            "type",
            "must be \"string\": an array is the strings taken from the text",
        ));
    }
    let FieldKind::Span { constraints, .. } = span_kind(items, &items_pointer, None)? else {
        unreachable!("span_kind answers spans");
    };
    let count = |keyword: &str| -> Result<Option<usize>, SchemaError> {
        match object.get(keyword) {
            None => Ok(None),
            Some(value) => value.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                SchemaError::unsupported(pointer, keyword, "must be a whole number >= 0")
            }),
        }
    };
    let min_items = count("minItems")?.unwrap_or(0);
    let max_items = count("maxItems")?.unwrap_or(MAX_CANDIDATES);
    if max_items > MAX_CANDIDATES || min_items > max_items {
        return Err(SchemaError::unsupported(
            pointer,
            if max_items > MAX_CANDIDATES {
                "maxItems"
            } else {
                "minItems"
            },
            format!(
                "minItems {min_items} and maxItems {max_items}: at most {MAX_CANDIDATES} \
                 strings are taken from a text, and minItems cannot exceed maxItems"
            ),
        ));
    }
    if object.get("uniqueItems").is_some_and(|v| !v.is_boolean()) {
        return Err(SchemaError::unsupported(
            pointer,
            "uniqueItems",
            "must be true or false",
        ));
    }
    Ok(FieldKind::SpanList {
        constraints,
        min_items,
        max_items,
    })
}

/// One `oneOf`/`anyOf` branch: its `const` and the texts that describe it.
type Branch = (Value, Texts);

/// `oneOf` or `anyOf` (not both): branches of `const` with their describing texts.
fn branches(
    object: &Map<String, Value>,
    pointer: &str,
    budgets: &SchemaBudgets,
) -> Result<Option<Vec<Branch>>, SchemaError> {
    let (keyword, list) = match (object.get("oneOf"), object.get("anyOf")) {
        (Some(_), Some(_)) => {
            return Err(SchemaError::unsupported(
                pointer,
                "anyOf",
                "cannot be combined with oneOf here",
            ))
        }
        (Some(list), None) => ("oneOf", list),
        (None, Some(list)) => ("anyOf", list),
        (None, None) => return Ok(None),
    };
    let list = list
        .as_array()
        .ok_or_else(|| SchemaError::unsupported(pointer, keyword, "must be an array"))?;
    if list.len() > budgets.max_values {
        return Err(SchemaError::TooLarge {
            what: "values in one property",
            limit: budgets.max_values,
            actual: list.len(),
        });
    }
    let mut out: Vec<Branch> = Vec::with_capacity(list.len());
    for (index, branch) in list.iter().enumerate() {
        let at = format!("{pointer}/{keyword}/{index}");
        let branch = as_object(branch, &at)?;
        check_keywords(branch, &at, &BRANCH_KEYWORDS)?;
        let value = branch
            .get("const")
            .ok_or_else(|| SchemaError::unsupported(&at, "const", "is needed in every branch"))?;
        if out.iter().any(|(v, _)| same_value(v, value)) {
            return Err(SchemaError::unsupported(
                &at,
                "const",
                format!("repeats the value {value}"),
            ));
        }
        out.push((value.clone(), branch_texts(branch, &at)?));
    }
    Ok(Some(out))
}

/// A branch's title, description and examples (texts that mean its value).
fn branch_texts(branch: &Map<String, Value>, pointer: &str) -> Result<Texts, SchemaError> {
    let mut texts = Texts::default();
    for key in ["title", "description"] {
        match branch.get(key) {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                texts.describing.push(text.clone())
            }
            Some(Value::String(_)) | None => {}
            Some(_) => return Err(SchemaError::unsupported(pointer, key, "must be a string")),
        }
    }
    match branch.get("examples") {
        None => {}
        Some(Value::Array(examples)) => {
            for example in examples {
                let text = example.as_str().ok_or_else(|| {
                    SchemaError::unsupported(
                        pointer,
                        "examples",
                        "must hold texts that mean this value",
                    )
                })?;
                if !text.trim().is_empty() {
                    texts.examples.push(text.to_owned());
                }
            }
        }
        Some(_) => {
            return Err(SchemaError::unsupported(
                pointer,
                "examples",
                "must be an array",
            ))
        }
    }
    Ok(texts)
}

fn enum_values(
    values: &Value,
    pointer: &str,
    budgets: &SchemaBudgets,
) -> Result<Vec<Value>, SchemaError> {
    let values = values
        .as_array()
        .ok_or_else(|| SchemaError::unsupported(pointer, "enum", "must be an array"))?;
    if values.len() > budgets.max_values {
        return Err(SchemaError::TooLarge {
            what: "values in one property",
            limit: budgets.max_values,
            actual: values.len(),
        });
    }
    for (index, value) in values.iter().enumerate() {
        if values[..index]
            .iter()
            .any(|earlier| same_value(earlier, value))
        {
            return Err(SchemaError::unsupported(
                pointer,
                "enum",
                format!("repeats the value {value}"),
            ));
        }
    }
    Ok(values.clone())
}

fn bound(
    object: &Map<String, Value>,
    pointer: &str,
    keyword: &str,
) -> Result<Option<Exact>, SchemaError> {
    match object.get(keyword) {
        None => Ok(None),
        Some(value) => Exact::of(value)
            .map(Some)
            .ok_or_else(|| SchemaError::unsupported(pointer, keyword, "must be a number")),
    }
}

/// An allowed value of an `integer` field written as a JSON integer (`1.0` -> `1`), so
/// typed clients read an integer; refused naming the keyword that allows it when it is
/// beyond the 64-bit integers JSON parsers keep exactly. Other values pass unchanged.
fn as_integer_if(kind: &str, value: Value, pointer: &str) -> Result<Value, SchemaError> {
    if kind != "integer" || value.is_i64() || value.is_u64() {
        return Ok(value);
    }
    Exact::of(&value)
        .and_then(Exact::integer)
        .and_then(integer_value)
        .ok_or_else(|| {
            SchemaError::unsupported(
                pointer,
                "enum",
                format!("allows {value}, beyond the 64-bit integers the decoder answers with"),
            )
        })
}

fn integer_range(
    pointer: &str,
    minimum: Option<Exact>,
    maximum: Option<Exact>,
    budgets: &SchemaBudgets,
) -> Result<Vec<Value>, SchemaError> {
    let (Some(minimum), Some(maximum)) = (minimum, maximum) else {
        let missing = if minimum.is_none() {
            "minimum"
        } else {
            "maximum"
        };
        return Err(SchemaError::unsupported(
            pointer,
            missing,
            "is needed: an integer is decoded among minimum..=maximum",
        ));
    };
    // Exact: bounds past 2^53 are not rounded, and those beyond i128 saturate (which
    // only makes the span larger or the values unwritable, both refused below).
    let (low, high) = (minimum.ceil(), maximum.floor());
    if high < low {
        return Err(SchemaError::unsupported(
            pointer,
            "maximum",
            "is below minimum: no integer is allowed",
        ));
    }
    let span = high.abs_diff(low).saturating_add(1);
    if span > budgets.max_values as u128 {
        return Err(SchemaError::TooLarge {
            what: "values in one property",
            limit: budgets.max_values,
            actual: usize::try_from(span).unwrap_or(usize::MAX),
        });
    }
    (low..=high)
        .map(|i| {
            integer_value(i).ok_or_else(|| {
                let keyword = if integer_value(low).is_none() {
                    "minimum"
                } else {
                    "maximum"
                };
                SchemaError::unsupported(
                    pointer,
                    keyword,
                    format!("allows {i}, beyond the 64-bit integers the decoder answers with"),
                )
            })
        })
        .collect()
}

fn unit_bounds(
    pointer: &str,
    minimum: Option<Exact>,
    maximum: Option<Exact>,
) -> Result<(f64, f64), SchemaError> {
    match (minimum.map(Exact::approx), maximum.map(Exact::approx)) {
        (Some(min), Some(max))
            if (0.0..=1.0).contains(&min) && (0.0..=1.0).contains(&max) && min < max =>
        {
            Ok((min, max))
        }
        (None, _) => Err(SchemaError::unsupported(
            pointer,
            "minimum",
            "is needed: a number is decoded in [minimum, maximum] within [0, 1]",
        )),
        _ => Err(SchemaError::unsupported(
            pointer,
            "maximum",
            "must be above minimum, both within [0, 1]",
        )),
    }
}

fn anchors(description: Option<&str>, pointer: &str) -> Result<Anchors, SchemaError> {
    match description.map(str::trim) {
        Some(text) if !text.is_empty() => Ok(Anchors::from_description(text)),
        _ => Err(SchemaError::unsupported(
            pointer,
            "description",
            "is needed: it says what the top of the scale means (or describe each value in oneOf)",
        )),
    }
}

fn matches_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => Exact::of(value).is_some_and(Exact::is_integer),
        _ => value.is_number(),
    }
}

/// Whether a number is within `minimum..=maximum`, compared exactly; other values are.
fn within(value: &Value, minimum: Option<Exact>, maximum: Option<Exact>) -> bool {
    match Exact::of(value) {
        Some(v) => {
            minimum.is_none_or(|m| v.cmp(m) != Ordering::Less)
                && maximum.is_none_or(|m| v.cmp(m) != Ordering::Greater)
        }
        None => true,
    }
}

/// The smallest and largest number among `values`, for placing them on a scale.
fn numeric_span(values: &[Value]) -> (Option<Exact>, Option<Exact>) {
    let numbers = values.iter().filter_map(Exact::of);
    let low = numbers
        .clone()
        .reduce(|a, b| if b.cmp(a) == Ordering::Less { b } else { a });
    let high = numbers.reduce(|a, b| if b.cmp(a) == Ordering::Greater { b } else { a });
    (low, high)
}

/// Where `value` sits between `low` (0) and `high` (1); 1 when they are equal. Integers
/// are subtracted exactly first, so 2^53 + 1 and 2^53 + 2 get distinct places.
fn position(value: Exact, low: Exact, high: Exact) -> f64 {
    if high.cmp(low) != Ordering::Greater {
        return 1.0;
    }
    match (value.integer(), low.integer(), high.integer()) {
        (Some(v), Some(l), Some(h)) => match (v.checked_sub(l), h.checked_sub(l)) {
            (Some(from_low), Some(span)) => from_low as f64 / span as f64,
            _ => (value.approx() - low.approx()) / (high.approx() - low.approx()),
        },
        _ => (value.approx() - low.approx()) / (high.approx() - low.approx()),
    }
}

fn prototype_texts(kind: &FieldKind) -> usize {
    match kind {
        FieldKind::Unit { .. } => 2,
        FieldKind::Span { description, .. } => usize::from(description.is_some()),
        FieldKind::SpanList { .. } => 0,
        FieldKind::Choice(choices) => choices
            .iter()
            .map(|choice| match &choice.prototype {
                Prototype::Texts(texts) => texts.len(),
                Prototype::Scale { .. } => 2,
            })
            .sum(),
    }
}

/// The positions the field's `pattern` spells out ([`pattern_positions`]), 0 without one.
fn pattern_cost(kind: &FieldKind) -> usize {
    let pattern = match kind {
        FieldKind::Span { constraints, .. } | FieldKind::SpanList { constraints, .. } => {
            constraints.pattern.as_ref()
        }
        FieldKind::Choice(_) | FieldKind::Unit { .. } => None,
    };
    pattern
        .and_then(|p| pattern_positions(p.as_str()).ok())
        .unwrap_or(0)
}

/// `resolvedOffline`, `risk_area`, `human-chatbot` -> words a sentence model reads.
fn humanize(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let mut previous_lower = false;
    for c in value.chars() {
        if c == '_' || c == '-' {
            out.push(' ');
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            out.push(' ');
        }
        previous_lower = c.is_lowercase();
        out.extend(c.to_lowercase());
    }
    out
}

fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(document: Value) -> Result<ParseSchema, SchemaError> {
        let bytes = document.to_string().len();
        ParseSchema::from_value(document, bytes, &SchemaBudgets::default())
    }

    fn keyword(document: Value) -> String {
        match read(document) {
            Err(SchemaError::Unsupported { keyword, .. }) => keyword,
            other => panic!("expected an unsupported keyword, got {other:?}"),
        }
    }

    #[test]
    fn support_ticket_schema_reads_into_three_fields() {
        let schema = read(json!({
            "type": "object",
            "properties": {
                "category": {"type": "string", "enum": ["incident", "billing", "inquiry"]},
                "urgency": {"type": "integer", "minimum": 1, "maximum": 5,
                            "description": "how urgent the ticket is"},
                "resolvedOffline": {"type": "boolean", "oneOf": [
                    {"const": true, "description": "fixed already", "examples": ["it works now"]},
                    {"const": false, "description": "still broken"}]}
            },
            "required": ["category", "urgency"]
        }))
        .unwrap();
        assert_eq!(schema.fields.len(), 3);
        assert!(schema.fields[0].required && !schema.fields[2].required);
        let FieldKind::Choice(urgency) = &schema.fields[1].kind else {
            panic!()
        };
        assert_eq!(urgency.len(), 5);
        assert!(matches!(urgency[4].prototype, Prototype::Scale { at, .. } if at == 1.0));
        let FieldKind::Choice(resolved) = &schema.fields[2].kind else {
            panic!()
        };
        assert_eq!(
            resolved[0].prototype,
            Prototype::Texts(Texts {
                describing: vec!["fixed already".into()],
                examples: vec!["it works now".into()]
            })
        );
        let FieldKind::Choice(category) = &schema.fields[0].kind else {
            panic!()
        };
        assert_eq!(
            category[1].prototype,
            Prototype::Texts(Texts {
                describing: vec!["billing".into()],
                examples: Vec::new()
            })
        );
    }

    #[test]
    fn unsupported_keywords_types_and_empty_sets_are_named() {
        let with = |property: Value| json!({"type": "object", "properties": {"x": property}});
        assert_eq!(
            keyword(with(json!({"type": "string", "pattern": "(?=a)b"}))),
            "pattern"
        );
        assert_eq!(
            keyword(with(json!({"type": "string", "format": "ipv6"}))),
            "format"
        );
        assert_eq!(
            keyword(with(
                json!({"type": "string", "enum": ["a"], "pattern": "a"})
            )),
            "pattern"
        );
        assert_eq!(
            keyword(with(json!({"type": "integer", "format": "email"}))),
            "format"
        );
        assert_eq!(
            keyword(with(json!({"type": "string", "minLength": 2}))),
            "minLength"
        );
        assert_eq!(
            keyword(with(
                json!({"type": "string", "pattern": "a", "minLength": 3, "maxLength": 2})
            )),
            "maxLength"
        );
        assert_eq!(keyword(with(json!({"type": "string"}))), "enum");
        assert_eq!(
            keyword(with(json!({"type": "array", "items": {"type": "string"}}))),
            "format"
        );
        assert_eq!(
            keyword(with(
                json!({"type": "array", "items": {"type": "integer", "format": "email"}})
            )),
            "type"
        );
        assert_eq!(
            keyword(with(
                json!({"type": "array", "items": {"type": "string", "format": "email"}, "maxItems": 17})
            )),
            "maxItems"
        );
        assert_eq!(keyword(with(json!({"type": "array"}))), "items");
        assert_eq!(keyword(with(json!({"type": "object"}))), "type");
        assert_eq!(
            keyword(with(json!({"type": ["string", "null"], "enum": ["a"]}))),
            "type"
        );
        assert_eq!(keyword(with(json!({"type": "string", "enum": []}))), "enum");
        assert_eq!(
            keyword(with(json!({"type": "string", "enum": ["a", "a"]}))),
            "enum"
        );
        assert_eq!(keyword(with(json!({"$ref": "#/x"}))), "$ref");
        assert_eq!(
            keyword(with(
                json!({"type": "number", "minimum": 0, "maximum": 5, "description": "d"})
            )),
            "maximum"
        );
        assert_eq!(
            keyword(with(json!({"type": "integer", "minimum": 1}))),
            "maximum"
        );
        assert_eq!(keyword(with(json!({"type": "boolean"}))), "description");
        assert_eq!(keyword(json!({"type": "array", "items": {}})), "items");
        let draft4 = json!({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
            "properties": {"x": {"type": "string", "enum": ["a"]}}});
        assert_eq!(keyword(draft4), "$schema", "const means nothing in draft 4");
        assert_eq!(
            keyword(with(
                json!({"type": "integer", "oneOf": [{"const": 1}, {"const": 1.0}]})
            )),
            "const",
            "1 and 1.0 are one value: both branches would match it"
        );
        assert_eq!(
            keyword(json!({"type": "object", "properties": {}})),
            "properties"
        );
        assert_eq!(
            keyword(
                json!({"type": "object", "properties": {"x": {"type": "boolean", "description": "d"}}, "required": ["y"]})
            ),
            "required"
        );
    }

    #[test]
    fn budgets_are_checked_before_any_work() {
        let wide: Map<String, Value> = (0..17)
            .map(|i| {
                (
                    format!("p{i}"),
                    json!({"type": "boolean", "description": "d"}),
                )
            })
            .collect();
        assert!(matches!(
            read(json!({"type": "object", "properties": wide})),
            Err(SchemaError::TooLarge {
                what: "properties",
                limit: 16,
                actual: 17
            })
        ));
        let range = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 1e300, "description": "d"}}});
        assert!(matches!(
            read(range),
            Err(SchemaError::TooLarge { limit: 32, .. })
        ));
        let many: Vec<String> = (0..33).map(|i| format!("v{i}")).collect();
        let values =
            json!({"type": "object", "properties": {"s": {"type": "string", "enum": many}}});
        assert!(matches!(
            read(values),
            Err(SchemaError::TooLarge { actual: 33, .. })
        ));
        let big = json!({"type": "object", "properties": {"s": {"type": "string", "enum": ["a"], "description": "x".repeat(20_000)}}});
        assert!(matches!(
            read(big),
            Err(SchemaError::TooLarge { what: "bytes", .. })
        ));
    }

    #[test]
    fn values_are_only_those_every_keyword_allows() {
        let schema = read(json!({"type": "object", "properties": {
            "n": {"type": "integer", "enum": [0, 2, 4, 9], "maximum": 4, "description": "d"}}}))
        .unwrap();
        let FieldKind::Choice(values) = &schema.fields[0].kind else {
            panic!()
        };
        let values: Vec<&Value> = values.iter().map(|c| &c.value).collect();
        assert_eq!(values, [&json!(0), &json!(2), &json!(4)]);
    }

    fn values_of(document: Value) -> Vec<Value> {
        let schema = read(document).unwrap();
        let FieldKind::Choice(choices) = &schema.fields[0].kind else {
            panic!()
        };
        choices.iter().map(|c| c.value.clone()).collect()
    }

    #[test]
    fn integers_past_2_pow_53_are_read_exactly() {
        const N: u64 = 9_007_199_254_740_993; // 2^53 + 1
        let with = |property: Value| json!({"type": "object", "properties": {"n": property}});
        let range =
            with(json!({"type": "integer", "minimum": N, "maximum": N + 2, "description": "d"}));
        assert_eq!(values_of(range), [json!(N), json!(N + 1), json!(N + 2)]);
        let branches: Vec<Value> = (0..5).map(|i| json!({"const": N - 1 + i})).collect();
        let one_of = with(
            json!({"type": "integer", "oneOf": branches, "minimum": N, "maximum": N + 2, "description": "d"}),
        );
        assert_eq!(values_of(one_of), [json!(N), json!(N + 1), json!(N + 2)]);
        let distinct = with(json!({"type": "integer", "enum": [N - 1, N], "description": "d"}));
        assert_eq!(
            values_of(distinct).len(),
            2,
            "2^53 and 2^53 + 1 are two values"
        );
        let top = with(
            json!({"type": "integer", "minimum": u64::MAX - 1, "maximum": u64::MAX, "description": "d"}),
        );
        assert_eq!(values_of(top), [json!(u64::MAX - 1), json!(u64::MAX)]);
        let bottom = with(
            json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MIN + 1, "description": "d"}),
        );
        assert_eq!(values_of(bottom), [json!(i64::MIN), json!(i64::MIN + 1)]);
        let fractional =
            with(json!({"type": "integer", "minimum": -1.5, "maximum": 1.5, "description": "d"}));
        assert_eq!(values_of(fractional), [json!(-1), json!(0), json!(1)]);
    }

    #[test]
    fn integers_beyond_64_bits_are_refused_naming_the_keyword() {
        let with = |property: Value| json!({"type": "object", "properties": {"n": property}});
        assert_eq!(
            keyword(with(
                json!({"type": "integer", "minimum": 1e20, "maximum": 1e20, "description": "d"})
            )),
            "minimum"
        );
        assert_eq!(
            keyword(with(
                json!({"type": "integer", "minimum": -1e20, "maximum": -1e20, "description": "d"})
            )),
            "minimum"
        );
        assert_eq!(
            keyword(with(
                json!({"type": "integer", "enum": [1, 1e300], "description": "d"})
            )),
            "enum"
        );
        assert_eq!(
            keyword(with(
                json!({"type": "integer", "minimum": 0, "maximum": 3, "multipleOf": 1e308, "description": "d"})
            )),
            "multipleOf"
        );
    }

    #[test]
    fn integer_values_are_written_as_integers() {
        let with = |property: Value| json!({"type": "object", "properties": {"n": property}});
        let floats = values_of(with(
            json!({"type": "integer", "enum": [1.0, 2.0, 3.0], "description": "d"}),
        ));
        assert_eq!(floats, [json!(1), json!(2), json!(3)]);
        assert!(floats.iter().all(Value::is_u64));
        let negative_zero = values_of(with(
            json!({"type": "integer", "const": -0.0, "description": "d"}),
        ));
        assert_eq!(negative_zero, [json!(0)]);
        let numbers = values_of(with(
            json!({"type": "number", "enum": [1.0, 2.5], "description": "d"}),
        ));
        assert_eq!(
            numbers,
            [json!(1.0), json!(2.5)],
            "a number field keeps its spelling"
        );
    }

    #[test]
    fn names_become_words() {
        assert_eq!(humanize("resolvedOffline"), "resolved offline");
        assert_eq!(humanize("human-chatbot_harm"), "human chatbot harm");
    }
}
