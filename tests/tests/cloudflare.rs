//! The contract suite against the Cloudflare worker on workerd: `wrangler dev` on
//! loopback, serving the build in `workers/cloudflare/build` (build it first with
//! `scripts/build-worker`; `scripts/test` does). Runs with `--features cloudflare`.

use std::process::ExitCode;
use std::time::Duration;

use triage_contract::run_harness;
use triage_contract::wrangler;

fn main() -> ExitCode {
    run_harness(|| {
        let server = wrangler::dev(&[]);
        let client = server.client(Duration::from_secs(120));
        (server, client)
    })
}
