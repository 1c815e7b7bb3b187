//! The cases of `POST /v1/redact`: personal data in several locales replaced by typed
//! placeholders, offsets in code points that point at the values in the input, what is
//! not personal data left alone, and bad input refused with the right problem.

use serde_json::{json, Value};
use ureq::http::Method;

use crate::cases::{assert_problem, budget, openapi};
use crate::client::Client;
use crate::schema::assert_conforms;

const REDACT: &str = "/v1/redact";

/// The value at code points `start..end` of `text`.
fn chars(text: &str, start: u64, end: u64) -> String {
    text.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

fn redact(client: &Client, body: &Value) -> Value {
    let reply = client.post_json(REDACT, body);
    reply.assert_status(200);
    assert!(
        reply
            .header("server-timing")
            .is_some_and(|t| t.contains("redact;dur=")),
        "Server-Timing names the redaction: {:?}",
        reply.header("server-timing")
    );
    let answer = reply.json();
    assert_conforms(&openapi(client), "RedactResponse", &answer);
    answer
}

pub fn redact_replaces_personal_data_in_several_locales(client: &Client) {
    let cases = [
        (
            "Grüße! Schreib an jürgen.müller@web.de, ruf 030 901820 an oder überweise auf \
             DE89 3704 0044 0532 0130 00 (Rechnung RE-2024-1187 vom 03.11.2024).",
            &[
                ("email", "jürgen.müller@web.de"),
                ("phone", "030 901820"),
                ("iban", "DE89 3704 0044 0532 0130 00"),
            ][..],
            "Grüße! Schreib an [EMAIL], ruf [PHONE] an oder überweise auf [IBAN] (Rechnung \
             RE-2024-1187 vom 03.11.2024).",
        ),
        (
            "My card 4111-1111-1111-1111 was charged twice for order #A-482913; call me at \
             (415) 555-2671. Login came from 203.0.113.7.",
            &[
                ("card", "4111-1111-1111-1111"),
                ("phone", "(415) 555-2671"),
                ("ip", "203.0.113.7"),
            ][..],
            "My card [CARD] was charged twice for order #A-482913; call me at [PHONE]. Login \
             came from [IP].",
        ),
        (
            "Appelez le 06 12 34 56 78 ou +33 1 23 45 67 89 — dossier n° 2024-55812 🙂",
            &[("phone", "06 12 34 56 78"), ("phone", "+33 1 23 45 67 89")][..],
            "Appelez le [PHONE] ou [PHONE] — dossier n° 2024-55812 🙂",
        ),
    ];
    for (text, expected, redacted) in cases {
        let answer = redact(client, &json!({ "text": text }));
        assert_eq!(answer["text"], redacted, "in {text:?}");
        let found = answer["found"].as_array().expect("found");
        let got: Vec<(String, String)> = found
            .iter()
            .map(|f| {
                let (start, end) = (f["start"].as_u64().unwrap(), f["end"].as_u64().unwrap());
                (
                    f["type"].as_str().unwrap().to_owned(),
                    chars(text, start, end),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, expected, "types and code point offsets in {text:?}");
        let body = answer.to_string();
        for (_, value) in &expected {
            assert!(
                !body.contains(value.as_str()),
                "the answer never carries {value:?}"
            );
        }
    }
}

pub fn redact_only_the_asked_types_and_leave_plain_text(client: &Client) {
    let text = "Mail jane@example.com or call +44 20 7946 0958";
    let answer = redact(client, &json!({"text": text, "types": ["email"]}));
    assert_eq!(answer["text"], "Mail [EMAIL] or call +44 20 7946 0958");
    let plain = "Order 2024-7713, 1.234.567 EUR, ISBN 978-3-16-148410-0, version 4.2.1, at 10:30.";
    let answer = redact(client, &json!({ "text": plain }));
    assert_eq!(answer["text"], plain, "nothing personal: unchanged");
    assert_eq!(answer["found"], json!([]));
}

pub fn redact_refuses_bad_input(client: &Client) {
    let types = json!({"text": "x", "types": ["email", "jane@example.com"]});
    let problem = assert_problem(client, &client.post_json(REDACT, &types), 422);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("types[1]") && !detail.contains("jane"),
        "{problem}"
    );
    for body in [
        json!({}),
        json!({"text": 3}),
        json!({"text": "x", "extra": 1}),
    ] {
        assert_problem(client, &client.post_json(REDACT, &body), 422);
    }
    let limit = budget(client, "max_text_bytes");
    let long = "a".repeat(limit + 1);
    assert_problem(
        client,
        &client.post_json(REDACT, &json!({ "text": long })),
        413,
    );
    let form = client.send(
        Method::POST,
        REDACT,
        Some("text/plain"),
        b"{\"text\": \"x\"}",
    );
    assert_problem(client, &form, 415);
    assert_problem(
        client,
        &client.send(Method::POST, REDACT, Some("application/json"), b"{"),
        400,
    );
    let get = client.get(REDACT);
    assert_problem(client, &get, 405);
}

/// A text built to make the phone check work hardest (as many number-shaped candidates as
/// the text budget holds) is answered, with every candidate replaced or checked.
pub fn redact_answers_the_costliest_text_within_the_budget(client: &Client) {
    let limit = budget(client, "max_text_bytes");
    let unit = "0000000, ";
    let text = unit.repeat(limit / unit.len());
    let answer = redact(client, &json!({ "text": text }));
    let redacted = answer["text"].as_str().expect("text");
    let tokens: Vec<&str> = redacted.trim_end_matches(", ").split(", ").collect();
    assert_eq!(tokens.len(), limit / unit.len());
    assert!(
        tokens.iter().all(|t| *t == "0000000" || *t == "[PHONE]"),
        "every candidate is checked or, past the check budget, replaced"
    );
}
