//! The contract suite against the Cloudflare worker on workerd: `wrangler dev` on
//! loopback, serving the build in `workers/cloudflare/build` (build it first with
//! `scripts/build-worker`; `scripts/test` does). The worker serves its compiled-in
//! spam-mini (the default) and prompt-guard from local R2 (`--env r2`,
//! `TRIAGE_MODELS=prompt-guard` under `TRIAGE_MODEL_PREFIX=models/`), fetched by the first
//! request that names it, beside the embedding model. Runs with `--features cloudflare`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::run_harness;
use triage_contract::wrangler::{self, state_dir, Store};

fn main() -> ExitCode {
    run_harness(|| {
        let state = state_dir("r2-contract");
        Store::R2.put_bundle(&state, "prompt-guard", "models/prompt-guard/");
        let persist = state.to_string_lossy().into_owned();
        let server = wrangler::dev(&[
            "--env",
            "r2",
            "--persist-to",
            &persist,
            "--var",
            "TRIAGE_MODEL_PREFIX:models/",
            "--var",
            "TRIAGE_MODELS:prompt-guard",
        ]);
        let client = server.client(Duration::from_secs(120));
        (server, client)
    })
}
