//! A server process started by a test: bound to a free loopback port, in its own process
//! group (runtimes such as wrangler start children), its output in a log file under
//! `target/`, and stopped with its whole group when dropped.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::client::Client;

/// A running server process.
#[derive(Debug)]
pub struct Served {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// The repository root (wrangler.toml and spin.toml live there).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Served {
    /// Spawns `command`, which must serve HTTP on 127.0.0.1:`port`, from the repository
    /// root. Output goes to `target/<name>-<port>.log`.
    pub fn spawn(name: &str, mut command: Command, port: u16) -> Served {
        let root = repo_root();
        let log = root.join(format!("target/{name}-{port}.log"));
        let out = File::create(&log).expect("create the server log");
        let err = out.try_clone().expect("clone the log handle");
        let child = command
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group, so that stopping it stops its children too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({command:?}): {e}"));
        Served { child, port, log }
    }

    /// The base URL it serves.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `timeout` for the process to exit by itself; true if it did.
    pub fn exits_within(&mut self, timeout: Duration) -> bool {
        let started = std::time::Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// A client, once the server answers; panics with the server's log if it does not
    /// within `timeout`.
    pub fn client(&self, timeout: Duration) -> Client {
        let client = Client::new(&self.base_url());
        if let Err(error) = client.wait_until_up(timeout) {
            panic!(
                "no server on {}: {error}\n--- {} ---\n{}",
                self.base_url(),
                self.log.display(),
                self.log()
            );
        }
        client
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // The group id is the child's PID (process_group(0) above).
        let group = format!("-{}", self.child.id());
        let kill = |signal: &str| {
            // Quietly: the process may have exited already.
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        kill("-KILL");
        let _ = self.child.wait();
    }
}
