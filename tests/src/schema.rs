//! Checks bodies against the schemas of the OpenAPI document the adapter itself serves,
//! so the document and the behaviour cannot drift apart.

use serde_json::{json, Value};

/// Asserts that `instance` conforms to `#/components/schemas/{name}` of `openapi`.
pub fn assert_conforms(openapi: &Value, name: &str, instance: &Value) {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": openapi["components"].clone(),
    });
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("schema {name} in openapi.json is invalid: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "body does not conform to {name}: {errors:?}\nbody: {instance}"
    );
}
