//! Sends the core's outbound requests (escalations, forwarded middleware requests) with
//! the Workers `fetch` API. Redirects are not followed (a destination comes only from
//! configuration, and an origin's 3xx goes back to the client as it is), and an
//! `AbortSignal` ends the request at its timeout.

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};
use triage_core::http::{Outbound, SendError};
use worker::js_sys::Uint8Array;
use worker::{
    AbortController, AbortSignal, Delay, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect,
};

/// Sends `outbound` and reads its response, within its timeout and size limit.
pub async fn send(outbound: &mut Outbound) -> Result<http::Response<Vec<u8>>, SendError> {
    let request = outbound.take_request();
    let controller = AbortController::default();
    let exchange = Box::pin(exchange(
        request,
        outbound.max_response_bytes,
        controller.signal(),
    ));
    let timer = Box::pin(Delay::from(outbound.timeout));
    match select(exchange, timer).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => {
            controller.abort();
            Err(SendError::Timeout)
        }
    }
}

/// One request and its whole response body, stopping past `limit` bytes.
async fn exchange(
    request: http::Request<Vec<u8>>,
    limit: usize,
    signal: AbortSignal,
) -> Result<http::Response<Vec<u8>>, SendError> {
    let (parts, body) = request.into_parts();
    let mut init = RequestInit::new();
    init.with_method(Method::from(parts.method.as_str().to_owned()))
        .with_headers(Headers::from(&parts.headers))
        .with_redirect(RequestRedirect::Manual);
    if !body.is_empty() {
        init.with_body(Some(Uint8Array::from(body.as_slice()).into()));
    }
    let request = Request::new_with_init(&parts.uri.to_string(), &init).map_err(unreachable)?;
    let mut response = Fetch::Request(request)
        .send_with_signal(&signal)
        .await
        .map_err(unreachable)?;
    let status = StatusCode::from_u16(response.status_code()).map_err(unreachable)?;
    let headers = HeaderMap::from(response.headers());
    let mut bytes = Vec::new();
    // A response without a body has no stream to read.
    if let Ok(mut stream) = response.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(unreachable)?;
            if bytes.len() + chunk.len() > limit {
                return Err(SendError::TooLarge(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    let mut reply = http::Response::new(bytes);
    *reply.status_mut() = status;
    *reply.headers_mut() = headers;
    Ok(reply)
}

fn unreachable(error: impl std::fmt::Display) -> SendError {
    SendError::Unreachable(error.to_string())
}
