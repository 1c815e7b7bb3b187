//! The hybrid contract (escalation, middleware mode) against the Cloudflare worker on
//! workerd: `wrangler dev` with the settings as `--var`s, its outbound `fetch` reaching the
//! recording origins of [`triage_contract::hybrid`] on loopback. Runs with
//! `--features cloudflare` after `scripts/build-worker`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::hybrid::run_hybrid_harness;
use triage_contract::wrangler::{self, state_dir, Store};

fn main() -> ExitCode {
    run_hybrid_harness(|hybrid| {
        let vars: Vec<String> = hybrid
            .vars()
            .into_iter()
            .flat_map(|(name, value)| ["--var".to_owned(), format!("{name}:{value}")])
            .collect();
        // prompt-guard, which the `/chat` route names, from local R2 beside the
        // compiled-in spam-mini.
        let state = state_dir("r2-hybrid");
        Store::R2.put_bundle(&state, "prompt-guard", "models/prompt-guard/");
        let persist = state.to_string_lossy().into_owned();
        let mut args: Vec<&str> = vec![
            "--env",
            "r2",
            "--persist-to",
            &persist,
            "--var",
            "TRIAGE_MODEL_PREFIX:models/",
            "--var",
            "TRIAGE_MODELS:prompt-guard",
        ];
        args.extend(vars.iter().map(String::as_str));
        let server = wrangler::dev(&args);
        let client = server.client(Duration::from_secs(120));
        (server, client)
    })
}
