//! `codemode serve`: the HTTP execution API; and the flags it shares with
//! `codemode mcp --http` (authentication, memory budget).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use codemode::SessionFactory;
use codemode::server::{AllowedOrigins, Auth, MemoryBudget, ServeOptions, router, serve};

use super::SessionArgs;

/// Flags of `codemode serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Close sessions unused for this many seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "SECS", value_parser = super::parse_timeout)]
    session_ttl: f64,
    /// Seconds a session's lease lasts without renewal: how soon another server on
    /// the same storage may resume the sessions of a server that died.
    #[arg(long, default_value_t = codemode::session::DEFAULT_LEASE.as_secs_f64(), value_name = "SECS", value_parser = super::parse_timeout)]
    session_lease: f64,
    /// Most sessions open at once.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_sessions: usize,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES")]
    max_body_bytes: usize,
    /// Also accept requests whose Origin header is ORIGIN (scheme://host[:port]);
    /// loopback origins and requests without one always are.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
}

/// Bearer-token authentication of an HTTP server.
#[derive(Debug, Args)]
pub(super) struct AuthArgs {
    /// Bearer token clients must send, at least 16 printable characters without
    /// spaces (prefer the environment variable to the flag).
    #[arg(long, env = "CODEMODE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Serve without authentication (only behind something that authenticates).
    #[arg(long, conflicts_with = "token")]
    insecure_no_auth: bool,
}

impl AuthArgs {
    /// The authentication asked for, or why the server must not start.
    pub(super) fn auth(&self) -> anyhow::Result<Auth> {
        Ok(Auth::from_flags(self.token.as_deref(), self.insecure_no_auth)?)
    }
}

/// The memory budget of a server that holds many sessions.
#[derive(Debug, Args)]
pub(super) struct BudgetArgs {
    /// Most MiB the live sessions may reserve, each its memory cap (--memory) and
    /// its journal's (64 MiB); a session past it is refused [default: half the
    /// machine's RAM, or 4096].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=(1 << 24)))]
    memory_budget: Option<u64>,
}

impl BudgetArgs {
    /// The budget in bytes; refused if not even one session reserving `per_session`
    /// bytes fits.
    pub(super) fn bytes(&self, per_session: u64) -> anyhow::Result<u64> {
        let bytes = self.memory_budget.map_or_else(MemoryBudget::default_bytes, |mib| mib << 20);
        if bytes < per_session {
            bail!(
                "the memory budget ({} MiB) is smaller than what one session reserves ({} MiB: its --memory cap and \
                 its journal's)",
                bytes >> 20,
                per_session >> 20
            );
        }
        Ok(bytes)
    }
}

pub async fn run(context: &SessionArgs<'_>, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let auth = args.auth.auth()?;
    let origins = AllowedOrigins::new(&args.allow_origin)?;
    let memory_budget = args.budget.bytes(context.sandbox.memory_reservation())?;
    let factory: SessionFactory = Arc::new(context.session_factory().await?);
    let options = ServeOptions {
        session_ttl: Duration::from_secs_f64(args.session_ttl),
        session_lease: Duration::from_secs_f64(args.session_lease),
        max_sessions: args.max_sessions,
        max_body_bytes: args.max_body_bytes,
        memory_budget,
        origins,
        ..ServeOptions::new(auth)
    };
    let app = router(factory, options).await.context("cannot start serving")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!("codemode serve: listening on http://{}", listener.local_addr()?);
    serve(listener, app).await.context("the HTTP server stopped")?;
    Ok(ExitCode::SUCCESS)
}
