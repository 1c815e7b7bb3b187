//! Hybrid routing without I/O: which local answers go to a bigger model, the request that
//! carries them there, and how the reply, or its absence, becomes the answer.
//!
//! The core never opens a connection. It builds an [`http::Request`] for the configured
//! URL and reads back whatever the adapter got (a response, a timeout, a failure to
//! connect). Each adapter sends the request with its own platform's client (Cloudflare's
//! `fetch`, Spin's outbound HTTP, a native client), so the policy is written once.
//!
//! The escalation endpoint's contract:
//!
//! ```text
//! POST <TRIAGE_ESCALATION_URL>
//! Authorization: Bearer <TRIAGE_ESCALATION_TOKEN>      (when a token is configured)
//! Content-Type: application/json
//! {"text": "...", "local": {"model": {...}, "label": "spam", "score": 0.61, "scores": {...}}}
//!
//! 200 OK, application/json
//! {"label": "spam", "score": 0.97}                      ("scores" optional)
//! ```
//!
//! Anything else (another status, a body that is not that object, a score outside
//! [0, 1], a timeout, no connection) leaves the local answer in place, marked as such.

use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use serde::{Deserialize, Serialize};

use crate::engine::classify::{Classification, Scores};
use crate::error::{Result, TriageError};
use crate::http::api::ModelRef;

/// The escalation settings, in snake case like [`crate::Settings::KEYS`].
pub const KEYS: [&str; 5] = [
    "escalation_url",
    "escalation_threshold",
    "escalation_timeout_ms",
    "escalation_token",
    "escalation_model",
];

/// How long the remote model may take when no timeout is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(800);

/// Largest reply body read from the escalation endpoint.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Where and when to escalate. Built from settings; `None` when no URL is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// The endpoint: its URL, timeout and token.
    pub endpoint: Endpoint,
    /// Local answers whose top score is below this go to the remote model; `None`: the
    /// answering model's own threshold.
    pub threshold: Option<f32>,
    /// The classifier whose answers escalate (`escalation_model`); `None`: the
    /// deployment's default model. The remote model answers for that model's labels, so
    /// the others' answers stay local.
    pub model: Option<String>,
}

/// A configured endpoint a request may be sent to (classify's or parse's escalation).
#[derive(Clone, PartialEq)]
pub struct Endpoint {
    /// The only destination: it comes from configuration, never from a request.
    pub url: Uri,
    /// How long to wait for it before answering locally.
    pub timeout: Duration,
    /// Sent as a bearer token (`escalation_token`); from the platform's secrets.
    token: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl Endpoint {
    /// The endpoint at setting `url_key` (unset or blank: `None`), waiting the timeout at
    /// `timeout_key` (unset: `default_timeout`), with the `escalation_token`.
    ///
    /// Errors: [`TriageError::Setting`] naming a URL that is not absolute `http(s)`, a
    /// timeout outside 1..=30000 ms, or a token that cannot be a header value; the last
    /// two are checked even without a URL.
    pub(crate) fn from_lookup(
        lookup: impl Fn(&'static str) -> Option<String>,
        url_key: &'static str,
        timeout_key: &'static str,
        default_timeout: Duration,
    ) -> Result<Option<Endpoint>> {
        // Checked whether or not the URL is set, so that a typo shows at start-up.
        let timeout = match setting(&lookup, timeout_key) {
            None => default_timeout,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=30_000).contains(ms))
                .map(Duration::from_millis)
                .ok_or_else(|| bad(timeout_key, &text, "milliseconds in 1..=30000"))?,
        };
        let token = setting(&lookup, "escalation_token");
        if token
            .as_ref()
            .is_some_and(|token| HeaderValue::from_str(&format!("Bearer {token}")).is_err())
        {
            // Never quoted: it is a secret.
            return Err(TriageError::setting(
                "escalation_token",
                "is not a valid header value (a control character or line break in it?)",
            ));
        }
        let Some(url) = setting(&lookup, url_key) else {
            return Ok(None);
        };
        let url = url
            .parse::<Uri>()
            .ok()
            .filter(|url| matches!(url.scheme_str(), Some("http" | "https")))
            .filter(|url| url.host().is_some())
            .ok_or_else(|| bad(url_key, &url, "an absolute http(s) URL"))?;
        Ok(Some(Endpoint {
            url,
            timeout,
            token,
        }))
    }

    /// A JSON `POST` of `body` to the endpoint, with `Authorization: Bearer <token>` when
    /// there is a token.
    pub(crate) fn post_json(&self, body: Vec<u8>) -> Result<Request<Vec<u8>>> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .map_err(|e| TriageError::Config(format!("escalation request: {e}")))?;
        if let Some(token) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                TriageError::setting("escalation_token", "is not a valid header value")
            })?;
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        Ok(request)
    }
}

/// Setting `key` through `lookup`, trimmed; `None` when unset or blank.
pub(crate) fn setting(
    lookup: &impl Fn(&'static str) -> Option<String>,
    key: &'static str,
) -> Option<String> {
    lookup(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Escalation {
    /// Reads the [`KEYS`] through `lookup` (as [`crate::Settings::from_lookup`] does).
    /// Without `escalation_url` there is no escalation (the other settings are still
    /// checked). Unset, the threshold is the model's and the model the default one; a
    /// value that does not parse is [`TriageError::Setting`] naming the setting, and so
    /// is a URL that is not absolute `http` or `https`. Whether `escalation_model` names
    /// a served model is the service's check.
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Option<String>,
    ) -> Result<Option<Escalation>> {
        let endpoint = Endpoint::from_lookup(
            &lookup,
            "escalation_url",
            "escalation_timeout_ms",
            DEFAULT_TIMEOUT,
        )?;
        let threshold = match setting(&lookup, "escalation_threshold") {
            None => None,
            Some(text) => Some(
                text.parse::<f32>()
                    .ok()
                    .filter(|t| (0.0..=1.0).contains(t))
                    .ok_or_else(|| bad("escalation_threshold", &text, "a number in [0, 1]"))?,
            ),
        };
        let Some(endpoint) = endpoint else {
            return Ok(None);
        };
        Ok(Some(Escalation {
            endpoint,
            threshold,
            model: setting(&lookup, "escalation_model"),
        }))
    }

    /// Whether `local` should be sent to the remote model: its score is under the
    /// escalation threshold, or the model could not read the text (mostly `[UNK]`, see
    /// [`Classification::readable`]).
    /// `model_threshold` is the answering model's threshold, used when no
    /// `escalation_threshold` is set.
    pub fn wants(&self, local: &Classification, model_threshold: f32) -> bool {
        local.score < self.threshold.unwrap_or(model_threshold) || !local.readable
    }

    /// The request that asks the remote model about `text`, carrying the local answer.
    pub fn request(
        &self,
        text: &str,
        local: &Classification,
        model: &ModelRef,
    ) -> Result<Request<Vec<u8>>> {
        let body = serde_json::to_vec(&EscalationRequest {
            text,
            local: LocalAnswer {
                model,
                label: &local.label,
                score: local.score,
                scores: &local.scores,
            },
        })
        .map_err(|e| TriageError::Inference(format!("escalation request: {e}")))?;
        self.endpoint.post_json(body)
    }
}

fn bad(key: &str, text: &str, expected: &str) -> TriageError {
    TriageError::setting(key, format!("is {text:?}, expected {expected}"))
}

#[derive(Serialize)]
struct EscalationRequest<'a> {
    text: &'a str,
    local: LocalAnswer<'a>,
}

#[derive(Serialize)]
struct LocalAnswer<'a> {
    model: &'a ModelRef,
    label: &'a str,
    score: f32,
    scores: &'a Scores,
}

/// What the remote model answered, as the endpoint's contract describes it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RemoteAnswer {
    pub label: String,
    pub score: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why an escalation gave no remote answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationFailure {
    #[error("the escalation endpoint did not answer within {0} ms")]
    Timeout(u128),
    #[error("could not reach the escalation endpoint: {0}")]
    Unreachable(String),
    #[error("the escalation endpoint answered {0}")]
    Status(u16),
    #[error("the escalation endpoint's answer is not valid: {0}")]
    BadAnswer(String),
}

impl EscalationFailure {
    /// A short machine-readable reason, for the `escalation.reason` field.
    pub fn reason(&self) -> &'static str {
        match self {
            EscalationFailure::Timeout(_) => "timeout",
            EscalationFailure::Unreachable(_) => "unreachable",
            EscalationFailure::Status(_) => "bad-status",
            EscalationFailure::BadAnswer(_) => "bad-answer",
        }
    }
}

/// A reply's JSON: a 2xx status and a body of at most [`MAX_REPLY_BYTES`] that parses as
/// `T`.
pub(crate) fn reply_json<T: serde::de::DeserializeOwned>(
    status: http::StatusCode,
    body: &[u8],
) -> std::result::Result<T, EscalationFailure> {
    if !status.is_success() {
        return Err(EscalationFailure::Status(status.as_u16()));
    }
    if body.len() > MAX_REPLY_BYTES {
        return Err(EscalationFailure::BadAnswer(format!(
            "{} bytes, more than {MAX_REPLY_BYTES}",
            body.len()
        )));
    }
    serde_json::from_slice(body).map_err(|e| EscalationFailure::BadAnswer(e.to_string()))
}

/// Reads the endpoint's reply: a 2xx with a JSON [`RemoteAnswer`] whose score is in [0, 1].
pub fn read_reply(
    status: http::StatusCode,
    body: &[u8],
) -> std::result::Result<RemoteAnswer, EscalationFailure> {
    let answer: RemoteAnswer = reply_json(status, body)?;
    if !(0.0..=1.0).contains(&answer.score) || answer.label.is_empty() {
        return Err(EscalationFailure::BadAnswer(
            "`label` must be non-empty and `score` in [0, 1]".into(),
        ));
    }
    Ok(answer)
}

/// `remote` when its label is one of the labels `local` was scored on (the endpoint
/// answers for the escalated model's labels), else a [`EscalationFailure::BadAnswer`].
pub fn one_of_the_labels(
    remote: RemoteAnswer,
    local: &Classification,
) -> std::result::Result<RemoteAnswer, EscalationFailure> {
    if local
        .scores
        .0
        .iter()
        .any(|(label, _)| *label == remote.label)
    {
        Ok(remote)
    } else {
        let labels: Vec<&str> = local.scores.0.iter().map(|(l, _)| l.as_str()).collect();
        Err(EscalationFailure::BadAnswer(format!(
            "label {:?} is not one of the model's labels ({})",
            remote.label,
            labels.join(", ")
        )))
    }
}

/// Where an answer came from, and what happened to its escalation. Serialised beside the
/// classification's fields: `source` is `local`, `remote` or `cache`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Provenance {
    /// The edge model's answer; `escalation` is there when one was tried and failed, or
    /// was refused (the text holds personal data `escalation_refuse` keeps home).
    Local {
        #[serde(skip_serializing_if = "Option::is_none")]
        escalation: Option<EscalationStatus>,
    },
    /// The remote model's answer, for a text the edge model was not sure of. `local` is what
    /// the edge model said; `remote_scores` are the remote model's scores, if it sent any.
    Remote {
        local: LocalVerdict,
        #[serde(skip_serializing_if = "Option::is_none")]
        remote_scores: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// A remote answer given before, for this text or one whose embedding is within the
    /// cache's similarity (`similarity`: their cosine similarity, 1 for the same text;
    /// see [`super::cache`]): no remote call was made.
    Cache {
        local: LocalVerdict,
        similarity: f32,
        #[serde(skip_serializing_if = "Option::is_none")]
        remote_scores: Option<serde_json::Map<String, serde_json::Value>>,
    },
}

/// The edge model's label and score, kept beside a remote answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalVerdict {
    pub label: String,
    pub score: f32,
}

/// The `escalation` object of a local answer whose escalation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationStatus {
    pub status: &'static str,
    pub reason: &'static str,
    pub detail: String,
}

impl EscalationStatus {
    /// The status of an escalation not tried because the text holds personal data of
    /// `types` (names, comma-separated) that `escalation_refuse` keeps at the edge.
    pub fn refused(types: &str) -> EscalationStatus {
        EscalationStatus {
            status: "refused",
            reason: "personal-data",
            detail: format!(
                "the text holds personal data ({types}) that escalation_refuse keeps at the edge"
            ),
        }
    }

    /// The status of an escalation that ended in `failure`.
    pub fn failed(failure: &EscalationFailure) -> EscalationStatus {
        EscalationStatus {
            status: "failed",
            reason: failure.reason(),
            detail: failure.to_string(),
        }
    }
}

/// The answer to give for `local` once its escalation ended with `outcome`: the remote
/// label and score when the remote model answered (`confident` then says whether its
/// score reaches `threshold`; `scores`, `truncated`, `tokens` and `unknown_tokens` stay the edge model's
/// reading of the text), else `local` as it was, saying why the escalation failed.
pub fn conclude(
    mut local: Classification,
    outcome: std::result::Result<RemoteAnswer, EscalationFailure>,
    threshold: f32,
) -> (Classification, Provenance) {
    match outcome {
        Ok(remote) => {
            let verdict = LocalVerdict {
                label: std::mem::replace(&mut local.label, remote.label),
                score: std::mem::replace(&mut local.score, remote.score),
            };
            local.confident = local.score >= threshold;
            let provenance = Provenance::Remote {
                local: verdict,
                remote_scores: remote.scores,
            };
            (local, provenance)
        }
        Err(failure) => {
            let provenance = Provenance::Local {
                escalation: Some(EscalationStatus::failed(&failure)),
            };
            (local, provenance)
        }
    }
}

/// [`conclude`] with a cached remote answer: the same answer, `source: "cache"` with the
/// cosine `similarity` of the texts.
pub fn conclude_cached(
    local: Classification,
    remote: RemoteAnswer,
    similarity: f32,
    threshold: f32,
) -> (Classification, Provenance) {
    match conclude(local, Ok(remote), threshold) {
        (
            result,
            Provenance::Remote {
                local,
                remote_scores,
            },
        ) => (
            result,
            Provenance::Cache {
                local,
                similarity,
                remote_scores,
            },
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    use crate::http::hybrid::lookup_from as lookup;

    fn local(score: f32) -> Classification {
        Classification {
            label: "spam".into(),
            score,
            confident: false,
            scores: Scores(vec![("ham".into(), 1.0 - score), ("spam".into(), score)]),
            truncated: false,
            tokens: 9,
            unknown_tokens: 0,
            readable: true,
        }
    }

    fn model() -> ModelRef {
        ModelRef {
            name: "spam-mini".into(),
            version: "1.0.0".into(),
        }
    }

    #[test]
    fn no_url_means_no_escalation() {
        assert_eq!(Escalation::from_lookup(lookup(&[])).unwrap(), None);
        let blank = lookup(&[("escalation_url", "  ")]);
        assert_eq!(Escalation::from_lookup(blank).unwrap(), None);
    }

    #[test]
    fn settings_and_defaults() {
        let pairs = &[
            ("escalation_url", "https://origin.example/classify"),
            ("escalation_timeout_ms", "250"),
            ("escalation_token", "s3cret"),
        ];
        let escalation = Escalation::from_lookup(lookup(pairs))
            .unwrap()
            .expect("configured");
        assert_eq!(
            escalation.threshold, None,
            "the model's threshold by default"
        );
        assert_eq!(escalation.model, None, "the default model by default");
        assert_eq!(escalation.endpoint.timeout, Duration::from_millis(250));
        assert!(
            !format!("{escalation:?}").contains("s3cret"),
            "secret not in Debug"
        );
        let default_timeout = Escalation::from_lookup(lookup(&pairs[..1]))
            .unwrap()
            .expect("configured");
        assert_eq!(default_timeout.endpoint.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn bad_settings_name_the_setting() {
        for (pairs, key) in [
            (&[("escalation_url", "ftp://x/")][..], "escalation_url"),
            (&[("escalation_url", "/relative")][..], "escalation_url"),
            (
                &[
                    ("escalation_url", "http://x/"),
                    ("escalation_threshold", "2"),
                ][..],
                "escalation_threshold",
            ),
            (
                &[
                    ("escalation_url", "http://x/"),
                    ("escalation_timeout_ms", "0"),
                ][..],
                "escalation_timeout_ms",
            ),
            (
                &[("escalation_threshold", "high")][..],
                "escalation_threshold",
            ),
            (
                &[("escalation_timeout_ms", "-1")][..],
                "escalation_timeout_ms",
            ),
            (
                &[
                    ("escalation_url", "http://x/"),
                    ("escalation_token", "a\nb"),
                ][..],
                "escalation_token",
            ),
        ] {
            let error = Escalation::from_lookup(lookup(pairs))
                .unwrap_err()
                .to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn only_unsure_answers_escalate() {
        let escalation = Escalation::from_lookup(lookup(&[("escalation_url", "http://x/")]))
            .unwrap()
            .expect("configured");
        assert!(escalation.wants(&local(0.61), 0.8));
        assert!(!escalation.wants(&local(0.8), 0.8));
        assert!(!escalation.wants(&local(0.97), 0.8));
        let unreadable = Classification {
            readable: false,
            ..local(0.97)
        };
        assert!(
            escalation.wants(&unreadable, 0.8),
            "text the model cannot read escalates"
        );
    }

    #[test]
    fn the_request_goes_only_to_the_configured_url_with_the_local_answer() {
        let pairs = &[
            ("escalation_url", "https://origin.example:8443/v1/escalate"),
            ("escalation_token", "s3cret"),
        ];
        let escalation = Escalation::from_lookup(lookup(pairs))
            .unwrap()
            .expect("configured");
        let request = escalation
            .request("WIN a cruise, http://evil.example/", &local(0.61), &model())
            .unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(
            request.uri().to_string(),
            "https://origin.example:8443/v1/escalate"
        );
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer s3cret");
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(body["text"], "WIN a cruise, http://evil.example/");
        assert_eq!(body["local"]["label"], "spam");
        assert_eq!(body["local"]["model"]["name"], "spam-mini");
        assert!((body["local"]["scores"]["spam"].as_f64().unwrap() - 0.61).abs() < 1e-6);
    }

    #[test]
    fn replies_are_read_strictly() {
        let ok = read_reply(StatusCode::OK, br#"{"label":"spam","score":0.97}"#).unwrap();
        assert_eq!(ok.label, "spam");
        assert_eq!(
            read_reply(StatusCode::BAD_GATEWAY, b"{}"),
            Err(EscalationFailure::Status(502))
        );
        for body in [
            &b"not json"[..],
            br#"{"label":"spam"}"#,
            br#"{"label":"spam","score":1.5}"#,
            br#"{"label":"","score":0.5}"#,
        ] {
            let failure = read_reply(StatusCode::OK, body).unwrap_err();
            assert_eq!(failure.reason(), "bad-answer", "{failure}");
        }
        let banana = read_reply(StatusCode::OK, br#"{"label":"banana","score":0.9}"#).unwrap();
        let failure = one_of_the_labels(banana, &local(0.6)).unwrap_err();
        assert_eq!(failure.reason(), "bad-answer", "{failure}");
        assert!(one_of_the_labels(ok.clone(), &local(0.6)).is_ok());
        let huge = vec![b' '; MAX_REPLY_BYTES + 1];
        assert_eq!(
            read_reply(StatusCode::OK, &huge).unwrap_err().reason(),
            "bad-answer"
        );
    }

    #[test]
    fn the_answer_says_where_it_came_from() {
        let remote = RemoteAnswer {
            label: "ham".into(),
            score: 0.97,
            scores: None,
        };
        let (answer, provenance) = conclude(local(0.61), Ok(remote), 0.8);
        assert_eq!((answer.label.as_str(), answer.score), ("ham", 0.97));
        assert!(answer.confident, "0.97 reaches the threshold");
        assert_eq!(answer.tokens, 9, "the edge model's reading stays");
        let json = serde_json::to_value(&provenance).unwrap();
        assert_eq!(json["source"], "remote");
        assert_eq!(json["local"]["label"], "spam");
        assert!((json["local"]["score"].as_f64().unwrap() - 0.61).abs() < 1e-6);

        let (answer, failed) = conclude(local(0.61), Err(EscalationFailure::Timeout(800)), 0.8);
        assert_eq!((answer.label.as_str(), answer.score), ("spam", 0.61));
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["source"], "local");
        assert_eq!(json["escalation"]["status"], "failed");
        assert_eq!(json["escalation"]["reason"], "timeout");

        let plain = serde_json::to_value(Provenance::Local { escalation: None }).unwrap();
        assert_eq!(plain, serde_json::json!({"source": "local"}));
    }
}
