//! [`Session`]: one persistent Python interpreter for one agent, behind one
//! executor: in this process ([`local`]) or on a `codemode serve` ([`remote`]).
//! Every operation goes through [`Operations::call`]; the typed methods sit on top.

pub(crate) mod durable;
mod interrupt;
pub(crate) mod journal;
mod local;
#[cfg(feature = "remote")]
pub mod remote;
mod services;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use self::durable::DEFAULT_LEASE;
#[cfg(feature = "server")]
pub(crate) use self::durable::delete_stored;
use self::durable::{Config, Durable, DurableOptions};
pub use self::interrupt::Interrupt;
pub use self::journal::JournalOptions;
use self::local::Local;
#[cfg(feature = "server")]
pub(crate) use self::local::interrupted_before_start;
#[cfg(feature = "remote")]
use self::remote::{Remote, RemoteError, Subprocess};
pub use self::services::Services;
use crate::artifacts::{ArtifactError, Artifacts, DEFAULT_MAX_ARTIFACT_SIZE};
use crate::deps::{Deps, DepsError, PipOptions};
use crate::input::{InputLimits, TooLarge};
use crate::model::ops::{Operations, Request, Response, RunCode, UnexpectedResponse};
use crate::model::{Allow, InvalidAllow, RunResult, SkillSignature};
use crate::names::SessionId;
use crate::sandbox::{Capabilities, Limits, MemoryShare, Metering, Profile, Sandbox, SandboxError, SandboxVerifier};
use crate::skills::{InspectError, SkillError, SkillLibrary};
use crate::storage::{FileStorage, Storage, StorageError};
use crate::tools::{Skipped, ToolRegistry};

/// What a request waits for a durable session's lease beyond the run timeout and
/// the lease: the storage's round trips, and the holder's append and release.
const LEASE_WAIT_MARGIN: Duration = Duration::from_secs(1);

/// Makes a builder per session, for servers that open sessions on demand (the MCP
/// server, `codemode serve`) over shared storage, tools and sandbox.
pub type SessionFactory = Arc<dyn Fn() -> SessionBuilder + Send + Sync>;

/// Errors from the session API. Errors in the agent's *code* are not among them:
/// they come back in [`RunResult::error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session was closed; create a new one.
    #[error("the session is closed")]
    Closed,
    /// The sandbox could not be compiled or instantiated.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The limits cannot be applied (for example fuel on a session built without it).
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// A skill's source was rejected by [`Session::inspect_skill`].
    #[error("invalid skill{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    InvalidSkill {
        /// What is wrong.
        message: String,
        /// The offending line, when known.
        line: Option<u32>,
    },
    /// The session has no storage, so it has no artifacts or deps.
    #[error("{0} are not configured: build the session with a storage (base_dir or storage)")]
    NotConfigured(&'static str),
    /// The storage backend could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A deps operation failed, or the recorded deps could not be installed when
    /// the session started.
    #[error(transparent)]
    Deps(#[from] DepsError),
    /// A skills operation failed.
    #[error(transparent)]
    Skill(#[from] SkillError),
    /// An artifacts operation failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The session's server (a remote or subprocess executor) failed or refused.
    #[cfg(feature = "remote")]
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// An input is over its cap; nothing was done.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The session's allowed tools or skills cannot be applied (bad names, too
    /// many, a tool that does not exist, or wider than what its server allows).
    #[error(transparent)]
    InvalidAllow(#[from] InvalidAllow),
    /// The operation runs code, so it needs a session, not just the store.
    #[error("{0} needs a session")]
    NeedsSession(&'static str),
    /// The server answered an operation with an answer of another kind.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedResponse),
    /// The session's state cannot be rebuilt in a new interpreter (its journal is
    /// off or past its cap, or the replay failed); nothing was created.
    #[error("the session cannot be forked: {0}")]
    Fork(String),
    /// An interrupt stopped a fork's replay (or came while the fork waited for
    /// the run before it); nothing was created and the session is untouched.
    #[error(
        "the fork was interrupted: it was stopped before its replay of the session's journal ended; nothing was \
         created and the session is untouched"
    )]
    ForkInterrupted,
    /// An interrupt stopped the replay that resumes a stored session (another
    /// server or process asked for its run to stop while this one resumed it):
    /// nothing ran, the stored session is untouched, and the next request resumes it.
    #[error(
        "session {0} was interrupted while it was being resumed (its stored journal replayed); nothing ran and the \
         stored session is untouched; the next request resumes it again"
    )]
    ResumeInterrupted(SessionId),
    /// Another process held the stored session's lease (it served a request for
    /// it) for longer than a request waits: the run timeout and the lease.
    #[error(
        "session {0} is busy on another server or process (a request for it has run there for longer than a \
         run's timeout); retry later"
    )]
    Held(SessionId),
    /// Another process wrote the session's stored journal after this one's last
    /// write (it took the session over while this one had lost its lease): this
    /// process's history is stale and is never stored over the newer one.
    #[error(
        "session {0} ran in another server or process since this one last stored it; its state here is stale and \
         was not stored; resume the stored one (a server does at the next request)"
    )]
    Superseded(SessionId),
    /// Another process took the session over (its lease lapsed while this process
    /// was paused or cut off from the storage) while this one ran a cell: the cell
    /// ran here, side effects included, but is not in the stored session, which
    /// holds the other process's history. This copy is dropped; never retried.
    #[error(
        "session {0} was taken over by another server or process while this cell ran here: the cell ran (any side \
         effects happened) but its result and state changes were not stored; the stored session holds the other \
         server's history; check what the cell did before running it again"
    )]
    TakenOver(SessionId),
    /// No stored session has this id (never created, deleted, or expired).
    #[error("no stored session {0} (it was closed, expired, or never existed)")]
    NotFound(SessionId),
    /// The stored session cannot be brought back; nothing was changed.
    #[error("session {id} cannot be resumed: {why}")]
    NotResumable {
        /// The session.
        id: SessionId,
        /// Why: no journal (the data profile, or past its cap), unreadable stored
        /// data, or a replay that failed.
        why: String,
    },
}

/// The longest lease [`SessionBuilder::lease`] sets.
const MAX_LEASE: Duration = Duration::from_secs(24 * 60 * 60);

/// Builds a [`Session`].
#[derive(Debug)]
pub struct SessionBuilder {
    sandbox: Option<Sandbox>,
    limits: Limits,
    base_dir: Option<PathBuf>,
    storage: Option<Arc<dyn Storage>>,
    allow_runtime_deps: bool,
    max_artifact_size: u64,
    input: InputLimits,
    pip: PipOptions,
    embeddings: bool,
    tools: Option<ToolRegistry>,
    /// Each list narrows the ones before it (see [`allow`](Self::allow)).
    allow: Vec<Allow>,
    journal: JournalOptions,
    profile: Profile,
    executor: Where,
    durable: Option<DurableOptions>,
}

/// Where a session's interpreter runs.
#[derive(Debug, Default)]
enum Where {
    /// In this process (the default).
    #[default]
    InProcess,
    /// On a `codemode serve` reached over HTTP.
    #[cfg(feature = "remote")]
    Remote(Remote),
    /// On a `codemode serve` child spawned for this session.
    #[cfg(feature = "remote")]
    Subprocess { binary: PathBuf, args: Vec<String> },
}

impl Default for SessionBuilder {
    fn default() -> Self {
        Self {
            sandbox: None,
            limits: Limits::default(),
            base_dir: None,
            storage: None,
            allow_runtime_deps: true,
            max_artifact_size: DEFAULT_MAX_ARTIFACT_SIZE,
            input: InputLimits::default(),
            pip: PipOptions::default(),
            embeddings: true,
            tools: None,
            allow: Vec::new(),
            journal: JournalOptions::default(),
            profile: Profile::Default,
            executor: Where::InProcess,
            durable: None,
        }
    }
}

impl SessionBuilder {
    /// The sandbox to run in (default: [`Sandbox::shared`]).
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// Which interpreter the session runs (default: [`Profile::Default`]).
    /// [`Profile::Data`] has numpy, pandas and the rest compiled in; it must be
    /// prepared once (`codemode profile fetch data`), runs in process only, and has
    /// no fuel metering.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Limits applied to every run (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Keeps skills, artifacts and deps in this directory (py-code-mode's layout; see
    /// [`FileStorage`]). Ignored when [`storage`](Self::storage) is given.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// Keeps skills, artifacts and deps in this backend (e.g. a shared
    /// [`RedisStorage`](crate::storage::RedisStorage)).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Whether agent code may add and remove packages (default `true`). When `false`,
    /// `deps.add`/`deps.remove` raise; `deps.list`/`deps.sync` still work.
    pub fn allow_runtime_deps(mut self, allow: bool) -> Self {
        self.allow_runtime_deps = allow;
        self
    }

    /// Cap on one artifact's size (default 64 MiB).
    pub fn max_artifact_size(mut self, bytes: u64) -> Self {
        self.max_artifact_size = bytes;
        self
    }

    /// Caps on skill sources, descriptions, queries and artifact metadata sent by agent
    /// code or clients (default: [`InputLimits::default`]).
    pub fn input_limits(mut self, input: InputLimits) -> Self {
        self.input = input;
        self
    }

    /// The tools agent code can call (default: those in `<base_dir>/tools`, if any).
    pub fn tools(mut self, tools: ToolRegistry) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Limits the session to these tools and skills (see [`Allow`]: exact names, a
    /// tool with all its recipes; everything else is absent and refused host-side,
    /// whatever agent code does). Each call narrows what earlier calls allowed and
    /// can never widen it: a server sets its own list, then each session's; a name
    /// outside the earlier list makes [`build`](Self::build) fail with
    /// [`SessionError::InvalidAllow`], and so does a tool that does not exist.
    /// On a remote or subprocess executor the list is sent to the server, which
    /// applies it the same way.
    pub fn allow(mut self, allow: Allow) -> Self {
        self.allow.push(allow);
        self
    }

    /// [`allow`](Self::allow) for tools only.
    pub fn allow_tools<S: Into<String>>(self, tools: impl IntoIterator<Item = S>) -> Self {
        self.allow(Allow { tools: Some(tools.into_iter().map(Into::into).collect()), skills: None })
    }

    /// [`allow`](Self::allow) for skills only.
    pub fn allow_skills<S: Into<String>>(self, skills: impl IntoIterator<Item = S>) -> Self {
        self.allow(Allow { tools: None, skills: Some(skills.into_iter().map(Into::into).collect()) })
    }

    /// What the lists given to [`allow`](Self::allow) add up to, or why they do not.
    pub fn allowed(&self) -> Result<Allow, InvalidAllow> {
        let mut allowed = Allow::default();
        for allow in &self.allow {
            allowed = allowed.narrowed(allow)?;
        }
        Ok(allowed)
    }

    /// Whether skill search may use the embedding model (default `true`; without the
    /// model installed it ranks by keywords either way).
    pub fn embeddings(mut self, enabled: bool) -> Self {
        self.embeddings = enabled;
        self
    }

    /// How the session journals its cells so that a cell stopped by an interrupt, a
    /// limit or a crash is rolled back rather than losing the session's state
    /// (default: [`JournalOptions::default`]). In process only.
    pub fn journal(mut self, options: JournalOptions) -> Self {
        self.journal = options;
        self
    }

    /// Keeps the session's journal in its storage under `id` (a new session; one
    /// stored under `id` already is replaced), so that it survives this process and
    /// any process on the same storage can [`resume`](Self::resume) it. The stored
    /// journal is deleted by the storage after `ttl` without use (`None`: kept until
    /// [`Session::forget`]). In process only, with a storage.
    pub fn durable(mut self, id: SessionId, ttl: Option<Duration>) -> Self {
        self.durable = Some(DurableOptions { id, ttl, lease: DEFAULT_LEASE, wait: Duration::ZERO, resume: false });
        self
    }

    /// Resumes the session stored under `id` (see [`durable`](Self::durable)): its
    /// allowlists (within this builder's), limits and profile are the stored ones,
    /// its state is replayed from its journal without running any tool again.
    /// Fails with [`SessionError::Held`] while another process runs it,
    /// [`SessionError::NotFound`] if none is stored, [`SessionError::NotResumable`]
    /// if it has no usable journal.
    pub fn resume(mut self, id: SessionId, ttl: Option<Duration>) -> Self {
        self.durable = Some(DurableOptions { id, ttl, lease: DEFAULT_LEASE, wait: Duration::ZERO, resume: true });
        self
    }

    /// How long a durable session's lease lasts without renewal (default
    /// [`DEFAULT_LEASE`]): how soon another process may resume it after this one died.
    /// Kept within 300 ms and a day (what every storage can represent).
    pub fn lease(mut self, lease: Duration) -> Self {
        if let Some(durable) = &mut self.durable {
            durable.lease = lease.clamp(Duration::from_millis(300), MAX_LEASE);
        }
        self
    }

    /// How long a request for a durable session this builder makes waits for its
    /// lease while another process serves the session, with leases of `lease`: as
    /// a call queued behind a running cell waits (the run timeout), plus a lease
    /// for a holder that died.
    pub(crate) fn lease_wait(&self, lease: Duration) -> Duration {
        self.limits.timeout.saturating_add(lease).saturating_add(LEASE_WAIT_MARGIN)
    }

    /// The memory a server reserves from its budget for a session this builder
    /// makes: its interpreter's cap ([`Limits::memory`]) and what its journal may
    /// hold ([`JournalOptions::max_bytes`]; none for the data profile, which keeps
    /// no journal). Every server surface reserves this, and nothing else (see
    /// [`Session::memory_reservation`]).
    pub fn memory_reservation(&self) -> u64 {
        let journal = local::journal_options(self.profile, self.journal.clone()).max_bytes;
        self.limits.memory.saturating_add(u64::try_from(journal).unwrap_or(u64::MAX))
    }

    /// Whether sessions built by this builder have a storage to keep a journal in.
    pub fn has_storage(&self) -> bool {
        self.storage.is_some() || self.base_dir.is_some()
    }

    /// How packages are found and installed (default: PyPI, output captured).
    pub fn pip(mut self, options: PipOptions) -> Self {
        self.pip = options;
        self
    }

    /// Runs the session on a `codemode serve` (see [`crate::remote`]) instead of in
    /// this process. Storage, tools and limits other than the timeout are then the
    /// server's; the Session API is the same.
    #[cfg(feature = "remote")]
    pub fn remote(mut self, remote: Remote) -> Self {
        self.executor = Where::Remote(remote);
        self
    }

    /// Runs the session on a `codemode serve` child process started from `binary`
    /// with `args` (storage, limit and serve flags), on loopback with a random token.
    /// A crash of the child is reported by the next call.
    #[cfg(feature = "remote")]
    pub fn subprocess(mut self, binary: impl Into<PathBuf>, args: &[&str]) -> Self {
        self.executor = Where::Subprocess { binary: binary.into(), args: args.iter().map(|a| a.to_string()).collect() };
        self
    }

    /// Starts the interpreter (compiling the guest first if no cached artifact exists).
    pub async fn build(mut self) -> Result<Session, SessionError> {
        // A resume applies what the session was created with, taken under its lease.
        let durable = match self.durable.take() {
            None => None,
            Some(options) => Some(self.claim(options).await?),
        };
        validate(&self.limits)?;
        // After the claim: a resumed session's own limits, profile and journal cap.
        let reservation = self.memory_reservation();
        // Checked whatever the executor; only a remote one sends the lists on.
        #[cfg_attr(not(feature = "remote"), allow(unused_variables))]
        let allowed = self.allowed()?;
        let limits = self.limits.clone();
        let journal = self.journal.clone();
        let sandbox = self.sandbox.clone().unwrap_or_else(Sandbox::shared);
        let profile = self.profile;
        if profile == Profile::Data {
            if !matches!(self.executor, Where::InProcess) {
                return Err(SessionError::InvalidLimits("the data profile runs in process only".into()));
            }
            if limits.fuel.is_some() {
                return Err(SessionError::InvalidLimits("the data profile has no fuel metering; use a timeout".into()));
            }
        }
        let executor: Box<dyn Executor> = match &self.executor {
            Where::InProcess => {
                let metering = if limits.fuel.is_some() { Metering::Fuel } else { Metering::Off };
                let services = self.services(true).await?;
                // Another machine may have recorded deps in a shared store; the
                // interpreter needs them, the store operations do not.
                if let Some(deps) = &services.capabilities.deps {
                    deps.ensure_installed().await?;
                }
                let (sandbox, limits) = (sandbox.clone(), limits.clone());
                match durable {
                    Some((durable, Some(stored))) => {
                        Box::new(Local::resume(sandbox, metering, profile, limits, services, stored, durable).await?)
                    }
                    durable => {
                        let durable = durable.map(|(durable, _)| durable);
                        Box::new(Local::start(sandbox, metering, profile, limits, services, journal, durable).await?)
                    }
                }
            }
            #[cfg(feature = "remote")]
            Where::Remote(remote) => Box::new(remote.session_allowing(&allowed).await?),
            #[cfg(feature = "remote")]
            Where::Subprocess { binary, args } => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                Box::new(Subprocess::spawn(binary, &args).await?.session_allowing(&allowed).await?)
            }
        };
        Ok(Session { sandbox, limits, reservation, executor, closed: AtomicBool::new(false) })
    }

    /// Takes the lease of a durable session; for a resume, loads its journal and
    /// applies its stored configuration to this builder (narrowing its allowlists).
    async fn claim(
        &mut self,
        mut options: DurableOptions,
    ) -> Result<(Durable, Option<journal::Journal>), SessionError> {
        options.wait = self.lease_wait(options.lease);
        if !matches!(self.executor, Where::InProcess) {
            return Err(SessionError::InvalidLimits("a durable session runs in process only".into()));
        }
        let storage = match (&self.storage, &self.base_dir) {
            (Some(storage), _) => storage.clone(),
            (None, Some(dir)) => Arc::new(FileStorage::open(dir).await?) as Arc<dyn Storage>,
            (None, None) => return Err(SessionError::NotConfigured("durable sessions")),
        };
        // Opened once: the services use the same storage (and its leases).
        self.storage = Some(storage.clone());
        let config = Config {
            allow: self.allowed()?,
            profile: self.profile,
            limits: self.limits.clone(),
            journal_max: local::journal_options(self.profile, self.journal.clone()).max_bytes as u64,
        };
        let durable = Durable::claim(storage, &options, config).await?;
        if !options.resume {
            return Ok((durable, None));
        }
        let (stored, journal) = match durable.load().await {
            Ok(loaded) => loaded,
            Err(err) => {
                // Given up now: a retry (or a new session under this id) need not wait.
                // Nothing stored: the lease's own record (a lock file) goes too.
                durable.close(matches!(err, SessionError::NotFound(_))).await;
                return Err(err);
            }
        };
        // Never wider than what this builder allows: the stored list narrows it.
        self.allow.push(stored.allow);
        self.profile = stored.profile;
        // Its own limits (a replay needs them), but none looser than this builder's.
        self.limits = stored.limits.within(&self.limits);
        self.journal.max_bytes = journal.options.max_bytes;
        Ok((durable, Some(journal)))
    }

    /// Opens the storage and loads the tools, without an interpreter: the operations
    /// that run no code, for servers and the CLI. In process only; packages recorded
    /// but not installed here are installed when a session starts, not by this.
    pub async fn build_services(self) -> Result<Services, SessionError> {
        self.services(false).await
    }

    /// [`build_services`](Self::build_services); `in_session`: for a session, whose
    /// skills' examples then draw on its memory share (else each example has its own:
    /// no one session's cap is there to share, and callers must not share one).
    async fn services(self, in_session: bool) -> Result<Services, SessionError> {
        let allowed = self.allowed()?;
        let sandbox = self.sandbox.unwrap_or_else(Sandbox::shared);
        let storage = match (self.storage, &self.base_dir) {
            (Some(storage), _) => Some(storage),
            (None, Some(dir)) => Some(Arc::new(FileStorage::open(dir).await?) as Arc<dyn Storage>),
            (None, None) => None,
        };
        let mut capabilities = Capabilities::default();
        let kept = storage.clone();
        if let Some(storage) = storage {
            let deps = Deps::new(storage.clone(), self.allow_runtime_deps, self.pip);
            let skills = SkillLibrary::new(storage.clone(), sandbox.clone()).with_input_limits(self.input);
            let skills = if self.embeddings { skills } else { skills.without_embeddings() };
            let skills = match &allowed.skills {
                Some(names) => skills.restricted(names)?,
                None => skills,
            };
            // Its reach is what the skills it saves are scoped to.
            capabilities.skills = Some(skills.with_allowed_tools(allowed.tools.as_deref()));
            capabilities.artifacts =
                Some(Artifacts::new(storage, self.max_artifact_size).with_input_limits(self.input));
            capabilities.deps = Some(deps);
        }
        // Without tools given or a base to find them in, they are unknown (a store
        // opened for its skills alone): skills are then not checked against them.
        let tools_known = self.tools.is_some() || self.base_dir.is_some();
        // py-code-mode's convention: tool definitions live in `<base>/tools`.
        let (tools, skipped_tools) = match (self.tools, &self.base_dir) {
            (Some(tools), _) => (tools, Vec::new()),
            (None, Some(base)) => ToolRegistry::load_dir_if_present(&base.join("tools")),
            (None, None) => (ToolRegistry::default(), Vec::new()),
        };
        // The one place a session's allowlist applies: every surface (agent code and
        // its raw imports, the operations, describe) reaches tools and skills only
        // through these restricted values.
        capabilities.tools = match &allowed.tools {
            Some(names) => tools.restricted(names)?,
            None => tools,
        };
        // A skill is available when what it calls is reachable here.
        if tools_known {
            capabilities.skills = capabilities.skills.map(|skills| skills.with_tools(capabilities.tools.names()));
        }
        // Examples run with these capabilities, read-only, under the session's limits.
        // The verifier's library has no verifier itself (no cycle, and examples
        // cannot save skills anyway).
        let memory = MemoryShare::new();
        let read_only = SandboxVerifier::read_only(&capabilities);
        let examples = in_session.then(|| memory.clone());
        let verifier = Arc::new(SandboxVerifier::new(sandbox, self.limits.clone(), read_only, examples));
        capabilities.skills = capabilities.skills.map(|skills| skills.with_verifier(verifier));
        Ok(Services { capabilities, skipped_tools: skipped_tools.into(), storage: kept, memory })
    }
}

fn validate(limits: &Limits) -> Result<(), SessionError> {
    if limits.timeout.is_zero() {
        return Err(SessionError::InvalidLimits("the timeout must be greater than zero".into()));
    }
    if limits.fuel == Some(0) {
        return Err(SessionError::InvalidLimits("fuel must be greater than zero (or unset)".into()));
    }
    Ok(())
}

/// Where a session's code runs: in this process or on a server. One implementation
/// per executor; [`Session`] adds the checks every executor shares.
#[async_trait::async_trait]
trait Executor: Send + Sync {
    /// Runs `code` with `limits` (already validated), until `interrupt` fires.
    async fn run(&self, code: &str, limits: &Limits, interrupt: &Interrupt) -> Result<RunResult, SessionError>;
    /// Performs any other operation; one that runs code stops when `interrupt` fires.
    async fn call(&self, request: Request, interrupt: &Interrupt) -> Result<Response, SessionError>;
    /// Stops the run in progress, without waiting for it; whether there was one.
    async fn interrupt(&self) -> Result<bool, SessionError>;
    /// A new, independent executor with this one's state; its replay stops when
    /// `interrupt` fires.
    async fn fork(&self, interrupt: &Interrupt) -> Result<Box<dyn Executor>, SessionError>;
    /// Releases the interpreter; with `forget`, its stored journal is deleted too.
    async fn close(&self, forget: bool);
    /// The in-process services, if the interpreter runs here.
    fn services(&self) -> Option<&Services>;
    /// The id its journal is stored under, if it is durable in this process.
    fn stored_as(&self) -> Option<&SessionId> {
        None
    }
}

/// A persistent Python interpreter: variables, functions and imports survive from
/// one [`run`](Session::run) to the next until [`reset`](Session::reset).
///
/// Runs on one session are serialised; separate sessions run concurrently and
/// never see each other's state. The namespaces' operations come from
/// [`Operations`], which `Session` implements.
pub struct Session {
    /// Validates skills for [`Session::inspect_skill`].
    sandbox: Sandbox,
    limits: Limits,
    /// See [`SessionBuilder::memory_reservation`].
    reservation: u64,
    executor: Box<dyn Executor>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("limits", &self.limits)
            .field("remote", &self.is_remote())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A builder with default limits on the shared sandbox.
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// The limits every run gets unless overridden.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What a server reserves from its memory budget for this session, and for
    /// each fork of it (the same limits and journal): see
    /// [`SessionBuilder::memory_reservation`].
    pub fn memory_reservation(&self) -> u64 {
        self.reservation
    }

    /// Whether the interpreter runs on a `codemode serve` (remote or subprocess).
    pub fn is_remote(&self) -> bool {
        self.executor.services().is_none()
    }

    /// The tools, skills, artifacts and deps of an in-process session.
    pub fn services(&self) -> Result<&Services, SessionError> {
        self.executor.services().ok_or(SessionError::NotConfigured("in-process services"))
    }

    /// The session's artifacts (the same ones agent code sees as `artifacts`). In
    /// process only; [`Operations`] works on every executor.
    pub fn artifacts(&self) -> Result<&Artifacts, SessionError> {
        self.services()?.artifacts()
    }

    /// The session's tools (the same ones agent code sees as `tools`). In process
    /// only (empty otherwise); [`Operations::list_tools`] works on every executor.
    pub fn tools(&self) -> &ToolRegistry {
        static NONE: std::sync::OnceLock<ToolRegistry> = std::sync::OnceLock::new();
        self.executor.services().map_or_else(|| NONE.get_or_init(ToolRegistry::default), Services::tools)
    }

    /// Tool definition files in `<base_dir>/tools` that could not be loaded.
    pub fn skipped_tools(&self) -> &[Skipped] {
        self.executor.services().map_or(&[], Services::skipped_tools)
    }

    /// The session's skills (the same ones agent code sees as `skills`). In process
    /// only; [`Operations`] works on every executor.
    pub fn skills(&self) -> Result<&SkillLibrary, SessionError> {
        self.services()?.skills()
    }

    /// The session's deps (the same ones agent code sees as `deps`). In process only;
    /// [`Operations`] works on every executor.
    pub fn deps(&self) -> Result<&Deps, SessionError> {
        self.services()?.deps()
    }

    /// Runs `code` with the session's limits.
    pub async fn run(&self, code: &str) -> Result<RunResult, SessionError> {
        self.run_with(code, &self.limits).await
    }

    /// Runs `code` with other limits for this run only. Fuel is only available on a
    /// session built with fuel (it needs a differently compiled guest); a remote
    /// session applies the timeout only.
    pub async fn run_with(&self, code: &str, limits: &Limits) -> Result<RunResult, SessionError> {
        self.run_interruptible(code, limits, &Interrupt::new()).await
    }

    /// Runs `code` with `limits`, stopping it when `interrupt` fires (see
    /// [`Interrupt`]): the way to stop this run and no other.
    pub async fn run_interruptible(
        &self,
        code: &str,
        limits: &Limits,
        interrupt: &Interrupt,
    ) -> Result<RunResult, SessionError> {
        validate(limits)?;
        self.check_open()?;
        self.executor.run(code, limits, interrupt).await
    }

    /// Stops the run in progress (code, a skill, or a fork's replay: see
    /// [`fork`](Self::fork)), if any, and says whether there
    /// was one. It does not wait for the run: the run's own call returns within
    /// milliseconds with [`RunResult::interrupted`] set, and the interpreter replaced
    /// as after a timeout ([`RunResult::interpreter_reset`]), its state rolled back to
    /// before the cell by replaying the journal. An interrupt that arrives during that
    /// replay stops it too: the result then says the state was lost, and why. Runs
    /// queued behind it then run as usual.
    ///
    /// Busy Python code stops at its next epoch tick (10 ms), a sleep or a tool call
    /// at once; a tool's process is killed with its whole process group. Guest code
    /// cannot catch it (`except BaseException` sees nothing).
    pub async fn interrupt(&self) -> Result<bool, SessionError> {
        self.check_open()?;
        self.executor.interrupt().await
    }

    /// [`Operations::call`], stopping a request that runs code (`run`,
    /// `invoke_skill`) when `interrupt` fires; other requests ignore it.
    pub async fn call_interruptible(&self, request: Request, interrupt: &Interrupt) -> Result<Response, SessionError> {
        self.check_open()?;
        match request {
            Request::Run(RunCode { code, timeout }) => {
                let limits = self.limits.with_timeout_at_most(timeout).map_err(SessionError::InvalidLimits)?;
                Ok(Response::Run(self.run_interruptible(&code, &limits, interrupt).await?))
            }
            Request::InvokeSkill(invoke) => {
                crate::names::SkillName::new(&invoke.name)
                    .map_err(|e| SessionError::InvalidSkill { message: e.to_string(), line: None })?;
                self.executor.call(Request::InvokeSkill(invoke), interrupt).await
            }
            other => self.executor.call(other, interrupt).await,
        }
    }

    /// A new session with this one's state (variables, functions, imports), independent
    /// from then on: an agent can try two approaches from one point. The journal is
    /// replayed into a fresh interpreter with every host call answered from it, so no
    /// tool runs twice and no write is repeated; the fork's random streams then get
    /// fresh entropy, so the two sessions draw different bytes. The fork has the same
    /// limits, profile, tools and skills allowed (never more). Waits for a run in
    /// progress. Fails with [`SessionError::Fork`] when the journal cannot rebuild the
    /// state (disabled, past its cap, or the replay failed). On a remote executor the
    /// server forks it (`POST /v1/sessions/{id}/fork`).
    ///
    /// The replay is this session's operation in progress (runs wait for it):
    /// [`interrupt`](Self::interrupt) stops it, and the fork fails with
    /// [`SessionError::ForkInterrupted`], this session untouched.
    pub async fn fork(&self) -> Result<Session, SessionError> {
        self.fork_interruptible(&Interrupt::new()).await
    }

    /// [`fork`](Self::fork), stopped when `interrupt` fires (see [`Interrupt`]).
    pub async fn fork_interruptible(&self, interrupt: &Interrupt) -> Result<Session, SessionError> {
        self.check_open()?;
        let executor = self.executor.fork(interrupt).await?;
        Ok(Session {
            sandbox: self.sandbox.clone(),
            limits: self.limits.clone(),
            reservation: self.reservation,
            executor,
            closed: AtomicBool::new(false),
        })
    }

    /// The id this session's journal is stored under, if it is durable (built with
    /// [`SessionBuilder::durable`] or [`SessionBuilder::resume`], or forked from
    /// such a session: a fork is stored under a new random id of its own).
    pub fn stored_as(&self) -> Option<&SessionId> {
        self.executor.stored_as()
    }

    /// Clears the interpreter's variables, functions and imports; `tools`, `skills`,
    /// `artifacts` and `deps` stay, and so does everything stored.
    pub async fn reset(&self) -> Result<(), SessionError> {
        match self.call(Request::Reset).await? {
            Response::Reset { .. } => Ok(()),
            _ => Err(UnexpectedResponse { op: "reset" }.into()),
        }
    }

    /// Parses a skill's source in the sandbox's own CPython (nothing in it runs) and
    /// describes its `run` entry point.
    pub async fn inspect_skill(&self, source: &str) -> Result<SkillSignature, SessionError> {
        self.sandbox.inspect_skill(source).await.map_err(|err| match err {
            InspectError::Invalid { message, line } => SessionError::InvalidSkill { message, line },
            InspectError::Unavailable(err) => SessionError::Skill(SkillError::Inspector(err)),
        })
    }

    /// Releases the interpreter. Later calls return [`SessionError::Closed`];
    /// closing twice is fine.
    pub async fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.executor.close(false).await;
        }
    }

    /// [`close`](Self::close), and deletes a durable session's stored journal: it
    /// can no longer be resumed anywhere.
    pub async fn forget(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.executor.close(true).await;
        }
    }

    /// Whether [`close`](Session::close) was called.
    pub async fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn check_open(&self) -> Result<(), SessionError> {
        if self.closed.load(Ordering::SeqCst) { Err(SessionError::Closed) } else { Ok(()) }
    }
}

#[async_trait::async_trait]
impl Operations for Session {
    type Error = SessionError;

    async fn call(&self, request: Request) -> Result<Response, SessionError> {
        self.call_interruptible(request, &Interrupt::new()).await
    }
}
