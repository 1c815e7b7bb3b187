//! The prompt-guard contract against the Cloudflare worker on workerd (`wrangler dev`),
//! reading `models/prompt-guard` from local R2 (`--env r2` with
//! `TRIAGE_MODEL_PREFIX=prompt-guard/`): how a deployment serves a model other than the
//! compiled-in spam-mini without rebuilding the worker. Runs with `--features cloudflare`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::run_prompt_guard_harness;
use triage_contract::wrangler::{self, state_dir, Store};

fn main() -> ExitCode {
    run_prompt_guard_harness(|| {
        let state = state_dir("r2-prompt-guard");
        Store::R2.put_bundle(&state, "prompt-guard", "prompt-guard/");
        let persist = state.to_string_lossy().into_owned();
        let server = wrangler::dev(&[
            "--env",
            "r2",
            "--persist-to",
            &persist,
            "--var",
            "TRIAGE_MODEL_PREFIX:prompt-guard/",
        ]);
        let client = server.client(Duration::from_secs(120));
        (server, client)
    })
}
