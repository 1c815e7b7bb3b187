//! The one outbound request a request may need, without I/O: [`Service::serve`] answers
//! with a [`Step`]; when that is [`Step::Send`], the adapter sends the [`Outbound`] request
//! with its platform's client (Cloudflare's `fetch`, Spin's outbound HTTP, a native client)
//! and hands what happened to [`Outbound::finish`], which gives the response.
//!
//! ```ignore
//! let response = match service.serve(request) {
//!     Step::Respond(response) => response,
//!     Step::Send(mut outbound) => {
//!         let request = outbound.take_request();
//!         // Result<Response<Vec<u8>>, SendError>, within outbound.timeout and
//!         // outbound.max_response_bytes:
//!         let outcome = my_client_send(request, outbound.timeout).await;
//!         outbound.finish(outcome)
//!     }
//! };
//! ```

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};

use crate::cache::flight::Flight;
use crate::cache::{Hit, Recent, StoredEntry};
use crate::engine::classify::Classification;
use crate::http::api::{Answer, ClassifyResponse, ModelRef};
use crate::http::hybrid::cache::{Pending, StoreWrite};
use crate::http::hybrid::escalation::{self, EscalationFailure, RemoteAnswer};
use crate::http::hybrid::middleware::response_headers;
#[cfg(feature = "parse")]
use crate::http::parse_routes::EscalatedParse;
use crate::http::problem::Problem;
use crate::http::routes::{json_response, problem_response, with_server_timing};
use crate::Timings;

/// What the service needs to answer a request.
#[derive(Debug)]
pub enum Step {
    /// The answer.
    Respond(Response<Vec<u8>>),
    /// Send this request first; its outcome gives the answer.
    Send(Box<Outbound>),
}

/// A request for the adapter to send, to a destination that came from configuration.
#[derive(Debug)]
pub struct Outbound {
    /// The request, with an absolute URI.
    pub request: Request<Vec<u8>>,
    /// Give up after this long and report [`SendError::Timeout`].
    pub timeout: Duration,
    /// Stop reading a response body past this many bytes and report
    /// [`SendError::TooLarge`].
    pub max_response_bytes: usize,
    then: Then,
}

/// Why an outbound request brought back no complete response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No complete response within [`Outbound::timeout`].
    #[error("no response within the timeout")]
    Timeout,
    /// No connection, a reset, a refused request: the platform client's words.
    #[error("{0}")]
    Unreachable(String),
    /// The response body is longer than [`Outbound::max_response_bytes`].
    #[error("the response body is longer than {0} bytes")]
    TooLarge(usize),
}

/// Largest origin response passed back in middleware mode (adapters buffer it).
pub const MAX_FORWARDED_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// What to do with the outcome.
#[derive(Debug)]
enum Then {
    /// An unsure single-text classification went to the remote model.
    Escalated {
        model: ModelRef,
        local: Classification,
        threshold: f32,
        timings: Timings,
        /// Where the remote answer is kept, when a cache is configured.
        cache: Option<Box<Pending>>,
    },
    /// A parse with unsure fields went to the remote model.
    #[cfg(feature = "parse")]
    Parsed(Box<EscalatedParse>),
    /// Middleware mode: the request went on to an origin; pass its response back.
    Forwarded,
}

/// An outbound request's outcome as an escalation reads it: the response, or why there
/// was none.
fn failure(
    outcome: Result<Response<Vec<u8>>, SendError>,
    timeout: Duration,
) -> Result<Response<Vec<u8>>, EscalationFailure> {
    outcome.map_err(|error| match error {
        SendError::Timeout => EscalationFailure::Timeout(timeout.as_millis()),
        SendError::Unreachable(why) => EscalationFailure::Unreachable(why),
        too_large @ SendError::TooLarge(_) => EscalationFailure::BadAnswer(too_large.to_string()),
    })
}

impl Outbound {
    pub(crate) fn escalation(
        request: Request<Vec<u8>>,
        timeout: Duration,
        model: ModelRef,
        local: Classification,
        threshold: f32,
        timings: Timings,
        cache: Option<Box<Pending>>,
    ) -> Outbound {
        Outbound {
            request,
            timeout,
            max_response_bytes: escalation::MAX_REPLY_BYTES,
            then: Then::Escalated {
                model,
                local,
                threshold,
                timings,
                cache,
            },
        }
    }

    #[cfg(feature = "parse")]
    pub(crate) fn parse_escalation(
        request: Request<Vec<u8>>,
        timeout: Duration,
        parse: EscalatedParse,
    ) -> Outbound {
        Outbound {
            request,
            timeout,
            max_response_bytes: escalation::MAX_REPLY_BYTES,
            then: Then::Parsed(Box::new(parse)),
        }
    }

    pub(crate) fn forward(request: Request<Vec<u8>>, timeout: Duration) -> Outbound {
        Outbound {
            request,
            timeout,
            max_response_bytes: MAX_FORWARDED_RESPONSE_BYTES,
            then: Then::Forwarded,
        }
    }

    /// Takes the request out to send it (leaving an empty one), so that a client that
    /// consumes requests need not clone the body before [`Outbound::finish`].
    pub fn take_request(&mut self) -> Request<Vec<u8>> {
        std::mem::replace(&mut self.request, Request::new(Vec::new()))
    }

    /// The platform store keys to read before sending, when the answer may be cached
    /// there: the text's own entry, then its scope's recent list (see
    /// [`crate::http::Platform::cache_get`]). `None`: nothing to look up.
    pub fn cache_keys(&self) -> Option<(String, String)> {
        let pending = self.pending()?;
        Some((pending.probe.entry_key(), pending.probe.recent_key()))
    }

    /// The cache entry this request's answer goes to, if any.
    fn pending(&self) -> Option<&Pending> {
        match &self.then {
            Then::Escalated { cache, .. } => cache.as_deref(),
            #[cfg(feature = "parse")]
            Then::Parsed(parse) => parse.pending(),
            Then::Forwarded => None,
        }
    }

    /// When another request of this process is asking the remote for the same text right
    /// now ([`crate::cache::flight`]), waits for that call to end, woken by it, then
    /// answers with what it kept in the process (`Ok`, `source: "cache"`), so concurrent
    /// misses make one remote call. `Err(self)`: nobody to wait for, or that call kept
    /// nothing (it failed); look in the platform store, then send. The wait is bounded by
    /// the other request's own timeout. For executors on which one request can wake
    /// another (tokio, natively); a Workers request cannot be, and
    /// [`crate::http::Platform::pause`] polls instead ([`Service::respond`]).
    ///
    /// [`Service::respond`]: crate::http::Service::respond
    pub async fn join_flight(self) -> Result<Response<Vec<u8>>, Box<Outbound>> {
        let Some(flight) = self.flight_to_follow() else {
            return Err(Box::new(self));
        };
        flight.landed().await;
        self.answer_after_flight()
    }

    /// The flight of another request asking for the same text, to wait for.
    pub(crate) fn flight_to_follow(&self) -> Option<Arc<Flight>> {
        self.pending().and_then(Pending::flight_to_follow)
    }

    /// The answer the flight this request followed kept in the process, if any.
    pub(crate) fn answer_after_flight(self) -> Result<Response<Vec<u8>>, Box<Outbound>> {
        #[cfg(feature = "parse")]
        if let Then::Parsed(parse) = &self.then {
            return parse.answer_from_memory().ok_or_else(|| Box::new(self));
        }
        let hit = self
            .pending()
            .and_then(|p| p.cache.memory.get(&p.probe, p.cache.similarity));
        match hit {
            Some(hit) => self.answer_classify_hit(hit, false),
            None => Err(Box::new(self)),
        }
    }

    /// The answer from what the platform store held at [`Outbound::cache_keys`]: `entry`
    /// (the text's own) and `recent` (the scope's list, read when `entry` was not
    /// there). A hit is kept in the process too. `Err(self)`: no usable answer there;
    /// send the request (the list read is kept, to add this answer to).
    pub fn answer_from_store(
        mut self,
        entry: Option<&[u8]>,
        recent: Option<&[u8]>,
    ) -> Result<Response<Vec<u8>>, Box<Outbound>> {
        #[cfg(feature = "parse")]
        if let Then::Parsed(parse) = &mut self.then {
            // A parse's values come from its own text: its entry, or the same text in
            // the recent list.
            let now = crate::cache::unix_now();
            let found = parse.cache.as_deref_mut().and_then(|pending| match entry {
                Some(entry) => StoredEntry::read(entry, &pending.probe, now),
                None => {
                    let list = Recent::from_bytes(recent.unwrap_or_default());
                    let hit = list.find(&pending.probe, 1.0, now).filter(|hit| hit.exact);
                    pending.recent = Some(list);
                    hit
                }
            });
            let found = found.map(|hit| hit.value.to_vec());
            let answered = found.and_then(|value| Some((parse.answer_cached(&value)?, value)));
            return match answered {
                Some((response, value)) => {
                    // Kept in the process too.
                    if let Some(pending) = parse.pending() {
                        pending.cache.memory.put(&pending.probe, value);
                    }
                    Ok(response)
                }
                None => Err(Box::new(self)),
            };
        }
        let Then::Escalated {
            cache: Some(pending),
            ..
        } = &mut self.then
        else {
            return Err(Box::new(self));
        };
        let now = crate::cache::unix_now();
        let mut hit = entry.and_then(|bytes| StoredEntry::read(bytes, &pending.probe, now));
        if hit.is_none() {
            let list = Recent::from_bytes(recent.unwrap_or_default());
            hit = list.find(&pending.probe, pending.cache.similarity, now);
            pending.recent = Some(list);
        }
        match hit {
            Some(hit) => self.answer_classify_hit(hit, true),
            None => Err(Box::new(self)),
        }
    }

    /// A classify escalation's answer from a kept remote answer (`hit`), also kept in the
    /// process when it came from elsewhere (`keep`). `Err(self)` when it does not decode.
    fn answer_classify_hit(self, hit: Hit, keep: bool) -> Result<Response<Vec<u8>>, Box<Outbound>> {
        let Ok(remote) = serde_json::from_slice::<RemoteAnswer>(&hit.value) else {
            return Err(Box::new(self));
        };
        if let (true, Some(pending)) = (keep, self.pending()) {
            pending.cache.memory.put(&pending.probe, hit.value.clone());
        }
        match self.then {
            Then::Escalated {
                model,
                local,
                threshold,
                timings,
                ..
            } => Ok(cached_answer(
                model,
                local,
                remote,
                hit.similarity,
                threshold,
                &timings,
            )),
            _ => Err(Box::new(self)),
        }
    }

    /// The response to the client, given what sending the request brought back. An
    /// escalation that failed answers locally (200, `source: "local"`, with the reason);
    /// a forward that failed answers 504 or 502 problem+json.
    pub fn finish(self, outcome: Result<Response<Vec<u8>>, SendError>) -> Response<Vec<u8>> {
        self.finish_caching(outcome).0
    }

    /// [`Outbound::finish`], and what to write to the platform's store: a remote answer
    /// to a cached escalation (also kept in the process). Writes may be skipped or fail
    /// without changing the answer.
    pub fn finish_caching(
        self,
        outcome: Result<Response<Vec<u8>>, SendError>,
    ) -> (Response<Vec<u8>>, Vec<StoreWrite>) {
        let mut writes = Vec::new();
        let response = match self.then {
            Then::Escalated {
                model,
                local,
                threshold,
                timings,
                cache,
            } => {
                let reply = failure(outcome, self.timeout)
                    .and_then(|r| escalation::read_reply(r.status(), r.body()))
                    .and_then(|remote| escalation::one_of_the_labels(remote, &local));
                if let (Ok(remote), Some(pending)) = (&reply, cache) {
                    if let Ok(bytes) = serde_json::to_vec(remote) {
                        writes = (*pending).keep(&bytes);
                    }
                }
                let (result, provenance) = escalation::conclude(local, reply, threshold);
                let answer = Answer { result, provenance };
                let response = json_response(StatusCode::OK, &ClassifyResponse { model, answer });
                with_server_timing(response, &timings)
            }
            #[cfg(feature = "parse")]
            Then::Parsed(parse) => crate::http::parse_routes::conclude_escalated(
                *parse,
                failure(outcome, self.timeout),
                &mut writes,
            ),
            Then::Forwarded => match outcome {
                Ok(origin) => {
                    let (mut parts, body) = origin.into_parts();
                    parts.headers = response_headers(&parts.headers);
                    Response::from_parts(parts, body)
                }
                Err(SendError::Timeout) => problem_response(&Problem::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "origin-timeout",
                    format!(
                        "the origin did not answer within {} ms",
                        self.timeout.as_millis()
                    ),
                )),
                Err(error) => problem_response(&Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "origin-unreachable",
                    format!("the origin could not be used: {error}"),
                )),
            },
        };
        (response, writes)
    }
}

/// The answer for an unsure `local` classification from a cached remote answer.
pub(crate) fn cached_answer(
    model: ModelRef,
    local: Classification,
    remote: RemoteAnswer,
    similarity: f32,
    threshold: f32,
    timings: &Timings,
) -> Response<Vec<u8>> {
    let (result, provenance) = escalation::conclude_cached(local, remote, similarity, threshold);
    let answer = Answer { result, provenance };
    let response = json_response(StatusCode::OK, &ClassifyResponse { model, answer });
    with_server_timing(response, timings)
}
