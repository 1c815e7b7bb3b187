//! The hybrid contract (escalation, middleware mode) against the Spin component under
//! `wasmtime serve`: the settings as `TRIAGE_*` environment variables, its outbound
//! `wasi:http` requests reaching the recording origins of [`triage_contract::hybrid`] on
//! loopback. Runs with `--features spin` after `scripts/build-spin`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::hybrid::{run_hybrid_harness, Instances};
use triage_contract::wasmtime::{serve, Component, MEMORY_CAP_BYTES};

fn main() -> ExitCode {
    run_hybrid_harness(Instances::PerRequest, |hybrid| {
        let vars = hybrid.vars();
        let env: Vec<(&str, &str)> = vars
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let server = serve(Component::Preinitialized, MEMORY_CAP_BYTES, &env, &[]);
        // The first start compiles the component with Cranelift (cached afterwards).
        let client = server.client(Duration::from_secs(300));
        (server, client)
    })
}
