//! Storage flags shared by every command: a directory (default) or Redis.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use codemode::artifacts::DEFAULT_MAX_ARTIFACT_SIZE;
use codemode::deps::{PipOptions, PipOutput};
use codemode::storage::{FileStorage, RedisStorage, Storage};

/// Where skills, artifacts and deps live.
#[derive(Debug, Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageArgs {
    /// Storage directory (py-code-mode's layout) [default: ~/.local/share/codemode].
    #[arg(long, global = true, env = "CODEMODE_BASE", value_name = "DIR", alias = "storage", value_parser = super::paths::path())]
    pub base: Option<PathBuf>,
    /// Use Redis instead of the directory, e.g. redis://127.0.0.1:6379/0.
    #[arg(long, global = true, env = "CODEMODE_REDIS", value_name = "URL")]
    pub redis: Option<String>,
    /// Key prefix in Redis: one tenant's namespace.
    #[arg(long, global = true, env = "CODEMODE_PREFIX", default_value = "codemode", value_name = "PREFIX")]
    pub prefix: String,
    /// Forbid agent code to add or remove packages (deps.list and deps.sync still work).
    #[arg(long, global = true)]
    pub no_runtime_deps: bool,
    /// Cap on one artifact's size, in bytes.
    #[arg(long, global = true, default_value_t = DEFAULT_MAX_ARTIFACT_SIZE, value_name = "BYTES")]
    pub max_artifact_size: u64,
    /// Package index for deps (default: PyPI).
    #[arg(long, global = true, value_name = "URL")]
    pub index_url: Option<String>,
    /// Extra wheel directories for deps; with --no-index, the only source.
    #[arg(long, global = true, value_name = "DIR", value_parser = super::paths::path_text)]
    pub find_links: Vec<String>,
    /// Install deps from --find-links only.
    #[arg(long, global = true)]
    pub no_index: bool,
    /// Tool definitions (py-code-mode's YAML) [default: <base>/tools].
    #[arg(long, global = true, env = "CODEMODE_TOOLS", value_name = "DIR", value_parser = super::paths::path())]
    pub tools: Option<PathBuf>,
}

impl StorageArgs {
    /// Opens Redis if --redis is given, else the directory.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Storage>> {
        match &self.redis {
            Some(url) => Ok(Arc::new(self.open_redis(url).await?)),
            None => Ok(Arc::new(self.open_dir().await?)),
        }
    }

    pub async fn open_dir(&self) -> anyhow::Result<FileStorage> {
        let base = match &self.base {
            Some(base) => base.clone(),
            None => default_base().context("no storage directory: pass --base or set HOME")?,
        };
        FileStorage::open(&base).await.with_context(|| format!("cannot open the storage directory {}", base.display()))
    }

    pub async fn open_redis(&self, url: &str) -> anyhow::Result<RedisStorage> {
        let packages = RedisStorage::default_packages_dir(url, &self.prefix);
        RedisStorage::connect(url, &self.prefix, packages).await.context("cannot open the Redis storage")
    }

    /// The tools directory: --tools, else `<base>/tools` as py-code-mode lays it out.
    pub fn tools_dir(&self) -> Option<PathBuf> {
        self.tools.clone().or_else(|| self.base.clone().or_else(default_base).map(|b| b.join("tools")))
    }

    pub fn pip_options(&self) -> PipOptions {
        PipOptions {
            index_url: self.index_url.clone(),
            find_links: self.find_links.clone(),
            no_index: self.no_index,
            output: PipOutput::Capture,
        }
    }
}

fn default_base() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()).map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".local/share"))
    })?;
    Some(data.join("codemode"))
}
