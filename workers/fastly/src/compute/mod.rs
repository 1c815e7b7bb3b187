//! The handler and the instance's service (see the crate docs).

mod body;
mod executor;
mod models;
pub mod outbound;
mod preinit;
pub mod settings;
mod store;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use triage_core::http::{
    append_server_timing, problem_response, Outbound, Platform, Problem, SendError, Service,
    ServiceBuilder, DEFAULT_MODEL_KEY,
};
use triage_core::{
    bundle, embed, Classifier, Embedder, PreparedClassifier, PreparedEmbedder, Settings,
};

/// The embedded models (the classifiers, and the embedder for `/v1/parse`), parsed and
/// optimised, before deployment settings. Filled by `wizer.initialize` (at build time, when
/// pre-initialised); taken by the instance's first (and only) request.
static PREPARED: Mutex<Option<Prepared>> = Mutex::new(None);

/// Every embedded model, each loaded or the reason it did not.
struct Prepared {
    /// In the order of [`bundle::EMBEDDED_CLASSIFIERS`]: the first is the default model.
    classifiers: Vec<triage_core::Result<PreparedClassifier>>,
    embedder: triage_core::Result<PreparedEmbedder>,
}

/// The instance's service: [`PREPARED`] under this deployment's settings.
static SERVICE: OnceLock<Service> = OnceLock::new();

/// Answers one client request. Never fails: what cannot be answered is a problem+json.
pub fn handle(mut request: fastly::Request) -> fastly::Response {
    let (service, started) = service();
    let mut response = match request_head(&request) {
        Ok(parts) => {
            let body = body::ClientBody::new(request.take_body());
            executor::block_on(service.respond(parts, body, &Compute))
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
fn request_head(request: &fastly::Request) -> Result<http::request::Parts, Problem> {
    let path = match request.get_query_str() {
        Some(query) => format!("{}?{query}", request.get_path()),
        None => request.get_path().to_owned(),
    };
    let mut head = http::Request::builder()
        .method(request.get_method_str())
        .uri(path);
    for (name, value) in request.get_headers() {
        head = head.header(name, value);
    }
    head.body(())
        .map(|request| request.into_parts().0)
        .map_err(|error| {
            Problem::new(
                http::StatusCode::BAD_REQUEST,
                "malformed-request",
                format!("the request line or a header is malformed: {error}"),
            )
        })
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
struct Compute;

impl Platform for Compute {
    async fn send(&self, outbound: &mut Outbound) -> Result<http::Response<Vec<u8>>, SendError> {
        outbound::send(outbound)
    }

    async fn load_models(
        &self,
        service: &Service,
        names: Vec<String>,
    ) -> Result<(), http::Response<Vec<u8>>> {
        for name in names {
            models::provide(service, &name)?;
        }
        Ok(())
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

/// How this instance's service was set up, reported on its request.
struct InstanceStart {
    /// Whether the models came from the pre-initialised snapshot or were loaded now.
    from_snapshot: bool,
    /// Time spent reading settings and loading or configuring the models.
    elapsed: Duration,
}

impl InstanceStart {
    /// Adds `instance;dur=<ms>;desc="..."` to `Server-Timing`, so operators (and the tests)
    /// see whether instances start from the snapshot and what starting costs.
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

/// The instance's service, applying the settings to the prepared models on first use.
/// Bad settings, a bad `backends` map or a bundle that fails to load give a service that
/// answers 503 with the reason.
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
        if let Err(error) = outbound::configure() {
            return Service::unavailable(&error);
        }
        let fetched = models::names();
        let default = settings::lookup(DEFAULT_MODEL_KEY);
        let mut builder = match take_prepared() {
            Some(prepared) => {
                from_snapshot = true;
                from_snapshot_builder(prepared, &settings, &fetched)
            }
            None => plain_builder(default.as_deref(), &settings, &fetched),
        };
        for name in &fetched {
            builder = builder.pending_classifier(name.as_str());
        }
        builder
            .default_model(default)
            .build_or_unavailable(settings::lookup)
    });
    let start = InstanceStart {
        from_snapshot,
        elapsed: started.elapsed(),
    };
    (service, Some(start))
}

/// Every compiled-in model, from the snapshot, under the deployment's settings; a
/// classifier of the same name among the `models` fetched from the KV Store (`fetched`) is
/// left out: the fetched one replaces it.
fn from_snapshot_builder(
    prepared: Prepared,
    settings: &Settings,
    fetched: &[String],
) -> ServiceBuilder {
    let mut builder = Service::builder(settings).embedder(
        prepared
            .embedder
            .and_then(|prepared| Embedder::new(prepared, settings)),
    );
    for (name, classifier) in bundle::EMBEDDED_CLASSIFIERS
        .iter()
        .zip(prepared.classifiers)
    {
        if !fetched.iter().any(|fetched| fetched == name) {
            builder = builder
                .classifier(classifier.and_then(|prepared| Classifier::new(prepared, settings)));
        }
    }
    builder
}

/// Without a snapshot: the default classifier (`default`, else the first compiled in)
/// loaded now, the other models by the first request that needs each.
fn plain_builder(default: Option<&str>, settings: &Settings, fetched: &[String]) -> ServiceBuilder {
    let default = default
        .filter(|name| !name.trim().is_empty())
        .unwrap_or(bundle::EMBEDDED_CLASSIFIERS[0]);
    let copied = *settings;
    let mut builder = Service::builder(settings)
        .lazy_embedder(move || Embedder::load_with(embed::embedded(), &copied));
    for name in bundle::EMBEDDED_CLASSIFIERS {
        if fetched.iter().any(|fetched| fetched == name) {
            continue;
        }
        let load = move |settings: &Settings| {
            bundle::embedded_named(name).and_then(|bundle| Classifier::load_with(bundle, settings))
        };
        builder = if name == default {
            builder.classifier(load(settings))
        } else {
            let copied = *settings;
            builder.lazy_classifier(name, move || load(&copied))
        };
    }
    builder
}

/// Loads the embedding model and every compiled-in classifier (what the snapshot holds).
fn prepare() -> Prepared {
    Prepared {
        classifiers: bundle::EMBEDDED_CLASSIFIERS
            .iter()
            .map(|name| bundle::embedded_named(name).and_then(PreparedClassifier::load))
            .collect(),
        embedder: PreparedEmbedder::load(embed::embedded()),
    }
}

fn take_prepared() -> Option<Prepared> {
    PREPARED.lock().ok().and_then(|mut slot| slot.take())
}
