//! `codemode artifacts`: the same artifacts agent code sees, from the shell.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use codemode::model::{DataKind, Operations};

use super::{Format, SessionArgs, print_json};

#[derive(Debug, Subcommand)]
pub enum ArtifactsCommand {
    /// List artifacts (name, kind, size, description).
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Write an artifact's data to stdout or a file.
    Get {
        /// The artifact's name.
        name: String,
        /// Write to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE", value_parser = super::paths::path())]
        output: Option<PathBuf>,
    },
    /// Save a file (or stdin) as an artifact.
    Put {
        /// The artifact's name; sub-paths like `scans/a.json` are allowed.
        name: String,
        /// The file to read; `-` or nothing reads stdin.
        #[arg(value_parser = super::paths::path())]
        file: Option<PathBuf>,
        /// A description for listings and search.
        #[arg(short, long, default_value = "")]
        description: String,
        /// How the data is read back [default: json for valid JSON, text for UTF-8, else bytes].
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// Print the saved artifact's listing entry as JSON.
        #[command(flatten)]
        format: Format,
    },
    /// Delete an artifact.
    Rm {
        /// The artifact's name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Json,
    Text,
    Bytes,
}

pub async fn run(context: &SessionArgs<'_>, command: &ArtifactsCommand) -> anyhow::Result<ExitCode> {
    let services = context.services().await?;
    match command {
        ArtifactsCommand::List { format } => {
            let list = services.list_artifacts().await?;
            if format.json {
                print_json(&list)?;
            } else {
                for info in &list {
                    let kind = serde_json::to_value(info.kind)?;
                    println!("{}\t{}\t{}\t{}", info.name, kind.as_str().unwrap_or(""), info.size, info.description);
                }
                eprintln!("{} artifact(s)", list.len());
            }
        }
        // Files are bytes, which the API carries as JSON: get and put use the
        // artifacts themselves (the same rules), so a file comes back byte for byte.
        ArtifactsCommand::Get { name, output } => {
            let artifact = services.artifacts()?.load(name).await?;
            match output {
                Some(path) => {
                    std::fs::write(path, &artifact.data).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => std::io::stdout().lock().write_all(&artifact.data)?,
            }
        }
        ArtifactsCommand::Put { name, file, description, kind, format } => {
            let data = match file.as_deref().filter(|f| f.as_os_str() != "-") {
                Some(path) => std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
                None => {
                    let mut data = Vec::new();
                    std::io::stdin().read_to_end(&mut data).context("cannot read stdin")?;
                    data
                }
            };
            let kind = match kind {
                Some(Kind::Json) => DataKind::Json,
                Some(Kind::Text) => DataKind::Text,
                Some(Kind::Bytes) => DataKind::Bytes,
                None if serde_json::from_slice::<serde_json::Value>(&data)
                    .is_ok_and(|v| v.is_object() || v.is_array()) =>
                {
                    DataKind::Json
                }
                None if std::str::from_utf8(&data).is_ok() => DataKind::Text,
                None => DataKind::Bytes,
            };
            let info = services.artifacts()?.save(name, data, kind, description, serde_json::Map::new()).await?;
            if format.json {
                print_json(&info)?;
            } else {
                eprintln!("saved {} ({} bytes)", info.name, info.size);
            }
        }
        ArtifactsCommand::Rm { name } => {
            if !services.delete_artifact(name).await? {
                eprintln!("no artifact named {name:?}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
