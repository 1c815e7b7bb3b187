//! `wrangler dev` as a test fixture: the prebuilt Cloudflare worker on workerd, on free
//! loopback ports, from the repository root.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::served::{free_port, repo_root, Served};

/// Starts `scripts/wrangler dev` with `extra` arguments (e.g. `--env r2`), reusing the
/// existing build (`scripts/build-worker`). Output goes to `target/wrangler-dev-<port>.log`.
///
/// Without a `--persist-to` in `extra`, the server keeps its local storage in its own
/// empty [`state_dir`]: workerd instances sharing wrangler's default `.wrangler/state`
/// lock each other's SQLite files (`SQLITE_BUSY`) when tests start them in parallel.
pub fn dev(extra: &[&str]) -> Served {
    let port = free_port();
    let inspector = free_port();
    let mut command = Command::new(repo_root().join("scripts/wrangler"));
    command
        .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &inspector.to_string()])
        .args([
            "--show-interactive-dev-session=false",
            "--log-level",
            "warn",
        ])
        .args(extra)
        .env("TRIAGE_WORKER_PREBUILT", "1")
        .env("CI", "1");
    if !extra.contains(&"--persist-to") {
        command
            .arg("--persist-to")
            .arg(state_dir(&format!("dev-{port}")));
    }
    Served::spawn("wrangler-dev", command, port)
}

/// Starts the worker serving its compiled-in spam-mini and, fetched on first use from a local
/// R2 bucket of its own (`--env r2`), the bundles `served` names (`TRIAGE_MODELS`, each
/// under `models/<name>/`), of which the shipped bundles `stored` are put in the bucket
/// (a name served but not stored is a bundle missing from it), with `extra` arguments
/// (`--var`s) after them.
pub fn dev_with_models(state: &str, stored: &[&str], served: &[&str], extra: &[&str]) -> Served {
    let state = state_dir(state);
    for model in stored {
        Store::R2.put_bundle(&state, model, &format!("models/{model}/"));
    }
    let persist = state.to_string_lossy().into_owned();
    let names = format!("TRIAGE_MODELS:{}", served.join(","));
    let mut args = vec![
        "--env",
        "r2",
        "--persist-to",
        &persist,
        "--var",
        "TRIAGE_MODEL_PREFIX:models/",
        "--var",
        &names,
    ];
    args.extend_from_slice(extra);
    dev(&args)
}

/// The R2 bucket wrangler.toml's `r2` environment binds as `MODELS`.
const BUCKET: &str = "triage-models";

/// A model store of wrangler.toml: the environment that reads the model from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `--env r2`: the R2 bucket [`BUCKET`].
    R2,
    /// `--env kv`: the KV namespace bound as `MODELS`.
    Kv,
}

impl Store {
    /// The wrangler.toml environment that reads from this store.
    pub fn env(self) -> &'static str {
        match self {
            Store::R2 => "r2",
            Store::Kv => "kv",
        }
    }

    /// Puts `bytes` under `prefix + key` in the local store kept under `state`
    /// (`wrangler r2 object put` / `wrangler kv key put`, `--local --persist-to state`).
    pub fn put(self, state: &Path, prefix: &str, key: &str, bytes: &[u8]) {
        let file = state.join("upload.tmp");
        std::fs::write(&file, bytes).expect("write the upload");
        let mut command = Command::new(repo_root().join("scripts/wrangler"));
        command.current_dir(repo_root());
        match self {
            Store::R2 => command
                .args(["r2", "object", "put", &format!("{BUCKET}/{prefix}{key}")])
                .arg("--file"),
            Store::Kv => command
                .args(["kv", "key", "put", &format!("{prefix}{key}")])
                .args(["--binding", "MODELS", "--path"]),
        };
        command
            .arg(&file)
            .args(["--env", self.env(), "--local", "--persist-to"])
            .arg(state);
        let status = command.status().expect("run wrangler");
        assert!(status.success(), "wrangler put {key} into {}", self.env());
    }

    /// Puts the bundle in `models/<bundle>` (manifest, tokenizer, model) under `prefix`.
    pub fn put_bundle(self, state: &Path, bundle: &str, prefix: &str) {
        let dir = repo_root().join("models").join(bundle);
        for file in ["manifest.json", "tokenizer.json", &model_file(&dir)] {
            let bytes = std::fs::read(dir.join(file)).expect("bundle file");
            self.put(state, prefix, file, &bytes);
        }
    }
}

/// The model file the manifest in the bundle folder `dir` names.
pub fn model_file(dir: &Path) -> String {
    let manifest = std::fs::read(dir.join("manifest.json")).expect("manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).expect("JSON");
    manifest["files"]["model"]["path"]
        .as_str()
        .expect("files.model.path")
        .to_owned()
}

/// An empty directory under `target/wrangler-state/` for a test's local storage.
pub fn state_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("target/wrangler-state").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("state dir");
    dir
}
