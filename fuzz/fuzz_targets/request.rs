//! From request bytes to model input: the content-type check, the body budget, UTF-8 and
//! JSON parsing, the request's shape, the text and batch budgets, and tokenization, as
//! `POST /v1/classify` runs them (the model itself is not run). Every input must end in
//! a 4xx problem or in token ids the model accepts; a panic is a crash.
//!
//! Input: one byte choosing the `Content-Type`, then the body.

#![no_main]

use std::sync::OnceLock;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use triage_core::http::{ClassifyInput, Problem};
use triage_core::{bundle, Budgets, Classifier};

/// Budgets small enough that every limit (body, text, batch, token truncation and the
/// tokenizer's byte bound) is within reach of a 4 KiB input.
const BUDGETS: Budgets = Budgets {
    max_body_bytes: 2048,
    max_text_bytes: 1024,
    max_tokens: 16,
    max_batch: 4,
    memory_bytes: 48 * 1024 * 1024,
};

fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| {
        Classifier::load(bundle::embedded(), BUDGETS).expect("the embedded bundle loads")
    })
}

fn headers(selector: u8, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = match selector % 4 {
        0 => Some(HeaderValue::from_static("application/json")),
        1 => Some(HeaderValue::from_static(
            "Application/Problem+JSON; charset=utf-8",
        )),
        // Whatever the body starts with, as a header value (when it is a valid one).
        2 => HeaderValue::from_bytes(&body[..body.len().min(40)]).ok(),
        _ => None,
    };
    if let Some(value) = value {
        headers.insert(CONTENT_TYPE, value);
    }
    headers
}

fn assert_client_error(problem: &Problem) {
    assert!((400..500).contains(&problem.status), "{problem:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let classifier = classifier();
    let input = match ClassifyInput::parse(&headers(selector, body), body, classifier.budgets()) {
        Ok(input) => input,
        Err(problem) => return assert_client_error(&problem),
    };
    assert!(!input.texts().is_empty(), "a valid request has a text");
    let encoded = match classifier.encode_batch(input.texts()) {
        Ok(encoded) => encoded,
        Err(error) => return assert_client_error(&Problem::from_error(&error)),
    };
    assert_eq!(encoded.len(), input.texts().len());
    // Every id must have a row in the model's embedding table (checked at load).
    let max_id = i64::from(classifier.encoder().max_token_id());
    for encoding in &encoded {
        let tokens = encoding.ids.len();
        assert!(
            (2..=BUDGETS.max_tokens).contains(&tokens),
            "{tokens} tokens"
        );
        let outside = encoding.ids.iter().find(|&&id| !(0..=max_id).contains(&id));
        assert!(outside.is_none(), "id {outside:?} outside 0..={max_id}");
    }
});
