//! The HTTP server: reads each body under the budget, then hands the request to the core.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use http::StatusCode;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use triage_core::http::{problem_response, Problem, Service};

/// A router that answers every path of the contract with `service`.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(service)
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

async fn handle(State(service): State<Arc<Service>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match service.read_body(&parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(refusal) => return to_axum(refusal),
    };
    let request = http::Request::from_parts(parts, bytes);
    // Inference is CPU-bound: run it on the blocking pool, not on the async workers.
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
