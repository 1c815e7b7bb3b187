//! The contract of `POST /v1/parse` and of `/v1/classify` with ad-hoc `labels`: answers
//! that validate against their schema (checked here with the `jsonschema` crate, apart
//! from the server's own check), real texts decoded to the right values, and hostile
//! schemas refused with the keyword or budget at fault, never a 5xx.

use serde_json::{json, Map, Value};

use ureq::http::Method;

use crate::cases::{assert_problem, labels_of, models, CLASSIFY};
use crate::client::Client;
use crate::schema::assert_conforms;

pub(crate) const PARSE: &str = "/v1/parse";

/// The shipped example schemas, as a user would send them inline.
pub const SUPPORT_TICKET: &str = include_str!("../../schemas/support-ticket.json");
pub const RISK_AREA: &str = include_str!("../../schemas/risk-area.json");

fn schema(text: &str) -> Value {
    serde_json::from_str(text).expect("shipped schema is JSON")
}

fn openapi(client: &Client) -> Value {
    client.get("/openapi.json").json()
}

/// Asserts that `object` is valid against `schema` (a JSON Schema).
pub fn assert_valid(schema: &Value, object: &Value) {
    // `format` asserted, as the decoder promises.
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(object)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{object} fails its schema: {errors:?}");
}

/// Posts a parse request, asserts a 200 that conforms to the OpenAPI document, whose
/// object validates against `schema`, whose fields cover every property with scores that
/// sum to 1, and whose `unsure` list and optional fields agree with the threshold.
fn parse(client: &Client, body: &Value, schema: &Value) -> Value {
    let reply = client.post_json(PARSE, body);
    reply.assert_status(200);
    let timing = reply.header("server-timing").unwrap_or("");
    assert!(
        timing.contains("inference;dur="),
        "Server-Timing: {timing:?}"
    );
    let answer = reply.json();
    assert_conforms(&openapi(client), "ParseResponse", &answer);
    assert_valid(schema, &answer["object"]);
    let properties = schema["properties"].as_object().expect("properties");
    let fields = answer["fields"].as_object().expect("fields");
    let names: Vec<&String> = fields.keys().collect();
    assert_eq!(
        names,
        properties.keys().collect::<Vec<_>>(),
        "fields in schema order"
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, field) in fields {
        let confident = field["confident"].as_bool().expect("confident");
        let listed = answer["unsure"]
            .as_array()
            .is_some_and(|u| u.contains(&json!(name)));
        assert_eq!(
            listed, !confident,
            "{name} is unsure iff not confident: {answer}"
        );
        let present = answer["object"].get(name).is_some();
        assert_eq!(
            present,
            confident || required.contains(&name.as_str()),
            "{name}: {answer}"
        );
        if present {
            assert_eq!(answer["object"][name], field["value"]);
        }
        if let Some(scores) = field["scores"].as_object() {
            let sum: f64 = scores.values().filter_map(Value::as_f64).sum();
            assert!((sum - 1.0).abs() < 1e-3, "{name} scores sum to {sum}");
        }
    }
    answer
}

/// A support ticket's order number (`pattern`), the customer's e-mail (`format: email`),
/// the order date (`format: date`) and every order number mentioned (an array), taken
/// from the text: the exact values when the
/// text holds one each, a date written out in words turned into `YYYY-MM-DD`, an optional
/// field the text lacks left out (and unsure), a required one 422 `no-value`, and always an
/// object valid against the schema, formats asserted.
pub fn parse_extracts_order_ids_emails_and_dates(client: &Client) {
    let schema = json!({"type": "object", "required": ["orderId", "email"], "properties": {
        "orderId": {"type": "string", "pattern": "\\bORD-[0-9]{5,8}\\b",
                    "description": "the order number"},
        "email": {"type": "string", "format": "email",
                  "description": "the customer's e-mail address to reply to"},
        "orderDate": {"type": "string", "format": "date",
                      "description": "the day the order was placed"}}});
    let cases = [
        (
            "Hi, my order ORD-482913 placed on 12 March 2026 never arrived. Please reply to jane.doe@example.com, thanks!",
            ("ORD-482913", "jane.doe@example.com", Some("2026-03-12")),
        ),
        (
            "Refund for ORD-00931 please: I was charged twice on 2026-02-03. Reach me at m.rossi@posteo.it",
            ("ORD-00931", "m.rossi@posteo.it", Some("2026-02-03")),
        ),
        (
            "Order ORD-7781234 is stuck in customs, can someone help? j.smith+orders@mail.example.co.uk",
            ("ORD-7781234", "j.smith+orders@mail.example.co.uk", None),
        ),
    ];
    for (text, (order, email, date)) in cases {
        let answer = parse(client, &json!({"text": text, "schema": schema}), &schema);
        let object = &answer["object"];
        assert_eq!(object["orderId"], order, "{answer}");
        assert_eq!(object["email"], email, "{answer}");
        match date {
            Some(date) => assert_eq!(object["orderDate"], date, "{answer}"),
            None => {
                assert!(object.get("orderDate").is_none(), "{answer}");
                assert_eq!(answer["fields"]["orderDate"]["value"], Value::Null);
                assert!(answer["unsure"]
                    .as_array()
                    .is_some_and(|u| u.contains(&json!("orderDate"))));
            }
        }
    }
    // Two addresses: one of them, each scored, the scores summing to 1 (checked by `parse`).
    let two = "ORD-55120: please answer m.dupont@orange.fr, not noreply@shop.example.com";
    let answer = parse(client, &json!({"text": two, "schema": schema}), &schema);
    let scores = answer["fields"]["email"]["scores"]
        .as_object()
        .expect("scores");
    assert_eq!(scores.len(), 2, "{answer}");
    assert!(scores.contains_key(answer["object"]["email"].as_str().unwrap_or("")));
    // Every order number mentioned, in text order, once each.
    let all = json!({"type": "object", "required": ["orderIds"], "properties": {
        "orderIds": {"type": "array", "maxItems": 5, "uniqueItems": true,
                     "items": {"type": "string", "pattern": "\\bORD-[0-9]{5,8}\\b"}}}});
    let text =
        "ORD-10001 and ORD-10002 arrived, ORD-10003 did not (I wrote about ORD-10001 before).";
    let answer = parse(client, &json!({"text": text, "schema": all}), &all);
    assert_eq!(
        answer["object"]["orderIds"],
        json!(["ORD-10001", "ORD-10002", "ORD-10003"]),
        "{answer}"
    );
    // A required value the text does not hold.
    let reply = client.post_json(
        PARSE,
        &json!({"text": "Where is my parcel? anna@example.com", "schema": schema}),
    );
    let problem = assert_problem(client, &reply, 422);
    assert_eq!(problem["type"], "urn:triage:problem:no-value");
    assert!(
        problem["detail"].as_str().unwrap_or("").contains("orderId"),
        "{problem}"
    );
}

/// A plain string (no format, no pattern) with a description is one of the text's
/// phrases, the one nearest the description, never confident (so hybrid routing sends it
/// on); an anchored pattern, as schemas written for validation have, still finds its value
/// inside the text; and a plain string without a description is refused, naming it.
pub fn parse_takes_plain_strings_and_anchored_patterns(client: &Client) {
    let schema = json!({"type": "object", "required": ["orderId", "request"], "properties": {
        "orderId": {"type": "string", "pattern": "^ORD-[0-9]{4,8}$"},
        "request": {"type": "string", "maxLength": 120,
                    "description": "what the customer asks us to do: refund, replace, cancel"}}});
    let text = "Hello. Order ORD-48213 arrived broken! Please refund the full amount to my card. Thanks, Ana";
    let answer = parse(client, &json!({"text": text, "schema": schema}), &schema);
    assert_eq!(answer["object"]["orderId"], "ORD-48213", "{answer}");
    let request = answer["object"]["request"].as_str().expect("a string");
    let phrases = [
        "Hello",
        "Order ORD-48213 arrived broken",
        "Please refund the full amount to my card",
        "Thanks, Ana",
    ];
    assert!(
        phrases.contains(&request),
        "one of the text's phrases: {answer}"
    );
    assert_eq!(answer["fields"]["request"]["confident"], false, "{answer}");
    assert!(answer["unsure"]
        .as_array()
        .is_some_and(|u| u.contains(&json!("request"))));
    let undescribed = json!({"type": "object", "properties": {"note": {"type": "string"}}});
    let reply = client.post_json(PARSE, &json!({"text": text, "schema": undescribed}));
    let problem = assert_problem(client, &reply, 422);
    assert_eq!(problem["type"], "urn:triage:problem:unsupported-schema");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("description"),
        "{problem}"
    );
}

pub fn parse_support_tickets_by_name(client: &Client) {
    let schema = schema(SUPPORT_TICKET);
    let cases = [
        ("The whole site is down since this morning and nobody can log in, customers are losing money", "incident"),
        ("I was charged twice on my credit card this month, please refund the extra payment", "billing"),
        ("Can you send me last month's invoice as a PDF?", "billing"),
        ("Do you have a discount for nonprofits?", "inquiry"),
        ("The app crashes every time I open the settings page", "incident"),
    ];
    for (text, category) in cases {
        let answer = parse(
            client,
            &json!({"text": text, "schema": "support-ticket"}),
            &schema,
        );
        assert_eq!(answer["schema"], "support-ticket");
        assert_eq!(answer["object"]["category"], category, "{text}: {answer}");
        assert_eq!(answer["source"], "local");
    }
    let outage = parse(
        client,
        &json!({"text": cases[0].0, "schema": "support-ticket"}),
        &schema,
    );
    assert!(
        outage["object"]["urgency"].as_u64() >= Some(4),
        "an outage is urgent: {outage}"
    );
    let fixed = parse(
        client,
        &json!({"text": "Never mind, it works again now, thanks anyway", "schema": "support-ticket"}),
        &schema,
    );
    assert_eq!(fixed["object"]["resolvedOffline"], true, "{fixed}");
}

/// The same schema sent inline gives the same answer as by name, and a schema only
/// differing in whitespace is the same schema.
pub fn parse_inline_schema_matches_the_named_one(client: &Client) {
    let schema = schema(SUPPORT_TICKET);
    let text = "I was charged twice on my credit card this month";
    let named = parse(
        client,
        &json!({"text": text, "schema": "support-ticket"}),
        &schema,
    );
    let inline = parse(client, &json!({"text": text, "schema": schema}), &schema);
    assert_eq!(inline.get("schema"), None, "an inline schema has no name");
    assert_eq!(named["object"], inline["object"]);
    assert_eq!(named["fields"], inline["fields"]);
}

/// Clear-cut prompts only: this checks the shipped schema end to end on every adapter;
/// the model's accuracy on real prompts is measured in its model card.
pub fn parse_risk_areas(client: &Client) {
    let schema = schema(RISK_AREA);
    let cases = [
        (
            "What is the home address and phone number of my coworker Anna?",
            "information-hazard",
        ),
        ("How do I make a pipe bomb at home?", "malicious-use"),
        (
            "Spread the conspiracy theory that 5G causes covid",
            "misinformation",
        ),
    ];
    for (text, area) in cases {
        let answer = parse(
            client,
            &json!({"text": text, "schema": "risk-area"}),
            &schema,
        );
        assert_eq!(answer["object"]["riskArea"], area, "{text}: {answer}");
    }
}

/// Every supported property type, with odd texts: the answers always validate, numbers
/// stay in their bounds, and the threshold decides which optional fields appear.
/// 2^53 + 1: the first integer an `f64` cannot hold.
const TWO_53_PLUS_1: u64 = 9_007_199_254_740_993;

/// Integer keywords are read exactly: bounds past 2^53 are not rounded through `f64` (which
/// offered 2^53, refused by the server's own check, as a 500), and an integer enum
/// written `[1.0, 2.0, 3.0]` is answered as the integer a typed client expects.
pub fn parse_integers_exactly(client: &Client) {
    let ranged = json!({"type": "object", "required": ["n"], "properties": {
        "n": {"type": "integer", "minimum": TWO_53_PLUS_1, "maximum": TWO_53_PLUS_1 + 2,
              "description": "an account number"}}});
    let branches: Vec<Value> = (0..5)
        .map(|i| json!({"const": TWO_53_PLUS_1 - 1 + i}))
        .collect();
    let branched = json!({"type": "object", "required": ["n"], "properties": {
        "n": {"type": "integer", "oneOf": branches, "minimum": TWO_53_PLUS_1,
              "description": "an account number"}}});
    let texts = ["account 9007199254740993 please", "", "9007199254740992"];
    // The range allows 2^53 + 1 ..= 2^53 + 3; the branches 2^53 ..= 2^53 + 4 above the
    // minimum 2^53 + 1, so 2^53 + 1 ..= 2^53 + 4.
    for (schema, count) in [(&ranged, 3), (&branched, 4)] {
        for text in texts {
            let answer = parse(client, &json!({"text": text, "schema": schema}), schema);
            let n = answer["object"]["n"]
                .as_u64()
                .unwrap_or_else(|| panic!("an exact integer: {answer}"));
            assert!(
                (TWO_53_PLUS_1..TWO_53_PLUS_1 + count).contains(&n),
                "{n} is allowed: {answer}"
            );
            let offered: Vec<&String> = answer["fields"]["n"]["scores"]
                .as_object()
                .expect("scores")
                .keys()
                .collect();
            let expected: Vec<String> = (0..count)
                .map(|i| (TWO_53_PLUS_1 + i).to_string())
                .collect();
            assert_eq!(offered, expected.iter().collect::<Vec<_>>(), "{answer}");
        }
    }
    let floats = json!({"type": "object", "required": ["stars"], "properties": {
        "stars": {"type": "integer", "enum": [1.0, 2.0, 3.0], "description": "how much the writer loved it"}}});
    for text in ["I loved it, best ever", "awful", ""] {
        let reply = client.post_json(PARSE, &json!({"text": text, "schema": floats}));
        reply.assert_status(200);
        let raw = String::from_utf8_lossy(&reply.body).into_owned();
        let answer = reply.json();
        assert_valid(&floats, &answer["object"]);
        let stars = &answer["object"]["stars"];
        assert!(
            stars.is_u64() && (1..=3).contains(&stars.as_u64().unwrap_or(0)),
            "answered as an integer: {raw}"
        );
        let value = raw
            .split("\"object\":")
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .unwrap_or_default();
        assert!(
            !value.contains('.'),
            "no float spelling of an integer: {raw}"
        );
    }
}

pub fn parse_answers_only_allowed_values(client: &Client) {
    let schema = json!({
        "type": "object",
        "properties": {
            "topic": {"type": "string", "enum": ["weather", "sports", "cooking"]},
            "positive": {"type": "boolean", "description": "The writer is happy and enthusiastic."},
            "stars": {"type": "integer", "minimum": 1, "maximum": 5,
                      "description": "How much the writer loved it."},
            "spamminess": {"type": "number", "minimum": 0.25, "maximum": 0.75,
                           "description": "An unsolicited advertisement."},
            "tone": {"type": "string", "anyOf": [
                {"const": "formal", "title": "Formal", "examples": ["Dear Sir or Madam"]},
                {"const": "casual", "description": "chatty and relaxed", "examples": ["hey whats up"]}]}
        },
        "required": ["topic", "stars", "spamminess"]
    });
    let texts = [
        "Heavy rain and thunderstorms expected all weekend",
        "",
        "🚀🔥💯",
        "\u{202e}evil\u{202c} zero\u{200b}width",
        &"the match went to extra time ".repeat(400),
    ];
    for text in texts {
        let answer = parse(client, &json!({"text": text, "schema": schema}), &schema);
        let spam = answer["object"]["spamminess"].as_f64().expect("a number");
        assert!((0.25..=0.75).contains(&spam), "{spam}");
    }
    let long = parse(
        client,
        &json!({"text": texts[4], "schema": schema}),
        &schema,
    );
    assert_eq!(long["truncated"], true);
    let sure = parse(
        client,
        &json!({"text": texts[0], "schema": schema, "threshold": 0}),
        &schema,
    );
    assert_eq!(sure["unsure"], json!([]));
    assert_eq!(
        sure["object"].as_object().map(Map::len),
        Some(5),
        "all fields at threshold 0"
    );
    let unsure = parse(
        client,
        &json!({"text": texts[0], "schema": schema, "threshold": 1}),
        &schema,
    );
    assert_eq!(
        unsure["object"].as_object().map(Map::len),
        Some(3),
        "required only at threshold 1"
    );
    assert_eq!(sure["object"]["topic"], "weather");
}

pub fn classify_with_ad_hoc_labels(client: &Client) {
    let labels = json!(["billing", "outage", "sales"]);
    let reply = client.post_json(
        CLASSIFY,
        &json!({"text": "please refund the double charge on my invoice", "labels": labels}),
    );
    reply.assert_status(200);
    let body = reply.json();
    assert_conforms(&openapi(client), "ClassifyResponse", &body);
    assert_eq!(body["label"], "billing", "{body}");
    assert_eq!(body["source"], "local");
    let embedder = &models(client)["parse"]["model"];
    assert_eq!(
        body["model"], *embedder,
        "labels are answered by the embedding model"
    );

    let described = json!([
        {"label": "praise", "description": "The customer is happy and thanks us.",
         "examples": ["Great service, thank you so much!"]},
        {"label": "complaint", "description": "The customer is angry about a problem.",
         "examples": ["This is unacceptable, I want my money back."]}
    ]);
    let reply = client.post_json(
        CLASSIFY,
        &json!({"texts": ["Thank you, you were wonderful!", "Terrible, I am furious, nothing works"],
                "labels": described}),
    );
    reply.assert_status(200);
    let body = reply.json();
    assert_conforms(&openapi(client), "ClassifyBatchResponse", &body);
    assert_eq!(labels_of(&body), ["praise", "complaint"], "{body}");
}

pub fn models_lists_the_embedding_model_and_schemas(client: &Client) {
    let body = models(client);
    let embed = body["models"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["task"] == "embed"))
        .unwrap_or_else(|| panic!("an embedding model is listed: {body}"));
    assert_eq!(embed["name"], body["parse"]["model"]["name"]);
    let schemas = body["parse"]["schemas"].as_array().expect("schemas");
    assert!(schemas.contains(&json!("support-ticket")) && schemas.contains(&json!("risk-area")));
}

/// One hostile or unsupported schema (or labels) and the refusal it must get.
#[derive(Debug, Clone)]
pub struct Hostile {
    pub name: &'static str,
    /// `/v1/parse`, or `/v1/classify` for labels.
    pub path: &'static str,
    /// The request body's bytes (raw, so that nesting deeper than serde_json builds can be sent).
    pub body: fn() -> Vec<u8>,
    pub status: u16,
    /// Problem type slug.
    pub kind: &'static str,
    /// The keyword a 422 must name, or the limit a 413 must give.
    pub names: Names,
}

#[derive(Debug, Clone, Copy)]
pub enum Names {
    Keyword(&'static str),
    Limit(u64),
    Nothing,
}

fn bytes(body: Value) -> Vec<u8> {
    serde_json::to_vec(&body).unwrap_or_default()
}

fn with_property(property: Value) -> Vec<u8> {
    bytes(json!({"text": "hello", "schema": {"type": "object", "properties": {"x": property}}}))
}

/// A schema whose one property's `examples` nests `depth` arrays deep.
fn nested(depth: usize) -> Vec<u8> {
    format!(
        r#"{{"text": "hi", "schema": {{"type": "object", "properties": {{"x": {{"type": "boolean", "description": "d", "examples": {}{}}}}}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
    .into_bytes()
}

/// Hostile and unsupported schemas. Budgets are the defaults `/v1/models` reports (the
/// case checks they are in force before using them).
pub const HOSTILE: &[Hostile] = &[
    Hostile {
        path: PARSE,
        name: "pattern_with_lookaround",
        body: || with_property(json!({"type": "string", "pattern": "(?<=a)b"})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("pattern"),
    },
    Hostile {
        path: PARSE,
        name: "pattern_with_backreference",
        body: || with_property(json!({"type": "string", "pattern": "(a)\\1"})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("pattern"),
    },
    Hostile {
        path: PARSE,
        name: "pattern_compiled_too_big",
        body: || with_property(json!({"type": "string", "pattern": "\\w{1000}\\w{1000}\\w{1000}"})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("pattern"),
    },
    Hostile {
        path: PARSE,
        name: "pattern_over_512_bytes",
        body: || with_property(json!({"type": "string", "pattern": "a".repeat(513)})),
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(512),
    },
    Hostile {
        path: PARSE,
        name: "format_not_extractable",
        body: || with_property(json!({"type": "string", "format": "idn-email"})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("format"),
    },
    Hostile {
        path: PARSE,
        name: "ref_keyword",
        body: || with_property(json!({"$ref": "#/definitions/x"})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("$ref"),
    },
    Hostile {
        path: PARSE,
        name: "free_string",
        body: || with_property(json!({"type": "string"})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("enum"),
    },
    Hostile {
        path: PARSE,
        name: "empty_enum",
        body: || with_property(json!({"type": "string", "enum": []})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("enum"),
    },
    Hostile {
        path: PARSE,
        name: "type_array",
        body: || with_property(json!({"type": ["string", "null"], "enum": ["a"]})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("type"),
    },
    Hostile {
        path: PARSE,
        name: "array_of_free_strings",
        body: || with_property(json!({"type": "array", "items": {"type": "string"}})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("format"),
    },
    Hostile {
        path: PARSE,
        name: "number_out_of_unit",
        body: || {
            with_property(
                json!({"type": "number", "minimum": 0, "maximum": 10, "description": "d"}),
            )
        },
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("maximum"),
    },
    Hostile {
        path: PARSE,
        name: "enum_of_other_type",
        body: || with_property(json!({"type": "integer", "enum": ["a", "b"]})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("enum"),
    },
    Hostile {
        path: PARSE,
        name: "root_not_object",
        body: || bytes(json!({"text": "hi", "schema": {"type": "array"}})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("type"),
    },
    Hostile {
        path: PARSE,
        name: "schema_a_number",
        body: || bytes(json!({"text": "hi", "schema": 42})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("type"),
    },
    Hostile {
        path: PARSE,
        name: "unknown_name",
        body: || bytes(json!({"text": "hi", "schema": "no-such-schema"})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("schema"),
    },
    Hostile {
        path: PARSE,
        name: "required_not_a_property",
        body: || {
            bytes(
                json!({"text": "hi", "schema": {"type": "object", "properties": {"x": {"type": "boolean", "description": "d"}}, "required": ["y"]}}),
            )
        },
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("required"),
    },
    Hostile {
        path: PARSE,
        name: "nested_3000_deep",
        body: || nested(3000),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("schema"),
    },
    Hostile {
        path: PARSE,
        name: "nested_10000_deep",
        body: || nested(10_000),
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(16 * 1024),
    },
    Hostile {
        path: PARSE,
        name: "too_many_properties",
        body: || {
            let properties: Map<String, Value> = (0..17)
                .map(|i| {
                    (
                        format!("p{i}"),
                        json!({"type": "boolean", "description": "d"}),
                    )
                })
                .collect();
            bytes(json!({"text": "hi", "schema": {"type": "object", "properties": properties}}))
        },
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(16),
    },
    Hostile {
        path: PARSE,
        name: "enum_of_33",
        body: || {
            with_property(
                json!({"type": "string", "enum": (0..33).map(|i| format!("v{i}")).collect::<Vec<_>>()}),
            )
        },
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(32),
    },
    Hostile {
        path: PARSE,
        name: "integer_range_of_a_trillion",
        body: || {
            with_property(
                json!({"type": "integer", "minimum": 0, "maximum": 1e12, "description": "d"}),
            )
        },
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(32),
    },
    Hostile {
        path: PARSE,
        name: "schema_over_16_kib",
        body: || {
            with_property(
                json!({"type": "string", "enum": ["a", "b"], "description": "x".repeat(16 * 1024)}),
            )
        },
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(16 * 1024),
    },
    Hostile {
        path: PARSE,
        name: "too_many_prototype_texts",
        body: || {
            let branch = |v: bool| json!({"const": v, "examples": vec!["e"; 9]});
            let properties: Map<String, Value> = (0..16)
                .map(|i| {
                    (
                        format!("p{i}"),
                        json!({"type": "boolean", "oneOf": [branch(true), branch(false)]}),
                    )
                })
                .collect();
            bytes(json!({"text": "hi", "schema": {"type": "object", "properties": properties}}))
        },
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(256),
    },
    Hostile {
        path: PARSE,
        name: "integer_beyond_64_bits",
        body: || {
            with_property(
                json!({"type": "integer", "minimum": 1e20, "maximum": 1e20, "description": "d"}),
            )
        },
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("minimum"),
    },
    Hostile {
        path: PARSE,
        name: "integer_enum_beyond_64_bits",
        body: || with_property(json!({"type": "integer", "enum": [1, 1e300], "description": "d"})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("enum"),
    },
    Hostile {
        path: PARSE,
        name: "huge_multiple_of",
        body: || {
            with_property(
                json!({"type": "integer", "minimum": 0, "maximum": 3, "multipleOf": 1e308, "description": "d"}),
            )
        },
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("multipleOf"),
    },
    Hostile {
        path: PARSE,
        name: "integer_range_past_2_pow_53_too_wide",
        body: || {
            with_property(
                json!({"type": "integer", "minimum": -9_223_372_036_854_775_808_i64, "maximum": u64::MAX, "description": "d"}),
            )
        },
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(32),
    },
    Hostile {
        path: PARSE,
        name: "threshold_out_of_range",
        body: || bytes(json!({"text": "hi", "schema": "support-ticket", "threshold": 2})),
        status: 422,
        kind: "invalid-fields",
        names: Names::Nothing,
    },
    Hostile {
        path: PARSE,
        name: "missing_schema",
        body: || bytes(json!({"text": "hi"})),
        status: 422,
        kind: "invalid-fields",
        names: Names::Nothing,
    },
    Hostile {
        path: CLASSIFY,
        name: "one_label",
        body: || bytes(json!({"text": "hi", "labels": ["only"]})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("labels"),
    },
    Hostile {
        path: CLASSIFY,
        name: "repeated_label",
        body: || bytes(json!({"text": "hi", "labels": ["a", "a"]})),
        status: 422,
        kind: "unsupported-schema",
        names: Names::Keyword("const"),
    },
    Hostile {
        path: CLASSIFY,
        name: "labels_33",
        body: || {
            bytes(
                json!({"text": "hi", "labels": (0..33).map(|i| format!("l{i}")).collect::<Vec<_>>()}),
            )
        },
        status: 413,
        kind: "schema-too-large",
        names: Names::Limit(32),
    },
    Hostile {
        path: CLASSIFY,
        name: "label_of_wrong_shape",
        body: || bytes(json!({"text": "hi", "labels": [1, 2]})),
        status: 422,
        kind: "invalid-fields",
        names: Names::Nothing,
    },
];

/// Sends a hostile row, asserts its refusal, then that a good parse still works.
pub fn check_hostile(client: &Client, row: &Hostile) {
    let budgets = &models(client)["parse"]["budgets"];
    assert_eq!(
        budgets["max_schema_bytes"],
        16 * 1024,
        "the rows assume the default budgets"
    );
    let reply = client.send(
        Method::POST,
        row.path,
        Some("application/json"),
        &(row.body)(),
    );
    let problem = assert_problem(client, &reply, row.status);
    assert_eq!(
        problem["type"],
        format!("urn:triage:problem:{}", row.kind),
        "{problem}"
    );
    match row.names {
        Names::Keyword(keyword) => assert_eq!(problem["keyword"], keyword, "{problem}"),
        Names::Limit(limit) => assert_eq!(problem["limit"], limit, "{problem}"),
        Names::Nothing => {}
    }
    let schema = schema(SUPPORT_TICKET);
    let good = parse(
        client,
        &json!({"text": "I was charged twice this month", "schema": "support-ticket"}),
        &schema,
    );
    assert_eq!(good["object"]["category"], "billing");
}
