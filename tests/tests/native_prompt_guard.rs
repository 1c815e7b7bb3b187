//! The prompt-guard contract against the native adapter: the real axum server on
//! loopback serving the compiled-in `models/prompt-guard` (what `TRIAGE_DEFAULT_MODEL=
//! prompt-guard triage serve` does; `triage --model-dir models/prompt-guard` reads the
//! same files from disk: see workers/native/tests/cli.rs).

mod native_server;

use std::process::ExitCode;

use triage_contract::run_prompt_guard_harness;
use triage_core::http::Service;
use triage_core::{bundle, Budgets, Classifier};

fn main() -> ExitCode {
    run_prompt_guard_harness(|| {
        let bundle = bundle::embedded_named("prompt-guard").expect("compiled in");
        let classifier = Classifier::load(bundle, Budgets::default()).expect("prompt-guard loads");
        ((), native_server::start(Service::new(classifier)))
    })
}
