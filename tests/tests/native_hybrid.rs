//! The hybrid contract (escalation, middleware mode) against the native adapter: the real
//! axum server on loopback serving spam-mini and prompt-guard, configured with the
//! recording origins of [`triage_contract::hybrid`], sending its outbound requests with
//! its own client.

mod native_server;

use std::process::ExitCode;

use triage_contract::hybrid::run_hybrid_harness;
use triage_core::http::Service;
use triage_core::{bundle, Classifier, Settings};

fn main() -> ExitCode {
    run_hybrid_harness(|hybrid| {
        let settings = Settings::default();
        let mut builder = Service::builder(&settings);
        for name in bundle::EMBEDDED_CLASSIFIERS {
            let bundle = bundle::embedded_named(name).expect("compiled in");
            builder = builder.classifier(Classifier::load_with(bundle, &settings));
        }
        let service = builder
            .build(|key| hybrid.setting(key))
            .expect("the hybrid settings parse");
        ((), native_server::start(service))
    })
}
