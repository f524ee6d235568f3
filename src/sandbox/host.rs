//! The host side of the guest's imports: the per-store state and the WIT
//! interfaces agent code reaches through `tools`, `skills`, `artifacts` and `deps`.
//!
//! Tools come from the session's [`ToolRegistry`]; skills, artifacts and deps are
//! served by its [`Services`], and a session without storage answers `not-configured`.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::SandboxError;
use super::bindings::types::{ErrorKind, HostError};
use super::bindings::{artifacts, deps, skills, tools, types};
use super::limits::MemoryLimiter;
use super::output::Capture;
use crate::artifacts::{ArtifactError, ArtifactInfo, Artifacts, DataKind};
use crate::deps::{Deps, DepsError};
use crate::model::ToolCallRecord;
use crate::skills::{SearchMode, SkillError, SkillInfo, SkillLibrary};
use crate::tools::{ToolError, ToolInfo, ToolRegistry};

/// What the guest's namespaces reach on the host, shared by a session's instances.
#[derive(Debug)]
pub(crate) struct Services {
    pub(crate) artifacts: Artifacts,
    pub(crate) deps: Deps,
    pub(crate) skills: SkillLibrary,
}

/// Bytes of a failed call's error kept in the run's trace.
pub(crate) const TRACE_ERROR_LIMIT: usize = 4096;

/// Where the installed packages appear in the guest (on `sys.path` from the snapshot).
const DEPS_MOUNT: &str = "/deps";

/// Everything one session's store holds.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// Tool calls left in the current run.
    pub(crate) tool_calls_left: u32,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
    services: Option<Arc<Services>>,
    tools: ToolRegistry,
    /// The tool calls of the current run.
    pub(crate) tool_trace: Vec<ToolCallRecord>,
}

impl HostState {
    /// State for a guest that sees the read-only `stdlib` at `/python` and, with
    /// services, the installed packages at `/deps` (read-only too).
    pub(crate) fn new(
        memory_cap: u64,
        stdlib: &Path,
        services: Option<Arc<Services>>,
        tools: ToolRegistry,
    ) -> Result<Self, SandboxError> {
        // Nothing inherited: no environment, arguments or network (wasmtime-wasi denies
        // sockets unless allowed), no directories but the stdlib and the packages, and
        // stdout/stderr go to per-session captures, never to the host's own streams.
        let stdout = Capture::new("stdout");
        let stderr = Capture::new("stderr");
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.preopened_dir(stdlib, "/python", FsPerms::ReadOnly).map_err(mount_error("the stdlib", stdlib))?;
        if let Some(services) = &services {
            let packages = services.deps.packages_dir();
            wasi.preopened_dir(packages, DEPS_MOUNT, FsPerms::ReadOnly)
                .map_err(mount_error("the packages", packages))?;
        }
        Ok(Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_cap),
            tool_calls_left: 0,
            stdout,
            stderr,
            services,
            tools,
            tool_trace: Vec::new(),
        })
    }

    fn services(&self, what: &str) -> Result<&Services, HostError> {
        self.services.as_deref().ok_or_else(|| not_configured(what))
    }

    fn artifacts(&self) -> Result<Artifacts, HostError> {
        Ok(self.services("artifacts")?.artifacts.clone())
    }

    fn skills(&self) -> Result<SkillLibrary, HostError> {
        Ok(self.services("skills")?.skills.clone())
    }

    fn deps(&self) -> Result<Deps, HostError> {
        Ok(self.services("deps")?.deps.clone())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The error for a directory that cannot be mounted; its host path is only logged.
fn mount_error(what: &'static str, dir: &Path) -> impl FnOnce(wasmtime::Error) -> SandboxError {
    let dir = dir.display().to_string();
    move |err| {
        tracing::error!(dir, error = %err, "cannot mount {what} into the guest");
        SandboxError::Setup(format!("cannot mount {what}: {err}"))
    }
}

fn not_configured(what: &str) -> HostError {
    HostError { kind: ErrorKind::NotConfigured, message: format!("{what} are not configured for this session") }
}

impl types::Host for HostState {}

impl tools::Host for HostState {
    async fn list_tools(&mut self) -> Vec<tools::ToolInfo> {
        self.tools.list().await.into_iter().map(tool_info).collect()
    }

    async fn search_tools(&mut self, query: String, limit: u32) -> Result<Vec<tools::ToolInfo>, HostError> {
        crate::input::check("a search query", &query, crate::tools::MAX_QUERY_BYTES)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(self.tools.search(&query, limit as usize).await.into_iter().map(tool_info).collect())
    }

    async fn call_tool(
        &mut self,
        tool: String,
        callable: Option<String>,
        args_json: String,
    ) -> Result<String, HostError> {
        if self.tool_calls_left == 0 {
            return Err(HostError {
                kind: ErrorKind::LimitExceeded,
                message: "tool-call limit of this run reached".to_owned(),
            });
        }
        self.tool_calls_left -= 1;
        let started = std::time::Instant::now();
        // Sized, then parsed, by the registry: a huge argument is refused before the
        // host allocates in proportion to it.
        let result = self
            .tools
            .call_json(&tool, callable.as_deref(), &args_json)
            .await
            .map_err(|err| (tool_error_kind(&err), err.to_string()));
        // Names come from agent code: the trace keeps them short, or a run's calls
        // could hold a thousand copies of a guest-sized name.
        self.tool_trace.push(ToolCallRecord {
            tool: crate::text::shown(&tool),
            callable: callable.as_deref().map(crate::text::shown),
            duration: started.elapsed(),
            error: result.as_ref().err().map(|(_, message)| crate::text::capped(message.clone(), TRACE_ERROR_LIMIT)),
        });
        match result {
            Ok(value) => Ok(value.to_string()),
            Err((kind, message)) => Err(HostError { kind, message }),
        }
    }
}

fn tool_info(info: ToolInfo) -> tools::ToolInfo {
    let description = match info.unavailable {
        Some(reason) => format!("{} (unavailable: {reason})", info.description).trim_start().to_owned(),
        None => info.description,
    };
    tools::ToolInfo {
        name: info.name,
        description,
        callables: info
            .callables
            .into_iter()
            .map(|c| tools::Callable {
                name: c.name,
                description: c.description,
                params: c
                    .params
                    .into_iter()
                    .map(|p| types::Param {
                        name: p.name,
                        type_name: Some(p.type_name),
                        required: p.required,
                        default: p.default.map(|d| python_literal(&d)),
                        description: p.description,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A JSON default as the Python literal a signature shows.
fn python_literal(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "None".into(),
        serde_json::Value::Bool(true) => "True".into(),
        serde_json::Value::Bool(false) => "False".into(),
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn tool_error_kind(err: &ToolError) -> ErrorKind {
    match err {
        ToolError::NotFound { .. } | ToolError::UnknownCallable { .. } => ErrorKind::NotFound,
        ToolError::InvalidArguments { .. } => ErrorKind::InvalidInput,
        ToolError::Timeout { .. } | ToolError::Failed { .. } => ErrorKind::Failed,
    }
}

impl skills::Host for HostState {
    async fn list_skills(&mut self) -> Result<Vec<skills::SkillInfo>, HostError> {
        let list = self.skills()?.list().await.map_err(skill_error)?;
        Ok(list.into_iter().map(skill_info).collect())
    }

    async fn search_skills(&mut self, query: String, limit: u32) -> Result<skills::SearchResult, HostError> {
        let results = self.skills()?.search(&query, limit as usize).await.map_err(skill_error)?;
        Ok(skills::SearchResult {
            semantic: results.mode == SearchMode::Semantic,
            notice: results.notice,
            matches: results
                .matches
                .into_iter()
                .map(|m| skills::SkillMatch { info: skill_info(m.info), score: m.score })
                .collect(),
        })
    }

    async fn get_skill(&mut self, name: String) -> Result<skills::Skill, HostError> {
        let skill = self.skills()?.get(&name).await.map_err(skill_error)?;
        Ok(skills::Skill { info: skill_info(skill.info), source: skill.source })
    }

    async fn create_skill(
        &mut self,
        name: String,
        source: String,
        description: Option<String>,
    ) -> Result<skills::Created, HostError> {
        let (info, replaced) =
            self.skills()?.create(&name, &source, description.as_deref()).await.map_err(skill_error)?;
        Ok(skills::Created { info: skill_info(info), replaced })
    }

    async fn delete_skill(&mut self, name: String) -> Result<bool, HostError> {
        self.skills()?.delete(&name).await.map_err(skill_error)
    }
}

fn skill_info(info: SkillInfo) -> skills::SkillInfo {
    skills::SkillInfo {
        name: info.name,
        description: info.description,
        params: info
            .params
            .into_iter()
            .map(|p| types::Param {
                name: p.name,
                type_name: p.type_name,
                required: p.required,
                default: p.default,
                description: String::new(),
            })
            .collect(),
        is_async: info.is_async,
    }
}

fn skill_error(err: SkillError) -> HostError {
    let message = err.to_string();
    match err {
        SkillError::NotFound(_) => HostError { kind: ErrorKind::NotFound, message },
        SkillError::InvalidName { .. } | SkillError::InvalidSource { .. } | SkillError::TooLarge(_) => invalid(message),
        _ => failed(message),
    }
}

impl artifacts::Host for HostState {
    async fn save(
        &mut self,
        name: String,
        data: Vec<u8>,
        kind: artifacts::DataKind,
        description: String,
        metadata_json: String,
    ) -> Result<artifacts::ArtifactInfo, HostError> {
        let store = self.artifacts()?;
        store.check_metadata(&metadata_json).map_err(artifact_error)?;
        let metadata = match serde_json::from_str::<serde_json::Value>(&metadata_json) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(invalid("metadata must be a JSON object (a dict)")),
        };
        let kind = match kind {
            artifacts::DataKind::Json => DataKind::Json,
            artifacts::DataKind::Text => DataKind::Text,
            artifacts::DataKind::Binary => DataKind::Binary,
        };
        store.save(&name, data, kind, &description, metadata).await.map(artifact_info).map_err(artifact_error)
    }

    async fn load(&mut self, name: String) -> Result<artifacts::Artifact, HostError> {
        let artifact = self.artifacts()?.load(&name).await.map_err(artifact_error)?;
        Ok(artifacts::Artifact { info: artifact_info(artifact.info), data: artifact.data })
    }

    async fn info(&mut self, name: String) -> Result<Option<artifacts::ArtifactInfo>, HostError> {
        Ok(self.artifacts()?.info(&name).await.map_err(artifact_error)?.map(artifact_info))
    }

    async fn list_artifacts(&mut self) -> Result<Vec<artifacts::ArtifactInfo>, HostError> {
        let list = self.artifacts()?.list().await.map_err(artifact_error)?;
        Ok(list.into_iter().map(artifact_info).collect())
    }

    async fn delete(&mut self, name: String) -> Result<bool, HostError> {
        self.artifacts()?.delete(&name).await.map_err(artifact_error)
    }
}

impl deps::Host for HostState {
    async fn add(&mut self, spec: String) -> Result<String, HostError> {
        self.deps()?.add(&spec).await.map_err(deps_error)
    }

    async fn remove(&mut self, name: String) -> Result<bool, HostError> {
        self.deps()?.remove(&name).await.map_err(deps_error)
    }

    async fn list_deps(&mut self) -> Result<Vec<String>, HostError> {
        self.deps()?.list().await.map_err(deps_error)
    }

    async fn sync(&mut self) -> Result<Vec<String>, HostError> {
        self.deps()?.sync().await.map_err(deps_error)
    }
}

fn invalid(message: impl Into<String>) -> HostError {
    HostError { kind: ErrorKind::InvalidInput, message: message.into() }
}

fn failed(message: impl Into<String>) -> HostError {
    HostError { kind: ErrorKind::Failed, message: message.into() }
}

fn artifact_info(info: ArtifactInfo) -> artifacts::ArtifactInfo {
    artifacts::ArtifactInfo {
        name: info.name,
        description: info.description,
        kind: match info.kind {
            DataKind::Json => artifacts::DataKind::Json,
            DataKind::Text => artifacts::DataKind::Text,
            DataKind::Binary => artifacts::DataKind::Binary,
        },
        size: info.size,
        created_at: info.created_at,
        metadata_json: serde_json::Value::Object(info.metadata).to_string(),
    }
}

fn artifact_error(err: ArtifactError) -> HostError {
    let message = err.to_string();
    match err {
        ArtifactError::NotFound(_) => HostError { kind: ErrorKind::NotFound, message },
        ArtifactError::InvalidName { .. }
        | ArtifactError::TooLarge { .. }
        | ArtifactError::InputTooLarge(_)
        | ArtifactError::InvalidData { .. } => invalid(message),
        ArtifactError::Storage(_) => failed(message),
    }
}

fn deps_error(err: DepsError) -> HostError {
    let message = err.to_string();
    match err {
        DepsError::InvalidSpec { .. } => invalid(message),
        DepsError::RuntimeDisabled => HostError { kind: ErrorKind::Denied, message },
        _ => failed(message),
    }
}
