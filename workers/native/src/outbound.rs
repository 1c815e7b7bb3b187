//! Sends the core's outbound requests (escalations, forwarded middleware requests) with
//! ureq: blocking, so callers run it on tokio's blocking pool, outside the inference permit.

use triage_core::http::{Outbound, SendError};
use ureq::{Agent, RequestExt};

/// The agent every outbound request shares (it pools connections). Redirects are not
/// followed: a destination comes only from configuration, and an origin's 3xx goes back
/// to the client as it is. Statuses are not errors: the core reads them.
pub fn agent() -> Agent {
    Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// Sends `outbound` and reads its response, within its timeout and size limit.
pub fn send(agent: &Agent, outbound: &mut Outbound) -> Result<http::Response<Vec<u8>>, SendError> {
    let request = outbound.take_request();
    let limit = outbound.max_response_bytes;
    let response = request
        .with_agent(agent)
        .configure()
        .timeout_global(Some(outbound.timeout))
        .run()
        .map_err(|error| failure(error, limit))?;
    let (parts, mut body) = response.into_parts();
    let bytes = body
        .with_config()
        .limit(limit as u64)
        .read_to_vec()
        .map_err(|error| failure(error, limit))?;
    Ok(http::Response::from_parts(parts, bytes))
}

fn failure(error: ureq::Error, limit: usize) -> SendError {
    match error {
        ureq::Error::Timeout(_) => SendError::Timeout,
        ureq::Error::BodyExceedsLimit(_) => SendError::TooLarge(limit),
        other => SendError::Unreachable(other.to_string()),
    }
}
