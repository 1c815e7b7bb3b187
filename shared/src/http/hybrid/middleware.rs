//! Middleware mode without I/O: for configured routes, classify the request passing through
//! and then annotate it and forward it to the origin, block it, or send it to another origin,
//! by label when the answer is confident, and as `unsure` says when it is not.
//!
//! The core decides and builds the outbound request; the adapter sends it with its
//! platform's client and passes the origin's response back through [`response_headers`].
//! Destinations come only from the configuration (`TRIAGE_MIDDLEWARE`), never from the
//! request: the forwarded request keeps the incoming path and query, on the configured
//! origin.
//!
//! Configuration, one JSON object:
//!
//! ```json
//! {
//!   "origin": "https://origin.example",
//!   "timeout_ms": 10000,
//!   "routes": [
//!     {"path_prefix": "/contact", "text": "form:message",
//!      "labels": {"spam": "block"}, "otherwise": "annotate", "unsure": "annotate"},
//!     {"path_prefix": "/api/chat", "text": "json:/prompt", "model": "prompt-guard",
//!      "labels": {"attack": "block"}, "unsure": "block"},
//!     {"path_prefix": "/api/tickets", "text": "json:/body",
//!      "labels": {"spam": {"route": "https://quarantine.example"}}}
//!   ]
//! }
//! ```
//!
//! `text` is `body` (the raw body as UTF-8), `form:<field>` (a field of an
//! `application/x-www-form-urlencoded` body) or `json:<JSON pointer>` (a string in a JSON
//! body). `model` names the classifier that reads it (default: the deployment's default
//! model; a name the deployment does not serve makes the configuration invalid). A label's action is `annotate` (add `X-Triage-Label`, `X-Triage-Score` and
//! `X-Triage-Confident`, then forward), `block` (403 problem+json) or `{"route": "<origin>"}`
//! (annotate, and forward to that origin instead). `otherwise` (default `annotate`) applies
//! to unlisted labels. Labels act only on a confident answer; `unsure` (default `annotate`)
//! is the action for an answer that is not (a low score, or text the model cannot read:
//! padding a text with emoji makes it so, so a route that must fail closed sets `block`).
//! With the `redact` feature, the action `redact` annotates and forwards to the origin with
//! the personal data of the route's `redact_types` (default all) replaced in its text field,
//! and a route's `refuse` types (default none) stop any forward with 403 `personal-data`
//! (see [`super::redaction`]). Routes match the path as an origin may resolve it
//! ([`normalised`]); a body giving the route's text twice is 422 `ambiguous-text`.
//! Requests to paths no route names go to the origin unchanged and unclassified.
//! `timeout_ms` (default 10000) bounds the wait for the origin.

use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::uri::{PathAndQuery, Uri};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Result, TriageError};
use crate::http::problem::Problem;

/// Header the forwarded request carries with the label.
pub const LABEL_HEADER: &str = "x-triage-label";
/// Header the forwarded request carries with the label's score.
pub const SCORE_HEADER: &str = "x-triage-score";
/// Header the forwarded request carries with `true` or `false`: whether the answer was
/// confident (score at the threshold, text readable).
pub const CONFIDENT_HEADER: &str = "x-triage-confident";

/// The classification a forwarded request is annotated with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict<'a> {
    pub label: &'a str,
    pub score: f32,
    pub confident: bool,
}

/// Headers that belong to one connection (RFC 9110, section 7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What to do with a request whose text got a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add the label headers and forward to the default origin.
    Annotate,
    /// Answer 403 problem+json; nothing is forwarded.
    Block,
    /// Add the label headers and forward to this origin instead.
    Route(Uri),
    /// Add the label headers and forward to the default origin with the personal data in
    /// the route's text field replaced by placeholders (the route's `redact_types`).
    Redact,
}

/// Where a route's text is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextSource {
    Body,
    Form(String),
    Json(String),
}

/// One configured route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub path_prefix: String,
    pub text: TextSource,
    /// The classifier that reads the route's text (`"model"`); `None`: the deployment's
    /// default model.
    pub model: Option<String>,
    labels: BTreeMap<String, Action>,
    otherwise: Action,
    unsure: Action,
    /// What of the route's text the `redact` action replaces (`redact_types`, default
    /// all), and what stops any forward with 403 (`refuse`, default none).
    #[cfg(feature = "redact")]
    pub policy: crate::http::hybrid::redaction::Policy,
}

/// The middleware configuration: the origin and the classified routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Middleware {
    pub origin: Uri,
    /// How long an origin may take to answer a forwarded request.
    pub timeout: Duration,
    routes: Vec<RouteRule>,
}

/// How long an origin may take when `timeout_ms` is not configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MiddlewareJson {
    origin: String,
    #[serde(default)]
    timeout_ms: Option<u64>,
    routes: Vec<RouteJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteJson {
    path_prefix: String,
    text: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, ActionJson>,
    #[serde(default)]
    otherwise: Option<ActionJson>,
    #[serde(default)]
    unsure: Option<ActionJson>,
    #[serde(default)]
    redact_types: Option<TypesJson>,
    #[serde(default)]
    refuse: Option<TypesJson>,
}

/// A set of personal-data types: `"all"`, `"email,phone"` or `["email", "phone"]`.
#[derive(Deserialize)]
#[serde(untagged)]
#[cfg_attr(not(feature = "redact"), allow(dead_code))] // read only to refuse it
enum TypesJson {
    Text(String),
    List(Vec<String>),
}

#[cfg(feature = "redact")]
impl TypesJson {
    fn text(self) -> String {
        match self {
            TypesJson::Text(text) => text,
            TypesJson::List(names) if names.is_empty() => "none".into(),
            TypesJson::List(names) => names.join(","),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum ActionJson {
    Named(String),
    Route { route: String },
}

fn config_error(detail: impl std::fmt::Display) -> TriageError {
    TriageError::setting("middleware", format!("is invalid: {detail}"))
}

/// An absolute http(s) URI with no path beyond `/`, query or fragment: an origin.
fn origin(text: &str) -> Result<Uri> {
    let uri: Uri = text
        .parse()
        .map_err(|_| config_error(format!("{text:?} is not a URL")))?;
    let plain_path = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() || !plain_path {
        return Err(config_error(format!(
            "{text:?} is not an origin (http(s)://host[:port])"
        )));
    }
    Ok(uri)
}

impl ActionJson {
    fn into_action(self) -> Result<Action> {
        match self {
            ActionJson::Named(name) if name == "annotate" => Ok(Action::Annotate),
            ActionJson::Named(name) if name == "block" => Ok(Action::Block),
            ActionJson::Named(name) if name == "redact" && cfg!(feature = "redact") => {
                Ok(Action::Redact)
            }
            ActionJson::Named(name) => Err(config_error(format!(
                "unknown action {name:?} (annotate, block, {}or {{\"route\": origin}})",
                if cfg!(feature = "redact") {
                    "redact "
                } else {
                    "" // "annotate, block, or ..."
                }
            ))),
            ActionJson::Route { route } => Ok(Action::Route(origin(&route)?)),
        }
    }
}

impl Middleware {
    /// Parses the configuration; an error names what is wrong with it.
    pub fn from_json(text: &str) -> Result<Middleware> {
        let config: MiddlewareJson = serde_json::from_str(text).map_err(config_error)?;
        let routes = config
            .routes
            .into_iter()
            .map(|route| {
                if !route.path_prefix.starts_with('/') {
                    return Err(config_error(format!(
                        "path_prefix {:?} must start with /",
                        route.path_prefix
                    )));
                }
                let text = match route.text.split_once(':') {
                    None if route.text == "body" => TextSource::Body,
                    Some(("form", field)) if !field.is_empty() => TextSource::Form(field.into()),
                    Some(("json", pointer)) if pointer.starts_with('/') => {
                        TextSource::Json(pointer.into())
                    }
                    _ => {
                        return Err(config_error(format!(
                            "text {:?} is not body, form:<field> or json:/<pointer>",
                            route.text
                        )))
                    }
                };
                let labels = route
                    .labels
                    .into_iter()
                    .map(|(label, action)| Ok((label, action.into_action()?)))
                    .collect::<Result<_>>()?;
                let or_annotate = |action: Option<ActionJson>| {
                    action.map_or(Ok(Action::Annotate), ActionJson::into_action)
                };
                #[cfg(feature = "redact")]
                let policy = {
                    let types = |json: Option<TypesJson>, default: &str| {
                        let text = json.map_or_else(|| default.to_owned(), TypesJson::text);
                        crate::redact::TypeSet::parse_list(&text).map_err(config_error)
                    };
                    crate::http::hybrid::redaction::Policy {
                        redact: types(route.redact_types, "all")?,
                        refuse: types(route.refuse, "none")?,
                    }
                };
                #[cfg(not(feature = "redact"))]
                if route.redact_types.is_some() || route.refuse.is_some() {
                    return Err(config_error(
                        "redact_types and refuse need redaction, which this build leaves out \
                         (triage-core's `redact` feature)",
                    ));
                }
                let rule = RouteRule {
                    path_prefix: route.path_prefix,
                    text,
                    model: route.model.filter(|name| !name.trim().is_empty()),
                    labels,
                    otherwise: or_annotate(route.otherwise)?,
                    unsure: or_annotate(route.unsure)?,
                    #[cfg(feature = "redact")]
                    policy,
                };
                // `redact` with no types would forward the text as it came, under a name
                // that says otherwise.
                #[cfg(feature = "redact")]
                if rule.policy.redact.is_empty()
                    && [&rule.otherwise, &rule.unsure]
                        .into_iter()
                        .chain(rule.labels.values())
                        .any(|action| matches!(action, Action::Redact))
                {
                    return Err(config_error(format!(
                        "route {:?} redacts with an empty redact_types: list the types, or \
                         use annotate",
                        rule.path_prefix
                    )));
                }
                Ok(rule)
            })
            .collect::<Result<_>>()?;
        let timeout = match config.timeout_ms {
            None => DEFAULT_TIMEOUT,
            Some(ms @ 1..=60_000) => Duration::from_millis(ms),
            Some(ms) => return Err(config_error(format!("timeout_ms {ms} is not in 1..=60000"))),
        };
        Ok(Middleware {
            origin: origin(&config.origin)?,
            timeout,
            routes,
        })
    }

    /// The routes, in the order they are matched.
    pub fn routes(&self) -> &[RouteRule] {
        &self.routes
    }

    /// The first route whose prefix matches `path` on a segment boundary, if any. Both are
    /// compared [`normalised`]: a spelling an origin may resolve to a route's path
    /// (`//support`, `/x/../support`, `/%73upport`, `/Support`, `/support;a=1`) is that
    /// route's, so it cannot skip the route's checks.
    pub fn rule_for(&self, path: &str) -> Option<&RouteRule> {
        let path = normalised(path);
        self.routes.iter().find(|rule| {
            let prefix = normalised(&rule.path_prefix);
            let prefix = prefix.trim_end_matches('/');
            path == prefix
                || prefix.is_empty()
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// The request to send on: the incoming method, path, query and headers (less the
    /// hop-by-hop ones, `Host`, `Content-Length` and any client-sent `X-Triage-*`), the
    /// label headers when there is a verdict, and the body exactly as received.
    pub fn forward(
        &self,
        incoming: &http::request::Parts,
        body: Vec<u8>,
        to: Option<&Uri>,
        verdict: Option<Verdict<'_>>,
    ) -> Result<Request<Vec<u8>>> {
        let origin = to.unwrap_or(&self.origin);
        let path = incoming
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let uri = Uri::builder()
            .scheme(origin.scheme_str().unwrap_or("https"))
            .authority(origin.authority().map(|a| a.as_str()).unwrap_or_default())
            .path_and_query(path)
            .build()
            .map_err(|e| TriageError::Config(format!("forwarding URL: {e}")))?;
        let mut request = Request::builder()
            .method(incoming.method.clone())
            .uri(uri)
            .body(body)
            .map_err(|e| TriageError::Config(format!("forwarded request: {e}")))?;
        let headers = request.headers_mut();
        *headers = end_to_end(&incoming.headers);
        headers.remove(HOST);
        headers.remove(CONTENT_LENGTH);
        headers.remove(LABEL_HEADER);
        headers.remove(SCORE_HEADER);
        headers.remove(CONFIDENT_HEADER);
        if let Some(Verdict {
            label,
            score,
            confident,
        }) = verdict
        {
            let value = HeaderValue::from_str(label)
                .map_err(|_| TriageError::Config(format!("label {label:?} is not a header")))?;
            headers.insert(LABEL_HEADER, value);
            let score = HeaderValue::from_str(&format!("{score:.4}"))
                .map_err(|_| TriageError::Config("score is not a header".into()))?;
            headers.insert(SCORE_HEADER, score);
            let confident = if confident { "true" } else { "false" };
            headers.insert(CONFIDENT_HEADER, HeaderValue::from_static(confident));
        }
        Ok(request)
    }
}

impl RouteRule {
    /// The action configured for an answer `label`: the label's own (else `otherwise`)
    /// when the answer is `confident`, else `unsure`.
    pub fn action_for(&self, label: &str, confident: bool) -> &Action {
        if !confident {
            return &self.unsure;
        }
        self.labels.get(label).unwrap_or(&self.otherwise)
    }

    /// The text to classify, read from the body as this route says. A body that does not
    /// hold it is the client's problem: 415 for the wrong media type, 400 for a body that
    /// does not parse, 422 for a missing or non-string field.
    pub fn text_of(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> std::result::Result<String, Problem> {
        let media = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match &self.text {
            TextSource::Body => String::from_utf8(body.to_vec()).map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "malformed-body",
                    "the body is not UTF-8",
                )
            }),
            TextSource::Form(field) => {
                if media != "application/x-www-form-urlencoded" {
                    return Err(unsupported(&media, "application/x-www-form-urlencoded"));
                }
                let mut values = form_urlencoded::parse(body).filter(|(name, _)| name == field);
                let first = values.next();
                if values.next().is_some() {
                    return Err(ambiguous(&format!("form field `{field}` more than once")));
                }
                first
                    .map(|(_, value)| value.into_owned())
                    .ok_or_else(|| missing(&format!("form field `{field}`")))
            }
            TextSource::Json(pointer) => {
                if media != "application/json" {
                    return Err(unsupported(&media, "application/json"));
                }
                let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                    Problem::new(StatusCode::BAD_REQUEST, "malformed-json", e.to_string())
                })?;
                // With a key twice, parsers disagree on which value counts: what was
                // classified and redacted might not be what the origin reads.
                if serde_json::from_slice::<UniqueKeys>(body).is_err() {
                    return Err(ambiguous("an object with the same key twice"));
                }
                value
                    .pointer(pointer)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| missing(&format!("string at JSON pointer `{pointer}`")))
            }
        }
    }
}

#[cfg(feature = "redact")]
impl RouteRule {
    /// The 403 to answer instead of forwarding when the route's `text` holds a type its
    /// `refuse` lists; `None` when it may go on.
    pub fn refusal(&self, text: &str, redactor: &crate::redact::Redactor) -> Option<Problem> {
        if self.policy.refuse.is_empty() {
            return None;
        }
        let refused: crate::redact::TypeSet = redactor
            .find(text)
            .into_iter()
            .map(|f| f.kind)
            .filter(|&kind| self.policy.refuse.contains(kind))
            .collect();
        (!refused.is_empty()).then(|| {
            Problem::new(
                StatusCode::FORBIDDEN,
                "personal-data",
                format!(
                    "{} does not forward text holding personal data ({})",
                    self.path_prefix,
                    refused.names()
                ),
            )
        })
    }

    /// `body` with the personal data of the route's `redact_types` replaced in the route's
    /// text field (every occurrence of a form field), the rest as it was; the body byte
    /// for byte when there is none. The body was read by [`RouteRule::text_of`] already,
    /// so it parses.
    pub fn redact_body(
        &self,
        body: Vec<u8>,
        text: &str,
        redactor: &crate::redact::Redactor,
    ) -> std::result::Result<Vec<u8>, Problem> {
        let types = self.policy.redact;
        if redactor.redact(text, types).found.is_empty() {
            return Ok(body);
        }
        let redact = |value: &str| redactor.redact(value, types).text;
        match &self.text {
            TextSource::Body => Ok(redact(text).into_bytes()),
            TextSource::Form(field) => {
                let mut out = form_urlencoded::Serializer::new(String::new());
                for (name, value) in form_urlencoded::parse(&body) {
                    if &name == field {
                        out.append_pair(&name, &redact(&value));
                    } else {
                        out.append_pair(&name, &value);
                    }
                }
                Ok(out.finish().into_bytes())
            }
            TextSource::Json(pointer) => {
                let mut value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                    Problem::new(StatusCode::BAD_REQUEST, "malformed-json", e.to_string())
                })?;
                if let Some(slot) = value.pointer_mut(pointer) {
                    *slot = serde_json::Value::String(redact(text));
                }
                serde_json::to_vec(&value).map_err(|e| {
                    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
                })
            }
        }
    }
}

fn unsupported(media: &str, expected: &str) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        format!("this route reads {expected}, not {media:?}"),
    )
}

fn ambiguous(what: &str) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "ambiguous-text",
        format!(
            "the body holds {what}: the text checked must be the one the origin reads, so \
             send each once"
        ),
    )
}

/// Deserialises from any JSON and fails on an object with a key twice, at any depth.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON whose objects have unique keys")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self, E> {
        Ok(UniqueKeys)
    }
}

/// `path` as an origin may resolve it, for matching routes: percent-escapes decoded, `\`
/// read as `/` (escaped or not: `%2F` and `%5C` too, since some servers decode them before
/// resolving the path, so `/x/..%2Fcontact` may reach `/contact`), `;` parameters and
/// empty and `.` segments dropped, `..` segments resolved, ASCII letters in lower case.
/// A path is matched as the most permissive origin would read it: a spelling can only
/// bring a request under a route, never take it out of one.
pub fn normalised(path: &str) -> String {
    let mut decoded = Vec::with_capacity(path.len());
    let bytes = path.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[at],
            bytes.get(at + 1).copied().and_then(hex),
            bytes.get(at + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                let byte = (high * 16 + low) as u8;
                decoded.push(if byte == b'\\' { b'/' } else { byte });
                at += 3;
            }
            (b'\\', _, _) => {
                decoded.push(b'/');
                at += 1;
            }
            (byte, _, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&decoded).to_ascii_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        let segment = segment.split(';').next().unwrap_or_default();
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for segment in segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn missing(what: &str) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing-text",
        format!("the body has no {what}"),
    )
}

/// `headers` without the hop-by-hop ones: the fixed list and any named in `Connection`.
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.as_str();
        if HOP_BY_HOP.contains(&lower) || named.iter().any(|n| n == lower) {
            continue;
        }
        kept.append(name.clone(), value.clone());
    }
    kept
}

/// The origin's response headers to pass back to the client: end-to-end ones only, and no
/// `Content-Length` (the adapter's runtime sets it for the body it sends).
pub fn response_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = end_to_end(headers);
    kept.remove(CONTENT_LENGTH);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    const CONFIG: &str = r#"{
        "origin": "http://127.0.0.1:9000",
        "routes": [
            {"path_prefix": "/contact", "text": "form:message",
             "labels": {"spam": "block"}, "otherwise": "annotate"},
            {"path_prefix": "/api/tickets", "text": "json:/ticket/body",
             "labels": {"spam": {"route": "http://127.0.0.1:9001"}}},
            {"path_prefix": "/raw", "text": "body"}
        ]
    }"#;

    fn middleware() -> Middleware {
        Middleware::from_json(CONFIG).expect("parses")
    }

    fn parts(method: Method, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn routes_match_on_segment_boundaries() {
        let m = middleware();
        assert_eq!(m.rule_for("/contact").unwrap().path_prefix, "/contact");
        assert_eq!(m.rule_for("/contact/form").unwrap().path_prefix, "/contact");
        assert!(m.rule_for("/contacts").is_none());
        assert!(m.rule_for("/other").is_none());
    }

    #[test]
    fn actions_by_label_and_otherwise() {
        let m = middleware();
        let contact = m.rule_for("/contact").unwrap();
        assert_eq!(contact.action_for("spam", true), &Action::Block);
        assert_eq!(contact.action_for("ham", true), &Action::Annotate);
        assert_eq!(
            contact.action_for("spam", false),
            &Action::Annotate,
            "unsure: annotate by default"
        );
        let tickets = m.rule_for("/api/tickets").unwrap();
        assert_eq!(
            tickets.action_for("spam", true),
            &Action::Route("http://127.0.0.1:9001".parse().unwrap())
        );
        assert_eq!(
            tickets.action_for("ham", true),
            &Action::Annotate,
            "default otherwise"
        );
    }

    #[test]
    fn bad_configurations_are_refused_naming_the_problem() {
        for (config, needle) in [
            (r#"{"origin": "ftp://x", "routes": []}"#, "not an origin"),
            (
                r#"{"origin": "http://x/path", "routes": []}"#,
                "not an origin",
            ),
            (
                r#"{"origin": "http://x", "routes": [{"path_prefix": "c", "text": "body"}]}"#,
                "must start with /",
            ),
            (
                r#"{"origin": "http://x", "routes": [{"path_prefix": "/c", "text": "xml:a"}]}"#,
                "is not body",
            ),
            (
                r#"{"origin": "http://x", "routes": [{"path_prefix": "/c", "text": "body", "labels": {"spam": "drop"}}]}"#,
                "unknown action",
            ),
            (
                r#"{"origin": "http://x", "routes": [], "extra": 1}"#,
                "unknown field",
            ),
            #[cfg(feature = "redact")]
            (
                r#"{"origin": "http://x", "routes": [{"path_prefix": "/c", "text": "body", "otherwise": "redact", "redact_types": []}]}"#,
                "empty redact_types",
            ),
        ] {
            let error = Middleware::from_json(config).unwrap_err().to_string();
            assert!(
                error.contains("middleware") && error.contains(needle),
                "{error}"
            );
        }
    }

    #[test]
    fn text_from_form_json_and_body() {
        let m = middleware();
        let form = [(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let headers: HeaderMap = form
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_static(v)))
            .collect();
        let contact = m.rule_for("/contact").unwrap();
        assert_eq!(
            contact
                .text_of(&headers, b"name=Ann&message=WIN+a+%22cruise%22")
                .unwrap(),
            "WIN a \"cruise\""
        );
        assert_eq!(
            contact.text_of(&headers, b"name=Ann").unwrap_err().status,
            422
        );
        assert_eq!(
            contact
                .text_of(&HeaderMap::new(), b"message=x")
                .unwrap_err()
                .status,
            415
        );

        let mut json = HeaderMap::new();
        json.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let tickets = m.rule_for("/api/tickets").unwrap();
        assert_eq!(
            tickets
                .text_of(&json, br#"{"ticket": {"body": "printer on fire"}}"#)
                .unwrap(),
            "printer on fire"
        );
        assert_eq!(
            tickets
                .text_of(&json, br#"{"ticket": {"body": 3}}"#)
                .unwrap_err()
                .status,
            422
        );
        assert_eq!(tickets.text_of(&json, b"{").unwrap_err().status, 400);

        let raw = m.rule_for("/raw").unwrap();
        assert_eq!(raw.text_of(&HeaderMap::new(), b"hello").unwrap(), "hello");
        assert_eq!(
            raw.text_of(&HeaderMap::new(), &[0xff, 0xfe])
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn forwarded_requests_keep_the_body_and_path_and_drop_what_is_not_theirs() {
        let m = middleware();
        let incoming = parts(
            Method::POST,
            "http://edge.example/contact/form?lang=en",
            &[
                ("host", "edge.example"),
                ("content-type", "application/octet-stream"),
                ("content-length", "4"),
                ("connection", "keep-alive, x-secret-hop"),
                ("x-secret-hop", "1"),
                ("keep-alive", "timeout=5"),
                ("transfer-encoding", "chunked"),
                ("x-triage-label", "ham"),
                ("authorization", "Bearer user"),
            ],
        );
        let body = vec![0u8, 159, 146, 150];
        let forwarded = m
            .forward(
                &incoming,
                body.clone(),
                None,
                Some(Verdict {
                    label: "spam",
                    score: 0.9712,
                    confident: true,
                }),
            )
            .unwrap();
        assert_eq!(
            forwarded.uri(),
            "http://127.0.0.1:9000/contact/form?lang=en"
        );
        assert_eq!(forwarded.method(), Method::POST);
        assert_eq!(forwarded.body(), &body, "byte for byte");
        let headers = forwarded.headers();
        assert_eq!(headers[LABEL_HEADER], "spam", "ours, not the client's");
        assert_eq!(headers[SCORE_HEADER], "0.9712");
        assert_eq!(headers[CONFIDENT_HEADER], "true");
        assert_eq!(headers["authorization"], "Bearer user");
        assert_eq!(headers["content-type"], "application/octet-stream");
        for gone in [
            "host",
            "content-length",
            "connection",
            "x-secret-hop",
            "keep-alive",
            "transfer-encoding",
        ] {
            assert!(!headers.contains_key(gone), "{gone} forwarded");
        }

        let routed = m
            .forward(
                &incoming,
                Vec::new(),
                Some(&"http://127.0.0.1:9001".parse().unwrap()),
                None,
            )
            .unwrap();
        assert_eq!(routed.uri(), "http://127.0.0.1:9001/contact/form?lang=en");
        assert!(
            !routed.headers().contains_key(LABEL_HEADER),
            "client's label never passes"
        );
    }

    #[test]
    fn a_request_cannot_steer_the_destination() {
        let m = middleware();
        for uri in [
            "http://evil.example/contact",
            "https://127.0.0.1:6666/contact",
        ] {
            let incoming = parts(Method::POST, uri, &[("host", "evil.example")]);
            let forwarded = m.forward(&incoming, Vec::new(), None, None).unwrap();
            assert_eq!(
                forwarded.uri().authority().unwrap().as_str(),
                "127.0.0.1:9000"
            );
            assert_eq!(forwarded.uri().scheme_str(), Some("http"));
        }
    }

    #[test]
    fn spellings_of_a_route_path_are_that_route() {
        let m = middleware();
        for path in [
            "//contact/x",
            "/x/../contact/x",
            "/%63ontact/x",
            "/Contact/x",
            "/contact;a=1/x",
            "/./contact",
            "\\contact\\x",
            // Escaped separators, as servers that decode them before resolving read them.
            "/contact%2Fx",
            "/contact%2f",
            "/x/..%2fcontact",
            "/x%5c..%5ccontact",
            "/x%5C..%5Ccontact%5Cx",
        ] {
            let rule = m.rule_for(path).map(|r| r.path_prefix.as_str());
            assert_eq!(rule, Some("/contact"), "{path}");
        }
        assert_eq!(normalised("/a/b/../../.."), "/");
    }

    #[test]
    fn a_text_given_twice_is_refused() {
        let m = middleware();
        let json = |body: &str| {
            let headers = parts(
                Method::POST,
                "/api/tickets",
                &[("content-type", "application/json")],
            )
            .headers;
            m.rule_for("/api/tickets")
                .unwrap()
                .text_of(&headers, body.as_bytes())
        };
        let twice = json(r#"{"ticket": {"body": "DE89 3704 0044 0532 0130 00", "body": "hello"}}"#);
        assert_eq!(twice.unwrap_err().kind, "urn:triage:problem:ambiguous-text");
        let nested = json(r#"{"ticket": {"body": "hi"}, "x": [{"a": 1, "a": 2}]}"#);
        assert_eq!(
            nested.unwrap_err().kind,
            "urn:triage:problem:ambiguous-text"
        );
        assert_eq!(json(r#"{"ticket": {"body": "hi"}}"#).unwrap(), "hi");
        let headers = parts(
            Method::POST,
            "/contact",
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .headers;
        let form = m.rule_for("/contact").unwrap();
        let twice = form.text_of(&headers, b"message=hi&message=jane%40example.com");
        assert_eq!(twice.unwrap_err().kind, "urn:triage:problem:ambiguous-text");
    }
}
