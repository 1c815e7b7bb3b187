//! The contract suite against the Cloudflare worker on workerd: `wrangler dev` on
//! loopback, serving the build in `workers/cloudflare/build` (build it first with
//! `scripts/build-worker`; `scripts/test` does). The worker serves its compiled-in
//! spam-mini (the default) and prompt-guard from local R2 (`--env r2`,
//! `TRIAGE_MODELS=prompt-guard` under `TRIAGE_MODEL_PREFIX=models/`), fetched by the first
//! request that names it, beside the embedding model. Runs with `--features cloudflare`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::run_harness;
use triage_contract::wrangler;

fn main() -> ExitCode {
    run_harness(|| {
        let server =
            wrangler::dev_with_models("r2-contract", &["prompt-guard"], &["prompt-guard"], &[]);
        let client = server.client(Duration::from_secs(120));
        (server, client)
    })
}
