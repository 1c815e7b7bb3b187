//! The hybrid contract (escalation, middleware mode, the semantic cache) against the Fastly
//! Compute program under Viceroy. The settings are in the Config Store, the escalation
//! token in the Secret Store; the outbound requests reach the recording origins of
//! [`triage_contract::hybrid`] through named backends: the main origin through the
//! `backends` setting's map (backend `origin`), the quarantine origin through a backend
//! named like its authority. The KV Store `triage_cache` outlives each request's instance.
//! Runs with `--features fastly` after `scripts/build-fastly`.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use triage_contract::hybrid::{run_hybrid_harness, Instances};
use triage_contract::viceroy::{serve, Program, Service};

fn main() -> ExitCode {
    run_hybrid_harness(Instances::PerRequestSharedStore, |hybrid| {
        let mut settings = Vec::new();
        let mut secrets = Vec::new();
        for (key, value) in hybrid.settings() {
            match key {
                "escalation_token" => secrets.push((key.to_owned(), value)),
                _ => settings.push((key.to_owned(), value)),
            }
        }
        let origin = hybrid.origin.url();
        settings.push((
            "backends".to_owned(),
            json!({ origin.clone(): "origin" }).to_string(),
        ));
        let quarantine = hybrid.quarantine.url();
        let authority = quarantine.trim_start_matches("http://").to_owned();
        let service = Service {
            settings,
            secrets,
            backends: vec![("origin".to_owned(), origin), (authority, quarantine)],
            kv_stores: vec![("triage_cache".to_owned(), Vec::new())],
        };
        let server = serve(Program::Preinitialized, &service);
        let client = server.client(Duration::from_secs(300));
        (server, client)
    })
}
