//! The prompt-guard contract against the Spin component under `wasmtime serve` (128 MiB
//! per instance), with `TRIAGE_DEFAULT_MODEL=prompt-guard` (Spin variable
//! `default_model`): the compiled-in prompt-guard bundle, loaded on each instance's first
//! request. Runs with `--features spin` after `scripts/build-spin`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::run_prompt_guard_harness;
use triage_contract::wasmtime::{serve, Component, MEMORY_CAP_BYTES};

fn main() -> ExitCode {
    run_prompt_guard_harness(|| {
        let env = [("TRIAGE_DEFAULT_MODEL", "prompt-guard")];
        let server = serve(Component::Preinitialized, MEMORY_CAP_BYTES, &env, &[]);
        let client = server.client(Duration::from_secs(300));
        (server, client)
    })
}
