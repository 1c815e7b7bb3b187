//! The bad-input matrix: what the internet may send an edge worker, one row per input.
//! Every row runs on every adapter and asserts the exact outcome: a problem+json with its
//! status and type (4xx, never a 5xx), or, for text that is odd but valid (NUL escapes,
//! combining-character floods, RTL overrides), a classification within the token budget.
//! After each row the same adapter must still label a known positive correctly (a real
//! spam email for spam-mini, a held-out attack for prompt-guard).

use serde_json::{json, Value};
use ureq::http::Method;

use crate::cases::{assert_problem, budget_in, classify, known_positive, models, CLASSIFY};
use crate::client::{Client, Reply};

/// The budgets in force on the adapter, read from `GET /v1/models`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_text_bytes: usize,
    pub max_tokens: usize,
    pub max_batch: usize,
}

impl Limits {
    fn of(client: &Client) -> Limits {
        let models = models(client);
        Limits {
            max_body_bytes: budget_in(&models, "max_body_bytes"),
            max_text_bytes: budget_in(&models, "max_text_bytes"),
            max_tokens: budget_in(&models, "max_tokens"),
            max_batch: budget_in(&models, "max_batch"),
        }
    }
}

/// One request of the matrix.
#[derive(Debug, Clone)]
pub struct BadRequest {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// Sent with chunked transfer encoding and no `Content-Length`.
    streamed: bool,
}

impl BadRequest {
    /// `POST /v1/classify` with `Content-Type: application/json` and these bytes.
    fn json_bytes(body: impl Into<Vec<u8>>) -> BadRequest {
        BadRequest {
            method: Method::POST,
            path: CLASSIFY.into(),
            content_type: Some("application/json"),
            body: body.into(),
            streamed: false,
        }
    }

    /// `POST /v1/classify` with this JSON value.
    fn json(body: Value) -> BadRequest {
        BadRequest::json_bytes(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// `POST /v1/classify` with a valid body of one text.
    fn text(text: String) -> BadRequest {
        BadRequest::json(json!({ "text": text }))
    }

    fn with_content_type(self, content_type: Option<&'static str>) -> BadRequest {
        BadRequest {
            content_type,
            ..self
        }
    }

    fn streamed(self) -> BadRequest {
        BadRequest {
            streamed: true,
            ..self
        }
    }

    fn to(method: Method, path: &str) -> BadRequest {
        BadRequest {
            method,
            path: path.into(),
            ..BadRequest::text("hello".into())
        }
    }

    fn send(self, client: &Client) -> Reply {
        if self.streamed {
            client.send_streamed(self.method, &self.path, self.content_type, &self.body)
        } else {
            client.send(self.method, &self.path, self.content_type, &self.body)
        }
    }
}

/// What a row must get back.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// A problem with this status and type (`urn:triage:problem:<slug>`).
    Problem(u16, &'static str),
    /// A 200 classification of every text, within the token budget.
    Classified,
}

/// One row of the matrix.
pub struct Row {
    pub name: &'static str,
    pub request: fn(&Limits) -> BadRequest,
    pub expect: Expect,
}

const MALFORMED: Expect = Expect::Problem(400, "malformed-json");
const MISSHAPEN: Expect = Expect::Problem(422, "invalid-fields");
const NOT_FOUND: Expect = Expect::Problem(404, "not-found");
const WRONG_METHOD: Expect = Expect::Problem(405, "method-not-allowed");
const WRONG_MEDIA: Expect = Expect::Problem(415, "unsupported-media-type");
const BODY_TOO_LARGE: Expect = Expect::Problem(413, "body-too-large");

/// Levels of nesting in the deeply nested rows.
const DEPTH: usize = 10_000;

fn nested(open: &str, inner: &str, close: &str) -> String {
    format!("{}{inner}{}", open.repeat(DEPTH), close.repeat(DEPTH))
}

/// A JSON body of `size` bytes or more: one text of that many `a`s.
fn body_of(size: usize) -> Vec<u8> {
    format!("{{\"text\": \"{}\"}}", "a".repeat(size)).into_bytes()
}

/// 10 MiB, or 1 MiB over the body budget if that is more.
fn far_over(limits: &Limits) -> usize {
    (10 * 1024 * 1024).max(limits.max_body_bytes + 1024 * 1024)
}

/// Every row of the matrix.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    // Bytes that are not JSON, or not JSON text: 400.
    Row { name: "empty_body", request: |_| BadRequest::json_bytes(b""), expect: MALFORMED },
    Row { name: "whitespace_body", request: |_| BadRequest::json_bytes(b" \r\n\t "), expect: MALFORMED },
    Row { name: "invalid_utf8_body", request: |_| BadRequest::json_bytes(b"\xff\xfe{}"), expect: MALFORMED },
    Row { name: "invalid_utf8_in_text", request: |_| BadRequest::json_bytes(b"{\"text\": \"caf\xe9\"}"), expect: MALFORMED },
    Row { name: "overlong_utf8_in_text", request: |_| BadRequest::json_bytes(b"{\"text\": \"\xc0\xaf\"}"), expect: MALFORMED },
    Row { name: "utf8_byte_order_mark", request: |_| BadRequest::json_bytes(b"\xef\xbb\xbf{\"text\": \"hi\"}"), expect: MALFORMED },
    Row { name: "truncated_json", request: |_| BadRequest::json_bytes(b"{\"text\": "), expect: MALFORMED },
    Row { name: "javascript_not_json", request: |_| BadRequest::json_bytes(b"{text: 'x'}"), expect: MALFORMED },
    Row { name: "trailing_garbage", request: |_| BadRequest::json_bytes(b"{\"text\": \"a\"} x"), expect: MALFORMED },
    Row { name: "raw_nul_in_text", request: |_| BadRequest::json_bytes(b"{\"text\": \"a\x00b\"}"), expect: MALFORMED },
    Row { name: "lone_high_surrogate_escape", request: |_| BadRequest::json_bytes(br#"{"text": "abc \ud800 def"}"#), expect: MALFORMED },
    Row { name: "lone_low_surrogate_escape", request: |_| BadRequest::json_bytes(br#"{"text": "\udc00"}"#), expect: MALFORMED },
    Row { name: "reversed_surrogate_pair", request: |_| BadRequest::json_bytes(br#"{"text": "\ude00\ud83d"}"#), expect: MALFORMED },
    Row { name: "number_beyond_f64", request: |_| BadRequest::json_bytes(b"{\"text\": 1e999999}"), expect: MALFORMED },
    Row { name: "unclosed_nesting_10k_levels", request: |_| BadRequest::json_bytes("[".repeat(DEPTH)), expect: MALFORMED },
    Row { name: "misshapen_and_truncated", request: |_| BadRequest::json_bytes(b"{\"txt\": 1, "), expect: MALFORMED },
    // Valid JSON of the wrong shape: 422.
    Row { name: "missing_field", request: |_| BadRequest::json(json!({})), expect: MISSHAPEN },
    Row { name: "unknown_field", request: |_| BadRequest::json(json!({ "txt": "hello" })), expect: MISSHAPEN },
    Row { name: "text_as_number", request: |_| BadRequest::json(json!({ "text": 5 })), expect: MISSHAPEN },
    Row { name: "text_as_null", request: |_| BadRequest::json(json!({ "text": null })), expect: MISSHAPEN },
    Row { name: "text_as_object", request: |_| BadRequest::json(json!({ "text": { "text": "a" } })), expect: MISSHAPEN },
    Row { name: "texts_with_a_non_string", request: |_| BadRequest::json(json!({ "texts": ["ok", 1] })), expect: MISSHAPEN },
    Row { name: "texts_empty", request: |_| BadRequest::json(json!({ "texts": [] })), expect: MISSHAPEN },
    Row { name: "texts_as_string", request: |_| BadRequest::json(json!({ "texts": "a" })), expect: MISSHAPEN },
    Row { name: "text_and_texts", request: |_| BadRequest::json(json!({ "text": "a", "texts": ["b"] })), expect: MISSHAPEN },
    Row { name: "duplicate_field", request: |_| BadRequest::json_bytes(br#"{"text": "a", "text": "b"}"#), expect: MISSHAPEN },
    Row { name: "top_level_array", request: |_| BadRequest::json(json!(["hello"])), expect: MISSHAPEN },
    // serde would read it as a request, field by position.
    Row { name: "top_level_array_in_field_order", request: |_| BadRequest::json(json!(["hello", null, null, null])), expect: MISSHAPEN },
    Row { name: "top_level_string", request: |_| BadRequest::json(json!("hello")), expect: MISSHAPEN },
    Row { name: "top_level_null", request: |_| BadRequest::json_bytes(b"null"), expect: MISSHAPEN },
    Row { name: "nested_10k_levels", request: |_| BadRequest::json_bytes(nested("[", "", "]")), expect: MISSHAPEN },
    Row { name: "nested_10k_levels_in_text", request: |_| BadRequest::json_bytes(format!("{{\"text\": {}}}", nested("[", "\"a\"", "]"))), expect: MISSHAPEN },
    Row { name: "nested_10k_objects", request: |_| BadRequest::json_bytes(nested("{\"text\": ", "\"a\"", "}")), expect: MISSHAPEN },
    Row { name: "nested_10k_levels_in_texts", request: |_| BadRequest::json_bytes(format!("{{\"texts\": [\"a\", {}]}}", nested("[", "", "]"))), expect: MISSHAPEN },
    // Over a budget: 413, with the limit.
    Row { name: "body_one_byte_over_budget", request: |l| BadRequest::json_bytes(body_of(l.max_body_bytes)), expect: BODY_TOO_LARGE },
    Row { name: "body_10mib", request: |l| BadRequest::json_bytes(body_of(far_over(l))), expect: BODY_TOO_LARGE },
    Row { name: "body_10mib_streamed", request: |l| BadRequest::json_bytes(body_of(far_over(l))).streamed(), expect: BODY_TOO_LARGE },
    Row { name: "text_over_budget", request: |l| BadRequest::text("é".repeat(l.max_text_bytes / 2 + 1)), expect: Expect::Problem(413, "text-too-large") },
    Row {
        name: "text_of_100k_tokens",
        request: |l| {
            let text = "a ".repeat(100_000);
            assert!(text.len() > l.max_text_bytes && text.len() < l.max_body_bytes, "100k tokens are over the text budget, under the body budget");
            BadRequest::text(text)
        },
        expect: Expect::Problem(413, "text-too-large"),
    },
    Row { name: "text_over_budget_in_batch", request: |l| BadRequest::json(json!({ "texts": ["ok", "x".repeat(l.max_text_bytes + 1)] })), expect: Expect::Problem(413, "text-too-large") },
    Row { name: "batch_one_over_cap", request: |l| BadRequest::json(json!({ "texts": vec!["hi"; l.max_batch + 1] })), expect: Expect::Problem(413, "batch-too-large") },
    Row { name: "batch_of_10k_texts", request: |_| BadRequest::json(json!({ "texts": vec!["x"; 10_000] })), expect: Expect::Problem(413, "batch-too-large") },
    // Wrong method, media type or path.
    Row { name: "get_classify", request: |_| BadRequest::to(Method::GET, CLASSIFY), expect: WRONG_METHOD },
    Row { name: "put_classify", request: |_| BadRequest::to(Method::PUT, CLASSIFY), expect: WRONG_METHOD },
    Row { name: "delete_models", request: |_| BadRequest::to(Method::DELETE, "/v1/models"), expect: WRONG_METHOD },
    Row { name: "post_healthz", request: |_| BadRequest::to(Method::POST, "/healthz"), expect: WRONG_METHOD },
    Row { name: "no_content_type", request: |_| BadRequest::text("hello".into()).with_content_type(None), expect: WRONG_MEDIA },
    Row { name: "text_plain", request: |_| BadRequest::text("hello".into()).with_content_type(Some("text/plain")), expect: WRONG_MEDIA },
    Row { name: "form_urlencoded", request: |_| BadRequest::text("hello".into()).with_content_type(Some("application/x-www-form-urlencoded")), expect: WRONG_MEDIA },
    Row { name: "json_lookalike_type", request: |_| BadRequest::text("hello".into()).with_content_type(Some("application/jsonp")), expect: WRONG_MEDIA },
    Row { name: "root_path", request: |_| BadRequest::to(Method::GET, "/"), expect: NOT_FOUND },
    Row { name: "unknown_version", request: |_| BadRequest::to(Method::POST, "/v2/classify"), expect: NOT_FOUND },
    Row { name: "extra_segment", request: |_| BadRequest::to(Method::POST, "/v1/classify/extra"), expect: NOT_FOUND },
    Row { name: "trailing_slash", request: |_| BadRequest::to(Method::POST, "/v1/classify/"), expect: NOT_FOUND },
    Row { name: "upper_case_path", request: |_| BadRequest::to(Method::POST, "/V1/CLASSIFY"), expect: NOT_FOUND },
    Row { name: "encoded_traversal", request: |_| BadRequest::to(Method::GET, "/v1/%2e%2e/%2e%2e/etc/passwd"), expect: NOT_FOUND },
    // Odd but valid text: classified, within the token budget.
    Row { name: "empty_text", request: |_| BadRequest::text(String::new()), expect: Expect::Classified },
    Row { name: "nul_escape_in_text", request: |_| BadRequest::json_bytes(br#"{"text": "free\u0000money"}"#), expect: Expect::Classified },
    Row { name: "control_character_escapes", request: |_| BadRequest::json_bytes(br#"{"text": "\u0007\u001b[31mred\u001b[0m\b\f"}"#), expect: Expect::Classified },
    Row { name: "combining_character_flood", request: |l| BadRequest::text(format!("a{}", "\u{301}".repeat(l.max_text_bytes / 2 - 1))), expect: Expect::Classified },
    Row { name: "zalgo_batch", request: |l| BadRequest::json(json!({ "texts": vec![format!("Z{}", "\u{300}\u{301}\u{302}".repeat(l.max_text_bytes / 7)); l.max_batch.min(4)] })), expect: Expect::Classified },
    Row { name: "rtl_and_isolate_overrides", request: |_| BadRequest::text("\u{202e}YENOM EERF\u{202c} click \u{2066}now\u{2069} \u{200f}".into()), expect: Expect::Classified },
    Row { name: "zero_width_flood", request: |l| BadRequest::text("\u{200b}\u{200d}\u{feff}".repeat(l.max_text_bytes / 9)), expect: Expect::Classified },
    Row { name: "emoji_and_surrogate_pairs", request: |_| BadRequest::json_bytes(br#"{"text": "\ud83d\ude00 WIN \ud83d\udcb0\ud83d\udcb0 now \ud83c\udff3\ufe0f\u200d\ud83c\udf08"}"#), expect: Expect::Classified },
    Row { name: "cjk_text_at_text_budget", request: |l| BadRequest::text("\u{4e00}".repeat(l.max_text_bytes / 3)), expect: Expect::Classified },
    Row { name: "noncharacters_and_private_use", request: |_| BadRequest::text("\u{fffe}\u{ffff}\u{fdd0}\u{e000}\u{10ffff} offer".into()), expect: Expect::Classified },
    Row { name: "one_long_word", request: |l| BadRequest::text("x".repeat(l.max_text_bytes)), expect: Expect::Classified },
];

/// Runs one row against `client`, then checks the adapter still answers a good request.
pub fn check(client: &Client, row: &Row) {
    let limits = Limits::of(client);
    let reply = (row.request)(&limits).send(client);
    match row.expect {
        Expect::Problem(status, slug) => {
            let problem = assert_problem(client, &reply, status);
            assert_eq!(problem["type"], format!("urn:triage:problem:{slug}"));
            if let Some(limit) = budget_limit(slug, &limits) {
                assert_eq!(problem["limit"].as_u64(), Some(limit as u64), "{problem}");
            }
            if status == 405 {
                assert!(reply.header("allow").is_some(), "405 says what is allowed");
            }
        }
        Expect::Classified => {
            reply.assert_status(200);
            let body = reply.json();
            let results = match body.get("results") {
                Some(results) => results.as_array().cloned().unwrap_or_default(),
                None => vec![body],
            };
            assert!(!results.is_empty());
            for result in &results {
                let tokens = result["tokens"].as_u64().unwrap_or(0) as usize;
                assert!((2..=limits.max_tokens).contains(&tokens), "{result}");
                assert!(result["score"]
                    .as_f64()
                    .is_some_and(|s| (0.0..=1.0).contains(&s)));
            }
        }
    }
    let Some((text, label)) = known_positive(client) else {
        // Another model: it must still answer, with one of its labels.
        let after = classify(client, "a good request after a bad one");
        let labels = crate::cases::default_model(&models(client))["labels"].clone();
        let known = labels
            .as_array()
            .is_some_and(|l| l.contains(&after["label"]));
        assert!(known, "a good request after {}: {after}", row.name);
        return;
    };
    let after = classify(client, text);
    assert_eq!(
        after["label"], label,
        "a good request after {}: {after}",
        row.name
    );
}

/// The budget a 413 of type `slug` reports as its `limit`.
fn budget_limit(slug: &str, limits: &Limits) -> Option<usize> {
    match slug {
        "body-too-large" => Some(limits.max_body_bytes),
        "text-too-large" => Some(limits.max_text_bytes),
        "batch-too-large" => Some(limits.max_batch),
        _ => None,
    }
}
