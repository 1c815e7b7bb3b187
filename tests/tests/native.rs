//! The contract suite against the native adapter: the real axum server on loopback,
//! started once for all cases, serving what `triage serve` serves: every compiled-in
//! classifier (spam-mini, the default, and prompt-guard) beside the embedding model. Set
//! `TRIAGE_BASE_URL` to run the suite against any already-running adapter instead.

mod native_server;

use std::process::ExitCode;

use triage_contract::run_harness;
use triage_core::{embed, Embedder, Settings};

fn main() -> ExitCode {
    run_harness(|| {
        let settings = Settings::default();
        let service = native_server::compiled_in(&settings)
            .embedder(Embedder::load_with(embed::embedded(), &settings))
            .build(|_| None)
            .expect("the compiled-in models fit the default budgets together");
        ((), native_server::start(service))
    })
}
