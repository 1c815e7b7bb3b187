//! The HTTP server: reads each body under the budget, then hands the request to the core.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;
use triage_core::http::{problem_response, Problem, Service};

/// What every request handler shares: the service, and one permit per core to run it.
struct Shared {
    service: Arc<Service>,
    cores: Semaphore,
}

/// A router that answers every path of the contract with `service`.
pub fn router(service: Arc<Service>) -> Router {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shared = Shared {
        service,
        cores: Semaphore::new(cores),
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

/// Binds `addr` and serves until Ctrl-C.
pub async fn serve_until_ctrl_c(addr: SocketAddr, service: Arc<Service>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(address = %listener.local_addr()?, "triage serving");
    axum::serve(listener, router(service))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match shared.service.read_body(&parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(refusal) => return to_axum(refusal),
    };
    let request = http::Request::from_parts(parts, bytes);
    // Inference is CPU-bound: run it on the blocking pool, not on the async workers, and
    // one request per core at a time. More would only share the cores, and each blocking
    // thread would keep its own tract scratch memory: under 64 connections that grew the
    // process from 34 to 171 MB (bench/RESULTS.md, load).
    let Ok(_permit) = shared.cores.acquire().await else {
        return to_axum(problem_response(&Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the server is shutting down",
        )));
    };
    let service = Arc::clone(&shared.service);
    let answered = tokio::task::spawn_blocking(move || service.handle(&request)).await;
    match answered {
        Ok(response) => to_axum(response),
        Err(error) => to_axum(problem_response(&Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("request handler failed: {error}"),
        ))),
    }
}

fn to_axum(response: http::Response<Vec<u8>>) -> Response {
    response.map(Body::from)
}

/// The address the server binds by default.
pub fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
