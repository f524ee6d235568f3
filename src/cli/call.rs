//! `codemode call OP [ARGS]`: any operation of the API from the shell, as JSON in
//! and out, so an operation added to the API is on the CLI too.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use codemode::model::{Operations, Request};

use super::SessionArgs;

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The operation, e.g. `list_skills`, `get_skill`, `save_artifact`, `run`.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(Request::NAMES))]
    op: String,
    /// Its arguments as a JSON object, e.g. `{"name": "word_count"}`.
    args: Option<String>,
}

pub async fn run(context: &SessionArgs<'_>, args: &CallArgs) -> anyhow::Result<ExitCode> {
    let object = match &args.args {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                .context("ARGS must be a JSON object")?,
        ),
        None => None,
    };
    let request =
        Request::from_parts(&args.op, object).with_context(|| format!("invalid arguments for {}", args.op))?;
    let response = if request.needs_interpreter() {
        context.session().await?.call(request).await
    } else {
        context.services().await?.call(request).await
    };
    match response {
        Ok(response) => {
            println!("{}", serde_json::to_string_pretty(&response)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("error: {err}");
            Ok(ExitCode::from(1))
        }
    }
}
