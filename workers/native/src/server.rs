//! The HTTP server: reads each body under the budget, hands the request to the core, and
//! sends the outbound request the core asks for, if any (escalation, middleware mode).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;
use triage_core::http::{problem_response, Problem, Service, Step};

use crate::outbound;

/// How long a client may take to send a request's body, by default: a client that
/// declares a body and never sends it would otherwise hold its connection (and, for a body
/// declared over the budget, the drain of it) for ever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// What every request handler shares: the service, and one permit per core to run it.
struct Shared {
    service: Arc<Service>,
    body_timeout: Duration,
    cores: Semaphore,
    /// Sends escalations and forwarded requests (connections are pooled).
    agent: ureq::Agent,
}

/// A router that answers every path of the contract with `service`, allowing
/// [`BODY_TIMEOUT`] for each request's body.
pub fn router(service: Arc<Service>) -> Router {
    router_with(service, BODY_TIMEOUT)
}

/// [`router`], allowing `body_timeout` for each request's body (then 408).
pub fn router_with(service: Arc<Service>, body_timeout: Duration) -> Router {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shared = Shared {
        service,
        body_timeout,
        cores: Semaphore::new(cores),
        agent: outbound::agent(),
    };
    Router::new()
        .fallback(handle)
        .with_state(Arc::new(shared))
        .layer(TraceLayer::new_for_http())
}

/// Serves `service` on `listener` until the process is stopped.
pub async fn serve(listener: TcpListener, service: Arc<Service>) -> std::io::Result<()> {
    axum::serve(listener, router(service)).await
}

/// Binds `addr` and serves until Ctrl-C, allowing `body_timeout` for each request's body.
pub async fn serve_until_ctrl_c(
    addr: SocketAddr,
    service: Arc<Service>,
    body_timeout: Duration,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!(address = %listener.local_addr()?, "triage serving");
    axum::serve(listener, router_with(service, body_timeout))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let read = shared.service.read_body(&parts.headers, body);
    let bytes = match tokio::time::timeout(shared.body_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(refusal)) => return to_axum(refusal),
        // A body declared over the budget is refused as such, drained or not.
        Err(_) => {
            if let Some(refusal) = shared.service.reject_declared_length(&parts.headers) {
                return to_axum(refusal);
            }
            return to_axum(problem_response(&Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                format!(
                    "the request body did not arrive within {} s",
                    shared.body_timeout.as_secs_f64()
                ),
            )));
        }
    };
    let request = http::Request::from_parts(parts, bytes);
    let step = match answer(&shared, request).await {
        Ok(step) => step,
        Err(refusal) => return to_axum(refusal),
    };
    match step {
        Step::Respond(response) => to_axum(response),
        Step::Send(outbound) => {
            // Waiting on another server holds no core: the permit is gone by now. A
            // concurrent request for the same text is waited for, not repeated.
            let mut outbound = match outbound.join_flight().await {
                Ok(cached) => return to_axum(cached),
                Err(outbound) => outbound,
            };
            let agent = shared.agent.clone();
            let sent = tokio::task::spawn_blocking(move || {
                let outcome = outbound::send(&agent, &mut outbound);
                outbound.finish(outcome)
            })
            .await;
            to_axum(sent.unwrap_or_else(|error| internal(&error)))
        }
    }
}

/// Runs the service on the request. Inference is CPU-bound: it runs on the blocking pool,
/// not on the async workers, and one request per core at a time. More would only share the
/// cores, and each blocking thread would keep its own tract scratch memory: under 64
/// connections that grew the process from 34 to 171 MB (bench/RESULTS.md, load).
async fn answer(
    shared: &Shared,
    request: http::Request<Vec<u8>>,
) -> Result<Step, http::Response<Vec<u8>>> {
    let Ok(_permit) = shared.cores.acquire().await else {
        return Err(problem_response(&Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the server is shutting down",
        )));
    };
    let service = Arc::clone(&shared.service);
    tokio::task::spawn_blocking(move || service.serve(request))
        .await
        .map_err(|error| internal(&error))
}

fn internal(error: &tokio::task::JoinError) -> http::Response<Vec<u8>> {
    problem_response(&Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("request handler failed: {error}"),
    ))
}

fn to_axum(response: http::Response<Vec<u8>>) -> Response {
    response.map(Body::from)
}

/// The address the server binds by default.
pub fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
