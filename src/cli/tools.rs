//! `codemode tools`: check and list tool definitions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use codemode::tools::ToolRegistry;

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Load every *.yaml/*.yml in DIR and report what cannot be used; exit 1 if anything was skipped.
    Check {
        /// The tools directory.
        dir: PathBuf,
    },
    /// List the tools of DIR with the signatures agents see.
    List {
        /// The tools directory.
        dir: PathBuf,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: &ToolsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ToolsCommand::Check { dir } => {
            let (registry, skipped) = ToolRegistry::load_dir(dir);
            for tool in registry.list() {
                println!("ok    {}: {}", tool.name, tool.description);
            }
            for skip in &skipped {
                println!("skip  {}: {}", skip.path.display(), skip.reason);
            }
            Ok(if skipped.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        ToolsCommand::List { dir, json } => {
            let (registry, skipped) = ToolRegistry::load_dir(dir);
            super::warn_skipped(&skipped);
            if *json {
                println!("{}", serde_json::to_string_pretty(&registry.list())?);
                return Ok(ExitCode::SUCCESS);
            }
            for tool in registry.list() {
                println!("{}: {}", tool.name, tool.description);
                for callable in &tool.callables {
                    let name = callable.name.as_deref().unwrap_or(&tool.name);
                    let params: Vec<String> =
                        callable.params.iter().map(|p| format!("{}: {}", p.name, p.type_name)).collect();
                    println!("  {name}({})  {}", params.join(", "), callable.description);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
