//! Sends the core's outbound requests (escalations, forwarded middleware requests) to
//! Fastly backends. Compute programs reach only the backends linked to the service (or
//! `[local_server.backends]` in `fastly.toml`), each by name; the destination's URL comes
//! only from the settings (`escalation_url`, `parse_escalation_url`, the middleware
//! origins), never from the request, and its origin picks the backend:
//!
//! - the setting `backends`, a JSON object from origin to backend name, e.g.
//!   `{"https://api.example.com": "escalation"}`;
//! - else the backend named like the URL's authority: `api.example.com`,
//!   `127.0.0.1:3301`.
//!
//! A destination with no such backend is unreachable, and the answer says which name was
//! looked for. Fastly never follows redirects: an origin's 3xx goes back as it is.
//! Backends carry their own connect and first-byte timeouts; the request's own timeout
//! ([`Outbound::timeout`]) is kept by polling the pending request.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fastly::http::request::PollResult;
use fastly::Backend;
use triage_core::http::{Outbound, SendError};
use triage_core::TriageError;

/// The setting mapping origins to backend names.
pub const BACKENDS_KEY: &str = "backends";

/// How long to wait between polls of a pending request.
const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The instance's origin-to-backend map ([`configure`]).
static BACKENDS: OnceLock<BTreeMap<String, String>> = OnceLock::new();

/// Reads the `backends` setting; a value that is not a JSON object of strings, or whose
/// keys are not origins, is an error naming the setting.
pub fn configure() -> triage_core::Result<()> {
    let map = match crate::compute::settings::lookup(BACKENDS_KEY) {
        Some(text) if !text.trim().is_empty() => parse_backends(&text)?,
        _ => BTreeMap::new(),
    };
    let _ = BACKENDS.set(map);
    Ok(())
}

fn parse_backends(text: &str) -> triage_core::Result<BTreeMap<String, String>> {
    let bad = |reason: String| TriageError::setting(BACKENDS_KEY, reason);
    let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(|error| {
        bad(format!(
            "is not a JSON object from origin to backend name ({error})"
        ))
    })?;
    map.into_iter()
        .map(|(origin, backend)| {
            let not_origin = || {
                bad(format!(
                    "{origin:?} is not an origin (http(s)://host[:port])"
                ))
            };
            let uri: http::Uri = origin.parse().map_err(|_| not_origin())?;
            let bare = matches!(uri.path(), "" | "/") && uri.query().is_none();
            if uri.scheme().is_none() || uri.authority().is_none() || !bare {
                return Err(not_origin());
            }
            Ok((origin_of(&uri), backend))
        })
        .collect()
}

/// `scheme://authority`, lower-cased, as the map's keys are compared.
fn origin_of(uri: &http::Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map(|a| a.as_str()).unwrap_or_default()
    )
    .to_ascii_lowercase()
}

/// The backend `uri` is sent to (see the module docs).
fn backend_for(uri: &http::Uri) -> Result<Backend, SendError> {
    let origin = origin_of(uri);
    let mapped = BACKENDS.get().and_then(|map| map.get(&origin));
    let name = match mapped {
        Some(name) => name.clone(),
        None => uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
    };
    match Backend::from_name(&name) {
        Ok(backend) if backend.exists() => Ok(backend),
        _ => Err(SendError::Unreachable(format!(
            "the service has no backend named {name:?} for {origin} (define it in \
             fastly.toml, or map the origin to a backend with the setting {BACKENDS_KEY})"
        ))),
    }
}

/// Sends `outbound` and reads its response, within its timeout and size limit.
pub fn send(outbound: &mut Outbound) -> Result<http::Response<Vec<u8>>, SendError> {
    let deadline = Instant::now() + outbound.timeout;
    let request = outbound.take_request();
    let backend = backend_for(request.uri())?;
    let (parts, body) = request.into_parts();
    let mut sent = fastly::Request::new(parts.method, parts.uri.to_string());
    for (name, value) in &parts.headers {
        sent.append_header(name, value);
    }
    if !body.is_empty() {
        sent.set_body(body);
    }
    let mut pending = sent.send_async(backend).map_err(unreachable)?;
    let mut response = loop {
        match pending.poll() {
            PollResult::Done(outcome) => break outcome.map_err(unreachable)?,
            PollResult::Pending(still) => {
                if Instant::now() >= deadline {
                    return Err(SendError::Timeout);
                }
                pending = still;
                std::thread::sleep(POLL_INTERVAL);
            }
        }
    };
    let mut head = http::Response::builder().status(response.get_status().as_u16());
    for (name, value) in response.get_headers() {
        head = head.header(name, value);
    }
    let bytes = read_limited(response.take_body(), outbound.max_response_bytes, deadline)?;
    head.body(bytes).map_err(unreachable)
}

/// The whole body, [`SendError::TooLarge`] past `limit` bytes, or [`SendError::Timeout`]
/// once `deadline` passes: each read waits for bytes with what is left of the time, so a
/// backend that stalls or trickles its body cannot hold the request past its timeout.
fn read_limited(body: fastly::Body, limit: usize, deadline: Instant) -> Result<Vec<u8>, SendError> {
    let mut body = body.into_handle();
    let mut bytes = Vec::new();
    let mut chunk = vec![0; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !super::host::wait_readable(&body, left).map_err(unreachable)? {
            return Err(SendError::Timeout);
        }
        let read = body
            .read(&mut chunk)
            .map_err(|error| SendError::Unreachable(error.to_string()))?;
        if read == 0 {
            return Ok(bytes);
        }
        if bytes.len() + read > limit {
            return Err(SendError::TooLarge(limit));
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
}

fn unreachable(error: impl std::fmt::Display) -> SendError {
    SendError::Unreachable(error.to_string())
}
