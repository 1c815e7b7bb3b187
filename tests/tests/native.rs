//! The contract suite against the native adapter: the real axum server on loopback,
//! started once for all cases. Set `TRIAGE_BASE_URL` to run the suite against any
//! already-running adapter instead.

mod native_server;

use std::process::ExitCode;

use triage_contract::run_harness;
use triage_core::http::Service;
use triage_core::{bundle, embed, Budgets, Classifier, Embedder, Settings};

fn main() -> ExitCode {
    run_harness(|| {
        let classifier =
            Classifier::load(bundle::embedded(), Budgets::default()).expect("default bundle loads");
        let embedder = Embedder::load_with(embed::embedded(), &Settings::default());
        (
            (),
            native_server::start(Service::new(classifier).with_embedder(embedder)),
        )
    })
}
