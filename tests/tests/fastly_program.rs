//! What the Fastly Compute program does beyond the shared contract, under Viceroy: instances
//! that start from the pre-initialised snapshot (and the plain build loading the model
//! itself), settings from the Config Store and the Secret Store, bundles fetched from the
//! KV Store `triage_models`, outbound requests only to named backends, and requests as deep
//! as the budgets allow within Fastly's 1 MiB stack.
//! Runs with `--features fastly` after `scripts/build-fastly`.

use std::time::Duration;

use serde_json::{json, Value};
use triage_contract::samples::SPAM;
use triage_contract::served::{repo_root, Served};
use triage_contract::viceroy::{serve, Entry, Program, Service};
use triage_contract::{assert_problem, Client};
use ureq::http::Method;

fn up(server: &Served) -> Client {
    server.client(Duration::from_secs(300))
}

/// The `instance` entry of `Server-Timing` on a classify request.
fn instance_timing(client: &Client) -> String {
    let reply = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    reply.assert_status(200);
    reply
        .timing_entry("instance")
        .expect("every request starts an instance")
}

#[test]
fn every_request_starts_an_instance_from_the_snapshot() {
    let server = serve(Program::Preinitialized, &Service::default());
    let client = up(&server);
    for _ in 0..3 {
        let timing = instance_timing(&client);
        assert!(timing.contains("model from snapshot"), "{timing}");
    }
}

#[test]
fn the_plain_build_loads_the_model_in_every_instance() {
    let server = serve(Program::Lazy, &Service::default());
    let client = up(&server);
    for _ in 0..2 {
        let timing = instance_timing(&client);
        assert!(timing.contains("model loaded"), "{timing}");
    }
}

/// Budgets come from the Config Store, and the Secret Store's value wins over it.
#[test]
fn settings_come_from_the_config_store_and_the_secret_store() {
    let mut service = Service::with_settings(&[("max_batch", "5"), ("max_tokens", "48")]);
    service.secrets = vec![("max_batch".to_owned(), "3".to_owned())];
    let server = serve(Program::Preinitialized, &service);
    let client = up(&server);
    let models = client.get("/v1/models");
    models.assert_status(200);
    let budgets = &models.json()["budgets"];
    assert_eq!(budgets["max_tokens"], 48, "{budgets}");
    assert_eq!(budgets["max_batch"], 3, "{budgets}");
    let batch = client.post_json("/v1/classify", &json!({ "texts": ["a", "b", "c", "d"] }));
    assert_problem(&client, &batch, 413);
}

#[test]
fn malformed_settings_are_503_naming_them() {
    for (key, value) in [("threshold", "2"), ("backends", "[\"not an object\"]")] {
        let server = serve(
            Program::Preinitialized,
            &Service::with_settings(&[(key, value)]),
        );
        let client = up(&server);
        let reply = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
        let problem = assert_problem(&client, &reply, 503);
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(key), "{problem}");
        // Any other path (a middleware route, were one configured) says so too, not 404.
        let other = client.get("/contact");
        let problem = assert_problem(&client, &other, 503);
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(key), "{problem}");
    }
}

/// An escalation URL with no backend behind it: the edge answers locally and says which
/// backend it looked for; nothing is sent anywhere else.
#[test]
fn a_destination_without_a_backend_is_unreachable_naming_the_backend() {
    let service = Service::with_settings(&[
        ("escalation_url", "http://127.0.0.1:9/escalate"),
        ("escalation_threshold", "1"),
    ]);
    let server = serve(Program::Preinitialized, &service);
    let client = up(&server);
    let reply = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    reply.assert_status(200);
    let answer = reply.json();
    assert_eq!(answer["source"], "local", "{answer}");
    assert_eq!(answer["escalation"]["status"], "failed", "{answer}");
    assert_eq!(answer["escalation"]["reason"], "unreachable", "{answer}");
    let detail = answer["escalation"]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("\"127.0.0.1:9\""), "{answer}");
}

/// The shipped spam-mini bundle, renamed `name`, as KV Store entries under `name/`.
fn spam_mini_entries(name: &str) -> Vec<Entry> {
    let dir = repo_root().join("models/spam-mini");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    let file = |key: &str| {
        manifest["files"][key]["path"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let mut renamed = manifest.clone();
    renamed["name"] = json!(name);
    vec![
        Entry::Data {
            key: format!("{name}/manifest.json"),
            data: renamed.to_string(),
        },
        Entry::File {
            key: format!("{name}/{}", file("model")),
            file: format!("models/spam-mini/{}", file("model")),
        },
        Entry::File {
            key: format!("{name}/{}", file("tokenizer")),
            file: format!("models/spam-mini/{}", file("tokenizer")),
        },
    ]
}

/// `models` names bundles fetched from the KV Store by the request that needs each; one
/// missing from the store is the model's 503 naming the entry, and the compiled-in models
/// answer throughout.
#[test]
fn models_are_fetched_from_the_kv_store() {
    let mut service = Service::with_settings(&[("models", "spam-from-kv, absent")]);
    service.kv_stores = vec![(
        "triage_models".to_owned(),
        spam_mini_entries("spam-from-kv"),
    )];
    let server = serve(Program::Preinitialized, &service);
    let client = up(&server);
    let ask =
        |model: &str| client.post_json("/v1/classify", &json!({ "text": SPAM[0], "model": model }));
    let fetched = ask("spam-from-kv");
    fetched.assert_status(200);
    assert_eq!(fetched.json()["model"]["name"], "spam-from-kv");
    assert_eq!(fetched.json()["label"], "spam");
    // What the fetch cost is reported; a compiled-in model's answer has no such entry.
    let timing = |reply: &triage_contract::Reply| {
        reply.header("server-timing").unwrap_or_default().to_owned()
    };
    assert!(
        timing(&fetched).contains("fetch;dur="),
        "{}",
        timing(&fetched)
    );
    let compiled_in = ask("spam-mini");
    assert!(
        !timing(&compiled_in).contains("fetch;"),
        "{}",
        timing(&compiled_in)
    );
    let missing = ask("absent");
    let problem = assert_problem(&client, &missing, 503);
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("absent/manifest.json"), "{problem}");
    ask("spam-mini").assert_status(200);
    ask("prompt-guard").assert_status(200);
}

/// A fetched bundle named like the default model replaces it and stays the default; a
/// name the KV Store cannot hold is that model's 503 only, and `/v1/models` still answers.
#[test]
fn a_fetched_default_stays_the_default_and_bad_names_stay_local() {
    let mut service = Service::with_settings(&[("models", "spam-mini, bad#name")]);
    service.kv_stores = vec![("triage_models".to_owned(), spam_mini_entries("spam-mini"))];
    let server = serve(Program::Preinitialized, &service);
    let client = up(&server);
    let models = client.get("/v1/models");
    models.assert_status(200);
    assert_eq!(models.json()["default"], "spam-mini", "{}", models.json());
    let answer = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    answer.assert_status(200);
    assert_eq!(answer.json()["model"]["name"], "spam-mini");
    assert_eq!(answer.json()["label"], "spam");
    let timing = answer
        .header("server-timing")
        .unwrap_or_default()
        .to_owned();
    assert!(
        timing.contains("fetch;"),
        "the fetched copy answered: {timing}"
    );
    let bad = client.post_json(
        "/v1/classify",
        &json!({ "text": SPAM[0], "model": "bad#name" }),
    );
    let problem = assert_problem(&client, &bad, 503);
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("bad#name"), "{problem}");
}

/// A request target the `fastly` crate's URL parser refuses is answered, not a trap.
#[test]
fn an_asterisk_request_target_is_answered() {
    let server = serve(Program::Preinitialized, &Service::default());
    let _client = up(&server);
    let port = server
        .base_url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    use std::io::{Read, Write};
    stream
        .write_all(b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    let status: u16 = reply
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    assert!((400..500).contains(&status), "{reply}");
    assert!(reply.contains("application/problem+json"), "{reply}");
}

/// The deepest JSON the core reads (serde_json stops at 128 levels) in the request and in
/// an inline schema, and the largest text at the token budget: each answered, none a trap
/// of the 1 MiB stack (Viceroy answers a trapped instance 500).
#[test]
fn the_deepest_requests_fit_the_1_mib_stack() {
    let server = serve(Program::Preinitialized, &Service::default());
    let client = up(&server);
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let bodies = [
        format!("{{\"texts\": {}}}", deep(126)),
        format!(
            r#"{{"text": "hi", "schema": {{"type": "object", "properties": {{"x": {{"type": "boolean", "description": "d", "examples": {}}}}}}}}}"#,
            deep(120)
        ),
        json!({ "text": "spam offer win ".repeat(4000) }).to_string(),
    ];
    for (body, path) in bodies
        .iter()
        .zip(["/v1/classify", "/v1/parse", "/v1/classify"])
    {
        let reply = client.send(
            Method::POST,
            path,
            Some("application/json"),
            body.as_bytes(),
        );
        assert!(
            reply.status < 500,
            "{path} answered {}: {}\n{}",
            reply.status,
            String::from_utf8_lossy(&reply.body),
            server.log()
        );
    }
}
