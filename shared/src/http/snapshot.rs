//! What the adapters whose instances start from a pre-initialised snapshot share (the Spin
//! component, the Fastly Compute program): every compiled-in model loaded and optimised
//! before the deployment's settings are known ([`EmbeddedModels`], what the snapshot
//! holds), the instance's service built from them under its settings, or, in a build
//! without the snapshot, the default classifier loaded at once and the other models by the
//! first request that needs each ([`lazy_builder`]); and the `instance` entry of
//! `Server-Timing` that says which it was ([`InstanceStart`]).

#[cfg(all(feature = "embedded-model", feature = "parse"))]
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
#[cfg(all(feature = "embedded-model", feature = "parse"))]
use std::time::Instant;

use http::HeaderMap;

use crate::http::routes::append_server_timing;
#[cfg(all(feature = "embedded-model", feature = "parse"))]
use crate::http::{Service, ServiceBuilder};
#[cfg(all(feature = "embedded-model", feature = "parse"))]
use crate::{bundle, embed, Classifier, Embedder, PreparedClassifier, PreparedEmbedder, Settings};

/// Every compiled-in model, each loaded (parsed, verified and optimised, before settings)
/// or the reason it did not.
#[cfg(all(feature = "embedded-model", feature = "parse"))]
pub struct EmbeddedModels {
    /// In the order of [`bundle::EMBEDDED_CLASSIFIERS`]: the first is the default model.
    classifiers: Vec<crate::Result<PreparedClassifier>>,
    embedder: crate::Result<PreparedEmbedder>,
}

#[cfg(all(feature = "embedded-model", feature = "parse"))]
impl EmbeddedModels {
    /// Loads the embedding model and every compiled-in classifier: what a pre-initialising
    /// export (`wizer-initialize`) keeps for the snapshot. About 90 ms natively.
    pub fn load() -> EmbeddedModels {
        EmbeddedModels {
            classifiers: bundle::EMBEDDED_CLASSIFIERS
                .iter()
                .map(|name| bundle::embedded_named(name).and_then(PreparedClassifier::load))
                .collect(),
            embedder: PreparedEmbedder::load(embed::embedded()),
        }
    }

    /// A builder serving every model under `settings`. A compiled-in classifier named in
    /// `fetched` (bundles the adapter fetches itself) is pending in its place instead, so
    /// the fetched bundle replaces it there: the first one stays the default.
    pub fn builder(self, settings: &Settings, fetched: &[String]) -> ServiceBuilder {
        let mut builder = Service::builder(settings).embedder(
            self.embedder
                .and_then(|prepared| Embedder::new(prepared, settings)),
        );
        for (name, classifier) in bundle::EMBEDDED_CLASSIFIERS.iter().zip(self.classifiers) {
            builder = if fetched.iter().any(|other| other == name) {
                builder.pending_classifier(*name)
            } else {
                builder
                    .classifier(classifier.and_then(|prepared| Classifier::new(prepared, settings)))
            };
        }
        builder
    }
}

/// Without a snapshot: the default classifier (`default`, else the first compiled in)
/// loaded now, the other classifiers and the embedding model by the first request that
/// needs each, so that a fresh instance pays only for what its request uses. Compiled-in
/// classifiers named in `fetched` are pending in their place, as in
/// [`EmbeddedModels::builder`].
#[cfg(all(feature = "embedded-model", feature = "parse"))]
pub fn lazy_builder(
    default: Option<&str>,
    settings: &Settings,
    fetched: &[String],
) -> ServiceBuilder {
    let default = default
        .filter(|name| !name.trim().is_empty())
        .unwrap_or(bundle::EMBEDDED_CLASSIFIERS[0]);
    let copied = *settings;
    let mut builder = Service::builder(settings)
        .lazy_embedder(move || Embedder::load_with(embed::embedded(), &copied));
    for name in bundle::EMBEDDED_CLASSIFIERS {
        if fetched.iter().any(|other| other == name) {
            builder = builder.pending_classifier(name);
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

/// The instance's service (`service`), built on first use by `build` from the models the
/// snapshot holds (taken out of `prepared`; `None` in a build without the snapshot, or when
/// the snapshot has none), with how that went; later calls return it alone.
#[cfg(all(feature = "embedded-model", feature = "parse"))]
pub fn instance_service(
    service: &'static OnceLock<Service>,
    prepared: &Mutex<Option<EmbeddedModels>>,
    build: impl FnOnce(Option<EmbeddedModels>) -> Service,
) -> (&'static Service, Option<InstanceStart>) {
    if let Some(service) = service.get() {
        return (service, None);
    }
    let started = Instant::now();
    // Taken before building, so that the report says where the models came from even when
    // the settings are refused.
    let models = prepared.lock().ok().and_then(|mut slot| slot.take());
    let from_snapshot = models.is_some();
    let service = service.get_or_init(|| build(models));
    let start = InstanceStart {
        from_snapshot,
        elapsed: started.elapsed(),
    };
    (service, Some(start))
}

/// How an instance's service was set up, reported on the request that did it.
#[derive(Debug, Clone, Copy)]
pub struct InstanceStart {
    /// Whether the models came from the pre-initialised snapshot or were loaded now.
    pub from_snapshot: bool,
    /// Time spent reading settings and loading or configuring the models.
    pub elapsed: Duration,
}

impl InstanceStart {
    /// Adds `instance;dur=<ms>;desc="model from snapshot"` (or `"model loaded"`) to
    /// `Server-Timing`, so operators (and the tests) see whether instances start from the
    /// snapshot and what starting costs.
    pub fn report(&self, headers: &mut HeaderMap) {
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
