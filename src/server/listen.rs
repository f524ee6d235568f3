//! Serving a router on TCP, as `codemode serve` and `codemode mcp --http` both do:
//! `TCP_NODELAY` on every accepted socket and one log line per request.

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::ListenerExt;

/// Serves `app` on `listener` until the server fails.
///
/// Nagle's algorithm is off on every connection: a keep-alive client sending small
/// requests would otherwise wait for the peer's delayed ACK (40 ms on Linux) on
/// each one. Every request is logged at info under the `codemode::http` target.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "cannot set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, app.layer(middleware::from_fn(log_request))).await
}

/// Logs method, path, status and duration; never headers (the bearer token), the
/// query string or a body, and no more than the start of a long path.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = crate::text::shown(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(target: "codemode::http", %method, %path, status, ms = format_args!("{ms:.1}"), "request");
    response
}
