//! The HTTP contract as a plain function from `http::Request` to `http::Response`, so that
//! each platform adapter only converts its own request and response types. A service
//! holds any number of named classifiers (one of them the default), the embedding model
//! behind `/v1/parse` and ad-hoc labels, and the hybrid-routing settings; it is made by
//! [`ServiceBuilder`]. What each route answers is in [`super::routes`].

use std::sync::Arc;

use http::header::{ALLOW, CONTENT_LENGTH};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use crate::engine::budget::{BudgetExceeded, Budgets};
use crate::engine::classify::Classifier;
use crate::engine::memory::MemoryEstimate;
use crate::engine::settings::Settings;
use crate::error::{quoted_prefix, TriageError};
use crate::http::builder::ServiceBuilder;
use crate::http::hybrid::cache::Cache;
use crate::http::hybrid::escalation::Escalation;
use crate::http::hybrid::middleware::Middleware;
#[cfg(feature = "parse")]
use crate::http::hybrid::parse_escalation::ParseEscalation;
use crate::http::hybrid::redaction::Redaction;
use crate::http::outbound::{SendError, Step};
use crate::http::problem::Problem;
use crate::http::routes::{self, problem_response};
use crate::http::slot::Slot;
#[cfg(feature = "parse")]
use crate::parse::Parser;

/// The setting holding the middleware configuration (`TRIAGE_MIDDLEWARE` as a variable).
pub const MIDDLEWARE_KEY: &str = "middleware";

/// The setting holding the deployment's named schemas for `/v1/parse` (`TRIAGE_SCHEMAS`):
/// a JSON object of name to JSON Schema, added to the shipped ones.
pub const SCHEMAS_KEY: &str = "schemas";

/// The setting naming the classifier that answers requests naming none
/// (`TRIAGE_DEFAULT_MODEL`); unset, the first one the adapter gives.
pub const DEFAULT_MODEL_KEY: &str = "default_model";

/// The routes of the contract and the one method each accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Health,
    Models,
    Classify,
    Parse,
    Generate,
    Redact,
    OpenApi,
}

impl Route {
    fn from_path(path: &str) -> Option<Route> {
        match path {
            "/healthz" => Some(Route::Health),
            "/v1/models" => Some(Route::Models),
            "/v1/classify" => Some(Route::Classify),
            "/v1/parse" => Some(Route::Parse),
            "/v1/generate" => Some(Route::Generate),
            "/v1/redact" => Some(Route::Redact),
            "/openapi.json" => Some(Route::OpenApi),
            _ => None,
        }
    }

    fn method(self) -> Method {
        match self {
            Route::Classify | Route::Parse | Route::Generate | Route::Redact => Method::POST,
            Route::Health | Route::Models | Route::OpenApi => Method::GET,
        }
    }

    /// The `Allow` header value for this route.
    fn allow(self) -> HeaderValue {
        match self {
            Route::Classify | Route::Parse | Route::Generate | Route::Redact => {
                HeaderValue::from_static("POST")
            }
            Route::Health | Route::Models | Route::OpenApi => HeaderValue::from_static("GET"),
        }
    }
}

/// One classifier of the deployment, by the name requests use (its manifest's `name`).
#[derive(Debug)]
pub(crate) struct NamedClassifier {
    pub name: String,
    pub slot: Slot<Classifier>,
}

/// Serves the contract for a set of classifiers and an embedding model. A model that
/// failed to load answers 503 with the reason on the routes that need it, so a broken
/// deployment says why instead of crashing.
#[derive(Debug)]
pub struct Service {
    /// The classifiers, in the order the adapter gave them.
    pub(crate) classifiers: Vec<NamedClassifier>,
    /// Index of the classifier that answers requests naming none.
    pub(crate) default: Option<usize>,
    /// Why no model route can be answered (settings that do not parse, a model source
    /// that could not be reached), when that is so.
    pub(crate) failure: Option<Problem>,
    /// The embedding model behind `/v1/parse` and ad-hoc labels, with its schema cache.
    #[cfg(feature = "parse")]
    pub(crate) parser: Slot<Parser>,
    /// The name of the embedding model while the adapter has yet to fetch it
    /// ([`ServiceBuilder::pending_embedder`]).
    #[cfg(feature = "parse")]
    pub(crate) pending_embedder: Option<String>,
    /// The generative model behind `/v1/generate` (feature `generate`), loaded by the
    /// first request that needs it; its 503 when none is configured.
    #[cfg(feature = "generate")]
    pub(crate) generator: Slot<crate::generate::Generator>,
    /// The generate budgets, when a generative model is configured.
    #[cfg(feature = "generate")]
    pub(crate) generate_budgets: Option<crate::generate::GenerateBudgets>,
    /// The deployment's request and memory budgets.
    pub(crate) budgets: Budgets,
    /// Hybrid routing: where unsure single-text answers go.
    pub(crate) escalation: Option<Escalation>,
    #[cfg(feature = "parse")]
    pub(crate) parse_escalation: Option<ParseEscalation>,
    /// Middleware mode: the routes classified on their way to an origin.
    pub(crate) middleware: Option<Middleware>,
    /// What personal data may leave for the escalation endpoints, and the redactor behind
    /// `/v1/redact` and middleware's `redact` action.
    pub(crate) redaction: Redaction,
    /// The semantic cache of remote answers, when `cache_ttl_s` is set.
    pub(crate) cache: Option<Arc<Cache>>,
}

impl Service {
    /// Starts a service under `settings` (budgets; the threshold is applied when the
    /// classifiers are loaded): add models, then [`ServiceBuilder::build`].
    pub fn builder(settings: &Settings) -> ServiceBuilder {
        ServiceBuilder::new(settings)
    }

    /// A service answering with `classifier` alone: no embedding model, no hybrid routing.
    pub fn new(classifier: Classifier) -> Service {
        let settings = Settings {
            budgets: *classifier.budgets(),
            threshold: None,
        };
        Service::builder(&settings)
            .classifier(Ok(classifier))
            .build_or_unavailable(|_| None)
    }

    /// A service whose model could not be loaded; it answers 503 problem+json naming `error`.
    pub fn unavailable(error: &TriageError) -> Service {
        Service::without_model(Problem::from_error(error))
    }

    /// A service with no model, for a reason the adapter found itself (a model source it
    /// could not reach); its model routes answer `problem`, the rest are served as usual.
    pub fn without_model(problem: Problem) -> Service {
        Service::builder(&Settings::default())
            .unavailable(problem)
            .build_or_unavailable(|_| None)
    }

    /// The escalation settings, if hybrid routing is on.
    pub fn escalation(&self) -> Option<&Escalation> {
        self.escalation.as_ref()
    }

    /// The parse escalation settings, if parses with unsure fields go to a bigger model.
    #[cfg(feature = "parse")]
    pub fn parse_escalation(&self) -> Option<&ParseEscalation> {
        self.parse_escalation.as_ref()
    }

    /// The semantic cache of remote answers, if one is configured.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_deref()
    }

    /// The redaction settings: the redactor and what the escalation endpoints may receive.
    pub fn redaction(&self) -> &Redaction {
        &self.redaction
    }

    /// The middleware configuration, if middleware mode is on.
    pub fn middleware(&self) -> Option<&Middleware> {
        self.middleware.as_ref()
    }

    /// The name of the classifier that answers requests naming none.
    pub fn default_model(&self) -> Option<&str> {
        self.default
            .map(|index| self.classifiers[index].name.as_str())
    }

    /// The names of the classifiers, in the order they were given.
    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.classifiers.iter().map(|entry| entry.name.as_str())
    }

    /// The classifier named `name` (the default when `None`), loading it if it is lazy;
    /// `None` if there is none or it did not load.
    pub fn classifier(&self, name: Option<&str>) -> Option<&Classifier> {
        self.classifier_named(name).ok()
    }

    /// The parser (embedding model and schemas), loading it if it is lazy; `None` if it
    /// did not load.
    #[cfg(feature = "parse")]
    pub fn parser(&self) -> Option<&Parser> {
        self.parser_slot().ok()
    }

    /// Largest body adapters should read; stop reading past it and answer [`Service::body_too_large`].
    pub fn max_body_bytes(&self) -> usize {
        self.budgets.max_body_bytes
    }

    /// The request budgets.
    pub(crate) fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// The classifier `name` names (the default when `None`), loading it on first use. A
    /// lazy load must pass [`Service::fits_beside`]. Errors are the problem to answer:
    /// the service's failure, 404 for a name the deployment does not serve, or why the
    /// model did not load.
    pub(crate) fn classifier_named(&self, name: Option<&str>) -> Result<&Classifier, Problem> {
        if let Some(problem) = &self.failure {
            return Err(problem.clone());
        }
        let index = match name {
            None => self.default.ok_or_else(no_classifier)?,
            Some(name) => match self.index_of(name) {
                Some(index) => index,
                #[cfg(feature = "parse")]
                None if self.is_embedder(name) => {
                    return Err(Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-fields",
                        format!(
                            "{name} is the embedding model, not a classifier: send `labels` \
                             (and no `model`) to choose among them with it"
                        ),
                    ))
                }
                None => {
                    return Err(Problem::from_error(&TriageError::UnknownModel {
                        name: quoted_prefix(name, NAME_IN_ERRORS),
                        known: self.known_models(),
                    }))
                }
            },
        };
        self.classifiers[index]
            .slot
            .get(|classifier| self.fits_beside(Some(index), classifier.memory()))
            .map_err(Clone::clone)
    }

    /// Whether `name` is the loaded embedding model's.
    #[cfg(feature = "parse")]
    fn is_embedder(&self, name: &str) -> bool {
        self.parser
            .peek()
            .is_some_and(|parser| parser.embedder().manifest().name == name)
    }

    /// Index of the classifier named `name`.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.classifiers.iter().position(|entry| entry.name == name)
    }

    /// The served classifiers' names, for error messages: `spam-mini, prompt-guard`.
    pub(crate) fn known_models(&self) -> String {
        let names: Vec<&str> = self.model_names().collect();
        if names.is_empty() {
            "no classifier".into()
        } else {
            names.join(", ")
        }
    }

    /// The parser, loading it on first use beside the loaded classifiers.
    #[cfg(feature = "parse")]
    pub(crate) fn parser_slot(&self) -> Result<&Parser, &Problem> {
        if let Some(problem) = &self.failure {
            return Err(problem);
        }
        self.parser
            .get(|parser| self.fits_beside(None, &parser.memory()))
    }

    /// The generative model, loading it on first use (it checks the instance's memory
    /// limit itself, before reading its weights).
    #[cfg(feature = "generate")]
    pub(crate) fn generator_slot(&self) -> Result<&crate::generate::Generator, &Problem> {
        if let Some(problem) = &self.failure {
            return Err(problem);
        }
        self.generator.get(|_| Ok(()))
    }

    /// Checks that a model with `memory`, loaded now, fits the memory budget beside
    /// everything already loaded (classifier `index`, being loaded, not counted twice;
    /// `None` for the embedding model).
    pub(crate) fn fits_beside(
        &self,
        index: Option<usize>,
        memory: &MemoryEstimate,
    ) -> crate::Result<()> {
        let mut estimate = memory.with_resident(self.cache_reserved_bytes());
        for (other, entry) in self.classifiers.iter().enumerate() {
            if Some(other) != index {
                if let Some(classifier) = entry.slot.peek() {
                    estimate = estimate.alongside(classifier.memory());
                }
            }
        }
        #[cfg(feature = "parse")]
        if index.is_some() {
            if let Some(parser) = self.parser.peek() {
                estimate = estimate.alongside(&parser.memory());
            }
        }
        estimate.check_fits(&self.budgets)?;
        Ok(())
    }

    /// Every loaded model together: all resident, one request at a time.
    pub(crate) fn loaded_memory(&self) -> Option<MemoryEstimate> {
        let classifiers = self
            .classifiers
            .iter()
            .filter_map(|entry| entry.slot.peek().map(|c| *c.memory()));
        #[cfg(feature = "parse")]
        let classifiers = classifiers.chain(self.parser.peek().map(|parser| parser.memory()));
        let reserved = self.cache_reserved_bytes();
        classifiers
            .reduce(|all, one| all.alongside(&one))
            .map(|estimate| estimate.with_resident(reserved))
    }

    /// Memory held for the semantic cache's entries in this process or isolate (0
    /// without a cache).
    fn cache_reserved_bytes(&self) -> usize {
        self.cache
            .as_ref()
            .map_or(0, |cache| cache.memory.reserved_bytes())
    }

    /// The models added with [`ServiceBuilder::pending_classifier`] or
    /// [`ServiceBuilder::pending_embedder`] that `request` needs and that have not been
    /// provided yet: the classifier its `model` names (or the default) for `/v1/classify`
    /// without labels, the embedding model for `/v1/parse` and for labels, the default for
    /// `/healthz`, every one for `/v1/models`, the route's model in middleware mode. The
    /// adapter fetches each and hands it over ([`Service::provide_classifier`],
    /// [`Service::provide_embedder`]) before [`Service::serve`]. The body is read
    /// leniently: a malformed one needs no model (it answers 4xx).
    pub fn wanted_models<B: AsRef<[u8]>>(&self, request: &Request<B>) -> Vec<String> {
        let embedder = self.pending_embedder();
        // Most deployments have nothing pending: then no body is read twice.
        if embedder.is_none() && !self.classifiers.iter().any(|entry| entry.slot.is_pending()) {
            return Vec::new();
        }
        let path = request.uri().path();
        let (wanted, needs_embedder): (Vec<Option<String>>, bool) = match Route::from_path(path) {
            Some(Route::Health) => (vec![None], false),
            Some(Route::Models) => (
                self.model_names().map(|n| Some(n.to_owned())).collect(),
                true,
            ),
            Some(Route::Classify) => {
                #[derive(serde::Deserialize)]
                struct Named {
                    model: Option<String>,
                    labels: Option<serde::de::IgnoredAny>,
                }
                match serde_json::from_slice::<Named>(request.body().as_ref()) {
                    Ok(Named {
                        labels: None,
                        model,
                    }) => (vec![model], false),
                    Ok(Named {
                        labels: Some(_), ..
                    }) => (Vec::new(), true),
                    Err(_) => (Vec::new(), false),
                }
            }
            Some(Route::Parse) => (Vec::new(), true),
            Some(Route::OpenApi | Route::Redact | Route::Generate) => (Vec::new(), false),
            None => match self.middleware.as_ref().and_then(|m| m.rule_for(path)) {
                Some(rule) => (vec![rule.model.clone()], false),
                None => (Vec::new(), false),
            },
        };
        let mut names = Vec::new();
        for name in wanted {
            let index = match name {
                Some(name) => self.index_of(&name),
                None => self.default,
            };
            if let Some(entry) = index.map(|index| &self.classifiers[index]) {
                if entry.slot.is_pending() && !names.contains(&entry.name) {
                    names.push(entry.name.clone());
                }
            }
        }
        if let Some(name) = embedder.filter(|_| needs_embedder) {
            names.push(name.to_owned());
        }
        names
    }

    /// The name of the embedding model added with [`ServiceBuilder::pending_embedder`],
    /// while it has not been provided; `None` otherwise (and without the `parse` feature).
    pub fn pending_embedder(&self) -> Option<&str> {
        #[cfg(feature = "parse")]
        if self.parser.is_pending() {
            return self.pending_embedder.as_deref();
        }
        None
    }

    /// Hands over the embedding model added with [`ServiceBuilder::pending_embedder`], as
    /// the adapter loaded it (or why it could not). It must be named as it was added and
    /// fit the memory budget beside what is loaded, or parse and label requests answer 503
    /// naming why; the deployment's named schemas are compiled for it then. Ignored if no
    /// embedding model is pending.
    #[cfg(feature = "parse")]
    pub fn provide_embedder(&self, loaded: crate::Result<crate::Embedder>) {
        let Some(name) = self.pending_embedder() else {
            return;
        };
        let loaded = loaded.and_then(|embedder| {
            served_as(name, embedder.manifest())?;
            Ok(Parser::new(embedder))
        });
        self.parser
            .fill(loaded, |parser| self.fits_beside(None, &parser.memory()));
    }

    /// Hands over a bundle the adapter fetched for `name`, one of [`Service::wanted_models`]
    /// (or why it could not be fetched), loaded under `settings` as what `name` is pending
    /// as: the embedding model ([`Service::provide_embedder`]) or a classifier
    /// ([`Service::provide_classifier`]).
    pub fn provide_bundle(
        &self,
        name: &str,
        bundle: crate::Result<crate::engine::bundle::BundleBytes<'_>>,
        settings: &Settings,
    ) {
        #[cfg(feature = "parse")]
        if self.pending_embedder() == Some(name) {
            let loaded = bundle.and_then(|bundle| crate::Embedder::load_with(bundle, settings));
            return self.provide_embedder(loaded);
        }
        let loaded = bundle.and_then(|bundle| Classifier::load_with(bundle, settings));
        self.provide_classifier(name, loaded);
    }

    /// Hands over a classifier added with [`ServiceBuilder::pending_classifier`], as the
    /// adapter loaded it (or why it could not). It must be named `name` in its manifest
    /// and fit the memory budget beside what is loaded, or its requests answer 503 naming
    /// why. A name not pending is ignored.
    pub fn provide_classifier(&self, name: &str, loaded: crate::Result<Classifier>) {
        let Some(index) = self.index_of(name) else {
            return;
        };
        let entry = &self.classifiers[index];
        entry.slot.fill(loaded, |classifier| {
            served_as(name, classifier.manifest())?;
            self.fits_beside(Some(index), classifier.memory())
        });
    }

    /// The 413 answer when a declared `Content-Length` is over the limit, checked before
    /// the body is read; `None` when the request may go on.
    pub fn reject_declared_length(&self, headers: &HeaderMap) -> Option<Response<Vec<u8>>> {
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        declared
            .filter(|&len| len > self.max_body_bytes())
            .map(|len| self.body_too_large(len))
    }

    /// The 413 answer for a body of `len` bytes (or more) over the limit.
    pub fn body_too_large(&self, len: usize) -> Response<Vec<u8>> {
        let error = TriageError::from(BudgetExceeded::Body {
            limit: self.max_body_bytes(),
            actual: len,
        });
        problem_response(&Problem::from_error(&error))
    }

    /// Answers one request: the contract's routes, then (in middleware mode) any other
    /// path. The answer may need one outbound request first: an unsure text to escalate,
    /// or a request to forward to an origin; see [`Step`]. A service that could not be set
    /// up answers any other path with its failure, not 404: its middleware configuration,
    /// if any, was never read, and a site behind it must see why it is down.
    pub fn serve(&self, request: Request<Vec<u8>>) -> Step {
        match Route::from_path(request.uri().path()) {
            Some(route) => self.contract(route, &request, true),
            None => match (&self.middleware, &self.failure) {
                (Some(middleware), _) => routes::pass_through(self, middleware, request),
                (None, Some(problem)) => Step::Respond(problem_response(problem)),
                (None, None) => Step::Respond(routes::no_route(&request)),
            },
        }
    }

    /// Answers one request of the contract on its own: no escalation, no middleware.
    pub fn handle<B: AsRef<[u8]>>(&self, request: &Request<B>) -> Response<Vec<u8>> {
        let step = match Route::from_path(request.uri().path()) {
            Some(route) => self.contract(route, request, false),
            None => Step::Respond(routes::no_route(request)),
        };
        match step {
            Step::Respond(response) => response,
            // Only reached with escalation on, which `handle` never asks for.
            Step::Send(outbound) => outbound.finish(Err(SendError::Unreachable(
                "this adapter sends no outbound requests".into(),
            ))),
        }
    }

    fn contract<B: AsRef<[u8]>>(&self, route: Route, request: &Request<B>, escalate: bool) -> Step {
        if request.method() != route.method() {
            let mut response = problem_response(&Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                format!(
                    "{} takes {}, not {}",
                    request.uri().path(),
                    route.method(),
                    request.method()
                ),
            ));
            response.headers_mut().insert(ALLOW, route.allow());
            return Step::Respond(response);
        }
        match route {
            Route::OpenApi => Step::Respond(routes::openapi()),
            Route::Health => Step::Respond(routes::health(self)),
            Route::Models => Step::Respond(routes::models(self)),
            Route::Classify => routes::classify(self, request, escalate),
            #[cfg(feature = "parse")]
            Route::Parse => crate::http::parse_routes::parse(self, request, escalate),
            #[cfg(not(feature = "parse"))]
            Route::Parse => Step::Respond(routes::not_built("/v1/parse")),
            #[cfg(feature = "generate")]
            Route::Generate => Step::Respond(crate::http::generate_routes::generate(self, request)),
            #[cfg(not(feature = "generate"))]
            Route::Generate => Step::Respond(routes::generate_not_built("/v1/generate")),
            Route::Redact => Step::Respond(crate::http::redact_route::redact(self, request)),
        }
    }
}

/// Checks that a model fetched or loaded for the name `name` (a lazy or pending
/// classifier, a pending embedding model) carries that name in its `manifest`: requests
/// and `/v1/models` know it by that name.
pub(crate) fn served_as(name: &str, manifest: &crate::Manifest) -> crate::Result<()> {
    let found = &manifest.name;
    if found == name {
        return Ok(());
    }
    Err(TriageError::Config(format!(
        "the bundle served as {name:?} is named {found:?} in its manifest"
    )))
}

/// Most bytes of a requested model name quoted in an error, so that a request cannot have
/// its whole body echoed back.
const NAME_IN_ERRORS: usize = 100;

/// The 503 for classify requests when the deployment has no classifier at all.
fn no_classifier() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "model-unavailable",
        "this deployment serves no classifier: /v1/classify answers only with labels",
    )
}
