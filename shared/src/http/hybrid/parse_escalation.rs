//! Hybrid routing for `POST /v1/parse`, without I/O: a parse with fields the edge model is
//! not sure of goes to a bigger model, which completes them; its values are checked
//! against the schema again before they are answered, and when it cannot be reached the
//! edge model's answer stands, saying so.
//!
//! The endpoint's contract:
//!
//! ```text
//! POST <TRIAGE_PARSE_ESCALATION_URL>
//! Authorization: Bearer <TRIAGE_ESCALATION_TOKEN>      (when a token is configured)
//! Content-Type: application/json
//! {"text": "...", "schema": {<the JSON Schema>},
//!  "local": {"model": {...}, "object": {...}, "unsure": ["priority", "orderId"],
//!            "missing": ["orderId"]}}
//!
//! 200 OK, application/json
//! {"object": {"priority": "high", "orderId": "ORD-1234", ...}}
//! ```
//!
//! `unsure` lists the fields to complete; `missing` those of them that are required and
//! that the edge model found no value for. The reply's values for the `unsure` fields are
//! taken (other fields keep the edge model's values); the completed object must validate
//! against the schema, and a string the schema says is taken from the text must keep to
//! its `format`, `pattern` and lengths. Anything else (another status, a body that is not
//! that object, a value the schema refuses, a timeout, no connection) leaves the edge
//! model's answer in place, marked as such.

use std::time::Duration;

use http::Request;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Result, TriageError};
use crate::http::api::ModelRef;
use crate::http::hybrid::escalation::{reply_json, Endpoint, EscalationFailure, EscalationStatus};
use crate::http::hybrid::redaction::Redaction;
use crate::parse::{CompiledSchema, Draft, Parsed};

/// The parse escalation settings, in snake case like [`crate::Settings::KEYS`]. The token
/// is `escalation_token`, shared with classify's escalation.
pub const KEYS: [&str; 2] = ["parse_escalation_url", "parse_escalation_timeout_ms"];

/// How long the remote model may take when no timeout is configured: longer than for a
/// label, since completing an object is a generation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);

/// Where parses with unsure fields go. Built from settings; `None` when no URL is set.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseEscalation {
    /// The endpoint: its URL, timeout and token (`escalation_token`).
    pub endpoint: Endpoint,
}

impl ParseEscalation {
    /// Reads [`KEYS`] and `escalation_token` through `lookup`. Without
    /// `parse_escalation_url` there is no parse escalation. Errors:
    /// [`TriageError::Setting`] naming a URL that is not absolute `http(s)` or a timeout
    /// outside 1..=30000 ms.
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Option<String>,
    ) -> Result<Option<ParseEscalation>> {
        let endpoint = Endpoint::from_lookup(
            lookup,
            "parse_escalation_url",
            "parse_escalation_timeout_ms",
            DEFAULT_TIMEOUT,
        )?;
        Ok(endpoint.map(|endpoint| ParseEscalation { endpoint }))
    }

    /// Whether `draft` goes to the remote model: a field is unsure, not counting an
    /// optional string the text holds no value for (the text has none in that form, so
    /// the answer is sure), or a required one has no value.
    pub fn wants(&self, draft: &Draft) -> bool {
        !draft.missing.is_empty()
            || draft
                .parsed
                .fields
                .0
                .iter()
                .any(|(name, answer)| !answer.value.is_null() && draft.parsed.unsure.contains(name))
    }

    /// The request that asks the remote model to complete `draft`, the edge model's
    /// answer to `text` against `schema`. `text` is sent as given (the caller applies the
    /// redaction policy to it); the strings of the edge model's object, which quote the
    /// text, are redacted here as `redaction` says.
    pub fn request(
        &self,
        text: &str,
        schema: &Value,
        draft: &Draft,
        model: &ModelRef,
        redaction: &Redaction,
    ) -> Result<Request<Vec<u8>>> {
        let mut object = Value::Object(draft.parsed.object.clone());
        redaction.redact_strings(&mut object);
        let empty = Map::new();
        let body = serde_json::to_vec(&ParseEscalationRequest {
            text,
            schema,
            local: LocalParse {
                model,
                object: object.as_object().unwrap_or(&empty),
                unsure: &draft.parsed.unsure,
                missing: &draft.missing,
            },
        })
        .map_err(|e| TriageError::Inference(format!("escalation request: {e}")))?;
        self.endpoint.post_json(body)
    }
}

#[derive(Serialize)]
struct ParseEscalationRequest<'a> {
    text: &'a str,
    schema: &'a Value,
    local: LocalParse<'a>,
}

#[derive(Serialize)]
struct LocalParse<'a> {
    model: &'a ModelRef,
    object: &'a Map<String, Value>,
    unsure: &'a [String],
    missing: &'a [String],
}

/// What the remote model answered, as the endpoint's contract describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteObject {
    pub object: Map<String, Value>,
}

/// Reads the endpoint's reply: a 2xx with `{"object": {...}}`, at most
/// [`MAX_REPLY_BYTES`](crate::http::hybrid::escalation::MAX_REPLY_BYTES).
pub fn read_reply(
    status: http::StatusCode,
    body: &[u8],
) -> std::result::Result<RemoteObject, EscalationFailure> {
    let reply: Value = reply_json(status, body)?;
    match reply {
        Value::Object(mut reply) => match reply.remove("object") {
            Some(Value::Object(object)) => Ok(RemoteObject { object }),
            _ => Err(EscalationFailure::BadAnswer(
                "`object` must be a JSON object".into(),
            )),
        },
        _ => Err(EscalationFailure::BadAnswer(
            "the reply must be a JSON object with `object`".into(),
        )),
    }
}

/// Where a parse answer came from. Serialised beside the answer's fields: `source` is
/// `local`, `remote` or `cache`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum ParseProvenance {
    /// The edge model's answer; `escalation` is there when one was tried and failed, or
    /// was refused (the text holds personal data `escalation_refuse` keeps home).
    Local {
        #[serde(skip_serializing_if = "Option::is_none")]
        escalation: Option<EscalationStatus>,
    },
    /// Completed by the remote model: `local` holds what the edge model had for each field
    /// the remote model answered (`null`: no value).
    Remote { local: Map<String, Value> },
    /// Completed by the remote model's earlier answer to the same text (see
    /// [`super::cache`]; parse answers are found by the same text only, `similarity` 1,
    /// since their values are taken from the text): no remote call was made.
    Cache {
        local: Map<String, Value>,
        similarity: f32,
    },
}

/// The draft completed with a cached remote object, or `None` when that object does not
/// complete it (the unsure fields differ, a value the schema refuses): then the request
/// goes to the endpoint.
pub fn conclude_cached(
    schema: &CompiledSchema,
    draft: &Draft,
    remote: &RemoteObject,
) -> Option<(Parsed, ParseProvenance)> {
    let completed = schema.complete(draft, &remote.object).ok()?;
    Some((
        completed.parsed,
        ParseProvenance::Cache {
            local: completed.local,
            similarity: 1.0,
        },
    ))
}

/// The answer to give once the escalation of `draft` ended with `outcome`: the draft
/// completed with the remote values when they keep to the schema, else the edge model's
/// answer saying why the escalation failed.
///
/// Errors: what [`CompiledSchema::finish`] gives for the edge model's answer when the
/// remote one cannot be used (a required field without a value: 422 `no-value`), with the
/// reason the escalation failed.
pub fn conclude(
    schema: &CompiledSchema,
    draft: Draft,
    outcome: std::result::Result<RemoteObject, EscalationFailure>,
) -> std::result::Result<(Parsed, ParseProvenance), (TriageError, EscalationFailure)> {
    let failure = match outcome {
        Ok(remote) => match schema.complete(&draft, &remote.object) {
            Ok(completed) => {
                return Ok((
                    completed.parsed,
                    ParseProvenance::Remote {
                        local: completed.local,
                    },
                ))
            }
            Err(reason) => EscalationFailure::BadAnswer(reason),
        },
        Err(failure) => failure,
    };
    match schema.finish(draft) {
        Ok(parsed) => {
            let provenance = ParseProvenance::Local {
                escalation: Some(EscalationStatus::failed(&failure)),
            };
            Ok((parsed, provenance))
        }
        Err(error) => Err((error, failure)),
    }
}
