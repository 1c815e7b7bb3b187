//! The hybrid contract (escalation, parse escalation, middleware mode) against the native
//! adapter: the real axum server on loopback serving spam-mini and prompt-guard beside the
//! embedding model, configured with the
//! recording origins of [`triage_contract::hybrid`], sending its outbound requests with
//! its own client.

mod native_server;

use std::process::ExitCode;

use triage_contract::hybrid::{run_hybrid_harness, Instances};
use triage_core::{embed, Embedder, Settings};

fn main() -> ExitCode {
    run_hybrid_harness(Instances::Shared, |hybrid| {
        let settings = Settings::default();
        let service = native_server::compiled_in(&settings)
            .embedder(Embedder::load_with(embed::embedded(), &settings))
            .build(|key| hybrid.setting(key))
            .expect("the hybrid settings parse");
        ((), native_server::start(service))
    })
}
