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
        /// Print JSON instead: `{tools: [{name, ok, description | reason}],
        /// warnings: [{file, message}], skipped: [{file, reason}]}`.
        #[arg(long)]
        json: bool,
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
        ToolsCommand::Check { dir, json } => check(&dir_of(dir, storage)?, *json).await,
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
/// (`warn`), or the same as JSON; exit 1 if anything was skipped or unavailable.
async fn check(dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    use serde_json::json;
    let (registry, skipped) = ToolRegistry::check_dir(dir);
    let tools = registry.list().await;
    let failed = !skipped.is_empty() || tools.iter().any(|t| t.unavailable.is_some());
    if json {
        let tools: Vec<_> = tools
            .iter()
            .map(|t| match &t.unavailable {
                None => json!({"name": t.name, "ok": true, "description": t.description}),
                Some(reason) => json!({"name": t.name, "ok": false, "reason": reason}),
            })
            .collect();
        let warnings: Vec<_> =
            registry.warnings().iter().map(|w| json!({"file": w.path, "message": w.message})).collect();
        let skipped: Vec<_> = skipped.iter().map(|s| json!({"file": s.path, "reason": s.reason})).collect();
        super::print_json(&json!({"tools": tools, "warnings": warnings, "skipped": skipped}))?;
    } else {
        for tool in &tools {
            match &tool.unavailable {
                None => println!("ok    {}: {}", tool.name, tool.description),
                Some(reason) => println!("fail  {}: {reason}", tool.name),
            }
        }
        for warning in registry.warnings() {
            println!("warn  {}: {}", warning.path.display(), warning.message);
        }
        for skip in &skipped {
            println!("skip  {}: {}", skip.path.display(), skip.reason);
        }
    }
    if failed {
        eprintln!("error: not every tool in {} can be used (see above)", dir.display());
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
