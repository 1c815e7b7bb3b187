//! The contract suite against the native adapter: the real axum server on loopback,
//! started once for all cases, serving what `triage serve` serves: every compiled-in
//! classifier (spam-mini, the default, and prompt-guard) beside the embedding model. Set
//! `TRIAGE_BASE_URL` to run the suite against any already-running adapter instead.

mod native_server;

use std::process::ExitCode;

use triage_contract::run_harness;
use triage_core::http::Service;
use triage_core::{bundle, embed, Classifier, Embedder, Settings};

fn main() -> ExitCode {
    run_harness(|| {
        let settings = Settings::default();
        let mut builder = Service::builder(&settings);
        for name in bundle::EMBEDDED_CLASSIFIERS {
            let bundle = bundle::embedded_named(name).expect("compiled in");
            builder = builder.classifier(Classifier::load_with(bundle, &settings));
        }
        let service = builder
            .embedder(Embedder::load_with(embed::embedded(), &settings))
            .build(|_| None)
            .expect("the compiled-in models fit the default budgets together");
        ((), native_server::start(service))
    })
}
