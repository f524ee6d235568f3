//! The host side of the guest's imports: the per-store state and the WIT
//! interfaces agent code reaches through `tools`, `skills`, `artifacts` and `deps`.
//!
//! The namespaces have no backends yet, so every call answers `not-configured`;
//! the tool-call budget is enforced already, so it holds for every backend.

use std::path::Path;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::SandboxError;
use super::bindings::types::{ErrorKind, HostError};
use super::bindings::{artifacts, deps, skills, tools, types};
use super::limits::MemoryLimiter;
use super::output::Capture;

/// Everything one session's store holds.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// Tool calls left in the current run.
    pub(crate) tool_calls_left: u32,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

impl HostState {
    /// State for a guest that sees only the read-only `stdlib` at `/python`.
    pub(crate) fn new(memory_cap: u64, stdlib: &Path) -> Result<Self, SandboxError> {
        // Nothing inherited: no environment, arguments or network (wasmtime-wasi denies
        // sockets unless allowed), no directory but the stdlib, and stdout/stderr go to
        // per-session captures, never to the host's own streams.
        let stdout = Capture::new("stdout");
        let stderr = Capture::new("stderr");
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.preopened_dir(stdlib, "/python", FsPerms::ReadOnly)
            .map_err(|err| SandboxError::Setup(format!("cannot mount the stdlib from {}: {err}", stdlib.display())))?;
        Ok(Self {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_cap),
            tool_calls_left: 0,
            stdout,
            stderr,
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn not_configured(what: &str) -> HostError {
    HostError { kind: ErrorKind::NotConfigured, message: format!("{what} are not configured for this session") }
}

impl types::Host for HostState {}

impl tools::Host for HostState {
    async fn list_tools(&mut self) -> Vec<tools::ToolInfo> {
        Vec::new()
    }

    async fn search_tools(&mut self, _query: String, _limit: u32) -> Vec<tools::ToolInfo> {
        Vec::new()
    }

    async fn call_tool(
        &mut self,
        tool: String,
        _callable: Option<String>,
        _args_json: String,
    ) -> Result<String, HostError> {
        if self.tool_calls_left == 0 {
            return Err(HostError {
                kind: ErrorKind::LimitExceeded,
                message: "tool-call limit of this run reached".to_owned(),
            });
        }
        self.tool_calls_left -= 1;
        Err(HostError {
            kind: ErrorKind::NotConfigured,
            message: format!("no tool named {tool:?}: no tools are configured for this session"),
        })
    }
}

impl skills::Host for HostState {
    async fn list_skills(&mut self) -> Result<Vec<skills::SkillInfo>, HostError> {
        Err(not_configured("skills"))
    }

    async fn search_skills(&mut self, _query: String, _limit: u32) -> Result<Vec<skills::SkillInfo>, HostError> {
        Err(not_configured("skills"))
    }

    async fn get_skill(&mut self, _name: String) -> Result<skills::Skill, HostError> {
        Err(not_configured("skills"))
    }

    async fn create_skill(
        &mut self,
        _name: String,
        _source: String,
        _description: Option<String>,
    ) -> Result<skills::SkillInfo, HostError> {
        Err(not_configured("skills"))
    }

    async fn delete_skill(&mut self, _name: String) -> Result<bool, HostError> {
        Err(not_configured("skills"))
    }
}

impl artifacts::Host for HostState {
    async fn save(
        &mut self,
        _name: String,
        _data: Vec<u8>,
        _kind: artifacts::DataKind,
        _description: String,
        _metadata_json: String,
    ) -> Result<artifacts::ArtifactInfo, HostError> {
        Err(not_configured("artifacts"))
    }

    async fn load(&mut self, _name: String) -> Result<artifacts::Artifact, HostError> {
        Err(not_configured("artifacts"))
    }

    async fn exists(&mut self, _name: String) -> Result<bool, HostError> {
        Err(not_configured("artifacts"))
    }

    async fn list_artifacts(&mut self) -> Result<Vec<artifacts::ArtifactInfo>, HostError> {
        Err(not_configured("artifacts"))
    }

    async fn delete(&mut self, _name: String) -> Result<bool, HostError> {
        Err(not_configured("artifacts"))
    }
}

impl deps::Host for HostState {
    async fn add(&mut self, _spec: String) -> Result<String, HostError> {
        Err(not_configured("deps"))
    }

    async fn remove(&mut self, _name: String) -> Result<bool, HostError> {
        Err(not_configured("deps"))
    }

    async fn list_deps(&mut self) -> Result<Vec<String>, HostError> {
        Err(not_configured("deps"))
    }

    async fn sync(&mut self) -> Result<Vec<String>, HostError> {
        Err(not_configured("deps"))
    }
}
