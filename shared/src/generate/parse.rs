//! Parsing with the generative model (`/v1/parse` with `"decoder": "generate"`): the
//! schema's fields and the text become the prompt, the schema the grammar (closed to its
//! fields, as every schema a generation follows).

use serde_json::Value;

use crate::generate::{Constraint, GenerateRequest, Message, Role};

/// The instruction the generative model gets for a parse.
const PARSE_INSTRUCTION: &str =
    "Extract the fields below from the user's text and answer with one JSON object.";

/// The user message of a parse: the schema's fields, then the text. A field with allowed
/// values (`enum`, or `oneOf`/`anyOf` of `const`) is listed by them alone, a free field by
/// its type and description. The values' descriptions, which the embedding decoder reads,
/// are left out: with them the prompt is 300 to 600 tokens and SmolLM2-135M answers the
/// same value for nearly every text (0.14 accuracy on MultiWOZ requests); without them,
/// 0.37 (models/smollm2-135m/README.md has the measured numbers).
fn prompt(schema: &Value, text: &str) -> String {
    let mut prompt = String::from("Fields:\n");
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let mut values: Vec<&Value> = property
                .get("enum")
                .and_then(Value::as_array)
                .map(|values| values.iter().collect())
                .unwrap_or_default();
            let branches = ["oneOf", "anyOf"]
                .iter()
                .filter_map(|key| property.get(*key).and_then(Value::as_array))
                .flatten();
            values.extend(branches.filter_map(|branch| branch.get("const")));
            if values.is_empty() {
                let kind = property
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("value");
                prompt.push_str(&format!("- {name} ({kind})"));
                if let Some(description) = property.get("description").and_then(Value::as_str) {
                    prompt.push_str(&format!(": {description}"));
                }
            } else {
                let values: Vec<String> = values
                    .iter()
                    .map(|value| match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                prompt.push_str(&format!("- {name}: one of {}", values.join(", ")));
            }
            prompt.push('\n');
        }
    }
    prompt.push_str("\nText: ");
    prompt.push_str(text);
    prompt
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
        constraint: Constraint::JsonSchema(schema.clone()),
        max_new_tokens: None,
        temperature: 0.0,
        seed: 0,
    }
}
