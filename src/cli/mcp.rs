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

use super::SessionArgs;

/// Flags of `codemode mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8765).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Largest HTTP request body accepted, in bytes.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    max_request_bytes: usize,
}

pub async fn run(context: &SessionArgs<'_>, args: &McpArgs) -> anyhow::Result<ExitCode> {
    let factory: SessionFactory = Arc::new(context.session_factory().await?);
    let allow_deps = !context.storage.no_runtime_deps;
    let Some(addr) = args.http else {
        let server = McpServer::new(factory, allow_deps, false);
        let running = server.serve(rmcp::transport::stdio()).await.context("the MCP handshake failed")?;
        running.waiting().await.context("the MCP server stopped")?;
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
