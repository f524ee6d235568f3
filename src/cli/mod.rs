//! Argument parsing and dispatch for the `codemode` binary.

mod artifacts;
mod call;
mod deps;
mod mcp;
mod model;
mod paths;
mod profile;
mod progress;
mod pypi;
mod repl;
mod run;
mod serve;
mod skills;
mod storage;
mod store;
mod tools;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};
use codemode::session::Services;
use codemode::{ErrorKind, Limits, Sandbox, Session, SessionBuilder, SessionError};

/// Run Python for AI agents in a WebAssembly sandbox (CPython on WASI in wasmtime).
#[derive(Debug, Parser)]
#[command(name = "codemode", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    sandbox: SandboxArgs,
    #[command(flatten)]
    storage: storage::StorageArgs,
    #[command(subcommand)]
    command: Command,
}

/// How much codemode says on stderr.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
struct OutputArgs {
    /// More diagnostics on stderr: -v info (with one line per HTTP request served),
    /// -vv debug, -vvv trace [default: warnings, or RUST_LOG / CODEMODE_LOG].
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    /// Errors only on stderr (no warnings, no progress).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

impl OutputArgs {
    /// Diagnostics go to stderr (never to stdout, which MCP over stdio owns). -v and
    /// -q win over the environment; then `CODEMODE_LOG`, then `RUST_LOG` (both take
    /// filters such as `debug` or `codemode=info,rmcp=debug`); else warnings.
    ///
    /// rmcp's service loop logs every message it receives at info (arguments, and
    /// so whatever secrets a client put in them): it stays at warnings unless the
    /// filter names rmcp itself.
    fn init_logging(&self) {
        let level = match (self.quiet, self.verbose) {
            (true, _) => Some("error".to_owned()),
            (false, 0) => None,
            (false, 1) => Some("info".to_owned()),
            (false, 2) => Some("debug".to_owned()),
            _ => Some("trace".to_owned()),
        };
        let directives = level
            .or_else(|| std::env::var("CODEMODE_LOG").ok())
            .or_else(|| std::env::var("RUST_LOG").ok())
            .unwrap_or_else(|| "warn".to_owned());
        let filter = tracing_subscriber::EnvFilter::new(log_filter(&directives));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
}

/// `directives` with rmcp's message log held at warnings unless they name rmcp.
fn log_filter(directives: &str) -> String {
    if directives.contains("rmcp") { directives.to_owned() } else { format!("{directives},rmcp::service=warn") }
}

/// `--json` of every command that prints data.
#[derive(Debug, Args)]
pub struct Format {
    /// Print the data as JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Prints `value` as pretty JSON and a newline on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

/// Limits and caching of the sandbox.
#[derive(Debug, Args)]
#[command(next_help_heading = "Sandbox")]
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
    /// MiB the data profile's writable `/tmp` may hold per session (a write past it
    /// fails in the guest with ENOSPC; the session goes on). The default profile has
    /// no writable directory.
    #[arg(long, global = true, default_value_t = Limits::default().tmp_bytes >> 20, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=MAX_TMP_MIB), allow_negative_numbers = true)]
    tmp: u64,
    /// Where compiled sandbox artifacts are cached [default: ~/.cache/codemode].
    #[arg(long, global = true, env = "CODEMODE_CACHE_DIR", value_name = "DIR", value_parser = paths::path())]
    cache_dir: Option<PathBuf>,
    /// Only these tools (comma-separated exact names, each with all its recipes;
    /// '' for none): the others are absent and refused [default: all]. `serve`
    /// applies it to every session, which may narrow it further.
    #[arg(long, global = true, value_name = "NAMES", value_delimiter = ',')]
    allow_tools: Option<Vec<String>>,
    /// Only these skills (comma-separated names; '' for none): the others are
    /// absent, cannot be invoked, read, created or deleted [default: all].
    #[arg(long, global = true, value_name = "NAMES", value_delimiter = ',')]
    allow_skills: Option<Vec<String>>,
    /// The interpreter: `default`, or `data` (numpy, pandas, scipy, scikit-learn,
    /// matplotlib; prepare it once with `codemode profile fetch data`).
    #[arg(long, global = true, env = "CODEMODE_PROFILE", default_value = "default", value_name = "PROFILE")]
    profile: codemode::Profile,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Python code and print its output, value and error.
    ///
    /// The code comes from CODE, from --file, or from standard input. Prints stdout,
    /// then the last expression's value; the error goes to stderr and the exit code is 1.
    Run(run::RunArgs),
    /// An interactive session whose state persists between inputs.
    ///
    /// With --session NAME its journal is kept in the storage under NAME: a later
    /// `codemode repl --session NAME` (after a quit, a crash or a reboot) resumes it
    /// with its variables, without running any tool again.
    Repl(repl::ReplArgs),
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
    /// Print every tool and skill as a compact Python stub for a model's prompt.
    ///
    /// Typed keyword-only signatures, defaults and one-line docs: what `tools.describe()`
    /// and `skills.describe()` give agent code, and the `describe` operation answers.
    Describe {
        /// What to describe.
        #[arg(value_parser = ["tools", "skills", "all"], default_value = "all")]
        what: String,
    },
    /// Copy skills and artifacts between a directory (--base) and Redis (--redis).
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Install the skill-search model (all-MiniLM-L6-v2) or say where it is.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Prepare an interpreter profile ahead of time (`profile fetch data`), or say
    /// whether it is.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Print a completion script for SHELL on stdout.
    ///
    /// e.g. `codemode completions bash > ~/.local/share/bash-completion/completions/codemode`,
    /// `codemode completions zsh > ~/.zfunc/_codemode`,
    /// `codemode completions fish > ~/.config/fish/completions/codemode.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The largest `--tmp`: 16 GiB of a host's disk per session is already more than a
/// server should give; a typo past it is refused rather than taken.
const MAX_TMP_MIB: u64 = 16 << 10;

fn parse_timeout(text: &str) -> Result<f64, String> {
    let secs: f64 = text.parse().map_err(|_| format!("not a number of seconds: {text:?}"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err("the timeout must be between 0 and 86400 seconds".into());
    }
    Ok(secs)
}

impl SandboxArgs {
    /// The tools and skills sessions may reach.
    fn allow(&self) -> codemode::model::Allow {
        let names = |list: &Option<Vec<String>>| {
            list.as_ref().map(|l| l.iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect())
        };
        codemode::model::Allow { tools: names(&self.allow_tools), skills: names(&self.allow_skills) }
    }

    /// What a server reserves per session from its memory budget.
    fn memory_reservation(&self) -> u64 {
        Session::builder().limits(self.limits()).profile(self.profile).memory_reservation()
    }

    fn limits(&self) -> Limits {
        Limits {
            timeout: Duration::from_secs_f64(self.timeout),
            fuel: self.fuel,
            memory: self.memory << 20,
            stdout: self.max_output,
            stderr: self.max_output,
            tmp_bytes: self.tmp << 20,
            ..Limits::default()
        }
    }
}

/// The flags a command that runs code needs.
struct SessionArgs<'a> {
    sandbox: &'a SandboxArgs,
    storage: &'a storage::StorageArgs,
    /// -q: no progress on stderr.
    quiet: bool,
}

impl SessionArgs<'_> {
    /// The sandbox, compiling with a progress indicator if nothing is cached.
    fn build_sandbox(&self) -> Sandbox {
        let mut sandbox = Sandbox::builder();
        if !self.quiet {
            sandbox = sandbox.on_compile(progress::compile_progress());
        }
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
        self.services_built(pip, false).await
    }

    /// [`services`](Self::services) with the tools and the session's limits: what
    /// running a skill's examples needs (`skills add --example`, `skills test`).
    async fn verifying_services(&self) -> anyhow::Result<Services> {
        self.services_built(self.storage.pip_options(), true).await
    }

    async fn services_built(&self, pip: codemode::deps::PipOptions, verifying: bool) -> anyhow::Result<Services> {
        let mut builder = Session::builder();
        if verifying {
            builder = builder.limits(self.sandbox.limits());
        }
        if verifying || self.sandbox.allow_tools.is_some() {
            // The list names tools, so they are loaded to check it (and skills
            // against it); otherwise the store's commands do without them.
            builder = builder.tools(tools::load(self.storage));
        }
        let builder = builder
            .sandbox(self.build_sandbox())
            .storage(self.storage.open().await?)
            .allow_runtime_deps(!self.storage.no_runtime_deps)
            .max_artifact_size(self.storage.max_artifact_size)
            .allow(self.sandbox.allow())
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
        let allow = self.sandbox.allow();
        // A bad list, or a tool that does not exist, fails here, once, not on every session.
        allow.validate()?;
        if let Some(names) = &allow.tools {
            tools.restricted(names)?;
        }
        let profile = self.sandbox.profile;
        let (allow_deps, max_artifact, pip) =
            (!self.storage.no_runtime_deps, self.storage.max_artifact_size, self.storage.pip_options());
        Ok(move || {
            Session::builder()
                .tools(tools.clone())
                .sandbox(sandbox.clone())
                .limits(limits.clone())
                .profile(profile)
                .storage(storage.clone())
                .allow_runtime_deps(allow_deps)
                .max_artifact_size(max_artifact)
                .allow(allow.clone())
                .pip(pip.clone())
        })
    }
}

/// Parses the command line and runs it. Exit codes: 0 success; 1 the code raised,
/// or what a command names does not exist (not found); 2 codemode itself failed
/// (bad flags, unreadable files, storage or network errors).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.output.init_logging();
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "codemode", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let context = SessionArgs { sandbox: &cli.sandbox, storage: &cli.storage, quiet: cli.output.quiet };
    let outcome = runtime.block_on(async {
        match &cli.command {
            Command::Run(args) => run::run(&context, args).await,
            Command::Repl(args) => repl::repl(&context, args).await,
            Command::Artifacts(command) => artifacts::run(&context, command).await,
            Command::Deps(command) => deps::run(&context, command).await,
            Command::Skills(command) => skills::run(&context, command).await,
            Command::Call(args) => call::run(&context, args).await,
            Command::Describe { what } => {
                let scope = serde_json::from_value(serde_json::Value::String(what.clone()))?;
                print!("{}", codemode::model::Operations::describe(&context.services().await?, Some(scope)).await?);
                Ok(ExitCode::SUCCESS)
            }
            Command::Store(command) => store::run(&cli.storage, command).await,
            Command::Tools(command) => tools::run(command, &cli.storage).await,
            Command::Mcp(args) => mcp::run(&context, args).await,
            Command::Serve(args) => serve::run(&context, args).await,
            Command::Model(command) => model::run(command, cli.output.quiet).await,
            Command::Profile(command) => {
                profile::run(command, cli.sandbox.cache_dir.as_deref(), cli.output.quiet).await
            }
            Command::Completions { .. } => Ok(ExitCode::SUCCESS),
        }
    });
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(if is_not_found(&err) { 1 } else { 2 })
        }
    }
}

/// Whether `err` says that a named skill, artifact, tool or package does not exist.
fn is_not_found(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = if let Some(err) = cause.downcast_ref::<SessionError>() {
            match err {
                SessionError::Skill(err) => Some(err.kind()),
                SessionError::Artifact(err) => Some(err.kind()),
                SessionError::Deps(err) => Some(err.kind()),
                SessionError::Remote(codemode::remote::RemoteError::Api { kind, .. }) => {
                    (kind == ErrorKind::NotFound.as_str()).then_some(ErrorKind::NotFound)
                }
                _ => None,
            }
        } else if let Some(err) = cause.downcast_ref::<codemode::skills::SkillError>() {
            Some(err.kind())
        } else if let Some(err) = cause.downcast_ref::<codemode::artifacts::ArtifactError>() {
            Some(err.kind())
        } else if let Some(err) = cause.downcast_ref::<codemode::deps::DepsError>() {
            Some(err.kind())
        } else {
            cause.downcast_ref::<codemode::tools::ToolError>().map(|err| err.kind())
        };
        kind == Some(ErrorKind::NotFound)
    })
}
