//! From `POST /v1/parse` bytes to a schema the decoder accepts: the body checks, the raw
//! schema's size budget, and `ParseSchema::from_value` with its keyword, type and budget
//! checks (no model is run). Every input must end in a 4xx problem, or in fields whose
//! allowed values all validate against the schema with the `jsonschema` crate: the
//! decoder can only answer values the schema allows. A panic is a crash.

#![no_main]

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use triage_core::http::{ParseCall, Problem, SchemaRef};
use triage_core::schema::{FieldKind, ParseSchema, SchemaBudgets};
use triage_core::Budgets;

fn assert_client_error(problem: &Problem) {
    assert!((400..500).contains(&problem.status), "{problem:?}");
}

fuzz_target!(|body: &[u8]| {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let budgets = SchemaBudgets::default();
    let call = match ParseCall::parse(
        &headers,
        body,
        &Budgets::default(),
        budgets.max_schema_bytes,
    ) {
        Ok(call) => call,
        Err(problem) => return assert_client_error(&problem),
    };
    let SchemaRef::Inline(document, bytes) = call.schema else {
        return;
    };
    let schema = match ParseSchema::from_value(document.clone(), bytes, &budgets) {
        Ok(schema) => schema,
        Err(error) => return assert_client_error(&Problem::from_error(&error.into())),
    };
    assert!((1..=budgets.max_properties).contains(&schema.fields.len()));
    // A document jsonschema itself refuses (an unknown `$schema`) is a 422 at compile time.
    // `format` asserted: strings taken from the text must be valid in it.
    let Ok(validator) = jsonschema::options()
        .should_validate_formats(true)
        .build(&document)
    else {
        return;
    };
    let values = |kind: &FieldKind| -> Vec<Value> {
        match kind {
            FieldKind::Choice(choices) => choices.iter().map(|c| c.value.clone()).collect(),
            FieldKind::Unit { min, max, .. } => [*min, (min + max) / 2.0, *max]
                .iter()
                .map(|v| Value::from(*v))
                .collect(),
            // Strings taken from the text: every candidate the request's text holds.
            FieldKind::Span { constraints, .. } => constraints
                .candidates(&call.text)
                .into_iter()
                .map(|c| Value::from(c.value))
                .collect(),
            FieldKind::SpanList {
                constraints,
                min_items,
                max_items,
            } => {
                let mut all: Vec<Value> = constraints
                    .candidates(&call.text)
                    .into_iter()
                    .map(|c| Value::from(c.value))
                    .collect();
                all.truncate(*max_items);
                if all.len() < *min_items {
                    Vec::new()
                } else {
                    vec![Value::Array(all)]
                }
            }
        }
    };
    // The required fields at their first value, then each field at each of its values.
    let mut base = Map::new();
    for field in schema.fields.iter().filter(|f| f.required) {
        let first = values(&field.kind);
        if first.is_empty()
            && matches!(
                field.kind,
                FieldKind::Span { .. } | FieldKind::SpanList { .. }
            )
        {
            return; // the text holds no value: the service answers 422 no-value
        }
        assert!(
            (1..=budgets.max_values).contains(&first.len()),
            "{} values",
            first.len()
        );
        base.insert(field.name.clone(), first[0].clone());
    }
    for field in &schema.fields {
        for value in values(&field.kind) {
            let mut object = base.clone();
            object.insert(field.name.clone(), value);
            let object = Value::Object(object);
            assert!(validator.is_valid(&object), "{object} fails {document}");
        }
    }
});
