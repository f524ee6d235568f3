//! `codemode mcp`: the MCP server over stdio (default) or streamable HTTP.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::Args;
use codemode::SessionFactory;
use codemode::mcp_server::McpServer;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::SessionArgs;

/// Flags of `codemode mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8765).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Largest request accepted (an HTTP body, or a line on stdio), in bytes.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    max_request_bytes: usize,
    /// Over HTTP, close MCP sessions (and their interpreters) idle for this many seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "SECS", value_parser = super::parse_timeout)]
    session_ttl: f64,
}

pub async fn run(context: &SessionArgs<'_>, args: &McpArgs) -> anyhow::Result<ExitCode> {
    let factory: SessionFactory = Arc::new(context.session_factory().await?);
    let allow_deps = !context.storage.no_runtime_deps;
    let Some(addr) = args.http else {
        serve_stdio(McpServer::new(factory, allow_deps, false), args.max_request_bytes).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let config = StreamableHttpServerConfig::default().with_max_request_body_bytes(args.max_request_bytes);
    let mut sessions = LocalSessionManager::default();
    // rmcp's default closes a session after 5 idle minutes: too short for an agent
    // that thinks between calls and expects its variables to be there.
    sessions.session_config.keep_alive = Some(Duration::from_secs_f64(args.session_ttl));
    let service: StreamableHttpService<McpServer, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(McpServer::new(factory.clone(), allow_deps, true)),
        Arc::new(sessions),
        config,
    );
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    eprintln!("codemode mcp: serving http://{bound}/mcp");
    let max = args.max_request_bytes;
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(move |request, next| screen_http(request, next, max)));
    axum::serve(listener, app).await.context("the HTTP server stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// Serves over stdin/stdout. Lines that are not JSON-RPC messages, or are larger than
/// `max_line` bytes, get a JSON-RPC error here (rmcp would drop them silently), and
/// the server keeps serving.
async fn serve_stdio(server: McpServer, max_line: usize) -> anyhow::Result<()> {
    let (mut to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, from_server) = tokio::io::duplex(1 << 16);
    let stdout = Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
    let out = stdout.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(from_server).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            write_line(&out, &line).await;
        }
    });
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            match screen(&line, max_line) {
                Ok(()) => {
                    if to_server.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
                Err(error) => write_line(&stdout, &error.to_string()).await,
            }
        }
        // End of input: dropping `to_server` ends the server.
    });
    let running = server.serve((server_in, server_out)).await.context("the MCP handshake failed")?;
    running.waiting().await.context("the MCP server stopped")?;
    Ok(())
}

/// `Ok` for a request that is a JSON-RPC 2.0 message; otherwise the error response to send.
fn screen(text: &str, max: usize) -> Result<(), Value> {
    if text.len() > max {
        return Err(too_large(max));
    }
    let parse_error = |e: serde_json::Error| rpc_error(Value::Null, -32700, format!("parse error: {e}"));
    let not_json_rpc = |id| rpc_error(id, -32600, "invalid request: not a JSON-RPC 2.0 message".into());
    if !text.trim_start().starts_with('{') {
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(parse_error)?;
        return Err(not_json_rpc(Value::Null));
    }
    // Only the envelope is read: the params (code, sources) are skipped, not built.
    let envelope: Envelope = serde_json::from_str(text).map_err(parse_error)?;
    if envelope.jsonrpc.as_ref().and_then(Value::as_str) != Some("2.0") {
        return Err(not_json_rpc(envelope.id));
    }
    Ok(())
}

/// The fields of a JSON-RPC message that say whether it is one.
#[derive(serde::Deserialize)]
struct Envelope {
    jsonrpc: Option<Value>,
    #[serde(default)]
    id: Value,
}

fn rpc_error(id: Value, code: i32, message: String) -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn too_large(max: usize) -> Value {
    rpc_error(Value::Null, -32600, format!("request larger than {max} bytes"))
}

/// The HTTP side of [`screen`]: a POST body that is too large or not a JSON-RPC
/// message gets a JSON-RPC error (rmcp would answer in plain text).
async fn screen_http(request: Request, next: Next, max: usize) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, max).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(too_large(max))).into_response();
    };
    match screen(&String::from_utf8_lossy(&bytes), max) {
        Ok(()) => next.run(Request::from_parts(parts, bytes.into())).await,
        Err(error) => (StatusCode::BAD_REQUEST, Json(error)).into_response(),
    }
}

async fn write_line(stdout: &tokio::sync::Mutex<tokio::io::Stdout>, line: &str) {
    let mut stdout = stdout.lock().await;
    let _ = stdout.write_all(format!("{line}\n").as_bytes()).await;
    let _ = stdout.flush().await;
}
