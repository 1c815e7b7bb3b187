//! The Cloudflare worker reading its model from an R2 bucket (`wrangler dev --env r2`,
//! wrangler.toml) instead of the embedded copy, against a local bucket seeded with
//! `wrangler r2 object put --local`. Runs with `--features cloudflare`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use triage_contract::samples::SPAM;
use triage_contract::wrangler::{repo_root, WranglerDev};

const BUCKET: &str = "triage-models";
const PREFIX: &str = "spam-mini/";

/// Puts `bytes` at `key` in the local bucket kept under `state`.
fn put_object(state: &Path, key: &str, bytes: &[u8]) {
    let file = state.join("upload.tmp");
    std::fs::write(&file, bytes).expect("write the upload");
    let status = Command::new(repo_root().join("scripts/wrangler"))
        .current_dir(repo_root())
        .args(["r2", "object", "put", &format!("{BUCKET}/{PREFIX}{key}")])
        .args(["--env", "r2", "--local", "--persist-to"])
        .arg(state)
        .arg("--file")
        .arg(&file)
        .status()
        .expect("run wrangler r2 object put");
    assert!(status.success(), "wrangler r2 object put {key}");
}

/// Seeds a bucket with the default bundle, its manifest renamed (so answers prove where
/// the model came from) and its model bytes passed through `model`.
fn seed(state: &Path, model: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let dir = repo_root().join("models/spam-mini");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("manifest is JSON");
    manifest["name"] = json!("spam-mini-from-r2");
    put_object(state, "manifest.json", manifest.to_string().as_bytes());
    put_object(
        state,
        "tokenizer.json",
        &std::fs::read(dir.join("tokenizer.json")).expect("tokenizer"),
    );
    put_object(
        state,
        "model.onnx",
        &model(std::fs::read(dir.join("model.onnx")).expect("model")),
    );
}

fn state_dir(name: &str) -> std::path::PathBuf {
    let dir = repo_root().join("target/wrangler-state").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("state dir");
    dir
}

#[test]
fn model_is_loaded_from_r2_when_configured() {
    let state = state_dir("r2-good");
    seed(&state, |model| model);
    let persist = state.to_string_lossy().into_owned();
    let wrangler = WranglerDev::start(&["--env", "r2", "--persist-to", &persist]);
    let client = wrangler.client(Duration::from_secs(120));
    let health = client.get("/healthz");
    health.assert_status(200);
    assert_eq!(health.json()["model"]["name"], "spam-mini-from-r2");
    let reply = client.post_json("/v1/classify", &json!({ "text": SPAM[0] }));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["label"], "spam");
}

#[test]
fn corrupt_model_in_r2_is_503_naming_the_file_and_checksum() {
    let state = state_dir("r2-corrupt");
    seed(&state, |mut model| {
        let middle = model.len() / 2;
        model[middle] ^= 0xff;
        model
    });
    let persist = state.to_string_lossy().into_owned();
    let wrangler = WranglerDev::start(&["--env", "r2", "--persist-to", &persist]);
    let client = wrangler.client(Duration::from_secs(120));
    for path in ["/healthz", "/v1/models"] {
        let reply = client.get(path);
        assert_eq!(reply.status, 503, "{path}");
        assert!(reply.content_type().starts_with("application/problem+json"));
        let detail = reply.json()["detail"].as_str().unwrap_or("").to_owned();
        assert!(
            detail.contains("model.onnx") && detail.contains("sha256"),
            "{detail}"
        );
    }
    // The worker keeps answering what needs no model.
    assert_eq!(client.get("/openapi.json").status, 200);
}

#[test]
fn unknown_model_source_is_503_naming_the_variable() {
    let wrangler = WranglerDev::start(&["--var", "TRIAGE_MODEL_SOURCE:s3:MODELS"]);
    let client = wrangler.client(Duration::from_secs(120));
    let reply = client.get("/v1/models");
    assert_eq!(reply.status, 503);
    assert!(reply.content_type().starts_with("application/problem+json"));
    let detail = reply.json()["detail"].as_str().unwrap_or("").to_owned();
    assert!(
        detail.contains("TRIAGE_MODEL_SOURCE") && detail.contains("s3:MODELS"),
        "{detail}"
    );
}
