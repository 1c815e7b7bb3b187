//! `POST /v1/redact`: a text with its personal data replaced by typed placeholders, and
//! where each value was (code point offsets into the input, never the values), as
//! Presidio's analyzer reports them. Feature `redact`; without it, 501 naming the feature.
//!
//! ```text
//! POST /v1/redact {"text": "Mail jane@example.com", "types": ["email"]}       ("types" optional: all)
//! 200 {"text": "Mail [EMAIL]", "found": [{"type": "email", "start": 5, "end": 21}]}
//! ```

use http::{Request, Response, StatusCode};
#[cfg(feature = "redact")]
use serde::{Deserialize, Serialize};

use crate::http::problem::Problem;
use crate::http::routes::problem_response;
use crate::http::service::Service;

/// `POST /v1/redact` body.
#[cfg(feature = "redact")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedactRequest {
    text: String,
    /// Type names to replace (`email`, `phone`, `card`, `iban`, `ip`); default all.
    #[serde(default)]
    types: Option<Vec<String>>,
}

/// `POST /v1/redact` answer.
#[cfg(feature = "redact")]
#[derive(Debug, Serialize)]
struct RedactResponse {
    text: String,
    found: Vec<FoundSpan>,
}

/// Where one value was: its type and code point range in the input.
#[cfg(feature = "redact")]
#[derive(Debug, Serialize)]
struct FoundSpan {
    #[serde(rename = "type")]
    kind: &'static str,
    start: usize,
    end: usize,
}

/// Answers `POST /v1/redact`: 200 with the redacted text; the usual 4xx for the body
/// (415, 413 for the body or the text budget, 400, 422 for an unknown type name).
pub(crate) fn redact<B: AsRef<[u8]>>(service: &Service, request: &Request<B>) -> Response<Vec<u8>> {
    if let Some(problem) = &service.failure {
        return problem_response(problem);
    }
    #[cfg(feature = "redact")]
    {
        use crate::error::TriageError;
        use crate::http::request::{check_request, invalid, read_json};
        use crate::redact::{char_offsets, PiiType, TypeSet};

        let budgets = service.budgets();
        let answer = || -> Result<Response<Vec<u8>>, Problem> {
            check_request(request.headers(), request.body().as_ref(), budgets)?;
            let call: RedactRequest = read_json(
                request.body().as_ref(),
                "request body is empty; send {\"text\": \"...\"}",
            )?;
            budgets
                .check_texts(std::slice::from_ref(&call.text))
                .map_err(|budget| Problem::from_error(&TriageError::from(budget)))?;
            let types = match &call.types {
                None => TypeSet::all(),
                Some(names) => names
                    .iter()
                    .enumerate()
                    .map(|(index, name)| {
                        // The entry is not quoted: a request's values are never echoed.
                        PiiType::from_name(name).ok_or_else(|| {
                            invalid(format!(
                                "`types[{index}]` is not a type; the types are {}",
                                TypeSet::all().names()
                            ))
                        })
                    })
                    .collect::<Result<TypeSet, Problem>>()?,
            };
            let started = web_time::Instant::now();
            let redacted = service.redaction.redactor.redact(&call.text, types);
            let bytes: Vec<usize> = redacted
                .found
                .iter()
                .flat_map(|f| [f.start, f.end])
                .collect();
            let chars = char_offsets(&call.text, &bytes);
            let found = redacted
                .found
                .iter()
                .zip(chars.chunks(2))
                .map(|(f, span)| FoundSpan {
                    kind: f.kind.name(),
                    start: span[0],
                    end: span[1],
                })
                .collect();
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let mut response = crate::http::routes::json_response(
                StatusCode::OK,
                &RedactResponse {
                    text: redacted.text,
                    found,
                },
            );
            crate::http::routes::append_server_timing(
                response.headers_mut(),
                &format!("redact;dur={elapsed:.3}"),
            );
            Ok(response)
        };
        answer().unwrap_or_else(|problem| problem_response(&problem))
    }
    #[cfg(not(feature = "redact"))]
    {
        let _ = request;
        problem_response(&Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "not-built",
            "/v1/redact needs the redactor, which this build leaves out: build it with \
             triage-core's `redact` feature",
        ))
    }
}
