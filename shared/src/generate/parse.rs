//! Parsing with the generative model (`/v1/parse` with `"decoder": "generate"`): the
//! schema's fields, described as the embedding decoder reads them, and the text become
//! the prompt; the schema, closed to its fields, becomes the grammar.

use serde_json::Value;

use crate::generate::{Constraint, GenerateRequest, Message, Role};

/// The instruction the generative model gets for a parse: what the embedding decoder's
/// schemas mean (fields taken from the text), then the fields with their descriptions.
const PARSE_INSTRUCTION: &str = "Extract the fields below from the user's text and answer \
with one JSON object. Copy values from the text; keep them short.";

/// The user message of a parse: the schema's fields (name, type, description, allowed
/// values with their descriptions, as the embedding decoder reads them), then the text.
fn prompt(schema: &Value, text: &str) -> String {
    let mut prompt = String::from("Fields:\n");
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let kind = property
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("value");
            prompt.push_str(&format!("- {name} ({kind})"));
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                prompt.push_str(&format!(": {description}"));
            }
            if let Some(values) = property.get("enum").and_then(Value::as_array) {
                let values: Vec<String> = values.iter().map(Value::to_string).collect();
                prompt.push_str(&format!(" One of {}.", values.join(", ")));
            }
            let branches = ["oneOf", "anyOf"]
                .iter()
                .filter_map(|key| property.get(*key).and_then(Value::as_array))
                .flatten();
            for branch in branches {
                if let Some(value) = branch.get("const") {
                    prompt.push_str(&format!("\n  - {value}"));
                    if let Some(description) = branch.get("description").and_then(Value::as_str) {
                        prompt.push_str(&format!(": {description}"));
                    }
                }
            }
            prompt.push('\n');
        }
    }
    prompt.push_str("\nText: ");
    prompt.push_str(text);
    prompt
}

/// The schema a parse generates under: the request's, closed to the fields it lists when
/// it says nothing of others (a parse answers the schema's fields, as the embedding
/// decoder does; the object still validates against the original).
pub fn closed(mut schema: Value) -> Value {
    if let Some(map) = schema.as_object_mut() {
        if map.contains_key("properties") && !map.contains_key("additionalProperties") {
            map.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    schema
}

/// The generation request that parses `text` into an object valid against `schema`.
pub fn request(schema: &Value, text: &str) -> GenerateRequest {
    GenerateRequest {
        messages: vec![
            Message {
                role: Role::System,
                content: PARSE_INSTRUCTION.into(),
            },
            Message {
                role: Role::User,
                content: prompt(schema, text),
            },
        ],
        constraint: Constraint::JsonSchema(closed(schema.clone())),
        max_new_tokens: None,
        temperature: 0.0,
        seed: 0,
    }
}
