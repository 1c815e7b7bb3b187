//! Reading `POST /v1/classify` and `POST /v1/parse` requests: content type, body budget,
//! UTF-8, JSON syntax, then shape. No model is involved, so this is also where the fuzz
//! target `request` starts (see `fuzz/`).

use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use serde::de::IgnoredAny;
use serde_json::error::Category;

use crate::engine::budget::Budgets;
use crate::engine::classify::LabelSpec;
use crate::error::SchemaError;
use crate::error::TriageError;
use crate::http::api::{ClassifyRequest, Decoder, LabelInput, ParseRequest};
use crate::http::problem::Problem;

/// Media type of request and response bodies.
pub(crate) const JSON: &str = "application/json";

/// The texts of a valid classify request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassifyInput {
    /// `{"text": "..."}`: answered with one result.
    One(String),
    /// `{"texts": [...]}`: answered with results in the same order.
    Many(Vec<String>),
}

/// A valid classify request: its texts, and the ad-hoc labels to choose among, if any
/// (without them one of the deployment's classifiers answers: `model`, else the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifyCall {
    pub input: ClassifyInput,
    pub labels: Option<Vec<LabelSpec>>,
    /// The classifier asked for by name; `None`: the deployment's default model.
    pub model: Option<String>,
}

impl ClassifyCall {
    /// [`ClassifyInput::parse`], keeping the request's `labels`.
    pub fn parse(
        headers: &HeaderMap,
        body: &[u8],
        budgets: &Budgets,
    ) -> Result<ClassifyCall, Problem> {
        check_request(headers, body, budgets)?;
        let mut request: ClassifyRequest = read_json(
            body,
            "request body is empty; send {\"text\": \"...\"} or {\"texts\": [...]}",
        )?;
        let labels: Option<Vec<LabelSpec>> = request
            .labels
            .take()
            .map(|labels| labels.into_iter().map(LabelInput::into_spec).collect());
        let model = request.model.take();
        if labels.is_some() && model.is_some() {
            return Err(invalid(
                "give `labels` or `model`, not both: ad-hoc labels are answered by the \
                 embedding model, `model` names one of the deployment's classifiers",
            ));
        }
        Ok(ClassifyCall {
            input: texts_of(request)?,
            labels,
            model,
        })
    }
}

/// The schema a parse request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaRef {
    /// A schema configured in the deployment (or shipped), by name.
    Named(String),
    /// A schema sent inline, and its size in bytes as sent.
    Inline(serde_json::Value, usize),
}

/// A valid `POST /v1/parse` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseCall {
    pub text: String,
    pub schema: SchemaRef,
    /// Replaces the model's threshold for this request.
    pub threshold: Option<f32>,
    /// Which model writes the object.
    pub decoder: Decoder,
}

impl ParseCall {
    /// Checks a parse request as [`ClassifyInput::parse`] does, then its schema: a name,
    /// or an object of at most `max_schema_bytes` (413 beyond, before it is parsed into a
    /// tree) nested at most serde_json's 128 levels (422 beyond).
    pub fn parse(
        headers: &HeaderMap,
        body: &[u8],
        budgets: &Budgets,
        max_schema_bytes: usize,
    ) -> Result<ParseCall, Problem> {
        check_request(headers, body, budgets)?;
        let request: ParseRequest = read_json(
            body,
            "request body is empty; send {\"text\": \"...\", \"schema\": {...} or \"<name>\"}",
        )?;
        if let Some(threshold) = request.threshold {
            if !(0.0..=1.0).contains(&threshold) {
                return Err(invalid(format!(
                    "`threshold` is {threshold}, expected a number in [0, 1]"
                )));
            }
        }
        let raw = request.schema.get();
        let refuse = |error: SchemaError| Problem::from_error(&TriageError::from(error));
        if raw.len() > max_schema_bytes {
            return Err(refuse(SchemaError::TooLarge {
                what: "bytes",
                limit: max_schema_bytes,
                actual: raw.len(),
            }));
        }
        let schema = match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(serde_json::Value::String(name)) => SchemaRef::Named(name),
            Ok(document) => SchemaRef::Inline(document, raw.len()),
            Err(error) => {
                return Err(refuse(SchemaError::Unsupported {
                    pointer: "the root".into(),
                    keyword: "schema".into(),
                    reason: format!("could not be read: {error}"),
                }))
            }
        };
        Ok(ParseCall {
            text: request.text,
            schema,
            threshold: request.threshold,
            decoder: request.decoder.unwrap_or_default(),
        })
    }
}

impl ClassifyInput {
    /// Checks a classify request and extracts its texts, or says what is wrong with it
    /// as a problem: 415 for a content type other than JSON, 413 for a body over the
    /// budget, 400 for bytes that are not JSON (invalid UTF-8, bad syntax, escapes that
    /// are no Unicode character, such as lone surrogates), 422 for JSON of the wrong shape.
    /// Text and batch budgets are checked later, by the classifier.
    pub fn parse(
        headers: &HeaderMap,
        body: &[u8],
        budgets: &Budgets,
    ) -> Result<ClassifyInput, Problem> {
        ClassifyCall::parse(headers, body, budgets).map(|call| call.input)
    }

    /// The texts, in request order.
    pub fn texts(&self) -> &[String] {
        match self {
            ClassifyInput::One(text) => std::slice::from_ref(text),
            ClassifyInput::Many(texts) => texts,
        }
    }
}

fn malformed(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "malformed-json", detail)
}

pub(crate) fn invalid(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-fields", detail)
}

/// Content type and body budget, the checks before any byte is read as JSON.
pub(crate) fn check_request(
    headers: &HeaderMap,
    body: &[u8],
    budgets: &Budgets,
) -> Result<(), Problem> {
    check_json_content_type(headers)?;
    budgets
        .check_body(body.len())
        .map_err(|budget| Problem::from_error(&TriageError::from(budget)))
}

/// Reads a request body into `T`: 400 for bytes that are not JSON, 422 for JSON of the
/// wrong shape. `empty` says what to send when the body is empty.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    empty: &str,
) -> Result<T, Problem> {
    if body.is_empty() {
        return Err(malformed(empty.into()));
    }
    if let Err(error) = std::str::from_utf8(body) {
        return Err(malformed(format!(
            "request body is not UTF-8 (invalid byte at offset {})",
            error.valid_up_to()
        )));
    }
    // Syntax first, without building a tree (serde_json skips values without recursing,
    // so nesting depth costs no stack), so that a body both broken and of the wrong shape
    // is reported as broken, whatever serde meets first.
    serde_json::from_slice::<IgnoredAny>(body)
        .map_err(|e| malformed(format!("request body is not valid JSON: {e}")))?;
    // serde reads a struct from an array too, field by position: the contract's bodies are
    // objects, so anything else is the wrong shape, whatever its elements.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(invalid("request JSON must be an object"));
    }
    // The typed pass still meets some syntax errors the skipping pass lets by: escapes
    // that are no character (lone surrogates). Those are 400 too; the rest is shape.
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            malformed(format!("request body is not valid JSON: {e}"))
        }
        Category::Data => invalid(format!("request JSON has the wrong shape: {e}")),
    })
}

fn texts_of(request: ClassifyRequest) -> Result<ClassifyInput, Problem> {
    match (request.text, request.texts) {
        (Some(text), None) => Ok(ClassifyInput::One(text)),
        (None, Some(texts)) if texts.is_empty() => {
            Err(invalid("`texts` must hold at least one text"))
        }
        (None, Some(texts)) => Ok(ClassifyInput::Many(texts)),
        (Some(_), Some(_)) => Err(invalid("send either `text` or `texts`, not both")),
        (None, None) => Err(invalid(
            "missing field: send {\"text\": \"...\"} or {\"texts\": [...]}",
        )),
    }
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let unsupported = |detail: String| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            detail,
        )
    };
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(unsupported(
            "missing Content-Type; send application/json".into(),
        ));
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence == JSON || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(unsupported(format!(
            "Content-Type {value:?} is not supported; send application/json"
        )))
    }
}

/// The 400 problem (`malformed-request`) for a request line or header an adapter cannot
/// hand to the core; `detail` says what.
pub fn malformed_request(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "malformed-request", detail)
}

/// A request's head as the core takes it: `head` (method and path set by the adapter from
/// its host's request) with `headers` added one by one, so a repeated header keeps every
/// value. A method, path or header the `http` crate refuses is a [`malformed_request`].
pub fn request_head<K, V>(
    head: http::request::Builder,
    headers: impl IntoIterator<Item = (K, V)>,
) -> Result<http::request::Parts, Problem>
where
    http::HeaderName: TryFrom<K>,
    <http::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
    http::HeaderValue: TryFrom<V>,
    <http::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
{
    let head = headers
        .into_iter()
        .fold(head, |head, (name, value)| head.header(name, value));
    head.body(())
        .map(|request| request.into_parts().0)
        .map_err(|error| {
            malformed_request(format!(
                "the request line or a header is malformed: {error}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse(body: &[u8]) -> Result<ClassifyInput, Problem> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        ClassifyInput::parse(&headers, body, &Budgets::default())
    }

    fn status(body: &[u8]) -> u16 {
        parse(body).err().map_or(200, |problem| problem.status)
    }

    #[test]
    fn text_and_texts_are_read_in_order() {
        assert_eq!(
            parse(br#"{"text": "a"}"#).map(|i| i.texts().to_vec()),
            Ok(vec!["a".into()])
        );
        let many = parse(br#"{"texts": ["a", "b"]}"#).map(|i| i.texts().to_vec());
        assert_eq!(many, Ok(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn bytes_that_are_not_json_text_are_400() {
        assert_eq!(
            status(b"{\"text\": \"caf\xe9\"}"),
            400,
            "invalid UTF-8 in a string"
        );
        assert_eq!(
            status(br#"{"text": "\ud800 x"}"#),
            400,
            "lone high surrogate"
        );
        assert_eq!(status(br#"{"text": "\udc00"}"#), 400, "lone low surrogate");
        assert_eq!(
            status(b"{\"text\": \"a\x00b\"}"),
            400,
            "raw control character"
        );
    }

    #[test]
    fn valid_json_of_the_wrong_shape_is_422_however_deep() {
        let deep = format!(
            "{{\"text\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(status(deep.as_bytes()), 422);
        assert_eq!(
            status(br#"{"text": "a", "text": "b"}"#),
            422,
            "duplicate field"
        );
        assert_eq!(status(br#"{"text": null}"#), 422);
    }

    #[test]
    fn broken_and_misshapen_json_is_400() {
        assert_eq!(status(br#"{"txt": 1, "#), 400);
        assert_eq!(status(&b"[".repeat(100_000)), 400);
    }
}
