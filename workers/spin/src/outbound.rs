//! Sends the core's outbound requests (escalations, forwarded middleware requests) with
//! Spin's outbound HTTP (`wasi:http` client). Spin allows only the hosts listed in
//! `allowed_outbound_hosts`; the destination itself comes only from configuration. A
//! timer ends the request at its timeout.

use bytes::Bytes;
use futures_util::future::{select, Either};
use http_body_util::{BodyExt, Full};
use triage_core::http::{Outbound, SendError};

/// Sends `outbound` and reads its response, within its timeout and size limit.
pub async fn send(outbound: &mut Outbound) -> Result<http::Response<Vec<u8>>, SendError> {
    let request = outbound
        .take_request()
        .map(|body| Full::new(Bytes::from(body)));
    let exchange = Box::pin(exchange(request, outbound.max_response_bytes));
    let timer = Box::pin(spin_sdk::time::sleep(outbound.timeout));
    match select(exchange, timer).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => Err(SendError::Timeout),
    }
}

/// One request and its whole response body, stopping past `limit` bytes.
async fn exchange(
    request: http::Request<Full<Bytes>>,
    limit: usize,
) -> Result<http::Response<Vec<u8>>, SendError> {
    let response = spin_sdk::http::send(request).await.map_err(unreachable)?;
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(unreachable)?.into_data() else {
            continue; // trailers carry nothing we read
        };
        if bytes.len() + data.len() > limit {
            return Err(SendError::TooLarge(limit));
        }
        bytes.extend_from_slice(&data);
    }
    Ok(http::Response::from_parts(parts, bytes))
}

fn unreachable(error: impl std::fmt::Display) -> SendError {
    SendError::Unreachable(error.to_string())
}
