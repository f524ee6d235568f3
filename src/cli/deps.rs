//! `codemode deps`: the storage's packages, installed with pip's progress shown.

use std::process::ExitCode;

use clap::Subcommand;
use codemode::deps::{PipOptions, PipOutput};
use codemode::model::Operations;

use super::SessionArgs;

#[derive(Debug, Subcommand)]
pub enum DepsCommand {
    /// Install packages and record them (pure-Python wheels only).
    Add {
        /// Requirement specs, e.g. `tabulate` or `requests>=2`.
        #[arg(required = true)]
        specs: Vec<String>,
    },
    /// Forget a package and uninstall it.
    Rm {
        /// The package name.
        name: String,
    },
    /// List the recorded packages.
    List {
        #[command(flatten)]
        format: super::Format,
    },
    /// Install every recorded package (e.g. on a new machine).
    Sync,
}

pub async fn run(context: &SessionArgs<'_>, command: &DepsCommand) -> anyhow::Result<ExitCode> {
    let pip = PipOptions { output: PipOutput::Inherit, ..context.storage.pip_options() };
    let services = context.services_with(pip).await?;
    match command {
        DepsCommand::Add { specs } => {
            for spec in specs {
                let added = services.add_dep(spec).await?;
                eprintln!("added {added}");
            }
        }
        DepsCommand::Rm { name } => {
            if !services.remove_dep(name).await? {
                eprintln!("{name} was not recorded");
                return Ok(ExitCode::from(1));
            }
            eprintln!("removed {name}");
        }
        DepsCommand::List { format } => {
            let deps = services.list_deps().await?;
            if format.json {
                super::print_json(&deps)?;
            } else {
                for spec in deps {
                    println!("{spec}");
                }
            }
        }
        DepsCommand::Sync => {
            let synced = services.sync_deps().await?;
            eprintln!(
                "{} package(s) installed, {} already present",
                synced.installed.len(),
                synced.already_present.len()
            );
            for (spec, error) in synced.failed.iter().zip(&synced.errors) {
                eprintln!("failed: {spec}: {error}");
            }
            if !synced.failed.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
