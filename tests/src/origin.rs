//! A recording origin on 127.0.0.1 for the hybrid tests: it keeps every request it receives
//! (method, path and query, headers, body bytes) and answers as an escalation endpoint on
//! `POST /escalate` and as a plain origin everywhere else.
//!
//! `POST /complete` is the parse escalation endpoint: it answers [`remote_object`].
//!
//! The escalation endpoints' answers depend on a marker in the text they are sent, so that
//! cases running side by side against one deployment can each ask for their own failure:
//! `[slow]` answers after [`SLOW_REPLY`], `[lagging]` answers normally after [`LAGGING_REPLY`]
//! (within the timeout), `[stalled-body]` sends its status, headers and the first bytes of
//! a normal answer at once and the rest after [`SLOW_REPLY`] (a body that stalls, which a
//! timeout that stops at the headers misses), `[bad-answer]` sends JSON of the wrong shape (for
//! `/complete`, a value the schema refuses), `[status-500]` answers 500; any other text
//! gets `{"label": "ham", "score": 0.97}` (or `{"object": <remote_object()>}`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// How long a `[slow]` escalation waits before answering: longer than the timeout the
/// hybrid deployments are given ([`crate::hybrid::ESCALATION_TIMEOUT_MS`]).
pub const SLOW_REPLY: Duration = Duration::from_millis(2500);

/// How long a `[lagging]` escalation waits before answering normally: well within the
/// deployments' timeout, long enough for concurrent requests to arrive meanwhile.
pub const LAGGING_REPLY: Duration = Duration::from_millis(500);

/// The label and score the escalation endpoint answers with.
pub const REMOTE_LABEL: &str = "ham";
/// See [`REMOTE_LABEL`].
pub const REMOTE_SCORE: f64 = 0.97;

/// The object the parse escalation endpoint (`/complete`) answers: values for the hybrid
/// parse schema ([`crate::hybrid::PARSE_SCHEMA`]).
pub fn remote_object() -> serde_json::Value {
    serde_json::json!({"category": "billing", "orderId": "ORD-55555"})
}

/// One request as the origin received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub url: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for searching for markers.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A running recording origin; stopped (its port closed, every connection cut) by
/// [`Origin::stop`] or on drop. It closes each connection after one answer, so a stopped
/// origin leaves no pooled connection behind for a client to find.
/// A computed answer for [`Origin::answering`]: the request as received, to a status and a
/// JSON body.
pub type Handler = Arc<dyn Fn(&Received) -> (u16, String) + Send + Sync>;

pub struct Origin {
    name: String,
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    runtime: Option<Runtime>,
}

impl Origin {
    /// Starts an origin on a free loopback port. `name` comes back in its answers'
    /// `x-origin` header and body, so a test can tell which origin answered.
    pub fn start(name: &str) -> Origin {
        Origin::start_with(name, None)
    }

    /// An origin that records every request as [`Origin::start`]'s does and answers each
    /// with `handler` (a verifier, an endpoint computing its answer).
    pub fn answering(name: &str, handler: Handler) -> Origin {
        Origin::start_with(name, Some(handler))
    }

    fn start_with(name: &str, handler: Option<Handler>) -> Origin {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the origin");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind a loopback origin");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new((name.to_owned(), Arc::clone(&received), handler));
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move {
                            let (name, received, handler) = &*state;
                            Ok::<_, Infallible>(answer(request, name, received, handler).await)
                        }
                    });
                    let _ = http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Origin {
            name: name.to_owned(),
            url,
            received,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The name given at start.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every request received so far whose body or URL contains `marker`.
    pub fn received_with(&self, marker: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.text().contains(marker) || r.url.contains(marker))
            .collect()
    }

    /// Every request received so far.
    pub fn all(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Closes the port and every connection: later requests are refused.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn answer(
    request: hyper::Request<Incoming>,
    name: &str,
    received: &Mutex<Vec<Received>>,
    handler: &Option<Handler>,
) -> hyper::Response<Either<Full<Bytes>, StalledBody>> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let record = Received {
        method: parts.method.to_string(),
        url: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let computed = handler.as_ref().map(|handler| handler(&record));
    let text = record.text();
    let is_escalation = record.method == "POST" && record.url == "/escalate";
    let is_completion = record.method == "POST" && record.url == "/complete";
    if let Ok(mut all) = received.lock() {
        all.push(record);
    }
    let (status, body) = if let Some(computed) = computed {
        computed
    } else if is_escalation || is_completion {
        if text.contains("[slow]") {
            tokio::time::sleep(SLOW_REPLY).await;
        }
        if text.contains("[lagging]") {
            tokio::time::sleep(LAGGING_REPLY).await;
        }
        if text.contains("[status-500]") {
            (500, r#"{"error":"down"}"#.to_owned())
        } else if text.contains("[bad-answer]") && is_completion {
            (200, r#"{"object":{"category":"refund"}}"#.to_owned())
        } else if text.contains("[bad-answer]") {
            (200, r#"{"label":3}"#.to_owned())
        } else if is_completion {
            (
                200,
                serde_json::json!({ "object": remote_object() }).to_string(),
            )
        } else {
            (
                200,
                format!(r#"{{"label":"{REMOTE_LABEL}","score":{REMOTE_SCORE}}}"#),
            )
        }
    } else {
        // A plain origin: says who it is, with a status the client must see as it is.
        (201, format!(r#"{{"origin":"{name}"}}"#))
    };
    let stalls = (is_escalation || is_completion) && text.contains("[stalled-body]");
    let length = body.len();
    let body = if stalls {
        Either::Right(StalledBody::new(Bytes::from(body)))
    } else {
        Either::Left(Full::new(Bytes::from(body)))
    };
    hyper::Response::builder()
        .status(status)
        .header("x-origin", name)
        .header("content-type", "application/json")
        .header("content-length", length)
        .body(body)
        .expect("a valid response")
}

/// A body sent in two parts: its first byte at once, the rest after [`SLOW_REPLY`].
pub struct StalledBody {
    first: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
    rest: Option<Bytes>,
}

impl StalledBody {
    fn new(mut body: Bytes) -> StalledBody {
        let rest = body.split_off(body.len().min(1));
        StalledBody {
            first: Some(body),
            pause: Box::pin(tokio::time::sleep(SLOW_REPLY)),
            rest: Some(rest),
        }
    }
}

impl hyper::body::Body for StalledBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.rest.is_none() {
            return Poll::Ready(None);
        }
        match self.pause.as_mut().poll(context) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(self.rest.take().map(|rest| Ok(Frame::data(rest)))),
        }
    }
}
