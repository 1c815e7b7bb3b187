//! The HTTP contract as a plain function from `http::Request` to `http::Response`, so that
//! each platform adapter only converts its own request and response types.

use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::budget::{BudgetExceeded, Budgets};
use crate::classify::{Classifier, Timings};
use crate::embed::Embedder;
use crate::error::TriageError;
use crate::escalation::Escalation;
use crate::http::api::{
    Answer, ClassifyBatchResponse, ClassifyResponse, Health, MemoryReport, ModelRef, ModelSummary,
    ModelsResponse, ParseInfo, ParseResponse,
};
use crate::http::outbound::{Outbound, SendError, Step};
use crate::http::parser_slot::ParserSlot;
use crate::http::problem::{Problem, PROBLEM_JSON};
use crate::http::request::{ClassifyCall, ClassifyInput, ParseCall, SchemaRef, JSON};
use crate::memory::current_memory_bytes;
use crate::middleware::{Action, Middleware, Verdict};
use crate::parse::{Parser, SCHEMA_CACHE_ENTRIES};
use crate::schema::LabelSpec;

/// The setting holding the middleware configuration (`TRIAGE_MIDDLEWARE` as a variable).
pub const MIDDLEWARE_KEY: &str = "middleware";

/// The setting holding the deployment's named schemas for `/v1/parse` (`TRIAGE_SCHEMAS`):
/// a JSON object of name to JSON Schema, added to the shipped ones.
pub const SCHEMAS_KEY: &str = "schemas";

/// The OpenAPI 3.1 document of the contract, served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The routes of the contract and the one method each accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    Models,
    Classify,
    Parse,
    OpenApi,
}

impl Route {
    fn from_path(path: &str) -> Option<Route> {
        match path {
            "/healthz" => Some(Route::Health),
            "/v1/models" => Some(Route::Models),
            "/v1/classify" => Some(Route::Classify),
            "/v1/parse" => Some(Route::Parse),
            "/openapi.json" => Some(Route::OpenApi),
            _ => None,
        }
    }

    fn method(self) -> Method {
        match self {
            Route::Classify | Route::Parse => Method::POST,
            Route::Health | Route::Models | Route::OpenApi => Method::GET,
        }
    }

    /// The `Allow` header value for this route.
    fn allow(self) -> HeaderValue {
        match self {
            Route::Classify | Route::Parse => HeaderValue::from_static("POST"),
            Route::Health | Route::Models | Route::OpenApi => HeaderValue::from_static("GET"),
        }
    }
}

/// Serves the contract for one classifier. If the bundle failed to load, every model
/// route answers 503 with the reason, so a broken deployment says why instead of crashing.
#[derive(Debug)]
pub struct Service {
    classifier: Result<Classifier, Problem>,
    /// The embedding model behind `/v1/parse` and ad-hoc labels, with its schema cache.
    parser: ParserSlot,
    /// Hybrid routing: where unsure single-text answers go ([`crate::escalation`]).
    escalation: Option<Escalation>,
    /// Middleware mode: the routes classified on their way to an origin.
    middleware: Option<Middleware>,
}

impl Service {
    /// A service answering with `classifier`.
    pub fn new(classifier: Classifier) -> Service {
        Service {
            classifier: Ok(classifier),
            parser: ParserSlot::ready(Err(no_embedder())),
            escalation: None,
            middleware: None,
        }
    }

    /// A service whose model could not be loaded; it answers 503 problem+json naming `error`.
    pub fn unavailable(error: &TriageError) -> Service {
        Service::without_model(Problem::from_error(error))
    }

    /// A service with no model, for a reason the adapter found itself (a model source it
    /// could not reach); its model routes (parse included, unless [`Service::with_embedder`]
    /// follows) answer `problem`, the rest are served as usual.
    pub fn without_model(problem: Problem) -> Service {
        Service {
            parser: ParserSlot::ready(Err(problem.clone())),
            classifier: Err(problem),
            escalation: None,
            middleware: None,
        }
    }

    /// Loads `classifier` or, when that fails, a service that reports the failure.
    pub fn from_load(result: Result<Classifier, TriageError>) -> Service {
        match result {
            Ok(classifier) => Service::new(classifier),
            Err(error) => Service::unavailable(&error),
        }
    }

    /// Adds the embedding model that answers `/v1/parse` and `/v1/classify` with `labels`.
    /// If it failed to load, or it does not fit the memory budget beside the classifier,
    /// those requests answer 503 naming why; the classifier's routes are unaffected.
    pub fn with_embedder(mut self, embedder: Result<Embedder, TriageError>) -> Service {
        let fits = self.memory_check();
        let parser = embedder.and_then(|embedder| fits(Parser::new(embedder)));
        self.parser = ParserSlot::ready(parser.map_err(|error| Problem::from_error(&error)));
        self
    }

    /// [`Service::with_embedder`], but the model is loaded by the first request that needs
    /// it: for Workers, where every cold isolate would otherwise pay for it.
    pub fn with_lazy_embedder(
        mut self,
        load: impl Fn() -> Result<Embedder, TriageError> + Send + Sync + 'static,
    ) -> Service {
        let fits = self.memory_check();
        self.parser = ParserSlot::lazy(move || fits(Parser::new(load()?)));
        self
    }

    /// Checks a parser against the memory budget beside the classifier, if there is one.
    fn memory_check(&self) -> impl Fn(Parser) -> crate::Result<Parser> + Send + Sync + 'static {
        let classifier = self
            .classifier()
            .map(|classifier| (*classifier.memory(), *classifier.budgets()));
        move |parser: Parser| {
            if let Some((memory, budgets)) = classifier {
                memory.alongside(&parser.memory()).check_fits(&budgets)?;
            }
            Ok(parser)
        }
    }

    /// Reads the service settings through `lookup` (snake-case keys, as
    /// [`crate::Settings::from_lookup`]): [`crate::escalation::KEYS`], [`MIDDLEWARE_KEY`] (the
    /// JSON of [`crate::middleware`]) and [`SCHEMAS_KEY`]. The escalation threshold defaults
    /// to the model's. A setting that does not parse makes every model route answer 503
    /// naming it.
    pub fn configure(self, lookup: impl Fn(&'static str) -> Option<String>) -> Service {
        match self.try_configure(lookup) {
            Ok(service) => service,
            Err(error) => Service::unavailable(&error),
        }
    }

    /// [`Service::configure`], but a setting that does not parse is an error, for adapters
    /// that can refuse to start.
    pub fn try_configure(
        mut self,
        lookup: impl Fn(&'static str) -> Option<String>,
    ) -> crate::Result<Service> {
        let threshold = self
            .classifier()
            .map_or(1.0, |classifier| classifier.manifest().threshold);
        self.escalation = Escalation::from_lookup(&lookup, threshold)?;
        self.middleware = lookup(MIDDLEWARE_KEY)
            .filter(|text| !text.trim().is_empty())
            .map(|text| Middleware::from_json(&text))
            .transpose()?;
        if let Some(json) = lookup(SCHEMAS_KEY).filter(|text| !text.trim().is_empty()) {
            self.parser = self
                .parser
                .then(move |parser| parser.with_named_schemas(&json))?;
        }
        Ok(self)
    }

    /// The escalation settings, if hybrid routing is on.
    pub fn escalation(&self) -> Option<&Escalation> {
        self.escalation.as_ref()
    }

    /// The middleware configuration, if middleware mode is on.
    pub fn middleware(&self) -> Option<&Middleware> {
        self.middleware.as_ref()
    }

    /// The classifier, if it loaded.
    pub fn classifier(&self) -> Option<&Classifier> {
        self.classifier.as_ref().ok()
    }

    /// The parser (embedding model and schemas), loading it if it is lazy; `None` if it
    /// did not load.
    pub fn parser(&self) -> Option<&Parser> {
        self.parser.get().ok()
    }

    /// Largest body adapters should read; stop reading past it and answer [`Service::body_too_large`].
    pub fn max_body_bytes(&self) -> usize {
        self.budgets().max_body_bytes
    }

    /// The request budgets: the classifier's, else the embedding model's (both come from
    /// the same settings), else the defaults.
    fn budgets(&self) -> Budgets {
        match (&self.classifier, self.parser.peek()) {
            (Ok(classifier), _) => *classifier.budgets(),
            (Err(_), Some(parser)) => *parser.embedder().budgets(),
            (Err(_), None) => Budgets::default(),
        }
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
    /// or a request to forward to an origin; see [`Step`].
    pub fn serve(&self, request: Request<Vec<u8>>) -> Step {
        match Route::from_path(request.uri().path()) {
            Some(route) => self.contract(route, &request, true),
            None => match &self.middleware {
                Some(middleware) => self.pass_through(middleware, request),
                None => Step::Respond(no_route(&request)),
            },
        }
    }

    /// Answers one request of the contract on its own: no escalation, no middleware.
    pub fn handle<B: AsRef<[u8]>>(&self, request: &Request<B>) -> Response<Vec<u8>> {
        let step = match Route::from_path(request.uri().path()) {
            Some(route) => self.contract(route, request, false),
            None => Step::Respond(no_route(request)),
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
        let escalation = self.escalation.as_ref().filter(|_| escalate);
        let response = match route {
            Route::OpenApi => {
                bytes_response(StatusCode::OK, JSON, OPENAPI_JSON.as_bytes().to_vec())
            }
            Route::Health => self.with_classifier(|classifier| {
                json_response(
                    StatusCode::OK,
                    &Health {
                        status: "ok",
                        model: ModelRef::from(classifier.manifest()),
                    },
                )
            }),
            Route::Models => self.with_classifier(|classifier| {
                json_response(StatusCode::OK, &models(classifier, self.parser()))
            }),
            Route::Classify => {
                let call = match ClassifyCall::parse(
                    request.headers(),
                    request.body().as_ref(),
                    &self.budgets(),
                ) {
                    Ok(call) => call,
                    Err(problem) => return Step::Respond(problem_response(&problem)),
                };
                // The parser is only asked for (and, when lazy, loaded) for labels.
                match (call.labels, &self.classifier) {
                    (Some(labels), _) => match self.parser.get() {
                        Ok(parser) => classify_labels(parser, call.input, &labels),
                        Err(problem) => problem_response(problem),
                    },
                    (None, Err(problem)) => problem_response(problem),
                    (None, Ok(classifier)) => return classify(classifier, call.input, escalation),
                }
            }
            Route::Parse => match self.parser.get() {
                Ok(parser) => parse(parser, request),
                Err(problem) => problem_response(problem),
            },
        };
        Step::Respond(response)
    }

    /// Middleware mode: classifies the request if a route names its path, then blocks it
    /// or forwards it (annotated) to the origin its label calls for when the answer is
    /// confident, or as the route's `unsure` says when it is not; any other path goes to
    /// the origin as it came.
    fn pass_through(&self, middleware: &Middleware, request: Request<Vec<u8>>) -> Step {
        let (parts, body) = request.into_parts();
        let Some(rule) = middleware.rule_for(parts.uri.path()) else {
            return forward(middleware, middleware.forward(&parts, body, None, None));
        };
        let classifier = match &self.classifier {
            Ok(classifier) => classifier,
            Err(problem) => return Step::Respond(problem_response(problem)),
        };
        let text = match rule.text_of(&parts.headers, &body) {
            Ok(text) => text,
            Err(problem) => return Step::Respond(problem_response(&problem)),
        };
        let result = match classifier.classify(&text) {
            Ok(result) => result,
            Err(error) => return Step::Respond(problem_response(&Problem::from_error(&error))),
        };
        let verdict = Some(Verdict {
            label: &result.label,
            score: result.score,
            confident: result.confident,
        });
        // Labels act only on what the model is sure of; an answer that is not confident (a
        // low score, or text the model cannot read) gets the route's `unsure` action.
        match rule.action_for(&result.label, result.confident) {
            Action::Block => Step::Respond(problem_response(&Problem::new(
                StatusCode::FORBIDDEN,
                "blocked",
                format!(
                    "{} does not accept text classified as {} (score {:.3}{})",
                    rule.path_prefix,
                    result.label,
                    result.score,
                    if result.confident {
                        ""
                    } else {
                        ", not confident"
                    }
                ),
            ))),
            Action::Annotate => {
                forward(middleware, middleware.forward(&parts, body, None, verdict))
            }
            Action::Route(to) => forward(
                middleware,
                middleware.forward(&parts, body, Some(to), verdict),
            ),
        }
    }

    /// Answers with `answer(classifier)`, or with the load failure when there is none.
    fn with_classifier(
        &self,
        answer: impl FnOnce(&Classifier) -> Response<Vec<u8>>,
    ) -> Response<Vec<u8>> {
        match &self.classifier {
            Ok(classifier) => answer(classifier),
            Err(problem) => problem_response(problem),
        }
    }
}

fn models(classifier: &Classifier, parser: Option<&Parser>) -> ModelsResponse {
    let mut models: Vec<ModelSummary> = vec![classifier.manifest().into()];
    let mut estimate = *classifier.memory();
    if let Some(parser) = parser {
        models.push(parser.embedder().manifest().into());
        estimate = estimate.alongside(&parser.memory());
    }
    ModelsResponse {
        parse: parser.map(|parser| ParseInfo {
            model: ModelRef::from(parser.embedder().manifest()),
            schemas: parser.schema_names().map(str::to_owned).collect(),
            budgets: *parser.budgets(),
            cache_entries: SCHEMA_CACHE_ENTRIES,
        }),
        models,
        budgets: *classifier.budgets(),
        memory: MemoryReport {
            estimate,
            budget_bytes: classifier.budgets().memory_bytes,
            current_bytes: current_memory_bytes(),
        },
    }
}

/// The 404 for a path that is neither the contract's nor a middleware route.
fn no_route<B>(request: &Request<B>) -> Response<Vec<u8>> {
    problem_response(&Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no route {}; see /openapi.json", request.uri().path()),
    ))
}

/// The step that sends `request` on to an origin.
fn forward(middleware: &Middleware, request: crate::Result<Request<Vec<u8>>>) -> Step {
    match request {
        Ok(request) => Step::Send(Box::new(Outbound::forward(request, middleware.timeout))),
        Err(error) => Step::Respond(problem_response(&Problem::from_error(&error))),
    }
}

fn classify(
    classifier: &Classifier,
    input: ClassifyInput,
    escalation: Option<&Escalation>,
) -> Step {
    let model = ModelRef::from(classifier.manifest());
    let mut timings = Timings::default();
    let response = match input {
        ClassifyInput::One(text) => {
            let result = match classifier.classify_timed(&text, &mut timings) {
                Ok(result) => result,
                Err(error) => return Step::Respond(problem_response(&Problem::from_error(&error))),
            };
            if let Some(escalation) = escalation.filter(|e| e.wants(&result)) {
                match escalation.request(&text, &result, &model) {
                    Ok(outbound) => {
                        return Step::Send(Box::new(Outbound::escalation(
                            outbound,
                            escalation.timeout,
                            model,
                            result,
                            classifier.manifest().threshold,
                            timings,
                        )))
                    }
                    Err(error) => {
                        return Step::Respond(problem_response(&Problem::from_error(&error)))
                    }
                }
            }
            let answer = Answer::local(result);
            json_response(StatusCode::OK, &ClassifyResponse { model, answer })
        }
        ClassifyInput::Many(texts) => match classifier.classify_batch_timed(&texts, &mut timings) {
            Ok(results) => {
                let results = results.into_iter().map(Answer::local).collect();
                json_response(StatusCode::OK, &ClassifyBatchResponse { model, results })
            }
            Err(error) => return Step::Respond(problem_response(&Problem::from_error(&error))),
        },
    };
    Step::Respond(with_server_timing(response, &timings))
}

/// Ad-hoc labels, zero/few-shot by the embedding model. Never escalated: the escalation
/// endpoint answers for the deployment's labels, not the request's.
fn classify_labels(
    parser: &Parser,
    input: ClassifyInput,
    labels: &[LabelSpec],
) -> Response<Vec<u8>> {
    let model = ModelRef::from(parser.embedder().manifest());
    let mut timings = Timings::default();
    let results = match parser.classify_labels(input.texts(), labels, &mut timings) {
        Ok(results) => results,
        Err(error) => return problem_response(&Problem::from_error(&error)),
    };
    let response = match input {
        ClassifyInput::One(_) => match results.into_iter().next() {
            Some(result) => json_response(
                StatusCode::OK,
                &ClassifyResponse {
                    model,
                    answer: Answer::local(result),
                },
            ),
            None => problem_response(&Problem::from_error(&TriageError::Inference(
                "no result for the text".into(),
            ))),
        },
        ClassifyInput::Many(_) => {
            let results = results.into_iter().map(Answer::local).collect();
            json_response(StatusCode::OK, &ClassifyBatchResponse { model, results })
        }
    };
    with_server_timing(response, &timings)
}

/// `POST /v1/parse`: the text decoded into an object its schema allows.
fn parse<B: AsRef<[u8]>>(parser: &Parser, request: &Request<B>) -> Response<Vec<u8>> {
    let call = match ParseCall::parse(
        request.headers(),
        request.body().as_ref(),
        parser.embedder().budgets(),
        parser.budgets().max_schema_bytes,
    ) {
        Ok(call) => call,
        Err(problem) => return problem_response(&problem),
    };
    let mut timings = Timings::default();
    let (name, compiled) = match call.schema {
        SchemaRef::Named(name) => {
            let compiled = parser.named(&name);
            (Some(name), compiled)
        }
        SchemaRef::Inline(document, bytes) => (None, parser.compile(document, bytes)),
    };
    let parsed = compiled
        .and_then(|compiled| parser.parse(&call.text, &compiled, call.threshold, &mut timings));
    match parsed {
        Ok(parsed) => with_server_timing(
            json_response(
                StatusCode::OK,
                &ParseResponse {
                    model: ModelRef::from(parser.embedder().manifest()),
                    schema: name,
                    parsed,
                    source: "local",
                },
            ),
            &timings,
        ),
        Err(error) => problem_response(&Problem::from_error(&error)),
    }
}

/// The 503 for parse and label requests when no embedding model was given.
fn no_embedder() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "model-unavailable",
        "no embedding model is loaded: /v1/parse and /v1/classify with labels need one",
    )
}

/// Adds the tokenize and inference times to `response` as `Server-Timing`.
pub(crate) fn with_server_timing(
    mut response: Response<Vec<u8>>,
    timings: &Timings,
) -> Response<Vec<u8>> {
    let timing = format!(
        "tokenize;dur={:.3}, inference;dur={:.3}",
        timings.tokenize_ms, timings.inference_ms
    );
    if let Ok(value) = HeaderValue::from_str(&timing) {
        response.headers_mut().insert(SERVER_TIMING, value);
    }
    response
}

/// Appends `entry` (`name;dur=<ms>[;desc="..."]`) to a response's `Server-Timing`, after
/// any entries already there: for adapters reporting their own costs, such as what a cold
/// instance paid to load its models.
pub fn append_server_timing(headers: &mut HeaderMap, entry: &str) {
    let value = match headers.get(SERVER_TIMING).and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {entry}"),
        None => entry.to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(SERVER_TIMING, value);
    }
}

const SERVER_TIMING: &str = "server-timing";

/// A problem+json response.
pub fn problem_response(problem: &Problem) -> Response<Vec<u8>> {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    bytes_response(problem.status_code(), PROBLEM_JSON, body)
}

pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<Vec<u8>> {
    match serde_json::to_vec(value) {
        Ok(body) => bytes_response(status, JSON, body),
        Err(e) => problem_response(&Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("response could not be serialised: {e}"),
        )),
    }
}

fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
