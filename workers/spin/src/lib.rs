//! # triage-spin
//!
//! The Triage HTTP contract as a `wasi:http` component for Fermyon Spin and
//! `wasmtime serve`. The handler only maps HTTP: it reads the body under the budget, hands
//! the request to [`triage_core::http::Service`], sends the outbound request it asks for
//! if any ([`outbound`]: escalation, middleware mode), and returns its answer.
//!
//! Spin and `wasmtime serve` may start a fresh instance for every request, so loading the
//! models must not happen per request. The component exports `wizer-initialize`, which
//! loads and optimises the embedded models (classifier and embedder); `scripts/build-spin` runs it once with
//! `wasmtime wizer` and snapshots the result into the component, so an instance starts
//! with the model in memory. Without that step the first request of each instance loads it.

pub mod outbound;
pub mod settings;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::Full;
use spin_sdk::http::Request;
use triage_core::http::{append_server_timing, Service, Step};
use triage_core::{bundle, embed, Classifier, Embedder, PreparedClassifier, PreparedEmbedder};

/// The embedded models (classifier, and embedder for `/v1/parse`), parsed and optimised,
/// before deployment settings. Filled by `wizer-initialize` (at build time, when
/// pre-initialised) or by the first request.
static PREPARED: Mutex<Option<Prepared>> = Mutex::new(None);

/// Both embedded models, each loaded or the reason it did not.
struct Prepared {
    classifier: triage_core::Result<PreparedClassifier>,
    embedder: triage_core::Result<PreparedEmbedder>,
}

/// The instance's service: [`PREPARED`] under this deployment's settings.
static SERVICE: OnceLock<Service> = OnceLock::new();

#[spin_sdk::http_service]
async fn handle(request: Request) -> http::Response<Full<Bytes>> {
    let (service, started) = service();
    let (parts, body) = request.into_parts();
    let mut response = match service.read_body(&parts.headers, body).await {
        Ok(bytes) => answer(service, http::Request::from_parts(parts, bytes)).await,
        Err(refusal) => refusal,
    };
    if let Some(started) = started {
        started.report(response.headers_mut());
    }
    response.map(|body| Full::new(Bytes::from(body)))
}

/// Answers with the core, sending the outbound request it asks for, if any (escalation,
/// middleware mode).
async fn answer(service: &Service, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    match service.serve(request) {
        Step::Respond(response) => response,
        Step::Send(mut outbound) => {
            let outcome = outbound::send(&mut outbound).await;
            outbound.finish(outcome)
        }
    }
}

/// How this instance's service was set up, reported on the request that did it.
struct InstanceStart {
    /// Whether the model came from the pre-initialised snapshot or was loaded now.
    from_snapshot: bool,
    /// Time spent reading settings and loading or configuring the model.
    elapsed: Duration,
}

impl InstanceStart {
    /// Adds `instance;dur=<ms>;desc="..."` to `Server-Timing`, so operators (and the
    /// tests) can see whether instances start from the snapshot and what starting costs.
    fn report(&self, headers: &mut HeaderMap) {
        let model = if self.from_snapshot {
            "model from snapshot"
        } else {
            "model loaded"
        };
        let entry = format!(
            "instance;dur={:.3};desc=\"{model}\"",
            self.elapsed.as_secs_f64() * 1000.0
        );
        append_server_timing(headers, &entry);
    }
}

/// The instance's service, applying the settings to the prepared model on first use (and
/// then saying how that went). Bad settings or a bundle that fails to load give a service
/// that answers 503 with the reason.
fn service() -> (&'static Service, Option<InstanceStart>) {
    if let Some(service) = SERVICE.get() {
        return (service, None);
    }
    let started = Instant::now();
    let mut from_snapshot = false;
    let service = SERVICE.get_or_init(|| {
        let settings = match settings::read() {
            Ok(settings) => settings,
            Err(error) => return Service::unavailable(&error),
        };
        let prepared = match take_prepared() {
            Some(prepared) => {
                from_snapshot = true;
                prepared
            }
            None => prepare(),
        };
        Service::from_load(
            prepared
                .classifier
                .and_then(|prepared| Classifier::new(prepared, &settings)),
        )
        .with_embedder(
            prepared
                .embedder
                .and_then(|prepared| Embedder::new(prepared, &settings)),
        )
        .configure(settings::lookup)
    });
    let start = InstanceStart {
        from_snapshot,
        elapsed: started.elapsed(),
    };
    (service, Some(start))
}

fn prepare() -> Prepared {
    Prepared {
        classifier: PreparedClassifier::load(bundle::embedded()),
        embedder: PreparedEmbedder::load(embed::embedded()),
    }
}

fn take_prepared() -> Option<Prepared> {
    PREPARED.lock().ok().and_then(|mut slot| slot.take())
}

/// The pre-initialisation export (see the crate docs).
mod preinit {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "preinit",
        path: "wit",
        generate_all,
    });

    struct Preinit;

    impl Guest for Preinit {
        fn wizer_initialize() {
            if let Ok(mut slot) = super::PREPARED.lock() {
                slot.get_or_insert_with(super::prepare);
            }
            // Loading reads environment variables (tokenizers does), so wasi-libc now
            // holds the build machine's environment; forget it, or the snapshot would
            // answer every later `std::env::var` (the TRIAGE_* settings) from it.
            // SAFETY: no other thread exists, and nothing holds a pointer into `environ`.
            unsafe { __wasilibc_deinitialize_environ() };
        }
    }

    extern "C" {
        /// wasi-libc: drop the cached environment so the next read asks the host again.
        fn __wasilibc_deinitialize_environ();
    }

    export!(Preinit);
}
