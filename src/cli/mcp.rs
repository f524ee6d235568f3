//! `codemode mcp`: the MCP server over stdio (default) or streamable HTTP.

mod lines;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clap::Args;
use codemode::SessionFactory;
use codemode::mcp_server::{McpServer, OutputLimits};
use codemode::server::{AllowedOrigins, Auth, MemoryBudget, plain_error, unauthorized};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use self::lines::{Line, LineReader};
use super::SessionArgs;
use super::serve::{AuthArgs, BudgetArgs};

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
    /// Over HTTP, also accept requests whose Origin header is ORIGIN
    /// (scheme://host[:port]); loopback origins and requests without one always are.
    #[arg(long, value_name = "ORIGIN", requires = "http")]
    allow_origin: Vec<String>,
    /// Most characters of one tool result's text (its head and tail are kept around
    /// a note saying how much was cut); structured results are sized to match.
    #[arg(long, default_value_t = codemode::mcp_server::DEFAULT_MAX_OUTPUT_CHARS, value_name = "CHARS",
          value_parser = parse_max_output)]
    max_output_chars: usize,
    /// Largest artifact read as an MCP resource, in bytes (larger ones are read in code).
    #[arg(long, default_value_t = codemode::mcp_server::DEFAULT_MAX_RESOURCE_BYTES, value_name = "BYTES")]
    max_resource_bytes: u64,
    /// Over HTTP: authentication, as `codemode serve` takes it.
    #[command(flatten)]
    auth: AuthArgs,
    /// Over HTTP: the memory budget, as `codemode serve` takes it.
    #[command(flatten)]
    budget: BudgetArgs,
}

/// `--max-output-chars`: a count no smaller than the server's minimum.
fn parse_max_output(text: &str) -> Result<usize, String> {
    let min = codemode::mcp_server::MIN_MAX_OUTPUT_CHARS;
    match text.parse::<usize>() {
        Ok(chars) if chars >= min => Ok(chars),
        Ok(_) => Err(format!("must be at least {min}")),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn run(context: &SessionArgs<'_>, args: &McpArgs) -> anyhow::Result<ExitCode> {
    let limits = OutputLimits { max_chars: args.max_output_chars };
    let max_resource = args.max_resource_bytes;
    let Some(addr) = args.http else {
        let factory: SessionFactory = Arc::new(context.session_factory().await?);
        let server = McpServer::new(factory, !context.storage.no_runtime_deps, false).with_limits(limits, max_resource);
        serve_stdio(server, args.max_request_bytes).await?;
        return Ok(ExitCode::SUCCESS);
    };
    // Everything that can refuse to start is checked before the storage is opened.
    let guard = Arc::new(Guard {
        origins: AllowedOrigins::new(&args.allow_origin)?,
        auth: args.auth.auth()?,
        max: args.max_request_bytes,
    });
    let budget = MemoryBudget::new(args.budget.bytes(context.sandbox.memory_reservation())?);
    let factory: SessionFactory = Arc::new(context.session_factory().await?);
    let allow_deps = !context.storage.no_runtime_deps;
    let config = StreamableHttpServerConfig::default().with_max_request_body_bytes(args.max_request_bytes);
    let mut sessions = LocalSessionManager::default();
    // rmcp's default closes a session after 5 idle minutes: too short for an agent
    // that thinks between calls and expects its variables to be there.
    sessions.session_config.keep_alive = Some(Duration::from_secs_f64(args.session_ttl));
    let service: StreamableHttpService<McpServer, LocalSessionManager> = StreamableHttpService::new(
        move || {
            Ok(McpServer::new(factory.clone(), allow_deps, true)
                .with_budget(budget.clone())
                .with_limits(limits, max_resource))
        },
        Arc::new(sessions),
        config,
    );
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    eprintln!("codemode mcp: serving http://{bound}/mcp");
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(guard, screen_http));
    codemode::server::serve(listener, app).await.context("the HTTP server stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// Serves over stdin/stdout. Lines that are not JSON-RPC messages (not UTF-8, not
/// JSON, not JSON-RPC), or are larger than `max_line` bytes, get a JSON-RPC error
/// here (rmcp would drop them silently), and the server keeps serving. No more than
/// `max_line` bytes of a line are ever held.
async fn serve_stdio(server: McpServer, max_line: usize) -> anyhow::Result<()> {
    let (mut to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, from_server) = tokio::io::duplex(1 << 16);
    let stdout = Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
    let out = stdout.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(from_server).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            write_line(&out, line.as_bytes()).await;
        }
    });
    tokio::spawn(async move {
        let mut lines = LineReader::new(BufReader::new(tokio::io::stdin()), max_line);
        loop {
            let line = match lines.next().await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(error) => {
                    eprintln!("codemode mcp: cannot read stdin: {error}");
                    break;
                }
            };
            let mut bytes = match line {
                Line::Bytes(bytes) if bytes.trim_ascii().is_empty() => continue,
                Line::Bytes(bytes) => bytes,
                Line::TooLong => {
                    write_line(&stdout, too_large(max_line).to_string().as_bytes()).await;
                    continue;
                }
            };
            if let Err(error) = screen(&bytes, max_line) {
                write_line(&stdout, error.to_string().as_bytes()).await;
                continue;
            }
            bytes.push(b'\n');
            if to_server.write_all(&bytes).await.is_err() {
                break;
            }
        }
        // End of input: dropping `to_server` ends the server.
    });
    let running = server.serve((server_in, server_out)).await.context("the MCP handshake failed")?;
    running.waiting().await.context("the MCP server stopped")?;
    Ok(())
}

/// `Ok` for a request that is a JSON-RPC 2.0 message; otherwise the error response to send.
fn screen(bytes: &[u8], max: usize) -> Result<(), Value> {
    if bytes.len() > max {
        return Err(too_large(max));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        rpc_error(Value::Null, -32700, format!("parse error: not UTF-8 (an invalid byte at {})", e.valid_up_to()))
    })?;
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

/// What every HTTP request must pass before rmcp sees it.
struct Guard {
    origins: AllowedOrigins,
    auth: Auth,
    /// Largest POST body, in bytes.
    max: usize,
}

/// The HTTP side of [`screen`], around rmcp: see [`Guard::admit`]; and the errors
/// rmcp answers in plain text (a wrong content type, a missing session) become
/// JSON-RPC errors too, so every refusal is one.
async fn screen_http(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let delete = request.method() == axum::http::Method::DELETE;
    match guard.admit(request).await {
        Ok(request) => {
            let mut response = next.run(request).await;
            // rmcp answers a session's DELETE with 202 Accepted; the session is closed
            // by then, and the Python SDK (like the specification's other servers)
            // expects 200 or 204, logging "Session termination failed: 202" otherwise.
            if delete && response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::OK;
            }
            as_json_rpc_error(response).await
        }
        Err(refusal) => refusal,
    }
}

impl Guard {
    /// The request if it may reach rmcp. Refused: a request from a browser page on
    /// another origin (403: DNS rebinding), one without the token (401), and a POST
    /// body that is too large or not a JSON-RPC message (413, 400).
    async fn admit(&self, request: Request) -> Result<Request, Response> {
        let refuse = |status: StatusCode, error: Value| (status, Json(error)).into_response();
        if !self.origins.allows(request.headers()) {
            let message = "forbidden: requests from web pages on other origins are refused (DNS rebinding \
                           protection); allow an origin with --allow-origin";
            return Err(refuse(StatusCode::FORBIDDEN, rpc_error(Value::Null, -32600, message.into())));
        }
        if !self.auth.accepts(request.headers()) {
            let message = "unauthorized: missing or wrong bearer token (Authorization: Bearer <token>)";
            return Err(unauthorized(Json(rpc_error(Value::Null, -32600, message.into()))));
        }
        if request.method() != axum::http::Method::POST {
            return Ok(request);
        }
        let (parts, body) = request.into_parts();
        let bytes = match read_bounded(body, self.max).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge) => return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, too_large(self.max))),
            Err(BodyError::Unreadable) => {
                let error = rpc_error(Value::Null, -32700, "parse error: the request body could not be read".into());
                return Err(refuse(StatusCode::BAD_REQUEST, error));
            }
        };
        match screen(&bytes, self.max) {
            Ok(()) => Ok(Request::from_parts(parts, bytes.into())),
            Err(error) => Err(refuse(StatusCode::BAD_REQUEST, error)),
        }
    }
}

/// An error response that is not JSON, as a JSON-RPC error without id, keeping the
/// status and headers (`Allow`, ...); anything else as it is.
async fn as_json_rpc_error(response: Response) -> Response {
    let (mut parts, text) = match plain_error(response).await {
        Ok(plain) => plain,
        Err(response) => return response,
    };
    let message = text.unwrap_or_else(|| parts.status.canonical_reason().unwrap_or("error").to_owned());
    let code = if parts.status.is_client_error() { -32600 } else { -32603 };
    let body = rpc_error(Value::Null, code, message).to_string();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body))
}

enum BodyError {
    TooLarge,
    Unreadable,
}

/// The body, read until it passes `max` bytes and no further.
async fn read_bounded(mut body: Body, max: usize) -> Result<Vec<u8>, BodyError> {
    if body.size_hint().lower() > max as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| BodyError::Unreadable)?.into_data() else { continue };
        if bytes.len() + data.len() > max {
            return Err(BodyError::TooLarge);
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes)
}

async fn write_line(stdout: &tokio::sync::Mutex<tokio::io::Stdout>, line: &[u8]) {
    let mut stdout = stdout.lock().await;
    let _ = stdout.write_all(line).await;
    let _ = stdout.write_all(b"\n").await;
    let _ = stdout.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(verdict: Result<(), Value>) -> Option<i64> {
        verdict.err().and_then(|e| e["error"]["code"].as_i64())
    }

    #[test]
    fn only_json_rpc_messages_pass() {
        assert_eq!(code(screen(br#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#, 100)), None);
        for (line, expected) in [
            (&b"\xff\xfe{}"[..], -32700),
            (b"{\"jsonrpc\": \"2.0\", \"method\": \"\xc3\x28\"}", -32700),
            (b"\0", -32700),
            (b"{not json", -32700),
            (b"[1, 2]", -32600),
            (b"null", -32600),
            (br#"{"id": 3}"#, -32600),
            (br#"{"jsonrpc": 2}"#, -32600),
            (&[b'x'; 101], -32600),
        ] {
            assert_eq!(code(screen(line, 100)), Some(expected), "{}", String::from_utf8_lossy(line));
        }
    }
}
