//! The host side of the guest's imports, laid out like wasmtime-wasi's `p2/host`:
//! one module per WIT interface (`tools`, `skills`, `artifacts`, `deps`), each
//! implementing its interface's `Host` trait on its own context. [`HostState`], the
//! store's data, holds the WASI context, the limits and captures, and one context
//! per interface; [`add_to_linker`] hands each interface its context through a
//! projection, so no interface can reach another's state.
//!
//! Every domain error reaches the guest through one conversion: its
//! [`kind()`](crate::error_kind::ErrorKind) becomes the WIT `error-kind` in `wit_kind`.

mod artifacts;
mod deps;
#[cfg(feature = "data-profile")]
pub(crate) mod door;
mod skills;
mod tools;

use std::path::Path;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use self::artifacts::ArtifactsCtx;
use self::deps::DepsCtx;
use self::skills::SkillsCtx;
pub(crate) use self::tools::ToolsCtx;
use super::SandboxError;
use super::bindings::{self, types};
use super::journal::{JournaledMonotonicClock, JournaledRng, JournaledWallClock, Tape};
use super::limits::MemoryLimiter;
use super::output::Capture;
use crate::artifacts::{ArtifactError, Artifacts};
use crate::deps::{Deps, DepsError};
use crate::error_kind::ErrorKind;
use crate::skills::{SkillError, SkillLibrary};
use crate::tools::{ToolError, ToolRegistry};

/// What agent code can reach on the host through its namespaces, shared by a
/// session's instances (every field is cheap to clone).
///
/// A namespace without a backend answers every call with `not-configured`; the
/// tools namespace always has one (an empty registry lists nothing).
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// `tools`: the host's tools.
    pub tools: ToolRegistry,
    /// `skills`: the skill library.
    pub skills: Option<SkillLibrary>,
    /// `artifacts`: persistent data.
    pub artifacts: Option<Artifacts>,
    /// `deps`: installed packages, also mounted read-only at `/deps` in the guest.
    pub deps: Option<Deps>,
}

/// Where the installed packages appear in the guest (on `sys.path` from the snapshot).
const DEPS_MOUNT: &str = "/deps";

/// Everything one session's store holds.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
    pub(crate) ns: Namespaces,
}

/// The state behind the four namespaces, one context each; both guest profiles
/// (the component's WIT imports and the data profile's door) serve calls from it.
pub(crate) struct Namespaces {
    pub(crate) tools: ToolsCtx,
    skills: SkillsCtx,
    artifacts: ArtifactsCtx,
    deps: DepsCtx,
}

impl Namespaces {
    /// The namespaces over `capabilities`, each answering through `tape`.
    pub(crate) fn new(capabilities: Capabilities, tape: &Tape) -> Self {
        Self {
            tools: ToolsCtx::new(capabilities.tools, tape.clone()),
            skills: SkillsCtx { library: capabilities.skills, tape: tape.clone() },
            artifacts: ArtifactsCtx { store: capabilities.artifacts, tape: tape.clone() },
            deps: DepsCtx { deps: capabilities.deps, tape: tape.clone() },
        }
    }
}

impl HostState {
    /// State for a guest that sees the read-only `stdlib` at `/python` and, with
    /// deps, the installed packages at `/deps` (read-only too). Every value the host
    /// hands it (imports, clocks, random bytes) goes through `tape`.
    pub(crate) fn new(
        limiter: MemoryLimiter,
        stdlib: &Path,
        capabilities: Capabilities,
        tape: &Tape,
    ) -> Result<Self, SandboxError> {
        // Nothing inherited: no environment, arguments or network (wasmtime-wasi denies
        // sockets unless allowed), no directories but the stdlib and the packages, and
        // stdout/stderr go to per-session captures, never to the host's own streams.
        let stdout = Capture::new("stdout");
        let stderr = Capture::new("stderr");
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        // The guest's only other sources of non-determinism: seeded and journaled, so
        // a replay of the session reproduces what the live run saw.
        wasi.wall_clock(JournaledWallClock(tape.clone()))
            .monotonic_clock(JournaledMonotonicClock(tape.clone()))
            .secure_random(JournaledRng::new(tape.clone(), false))
            .insecure_random(JournaledRng::new(tape.clone(), true))
            .insecure_random_seed(JournaledRng::insecure_seed(tape));
        wasi.preopened_dir(stdlib, "/python", FsPerms::ReadOnly).map_err(mount_error("the stdlib", stdlib))?;
        if let Some(deps) = &capabilities.deps {
            let packages = deps.packages_dir();
            wasi.preopened_dir(packages, DEPS_MOUNT, FsPerms::ReadOnly)
                .map_err(mount_error("the packages", packages))?;
        }
        Ok(Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter,
            stdout,
            stderr,
            ns: Namespaces::new(capabilities, tape),
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Links the host interfaces, each to its own context.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    bindings::tools::add_to_linker::<_, HasSelf<ToolsCtx>>(linker, |s| &mut s.ns.tools)?;
    bindings::skills::add_to_linker::<_, HasSelf<SkillsCtx>>(linker, |s| &mut s.ns.skills)?;
    bindings::artifacts::add_to_linker::<_, HasSelf<ArtifactsCtx>>(linker, |s| &mut s.ns.artifacts)?;
    bindings::deps::add_to_linker::<_, HasSelf<DepsCtx>>(linker, |s| &mut s.ns.deps)?;
    Ok(())
}

/// The error for a directory that cannot be mounted; its host path is only logged.
pub(crate) fn mount_error(what: &'static str, dir: &Path) -> impl FnOnce(wasmtime::Error) -> SandboxError {
    let dir = dir.display().to_string();
    move |err| {
        tracing::error!(dir, error = %err, "cannot mount {what} into the guest");
        SandboxError::Setup(format!("cannot mount {what}: {err}"))
    }
}

/// The WIT `error-kind` of each crate-level kind: the guest side of the one mapping.
fn wit_kind(kind: ErrorKind) -> types::ErrorKind {
    match kind {
        ErrorKind::NotConfigured => types::ErrorKind::NotConfigured,
        ErrorKind::NotFound => types::ErrorKind::NotFound,
        ErrorKind::InvalidInput => types::ErrorKind::InvalidInput,
        ErrorKind::LimitExceeded => types::ErrorKind::LimitExceeded,
        ErrorKind::Denied => types::ErrorKind::Denied,
        ErrorKind::Failed => types::ErrorKind::Failed,
    }
}

impl types::HostError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind: wit_kind(kind), message: message.into() }
    }
}

/// Each domain error crosses into the guest as its `kind()` and its message.
macro_rules! host_error_from {
    ($($error:ty),*) => {$(
        impl From<$error> for types::HostError {
            fn from(err: $error) -> Self {
                Self::new(err.kind(), err.to_string())
            }
        }
    )*};
}

host_error_from!(SkillError, ArtifactError, DepsError, ToolError);

/// The backend of a namespace, or `not-configured`.
fn configured<'a, T>(backend: &'a Option<T>, what: &str) -> Result<&'a T, types::HostError> {
    backend.as_ref().ok_or_else(|| {
        types::HostError::new(ErrorKind::NotConfigured, format!("{what} are not configured for this session"))
    })
}
