//! # triage-spin
//!
//! The Triage HTTP contract as a `wasi:http` component for Fermyon Spin and
//! `wasmtime serve`. The handler only maps HTTP: it reads the body under the budget, hands
//! the request to [`triage_core::http::Service`], sends the outbound request it asks for
//! if any ([`outbound`]: escalation, middleware mode), and returns its answer.
//!
//! Spin and `wasmtime serve` may start a fresh instance for every request, so loading the
//! models must not happen per request. The component exports `wizer-initialize`, which
//! loads and optimises every compiled-in model (the classifiers of
//! [`triage_core::bundle::EMBEDDED_CLASSIFIERS`] and the embedder); `scripts/build-spin`
//! runs it once with `wasmtime wizer` and snapshots the result into the component, so an
//! instance starts with the models in memory. Without that step (the plain build) the first
//! request of each instance loads the default classifier, and the other models are loaded
//! by the first request that needs each.

pub mod outbound;
pub mod settings;
pub mod store;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use triage_core::http::snapshot::{self, EmbeddedModels, InstanceStart};
use triage_core::http::{
    problem_response, Outbound, Platform, Problem, SendError, Service, DEFAULT_MODEL_KEY,
};

/// The embedded models (the classifiers, and the embedder for `/v1/parse`), parsed and
/// optimised, before deployment settings. Filled by `wizer-initialize` (at build time,
/// when pre-initialised) or by the first request.
static PREPARED: Mutex<Option<EmbeddedModels>> = Mutex::new(None);

/// The instance's service: [`PREPARED`] under this deployment's settings.
static SERVICE: OnceLock<Service> = OnceLock::new();

/// The `wasi:http/incoming-handler@0.2` export. The streaming form (request and response
/// out-parameter) so that the body is read by the core's request loop under the body
/// budget: spin-sdk's other forms read the whole body first, however large.
#[spin_sdk::http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let (service, started) = service();
    let mut response = match request_head(&request) {
        Ok(parts) => {
            let body = http_body_util::StreamBody::new(Box::pin(
                request
                    .into_body_stream()
                    .map_ok(|chunk| http_body::Frame::data(Bytes::from(chunk)))
                    .map_err(|error| error.to_debug_string()),
            ));
            service.respond(parts, body, &SpinHttp).await
        }
        Err(problem) => problem_response(&problem),
    };
    if let Some(started) = started {
        started.report(response.headers_mut());
    }
    respond(out, response).await;
}

/// The request line and headers as the core takes them; a header the `http` crate refuses
/// is a 400 problem.
fn request_head(request: &IncomingRequest) -> Result<http::request::Parts, Problem> {
    let head = http::Request::builder()
        .method(http::Method::from(request.method()))
        .uri(request.path_with_query().unwrap_or_else(|| "/".to_owned()));
    triage_core::http::request_head(head, request.headers().entries())
}

/// Writes `response` to the host. Headers are appended one by one, so a repeated header
/// (`Set-Cookie` in middleware mode) keeps every value, and one the host refuses (hop-by-hop
/// headers, which the core already drops) is skipped rather than failing the response.
async fn respond(out: ResponseOutparam, response: http::Response<Vec<u8>>) {
    let (parts, body) = response.into_parts();
    let headers = Fields::new();
    for (name, value) in &parts.headers {
        let _refused = headers.append(name.as_str(), value.as_bytes());
    }
    let outgoing = OutgoingResponse::new(headers);
    if outgoing.set_status_code(parts.status.as_u16()).is_err() {
        eprintln!("triage: the host refused status {}", parts.status);
    }
    if let Err(error) = out.set_with_body(outgoing, body).await {
        eprintln!("triage: writing the response body failed: {error}");
    }
}

/// The component's I/O for the core's request loop ([`Service::respond`]): Spin's outbound
/// HTTP for escalation and middleware mode, and the key-value store for the semantic
/// cache ([`store`]). Every model is compiled in: none to fetch.
struct SpinHttp;

impl Platform for SpinHttp {
    async fn send(&self, outbound: &mut Outbound) -> Result<http::Response<Vec<u8>>, SendError> {
        outbound::send(outbound).await
    }

    fn has_cache_store(&self) -> bool {
        store::available()
    }

    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        store::get(key)
    }

    /// The time to live is the entry's own (the store has none).
    async fn cache_put(&self, key: &str, value: Vec<u8>, _ttl: Duration) {
        store::set(key, &value);
    }
}

/// The instance's service, applying the settings to the prepared model on first use (and
/// then saying how that went). Bad settings or a bundle that fails to load give a service
/// that answers 503 with the reason.
fn service() -> (&'static Service, Option<InstanceStart>) {
    snapshot::instance_service(&SERVICE, &PREPARED, |prepared| {
        let settings = match settings::read() {
            Ok(settings) => settings,
            Err(error) => return Service::unavailable(&error),
        };
        let default = settings::lookup(DEFAULT_MODEL_KEY);
        let builder = match prepared {
            Some(prepared) => prepared.builder(&settings, &[]),
            None => snapshot::lazy_builder(default.as_deref(), &settings, &[]),
        };
        // `default_model` picks the classifier that answers requests naming none.
        builder
            .default_model(default)
            .build_or_unavailable(settings::lookup)
    })
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
                slot.get_or_insert_with(super::EmbeddedModels::load);
            }
            // libphonenumber's metadata and the redactor's patterns, read once into the
            // snapshot rather than by an instance's first `/v1/redact` or redacted
            // escalation (about 60 ms natively).
            triage_core::redact::Redactor::default().warm();
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
