//! `wrangler dev` as a test fixture: started on free loopback ports from the repository
//! root, serving the prebuilt worker, and stopped with its whole process group (wrangler
//! runs workerd as a child) when dropped.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::client::Client;

/// A running `wrangler dev`.
#[derive(Debug)]
pub struct WranglerDev {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// The repository root (wrangler.toml lives there).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl WranglerDev {
    /// Starts `scripts/wrangler dev` with `extra` arguments (e.g. `--env r2`), reusing the
    /// existing build. Output goes to `target/wrangler-dev-<port>.log`.
    pub fn start(extra: &[&str]) -> WranglerDev {
        let root = repo_root();
        let port = free_port();
        let inspector = free_port();
        let log = root.join(format!("target/wrangler-dev-{port}.log"));
        let out = File::create(&log).expect("create the wrangler log");
        let err = out.try_clone().expect("clone the log handle");
        let child = Command::new(root.join("scripts/wrangler"))
            .current_dir(&root)
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector.to_string()])
            .args([
                "--show-interactive-dev-session=false",
                "--log-level",
                "warn",
            ])
            .args(extra)
            .env("TRIAGE_WORKER_PREBUILT", "1")
            .env("CI", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group, so that stopping it stops workerd too.
            .process_group(0)
            .spawn()
            .expect("start scripts/wrangler dev");
        WranglerDev { child, port, log }
    }

    /// The base URL it serves.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client, once the worker answers; panics with wrangler's log if it does not
    /// within `timeout`.
    pub fn client(&self, timeout: Duration) -> Client {
        let client = Client::new(&self.base_url());
        if let Err(error) = client.wait_until_up(timeout) {
            panic!(
                "wrangler dev did not come up on {}: {error}\n--- {} ---\n{}",
                self.base_url(),
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        client
    }
}

impl Drop for WranglerDev {
    fn drop(&mut self) {
        // The group id is the child's PID (process_group(0) above).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}
