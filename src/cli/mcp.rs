//! `codemode mcp`: the MCP server over stdio (default) or streamable HTTP.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use codemode::SessionFactory;
use codemode::mcp_server::McpServer;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
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
}

pub async fn run(context: &SessionArgs<'_>, args: &McpArgs) -> anyhow::Result<ExitCode> {
    let factory: SessionFactory = Arc::new(context.session_factory().await?);
    let allow_deps = !context.storage.no_runtime_deps;
    let Some(addr) = args.http else {
        serve_stdio(McpServer::new(factory, allow_deps, false), args.max_request_bytes).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let config = StreamableHttpServerConfig::default().with_max_request_body_bytes(args.max_request_bytes);
    let service: StreamableHttpService<McpServer, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(McpServer::new(factory.clone(), allow_deps, true)),
        Default::default(),
        config,
    );
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    eprintln!("codemode mcp: serving http://{bound}/mcp");
    axum::serve(listener, axum::Router::new().nest_service("/mcp", service))
        .await
        .context("the HTTP server stopped")?;
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

/// `Ok` for a line that is a JSON-RPC 2.0 message; otherwise the error response to send.
fn screen(line: &str, max_line: usize) -> Result<(), serde_json::Value> {
    let error = |id: serde_json::Value, code: i32, message: String| serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    if line.len() > max_line {
        return Err(error(serde_json::Value::Null, -32600, format!("request larger than {max_line} bytes")));
    }
    let message: serde_json::Value =
        serde_json::from_str(line).map_err(|e| error(serde_json::Value::Null, -32700, format!("parse error: {e}")))?;
    let id = message.get("id").cloned().unwrap_or(serde_json::Value::Null);
    if message.get("jsonrpc").and_then(serde_json::Value::as_str) != Some("2.0") {
        return Err(error(id, -32600, "invalid request: not a JSON-RPC 2.0 message".into()));
    }
    Ok(())
}

async fn write_line(stdout: &tokio::sync::Mutex<tokio::io::Stdout>, line: &str) {
    let mut stdout = stdout.lock().await;
    let _ = stdout.write_all(format!("{line}\n").as_bytes()).await;
    let _ = stdout.flush().await;
}
