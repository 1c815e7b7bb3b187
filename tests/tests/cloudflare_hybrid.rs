//! The hybrid contract (escalation, middleware mode) against the Cloudflare worker on
//! workerd: `wrangler dev` with the settings as `--var`s, its outbound `fetch` reaching the
//! recording origins of [`triage_contract::hybrid`] on loopback. Runs with
//! `--features cloudflare` after `scripts/build-worker`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::hybrid::{run_hybrid_harness, Instances};
use triage_contract::wrangler;

fn main() -> ExitCode {
    run_hybrid_harness(Instances::Shared, |hybrid| {
        let vars: Vec<String> = hybrid
            .vars()
            .into_iter()
            .flat_map(|(name, value)| ["--var".to_owned(), format!("{name}:{value}")])
            .collect();
        // prompt-guard, which the `/chat` route names, from local R2 beside the
        // compiled-in spam-mini.
        let args: Vec<&str> = vars.iter().map(String::as_str).collect();
        let server =
            wrangler::dev_with_models("r2-hybrid", &["prompt-guard"], &["prompt-guard"], &args);
        let client = server.client(Duration::from_secs(120));
        (server, client)
    })
}
