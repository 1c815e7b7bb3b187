//! Deployment settings for the component.
//!
//! By default they come from environment variables named like the Cloudflare worker's
//! (`TRIAGE_` + the upper-case setting name), which every wasi:http host passes the same
//! way: `wasmtime serve --env`, `spin up --env`, or `environment` in spin.toml.
//! With the `spin-variables` feature they come from Spin variables of the setting's own
//! name (`threshold`, `max_tokens`, ...), declared with their defaults in spin.toml. That
//! build imports `fermyon:spin/variables@2.0.0`, which every Spin since 2.0 provides and
//! `wasmtime serve` does not.

use triage_core::Settings;

/// Reads every setting of [`Settings::KEYS`]; a malformed value is an error naming it.
pub fn read() -> triage_core::Result<Settings> {
    Settings::from_lookup(lookup)
}

/// Setting `key` (snake case), as [`read`] finds it: for the escalation and middleware
/// settings ([`triage_core::http::Service::configure`]).
#[cfg(not(feature = "spin-variables"))]
pub fn lookup(key: &'static str) -> Option<String> {
    std::env::var(Settings::var_name(key)).ok()
}

/// Setting `key` (snake case), as [`read`] finds it: for the escalation and middleware
/// settings ([`triage_core::http::Service::configure`]).
#[cfg(feature = "spin-variables")]
pub fn lookup(key: &'static str) -> Option<String> {
    // An undefined variable and a provider failure both keep the default: Spin itself
    // refuses to start an app whose required variables have no value.
    spin_sdk::variables::get(key).ok()
}
