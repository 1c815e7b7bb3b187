//! RFC 9457 problem details (`application/problem+json`) and the mapping from core
//! errors to HTTP statuses, shared by every adapter.

use http::StatusCode;
use serde::Serialize;

use crate::engine::budget::BudgetExceeded;
use crate::error::SchemaError;
use crate::error::TriageError;

/// Media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A URI naming the problem type, `urn:triage:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, fixed summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened to this request, in words a client can act on.
    pub detail: String,
    /// For a budget: the limit that was exceeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// For a schema the decoder cannot satisfy: the keyword at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
}

impl Problem {
    /// A problem of type `slug` with the status's reason phrase as title.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:triage:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            limit: None,
            keyword: None,
        }
    }

    /// Maps a core error to its status: a request over a budget 413, bad text or a schema
    /// the decoder cannot satisfy 422, a
    /// bundle that did not load or budgets that do not fit the memory budget 503 (the
    /// deployment is at fault, not the request), a failure inside inference 500.
    pub fn from_error(error: &TriageError) -> Problem {
        let detail = error.to_string();
        match error {
            TriageError::Budget(
                budget @ (BudgetExceeded::Memory { .. } | BudgetExceeded::InstanceMemory { .. }),
            ) => Problem {
                limit: Some(budget.limit()),
                ..Problem::new(StatusCode::SERVICE_UNAVAILABLE, budget.kind(), detail)
            },
            TriageError::Budget(budget) => Problem {
                limit: Some(budget.limit()),
                ..Problem::new(StatusCode::PAYLOAD_TOO_LARGE, budget.kind(), detail)
            },
            TriageError::Schema(SchemaError::Unsupported { keyword, .. }) => Problem {
                keyword: Some(keyword.clone()),
                ..Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unsupported-schema",
                    detail,
                )
            },
            TriageError::Schema(SchemaError::TooLarge { limit, .. }) => Problem {
                limit: Some(*limit),
                ..Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "schema-too-large", detail)
            },
            TriageError::NoValue { .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "no-value", detail)
            }
            TriageError::Unfinished { limit, .. } => Problem {
                limit: Some(*limit),
                ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unfinished", detail)
            },
            TriageError::UnknownModel { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "unknown-model", detail)
            }
            TriageError::Encode(_) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unencodable-text", detail)
            }
            TriageError::Inference(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "inference-failed",
                detail,
            ),
            TriageError::Manifest(_)
            | TriageError::MissingFile { .. }
            | TriageError::ChecksumMismatch { .. }
            | TriageError::Tokenizer { .. }
            | TriageError::Model { .. }
            | TriageError::Config(_)
            | TriageError::Setting { .. } => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "model-unavailable", detail)
            }
        }
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}
