//! The Cloudflare worker reading its model from an R2 bucket or a KV namespace
//! (`wrangler dev --env r2` / `--env kv`, wrangler.toml) instead of the embedded copy,
//! against local storage seeded with `wrangler r2 object put` / `wrangler kv key put`
//! (`--local`), and the faults of a deployment: a corrupt model, an unknown model source,
//! budgets that do not fit the memory budget. Runs with `--features cloudflare`.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use triage_contract::assert_problem;
use triage_contract::samples::SPAM;
use triage_contract::served::repo_root;
use triage_contract::wrangler::{self, state_dir, Store};

const PREFIX: &str = "spam-mini/";

/// Seeds `store` with the default bundle, its manifest renamed (so answers prove where
/// the model came from) and its model bytes passed through `model`.
fn seed(store: Store, state: &Path, model: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let name = format!("spam-mini-from-{}", store.env());
    put_renamed(store, state, "spam-mini", PREFIX, &name, model);
}

/// Puts the shipped bundle `models/<bundle>` under `prefix` in `store`, its manifest
/// renamed `name` and its model bytes passed through `model`.
fn put_renamed(
    store: Store,
    state: &Path,
    bundle: &str,
    prefix: &str,
    name: &str,
    model: impl FnOnce(Vec<u8>) -> Vec<u8>,
) {
    let dir = repo_root().join("models").join(bundle);
    let read = |file: &str| std::fs::read(dir.join(file)).expect("bundle file");
    let mut manifest: Value = serde_json::from_slice(&read("manifest.json")).expect("JSON");
    manifest["name"] = json!(name);
    store.put(
        state,
        prefix,
        "manifest.json",
        manifest.to_string().as_bytes(),
    );
    store.put(state, prefix, "tokenizer.json", &read("tokenizer.json"));
    let file = wrangler::model_file(&dir);
    store.put(state, prefix, &file, &model(read(&file)));
}

/// Starts the worker on `store`'s environment, seeded with the default bundle, and checks
/// that it answers from that copy.
fn serves_the_model_from(store: Store) {
    let state = state_dir(store.env());
    seed(store, &state, |model| model);
    let persist = state.to_string_lossy().into_owned();
    let server = wrangler::dev(&["--env", store.env(), "--persist-to", &persist]);
    let client = server.client(Duration::from_secs(120));
    let health = client.get("/healthz");
    health.assert_status(200);
    let expected = format!("spam-mini-from-{}", store.env());
    assert_eq!(health.json()["model"]["name"], expected.as_str());
    let reply = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    reply.assert_status(200);
    assert_eq!(reply.json()["label"], "spam");
}

#[test]
fn model_is_loaded_from_r2_when_configured() {
    serves_the_model_from(Store::R2);
}

#[test]
fn model_is_loaded_from_kv_when_configured() {
    serves_the_model_from(Store::Kv);
}

#[test]
fn corrupt_model_in_r2_is_503_naming_the_file_and_checksum() {
    let state = state_dir("r2-corrupt");
    seed(Store::R2, &state, |mut model| {
        let middle = model.len() / 2;
        model[middle] ^= 0xff;
        model
    });
    let persist = state.to_string_lossy().into_owned();
    let server = wrangler::dev(&["--env", "r2", "--persist-to", &persist]);
    let client = server.client(Duration::from_secs(120));
    for path in ["/healthz", "/v1/models"] {
        let reply = client.get(path);
        let problem = assert_problem(&client, &reply, 503);
        let detail = problem["detail"].as_str().unwrap_or("");
        let file = wrangler::model_file(&repo_root().join("models/spam-mini"));
        assert!(
            detail.contains(&file) && detail.contains("sha256"),
            "{detail}"
        );
    }
    // The worker keeps answering what needs no model.
    assert_eq!(client.get("/openapi.json").status, 200);
}

#[test]
fn unknown_model_source_is_503_naming_the_variable() {
    let server = wrangler::dev(&["--var", "TRIAGE_MODEL_SOURCE:s3:MODELS"]);
    let client = server.client(Duration::from_secs(120));
    let reply = client.get("/v1/models");
    let problem = assert_problem(&client, &reply, 503);
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("TRIAGE_MODEL_SOURCE") && detail.contains("s3:MODELS"),
        "{detail}"
    );
    // /openapi.json is still served (assert_problem read it); any other path answers the
    // deployment's failure, not 404: a site behind the worker must see why it is down.
    let reply = client.get("/v2/nothing");
    let problem = assert_problem(&client, &reply, 503);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("TRIAGE_MODEL_SOURCE"),
        "{problem}"
    );
}

/// The worker compiles in spam-mini only: naming another compiled-in model says where
/// other bundles come from instead of silently serving spam-mini.
#[test]
fn a_default_model_the_worker_lacks_is_503_naming_the_setting() {
    let server = wrangler::dev(&["--var", "TRIAGE_DEFAULT_MODEL:prompt-guard"]);
    let client = server.client(Duration::from_secs(120));
    let reply = client.post_json("/v1/classify", &json!({ "text": "hello" }));
    let problem = assert_problem(&client, &reply, 503);
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("default_model")
            && detail.contains("TRIAGE_MODELS")
            && detail.contains("TRIAGE_MODEL_SOURCE"),
        "{detail}"
    );
}

/// `TRIAGE_MODELS` bundles are fetched from R2 by the first request naming each, beside the
/// compiled-in spam-mini, under the memory budget of the set: prompt-guard (about 19.6 MB
/// alone under the default budgets, 24.4 MB beside spam-mini) does not fit 22 MB beside
/// it, a bundle missing from the bucket is named, and spam-mini answers throughout.
#[test]
fn models_fetched_on_first_use_must_fit_beside_the_loaded_ones() {
    let server = wrangler::dev_with_models(
        "r2-set-budget",
        &["prompt-guard"],
        &["prompt-guard", "intent-router"],
        &["--var", "TRIAGE_MEMORY_BYTES:22000000"],
    );
    let client = server.client(Duration::from_secs(120));
    let ask =
        |model: &str| client.post_json("/v1/classify", &json!({ "text": SPAM[0], "model": model }));
    let spam = ask("spam-mini");
    spam.assert_status(200);
    assert_eq!(spam.json()["label"], "spam");
    let over = ask("prompt-guard");
    let problem = assert_problem(&client, &over, 503);
    assert_eq!(problem["type"], "urn:triage:problem:memory-budget-exceeded");
    let missing = ask("intent-router");
    let problem = assert_problem(&client, &missing, 503);
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("models/intent-router/manifest.json"),
        "{detail}"
    );
    let models = client.get("/v1/models");
    models.assert_status(200);
    let models = models.json();
    let unavailable: Vec<&str> = models["unavailable"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["name"].as_str())
        .collect();
    assert_eq!(unavailable, ["prompt-guard", "intent-router"], "{models}");
    ask("spam-mini").assert_status(200);
}

#[test]
fn budgets_over_the_memory_budget_are_503_not_413() {
    let server = wrangler::dev(&["--var", "TRIAGE_MEMORY_BYTES:1000000"]);
    let client = server.client(Duration::from_secs(120));
    let reply = client.post_json("/v1/classify", &json!({ "text": "hello" }));
    let problem = assert_problem(&client, &reply, 503);
    assert_eq!(problem["type"], "urn:triage:problem:memory-budget-exceeded");
    assert_eq!(problem["limit"], 1_000_000);
}

/// The worker is built without tract's ONNX front-end: an ONNX bundle in the bucket is a
/// 503 that says so and names the command that converts it, not a crash or a 500.
#[test]
fn an_onnx_bundle_is_503_naming_the_conversion() {
    let store = Store::R2;
    let state = state_dir("r2-onnx");
    let dir = repo_root().join("models/spam-mini");
    let read = |name: &str| std::fs::read(dir.join(name)).expect("bundle file");
    let onnx = read("model.onnx");
    let mut manifest: Value = serde_json::from_slice(&read("manifest.json")).expect("JSON");
    manifest["format"] = json!("onnx");
    manifest["files"]["model"] = json!({
        "path": "model.onnx",
        "sha256": triage_core::bundle::sha256_hex(&onnx),
    });
    store.put(
        &state,
        PREFIX,
        "manifest.json",
        manifest.to_string().as_bytes(),
    );
    store.put(&state, PREFIX, "tokenizer.json", &read("tokenizer.json"));
    store.put(&state, PREFIX, "model.onnx", &onnx);
    let persist = state.to_string_lossy().into_owned();
    let server = wrangler::dev(&["--env", store.env(), "--persist-to", &persist]);
    let client = server.client(Duration::from_secs(120));
    let reply = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    let problem = assert_problem(&client, &reply, 503);
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("NNEF") && detail.contains("triage convert"),
        "{detail}"
    );
}

/// `TRIAGE_EMBEDDING_MODEL` names the embedding model to fetch from the model source
/// instead of the compiled-in one (a worker built without embedded models fetches
/// `potion-base-2m` so): the first parse fetches it, the deployment's named schemas apply
/// to it, and a bundle missing from the bucket is a 503 on parse naming the key, while
/// classification goes on.
#[test]
fn the_embedding_model_is_fetched_from_r2_when_named() {
    let store = Store::R2;
    let state = state_dir("r2-embedder");
    seed(store, &state, |model| model);
    let embedder = "potion-from-r2";
    let folder = format!("{PREFIX}{embedder}/");
    put_renamed(store, &state, "potion-base-2m", &folder, embedder, |m| m);
    let persist = state.to_string_lossy().into_owned();
    let schemas = r#"TRIAGE_SCHEMAS:{"city": {"type": "object", "properties": {"city":
        {"type": "string", "enum": ["Paris", "Berlin"]}}, "required": ["city"]}}"#;
    let named = format!("TRIAGE_EMBEDDING_MODEL:{embedder}");
    // One workerd at a time on this state (they would lock each other's SQLite files).
    {
        let server = wrangler::dev(&[
            "--env",
            store.env(),
            "--persist-to",
            &persist,
            "--var",
            &named,
            "--var",
            schemas,
        ]);
        let client = server.client(Duration::from_secs(120));
        client
            .post_json("/v1/classify", &json!({ "text": SPAM[0] }))
            .assert_status(200);
        let parse = client.post_json(
            "/v1/parse",
            &json!({ "text": "I moved to Berlin last year", "schema": "city" }),
        );
        parse.assert_status(200);
        let parsed = parse.json();
        assert_eq!(parsed["model"]["name"], embedder, "{parsed}");
        assert_eq!(parsed["schema"], "city");
        let labels = client.post_json(
            "/v1/classify",
            &json!({ "text": "my card was charged twice", "labels": ["billing", "outage"] }),
        );
        labels.assert_status(200);
        assert_eq!(labels.json()["model"]["name"], embedder);
        let models = client.get("/v1/models");
        models.assert_status(200);
        assert_eq!(models.json()["parse"]["model"]["name"], embedder);
    }
    let missing = wrangler::dev(&[
        "--env",
        store.env(),
        "--persist-to",
        &persist,
        "--var",
        "TRIAGE_EMBEDDING_MODEL:nowhere",
    ]);
    let client = missing.client(Duration::from_secs(120));
    let reply = client.post_json(
        "/v1/parse",
        &json!({ "text": "The checkout is down", "schema": "support-ticket" }),
    );
    let problem = assert_problem(&client, &reply, 503);
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("spam-mini/nowhere/manifest.json"),
        "{detail}"
    );
    client
        .post_json("/v1/classify", &json!({ "text": SPAM[0] }))
        .assert_status(200);
}
