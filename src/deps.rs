//! Pure-Python packages for the guest: requirement validation, the stored list, and
//! installation by pip on the host into a directory the guest mounts read-only.
//!
//! Only pure-Python wheels (`py3-none-any`) can run in the sandbox: CPython on WASI
//! cannot load native extension modules that were not linked in at build time, and
//! no registry ships WASI builds of them. pip is told so (`--platform any
//! --implementation py --abi none --only-binary=:all:`) and resolves accordingly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

pub use crate::names::normalize_package_name;
use crate::storage::{Storage, StorageError};

/// The Python version the guest runs; pip resolves for it.
const GUEST_PYTHON_VERSION: &str = "3.14";
const MAX_SPEC_LEN: usize = 256;
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Why a deps operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DepsError {
    /// The requirement was rejected before anything ran.
    #[error("invalid package spec {spec:?}: {reason}")]
    InvalidSpec {
        /// The spec as given, shortened to its first 80 characters.
        spec: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Runtime changes are locked (`allow_runtime_deps = false`).
    #[error(
        "runtime dependency changes are disabled for this session; configure dependencies before it starts (deps.list() and deps.sync() still work)"
    )]
    RuntimeDisabled,
    /// pip found no pure-Python wheel.
    #[error(
        "{spec}: no pure-Python wheel (py3-none-any) found for Python {GUEST_PYTHON_VERSION}; the sandbox can only import pure-Python packages, not native extensions (or the package does not exist)"
    )]
    NoPureWheel {
        /// The requirement.
        spec: String,
    },
    /// pip failed for another reason.
    #[error("installing {specs} failed: {detail}")]
    Install {
        /// What was being installed.
        specs: String,
        /// pip's own explanation (its last lines).
        detail: String,
    },
    /// The storage backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl DepsError {
    /// How surfaces classify this error. A package without a pure-Python wheel is a
    /// failure, not invalid input: pip ran to find that out.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            DepsError::InvalidSpec { .. } => ErrorKind::InvalidInput,
            DepsError::RuntimeDisabled => ErrorKind::Denied,
            DepsError::NoPureWheel { .. } | DepsError::Install { .. } | DepsError::Storage(_) => ErrorKind::Failed,
        }
    }
}

/// A validated requirement: `name[extras]<version spec>`, no URLs, markers or shell syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Normalised package name.
    pub name: String,
    /// The spec with its name normalised, e.g. `requests[socks]>=2`.
    pub spec: String,
}

impl Requirement {
    /// Validates a spec with py-code-mode's rules.
    pub fn parse(spec: &str) -> Result<Self, DepsError> {
        let invalid = |reason| Err(DepsError::InvalidSpec { spec: crate::text::shown(spec), reason });
        if spec.trim().is_empty() {
            return invalid("empty or whitespace-only");
        }
        if spec.contains(['\n', '\r', '\0']) {
            return invalid("contains control characters");
        }
        if spec.len() > MAX_SPEC_LEN {
            return invalid("longer than 256 characters");
        }
        if spec.contains(['@', ';', '(', ')']) {
            return invalid("contains a blocked character (`@`, `;`, `(`, `)`): URLs and markers are not allowed");
        }
        if spec.contains(['|', '&', '$', '`']) {
            return invalid("contains shell metacharacters");
        }
        let spec = spec.trim();
        let name_end =
            spec.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))).unwrap_or(spec.len());
        let (name, mut rest) = spec.split_at(name_end);
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return invalid("must start with a letter or digit");
        }
        let mut extras = "";
        if let Some(after) = rest.strip_prefix('[') {
            let Some(close) = after.find(']') else { return invalid("unclosed `[` in extras") };
            let inner = &after[..close];
            if inner.is_empty()
                || !inner.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ',' | '.' | '_' | '-'))
            {
                return invalid("extras may only hold letters, digits and `,._-`");
            }
            extras = &rest[..close + 2];
            rest = &after[close + 1..];
        }
        let rest = rest.trim_start();
        if !rest.is_empty() {
            let valid_start = rest.starts_with(['<', '>', '=', '!', '~']);
            let valid_chars = rest.chars().all(|c| c.is_ascii_alphanumeric() || ".*,<>=!~ ".contains(c));
            if !valid_start || !valid_chars || rest.len() < 2 {
                return invalid("the version part must be a specifier such as `>=1.0` or `==2.*`");
            }
        }
        let name = normalize_package_name(name);
        let version: String = rest.chars().filter(|c| *c != ' ').collect();
        Ok(Self { spec: format!("{name}{extras}{version}"), name })
    }
}

/// Where pip's output goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PipOutput {
    /// Captured; only shown in errors (sessions, servers).
    #[default]
    Capture,
    /// Passed through with progress bars (the CLI).
    Inherit,
}

/// How pip finds packages (default: PyPI) and where its output goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipOptions {
    /// `--index-url`: another package index, e.g. a private mirror.
    pub index_url: Option<String>,
    /// `--find-links`: local directories (or pages) of wheels.
    pub find_links: Vec<String>,
    /// `--no-index`: only `find_links`, no index at all (offline installs).
    pub no_index: bool,
    /// Where pip's output goes.
    pub output: PipOutput,
}

/// The deps of one storage.
#[derive(Debug, Clone)]
pub struct Deps {
    storage: Arc<dyn Storage>,
    allow_runtime: bool,
    pip: PipOptions,
}

impl Deps {
    /// Deps stored in `storage`; `allow_runtime = false` locks `add` and `remove`.
    pub fn new(storage: Arc<dyn Storage>, allow_runtime: bool, pip: PipOptions) -> Self {
        Self { storage, allow_runtime, pip }
    }

    /// The directory packages are installed into (mounted at `/deps` in the guest).
    pub fn packages_dir(&self) -> &Path {
        self.storage.packages_dir()
    }

    /// Validates, installs, then records a requirement; returns the normalised spec.
    /// Nothing is recorded if the install fails.
    pub async fn add(&self, spec: &str) -> Result<String, DepsError> {
        let requirement = Requirement::parse(spec)?;
        if !self.allow_runtime {
            return Err(DepsError::RuntimeDisabled);
        }
        self.install(std::slice::from_ref(&requirement.spec)).await?;
        self.storage.add_dep(&requirement.name, &requirement.spec).await?;
        Ok(requirement.spec)
    }

    /// Removes a requirement and uninstalls its distribution; `false` if it was not listed.
    pub async fn remove(&self, name: &str) -> Result<bool, DepsError> {
        let requirement = Requirement::parse(name)?;
        if !self.allow_runtime {
            return Err(DepsError::RuntimeDisabled);
        }
        let removed = self.storage.remove_dep(&requirement.name).await?;
        let dir = self.packages_dir().to_path_buf();
        let name = requirement.name.clone();
        tokio::task::spawn_blocking(move || uninstall(&dir, &name))
            .await
            .map_err(|e| DepsError::Install { specs: requirement.name.clone(), detail: e.to_string() })??;
        Ok(removed)
    }

    /// The recorded requirements, sorted.
    pub async fn list(&self) -> Result<Vec<String>, DepsError> {
        Ok(self.storage.list_deps().await?)
    }

    /// Installs every recorded requirement; returns them. Always allowed.
    pub async fn sync(&self) -> Result<Vec<String>, DepsError> {
        let specs = self.list().await?;
        if !specs.is_empty() {
            self.install(&specs).await?;
        }
        Ok(specs)
    }

    /// Installs recorded requirements that are not installed yet (a new machine on a
    /// shared Redis); cheap when everything is there.
    pub async fn ensure_installed(&self) -> Result<(), DepsError> {
        let specs = self.list().await?;
        let dir = self.packages_dir().to_path_buf();
        let installed = tokio::task::spawn_blocking(move || installed_names(&dir)).await.unwrap_or_default();
        let missing: Vec<String> =
            specs.into_iter().filter(|s| !installed.contains(&crate::storage::requirement_name(s))).collect();
        if !missing.is_empty() {
            self.install(&missing).await?;
        }
        Ok(())
    }

    async fn install(&self, specs: &[String]) -> Result<(), DepsError> {
        let dir = self.packages_dir().to_path_buf();
        let joined = specs.join(" ");
        let lock_path = dir.join(".install.lock");
        // One pip at a time per directory, across processes too.
        let lock = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::options().create(true).truncate(false).write(true).open(&lock_path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| DepsError::Install { specs: joined.clone(), detail: e.to_string() })?
        .map_err(|e| {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot lock the packages directory");
            DepsError::Install { specs: joined.clone(), detail: format!("cannot lock the packages directory: {e}") }
        })?;
        // One pip per process as well: concurrent pips share their cache directory,
        // and installs are rare enough that waiting costs nothing.
        static PIP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let pip = PIP.lock().await;
        let result = run_pip(&dir, specs, &self.pip).await;
        drop(pip);
        drop(lock);
        result
    }
}

fn python() -> PathBuf {
    std::env::var_os("CODEMODE_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

async fn run_pip(dir: &Path, specs: &[String], pip: &PipOptions) -> Result<(), DepsError> {
    let joined = specs.join(" ");
    let mut command = tokio::process::Command::new(python());
    command
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--root-user-action=ignore"])
        .args(["--upgrade", "--target"])
        .arg(dir)
        .args(["--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none"])
        .args(["--python-version", GUEST_PYTHON_VERSION]);
    if let Some(url) = &pip.index_url {
        command.args(["--index-url", url]);
    }
    for link in &pip.find_links {
        command.args(["--find-links", link]);
    }
    if pip.no_index {
        command.arg("--no-index");
    }
    match pip.output {
        PipOutput::Capture => command.args(["--progress-bar", "off"]).stdout(Stdio::piped()).stderr(Stdio::piped()),
        PipOutput::Inherit => command.stdout(Stdio::inherit()).stderr(Stdio::piped()),
    };
    // Options end here: nothing in `specs` can be read as one.
    command.arg("--").args(specs).stdin(Stdio::null()).kill_on_drop(true);
    let child = command.spawn().map_err(|e| DepsError::Install {
        specs: joined.clone(),
        detail: format!("cannot run `{} -m pip` (set CODEMODE_PYTHON): {e}", python().display()),
    })?;
    let out = tokio::time::timeout(INSTALL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| DepsError::Install { specs: joined.clone(), detail: "pip timed out after 600 s".into() })?
        .map_err(|e| DepsError::Install { specs: joined.clone(), detail: e.to_string() })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("from versions: none") || stderr.contains("No matching distribution found") {
        return Err(DepsError::NoPureWheel { spec: joined });
    }
    tracing::warn!(specs = %joined, dir = %dir.display(), stderr = %stderr, "pip failed");
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let detail = without_host_paths(&tail[tail.len().saturating_sub(6)..].join("\n"), dir);
    Err(DepsError::Install { specs: joined, detail })
}

/// pip's words with the host's directories taken out: the packages directory
/// becomes `/deps` (where the guest sees it), the home directory `~`.
fn without_host_paths(text: &str, packages: &Path) -> String {
    let mut text = text.replace(&*packages.to_string_lossy(), "/deps");
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1) {
        text = text.replace(&*home.to_string_lossy(), "~");
    }
    text
}

/// Normalised names of the distributions installed in `dir`.
fn installed_names(dir: &Path) -> Vec<String> {
    dist_infos(dir).into_iter().map(|(name, _)| name).collect()
}

fn dist_infos(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dist-info"))
        .filter_map(|p| {
            let metadata = std::fs::read_to_string(p.join("METADATA")).ok()?;
            let name = metadata.lines().find_map(|l| l.strip_prefix("Name:"))?.trim().to_owned();
            Some((normalize_package_name(&name), p))
        })
        .collect()
}

/// Removes one distribution from `dir` by its RECORD, as `pip uninstall` would
/// (pip cannot uninstall from a `--target` directory itself).
fn uninstall(dir: &Path, name: &str) -> Result<(), DepsError> {
    let fail = |detail: String| DepsError::Install { specs: name.to_owned(), detail };
    let Some((_, info)) = dist_infos(dir).into_iter().find(|(n, _)| n == name) else { return Ok(()) };
    let record = std::fs::read_to_string(info.join("RECORD")).unwrap_or_default();
    let mut parents = Vec::new();
    for line in record.lines() {
        let Some(path) = line.split(',').next().filter(|p| !p.is_empty()) else { continue };
        // RECORD may list scripts outside the directory (`../../bin/x`): never touch those.
        if Path::new(path).components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            continue;
        }
        let full = dir.join(path);
        if std::fs::remove_file(&full).is_ok() {
            parents.extend(full.parent().map(Path::to_path_buf));
        }
    }
    std::fs::remove_dir_all(&info)
        .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
        .map_err(|e| {
            tracing::warn!(path = %info.display(), error = %e, "cannot remove a distribution's metadata");
            fail(format!("cannot remove the package's metadata: {e}"))
        })?;
    // Directories the distribution leaves empty go too (deepest first).
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for parent in parents {
        let mut current = parent.as_path();
        while current != dir && std::fs::remove_dir(current).is_ok() {
            let Some(up) = current.parent() else { break };
            current = up;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_specs_are_normalised() {
        for (spec, name, normal) in [
            ("Pandas", "pandas", "pandas"),
            ("my_package", "my-package", "my-package"),
            ("requests[socks]>=2.0", "requests", "requests[socks]>=2.0"),
            ("six == 1.16.0", "six", "six==1.16.0"),
            ("Foo.Bar~=1.2", "foo-bar", "foo-bar~=1.2"),
            ("  tabulate  ", "tabulate", "tabulate"),
        ] {
            let r = Requirement::parse(spec).unwrap();
            assert_eq!((r.name.as_str(), r.spec.as_str()), (name, normal), "{spec}");
        }
    }

    #[test]
    fn upstream_invalid_specs_are_rejected() {
        for (spec, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("six\n", "control"),
            ("six\0", "control"),
            (&"a".repeat(300), "longer than 256"),
            ("pkg @ https://evil.example/pkg.whl", "blocked character"),
            ("six; python_version < '3.8'", "blocked character"),
            ("six | rm -rf /", "shell"),
            ("six && curl x", "shell"),
            ("$(whoami)", "blocked"),
            ("`id`", "shell"),
            ("-e .", "must start"),
            ("--index-url=http://x", "must start"),
            ("six[", "unclosed"),
            ("six>", "version"),
            ("six foo", "version"),
        ] {
            let err = Requirement::parse(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec:?}: {err}");
        }
    }
}
