//! `codemode tools`: check and list tool definitions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use codemode::tools::ToolRegistry;

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Load every *.yaml/*.yml in DIR, start its MCP servers, and report what cannot be
    /// used; exit 1 if anything was skipped or unavailable.
    Check {
        /// The tools directory.
        #[arg(value_parser = super::paths::path())]
        dir: PathBuf,
    },
    /// List the tools of DIR with the signatures agents see.
    List {
        /// The tools directory.
        #[arg(value_parser = super::paths::path())]
        dir: PathBuf,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: &ToolsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ToolsCommand::Check { dir } => {
            let (registry, skipped) = ToolRegistry::load_dir(dir);
            let mut failed = !skipped.is_empty();
            for tool in registry.list().await {
                match &tool.unavailable {
                    None => println!("ok    {}: {}", tool.name, tool.description),
                    Some(reason) => {
                        failed = true;
                        println!("fail  {}: {reason}", tool.name);
                    }
                }
            }
            for skip in &skipped {
                println!("skip  {}: {}", skip.path.display(), skip.reason);
            }
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        ToolsCommand::List { dir, json } => {
            let (registry, skipped) = ToolRegistry::load_dir(dir);
            super::warn_skipped(&skipped);
            let tools = registry.list().await;
            if *json {
                println!("{}", serde_json::to_string_pretty(&tools)?);
                return Ok(ExitCode::SUCCESS);
            }
            for tool in tools {
                println!("{}: {}", tool.name, tool.description);
                if let Some(reason) = &tool.unavailable {
                    println!("  unavailable: {reason}");
                }
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
