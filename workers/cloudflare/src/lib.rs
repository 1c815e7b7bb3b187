//! # triage-cloudflare
//!
//! The Triage HTTP contract on Cloudflare Workers. The worker only maps HTTP: it reads the
//! body under the budget, hands the request to [`triage_core::http::Service`], and returns
//! its answer. The default model is loaded on the first request an isolate receives and
//! kept in a global for every later request that isolate serves; the bundles
//! `TRIAGE_MODELS` names are fetched and loaded by the first request that needs each, and
//! the embedding model (compiled in, or fetched: `TRIAGE_EMBEDDING_MODEL`) by the first
//! parse or labels request, so an isolate pays only for the models it serves. Built without
//! the `parse` feature, the worker classifies only: parse and labels answer 501, and
//! neither their code nor the embedding model is in the module.
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
use triage_core::http::{
    append_server_timing, Outbound, Platform, Problem, Service, DEFAULT_MODEL_KEY,
};
use triage_core::Classifier;
use worker::{event, Context, Date, Env, HttpRequest};

use crate::model_source::ModelSource;

/// The classifier compiled into the worker (spam-mini), if any. The worker carries no
/// other bundle: its size is cold start.
#[cfg(feature = "embedded-model")]
const EMBEDDED: Option<&str> = Some(triage_core::bundle::EMBEDDED_CLASSIFIERS[0]);
#[cfg(not(feature = "embedded-model"))]
const EMBEDDED: Option<&str> = None;

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
        Ok(service) => answer(service, request, &env).await,
        Err(unreachable) => answer(&unreachable, request, &env).await,
    };
    if let Some(service) = SERVICE.get().filter(|_| loading) {
        report_load(response.headers_mut(), load_ms, service);
    }
    Ok(response.map(|body| Full::new(Bytes::from(body))))
}

/// On the request that set up the isolate's service, adds `instance;dur=<ms>` to
/// `Server-Timing`, so operators see what a cold isolate pays (workerd's clock has 1 ms
/// resolution, and production freezes it during CPU work, where it reads 0), and how the
/// default classifier's load split (`load-verify`, `load-tokenizer`, `load-parse`,
/// `load-declutter`, `load-optimize`: checksums, tokenizer, reading the NNEF, tract's
/// decluttering and codegen). The embedding model is not in it: it loads with the first
/// parse request.
fn report_load(headers: &mut http::HeaderMap, load_ms: u64, service: &Service) {
    let entry = format!("instance;dur={load_ms};desc=\"classifier loaded\"");
    append_server_timing(headers, &entry);
    if let Some(timings) = service.classifier(None).map(|c| *c.load_timings()) {
        for (step, ms) in timings.steps() {
            append_server_timing(headers, &format!("load-{step};dur={ms:.1}"));
        }
    }
}

/// The worker's I/O for the core's request loop: `fetch` for the outbound request, the
/// `TRIAGE_MODELS` bundles from the model source, and Workers KV for the semantic cache.
struct Workers<'a> {
    env: &'a Env,
}

impl Platform for Workers<'_> {
    async fn send(
        &self,
        outbound: &mut Outbound,
    ) -> Result<http::Response<Vec<u8>>, triage_core::http::SendError> {
        outbound::send(outbound).await
    }

    async fn load_models(
        &self,
        service: &Service,
        names: Vec<String>,
    ) -> Result<(), http::Response<Vec<u8>>> {
        for name in names {
            provide(service, self.env, &name).await?;
        }
        Ok(())
    }

    /// Workers KV at binding [`CACHE_BINDING`], when the worker has one.
    fn has_cache_store(&self) -> bool {
        self.env.kv(CACHE_BINDING).is_ok()
    }

    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        let store = self.env.kv(CACHE_BINDING).ok()?;
        store.get(key).bytes().await.ok().flatten()
    }

    /// A timer in this request's own context: workerd cancels a request that waits on
    /// anything else (another request's promise) as hung.
    async fn pause(&self, duration: std::time::Duration) -> bool {
        worker::Delay::from(duration).await;
        true
    }

    async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: std::time::Duration) {
        let Ok(store) = self.env.kv(CACHE_BINDING) else {
            return;
        };
        // KV keeps a key at least 60 s.
        let put = match store.put_bytes(key, &value) {
            Ok(put) => put.expiration_ttl(ttl.as_secs().max(60)).execute().await,
            Err(error) => Err(error),
        };
        if let Err(error) = put {
            worker::console_warn!("semantic cache: KV write failed: {error}");
        }
    }
}

/// The Workers KV binding of the semantic cache's store (wrangler.toml); without it the
/// cache keeps entries in the isolate only.
const CACHE_BINDING: &str = "TRIAGE_CACHE";

/// Answers with the core's request loop ([`Service::respond`]): body under the budget, the
/// bundles the request needs that this isolate has not loaded yet, the answer, and the
/// outbound request it asks for, if any (escalation, middleware mode).
async fn answer(service: &Service, request: HttpRequest, env: &Env) -> http::Response<Vec<u8>> {
    let (parts, body) = request.into_parts();
    service.respond(parts, body, &Workers { env }).await
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
    let named = model_source::model_names(settings::var(env, model_source::MODELS_VAR).as_deref());
    let mut builder =
        Service::builder(&settings).default_model(settings::setting(env, DEFAULT_MODEL_KEY));
    #[cfg(feature = "parse")]
    {
        builder = with_embedder(builder, env, &source, settings);
    }
    match (&source, named.is_empty()) {
        (ModelSource::Embedded, true) => match missing_default(env, &[]) {
            Some(problem) => builder = builder.unavailable(problem),
            None => builder = builder.classifier(load_embedded(&settings).map_err(unavailable)?),
        },
        // The one bundle under TRIAGE_MODEL_PREFIX, in place of the compiled-in model.
        (_, true) => {
            let bundle = source.fetch(env).await.map_err(unavailable)?;
            // Another request may have finished loading while this one awaited the fetch.
            if let Some(service) = SERVICE.get() {
                return Ok(service);
            }
            builder = builder.classifier(Classifier::load_with(bundle.as_bytes(), &settings));
        }
        (ModelSource::Embedded, false) => {
            builder = builder.unavailable(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model-unavailable",
                format!(
                    "{} names bundles to fetch, but {} is embedded: set it to r2:, kv: or \
                     assets:<BINDING>",
                    model_source::MODELS_VAR,
                    model_source::SOURCE_VAR
                ),
            ));
        }
        // The compiled-in model, and the TRIAGE_MODELS bundles, each fetched on first use
        // (one named like the compiled-in model replaces it).
        (_, false) => {
            if let Some(problem) = missing_default(env, &named) {
                builder = builder.unavailable(problem);
            }
            if EMBEDDED.is_some_and(|embedded| !named.iter().any(|name| name == embedded)) {
                builder = builder.classifier(load_embedded(&settings).map_err(unavailable)?);
            }
            for name in &named {
                builder = builder.pending_classifier(name.as_str());
            }
        }
    }
    Ok(SERVICE.get_or_init(|| builder.build_or_unavailable(|key| settings::setting(env, key))))
}

/// The 503 when `TRIAGE_DEFAULT_MODEL` names a model neither compiled in nor in
/// `TRIAGE_MODELS` (`named`), saying where other models come from.
fn missing_default(env: &Env, named: &[String]) -> Option<Problem> {
    let name = settings::setting(env, DEFAULT_MODEL_KEY).filter(|name| !name.trim().is_empty())?;
    if EMBEDDED == Some(name.as_str()) || named.contains(&name) {
        return None;
    }
    let error = triage_core::TriageError::setting(
        DEFAULT_MODEL_KEY,
        format!(
            "names {name:?}, which the worker neither compiles in ({}) nor fetches: add it to \
             {} and put its bundle under {} + \"{name}/\" in {}",
            EMBEDDED.unwrap_or("none"),
            model_source::MODELS_VAR,
            model_source::PREFIX_VAR,
            model_source::SOURCE_VAR,
        ),
    );
    Some(Problem::from_error(&error))
}

/// Fetches bundle `name` (a `TRIAGE_MODELS` classifier, or the embedding model
/// `TRIAGE_EMBEDDING_MODEL` names) from the model source, under `TRIAGE_MODEL_PREFIX` +
/// `name/`, and hands it to the isolate's service, which loads it as what `name` is
/// pending as. A bundle that is not there, or fails to load, is kept as the model's 503
/// (the others are served); a binding that fails, or settings that do not parse, answer
/// this request 503 and leave the model to the next request (the binding may recover).
async fn provide(service: &Service, env: &Env, name: &str) -> Result<(), http::Response<Vec<u8>>> {
    let refuse = |problem: Problem| triage_core::http::problem_response(&problem);
    let source = ModelSource::from_env(env).map_err(|error| refuse(fetch_problem(error)))?;
    let fetched;
    let bundle = match source.fetch_named(env, name).await {
        Ok(bundle) => {
            fetched = bundle;
            Ok(fetched.as_bytes())
        }
        Err(error @ model_source::FetchError::Binding { .. }) => {
            return Err(refuse(fetch_problem(error)))
        }
        Err(error) => Err(triage_core::TriageError::Config(error.to_string())),
    };
    let settings = settings::from_env(env).map_err(|error| refuse(Problem::from_error(&error)))?;
    service.provide_bundle(name, bundle, &settings);
    Ok(())
}

/// Adds the embedding model behind `/v1/parse` and ad-hoc labels to `builder`, loaded by
/// the first request that needs it (a cold isolate that only classifies never pays for
/// it): the bundle `TRIAGE_EMBEDDING_MODEL` names, fetched from the model source; unset,
/// the compiled-in one, or, in a worker built without embedded models,
/// [`model_source::DEFAULT_EMBEDDING_MODEL`] from the model source.
#[cfg(feature = "parse")]
fn with_embedder(
    builder: triage_core::http::ServiceBuilder,
    env: &Env,
    source: &ModelSource,
    settings: triage_core::Settings,
) -> triage_core::http::ServiceBuilder {
    let named = settings::var(env, model_source::EMBEDDING_MODEL_VAR)
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    #[cfg(feature = "embedded-model")]
    if named.is_none() {
        return builder.lazy_embedder(move || {
            triage_core::Embedder::load_with(triage_core::embed::embedded(), &settings)
        });
    }
    let _ = settings;
    let name = named.unwrap_or_else(|| model_source::DEFAULT_EMBEDDING_MODEL.to_owned());
    if *source == ModelSource::Embedded {
        return builder.embedder(Err(triage_core::TriageError::Config(format!(
            "the embedding model {name:?} is not compiled in, so it is fetched from the model \
             source, but {} is embedded: set it to r2:, kv: or assets:<BINDING>",
            model_source::SOURCE_VAR
        ))));
    }
    builder.pending_embedder(name)
}

/// The compiled-in spam-mini. The worker carries no other bundle (its size is cold start):
/// others come from `TRIAGE_MODEL_SOURCE` (`TRIAGE_MODELS`).
#[cfg(feature = "embedded-model")]
fn load_embedded(
    settings: &triage_core::Settings,
) -> Result<triage_core::Result<Classifier>, model_source::FetchError> {
    Ok(Classifier::load_with(
        triage_core::bundle::embedded(),
        settings,
    ))
}

#[cfg(not(feature = "embedded-model"))]
fn load_embedded(
    _settings: &triage_core::Settings,
) -> Result<triage_core::Result<Classifier>, model_source::FetchError> {
    Err(model_source::FetchError::NotEmbedded)
}

fn fetch_problem(error: model_source::FetchError) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "model-unavailable",
        error.to_string(),
    )
}

fn unavailable(error: model_source::FetchError) -> Service {
    Service::without_model(fetch_problem(error))
}
