//! # triage-fastly
//!
//! The Triage HTTP contract on Fastly Compute: a `wasm32-wasip1` program for the `fastly`
//! crate, run locally by Viceroy (`scripts/serve-fastly`, `fastly compute serve`). The
//! handler only maps Fastly's API onto the core: it reads the body under the budget, hands
//! the request to [`triage_core::http::Service`], sends the outbound request it asks for, if
//! any, to a named backend (`compute::outbound`), and returns the answer.
//!
//! Fastly starts a fresh instance for every request, so loading the models must not happen
//! per request. The program exports `wizer.initialize`, which loads and optimises every
//! compiled-in model; `scripts/build-fastly` runs it once with `wasmtime wizer` and
//! snapshots the result, so an instance starts with the models in memory and only applies
//! the deployment's settings (from the Config Store `triage`, `compute::settings`).
//! Without the snapshot (`target/fastly/triage-lazy.wasm`) every request loads the default
//! classifier itself: about 90 ms, past Fastly's 50 ms of CPU.
//!
//! On any target other than `wasm32` the binary is a stub that says where it runs, so the
//! workspace's host builds (tests, lints) pass over it.

#[cfg(target_arch = "wasm32")]
mod compute;

#[cfg(target_arch = "wasm32")]
#[fastly::main]
fn main(request: fastly::Request) -> Result<fastly::Response, fastly::Error> {
    Ok(compute::handle(request))
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "triage-fastly runs on Fastly Compute: build it with scripts/build-fastly \
         (wasm32-wasip1) and serve it with scripts/serve-fastly"
    );
    std::process::ExitCode::from(2)
}
