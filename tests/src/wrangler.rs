//! `wrangler dev` as a test fixture: the prebuilt Cloudflare worker on workerd, on free
//! loopback ports, from the repository root.

use std::process::Command;

use crate::served::{free_port, repo_root, Served};

/// Starts `scripts/wrangler dev` with `extra` arguments (e.g. `--env r2`), reusing the
/// existing build (`scripts/build-worker`). Output goes to `target/wrangler-dev-<port>.log`.
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
    Served::spawn("wrangler-dev", command, port)
}
