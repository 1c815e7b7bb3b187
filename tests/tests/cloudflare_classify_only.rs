//! The classify-only Cloudflare worker (`scripts/build-worker --classify-only`, served by
//! `wrangler dev --env classify-only`): spam-mini compiled in, without the `parse`
//! feature. It classifies as the default worker does; parse and ad-hoc labels answer 501
//! naming the feature, its OpenAPI document lists no `/v1/parse`, and parse settings are
//! refused; so do `/v1/redact` and the redaction settings (no `redact` feature). Its module must carry neither the embedding model nor the parse code: it is
//! smaller than the default worker's by more than the embedding model's files. Runs with
//! `--features cloudflare`, after both builds.

use std::time::Duration;

use serde_json::json;
use triage_contract::assert_problem;
use triage_contract::samples::{HAM, SPAM};
use triage_contract::served::repo_root;
use triage_contract::wrangler;

const ENV: [&str; 2] = ["--env", "classify-only"];

#[test]
fn it_classifies_and_answers_parse_and_labels_501() {
    let server = wrangler::dev(&ENV);
    let client = server.client(Duration::from_secs(120));
    client.get("/healthz").assert_status(200);
    let spam = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    spam.assert_status(200);
    assert_eq!(spam.json()["label"], "spam");
    let batch = client.post_json("/v1/classify", &json!({ "texts": [SPAM[0], HAM[0]] }));
    batch.assert_status(200);
    assert_eq!(batch.json()["results"][1]["label"], "ham");

    let parse = client.post_json(
        "/v1/parse",
        &json!({ "text": "The checkout is down", "schema": "support-ticket" }),
    );
    let labels = client.post_json(
        "/v1/classify",
        &json!({ "text": "my card was charged twice", "labels": ["billing", "outage"] }),
    );
    for reply in [parse, labels] {
        let problem = assert_problem(&client, &reply, 501);
        assert_eq!(problem["type"], "urn:triage:problem:not-built");
        let detail = problem["detail"].as_str().unwrap_or("");
        assert!(detail.contains("`parse` feature"), "{detail}");
    }
    let redact = client.post_json("/v1/redact", &json!({ "text": "mail a@example.com" }));
    let problem = assert_problem(&client, &redact, 501);
    assert_eq!(problem["type"], "urn:triage:problem:not-built");
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(detail.contains("`redact` feature"), "{detail}");
    let openapi = client.get("/openapi.json").json();
    assert!(openapi["paths"]["/v1/classify"].is_object());
    assert!(openapi["paths"].get("/v1/parse").is_none());
    assert!(openapi["paths"].get("/v1/redact").is_none());
    let models = client.get("/v1/models");
    models.assert_status(200);
    let models = models.json();
    assert!(models.get("parse").is_none(), "{models}");
    assert_eq!(models["models"].as_array().map(Vec::len), Some(1));
}

#[test]
fn redaction_settings_are_503_naming_the_feature() {
    let server = wrangler::dev(&[ENV[0], ENV[1], "--var", "TRIAGE_ESCALATION_REDACT:all"]);
    let client = server.client(Duration::from_secs(120));
    let reply = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    let problem = assert_problem(&client, &reply, 503);
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("escalation_redact") && detail.contains("`redact`"),
        "{detail}"
    );
}

#[test]
fn parse_settings_are_503_naming_the_feature() {
    let server = wrangler::dev(&[ENV[0], ENV[1], "--var", "TRIAGE_SCHEMAS:{}"]);
    let client = server.client(Duration::from_secs(120));
    let reply = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    let problem = assert_problem(&client, &reply, 503);
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("schemas") && detail.contains("`parse`"),
        "{detail}"
    );
}

/// The size budget of leaving parse out: the classify-only module is smaller than the
/// default one by at least the embedding model's model and tokenizer files, which the
/// default worker compiles in byte for byte, plus 256 KiB of code (jsonschema and the
/// decoders are about 0.8 MB before wasm-opt; bench/RESULTS.md has the measured sizes).
#[test]
fn the_module_leaves_out_the_embedding_model_and_the_parse_code() {
    let size = |path: &str| {
        std::fs::metadata(repo_root().join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}; build it with scripts/build-worker"))
            .len()
    };
    let default = size("workers/cloudflare/build/index_bg.wasm");
    let classify_only = size("workers/cloudflare/build-classify-only/index_bg.wasm");
    let embedder =
        size("models/potion-base-2m/model.nnef.tar") + size("models/potion-base-2m/tokenizer.json");
    let code = 256 * 1024;
    assert!(
        classify_only + embedder + code <= default,
        "classify-only {classify_only} B + embedding model {embedder} B + {code} B of code \
         > default worker {default} B"
    );
}
