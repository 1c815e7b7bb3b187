//! The generate suite against the native adapter: the real axum server on loopback,
//! serving what `triage serve --generator models/smollm2-135m/build/bundle` serves (the
//! compiled-in classifiers and embedding model beside the generative model). Needs
//! `scripts/build-generator`; `TRIAGE_GENERATOR_BUNDLE` names another bundle.

mod native_server;

use std::process::ExitCode;

use triage_contract::{generator_bundle, run_generate_harness};
use triage_core::{embed, Embedder, Settings};

fn main() -> ExitCode {
    run_generate_harness(|| {
        let settings = Settings::default();
        let bundle = generator_bundle().display().to_string();
        let service = native_server::compiled_in(&settings)
            .embedder(Embedder::load_with(embed::embedded(), &settings))
            .build(|key| (key == "generator_dir").then(|| bundle.clone()))
            .expect("the compiled-in models fit the default budgets together");
        ((), native_server::start(service))
    })
}
