//! `codemode tools`: check and list tool definitions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use codemode::tools::ToolRegistry;

use super::storage::StorageArgs;

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Load every *.yaml/*.yml in DIR, start its MCP servers, and report what cannot be
    /// used; exit 1 if anything was skipped or unavailable (or DIR does not exist).
    Check {
        /// The tools directory [default: --tools, else <base>/tools].
        #[arg(value_parser = super::paths::path())]
        dir: Option<PathBuf>,
    },
    /// List the tools of DIR with the signatures agents see.
    List {
        /// The tools directory [default: --tools, else <base>/tools].
        #[arg(value_parser = super::paths::path())]
        dir: Option<PathBuf>,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
}

/// The tools of the commands that run code: `--tools` must exist (a typo is
/// reported, not silently an empty registry); the default `<base>/tools` need not.
/// Skipped files are logged once, by the registry.
pub fn load(storage: &StorageArgs) -> ToolRegistry {
    match (&storage.tools, storage.tools_dir()) {
        (Some(dir), _) => ToolRegistry::load_dir(dir).0,
        (None, Some(dir)) => ToolRegistry::load_dir_if_present(&dir).0,
        (None, None) => ToolRegistry::default(),
    }
}

/// DIR, else `--tools`, else `<base>/tools`.
fn dir_of(dir: &Option<PathBuf>, storage: &StorageArgs) -> anyhow::Result<PathBuf> {
    dir.clone()
        .or_else(|| storage.tools_dir())
        .ok_or_else(|| anyhow::anyhow!("no tools directory: pass DIR, --tools or --base (or set HOME)"))
}

pub async fn run(command: &ToolsCommand, storage: &StorageArgs) -> anyhow::Result<ExitCode> {
    match command {
        ToolsCommand::Check { dir } => check(&dir_of(dir, storage)?).await,
        ToolsCommand::List { dir, json } => {
            let registry = match dir {
                Some(dir) => ToolRegistry::load_dir(dir).0,
                None => load(storage),
            };
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

/// One line per tool (`ok`, `fail`), per skipped file (`skip`) and per warning
/// (`warn`); exit 1 if anything was skipped or unavailable.
async fn check(dir: &Path) -> anyhow::Result<ExitCode> {
    let (registry, skipped) = ToolRegistry::check_dir(dir);
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
    for warning in registry.warnings() {
        println!("warn  {}: {}", warning.path.display(), warning.message);
    }
    for skip in &skipped {
        println!("skip  {}: {}", skip.path.display(), skip.reason);
    }
    if failed {
        eprintln!("error: not every tool in {} can be used (see above)", dir.display());
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
