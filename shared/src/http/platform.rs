//! What an adapter supplies so that the request loop exists once, here: how its platform
//! sends the one outbound request an answer may need, and how it fetches the models the
//! core cannot load by itself (bundles in a bucket, read asynchronously). An adapter is
//! then its entry point (converting its request and response types), a [`Platform`], and
//! its model loading at start-up, and, if it has one, its key-value store for the
//! semantic cache.

use std::time::Duration;

use http::request::Parts;
use http::{Request, Response};
use http_body::Body;

use crate::http::outbound::{Outbound, SendError, Step};
use crate::http::service::Service;

/// A platform's I/O, as the request loop ([`Service::respond`]) needs it.
#[allow(async_fn_in_trait)] // Workers and Spin run one request per thread: no Send bound.
pub trait Platform {
    /// Sends `outbound` (its [`Outbound::take_request`]) with the platform's client,
    /// giving up after [`Outbound::timeout`] and refusing bodies over
    /// [`Outbound::max_response_bytes`].
    async fn send(&self, outbound: &mut Outbound) -> Result<Response<Vec<u8>>, SendError>;

    /// Fetches and hands over ([`Service::provide_classifier`]) the classifiers a request
    /// needs that were added with `pending_classifier` and are not loaded yet (`names`, from
    /// [`Service::wanted_models`]). `Err` is the response to send instead (the store could
    /// not be read). The default, for platforms with no pending models, does nothing.
    async fn load_models(
        &self,
        service: &Service,
        names: Vec<String>,
    ) -> Result<(), Response<Vec<u8>>> {
        let _ = (service, names);
        Ok(())
    }

    /// Whether the platform has a key-value store for the semantic cache
    /// ([`crate::http::hybrid::cache`]): then [`Platform::cache_get`] is read after an
    /// in-process miss and [`Platform::cache_put`] written after a remote answer.
    /// The default: none, the process or isolate's own entries only.
    fn has_cache_store(&self) -> bool {
        false
    }

    /// The bytes stored at `key`, or `None` (absent, expired, or the store failed: a
    /// cache that cannot be read is a miss).
    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        let _ = key;
        None
    }

    /// Stores `value` at `key` for `ttl`; failures are the platform's to log, never the
    /// request's.
    async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let _ = (key, value, ttl);
    }

    /// Waits `duration` on the request's own timer, for a request waiting for another
    /// request's remote call for the same text ([`crate::cache::flight`]; a Workers
    /// request cannot be woken by another request, so it looks every
    /// [`FLIGHT_POLL`]). `false`: no timer, and the request does not wait; the default,
    /// for platforms that run one request per instance (Spin).
    async fn pause(&self, duration: Duration) -> bool {
        let _ = duration;
        false
    }
}

/// How often a request waiting for another request's remote call looks whether it ended
/// ([`Platform::pause`]).
pub const FLIGHT_POLL: Duration = Duration::from_millis(10);

impl Service {
    /// The request loop of an adapter whose platform runs one request at a time per
    /// instance (Workers, Spin): reads `body` under the body budget
    /// ([`Service::read_body`]), loads the models the request needs
    /// ([`Platform::load_models`]), answers ([`Service::serve`]), and sends the outbound
    /// request the answer needs, if any ([`Platform::send`], then [`Outbound::finish`]),
    /// unless a concurrent request for the same text ([`Platform::pause`]) or the
    /// platform's store has its answer.
    /// The native server runs the same steps itself, with inference on its blocking pool.
    pub async fn respond<B>(
        &self,
        parts: Parts,
        body: B,
        platform: &impl Platform,
    ) -> Response<Vec<u8>>
    where
        B: Body + Unpin,
        B::Error: std::fmt::Display,
    {
        let bytes = match self.read_body(&parts.headers, body).await {
            Ok(bytes) => bytes,
            Err(refusal) => return refusal,
        };
        let request = Request::from_parts(parts, bytes);
        let wanted = self.wanted_models(&request);
        if !wanted.is_empty() {
            if let Err(refusal) = platform.load_models(self, wanted).await {
                return refusal;
            }
        }
        match self.serve(request) {
            Step::Respond(response) => response,
            Step::Send(outbound) => {
                // Another request asking for the same text: its answer, once kept.
                let outbound = match follow_flight(*outbound, platform).await {
                    Ok(cached) => return cached,
                    Err(outbound) => outbound,
                };
                let mut outbound = match look_in_store(*outbound, platform).await {
                    Ok(cached) => return cached,
                    Err(outbound) => outbound,
                };
                let outcome = platform.send(&mut outbound).await;
                let (response, writes) = outbound.finish_caching(outcome);
                if !writes.is_empty() && platform.has_cache_store() {
                    for write in writes {
                        platform.cache_put(&write.key, write.value, write.ttl).await;
                    }
                }
                response
            }
        }
    }
}

/// The answer kept by another request of this isolate that was asking the remote for the
/// same text (looked for every [`FLIGHT_POLL`], up to the request's timeout), or the
/// outbound request to go on with.
async fn follow_flight(
    outbound: Outbound,
    platform: &impl Platform,
) -> Result<Response<Vec<u8>>, Box<Outbound>> {
    let Some(flight) = outbound.flight_to_follow() else {
        return Err(Box::new(outbound));
    };
    let mut waited = Duration::ZERO;
    while !flight.has_landed() {
        if waited >= outbound.timeout || !platform.pause(FLIGHT_POLL).await {
            return Err(Box::new(outbound));
        }
        waited += FLIGHT_POLL;
    }
    outbound.answer_after_flight()
}

/// The answer the platform's store holds for `outbound` (the text's own entry first,
/// then its scope's recent list), or the outbound request to send.
async fn look_in_store(
    outbound: Outbound,
    platform: &impl Platform,
) -> Result<Response<Vec<u8>>, Box<Outbound>> {
    let Some((entry_key, recent_key)) =
        outbound.cache_keys().filter(|_| platform.has_cache_store())
    else {
        return Err(Box::new(outbound));
    };
    // The text's own entry; if it is absent or stale, the scope's list, which is read
    // whenever the answer may be added to it (a list never read is never rewritten).
    let outbound = match platform.cache_get(&entry_key).await {
        Some(entry) => match outbound.answer_from_store(Some(&entry), None) {
            Ok(answer) => return Ok(answer),
            Err(outbound) => *outbound,
        },
        None => outbound,
    };
    let recent = platform.cache_get(&recent_key).await;
    outbound.answer_from_store(None, recent.as_deref())
}
