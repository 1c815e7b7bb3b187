//! The contract cases. Each takes a [`Client`] for a running adapter and panics on a
//! violation. Budgets are read from `GET /v1/models`, so the cases hold for any config.

use serde_json::{json, Value};
use ureq::http::Method;

use crate::client::{Client, Reply};
use crate::samples::{HAM, SPAM};
use crate::schema::assert_conforms;

pub(crate) const CLASSIFY: &str = "/v1/classify";

pub(crate) fn openapi(client: &Client) -> Value {
    let reply = client.get("/openapi.json");
    reply.assert_status(200);
    reply.json()
}

pub(crate) fn models(client: &Client) -> Value {
    let reply = client.get("/v1/models");
    reply.assert_status(200);
    reply.json()
}

/// The default model's entry in a `GET /v1/models` body (the one its `default` names).
pub(crate) fn default_model(models: &Value) -> Value {
    let name = &models["default"];
    models["models"]
        .as_array()
        .and_then(|all| all.iter().find(|model| model["name"] == *name))
        .cloned()
        .unwrap_or_else(|| panic!("the default model {name} is listed: {models}"))
}

/// Budget `name` from a `GET /v1/models` body.
pub(crate) fn budget_in(models: &Value, name: &str) -> usize {
    models["budgets"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("budget {name} missing")) as usize
}

pub(crate) fn budget(client: &Client, name: &str) -> usize {
    budget_in(&models(client), name)
}

/// Asserts an RFC 9457 problem with `status`, conforming to the served schema, with a
/// `detail`; returns its body. Adapter-specific tests use it too.
pub fn assert_problem(client: &Client, reply: &Reply, status: u16) -> Value {
    assert_eq!(
        reply.status,
        status,
        "expected {status}, got {}: {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    assert!(
        reply.content_type().starts_with("application/problem+json"),
        "problem content type, got {:?}",
        reply.content_type()
    );
    let body = reply.json();
    assert_conforms(&openapi(client), "Problem", &body);
    assert_eq!(body["status"], status);
    assert!(
        !body["detail"].as_str().unwrap_or("").is_empty(),
        "detail says why"
    );
    body
}

/// For a shipped classifier, a text it must label as its positive label, with that
/// label: a held-out spam email for spam-mini, a held-out attack for prompt-guard. `None`
/// for any other model (your own bundle), whose answers the contract cannot know.
pub(crate) fn known_positive(client: &Client) -> Option<(&'static str, &'static str)> {
    match default_model(&models(client))["name"].as_str()? {
        "spam-mini" => Some((SPAM[0], "spam")),
        "prompt-guard" => Some((crate::prompt_guard::ATTACKS[0], "attack")),
        _ => None,
    }
}

pub(crate) fn classify(client: &Client, text: &str) -> Value {
    let reply = client.post_json(CLASSIFY, &json!({ "text": text }));
    reply.assert_status(200);
    let body = reply.json();
    assert_conforms(&openapi(client), "ClassifyResponse", &body);
    body
}

pub fn health_names_the_model(client: &Client) {
    let reply = client.get("/healthz");
    reply.assert_status(200);
    let body = reply.json();
    assert_conforms(&openapi(client), "Health", &body);
    assert_eq!(body["model"]["name"], models(client)["default"]);
}

pub fn models_reports_model_budgets_and_memory(client: &Client) {
    let body = models(client);
    assert_conforms(&openapi(client), "ModelsResponse", &body);
    let model = &default_model(&body);
    assert_eq!(model["task"], "classify");
    assert!(body["budgets"]["max_tokens"].as_u64() <= model["max_tokens"].as_u64());
    let memory = &body["memory"];
    let total = memory["resident_bytes"].as_u64().unwrap_or(u64::MAX)
        + memory["worst_request_bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(
        total <= memory["budget_bytes"].as_u64().unwrap_or(0),
        "worst case {total} fits the memory budget: {memory}"
    );
}

pub fn openapi_document_is_served(client: &Client) {
    let doc = openapi(client);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in ["/v1/classify", "/v1/parse", "/v1/models", "/healthz"] {
        assert!(doc["paths"][path].is_object(), "documents {path}");
    }
}

/// A deployment without a generative model answers `/v1/generate` with a problem saying
/// why: 501 where the build leaves the feature out (the worker, the Fastly program), 503
/// where it is built but no `generator_dir` is set; and the OpenAPI document lists the
/// route exactly when the build serves it.
pub fn generate_without_a_generator_says_why(client: &Client) {
    let reply = client.post_json("/v1/generate", &json!({"prompt": "hi"}));
    let status = reply.status;
    assert!(
        matches!(status, 501 | 503),
        "{status}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let problem = assert_problem(client, &reply, status);
    let detail = problem["detail"].as_str().unwrap_or("");
    if status == 501 {
        assert_eq!(problem["type"], "urn:triage:problem:not-built");
        assert!(detail.contains("`generate` feature"), "{detail}");
        assert!(openapi(client)["paths"]["/v1/generate"].is_null());
    } else {
        assert_eq!(problem["type"], "urn:triage:problem:model-unavailable");
        assert!(detail.contains("generator_dir"), "{detail}");
        assert!(openapi(client)["paths"]["/v1/generate"].is_object());
    }
}

pub fn classifies_real_spam_as_spam(client: &Client) {
    for text in SPAM {
        let body = classify(client, text);
        assert_eq!(body["label"], "spam", "{text:.80}: {body}");
        assert!(body["scores"]["spam"].as_f64() > body["scores"]["ham"].as_f64());
    }
}

/// Legitimate mail is never flagged: answered `ham`, or not confident (escalated by
/// hybrid routing, forwarded annotated by middleware), never a confident `spam`.
pub fn classifies_real_ham_as_ham(client: &Client) {
    for text in HAM {
        let body = classify(client, text);
        assert!(!flagged(&body), "{text:.80}: {body}");
    }
}

/// Whether an answer is a confident positive (`spam`): what blocks a message.
fn flagged(body: &Value) -> bool {
    body["label"] == "spam" && body["confident"] == true
}

/// Emoji-only messages and a script few vocabularies have pieces for (runic). A model
/// whose manifest sets `max_unknown_share` (a WordPiece or Unigram vocabulary, which reads
/// them as `[UNK]`) must report the `[UNK]` and never answer them `confident`, so hybrid
/// routing escalates them. Without the setting the score alone decides.
pub fn unreadable_text_is_never_confident(client: &Client) {
    let models = models(client);
    let Some(limit) = default_model(&models)["max_unknown_share"].as_f64() else {
        return;
    };
    let (mut unreadable, mut any_unknown) = (0, false);
    for text in ["🙏🙏🙏", "🎉 👍", "ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ ᛁᛃ ᛇᛈᛉ"] {
        let body = classify(client, text);
        let unknown = body["unknown_tokens"].as_u64().unwrap_or(0) as f64;
        any_unknown |= unknown > 0.0;
        let tokens = body["tokens"].as_u64().unwrap_or(0) as f64;
        // At most the special tokens are not text; counting them as text only lowers the
        // share, so a window over the limit by this count is over it by any.
        if unknown >= limit * tokens {
            unreadable += 1;
            assert_eq!(body["confident"], false, "{text}: {body}");
        }
    }
    // The shipped models' vocabularies read these as [UNK], so the rule must have applied;
    // another vocabulary may have pieces for them (byte fallback, emoji pieces).
    if known_positive(client).is_some() {
        assert!(
            any_unknown && unreadable > 0,
            "no sample reached max_unknown_share"
        );
    }
}

pub fn batch_answers_in_request_order(client: &Client) {
    let reply = client.post_json(CLASSIFY, &json!({ "texts": [SPAM[0], HAM[0], SPAM[1]] }));
    reply.assert_status(200);
    let timing = reply.header("server-timing").unwrap_or("");
    assert!(
        timing.contains("tokenize;dur=") && timing.contains("inference;dur="),
        "Server-Timing: {timing:?}"
    );
    let body = reply.json();
    assert_conforms(&openapi(client), "ClassifyBatchResponse", &body);
    assert_eq!(labels_of(&body), ["spam", "ham", "spam"]);
}

/// The labels of a batch answer, in order.
pub(crate) fn labels_of(batch: &Value) -> Vec<&str> {
    batch["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["label"].as_str().unwrap_or(""))
        .collect()
}

pub fn long_text_is_truncated_and_flagged(client: &Client) {
    let max_tokens = budget(client, "max_tokens");
    let short = classify(client, "Thanks, see you at the meeting on Tuesday.");
    assert_eq!(short["truncated"], false);
    let long = "please review the attached quarterly report before friday ".repeat(max_tokens);
    let body = classify(client, &long);
    assert_eq!(body["truncated"], true);
    assert_eq!(body["tokens"].as_u64(), Some(max_tokens as u64));
}

pub fn accepts_json_content_type_with_parameters(client: &Client) {
    let body = serde_json::to_vec(&json!({ "text": HAM[0] })).unwrap_or_default();
    let reply = client.send(
        Method::POST,
        CLASSIFY,
        Some("Application/JSON; charset=utf-8"),
        &body,
    );
    reply.assert_status(200);
}

/// Linear memory may not exceed this after the largest allowed request: half of the 128 MB
/// a Cloudflare isolate (or a Spin instance) gets, since one isolate serves several requests.
pub const MEMORY_CEILING_BYTES: u64 = 64 * 1024 * 1024;

/// The largest request the budgets let through (a full batch, each text at the text budget
/// and past the token budget, the body just under the body budget) is answered, and where
/// the adapter reports its memory (wasm linear memory), it stays under 64 MiB.
pub fn largest_allowed_request_fits_in_memory(client: &Client) {
    let max_body = budget(client, "max_body_bytes");
    let max_batch = budget(client, "max_batch");
    let max_tokens = budget(client, "max_tokens");
    // Each text costs its bytes plus 3 of JSON (quotes and comma); the envelope about 16.
    let per_text = ((max_body - 16) / max_batch - 3).min(budget(client, "max_text_bytes"));
    let sentence = "please review the attached quarterly report before friday ";
    let text: String = sentence.repeat(per_text / sentence.len() + 1)[..per_text].to_owned();
    let body = serde_json::to_vec(&json!({ "texts": vec![text; max_batch] })).unwrap_or_default();
    assert!(
        body.len() <= max_body,
        "{} bytes fit the budget",
        body.len()
    );
    let reply = client.send(Method::POST, CLASSIFY, Some("application/json"), &body);
    reply.assert_status(200);
    let results = reply.json()["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), max_batch);
    for result in &results {
        assert_eq!(result["truncated"], true);
        assert_eq!(result["tokens"].as_u64(), Some(max_tokens as u64));
    }
    let memory = models(client)["memory"].clone();
    if let Some(current) = memory["current_bytes"].as_u64() {
        assert!(
            current < MEMORY_CEILING_BYTES,
            "linear memory {current} bytes after the largest request, ceiling {MEMORY_CEILING_BYTES}"
        );
    }
}

/// A short spam text, as typed into a form: spam on its own.
pub(crate) const SHORT_SPAM: &str =
    "WIN a FREE cruise!!! Click here http://cheap-prize.example/win";

/// Characters that make no token (spaces, newlines, zero-width spaces, Unicode tag
/// characters) before a text change nothing the model reads: the words are never pushed
/// out of the window by padding, whatever the text budget.
pub fn padding_does_not_hide_the_text(client: &Client) {
    let max_text = budget(client, "max_text_bytes");
    for text in [SHORT_SPAM, SPAM[0]] {
        let plain = classify(client, text);
        for (pad, count) in [
            (" ", 8_200),
            ("\n", 8_200),
            ("\u{200b}", 2_800),
            ("\u{e0041}", 2_100),
            ("\u{200b} \u{e0020}\r\n", 2_000),
        ] {
            let padded = format!("{}{text}", pad.repeat(count));
            assert!(padded.len() <= max_text, "inside the text budget");
            let body = classify(client, &padded);
            for key in ["label", "tokens", "truncated"] {
                assert_eq!(
                    body[key], plain[key],
                    "{count} x {pad:?}: {body} vs {plain}"
                );
            }
            let (a, b) = (body["score"].as_f64(), plain["score"].as_f64());
            assert!(
                a.zip(b).is_some_and(|(a, b)| (a - b).abs() < 1e-4),
                "{count} x {pad:?}: {body} vs {plain}"
            );
        }
    }
    let plain = classify(client, SHORT_SPAM);
    assert_eq!(plain["label"], "spam", "{plain}");
}

/// Control tokens typed into a text (`[SEP]`, `[CLS]`, `[PAD]`, `[MASK]`, `<s>`,
/// `</s>`, `<|endoftext|>`) are read as the text they are, never as the special tokens
/// the tokenizer adds itself: the answer is the one for the same characters spaced apart
/// (`[ SEP ]`, which no tokenizer reads as a special token), to the last digit, on a
/// tokenizer that splits punctuation (WordPiece, as the shipped model's).
pub fn typed_control_tokens_are_plain_text(client: &Client) {
    for spam in [SHORT_SPAM, SPAM[0], SPAM[2]] {
        let plain = classify(client, spam);
        assert_eq!(plain["label"], "spam", "{plain}");
        for control in [
            "[SEP]",
            "[CLS]",
            "[PAD]",
            "[MASK]",
            "<s>",
            "</s>",
            "<|endoftext|>",
        ] {
            let typed = classify(
                client,
                &format!("{}{spam}", format!("{control} ").repeat(10)),
            );
            let spaced: String = control
                .chars()
                .map(|c| {
                    if c.is_ascii_punctuation() {
                        format!(" {c} ")
                    } else {
                        c.to_string()
                    }
                })
                .collect::<String>()
                + " ";
            let as_text = classify(client, &format!("{}{spam}", spaced.repeat(10)));
            for key in ["label", "score", "tokens", "truncated"] {
                assert_eq!(
                    typed[key], as_text[key],
                    "{control:?} x 10: {typed} vs {as_text}"
                );
            }
        }
    }
}

/// A benign paragraph an attacker puts before a spam text to dilute it.
pub(crate) const BENIGN_PARAGRAPH: &str = "Thanks for getting back to me so quickly. I talked it over with the team this morning and we agreed to move the planning meeting to Thursday afternoon, after lunch, so that everyone who is travelling can join. I will send round the notes from last week and the updated schedule before then. Let me know if anything else should go on the agenda.";

/// Cheap dilution does not hide spam: 100 filler words, a benign paragraph or typed
/// control tokens before a real spam email, or a paragraph after a short spam text, leave
/// it spam, because the model also reads short windows and a confident `spam` in any
/// window wins. Ham with the same filler is not flagged, and `tokens` stays within the
/// budget.
/// (Filler before a spam text of about 20 tokens still dilutes its 48-token windows: see
/// the model card's dilution section.)
pub fn dilution_does_not_hide_spam(client: &Client) {
    let max_tokens = budget(client, "max_tokens") as u64;
    let the = "the ".repeat(100);
    let sep = "[SEP] ".repeat(10);
    let mut texts: Vec<String> = SPAM
        .iter()
        .flat_map(|spam| {
            [
                format!("{the}{spam}"),
                format!("{BENIGN_PARAGRAPH} {spam}"),
                format!("{sep}{spam}"),
            ]
        })
        .collect();
    texts.push(format!("{SHORT_SPAM} {BENIGN_PARAGRAPH}"));
    for text in &texts {
        let body = classify(client, text);
        assert_eq!(body["label"], "spam", "{:.60}...: {body}", text);
        assert!(body["tokens"].as_u64() <= Some(max_tokens), "{body}");
    }
    for ham in HAM {
        for text in [format!("{the}{ham}"), format!("{BENIGN_PARAGRAPH} {ham}")] {
            let body = classify(client, &text);
            assert!(!flagged(&body), "{text:.60}: {body}");
        }
    }
    let short = classify(client, &format!("{the}{SHORT_SPAM}"));
    assert_eq!(short["truncated"], false, "every token was read: {short}");
}
