//! `codemode run`: one cell, from an argument, a file or standard input.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use codemode::RunResult;

use super::{Format, SessionArgs, print_json};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Python code to run; `-` or nothing reads standard input.
    #[arg(value_name = "CODE", conflicts_with = "file")]
    code: Option<String>,
    /// Read the code from FILE.
    #[arg(short, long, value_name = "FILE", value_parser = super::paths::path())]
    file: Option<PathBuf>,
    /// The whole result as JSON.
    #[command(flatten)]
    format: Format,
}

pub async fn run(context: &SessionArgs<'_>, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let code = match (&args.code, &args.file) {
        (Some(code), _) if code != "-" => code.clone(),
        (_, Some(file)) => std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?,
        _ => {
            let mut code = String::new();
            std::io::stdin().read_to_string(&mut code).context("cannot read code from standard input")?;
            code
        }
    };
    let session = context.session().await?;
    let result = session.run(&code).await?;
    session.close().await;
    if args.format.json {
        print_json(&result)?;
    } else {
        print_result(&result)?;
    }
    Ok(if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints stdout, then the value; stderr and the error go to standard error.
pub fn print_result(result: &RunResult) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(result.stdout.as_bytes())?;
    if let Some(value) = &result.value {
        writeln!(stdout, "{}", value.repr)?;
    }
    stdout.flush()?;
    let mut stderr = std::io::stderr().lock();
    stderr.write_all(result.stderr.as_bytes())?;
    if let Some(error) = &result.error {
        stderr.write_all(error.traceback.as_bytes())?;
        if !error.traceback.ends_with('\n') {
            writeln!(stderr)?;
        }
    }
    stderr.flush()
}
