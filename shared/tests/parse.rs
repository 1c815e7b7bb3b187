//! The embedding model and the parser: tract against onnxruntime on the shipped
//! potion-base-2m, the schema cache, and answers that are valid by construction (every
//! combination of allowed values validates against its schema with the `jsonschema`
//! crate, not only the ones a text happens to produce).

use std::sync::Arc;

use serde_json::{json, Map, Value};
use triage_core::bundle::sha256_hex;
use triage_core::parse::{Parser, SCHEMA_CACHE_ENTRIES};
use triage_core::schema::{FieldKind, ParseSchema, SchemaBudgets};
use triage_core::{embed, Embedder, Settings, Timings};

fn parser() -> Parser {
    Parser::new(
        Embedder::load_with(embed::embedded(), &Settings::default()).expect("embedder loads"),
    )
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../models/potion-base-2m/parity.json"))
        .expect("parity.json")
}

#[test]
fn embeddings_match_onnxruntime_on_the_shipped_model() {
    let fixture = fixture();
    // onnxruntime ran the bundle's model.onnx; the worker serves the NNEF converted from it
    // (tests/parity.rs checks the conversion).
    let onnx = include_bytes!("../../models/potion-base-2m/model.onnx");
    assert_eq!(fixture["model_sha256"], sha256_hex(onnx));
    let embedder = Embedder::load_with(embed::embedded(), &Settings::default()).expect("loads");
    let mut worst = 0f32;
    for case in fixture["cases"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        let expected: Vec<f32> =
            serde_json::from_value(case["embedding"].clone()).expect("embedding");
        let actual = embedder
            .embed_timed(text, &mut Timings::default())
            .expect("embeds");
        let ids: Vec<i64> = serde_json::from_value(case["ids"].clone()).expect("ids");
        assert_eq!(
            actual.tokens,
            ids.len(),
            "{text}: same tokens as the Python tokenizer"
        );
        for (a, e) in actual.vector.iter().zip(&expected) {
            worst = worst.max((a - e).abs());
        }
    }
    // The fixture is rounded to 6 decimals; summation order differs.
    assert!(worst <= 1e-5, "max abs diff {worst}");
}

#[test]
fn a_schema_is_compiled_once_and_the_cache_is_bounded() {
    let parser = parser();
    let schema = |n: usize| json!({"type": "object", "properties": {"x": {"type": "string", "enum": [format!("a{n}"), "b"]}}});
    let size = |v: &Value| v.to_string().len();
    let first = parser
        .compile(schema(0), size(&schema(0)))
        .expect("compiles");
    let again = parser
        .compile(schema(0), size(&schema(0)))
        .expect("compiles");
    assert!(
        Arc::ptr_eq(&first, &again),
        "the second request is a cache hit"
    );
    for n in 1..=SCHEMA_CACHE_ENTRIES {
        parser
            .compile(schema(n), size(&schema(n)))
            .expect("compiles");
    }
    let evicted = parser
        .compile(schema(0), size(&schema(0)))
        .expect("compiles");
    assert!(
        !Arc::ptr_eq(&first, &evicted),
        "the least recently used schema was evicted"
    );
}

/// Schemas full of patterns hold up to [`triage_core::parse::spans::PATTERN_MEMORY_BYTES`]
/// per pattern: the cache keeps fewer of them (its byte budget), and a schema whose
/// patterns spell out too much is refused before any is compiled.
#[test]
fn pattern_heavy_schemas_are_budgeted() {
    let parser = parser();
    let heavy = |n: usize| {
        let properties: Map<String, Value> = (0..16)
            .map(|i| {
                (
                    format!("f{i}"),
                    json!({"type": "string", "pattern": format!("ORD-{n}-[0-9]{{{i},20}}")}),
                )
            })
            .collect();
        json!({"type": "object", "properties": properties})
    };
    let size = |v: &Value| v.to_string().len();
    let first = parser.compile(heavy(0), size(&heavy(0))).expect("compiles");
    let second = parser.compile(heavy(1), size(&heavy(1))).expect("compiles");
    assert!(Arc::ptr_eq(
        &second,
        &parser.compile(heavy(1), size(&heavy(1))).expect("compiles")
    ));
    let again = parser.compile(heavy(0), size(&heavy(0))).expect("compiles");
    assert!(
        !Arc::ptr_eq(&first, &again),
        "two schemas of 16 patterns do not fit the cache's byte budget together"
    );
    let hostile: Map<String, Value> = (0..5)
        .map(|i| {
            (
                format!("f{i}"),
                json!({"type": "string", "pattern": format!("x{{{}}}", 500 + i)}),
            )
        })
        .collect();
    let hostile = json!({"type": "object", "properties": hostile});
    let error = parser
        .compile(hostile.clone(), size(&hostile))
        .expect_err("too many positions");
    let problem = triage_core::http::Problem::from_error(&error);
    assert_eq!(problem.status, 413, "{problem:?}");
    assert!(problem.detail.contains("pattern positions"), "{problem:?}");
}

/// A text holding a value of every format the decoder extracts, some twice.
const SPAN_SAMPLE: &str = "Order ORD-1234 (and ORD-99, ORD-123456789012345) from ana@example.com \
    or bob.smith@mail.example.org, placed 3 March 2026 and 2026-03-04, delivered \
    2026-03-05T10:30:00+01:00, call at 09:15Z; https://shop.example.com/o/1234, \
    123e4567-e89b-12d3-a456-426614174000 from 192.168.1.20 via api.example.com. \
    jacontainsne.doe@exampl-0e308e.com, https://shop.ex[mple.com/o/1, \
    jane.doe@example.com 1---------------------------------------------------example.com, \
    jo@ab--c.example.org, ORD-123456789012 (a fuzzer's finds).";

/// Every combination of allowed values (numbers at both bounds and between; strings taken
/// from the text: every candidate of a sample), with optional fields present or absent,
/// validates against the schema it came from.
#[test]
fn every_allowed_answer_validates_against_its_schema() {
    let schemas = [
        serde_json::from_str(include_str!("../../schemas/support-ticket.json")).expect("json"),
        serde_json::from_str(include_str!("../../schemas/risk-area.json")).expect("json"),
        json!({"type": "object", "properties": {
            "n": {"type": "integer", "enum": [0, 2, 4, 9], "maximum": 4, "description": "d"},
            "c": {"type": "string", "const": "only"},
            "u": {"type": "number", "minimum": 0.1, "maximum": 0.9, "description": "d"},
            "b": {"type": "boolean", "description": "d", "anyOf": [{"const": true}, {"const": false, "title": "no"}]},
            "r": {"type": "integer", "minimum": -2.5, "maximum": 3, "description": "d"}},
            "required": ["n", "u"], "additionalProperties": false}),
        // Strings taken from the text, every format and a pattern with lengths.
        json!({"type": "object", "properties": {
            "email": {"type": "string", "format": "email"},
            "date": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "time": {"type": "string", "format": "time"},
            "uri": {"type": "string", "format": "uri"},
            "uuid": {"type": "string", "format": "uuid"},
            "ip": {"type": "string", "format": "ipv4"},
            "host": {"type": "string", "format": "hostname"},
            "order": {"type": "string", "pattern": "ORD-[0-9]+", "minLength": 7, "maxLength": 12},
            "orders": {"type": "array", "items": {"type": "string", "pattern": "ORD-[0-9]+"},
                       "minItems": 1, "maxItems": 3, "uniqueItems": true},
            "whole": {"type": "string", "pattern": "^ORD-[0-9]{4,8}$"},
            "front": {"type": "string", "pattern": "^ORD-[0-9]{4,8}"},
            "odd": {"type": "string", "pattern": "^ORD-[0-9]+{4,8}$"},
            "note": {"type": "string", "description": "what the customer asks", "maxLength": 40}},
            "required": ["email", "order", "whole"]}),
    ];
    for document in schemas {
        let bytes = document.to_string().len();
        let schema = ParseSchema::from_value(document.clone(), bytes, &SchemaBudgets::default())
            .expect("supported");
        // `format` asserted: strings taken from the text must be valid in it.
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&document)
            .expect("valid JSON Schema");
        let mut objects = vec![Map::new()];
        for field in &schema.fields {
            let values: Vec<Value> = match &field.kind {
                FieldKind::Choice(choices) => choices.iter().map(|c| c.value.clone()).collect(),
                FieldKind::Unit { min, max, .. } => {
                    vec![json!(min), json!((min + max) / 2.0), json!(max)]
                }
                // Strings taken from the text: every candidate of a sample text.
                FieldKind::Span { constraints, .. } => constraints
                    .candidates(SPAN_SAMPLE)
                    .into_iter()
                    .map(|c| json!(c.value))
                    .collect(),
                // An array: every candidate up to maxItems, and fewer down to minItems.
                FieldKind::SpanList {
                    constraints,
                    min_items,
                    max_items,
                } => {
                    let all: Vec<Value> = constraints
                        .candidates(SPAN_SAMPLE)
                        .into_iter()
                        .map(|c| json!(c.value))
                        .collect();
                    (*min_items..=(*max_items).min(all.len()))
                        .map(|n| Value::Array(all[..n].to_vec()))
                        .collect()
                }
            };
            let mut next = Vec::new();
            for object in &objects {
                if !field.required {
                    next.push(object.clone());
                }
                for value in &values {
                    let mut with = object.clone();
                    with.insert(field.name.clone(), value.clone());
                    next.push(with);
                }
            }
            objects = next;
        }
        for object in objects {
            let object = Value::Object(object);
            assert!(validator.is_valid(&object), "{object} against {document}");
        }
    }
}

#[test]
fn a_named_schema_from_the_deployment_is_checked_at_start() {
    let parser = parser();
    let good = r#"{"mood": {"type": "object", "properties": {"happy": {"type": "boolean", "description": "glad"}}}}"#;
    let parser = parser
        .with_named_schemas(good)
        .expect("a good schema is accepted");
    assert!(parser.schema_names().any(|n| n == "mood"));
    assert!(parser.named("mood").is_ok());
    let bad = r#"{"broken": {"type": "object", "properties": {"s": {"type": "string"}}}}"#;
    let error = parser
        .with_named_schemas(bad)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("schemas") && error.contains("broken") && error.contains("enum"),
        "{error}"
    );
}

#[test]
fn a_malformed_schemas_setting_makes_parse_answer_503_naming_it() {
    use triage_core::http::Service;
    use triage_core::{bundle, Classifier};
    let classifier =
        Classifier::load_with(bundle::embedded(), &Settings::default()).expect("loads");
    let embedder = Embedder::load_with(embed::embedded(), &Settings::default());
    let service = Service::builder(&Settings::default())
        .classifier(Ok(classifier))
        .embedder(embedder)
        .build_or_unavailable(|key| (key == "schemas").then(|| "{\"x\": 1}".to_owned()));
    let request = http::Request::post("/v1/parse")
        .header("content-type", "application/json")
        .body(br#"{"text": "hi", "schema": "support-ticket"}"#.to_vec())
        .expect("request");
    let response = service.handle(&request);
    assert_eq!(response.status(), 503);
    let body = String::from_utf8_lossy(response.body());
    assert!(body.contains("schemas"), "{body}");
}

#[test]
fn a_lazy_embedder_loads_once_and_only_for_parse_requests() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use triage_core::http::Service;
    use triage_core::{bundle, Classifier};
    static LOADS: AtomicUsize = AtomicUsize::new(0);
    let classifier =
        Classifier::load_with(bundle::embedded(), &Settings::default()).expect("loads");
    let service = Service::builder(&Settings::default())
        .classifier(Ok(classifier))
        .lazy_embedder(|| {
            LOADS.fetch_add(1, Ordering::SeqCst);
            Embedder::load_with(embed::embedded(), &Settings::default())
        })
        .build_or_unavailable(|key| {
            (key == "schemas").then(|| {
                r#"{"mood": {"type": "object", "properties": {"happy": {"type": "boolean", "description": "glad"}}}}"#.to_owned()
            })
        });
    let post = |path: &str, body: &str| {
        let request = http::Request::post(path)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .expect("request");
        service.handle(&request)
    };
    assert_eq!(
        post("/v1/classify", r#"{"text": "lunch at noon?"}"#).status(),
        200
    );
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        0,
        "classifying does not load the embedder"
    );
    assert_eq!(
        post("/v1/parse", r#"{"text": "so glad", "schema": "mood"}"#).status(),
        200
    );
    assert_eq!(
        post(
            "/v1/parse",
            r#"{"text": "sad", "schema": "support-ticket"}"#
        )
        .status(),
        200
    );
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        1,
        "loaded once, with the named schemas"
    );
}
