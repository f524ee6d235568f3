//! `codemode deps`: the storage's packages, installed with pip's progress shown.

use std::process::ExitCode;

use clap::Subcommand;
use codemode::deps::{Deps, PipOutput};

use super::storage::StorageArgs;

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
    List,
    /// Install every recorded package (e.g. on a new machine).
    Sync,
}

pub async fn run(storage: &StorageArgs, command: &DepsCommand) -> anyhow::Result<ExitCode> {
    let pip = codemode::deps::PipOptions { output: PipOutput::Inherit, ..storage.pip_options() };
    let deps = Deps::new(storage.open().await?, !storage.no_runtime_deps, pip);
    match command {
        DepsCommand::Add { specs } => {
            for spec in specs {
                let added = deps.add(spec).await?;
                eprintln!("added {added}");
            }
        }
        DepsCommand::Rm { name } => {
            if !deps.remove(name).await? {
                eprintln!("{name} was not recorded");
                return Ok(ExitCode::from(1));
            }
            eprintln!("removed {name}");
        }
        DepsCommand::List => {
            for spec in deps.list().await? {
                println!("{spec}");
            }
        }
        DepsCommand::Sync => {
            let synced = deps.sync().await?;
            eprintln!("{} package(s) installed", synced.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
