//! The contract suite against the Spin component under `wasmtime serve`, on loopback,
//! with each instance's memory capped at 128 MiB. Serves the pre-initialised component in
//! `target/spin` (build it first with `scripts/build-spin`; `scripts/test` does). Runs
//! with `--features spin`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::run_harness;
use triage_contract::wasmtime::{serve, Component, MEMORY_CAP_BYTES};

fn main() -> ExitCode {
    run_harness(|| {
        let server = serve(Component::Preinitialized, MEMORY_CAP_BYTES, &[], &[]);
        // The first start compiles the component with Cranelift (cached afterwards).
        let client = server.client(Duration::from_secs(300));
        (server, client)
    })
}
