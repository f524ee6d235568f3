//! Argument parsing and dispatch for the `codemode` binary.

mod artifacts;
mod call;
mod deps;
mod mcp;
mod progress;
mod repl;
mod run;
mod serve;
mod skills;
mod storage;
mod store;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use codemode::session::Services;
use codemode::{Limits, Sandbox, Session, SessionBuilder};

/// Run Python for AI agents in a WebAssembly sandbox (CPython on WASI in wasmtime).
#[derive(Debug, Parser)]
#[command(name = "codemode", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    sandbox: SandboxArgs,
    #[command(flatten)]
    storage: storage::StorageArgs,
    #[command(subcommand)]
    command: Command,
}

/// Limits and caching of the sandbox.
#[derive(Debug, Args)]
struct SandboxArgs {
    /// Wall-clock limit per run, in seconds.
    #[arg(long, global = true, default_value_t = 30.0, value_name = "SECS", value_parser = parse_timeout, allow_negative_numbers = true)]
    timeout: f64,
    /// Linear-memory cap of the interpreter, in MiB.
    #[arg(long, global = true, default_value_t = 256, value_name = "MIB", value_parser = clap::value_parser!(u64).range(32..=4096))]
    memory: u64,
    /// Fuel (instruction budget) per run; enables deterministic metering (about 40 % slower).
    #[arg(long, global = true, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(1..))]
    fuel: Option<u64>,
    /// Bytes of stdout and of stderr kept per run.
    #[arg(long, global = true, default_value_t = 1 << 20, value_name = "BYTES")]
    max_output: u32,
    /// Where compiled sandbox artifacts are cached [default: ~/.cache/codemode].
    #[arg(long, global = true, env = "CODEMODE_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Python code and print its output, value and error.
    ///
    /// The code comes from CODE, from --file, or from standard input. Prints stdout,
    /// then the last expression's value; the error goes to stderr and the exit code is 1.
    Run(run::RunArgs),
    /// An interactive session whose state persists between inputs.
    Repl,
    /// List, read, write and delete artifacts in the storage.
    #[command(subcommand)]
    Artifacts(artifacts::ArtifactsCommand),
    /// Add, remove, list and install the storage's pure-Python packages.
    #[command(subcommand)]
    Deps(deps::DepsCommand),
    /// List, show, add, delete, search and invoke skills.
    #[command(subcommand)]
    Skills(skills::SkillsCommand),
    /// Check and list tool definitions (py-code-mode's YAML format).
    #[command(subcommand)]
    Tools(tools::ToolsCommand),
    /// Serve the whole system to agents as an MCP server (stdio, or streamable HTTP with --http).
    ///
    /// One sandbox session per MCP session. In an MCP client's config:
    /// `{"command": "codemode", "args": ["mcp", "--base", "~/.codemode"]}`.
    Mcp(mcp::McpArgs),
    /// Serve sessions over an HTTP JSON API (bearer-token auth, idle TTL, metrics).
    ///
    /// Several servers may share one Redis (--redis): they serve the same skills,
    /// artifacts and deps.
    Serve(serve::ServeArgs),
    /// Perform one operation of the API, as `POST /v1/call` and the MCP tools do.
    ///
    /// OP is an operation's name (`list_skills`, `save_artifact`, `run`, ...); ARGS its
    /// arguments as a JSON object. Prints the answer as JSON; exit code 1 if it failed.
    Call(call::CallArgs),
    /// Copy skills and artifacts between a directory (--base) and Redis (--redis).
    #[command(subcommand)]
    Store(store::StoreCommand),
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    let secs: f64 = text.parse().map_err(|_| format!("not a number of seconds: {text:?}"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err("the timeout must be between 0 and 86400 seconds".into());
    }
    Ok(secs)
}

impl SandboxArgs {
    fn limits(&self) -> Limits {
        Limits {
            timeout: Duration::from_secs_f64(self.timeout),
            fuel: self.fuel,
            memory: self.memory << 20,
            stdout: self.max_output,
            stderr: self.max_output,
            ..Limits::default()
        }
    }
}

/// The flags a command that runs code needs.
struct SessionArgs<'a> {
    sandbox: &'a SandboxArgs,
    storage: &'a storage::StorageArgs,
}

impl SessionArgs<'_> {
    /// The sandbox, compiling with a progress indicator if nothing is cached.
    fn build_sandbox(&self) -> Sandbox {
        let mut sandbox = Sandbox::builder().on_compile(progress::compile_progress());
        if let Some(dir) = &self.sandbox.cache_dir {
            sandbox = sandbox.cache_dir(dir);
        }
        sandbox.build()
    }

    /// The storage's skills, artifacts and deps without an interpreter (no tools:
    /// commands that need them start a session).
    async fn services(&self) -> anyhow::Result<Services> {
        self.services_with(self.storage.pip_options()).await
    }

    /// [`services`](Self::services) installing packages with `pip`.
    async fn services_with(&self, pip: codemode::deps::PipOptions) -> anyhow::Result<Services> {
        let builder = Session::builder()
            .sandbox(self.build_sandbox())
            .storage(self.storage.open().await?)
            .allow_runtime_deps(!self.storage.no_runtime_deps)
            .max_artifact_size(self.storage.max_artifact_size)
            .pip(pip);
        builder.build_services().await.context("cannot open the storage")
    }

    async fn session(&self) -> anyhow::Result<Session> {
        (self.session_factory().await?)().build().await.context("cannot start the session")
    }

    /// Opens the storage and loads the tools once; the returned function makes a
    /// builder per session over them.
    async fn session_factory(&self) -> anyhow::Result<impl Fn() -> SessionBuilder + Send + Sync + 'static> {
        let storage = self.storage.open().await?;
        let tools = tools::load(self.storage);
        let sandbox = self.build_sandbox();
        let limits = self.sandbox.limits();
        let (allow_deps, max_artifact, pip) =
            (!self.storage.no_runtime_deps, self.storage.max_artifact_size, self.storage.pip_options());
        Ok(move || {
            Session::builder()
                .tools(tools.clone())
                .sandbox(sandbox.clone())
                .limits(limits.clone())
                .storage(storage.clone())
                .allow_runtime_deps(allow_deps)
                .max_artifact_size(max_artifact)
                .pip(pip.clone())
        })
    }
}

/// Parses the command line and runs it; exit code 1 means the code raised, 2 that
/// codemode itself failed.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let context = SessionArgs { sandbox: &cli.sandbox, storage: &cli.storage };
    let outcome = runtime.block_on(async {
        match &cli.command {
            Command::Run(args) => run::run(&context, args).await,
            Command::Repl => repl::repl(&context).await,
            Command::Artifacts(command) => artifacts::run(&context, command).await,
            Command::Deps(command) => deps::run(&context, command).await,
            Command::Skills(command) => skills::run(&context, command).await,
            Command::Call(args) => call::run(&context, args).await,
            Command::Store(command) => store::run(&cli.storage, command).await,
            Command::Tools(command) => tools::run(command, &cli.storage).await,
            Command::Mcp(args) => mcp::run(&context, args).await,
            Command::Serve(args) => serve::run(&context, args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
