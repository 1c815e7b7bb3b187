//! Reading a request body under the body budget, for any `http_body::Body`, so that every
//! adapter stops at the same byte and answers the same 413.

use bytes::{Buf, BufMut};
use http::{HeaderMap, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;

use crate::http::problem::Problem;
use crate::http::routes::problem_response;
use crate::http::service::Service;

/// How much of a refused body [`Service::read_body`] reads and drops at most before it
/// answers. Clients (and proxies such as `wrangler dev`'s) that are still sending when the
/// 413 goes out only see it once their body is taken; past this, the connection may be
/// cut instead, and a body declared longer than this is not drained at all.
pub const DRAIN_LIMIT_BYTES: usize = 16 * 1024 * 1024;

/// Reads and drops the rest of `body`, up to [`DRAIN_LIMIT_BYTES`].
async fn drain<B: Body + Unpin>(body: &mut B) {
    let mut seen = 0usize;
    while seen < DRAIN_LIMIT_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |data| data.remaining()),
            _ => break,
        }
    }
}

impl Service {
    /// Reads `body` into memory, refusing it as soon as it is known to be over the body
    /// budget: from its declared `Content-Length` before reading anything, else from the
    /// bytes read so far. A refused body is not kept, but the rest of it is read and
    /// dropped (up to [`DRAIN_LIMIT_BYTES`]) so that the 413 reaches a client still
    /// sending. The `Err` is the response to send (413, or 400 when the body could not
    /// be read).
    pub async fn read_body<B>(
        &self,
        headers: &HeaderMap,
        mut body: B,
    ) -> Result<Vec<u8>, Response<Vec<u8>>>
    where
        B: Body + Unpin,
        B::Error: std::fmt::Display,
    {
        if let Some(response) = self.reject_declared_length(headers) {
            // A body declared past what would be drained is cut at once: draining part of
            // it would only keep the answer waiting (for the whole timeout, when the
            // client declares more than it sends).
            let declared = headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|len| len <= DRAIN_LIMIT_BYTES as u64) {
                drain(&mut body).await;
            }
            return Err(response);
        }
        let limit = self.max_body_bytes();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| {
                problem_response(&Problem::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable-body",
                    format!("request body could not be read: {error}"),
                ))
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers carry nothing the contract reads
            };
            let read = bytes.len() + data.remaining();
            if read > limit {
                drain(&mut body).await;
                return Err(self.body_too_large(read));
            }
            bytes.put(data);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::task::{Context, Poll, Waker};

    use http::header::CONTENT_LENGTH;
    use http::HeaderValue;

    use super::*;

    /// A body whose bytes never arrive.
    struct Silent;

    impl Body for Silent {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
            Poll::Pending
        }
    }

    fn first_poll(service: &Service, declared: u64) -> Poll<Result<Vec<u8>, Response<Vec<u8>>>> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(declared));
        let read = pin!(service.read_body(&headers, Silent));
        read.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_body_declared_past_the_drain_limit_is_refused_without_waiting_for_it() {
        let service = Service::without_model(Problem::new(StatusCode::OK, "none", "test"));
        let Poll::Ready(Err(refusal)) = first_poll(&service, 99_999_999) else {
            panic!("the 413 waited for a body that never comes");
        };
        assert_eq!(refusal.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Within the drain limit, the rest is read first (so a client still sending sees
        // the 413): it waits for the body.
        let over = service.max_body_bytes() as u64 + 1;
        assert!(first_poll(&service, over).is_pending());
    }
}
