//! What each route of the contract answers, given the [`Service`] it runs in: health, the
//! model list, classify by a named classifier, and middleware mode's pass-through; and the
//! response helpers they share. Parse and ad-hoc labels are in `parse_routes` (feature
//! `parse`); without the feature they answer 501 from here.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use serde::Serialize;

use crate::engine::classify::{Classifier, Timings};
use crate::engine::memory::current_memory_bytes;
use crate::error::TriageError;
use crate::http::api::{
    Answer, ClassifyBatchResponse, ClassifyResponse, Health, MemoryReport, ModelRef, ModelSummary,
    ModelsResponse, UnavailableModel,
};
use crate::http::hybrid::cache::{self as hybrid_cache, Pending};
use crate::http::hybrid::escalation::RemoteAnswer;
use crate::http::hybrid::escalation::{Escalation, Provenance};
use crate::http::hybrid::middleware::{Action, Middleware, Verdict};
use crate::http::outbound::{cached_answer, Outbound, Step};
#[cfg(feature = "parse")]
use crate::http::parse_routes;
use crate::http::problem::{Problem, PROBLEM_JSON};
use crate::http::request::{ClassifyCall, ClassifyInput, JSON};
use crate::http::service::Service;

/// The OpenAPI 3.1 document of the contract, served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// `GET /openapi.json`: [`OPENAPI_JSON`], without `/v1/parse` in a build without the
/// `parse` feature and without `/v1/redact` in one without `redact` (the document lists
/// what the build serves).
pub(crate) fn openapi() -> Response<Vec<u8>> {
    #[cfg(not(all(feature = "parse", feature = "redact", feature = "generate")))]
    {
        // Edited once per process or isolate, not on every request.
        static DOCUMENT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let document = DOCUMENT.get_or_init(|| {
            let Ok(mut document) = serde_json::from_str::<serde_json::Value>(OPENAPI_JSON) else {
                return OPENAPI_JSON.as_bytes().to_vec();
            };
            if let Some(paths) = document["paths"].as_object_mut() {
                #[cfg(not(feature = "parse"))]
                paths.remove("/v1/parse");
                #[cfg(not(feature = "redact"))]
                paths.remove("/v1/redact");
                #[cfg(not(feature = "generate"))]
                paths.remove("/v1/generate");
            }
            serde_json::to_vec(&document).unwrap_or_else(|_| OPENAPI_JSON.as_bytes().to_vec())
        });
        bytes_response(StatusCode::OK, JSON, document.clone())
    }
    #[cfg(all(feature = "parse", feature = "redact", feature = "generate"))]
    bytes_response(StatusCode::OK, JSON, OPENAPI_JSON.as_bytes().to_vec())
}

/// `GET /healthz`: the default model, which must load.
pub(crate) fn health(service: &Service) -> Response<Vec<u8>> {
    match service.classifier_named(None) {
        Ok(classifier) => json_response(
            StatusCode::OK,
            &Health {
                status: "ok",
                model: ModelRef::from(classifier.manifest()),
            },
        ),
        Err(problem) => problem_response(&problem),
    }
}

/// `GET /v1/models`: every classifier (loading the lazy ones: an operator asking what the
/// deployment serves gets every model's checksum and budget), then the embedding model.
/// 503 when the default model cannot load; another that cannot is listed as unavailable.
pub(crate) fn models(service: &Service) -> Response<Vec<u8>> {
    let default = match service.classifier_named(None) {
        Ok(classifier) => classifier.manifest().name.clone(),
        Err(problem) => return problem_response(&problem),
    };
    let mut models = Vec::new();
    let mut unavailable = Vec::new();
    for name in service.model_names() {
        match service.classifier_named(Some(name)) {
            Ok(classifier) => models.push(ModelSummary::new(
                classifier.manifest(),
                *classifier.memory(),
            )),
            Err(problem) => unavailable.push(UnavailableModel {
                name: name.to_owned(),
                problem,
            }),
        }
    }
    #[cfg(feature = "parse")]
    let parse = parse_routes::parse_info(service, &mut models);
    let budgets = *service.budgets();
    let Some(estimate) = service.loaded_memory() else {
        return problem_response(&Problem::from_error(&TriageError::Config(
            "no model is loaded".into(),
        )));
    };
    json_response(
        StatusCode::OK,
        &ModelsResponse {
            default,
            #[cfg(feature = "parse")]
            parse,
            #[cfg(feature = "generate")]
            generate: crate::http::generate_routes::generate_info(service),
            models,
            unavailable,
            budgets,
            memory: MemoryReport {
                estimate,
                budget_bytes: budgets.memory_bytes,
                current_bytes: current_memory_bytes(),
            },
        },
    )
}

/// `POST /v1/classify`: by the classifier the request names (or the default), or by the
/// embedding model when it gives labels.
pub(crate) fn classify<B: AsRef<[u8]>>(
    service: &Service,
    request: &Request<B>,
    escalate: bool,
) -> Step {
    let call = match ClassifyCall::parse(
        request.headers(),
        request.body().as_ref(),
        service.budgets(),
    ) {
        Ok(call) => call,
        Err(problem) => return Step::Respond(problem_response(&problem)),
    };
    #[cfg(feature = "parse")]
    if let Some(labels) = call.labels {
        return parse_routes::labels(service, call.input, &labels);
    }
    #[cfg(not(feature = "parse"))]
    if call.labels.is_some() {
        return Step::Respond(not_built("/v1/classify with `labels`"));
    }
    let classifier = match service.classifier_named(call.model.as_deref()) {
        Ok(classifier) => classifier,
        Err(problem) => return Step::Respond(problem_response(&problem)),
    };
    let escalation = service
        .escalation()
        .filter(|_| escalate)
        .filter(|escalation| escalates(service, escalation, classifier));
    classify_with(service, classifier, call.input, escalation)
}

/// Whether `escalation` applies to `classifier`'s answers: those of the model it names,
/// else the default model's.
fn escalates(service: &Service, escalation: &Escalation, classifier: &Classifier) -> bool {
    let escalated = escalation.model.as_deref().or(service.default_model());
    escalated == Some(classifier.manifest().name.as_str())
}

/// Middleware mode: classifies the request if a route names its path (with the route's
/// model), then blocks it or forwards it (annotated) to the origin its label calls for
/// when the answer is confident, or as the route's `unsure` says when it is not; any other
/// path goes to the origin as it came.
pub(crate) fn pass_through(
    service: &Service,
    middleware: &Middleware,
    request: Request<Vec<u8>>,
) -> Step {
    let (parts, body) = request.into_parts();
    let Some(rule) = middleware.rule_for(parts.uri.path()) else {
        return forward(middleware, middleware.forward(&parts, body, None, None));
    };
    let classifier = match service.classifier_named(rule.model.as_deref()) {
        Ok(classifier) => classifier,
        Err(problem) => return Step::Respond(problem_response(&problem)),
    };
    let text = match rule.text_of(&parts.headers, &body) {
        Ok(text) => text,
        Err(problem) => return Step::Respond(problem_response(&problem)),
    };
    #[cfg(feature = "redact")]
    if let Some(problem) = rule.refusal(&text, &service.redaction().redactor) {
        return Step::Respond(problem_response(&problem));
    }
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
        Action::Annotate => forward(middleware, middleware.forward(&parts, body, None, verdict)),
        #[cfg(feature = "redact")]
        Action::Redact => match rule.redact_body(body, &text, &service.redaction().redactor) {
            Ok(body) => forward(middleware, middleware.forward(&parts, body, None, verdict)),
            Err(problem) => Step::Respond(problem_response(&problem)),
        },
        // Only built with the `redact` feature (the configuration refuses it otherwise).
        #[cfg(not(feature = "redact"))]
        Action::Redact => forward(middleware, middleware.forward(&parts, body, None, verdict)),
        Action::Route(to) => forward(
            middleware,
            middleware.forward(&parts, body, Some(to), verdict),
        ),
    }
}

/// The 501 for a request a build without the `parse` feature cannot answer (`what`:
/// `/v1/parse`, or classify with `labels`): it needs the embedding model's decoders.
#[cfg(not(feature = "parse"))]
pub(crate) fn not_built(what: &str) -> Response<Vec<u8>> {
    problem_response(&Problem::new(
        StatusCode::NOT_IMPLEMENTED,
        "not-built",
        format!(
            "{what} needs the embedding model and its decoders, which this build leaves out: \
             build it with triage-core's `parse` feature (the Cloudflare worker's default)"
        ),
    ))
}

/// The 501 for a generation request (`/v1/generate`, `/v1/parse` with `"decoder":
/// "generate"`) in a build without the `generate` feature.
#[cfg(not(feature = "generate"))]
pub(crate) fn generate_not_built(what: &str) -> Response<Vec<u8>> {
    problem_response(&Problem::new(
        StatusCode::NOT_IMPLEMENTED,
        "not-built",
        format!(
            "{what} needs the generative model, which this build leaves out: build it with \
             triage-core's `generate` feature (the native server's `--features generate`, the \
             Spin component)"
        ),
    ))
}

/// The 404 for a path that is neither the contract's nor a middleware route.
pub(crate) fn no_route<B>(request: &Request<B>) -> Response<Vec<u8>> {
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

fn classify_with(
    service: &Service,
    classifier: &Classifier,
    input: ClassifyInput,
    escalation: Option<&Escalation>,
) -> Step {
    let model = ModelRef::from(classifier.manifest());
    let threshold = classifier.manifest().threshold;
    let mut timings = Timings::default();
    let response = match input {
        ClassifyInput::One(text) => {
            let result = match classifier.classify_timed(&text, &mut timings) {
                Ok(result) => result,
                Err(error) => return Step::Respond(problem_response(&Problem::from_error(&error))),
            };
            if let Some(escalation) = escalation.filter(|e| e.wants(&result, threshold)) {
                // Personal data leaves only as the redaction settings allow; text holding
                // a refused type is answered here, saying so.
                let sent = match service.redaction().escalated_text(&text) {
                    Ok(sent) => sent,
                    Err(refused) => {
                        let answer = Answer {
                            result,
                            provenance: Provenance::Local {
                                escalation: Some(refused),
                            },
                        };
                        let response =
                            json_response(StatusCode::OK, &ClassifyResponse { model, answer });
                        return Step::Respond(with_server_timing(response, &timings));
                    }
                };
                // A remote answer kept for this text, or a similar one, is given again.
                let pending = match &service.cache {
                    Some(cache) => {
                        let manifest = classifier.manifest();
                        // Similar texts only when the edge model read all of this one.
                        let embedding = (result.readable && !result.truncated)
                            .then(|| hybrid_cache::embedding(service, cache, &sent, &mut timings))
                            .flatten();
                        // The edge model's label is in the scope: a cached answer is only
                        // given to a text the edge model read the same way, which its word
                        // order (that the embedding does not see) takes part in.
                        let config = format!("{}\n{}", manifest.labels.join("\n"), result.label);
                        let probe = cache.probe(
                            "classify",
                            manifest,
                            &config,
                            &escalation.endpoint,
                            &sent,
                            embedding,
                        );
                        if let Some(hit) = cache.memory.get(&probe, cache.similarity) {
                            if let Ok(remote) = serde_json::from_slice::<RemoteAnswer>(&hit.value) {
                                return Step::Respond(cached_answer(
                                    model,
                                    result,
                                    remote,
                                    hit.similarity,
                                    threshold,
                                    &timings,
                                ));
                            }
                        }
                        Some(Pending::new(cache, probe))
                    }
                    None => None,
                };
                return match escalation.request(&sent, &result, &model) {
                    Ok(outbound) => Step::Send(Box::new(Outbound::escalation(
                        outbound,
                        escalation.endpoint.timeout,
                        model,
                        result,
                        threshold,
                        timings,
                        pending,
                    ))),
                    Err(error) => Step::Respond(problem_response(&Problem::from_error(&error))),
                };
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
