//! Deployment settings for the component.
//!
//! By default they come from environment variables named like the Cloudflare worker's
//! (`TRIAGE_` + the upper-case setting name), which every wasi:http host passes the same
//! way: `wasmtime serve --env`, `spin up --env`, or `environment` in spin.toml.
//! With the `spin-variables` feature they come from Spin variables of the setting's own
//! name (`threshold`, `max_tokens`, ...), declared with their defaults in spin.toml. That
//! build imports `wasi:config/store@0.2.0-draft-2024-09-27`, which Spin provides and
//! `wasmtime serve` 48 does not.

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
    // An unset variable and a provider failure both keep the default: Spin itself refuses
    // to start an app whose required variables have no value.
    bindings::wasi::config::store::get(key).ok().flatten()
}

#[cfg(feature = "spin-variables")]
mod bindings {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "spin-variables",
        path: "wit",
        generate_all,
    });
}
