//! Viceroy (Fastly's local Compute server) as a test fixture: the program built by
//! `scripts/build-fastly`, on a free loopback port, with a `fastly.toml` written for the
//! test: the settings in the Config Store `triage` (or the Secret Store `triage_secrets`),
//! the named backends the outbound requests go to, and the KV Stores.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use crate::served::{free_port, repo_root, Served};

/// The programs `scripts/build-fastly` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// Pre-initialised with `wasmtime wizer`: the models are in the snapshot.
    Preinitialized,
    /// The plain build: every request (a fresh instance) loads the model itself.
    Lazy,
}

impl Program {
    /// Where `scripts/build-fastly` writes it.
    pub fn path(self) -> PathBuf {
        repo_root().join(match self {
            Program::Preinitialized => "target/fastly/triage.wasm",
            Program::Lazy => "target/fastly/triage-lazy.wasm",
        })
    }
}

/// One entry of a KV Store: `key`, with the bytes of `file` (relative to the repository
/// root) or the text `data`.
#[derive(Debug, Clone)]
pub enum Entry {
    File { key: String, file: String },
    Data { key: String, data: String },
}

/// The service's configuration as `fastly.toml`'s `[local_server]` describes it.
#[derive(Debug, Clone, Default)]
pub struct Service {
    /// Config Store `triage`: setting name to value.
    pub settings: Vec<(String, String)>,
    /// Secret Store `triage_secrets`: setting name to value.
    pub secrets: Vec<(String, String)>,
    /// Backends: name to URL.
    pub backends: Vec<(String, String)>,
    /// KV Stores: name to entries (an empty list is an empty store).
    pub kv_stores: Vec<(String, Vec<Entry>)>,
}

impl Service {
    /// A service with these settings in its Config Store and no stores or backends else.
    pub fn with_settings(settings: &[(&str, &str)]) -> Service {
        Service {
            settings: settings
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            ..Service::default()
        }
    }

    /// Adds a backend for every `http://host:port` origin a setting's value names (the
    /// escalation URLs, the middleware origins), named like its authority (`host:port`),
    /// the name the program looks for when the `backends` setting does not map the origin.
    pub fn with_backends_from_settings(mut self) -> Service {
        let mut found = Vec::new();
        for (_, value) in &self.settings {
            let mut rest = value.as_str();
            while let Some(at) = rest.find("http://") {
                let tail = &rest[at + "http://".len()..];
                let end = tail
                    .find(|c: char| {
                        !(c.is_ascii_alphanumeric() || c == '.' || c == ':' || c == '-')
                    })
                    .unwrap_or(tail.len());
                let authority = &tail[..end];
                if !authority.is_empty() && !found.iter().any(|(name, _)| name == authority) {
                    found.push((authority.to_owned(), format!("http://{authority}")));
                }
                rest = &tail[end..];
            }
        }
        self.backends.extend(found);
        self
    }

    /// `fastly.toml` for Viceroy.
    pub fn toml(&self) -> String {
        let mut toml = String::from(
            "manifest_version = 3\nname = \"triage-test\"\nlanguage = \"other\"\n\n[local_server]\n",
        );
        for (name, url) in &self.backends {
            let _ = write!(
                toml,
                "[local_server.backends.{}]\nurl = {}\n",
                quote(name),
                quote(url)
            );
        }
        toml.push_str(
            "[local_server.config_stores.triage]\nformat = \"inline-toml\"\n\
             [local_server.config_stores.triage.contents]\n",
        );
        for (key, value) in &self.settings {
            let _ = writeln!(toml, "{} = {}", quote(key), quote(value));
        }
        if !self.secrets.is_empty() {
            toml.push_str("[local_server.secret_stores]\ntriage_secrets = [\n");
            for (key, value) in &self.secrets {
                let _ = writeln!(
                    toml,
                    "  {{ key = {}, data = {} }},",
                    quote(key),
                    quote(value)
                );
            }
            toml.push_str("]\n");
        }
        if !self.kv_stores.is_empty() {
            toml.push_str("[local_server.kv_stores]\n");
            for (store, entries) in &self.kv_stores {
                let _ = writeln!(toml, "{} = [", quote(store));
                for entry in entries {
                    let line = match entry {
                        Entry::File { key, file } => {
                            format!("key = {}, file = {}", quote(key), quote(file))
                        }
                        Entry::Data { key, data } => {
                            format!("key = {}, data = {}", quote(key), quote(data))
                        }
                    };
                    let _ = writeln!(toml, "  {{ {line} }},");
                }
                toml.push_str("]\n");
            }
        }
        toml
    }
}

/// A TOML basic string (JSON's escapes are TOML's).
fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Serves `program` with `viceroy` (from `PATH`) under `service`'s `fastly.toml`, written to
/// `target/viceroy-<port>.toml`.
pub fn serve(program: Program, service: &Service) -> Served {
    let port = free_port();
    let config = repo_root().join(format!("target/viceroy-{port}.toml"));
    std::fs::write(&config, service.toml()).expect("write the test's fastly.toml");
    let mut command = Command::new("viceroy");
    command
        .arg("serve")
        .arg(format!("--addr=127.0.0.1:{port}"))
        .arg("-C")
        .arg(&config)
        .arg(program.path());
    Served::spawn("viceroy", command, port)
}
