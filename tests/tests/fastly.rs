//! The contract suite against the Fastly Compute program under Viceroy, on loopback: every
//! request a fresh instance started from the pre-initialised snapshot in `target/fastly`
//! (build it first with `scripts/build-fastly`; `scripts/test` does). Runs with
//! `--features fastly`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::run_harness;
use triage_contract::viceroy::{serve, Program, Service};

fn main() -> ExitCode {
    run_harness(|| {
        let server = serve(Program::Preinitialized, &Service::default());
        // Viceroy compiles the program with Cranelift when it starts.
        let client = server.client(Duration::from_secs(300));
        (server, client)
    })
}
