//! Deployment settings for the component: environment variables named like the Cloudflare
//! worker's (`TRIAGE_` + the upper-case setting name), which every wasi:http host passes the
//! same way: `wasmtime serve --env`, `spin up --env`, or `environment` in spin.toml. Under
//! Spin, `scripts/build-spin --spin-variables` composes the component with
//! `triage-spin-settings`, which serves these variables from Spin variables of the setting's
//! own name (`threshold`, `max_tokens`, ...), declared with their defaults in spin.toml.

use triage_core::Settings;

/// Reads every setting of [`Settings::KEYS`]; a malformed value is an error naming it.
pub fn read() -> triage_core::Result<Settings> {
    Settings::from_lookup(lookup)
}

/// Setting `key` (snake case), as [`read`] finds it: for the default model, escalation and
/// middleware settings ([`triage_core::http::ServiceBuilder::build`]).
pub fn lookup(key: &'static str) -> Option<String> {
    std::env::var(Settings::var_name(key)).ok()
}
