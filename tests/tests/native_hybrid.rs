//! The hybrid contract (escalation, middleware mode) against the native adapter: the real
//! axum server on loopback, configured with the recording origins of
//! [`triage_contract::hybrid`], sending its outbound requests with its own client.

mod native_server;

use std::process::ExitCode;

use triage_contract::hybrid::run_hybrid_harness;
use triage_core::http::Service;
use triage_core::{bundle, Budgets, Classifier};

fn main() -> ExitCode {
    run_hybrid_harness(|hybrid| {
        let classifier =
            Classifier::load(bundle::embedded(), Budgets::default()).expect("default bundle loads");
        let service = Service::new(classifier)
            .try_configure(|key| hybrid.setting(key))
            .expect("the hybrid settings parse");
        ((), native_server::start(service))
    })
}
