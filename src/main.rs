//! The `codemode` command line.

mod cli;

fn main() -> std::process::ExitCode {
    // Host-side diagnostics go to stderr (never to stdout, which MCP over stdio
    // owns); `CODEMODE_LOG` (e.g. `debug`, `codemode=info`) chooses, `warn` by default.
    let filter = tracing_subscriber::EnvFilter::try_from_env("CODEMODE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    cli::main()
}
