//! # triage-cloudflare
//!
//! The Triage HTTP contract on Cloudflare Workers. The worker only maps HTTP: it reads the
//! body under the budget, hands the request to [`triage_core::http::Service`], and returns
//! its answer. The model is loaded on the first request an isolate receives and kept in a
//! global for every later request that isolate serves.
//!
//! Configuration comes from the worker's variables and secrets (see [`settings`] and
//! [`model_source`]); escalation and middleware mode send their one outbound request
//! with `fetch` ([`outbound`]).

pub mod model_source;
pub mod outbound;
pub mod settings;

use std::sync::OnceLock;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use triage_core::http::{append_server_timing, Problem, Service, Step};
use triage_core::{Classifier, Embedder};
use worker::{event, Context, Date, Env, HttpRequest};

use crate::model_source::ModelSource;

/// The isolate's service, loaded by the first request. Workers run one thread per isolate,
/// so a plain `OnceLock` is enough; it lives as long as the isolate.
static SERVICE: OnceLock<Service> = OnceLock::new();

#[event(fetch)]
async fn fetch(
    request: HttpRequest,
    env: Env,
    _ctx: Context,
) -> worker::Result<http::Response<Full<Bytes>>> {
    let loading = SERVICE.get().is_none();
    let started = Date::now().as_millis();
    let service = service(&env).await;
    let load_ms = Date::now().as_millis().saturating_sub(started);
    let mut response = match service {
        Ok(service) => answer(service, request).await,
        Err(unreachable) => answer(&unreachable, request).await,
    };
    if loading && SERVICE.get().is_some() {
        report_load(response.headers_mut(), load_ms);
    }
    Ok(response.map(|body| Full::new(Bytes::from(body))))
}

/// On the request that set up the isolate's service, adds `instance;dur=<ms>` to
/// `Server-Timing`, so operators see what a cold isolate pays (workerd's clock has 1 ms
/// resolution, and production freezes it during CPU work, where it reads 0). The
/// embedding model is not in it: it loads with the first parse request.
fn report_load(headers: &mut http::HeaderMap, load_ms: u64) {
    let entry = format!("instance;dur={load_ms};desc=\"classifier loaded\"");
    append_server_timing(headers, &entry);
}

/// Reads the body under the budget and answers with the core, sending the outbound
/// request it asks for, if any (escalation, middleware mode).
async fn answer(service: &Service, request: HttpRequest) -> http::Response<Vec<u8>> {
    let (parts, body) = request.into_parts();
    let bytes = match service.read_body(&parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    match service.serve(http::Request::from_parts(parts, bytes)) {
        Step::Respond(response) => response,
        Step::Send(mut outbound) => {
            let outcome = outbound::send(&mut outbound).await;
            outbound.finish(outcome)
        }
    }
}

/// The isolate's service, loading it on first use. A bundle that fails to load (a bad
/// checksum, a broken manifest, bad settings) is kept as a 503 service naming the reason.
/// A model source that cannot be reached gives an `Err` service for this request only
/// (model routes 503, `/openapi.json` still served), so the next request tries again.
async fn service(env: &Env) -> Result<&'static Service, Service> {
    if let Some(service) = SERVICE.get() {
        return Ok(service);
    }
    let settings = match settings::from_env(env) {
        Ok(settings) => settings,
        Err(error) => return Ok(SERVICE.get_or_init(|| Service::unavailable(&error))),
    };
    let source = ModelSource::from_env(env).map_err(unavailable)?;
    let loaded = match source {
        ModelSource::Embedded => load_embedded(env, &settings).map_err(unavailable)?,
        remote => {
            let bundle = remote.fetch(env).await.map_err(unavailable)?;
            // Another request may have finished loading while this one awaited the fetch.
            if let Some(service) = SERVICE.get() {
                return Ok(service);
            }
            Classifier::load_with(bundle.as_bytes(), &settings)
        }
    };
    Ok(SERVICE.get_or_init(|| {
        // The embedding model loads with the first parse or labels request: a cold
        // isolate that only classifies never pays for it.
        Service::from_load(loaded)
            .with_lazy_embedder(move || load_embedder(&settings))
            .configure(|key| settings::setting(env, key))
    }))
}

/// The embedding model behind `/v1/parse` and ad-hoc labels: always the embedded one.
#[cfg(feature = "embedded-model")]
fn load_embedder(settings: &triage_core::Settings) -> triage_core::Result<Embedder> {
    Embedder::load_with(triage_core::embed::embedded(), settings)
}

#[cfg(not(feature = "embedded-model"))]
fn load_embedder(_settings: &triage_core::Settings) -> triage_core::Result<Embedder> {
    Err(triage_core::TriageError::Config(
        "this worker was built without embedded models, so it has no embedding model".into(),
    ))
}

/// The compiled-in spam-mini. The worker carries no other bundle (its size is cold start):
/// `TRIAGE_DEFAULT_MODEL` naming another is a 503 saying where other models come from.
#[cfg(feature = "embedded-model")]
fn load_embedded(
    env: &Env,
    settings: &triage_core::Settings,
) -> Result<triage_core::Result<Classifier>, model_source::FetchError> {
    let embedded = triage_core::bundle::EMBEDDED_CLASSIFIERS[0];
    let other =
        settings::setting(env, "default_model").filter(|name| !name.is_empty() && name != embedded);
    if let Some(name) = other {
        return Ok(Err(triage_core::TriageError::Config(format!(
            "setting `default_model` is {name:?}, but the worker compiles in only {embedded}: \
             serve other bundles from TRIAGE_MODEL_SOURCE (r2:, kv: or assets:) with \
             TRIAGE_MODEL_PREFIX"
        ))));
    }
    Ok(Classifier::load_with(
        triage_core::bundle::embedded(),
        settings,
    ))
}

#[cfg(not(feature = "embedded-model"))]
fn load_embedded(
    _env: &Env,
    _settings: &triage_core::Settings,
) -> Result<triage_core::Result<Classifier>, model_source::FetchError> {
    Err(model_source::FetchError::NotEmbedded)
}

fn unavailable(error: model_source::FetchError) -> Service {
    Service::without_model(Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "model-unavailable",
        error.to_string(),
    ))
}
