//! Sends the core's outbound requests (escalations, forwarded middleware requests) with
//! Spin's outbound HTTP (`wasi:http/outgoing-handler@0.2`). Spin allows only the hosts
//! listed in `allowed_outbound_hosts`; the destination itself comes only from
//! configuration. A timer on the monotonic clock ends the request at its timeout.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use spin_sdk::http::IncomingResponse;
use triage_core::http::{Outbound, SendError};

/// Sends `outbound` and reads its response, within its timeout and size limit.
pub async fn send(outbound: &mut Outbound) -> Result<http::Response<Vec<u8>>, SendError> {
    let request = outbound.take_request();
    let exchange = Box::pin(exchange(request, outbound.max_response_bytes));
    match select(exchange, sleep(outbound.timeout)).await {
        Either::Left((outcome, _)) => outcome,
        // Dropping the exchange drops its response future and body stream, which cancels
        // the request in the host.
        Either::Right(((), _)) => Err(SendError::Timeout),
    }
}

/// One request and its whole response body, stopping past `limit` bytes. The body goes
/// with its `Content-Length` (without one the host would send it chunked, which the
/// simplest endpoints do not read), as on the other adapters.
async fn exchange(
    mut request: http::Request<Vec<u8>>,
    limit: usize,
) -> Result<http::Response<Vec<u8>>, SendError> {
    let length = request.body().len();
    let carries_body = matches!(
        *request.method(),
        http::Method::POST | http::Method::PUT | http::Method::PATCH
    );
    if carries_body || length > 0 {
        request.headers_mut().insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
    }
    let response: IncomingResponse = spin_sdk::http::send(request).await.map_err(unreachable)?;
    let mut head = http::Response::builder().status(response.status());
    for (name, value) in response.headers().entries() {
        head = head.header(name, value);
    }
    let mut bytes = Vec::new();
    {
        // The stream borrows the response's body: it must go before the response does.
        let mut body = response.take_body_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| SendError::Unreachable(error.to_debug_string()))?;
            if bytes.len() + chunk.len() > limit {
                return Err(SendError::TooLarge(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    head.body(bytes).map_err(unreachable)
}

fn unreachable(error: impl std::fmt::Display) -> SendError {
    SendError::Unreachable(error.to_string())
}

/// A future ready once `duration` has passed on the host's monotonic clock (spin-sdk 5 has
/// no timer). Each poll before the deadline registers a clock pollable with spin-sdk's
/// executor, which wakes the task when it is ready.
fn sleep(duration: Duration) -> Sleep {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    Sleep {
        deadline: wasi::clocks::monotonic_clock::now().saturating_add(nanos),
        registration: None,
    }
}

/// See [`sleep`].
struct Sleep {
    /// The deadline, in nanoseconds of `wasi:clocks/monotonic-clock`.
    deadline: u64,
    /// The pollable registered by the last poll; dropping it cancels the registration.
    registration: Option<spin_executor::CancelOnDropToken>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if wasi::clocks::monotonic_clock::now() >= self.deadline {
            self.registration = None;
            return Poll::Ready(());
        }
        let pollable = wasi::clocks::monotonic_clock::subscribe_instant(self.deadline);
        let token = spin_executor::push_waker_and_get_token(pollable, context.waker().clone());
        self.registration = Some(token.into());
        Poll::Pending
    }
}
