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

pub use crate::model::ops::{DepsInstalled, DepsRemoved};
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
    /// The host has no Python with pip, which installs packages for the sandbox.
    #[error(
        "deps need a host Python with pip to install packages, and {problem}; install it (Debian/Ubuntu: `apt-get install python3 python3-pip`) or set CODEMODE_PYTHON to a Python that has pip"
    )]
    NoPip {
        /// What is missing (`python3` was not found, or it has no pip module).
        problem: String,
    },
    /// The package is listed in the storage's `requirements.txt`, which codemode
    /// reads and never writes.
    #[error(
        "{name} is pre-configured in the storage's requirements.txt, which codemode only reads: remove it from that file"
    )]
    Preconfigured {
        /// The package's name.
        name: String,
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
            DepsError::InvalidSpec { .. } | DepsError::Preconfigured { .. } => ErrorKind::InvalidInput,
            DepsError::RuntimeDisabled => ErrorKind::Denied,
            DepsError::NoPureWheel { .. }
            | DepsError::NoPip { .. }
            | DepsError::Install { .. }
            | DepsError::Storage(_) => ErrorKind::Failed,
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

    /// The same deps with `add` and `remove` locked (what a skill's examples see:
    /// they cannot change the recorded packages; `sync` installs only those).
    pub fn locked(&self) -> Self {
        Self { allow_runtime: false, ..self.clone() }
    }

    /// The directory packages are installed into (mounted at `/deps` in the guest).
    pub fn packages_dir(&self) -> &Path {
        self.storage.packages_dir()
    }

    /// Validates, installs, then records a requirement; returns the normalised spec.
    /// Nothing is recorded if the install fails.
    pub async fn add(&self, spec: &str) -> Result<String, DepsError> {
        Ok(self.add_reporting(spec).await?.0)
    }

    /// [`add`](Self::add), also saying whether pip installed the package or found
    /// that version already there (py-code-mode's `installed` / `already_present`).
    pub async fn add_reporting(&self, spec: &str) -> Result<(String, DepsInstalled), DepsError> {
        let requirement = Requirement::parse(spec)?;
        if !self.allow_runtime {
            return Err(DepsError::RuntimeDisabled);
        }
        let before = self.installed_versions().await;
        self.install(std::slice::from_ref(&requirement.spec)).await?;
        self.storage.add_dep(&requirement.name, &requirement.spec).await?;
        let after = self.installed_versions().await;
        let mut report = DepsInstalled::default();
        let unchanged = before.get(&requirement.name).is_some_and(|v| after.get(&requirement.name) == Some(v));
        if unchanged { &mut report.already_present } else { &mut report.installed }.push(requirement.spec.clone());
        Ok((requirement.spec, report))
    }

    /// Removes a requirement and uninstalls its distribution; `false` if it was not listed.
    pub async fn remove(&self, name: &str) -> Result<bool, DepsError> {
        Ok(self.remove_reporting(name).await?.removed_from_config)
    }

    /// [`remove`](Self::remove) with py-code-mode's report: whether it was recorded,
    /// and whether it was installed and is not any more.
    pub async fn remove_reporting(&self, name: &str) -> Result<DepsRemoved, DepsError> {
        let requirement = Requirement::parse(name)?;
        if !self.allow_runtime {
            return Err(DepsError::RuntimeDisabled);
        }
        if self.configured().await?.iter().any(|r| r.name == requirement.name) {
            return Err(DepsError::Preconfigured { name: requirement.name });
        }
        let removed_from_config = self.storage.remove_dep(&requirement.name).await?;
        let dir = self.packages_dir().to_path_buf();
        let name = requirement.name.clone();
        let outcome = tokio::task::spawn_blocking(move || uninstall(&dir, &name))
            .await
            .unwrap_or_else(|e| Err(DepsError::Install { specs: requirement.name.clone(), detail: e.to_string() }));
        let mut report = DepsRemoved { removed_from_config, ..DepsRemoved::default() };
        match outcome {
            Ok(true) => report.removed.push(requirement.name),
            Ok(false) => report.not_found.push(requirement.name),
            Err(err) => {
                tracing::warn!(package = %requirement.name, error = %err, "uninstalling failed");
                report.failed.push(requirement.name);
            }
        }
        Ok(report)
    }

    /// The configured requirements, sorted: those recorded in the storage, and the
    /// storage's read-only `requirements.txt` (py-code-mode's pre-configured deps)
    /// for packages not recorded.
    pub async fn list(&self) -> Result<Vec<String>, DepsError> {
        let mut specs = self.storage.list_deps().await?;
        let recorded: std::collections::HashSet<String> =
            specs.iter().map(|s| crate::storage::requirement_name(s)).collect();
        specs.extend(self.configured().await?.into_iter().filter(|r| !recorded.contains(&r.name)).map(|r| r.spec));
        specs.sort();
        specs.dedup();
        Ok(specs)
    }

    /// The valid lines of the storage's `requirements.txt`; each invalid line is
    /// logged once and skipped, as py-code-mode does.
    async fn configured(&self) -> Result<Vec<Requirement>, DepsError> {
        let mut valid = Vec::new();
        for line in self.storage.configured_deps().await? {
            match Requirement::parse(&line) {
                Ok(requirement) => valid.push(requirement),
                Err(err) => {
                    if crate::text::first_time(&format!("requirements.txt\0{line}")) {
                        tracing::warn!(line = %crate::text::shown(&line), error = %err, "skipping a line of requirements.txt");
                    }
                }
            }
        }
        Ok(valid)
    }

    /// Installs every configured requirement; returns them. Always allowed.
    pub async fn sync(&self) -> Result<Vec<String>, DepsError> {
        let (report, mut errors) = self.sync_all().await?;
        if !errors.is_empty() {
            return Err(errors.swap_remove(0));
        }
        Ok(report.installed.into_iter().chain(report.already_present).collect())
    }

    /// [`sync`](Self::sync) reporting per requirement, with py-code-mode's keys; a
    /// requirement pip cannot install is listed in `failed`, the others still install.
    pub async fn sync_reporting(&self) -> Result<DepsInstalled, DepsError> {
        Ok(self.sync_all().await?.0)
    }

    async fn sync_all(&self) -> Result<(DepsInstalled, Vec<DepsError>), DepsError> {
        let specs = self.list().await?;
        let mut report = DepsInstalled::default();
        let mut errors = Vec::new();
        if specs.is_empty() {
            return Ok((report, errors));
        }
        let before = self.installed_versions().await;
        let outcomes = self.install_each(&specs).await?;
        let after = self.installed_versions().await;
        for (spec, outcome) in specs.into_iter().zip(outcomes) {
            let name = crate::storage::requirement_name(&spec);
            match outcome {
                Ok(()) if before.get(&name).is_some_and(|v| after.get(&name) == Some(v)) => {
                    report.already_present.push(spec)
                }
                Ok(()) => report.installed.push(spec),
                Err(err) => {
                    report.failed.push(spec);
                    report.errors.push(err.to_string());
                    errors.push(err);
                }
            }
        }
        Ok((report, errors))
    }

    /// Installs all of `specs` in one pip run, or if that fails, each on its own, so
    /// one bad requirement does not keep the others out; an outcome per spec. A
    /// missing pip fails them all the same way and is returned once.
    async fn install_each(&self, specs: &[String]) -> Result<Vec<Result<(), DepsError>>, DepsError> {
        match self.install(specs).await {
            Ok(()) => Ok(specs.iter().map(|_| Ok(())).collect()),
            Err(err @ DepsError::NoPip { .. }) => Err(err),
            Err(_) => {
                let mut outcomes = Vec::new();
                for spec in specs {
                    outcomes.push(self.install(std::slice::from_ref(spec)).await);
                }
                Ok(outcomes)
            }
        }
    }

    /// Installs configured requirements that are not installed yet (a new machine on
    /// a shared Redis, or a new line in `requirements.txt`); cheap when everything is
    /// there. A recorded requirement that fails is an error (it installed once, so the
    /// machine is at fault); a line of `requirements.txt` that fails is logged once and
    /// skipped, as py-code-mode does, so a hand-written file cannot stop every session.
    pub async fn ensure_installed(&self) -> Result<(), DepsError> {
        let specs = self.list().await?;
        let installed = self.installed_versions().await;
        let missing: Vec<String> =
            specs.into_iter().filter(|s| !installed.contains_key(&crate::storage::requirement_name(s))).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let recorded = self.storage.list_deps().await?;
        let outcomes = match self.install_each(&missing).await {
            Ok(outcomes) => outcomes,
            Err(err) => missing.iter().map(|_| Err(DepsError::NoPip { problem: no_pip_problem(&err) })).collect(),
        };
        for (spec, outcome) in missing.iter().zip(outcomes) {
            let Err(err) = outcome else { continue };
            if recorded.contains(spec) {
                return Err(err);
            }
            if crate::text::first_time(&format!("requirements.txt install\0{spec}")) {
                tracing::warn!(%spec, error = %err, "cannot install a requirement of requirements.txt; skipping it");
            }
        }
        Ok(())
    }

    /// The distributions in the packages directory: normalised name → version.
    async fn installed_versions(&self) -> std::collections::HashMap<String, String> {
        let dir = self.packages_dir().to_path_buf();
        tokio::task::spawn_blocking(move || dist_infos(&dir).into_iter().map(|d| (d.name, d.version)).collect())
            .await
            .unwrap_or_default()
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

/// What a [`DepsError::NoPip`] says is missing (the error again for any other).
fn no_pip_problem(err: &DepsError) -> String {
    match err {
        DepsError::NoPip { problem } => problem.clone(),
        other => other.to_string(),
    }
}

/// The interpreter's file name, for messages that reach agents (its directory is a host path).
fn python_name() -> String {
    python().file_name().map_or_else(|| "python3".to_owned(), |n| n.to_string_lossy().into_owned())
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
    let child = command.spawn().map_err(|e| {
        tracing::warn!(python = %python().display(), error = %e, "cannot start pip");
        match e.kind() {
            std::io::ErrorKind::NotFound => DepsError::NoPip { problem: format!("`{}` was not found", python_name()) },
            _ => DepsError::Install {
                specs: joined.clone(),
                detail: format!("cannot start `{} -m pip`: {e}", python_name()),
            },
        }
    })?;
    let out = tokio::time::timeout(INSTALL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| DepsError::Install { specs: joined.clone(), detail: "pip timed out after 600 s".into() })?
        .map_err(|e| DepsError::Install { specs: joined.clone(), detail: e.to_string() })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named pip") {
        return Err(DepsError::NoPip { problem: format!("`{}` has no pip module", python_name()) });
    }
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

/// An installed distribution.
struct DistInfo {
    /// Normalised name.
    name: String,
    version: String,
    /// Its `.dist-info` directory.
    path: PathBuf,
}

fn dist_infos(dir: &Path) -> Vec<DistInfo> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dist-info"))
        .filter_map(|path| {
            let metadata = std::fs::read_to_string(path.join("METADATA")).ok()?;
            let field = |key: &str| metadata.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_owned());
            let name = normalize_package_name(&field("Name:")?);
            Some(DistInfo { name, version: field("Version:").unwrap_or_default(), path })
        })
        .collect()
}

/// Removes one distribution from `dir` by its RECORD, as `pip uninstall` would
/// (pip cannot uninstall from a `--target` directory itself); `false` if it was not there.
fn uninstall(dir: &Path, name: &str) -> Result<bool, DepsError> {
    let fail = |detail: String| DepsError::Install { specs: name.to_owned(), detail };
    let Some(DistInfo { path: info, .. }) = dist_infos(dir).into_iter().find(|d| d.name == name) else {
        return Ok(false);
    };
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
    Ok(true)
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
