//! `codemode serve`: the HTTP execution API.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use codemode::SessionFactory;
use codemode::server::{ServeOptions, router};

use super::SessionArgs;

/// Flags of `codemode serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Bearer token clients must send (prefer the environment variable to the flag).
    #[arg(long, env = "CODEMODE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Serve without authentication (only behind something that authenticates).
    #[arg(long, conflicts_with = "token")]
    insecure_no_auth: bool,
    /// Close sessions unused for this many seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "SECS", value_parser = super::parse_timeout)]
    session_ttl: f64,
    /// Most sessions open at once.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_sessions: usize,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES")]
    max_body_bytes: usize,
}

pub async fn run(context: &SessionArgs<'_>, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let token = args.token.clone().filter(|t| !t.is_empty());
    if token.is_none() && !args.insecure_no_auth {
        bail!("refusing to serve without authentication: set CODEMODE_TOKEN (or --token), or pass --insecure-no-auth");
    }
    if token.as_ref().is_some_and(|t| t.len() < 16) {
        bail!("the token is too short: use at least 16 characters");
    }
    let factory: SessionFactory = Arc::new(context.session_factory().await?);
    let options = ServeOptions {
        token,
        session_ttl: Duration::from_secs_f64(args.session_ttl),
        max_sessions: args.max_sessions,
        max_body_bytes: args.max_body_bytes,
    };
    let app = router(factory, options).await.context("cannot start serving")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!("codemode serve: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await.context("the HTTP server stopped")?;
    Ok(ExitCode::SUCCESS)
}
