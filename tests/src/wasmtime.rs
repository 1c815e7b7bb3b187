//! `wasmtime serve` as a test fixture: the Spin component (built by `scripts/build-spin`)
//! on a free loopback port, under the platforms' 128 MiB memory cap.

use std::path::PathBuf;
use std::process::Command;

use crate::served::{free_port, repo_root, Served};

/// Linear memory an instance may grow to: the 128 MiB Spin, Fastly and Cloudflare allow.
pub const MEMORY_CAP_BYTES: u64 = 128 * 1024 * 1024;

/// The components `scripts/build-spin` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Pre-initialised with `wasmtime wizer`: the model is in the snapshot.
    Preinitialized,
    /// The plain build: every new instance loads the model on its first request.
    Lazy,
}

impl Component {
    /// Where `scripts/build-spin` writes it.
    pub fn path(self) -> PathBuf {
        repo_root().join(match self {
            Component::Preinitialized => "target/spin/triage.wasm",
            Component::Lazy => "target/spin/triage-lazy.wasm",
        })
    }
}

/// Serves `component` with `wasmtime serve` (from `PATH`), capping each instance's linear
/// memory at `memory_cap` bytes, with `env` as the component's environment and `extra`
/// flags before the component (e.g. `--max-instance-reuse-count=1`).
pub fn serve(
    component: Component,
    memory_cap: u64,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Served {
    let port = free_port();
    let mut command = Command::new("wasmtime");
    command
        // -Skeyvalue: the semantic cache's store (WASI key-value, in memory per instance).
        .args(["serve", "-Scli", "-Skeyvalue", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(format!("-Wmax-memory-size={memory_cap}"));
    for (key, value) in env {
        command.arg(format!("--env={key}={value}"));
    }
    command.args(extra).arg(component.path());
    Served::spawn("wasmtime-serve", command, port)
}
