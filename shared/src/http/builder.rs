//! How every adapter makes its [`Service`]: the classifiers (loaded now, or on first use),
//! the embedding model, the default model, then the settings read once, checked against
//! what is served.
//!
//! ```no_run
//! # use triage_core::{bundle, embed, Classifier, Embedder, Settings};
//! # use triage_core::http::Service;
//! let settings = Settings::default();
//! let service = Service::builder(&settings)
//!     .classifier(Classifier::load_with(bundle::embedded(), &settings))
//!     .classifier(Classifier::load_with(bundle::embedded_named("prompt-guard")?, &settings))
//!     .embedder(Embedder::load_with(embed::embedded(), &settings))
//!     .default_model(Some("prompt-guard".into()))
//!     .build(|key| std::env::var(Settings::var_name(key)).ok())?;
//! # Ok::<(), triage_core::TriageError>(())
//! ```

use crate::engine::classify::Classifier;
#[cfg(feature = "parse")]
use crate::engine::embed::Embedder;
use crate::engine::memory::MemoryEstimate;
use crate::engine::settings::Settings;
use crate::error::TriageError;
use crate::http::hybrid::cache::Cache;
use crate::http::hybrid::escalation::Escalation;
use crate::http::hybrid::middleware::Middleware;
#[cfg(feature = "parse")]
use crate::http::hybrid::parse_escalation::ParseEscalation;
use crate::http::hybrid::redaction::Redaction;
use crate::http::problem::Problem;
use crate::http::service::{
    served_as, NamedClassifier, Service, DEFAULT_MODEL_KEY, MIDDLEWARE_KEY, SCHEMAS_KEY,
};
use crate::http::slot::Slot;
#[cfg(feature = "parse")]
use crate::parse::Parser;

/// A [`Service`] being put together; see the module docs.
#[must_use = "a builder does nothing until `build`"]
pub struct ServiceBuilder {
    settings: Settings,
    classifiers: Vec<NamedClassifier>,
    /// The first model that failed to load, or the adapter's own reason (a source it
    /// could not reach): the service's model routes answer it.
    failure: Option<Problem>,
    default: Option<String>,
    /// `None`: no embedding model was given.
    #[cfg(feature = "parse")]
    parser: Option<Slot<Parser>>,
    /// The name of the embedding model the adapter fetches itself, if it does.
    #[cfg(feature = "parse")]
    pending_embedder: Option<String>,
}

impl ServiceBuilder {
    pub(crate) fn new(settings: &Settings) -> ServiceBuilder {
        ServiceBuilder {
            settings: *settings,
            classifiers: Vec::new(),
            failure: None,
            default: None,
            #[cfg(feature = "parse")]
            parser: None,
            #[cfg(feature = "parse")]
            pending_embedder: None,
        }
    }

    /// Adds a loaded classifier, served under its manifest's name. One that failed to
    /// load makes every model route answer 503 naming why (adapters that can refuse to
    /// start do so before this).
    pub fn classifier(mut self, loaded: crate::Result<Classifier>) -> ServiceBuilder {
        match loaded {
            Ok(classifier) => self.classifiers.push(NamedClassifier {
                name: classifier.manifest().name.clone(),
                slot: Slot::ready(Ok(classifier)),
            }),
            Err(error) => {
                self.failure.get_or_insert(Problem::from_error(&error));
            }
        }
        self
    }

    /// Adds a classifier served as `name`, loaded by the first request that asks for it
    /// (Workers: an isolate pays only for the models it serves). The loaded bundle's
    /// manifest must name itself `name`, and it must fit the memory budget beside what is
    /// loaded by then; otherwise requests for it answer 503 naming why.
    pub fn lazy_classifier(
        mut self,
        name: impl Into<String>,
        load: impl Fn() -> crate::Result<Classifier> + Send + Sync + 'static,
    ) -> ServiceBuilder {
        let name = name.into();
        let expected = name.clone();
        let load = move || {
            let classifier = load()?;
            served_as(&expected, classifier.manifest())?;
            Ok(classifier)
        };
        self.classifiers.push(NamedClassifier {
            name,
            slot: Slot::lazy(load),
        });
        self
    }

    /// Adds a classifier served as `name` whose bundle the adapter fetches itself (from a
    /// bucket, a KV namespace), when a request first needs it: before serving, the adapter
    /// asks [`Service::wanted_models`] and hands each bundle over with
    /// [`Service::provide_classifier`]. For platforms whose reads are asynchronous, so
    /// the core, which does no I/O, cannot load it on its own.
    pub fn pending_classifier(mut self, name: impl Into<String>) -> ServiceBuilder {
        let name = name.into();
        let pending = Problem::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "model-unavailable",
            format!("model {name:?} has not been fetched yet"),
        );
        self.classifiers.push(NamedClassifier {
            name,
            slot: Slot::pending(pending),
        });
        self
    }

    /// Adds the embedding model that answers `/v1/parse` and `/v1/classify` with `labels`
    /// (feature `parse`). If it failed to load, or it does not fit the memory budget beside
    /// the classifiers, those requests answer 503 naming why; the classifiers' routes are
    /// unaffected.
    #[cfg(feature = "parse")]
    pub fn embedder(mut self, loaded: crate::Result<Embedder>) -> ServiceBuilder {
        let parser = loaded
            .map(Parser::new)
            .map_err(|error| Problem::from_error(&error));
        self.parser = Some(Slot::ready(parser));
        self
    }

    /// [`ServiceBuilder::embedder`], but the model is loaded by the first request that
    /// needs it: for Workers, where every cold isolate would otherwise pay for it.
    #[cfg(feature = "parse")]
    pub fn lazy_embedder(
        mut self,
        load: impl Fn() -> crate::Result<Embedder> + Send + Sync + 'static,
    ) -> ServiceBuilder {
        self.parser = Some(Slot::lazy(move || Ok(Parser::new(load()?))));
        self
    }

    /// [`ServiceBuilder::embedder`], but the adapter fetches the bundle itself when a
    /// request first needs it, as with [`ServiceBuilder::pending_classifier`]:
    /// [`Service::wanted_models`] names it, and [`Service::provide_embedder`] hands it over.
    /// Its manifest must name it `name`.
    #[cfg(feature = "parse")]
    pub fn pending_embedder(mut self, name: impl Into<String>) -> ServiceBuilder {
        let name = name.into();
        self.parser = Some(Slot::pending(Problem::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "model-unavailable",
            format!("embedding model {name:?} has not been fetched yet"),
        )));
        self.pending_embedder = Some(name);
        self
    }

    /// Makes every model route answer `problem` (503): for an adapter that could not reach
    /// its models.
    pub fn unavailable(mut self, problem: Problem) -> ServiceBuilder {
        self.failure.get_or_insert(problem);
        self
    }

    /// The classifier that answers requests naming none; `None` (or empty): the first
    /// one given. [`ServiceBuilder::build`] checks it is served (setting `default_model`).
    pub fn default_model(mut self, name: Option<String>) -> ServiceBuilder {
        self.default = name.filter(|name| !name.trim().is_empty());
        self
    }

    /// Reads the service settings through `lookup` (snake-case keys, as
    /// [`Settings::from_lookup`]): [`crate::http::hybrid::escalation::KEYS`],
    /// [`crate::http::hybrid::parse_escalation::KEYS`],
    /// [`crate::http::hybrid::redaction::KEYS`], [`crate::http::hybrid::cache::KEYS`],
    /// [`MIDDLEWARE_KEY`] and [`SCHEMAS_KEY`], and checks the set: names unique, the
    /// default model and every model a setting names served, the loaded classifiers
    /// together within the memory budget. The embedding model is checked beside them
    /// (it answers 503 if it does not fit, the classifiers are served).
    ///
    /// Errors: [`TriageError::Setting`] naming a malformed setting or a model that is not
    /// served, [`TriageError::Config`] for two bundles of one name,
    /// [`TriageError::Budget`] (memory) for a set over the budget.
    pub fn build(self, lookup: impl Fn(&'static str) -> Option<String>) -> crate::Result<Service> {
        let ServiceBuilder {
            settings,
            classifiers,
            failure,
            default,
            #[cfg(feature = "parse")]
            parser,
            #[cfg(feature = "parse")]
            pending_embedder,
        } = self;
        for (index, entry) in classifiers.iter().enumerate() {
            if classifiers[..index].iter().any(|e| e.name == entry.name) {
                return Err(TriageError::Config(format!(
                    "two bundles are named {:?}: every model needs its own name",
                    entry.name
                )));
            }
        }
        #[cfg(feature = "parse")]
        let embedder_name = parser
            .as_ref()
            .and_then(|slot| slot.peek())
            .map(|parser| parser.embedder().manifest().name.clone());
        #[cfg(feature = "parse")]
        if let Some(name) = embedder_name.filter(|name| classifiers.iter().any(|e| &e.name == name))
        {
            return Err(TriageError::Config(format!(
                "two bundles are named {name:?} (a classifier and the embedding model): every \
                 model needs its own name"
            )));
        }
        let known = || {
            let names: Vec<&str> = classifiers.iter().map(|e| e.name.as_str()).collect();
            names.join(", ")
        };
        let served = |key: &str, name: &str| -> crate::Result<()> {
            if failure.is_some() || classifiers.iter().any(|e| e.name == name) {
                Ok(())
            } else {
                Err(TriageError::setting(
                    key,
                    format!("names {name:?}; this deployment serves {}", known()),
                ))
            }
        };
        let default_index = match &default {
            Some(name) => {
                served(DEFAULT_MODEL_KEY, name)?;
                classifiers.iter().position(|e| &e.name == name)
            }
            None => (!classifiers.is_empty()).then_some(0),
        };
        let models: Option<MemoryEstimate> = classifiers
            .iter()
            .filter_map(|entry| entry.slot.peek().map(|c| *c.memory()))
            .reduce(|all, one| all.alongside(&one));
        if let Some(estimate) = models {
            estimate.check_fits(&settings.budgets)?;
        }
        // The cache's entries are held beside the models, within the same budget.
        let cache = Cache::from_lookup(&lookup)?;
        let reserved = cache.as_ref().map_or(0, |c| c.memory.reserved_bytes());
        let loaded = models.map(|estimate| estimate.with_resident(reserved));
        if let Some(estimate) = loaded {
            if estimate.check_fits(&settings.budgets).is_err() {
                return Err(TriageError::setting(
                    "cache_capacity",
                    format!(
                        "reserves {reserved} bytes for cached answers, and with the models' \
                         {} bytes that is over memory_bytes ({}): lower cache_capacity or \
                         raise memory_bytes",
                        estimate.total_bytes() - reserved,
                        settings.budgets.memory_bytes
                    ),
                ));
            }
        }
        let escalation = Escalation::from_lookup(&lookup)?;
        let redaction = Redaction::from_lookup(&lookup)?;
        #[cfg(feature = "parse")]
        let parse_escalation = ParseEscalation::from_lookup(&lookup)?;
        #[cfg(not(feature = "parse"))]
        refuse_parse_settings(&lookup)?;
        #[cfg(feature = "parse")]
        let escalates = escalation.is_some() || parse_escalation.is_some();
        #[cfg(not(feature = "parse"))]
        let escalates = escalation.is_some();
        if cache.is_some() && !escalates {
            return Err(TriageError::setting(
                "cache_ttl_s",
                "is set but nothing escalates: the cache keeps remote answers, so set \
                 escalation_url (or parse_escalation_url) too",
            ));
        }
        // Checked with or without escalation_url, so that a typo shows at start-up.
        if let Some(name) = crate::http::hybrid::escalation::setting(&lookup, "escalation_model") {
            served("escalation_model", &name)?;
        }
        let middleware = lookup(MIDDLEWARE_KEY)
            .filter(|text| !text.trim().is_empty())
            .map(|text| Middleware::from_json(&text))
            .transpose()?;
        for rule in middleware.iter().flat_map(|m| m.routes()) {
            if let Some(name) = rule.model.as_deref() {
                served(MIDDLEWARE_KEY, name)?;
            }
        }
        #[cfg(feature = "parse")]
        let parser = parser_slot(parser, loaded, &settings, &lookup)?;
        #[cfg(feature = "generate")]
        let (generator, generate_budgets) = generator_slot(&lookup)?;
        #[cfg(not(feature = "generate"))]
        refuse_generate_settings(&lookup)?;
        Ok(Service {
            classifiers,
            default: default_index,
            failure,
            #[cfg(feature = "parse")]
            parser,
            #[cfg(feature = "parse")]
            pending_embedder,
            #[cfg(feature = "generate")]
            generator,
            #[cfg(feature = "generate")]
            generate_budgets,
            budgets: settings.budgets,
            escalation,
            #[cfg(feature = "parse")]
            parse_escalation,
            middleware,
            redaction,
            cache: cache.map(std::sync::Arc::new),
        })
    }

    /// [`ServiceBuilder::build`], but an error makes every model route answer 503 naming
    /// it: for adapters that cannot refuse to start (Workers, Spin).
    pub fn build_or_unavailable(self, lookup: impl Fn(&'static str) -> Option<String>) -> Service {
        match self.build(lookup) {
            Ok(service) => service,
            Err(error) => Service::unavailable(&error),
        }
    }
}

/// The embedding model's slot as the service keeps it: a model loaded now checked against
/// the memory budget beside the loaded classifiers (`loaded`), the deployment's named
/// schemas (setting `schemas`) added to it, and the 503 when none was given.
#[cfg(feature = "parse")]
fn parser_slot(
    parser: Option<Slot<Parser>>,
    loaded: Option<MemoryEstimate>,
    settings: &Settings,
    lookup: impl Fn(&'static str) -> Option<String>,
) -> crate::Result<Slot<Parser>> {
    let budgets = settings.budgets;
    let Some(slot) = parser else {
        return Ok(Slot::ready(Err(no_embedder())));
    };
    // An embedding model loaded now must fit beside the loaded classifiers.
    let fits = move |parser: Parser| {
        let mut estimate = parser.memory();
        if let Some(classifiers) = loaded {
            estimate = estimate.alongside(&classifiers);
        }
        estimate.check_fits(&budgets)?;
        Ok(parser)
    };
    let slot = if slot.is_settled() {
        keep_problem(slot.then(fits))
    } else {
        slot
    };
    match lookup(SCHEMAS_KEY).filter(|text| !text.trim().is_empty()) {
        Some(json) => slot.then(move |parser| parser.with_named_schemas(&json)),
        None => Ok(slot),
    }
}

/// The settings of the generate task, read through the adapter's lookup as every other
/// (`TRIAGE_GENERATOR_DIR`, Spin variable `generator_dir`, ...): the bundle's directory,
/// the token budgets, and the instance's memory limit.
pub const GENERATE_KEYS: [&str; 4] = [
    "generator_dir",
    "generate_max_prompt_tokens",
    "generate_max_new_tokens",
    "instance_memory_bytes",
];

/// The memory limit a wasm instance has when `instance_memory_bytes` is unset: 128 MiB,
/// Spin's and Fermyon's per instance (and Fastly's heap); natively none.
#[cfg(feature = "generate")]
fn default_instance_memory() -> Option<usize> {
    cfg!(target_arch = "wasm32").then_some(128 * 1024 * 1024)
}

/// The generative model's slot: lazy, loaded from `generator_dir` by the first request
/// that needs it, under the budgets the settings give (returned beside it); the 503
/// saying how to configure one when it is unset (and no budgets).
#[cfg(feature = "generate")]
fn generator_slot(
    lookup: &impl Fn(&'static str) -> Option<String>,
) -> crate::Result<(
    Slot<crate::generate::Generator>,
    Option<crate::generate::GenerateBudgets>,
)> {
    use crate::generate::{GenerateBudgets, Generator};
    let setting = |key: &'static str| crate::http::hybrid::escalation::setting(lookup, key);
    let number = |key: &'static str, max: usize| -> crate::Result<Option<usize>> {
        setting(key)
            .map(|text| match text.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(TriageError::setting(
                    key,
                    format!("is {text:?}, expected a whole number from 1 to {max}"),
                )),
            })
            .transpose()
    };
    let defaults = GenerateBudgets::default();
    let budgets = GenerateBudgets {
        max_prompt_tokens: number("generate_max_prompt_tokens", 65_536)?
            .unwrap_or(defaults.max_prompt_tokens),
        max_new_tokens: number("generate_max_new_tokens", 65_536)?
            .unwrap_or(defaults.max_new_tokens),
        max_grammar_bytes: defaults.max_grammar_bytes,
        instance_memory_bytes: number("instance_memory_bytes", usize::MAX)?
            .or_else(default_instance_memory),
    };
    Ok(match setting("generator_dir") {
        Some(dir) => (
            Slot::lazy(move || Generator::load_dir(std::path::Path::new(&dir), budgets)),
            Some(budgets),
        ),
        None => (
            Slot::ready(Err(Problem::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "model-unavailable",
                "no generative model is configured: set generator_dir (TRIAGE_GENERATOR_DIR) to a \
             generate bundle's directory (models/smollm2-135m: scripts/build-generator)",
            ))),
            None,
        ),
    })
}

/// In a build without the `generate` feature, `generator_dir` cannot take effect: set, it
/// is an error naming the feature, not silently ignored.
#[cfg(not(feature = "generate"))]
fn refuse_generate_settings(lookup: impl Fn(&'static str) -> Option<String>) -> crate::Result<()> {
    let key = GENERATE_KEYS[0];
    if lookup(key).is_some_and(|value| !value.trim().is_empty()) {
        return Err(TriageError::setting(
            key,
            "is set, but this build has no /v1/generate: build it with triage-core's \
             `generate` feature, or unset it",
        ));
    }
    Ok(())
}

/// In a build without the `parse` feature, the parse settings (`schemas`,
/// `parse_escalation_url`, `parse_escalation_timeout_ms`) cannot take effect: set, they are
/// an error naming the feature, not silently ignored.
#[cfg(not(feature = "parse"))]
fn refuse_parse_settings(lookup: impl Fn(&'static str) -> Option<String>) -> crate::Result<()> {
    for key in [
        SCHEMAS_KEY,
        "parse_escalation_url",
        "parse_escalation_timeout_ms",
    ] {
        if lookup(key).is_some_and(|value| !value.trim().is_empty()) {
            return Err(TriageError::setting(
                key,
                "is set, but this build has no /v1/parse: build it with triage-core's `parse` \
                 feature, or unset it",
            ));
        }
    }
    Ok(())
}

/// A loaded embedding model that fails a check keeps the failure as its answer, instead
/// of failing the build.
#[cfg(feature = "parse")]
fn keep_problem(checked: crate::Result<Slot<Parser>>) -> Slot<Parser> {
    checked.unwrap_or_else(|error| Slot::ready(Err(Problem::from_error(&error))))
}

/// The 503 for parse and label requests when no embedding model was given.
#[cfg(feature = "parse")]
fn no_embedder() -> Problem {
    Problem::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "model-unavailable",
        "no embedding model is loaded: /v1/parse and /v1/classify with labels need one",
    )
}
