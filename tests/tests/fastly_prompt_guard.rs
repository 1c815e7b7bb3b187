//! The prompt-guard contract against the Fastly Compute program under Viceroy, with
//! `default_model = "prompt-guard"` in the Config Store: the compiled-in prompt-guard
//! bundle from the snapshot. Runs with `--features fastly` after `scripts/build-fastly`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::run_prompt_guard_harness;
use triage_contract::viceroy::{serve, Program, Service};

fn main() -> ExitCode {
    run_prompt_guard_harness(|| {
        let service = Service::with_settings(&[("default_model", "prompt-guard")]);
        let server = serve(Program::Preinitialized, &service);
        let client = server.client(Duration::from_secs(300));
        (server, client)
    })
}
