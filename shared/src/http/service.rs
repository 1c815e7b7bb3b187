//! The HTTP contract as a plain function from `http::Request` to `http::Response`, so that
//! each platform adapter only converts its own request and response types.

use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::budget::{BudgetExceeded, Budgets};
use crate::classify::{Classifier, Timings};
use crate::error::TriageError;
use crate::http::api::{
    ClassifyBatchResponse, ClassifyResponse, Health, MemoryReport, ModelRef, ModelsResponse,
};
use crate::http::problem::{Problem, PROBLEM_JSON};
use crate::http::request::{ClassifyInput, JSON};
use crate::memory::current_memory_bytes;

/// The OpenAPI 3.1 document of the contract, served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The routes of the contract and the one method each accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    Models,
    Classify,
    OpenApi,
}

impl Route {
    fn from_path(path: &str) -> Option<Route> {
        match path {
            "/healthz" => Some(Route::Health),
            "/v1/models" => Some(Route::Models),
            "/v1/classify" => Some(Route::Classify),
            "/openapi.json" => Some(Route::OpenApi),
            _ => None,
        }
    }

    fn method(self) -> Method {
        match self {
            Route::Classify => Method::POST,
            Route::Health | Route::Models | Route::OpenApi => Method::GET,
        }
    }

    /// The `Allow` header value for this route.
    fn allow(self) -> HeaderValue {
        match self {
            Route::Classify => HeaderValue::from_static("POST"),
            Route::Health | Route::Models | Route::OpenApi => HeaderValue::from_static("GET"),
        }
    }
}

/// Serves the contract for one classifier. If the bundle failed to load, every model
/// route answers 503 with the reason, so a broken deployment says why instead of crashing.
#[derive(Debug)]
pub struct Service {
    classifier: Result<Classifier, Problem>,
}

impl Service {
    /// A service answering with `classifier`.
    pub fn new(classifier: Classifier) -> Service {
        Service {
            classifier: Ok(classifier),
        }
    }

    /// A service whose model could not be loaded; it answers 503 problem+json naming `error`.
    pub fn unavailable(error: &TriageError) -> Service {
        Service::without_model(Problem::from_error(error))
    }

    /// A service with no model, for a reason the adapter found itself (a model source it
    /// could not reach); its model routes answer `problem`, the rest are served as usual.
    pub fn without_model(problem: Problem) -> Service {
        Service {
            classifier: Err(problem),
        }
    }

    /// Loads `classifier` or, when that fails, a service that reports the failure.
    pub fn from_load(result: Result<Classifier, TriageError>) -> Service {
        match result {
            Ok(classifier) => Service::new(classifier),
            Err(error) => Service::unavailable(&error),
        }
    }

    /// The classifier, if it loaded.
    pub fn classifier(&self) -> Option<&Classifier> {
        self.classifier.as_ref().ok()
    }

    /// Largest body adapters should read; stop reading past it and answer [`Service::body_too_large`].
    pub fn max_body_bytes(&self) -> usize {
        self.classifier
            .as_ref()
            .map(|c| c.budgets().max_body_bytes)
            .unwrap_or(Budgets::default().max_body_bytes)
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

    /// Answers one request of the contract.
    pub fn handle<B: AsRef<[u8]>>(&self, request: &Request<B>) -> Response<Vec<u8>> {
        let Some(route) = Route::from_path(request.uri().path()) else {
            return problem_response(&Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no route {}; see /openapi.json", request.uri().path()),
            ));
        };
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
            return response;
        }
        match route {
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
            Route::Models => self
                .with_classifier(|classifier| json_response(StatusCode::OK, &models(classifier))),
            Route::Classify => self.with_classifier(|classifier| classify(classifier, request)),
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

fn models(classifier: &Classifier) -> ModelsResponse {
    ModelsResponse {
        models: vec![classifier.manifest().into()],
        budgets: *classifier.budgets(),
        memory: MemoryReport {
            estimate: *classifier.memory(),
            budget_bytes: classifier.budgets().memory_bytes,
            current_bytes: current_memory_bytes(),
        },
    }
}

fn classify<B: AsRef<[u8]>>(classifier: &Classifier, request: &Request<B>) -> Response<Vec<u8>> {
    let body = request.body().as_ref();
    let input = match ClassifyInput::parse(request.headers(), body, classifier.budgets()) {
        Ok(input) => input,
        Err(problem) => return problem_response(&problem),
    };
    let model = ModelRef::from(classifier.manifest());
    let mut timings = Timings::default();
    let response =
        match input {
            ClassifyInput::One(text) => classifier
                .classify_timed(&text, &mut timings)
                .map(|result| json_response(StatusCode::OK, &ClassifyResponse { model, result })),
            ClassifyInput::Many(texts) => classifier
                .classify_batch_timed(&texts, &mut timings)
                .map(|results| {
                    json_response(StatusCode::OK, &ClassifyBatchResponse { model, results })
                }),
        };
    match response {
        Ok(mut response) => {
            let timing = format!(
                "tokenize;dur={:.3}, inference;dur={:.3}",
                timings.tokenize_ms, timings.inference_ms
            );
            if let Ok(value) = HeaderValue::from_str(&timing) {
                response.headers_mut().insert("server-timing", value);
            }
            response
        }
        Err(error) => problem_response(&Problem::from_error(&error)),
    }
}

/// A problem+json response.
pub fn problem_response(problem: &Problem) -> Response<Vec<u8>> {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    bytes_response(problem.status_code(), PROBLEM_JSON, body)
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<Vec<u8>> {
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
