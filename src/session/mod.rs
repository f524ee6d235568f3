//! [`Session`]: one persistent Python interpreter for one agent.

#[cfg(feature = "remote")]
pub mod remote;

#[cfg(feature = "remote")]
use self::remote::{Remote, RemoteError, RemoteSession, Subprocess};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::artifacts::{ArtifactError, ArtifactInfo, Artifacts, DEFAULT_MAX_ARTIFACT_SIZE};
use crate::deps::{Deps, DepsError, PipOptions};
use crate::input::InputLimits;
pub use crate::model::{CellError, RunResult, Value};
use crate::sandbox::host::Services;
use crate::sandbox::instance::{GuestRunResult, Instance, Outcome, RunStats, StopCause};
use crate::sandbox::{LimitKind, Limits, Metering, Sandbox, SandboxError};
use crate::skills::{InspectError, SearchResults, Skill, SkillError, SkillInfo, SkillLibrary, SkillSignature};
use crate::storage::{FileStorage, Storage, StorageError};
use crate::text::{capped, shown};
use crate::tools::{Skipped, ToolInfo, ToolRegistry};

/// Makes a builder per session, for servers that open sessions on demand (the MCP
/// server, `codemode serve`) over shared storage, tools and sandbox.
pub type SessionFactory = Arc<dyn Fn() -> SessionBuilder + Send + Sync>;

/// Errors from the session API. Errors in the agent's *code* are not among them:
/// they come back in [`RunResult::error`].
#[derive(Debug, thiserror::Error)]
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
    /// The interpreter stopped while doing something other than running agent code.
    #[error("the interpreter stopped unexpectedly ({0}); its state was reset")]
    Interpreter(String),
}

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
    #[cfg(feature = "remote")]
    executor: Executor,
}

/// Where a session's interpreter runs.
#[cfg(feature = "remote")]
#[derive(Debug, Default)]
enum Executor {
    /// In this process (the default).
    #[default]
    InProcess,
    /// On a `codemode serve` reached over HTTP.
    Remote(Remote),
    /// On a `codemode serve` child spawned for this session.
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
            #[cfg(feature = "remote")]
            executor: Executor::InProcess,
        }
    }
}

impl SessionBuilder {
    /// The sandbox to run in (default: [`Sandbox::shared`]).
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
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

    /// Whether skill search may use the embedding model (default `true`; without the
    /// model installed it ranks by keywords either way).
    pub fn embeddings(mut self, enabled: bool) -> Self {
        self.embeddings = enabled;
        self
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
        self.executor = Executor::Remote(remote);
        self
    }

    /// Runs the session on a `codemode serve` child process started from `binary`
    /// with `args` (storage, limit and serve flags), on loopback with a random token.
    /// A crash of the child is reported by the next call.
    #[cfg(feature = "remote")]
    pub fn subprocess(mut self, binary: impl Into<PathBuf>, args: &[&str]) -> Self {
        self.executor =
            Executor::Subprocess { binary: binary.into(), args: args.iter().map(|a| a.to_string()).collect() };
        self
    }

    /// Starts the interpreter (compiling the guest first if no cached artifact exists).
    pub async fn build(self) -> Result<Session, SessionError> {
        validate(&self.limits)?;
        #[cfg(feature = "remote")]
        let remote = match &self.executor {
            Executor::InProcess => None,
            Executor::Remote(remote) => Some(remote.clone()),
            Executor::Subprocess { binary, args } => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                Some(Subprocess::spawn(binary, &args).await?)
            }
        };
        #[cfg(feature = "remote")]
        if let Some(remote) = remote {
            let remote_session = remote.session().await?;
            return Ok(Session {
                sandbox: self.sandbox.unwrap_or_else(Sandbox::shared),
                metering: Metering::Off,
                limits: self.limits,
                services: None,
                tools: ToolRegistry::default(),
                skipped_tools: Vec::new(),
                state: Mutex::new(State::Live(None)),
                #[cfg(feature = "remote")]
                remote: Some(remote_session),
            });
        }
        let sandbox = self.sandbox.unwrap_or_else(Sandbox::shared);
        let metering = if self.limits.fuel.is_some() { Metering::Fuel } else { Metering::Off };
        let storage = match (self.storage, &self.base_dir) {
            (Some(storage), _) => Some(storage),
            (None, Some(dir)) => Some(Arc::new(FileStorage::open(dir).await?) as Arc<dyn Storage>),
            (None, None) => None,
        };
        let services = match storage {
            Some(storage) => {
                let deps = Deps::new(storage.clone(), self.allow_runtime_deps, self.pip);
                // Another machine may have recorded deps in a shared store.
                deps.ensure_installed().await?;
                let skills = SkillLibrary::new(storage.clone(), sandbox.clone()).with_input_limits(self.input);
                let skills = if self.embeddings { skills } else { skills.without_embeddings() };
                Some(Arc::new(Services {
                    artifacts: Artifacts::new(storage.clone(), self.max_artifact_size).with_input_limits(self.input),
                    deps,
                    skills,
                }))
            }
            None => None,
        };
        // py-code-mode's convention: tool definitions live in `<base>/tools`.
        let (tools, skipped_tools) = match (self.tools, &self.base_dir) {
            (Some(tools), _) => (tools, Vec::new()),
            (None, Some(base)) => ToolRegistry::load_dir(&base.join("tools")),
            (None, None) => (ToolRegistry::default(), Vec::new()),
        };
        let prepared = sandbox.prepared(metering).await?;
        let instance = Instance::new(prepared, &self.limits, services.clone(), tools.clone()).await?;
        Ok(Session {
            sandbox,
            metering,
            limits: self.limits,
            services,
            tools,
            skipped_tools,
            state: Mutex::new(State::Live(Some(instance))),
            #[cfg(feature = "remote")]
            remote: None,
        })
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

enum State {
    /// `None`: the last interpreter stopped; the next run starts a fresh one.
    Live(Option<Instance>),
    Closed,
}

/// A persistent Python interpreter: variables, functions and imports survive from
/// one [`run`](Session::run) to the next until [`reset`](Session::reset).
///
/// Runs on one session are serialised; separate sessions run concurrently and
/// never see each other's state.
pub struct Session {
    sandbox: Sandbox,
    metering: Metering,
    limits: Limits,
    services: Option<Arc<Services>>,
    tools: ToolRegistry,
    skipped_tools: Vec<Skipped>,
    state: Mutex<State>,
    /// Set when the interpreter runs on a `codemode serve`.
    #[cfg(feature = "remote")]
    remote: Option<RemoteSession>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("limits", &self.limits)
            .field("services", &self.services)
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

    /// Whether the interpreter runs on a `codemode serve` (remote or subprocess).
    pub fn is_remote(&self) -> bool {
        #[cfg(feature = "remote")]
        return self.remote.is_some();
        #[cfg(not(feature = "remote"))]
        false
    }

    /// The session's artifacts (the same ones agent code sees as `artifacts`). In
    /// process only; [`list_artifacts`](Self::list_artifacts) and
    /// [`load_artifact`](Self::load_artifact) work on every executor.
    pub fn artifacts(&self) -> Result<&Artifacts, SessionError> {
        self.services.as_deref().map(|s| &s.artifacts).ok_or(SessionError::NotConfigured("artifacts"))
    }

    /// The session's tools (the same ones agent code sees as `tools`). In process
    /// only (empty otherwise); [`list_tools`](Self::list_tools) works on every executor.
    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    /// Tool definition files in `<base_dir>/tools` that could not be loaded.
    pub fn skipped_tools(&self) -> &[Skipped] {
        &self.skipped_tools
    }

    /// The session's skills (the same ones agent code sees as `skills`). In process
    /// only; the `*_skill(s)` methods work on every executor.
    pub fn skills(&self) -> Result<&SkillLibrary, SessionError> {
        self.services.as_deref().map(|s| &s.skills).ok_or(SessionError::NotConfigured("skills"))
    }

    /// Runs skill `name` with keyword arguments in this session's interpreter, as
    /// `skills.invoke(name, **args)` would from agent code.
    pub async fn invoke_skill(
        &self,
        name: &str,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<RunResult, SessionError> {
        crate::names::SkillName::new(name)
            .map_err(|e| SessionError::InvalidSkill { message: e.to_string(), line: None })?;
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            self.check_open().await?;
            return Ok(remote.invoke_skill(name, args).await?);
        }
        // A JSON string literal is a valid Python string literal, so this quotes safely.
        let args = serde_json::to_string(&serde_json::Value::Object(args.clone()).to_string()).unwrap_or_default();
        self.run(&format!("skills.invoke({name:?}, **__import__('json').loads({args}))")).await
    }

    /// The session's deps (the same ones agent code sees as `deps`). In process only;
    /// the `*_dep(s)` methods work on every executor.
    pub fn deps(&self) -> Result<&Deps, SessionError> {
        self.services.as_deref().map(|s| &s.deps).ok_or(SessionError::NotConfigured("deps"))
    }

    /// Runs `code` with the session's limits.
    pub async fn run(&self, code: &str) -> Result<RunResult, SessionError> {
        self.run_with(code, &self.limits).await
    }

    /// Runs `code` with other limits for this run only. Fuel is only available on a
    /// session built with fuel (it needs a differently compiled guest).
    pub async fn run_with(&self, code: &str, limits: &Limits) -> Result<RunResult, SessionError> {
        validate(limits)?;
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            self.check_open().await?;
            return Ok(remote.run_with_timeout(code, limits.timeout).await?);
        }
        if limits.fuel.is_some() && self.metering == Metering::Off {
            return Err(SessionError::InvalidLimits(
                "this session was built without fuel metering; set fuel in the session's limits".into(),
            ));
        }
        let mut state = self.state.lock().await;
        let mut instance = self.take_instance(&mut state).await?;
        let (outcome, stats) = instance.run(code, limits).await;
        let result = match outcome {
            Outcome::Returned(result) => {
                *state = State::Live(Some(instance));
                completed(result, stats, limits)
            }
            Outcome::Stopped { cause, detail } => {
                // The instance is poisoned; the next run starts a fresh one.
                *state = State::Live(None);
                stopped(cause, detail, stats)
            }
        };
        Ok(result)
    }

    /// Clears the interpreter's variables, functions and imports; `tools`, `skills`,
    /// `artifacts` and `deps` stay, and so does everything stored.
    pub async fn reset(&self) -> Result<(), SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            self.check_open().await?;
            return Ok(remote.reset().await?);
        }
        let mut state = self.state.lock().await;
        if let State::Closed = *state {
            return Err(SessionError::Closed);
        }
        // A fresh interpreter rather than cleared globals: agent code can change the
        // interpreter itself (builtins, `sys.modules`, the runner), and nothing it
        // did may survive a reset.
        *state = State::Live(None);
        let instance = self.take_instance(&mut state).await?;
        *state = State::Live(Some(instance));
        Ok(())
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
        #[cfg_attr(not(feature = "remote"), allow(unused_variables))]
        let was_open = !matches!(std::mem::replace(&mut *self.state.lock().await, State::Closed), State::Closed);
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote
            && was_open
        {
            // The server also closes it after its idle TTL, so a failure here loses nothing.
            let _ = remote.close().await;
        }
    }

    #[cfg(feature = "remote")]
    async fn check_open(&self) -> Result<(), SessionError> {
        if matches!(*self.state.lock().await, State::Closed) { Err(SessionError::Closed) } else { Ok(()) }
    }

    /// Every tool, with its callables and typed parameters.
    pub async fn list_tools(&self) -> Result<Vec<ToolInfo>, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().list_tools().await?);
        }
        Ok(self.tools.list().await)
    }

    /// The tools matching `query`, best first.
    pub async fn search_tools(&self, query: &str, limit: usize) -> Result<Vec<ToolInfo>, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().search_tools(query, limit).await?);
        }
        Ok(self.tools.search(query, limit).await)
    }

    /// Every stored skill.
    pub async fn list_skills(&self) -> Result<Vec<SkillInfo>, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().list_skills().await?);
        }
        Ok(self.skills()?.list().await?)
    }

    /// The skills matching `query` by meaning, best first.
    pub async fn search_skills(&self, query: &str, limit: usize) -> Result<SearchResults, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().search_skills(query, limit).await?);
        }
        Ok(self.skills()?.search(query, limit).await?)
    }

    /// One skill with its source.
    pub async fn get_skill(&self, name: &str) -> Result<Skill, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().get_skill(name).await?);
        }
        Ok(self.skills()?.get(name).await?)
    }

    /// Validates and stores a skill; returns its info and whether one was replaced.
    pub async fn create_skill(
        &self,
        name: &str,
        source: &str,
        description: Option<&str>,
    ) -> Result<(SkillInfo, bool), SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().create_skill(name, source, description).await?);
        }
        Ok(self.skills()?.create(name, source, description).await?)
    }

    /// Deletes a skill; `false` if there was none.
    pub async fn delete_skill(&self, name: &str) -> Result<bool, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().delete_skill(name).await?);
        }
        Ok(self.skills()?.delete(name).await?)
    }

    /// Every stored artifact.
    pub async fn list_artifacts(&self) -> Result<Vec<ArtifactInfo>, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().list_artifacts().await?);
        }
        Ok(self.artifacts()?.list().await?)
    }

    /// An artifact's data as JSON (text as a string, binary as base64) and its info.
    pub async fn load_artifact(&self, name: &str) -> Result<(serde_json::Value, ArtifactInfo), SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().load_artifact(name).await?);
        }
        let artifact = self.artifacts()?.load(name).await?;
        Ok((artifact.to_json()?, artifact.info))
    }

    /// The installed packages.
    pub async fn list_deps(&self) -> Result<Vec<String>, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().list_deps().await?);
        }
        Ok(self.deps()?.list().await?)
    }

    /// Installs a pure-Python package; returns the requirement as recorded.
    pub async fn add_dep(&self, spec: &str) -> Result<String, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().add_dep(spec).await?);
        }
        Ok(self.deps()?.add(spec).await?)
    }

    /// Uninstalls a package; `false` if it was not installed.
    pub async fn remove_dep(&self, name: &str) -> Result<bool, SessionError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return Ok(remote.remote().remove_dep(name).await?);
        }
        Ok(self.deps()?.remove(name).await?)
    }

    /// Whether [`close`](Session::close) was called.
    pub async fn is_closed(&self) -> bool {
        matches!(*self.state.lock().await, State::Closed)
    }

    async fn take_instance(&self, state: &mut State) -> Result<Instance, SessionError> {
        match state {
            State::Closed => Err(SessionError::Closed),
            State::Live(slot) => match slot.take() {
                Some(instance) => Ok(instance),
                None => {
                    let prepared = self.sandbox.prepared(self.metering).await?;
                    Ok(Instance::new(prepared, &self.limits, self.services.clone(), self.tools.clone()).await?)
                }
            },
        }
    }
}

/// The guest's own account of a run. The guest caps its texts itself, but it runs
/// agent code, which can change it: every text is capped again here.
fn completed(result: GuestRunResult, stats: RunStats, limits: &Limits) -> RunResult {
    let text_limit = limits.stdout.max(limits.stderr) as usize;
    let error = result.error.map(|e| CellError {
        kind: shown(&e.kind),
        message: capped(e.message, limits.stderr as usize),
        traceback: capped(e.traceback, limits.stderr as usize),
    });
    // The cap turned into a Python MemoryError the agent can see; say which limit it was.
    let limit =
        (stats.memory_denied && error.as_ref().is_some_and(|e| e.kind == "MemoryError")).then_some(LimitKind::Memory);
    RunResult {
        value: result.value.map(|v| Value {
            json: v.json.filter(|text| text.len() <= text_limit).and_then(|text| serde_json::from_str(&text).ok()),
            repr: capped(v.repr, limits.stdout as usize),
        }),
        stdout: stats.stdout.text,
        stderr: stats.stderr.text,
        stdout_truncated: stats.stdout.truncated,
        stderr_truncated: stats.stderr.truncated,
        error,
        limit,
        interpreter_reset: false,
        wall_time: stats.wall_time,
        peak_memory: stats.peak_memory,
        fuel_used: stats.fuel_used,
        tool_calls: stats.tool_calls,
    }
}

fn stopped(cause: StopCause, detail: String, stats: RunStats) -> RunResult {
    let (kind, message, limit) = match cause {
        StopCause::Limit(limit) => ("LimitExceeded", format!("{limit} limit: {detail}"), Some(limit)),
        StopCause::Exit => ("InterpreterExit", detail, None),
        StopCause::Crash => ("InterpreterCrash", detail, None),
    };
    let message = format!("{message}; the interpreter was restarted and its state (variables, imports) is lost");
    RunResult {
        value: None,
        stdout: stats.stdout.text,
        stderr: stats.stderr.text,
        stdout_truncated: stats.stdout.truncated,
        stderr_truncated: stats.stderr.truncated,
        error: Some(CellError { kind: kind.to_owned(), traceback: format!("{kind}: {message}\n"), message }),
        limit,
        interpreter_reset: true,
        wall_time: stats.wall_time,
        peak_memory: stats.peak_memory,
        fuel_used: stats.fuel_used,
        tool_calls: stats.tool_calls,
    }
}
