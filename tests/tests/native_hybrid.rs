//! The hybrid contract (escalation, middleware mode) against the native adapter: the real
//! axum server on loopback serving spam-mini and prompt-guard, configured with the
//! recording origins of [`triage_contract::hybrid`], sending its outbound requests with
//! its own client.

mod native_server;

use std::process::ExitCode;

use triage_contract::hybrid::run_hybrid_harness;
use triage_core::Settings;

fn main() -> ExitCode {
    run_hybrid_harness(|hybrid| {
        let service = native_server::compiled_in(&Settings::default())
            .build(|key| hybrid.setting(key))
            .expect("the hybrid settings parse");
        ((), native_server::start(service))
    })
}
