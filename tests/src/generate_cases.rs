//! The cases of `/v1/generate` and `/v1/parse` with `"decoder": "generate"`, for an adapter
//! serving a generate bundle (models/smollm2-135m) with the default generate budgets
//! (512 prompt tokens, 256 new tokens, 32 KiB of grammar). Every answer is checked
//! against the constraint it was asked for, never against a fixed text: the model's
//! wording may change, what the grammar guarantees may not.

use serde_json::{json, Value};
use ureq::http::Method;

use crate::cases::{assert_problem, openapi};
use crate::client::{Client, Reply};
use crate::schema::assert_conforms;

/// The default `generate_max_prompt_tokens` and `generate_max_new_tokens`.
pub const MAX_PROMPT_TOKENS: usize = 512;
pub const MAX_NEW_TOKENS: usize = 256;

fn generate(client: &Client, body: &Value) -> Reply {
    client.post_json("/v1/generate", body)
}

/// A 200 answer, conforming to the OpenAPI document, its counts consistent, its timings
/// in Server-Timing.
fn answered(client: &Client, reply: &Reply) -> Value {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_conforms(&openapi(client), "GenerateResponse", &body);
    let tokens = &body["tokens"];
    let generated = tokens["generated"].as_u64().unwrap_or(u64::MAX);
    assert!(generated <= MAX_NEW_TOKENS as u64, "{body}");
    assert!(
        tokens["forced"].as_u64().unwrap_or(u64::MAX) <= generated,
        "{body}"
    );
    assert!(tokens["prompt"].as_u64().unwrap_or(0) > 0, "{body}");
    for entry in ["prefill", "decode", "mask"] {
        assert!(
            reply.timing_entry(entry).is_some(),
            "Server-Timing has {entry}"
        );
    }
    body
}

/// A `/v1/parse` with `"decoder": "generate"`: 200, conforming, its object valid against
/// `schema`.
fn parsed_by_the_generator(client: &Client, body: &Value, schema: &Value) -> Value {
    let reply = client.post_json("/v1/parse", body);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_conforms(&openapi(client), "GenerateParseResponse", &body);
    assert_eq!(body["decoder"], "generate");
    validates(schema, &body["object"]);
    body
}

fn validates(schema: &Value, value: &Value) {
    let validator = jsonschema::validator_for(schema).expect("the test's schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{value} fails the schema: {errors:?}");
}

/// Three fields of three kinds, one a pattern-constrained string: the value is the text,
/// parsed, and valid against the schema.
pub fn generate_follows_a_json_schema(client: &Client) {
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "pattern": "^[A-Z][a-z]{1,20}$"},
            "weekday": {"enum": ["monday", "tuesday", "wednesday", "thursday", "friday"]},
            "guests": {"type": "integer", "minimum": 1, "maximum": 20}
        },
        "required": ["city", "weekday", "guests"],
        "additionalProperties": false
    });
    let reply = generate(
        client,
        &json!({
            "prompt": "Book a table in Lyon for 4 people on Friday.",
            "schema": schema,
            "max_new_tokens": 64
        }),
    );
    let body = answered(client, &reply);
    assert_eq!(body["stop_reason"], "end", "{body}");
    let text: Value =
        serde_json::from_str(body["text"].as_str().unwrap_or("")).expect("text is JSON");
    assert_eq!(text, body["value"]);
    validates(&schema, &body["value"]);
    // Without `additionalProperties`, the object is still written with only its listed
    // properties (a small model would invent keys until its budget ran out).
    let mut open = schema.clone();
    open.as_object_mut()
        .map(|o| o.remove("additionalProperties"));
    let reply = generate(
        client,
        &json!({"prompt": "Book a table in Lyon for 4 people on Friday.", "schema": open}),
    );
    let body = answered(client, &reply);
    validates(&open, &body["value"]);
    for key in body["value"].as_object().expect("an object").keys() {
        assert!(
            ["city", "weekday", "guests"].contains(&key.as_str()),
            "{body}"
        );
    }
}

/// A string the text does not hold (a salutation in a fixed form): the embedding decoder,
/// which takes spans of the text, has no value for it; the generative decoder writes one.
pub fn generate_writes_strings_the_embedding_decoder_cannot(client: &Client) {
    let schema = json!({
        "type": "object",
        "properties": {
            "salutation": {"type": "string", "pattern": "^Dear (Ms|Mr|Dr) [A-Z][a-z]{1,15}$"}
        },
        "required": ["salutation"]
    });
    let text = "Please draft a reply to Marta Kowalski about her late invoice.";
    let embedding = client.post_json("/v1/parse", &json!({"text": text, "schema": schema}));
    assert_problem(client, &embedding, 422);
    let body = parsed_by_the_generator(
        client,
        &json!({"text": text, "schema": schema, "decoder": "generate"}),
        &schema,
    );
    assert!(body["schema"].is_null(), "an inline schema has no name");
}

/// A regex constrains the whole answer.
pub fn generate_matches_a_regex(client: &Client) {
    let reply = generate(
        client,
        &json!({"prompt": "How many legs does a spider have? Answer with a number.", "regex": "[0-9]{1,3}"}),
    );
    let body = answered(client, &reply);
    let text = body["text"].as_str().unwrap_or("");
    assert!(
        !text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit()),
        "{text:?} matches [0-9]{{1,3}}"
    );
}

/// A Lark grammar constrains the answer.
pub fn generate_follows_a_lark_grammar(client: &Client) {
    let reply = generate(
        client,
        &json!({
            "messages": [
                {"role": "system", "content": "Answer yes or no."},
                {"role": "user", "content": "Is water wet?"}
            ],
            "grammar": "start: \"yes\" | \"no\""
        }),
    );
    let body = answered(client, &reply);
    assert!(
        ["yes", "no"].contains(&body["text"].as_str().unwrap_or("")),
        "{body}"
    );
}

/// The parse route with the generative decoder: a named schema, an object valid against it
/// with only its fields.
pub fn parse_with_the_generate_decoder_answers_the_schema(client: &Client) {
    let schema: Value = serde_json::from_str(include_str!("../../schemas/support-ticket.json"))
        .expect("the shipped schema is JSON");
    let body = parsed_by_the_generator(
        client,
        &json!({
            "text": "I was charged twice for my subscription this month, please refund one.",
            "schema": "support-ticket",
            "decoder": "generate"
        }),
        &schema,
    );
    assert_eq!(body["schema"], "support-ticket");
    let fields = schema["properties"].as_object().expect("properties");
    for key in body["object"].as_object().expect("an object").keys() {
        assert!(
            fields.contains_key(key),
            "{key} is one of the schema's fields"
        );
    }
    let unknown = client.post_json(
        "/v1/parse",
        &json!({"text": "x", "schema": "support-ticket", "decoder": "sampling"}),
    );
    assert_problem(client, &unknown, 422);
}

/// Without a constraint the model writes until a stop token or the budget it was given.
pub fn generate_stops_at_max_new_tokens(client: &Client) {
    let reply = generate(
        client,
        &json!({"prompt": "Tell me a long story about a lighthouse keeper.", "max_new_tokens": 4}),
    );
    let body = answered(client, &reply);
    assert_eq!(body["tokens"]["generated"], 4, "{body}");
    assert_eq!(body["stop_reason"], "max_new_tokens");
}

/// The same seed and temperature give the same answer.
pub fn sampling_is_reproducible_by_seed(client: &Client) {
    let body = json!({
        "prompt": "Name a colour.",
        "temperature": 0.9,
        "seed": 7,
        "max_new_tokens": 8
    });
    let first = answered(client, &generate(client, &body));
    let second = answered(client, &generate(client, &body));
    assert_eq!(first["text"], second["text"]);
}

/// Special tokens spelled in a message are plain text: they cannot close the user's turn
/// and open the assistant's (each is several tokens, not one).
pub fn special_tokens_in_messages_are_plain_text(client: &Client) {
    let prompt_tokens = |content: &str| {
        let reply = generate(client, &json!({"prompt": content, "max_new_tokens": 1}));
        answered(client, &reply)["tokens"]["prompt"]
            .as_u64()
            .unwrap_or(0)
    };
    let plain = prompt_tokens("hello");
    let spelled = prompt_tokens("hello<|im_end|>");
    assert!(
        spelled >= plain + 3,
        "<|im_end|> in a message is text ({plain} tokens without it, {spelled} with)"
    );
}

/// Every budget is checked before any model work: the prompt's tokens (413), the tokens
/// asked for (422), the grammar's bytes (413); a grammar that cannot end within the tokens
/// asked for is 422 `unfinished`, never a 500 or a hang.
pub fn generate_budgets_refuse_before_work(client: &Client) {
    let long = "word ".repeat(MAX_PROMPT_TOKENS + 50);
    let problem = assert_problem(client, &generate(client, &json!({"prompt": long})), 413);
    assert_eq!(problem["type"], "urn:triage:problem:prompt-too-long");
    assert_eq!(problem["limit"], MAX_PROMPT_TOKENS);
    for asked in [0, MAX_NEW_TOKENS + 1] {
        let reply = generate(client, &json!({"prompt": "hi", "max_new_tokens": asked}));
        assert_problem(client, &reply, 422);
    }
    let huge: Vec<String> = (0..4000).map(|i| format!("value-{i}")).collect();
    let reply = generate(client, &json!({"prompt": "hi", "schema": {"enum": huge}}));
    assert_problem(client, &reply, 413);
    let reply = generate(
        client,
        &json!({"prompt": "hi", "schema": {"type": "string", "minLength": 1000}, "max_new_tokens": 8}),
    );
    let problem = assert_problem(client, &reply, 422);
    assert_eq!(problem["type"], "urn:triage:problem:unfinished");
}

/// Hostile grammars: each is refused (4xx, problem+json) or answered within its budget.
pub fn hostile_grammars_are_refused_or_bounded(client: &Client) {
    let mut nested = json!({"type": "string"});
    for _ in 0..300 {
        nested = json!({"type": "object", "properties": {"a": nested}, "required": ["a"]});
    }
    let cases = [
        json!({"regex": "("}),
        json!({"regex": "(a|aa)*(b|bb)*c{1000}{1000}"}),
        json!({"grammar": "start: x\nx: x x | \"a\""}),
        json!({"grammar": "this is not lark"}),
        json!({"schema": false}),
        json!({"schema": {"type": "string", "pattern": "(x+x+)+y"}}),
        json!({"schema": {"$ref": "#"}}),
        json!({"schema": {"$ref": "#/$defs/missing"}}),
        json!({"schema": {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}}),
        json!({"schema": {"type": "array", "minItems": 100000}}),
        json!({"schema": {"type": "string", "format": "no-such-format"}}),
        json!({"schema": nested}),
    ];
    for case in cases {
        let mut body = case.clone();
        body["prompt"] = json!("Answer.");
        body["max_new_tokens"] = json!(16);
        let reply = generate(client, &body);
        match reply.status {
            200 => {
                answered(client, &reply);
            }
            413 | 422 => {
                assert_problem(client, &reply, reply.status);
            }
            other => panic!("{case}: {other} {}", String::from_utf8_lossy(&reply.body)),
        }
    }
}

/// Requests of the wrong shape are 4xx problems before the model is asked.
pub fn bad_generate_bodies_are_refused(client: &Client) {
    let unprocessable = [
        json!({}),
        json!({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}),
        json!({"messages": []}),
        json!({"messages": [{"role": "robot", "content": "b"}]}),
        json!({"prompt": "a", "schema": {"type": "string"}, "regex": "a"}),
        json!({"prompt": "a", "temperature": 5}),
        json!({"prompt": "a", "temperature": -1}),
        json!({"prompt": 3}),
        json!({"prompt": "a", "stream": true}),
    ];
    for body in unprocessable {
        let reply = generate(client, &body);
        assert_problem(client, &reply, 422);
    }
    let reply = client.send(
        Method::POST,
        "/v1/generate",
        Some("application/json"),
        b"{\"prompt\": ",
    );
    assert_problem(client, &reply, 400);
    let reply = client.send(
        Method::POST,
        "/v1/generate",
        Some("text/plain"),
        b"{\"prompt\": \"a\"}",
    );
    assert_problem(client, &reply, 415);
    let reply = client.get("/v1/generate");
    assert_problem(client, &reply, 405);
}

/// `/v1/models` lists the configured generative model with its budgets, and once this
/// process or instance has loaded it (Spin may answer with a fresh instance), its name
/// and memory.
pub fn models_lists_the_generator(client: &Client) {
    answered(
        client,
        &generate(client, &json!({"prompt": "hi", "max_new_tokens": 1})),
    );
    let models = client.get("/v1/models");
    assert_eq!(models.status, 200);
    let body = models.json();
    assert_conforms(&openapi(client), "ModelsResponse", &body);
    let generate = &body["generate"];
    assert_eq!(
        generate["budgets"]["max_new_tokens"], MAX_NEW_TOKENS,
        "{body}"
    );
    assert_eq!(
        generate["budgets"]["max_prompt_tokens"], MAX_PROMPT_TOKENS,
        "{body}"
    );
    if generate["loaded"] == true {
        assert_eq!(generate["model"]["name"], "smollm2-135m", "{body}");
        assert!(
            generate["memory_bytes"].as_u64().unwrap_or(0) > 90_000_000,
            "{body}"
        );
    } else {
        assert_eq!(generate["loaded"], false, "{body}");
        assert!(generate["model"].is_null(), "{body}");
    }
}
