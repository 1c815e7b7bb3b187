//! The generate suite against the Spin component under `wasmtime serve`: the
//! pre-initialised component (built with its default `generate` feature) with the generate
//! bundle mounted at `/generator` and `generator_dir` pointing there. The model does not
//! fit Spin's 128 MiB beside the compiled-in models (spin_component checks the 503 that
//! says so), so this suite gives instances 256 MiB, as `spin up --max-instance-memory`
//! would. Needs `scripts/build-spin` and `scripts/build-generator`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::wasmtime::{serve, Component};
use triage_contract::{generator_bundle, run_generate_harness};

/// The instance memory the suite allows (and tells the component): 256 MiB.
const GENERATE_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

fn main() -> ExitCode {
    run_generate_harness(|| {
        let mount = format!("--dir={}::/generator", generator_bundle().display());
        let limit = GENERATE_MEMORY_BYTES.to_string();
        let server = serve(
            Component::Preinitialized,
            GENERATE_MEMORY_BYTES,
            &[
                ("TRIAGE_GENERATOR_DIR", "/generator"),
                ("TRIAGE_INSTANCE_MEMORY_BYTES", &limit),
            ],
            &[&mount],
        );
        let client = server.client(Duration::from_secs(600));
        (server, client)
    })
}
