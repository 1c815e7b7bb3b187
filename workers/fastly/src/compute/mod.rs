//! The handler and the instance's service (see the crate docs).

mod body;
mod executor;
mod host;
mod models;
pub mod outbound;
mod preinit;
pub mod settings;
mod store;

use std::cell::Cell;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use triage_core::bundle;
use triage_core::http::snapshot::{self, EmbeddedModels, InstanceStart};
use triage_core::http::{
    append_server_timing, malformed_request, problem_response, request_head, Outbound, Platform,
    Problem, SendError, Service, DEFAULT_MODEL_KEY,
};

/// The embedded models (the classifiers, and the embedder for `/v1/parse`), parsed and
/// optimised, before deployment settings. Filled by `wizer.initialize` (at build time, when
/// pre-initialised); taken by the instance's first (and only) request.
static PREPARED: Mutex<Option<EmbeddedModels>> = Mutex::new(None);

/// The instance's service: [`PREPARED`] under this deployment's settings.
static SERVICE: OnceLock<Service> = OnceLock::new();

/// Answers one client request. Never fails: what cannot be answered is a problem+json.
pub fn handle(mut request: fastly::Request) -> fastly::Response {
    let (service, started) = service();
    let mut response = match request_parts(&request) {
        Ok(parts) => {
            let body = body::ClientBody::new(request.take_body());
            let compute = Compute::default();
            let mut response = executor::block_on(service.respond(parts, body, &compute));
            compute.report(response.headers_mut());
            response
        }
        Err(problem) => problem_response(&problem),
    };
    if let Some(started) = started {
        started.report(response.headers_mut());
    }
    into_fastly(response)
}

/// The request line and headers as the core takes them; one the `http` crate refuses is a
/// 400 problem.
fn request_parts(request: &fastly::Request) -> Result<http::request::Parts, Problem> {
    let target = host::request_target(request)
        .ok_or_else(|| malformed_request("the request target is not readable"))?;
    let uri: http::Uri = target
        .parse()
        .map_err(|error| malformed_request(format!("the request target is malformed: {error}")))?;
    // The path and query alone, as every adapter hands the core.
    let path = uri
        .path_and_query()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let head = http::Request::builder()
        .method(request.get_method_str())
        .uri(path);
    request_head(head, request.get_headers())
}

/// The core's answer as Fastly's response. Headers are appended one by one, so a repeated
/// header (`Set-Cookie` in middleware mode) keeps every value.
fn into_fastly(response: http::Response<Vec<u8>>) -> fastly::Response {
    let (parts, body) = response.into_parts();
    let mut answer = fastly::Response::from_status(parts.status.as_u16()).with_body(body);
    for (name, value) in &parts.headers {
        answer.append_header(name, value);
    }
    answer
}

/// The program's I/O for the core's request loop: named backends for escalation and
/// middleware mode ([`outbound`]), the KV Store `triage_models` for the bundles `models`
/// names ([`models`]), and the KV Store `triage_cache` for the semantic cache ([`store`]).
/// Fastly's calls block; the loop's futures are ready when polled ([`executor`]).
#[derive(Default)]
struct Compute {
    /// Time spent fetching and loading `models` bundles for this request.
    fetching: Cell<Option<Duration>>,
}

impl Compute {
    /// Adds `fetch;dur=<ms>;desc="models from the KV Store"` to `Server-Timing` when the
    /// request fetched and loaded bundles: the cost of a model that is not in the snapshot.
    fn report(&self, headers: &mut http::HeaderMap) {
        if let Some(spent) = self.fetching.get() {
            let entry = format!(
                "fetch;dur={:.3};desc=\"models from the KV Store\"",
                spent.as_secs_f64() * 1000.0
            );
            append_server_timing(headers, &entry);
        }
    }
}

impl Platform for Compute {
    async fn send(&self, outbound: &mut Outbound) -> Result<http::Response<Vec<u8>>, SendError> {
        outbound::send(outbound)
    }

    async fn load_models(
        &self,
        service: &Service,
        names: Vec<String>,
    ) -> Result<(), http::Response<Vec<u8>>> {
        let started = Instant::now();
        let provided = names
            .iter()
            .try_for_each(|name| models::provide(service, name));
        self.fetching.set(Some(started.elapsed()));
        provided
    }

    fn has_cache_store(&self) -> bool {
        store::available()
    }

    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        store::get(key)
    }

    async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        store::set(key, value, ttl);
    }
}

/// The instance's service, applying the settings to the prepared models on first use.
/// Bad settings, a bad `backends` map or a bundle that fails to load give a service that
/// answers 503 with the reason.
fn service() -> (&'static Service, Option<InstanceStart>) {
    snapshot::instance_service(&SERVICE, &PREPARED, |prepared| {
        let settings = match settings::read() {
            Ok(settings) => settings,
            Err(error) => return Service::unavailable(&error),
        };
        if let Err(error) = outbound::configure() {
            return Service::unavailable(&error);
        }
        let fetched = models::names();
        let default = settings::lookup(DEFAULT_MODEL_KEY);
        // A bundle `models` fetches under a compiled-in model's name is pending in its
        // place; the others after the compiled-in ones.
        let mut builder = match prepared {
            Some(prepared) => prepared.builder(&settings, &fetched),
            None => snapshot::lazy_builder(default.as_deref(), &settings, &fetched),
        };
        for name in &fetched {
            if !bundle::EMBEDDED_CLASSIFIERS.contains(&name.as_str()) {
                builder = builder.pending_classifier(name.as_str());
            }
        }
        builder
            .default_model(default)
            .build_or_unavailable(settings::lookup)
    })
}
