//! `tools`: the session's [`ToolRegistry`], under the run's tool-call budget.

use std::time::Instant;

use crate::error_kind::ErrorKind;
use crate::model::ToolCallRecord;
use crate::sandbox::bindings::tools::{self, Host};
use crate::sandbox::bindings::types::{self, HostError};
use crate::sandbox::journal::Tape;
use crate::tools::{ParamInfo, ToolInfo, ToolRegistry};

/// Bytes of a failed call's error kept in the run's trace.
const TRACE_ERROR_LIMIT: usize = 4096;

/// The state behind the `tools` interface.
pub(crate) struct ToolsCtx {
    registry: ToolRegistry,
    /// Tool calls left in the current run.
    calls_left: u32,
    /// The tool calls of the current run.
    trace: Vec<ToolCallRecord>,
    tape: Tape,
}

impl ToolsCtx {
    pub(super) fn new(registry: ToolRegistry, tape: Tape) -> Self {
        Self { registry, calls_left: 0, trace: Vec::new(), tape }
    }

    /// Starts a run that may make `budget` tool calls.
    pub(crate) fn begin_run(&mut self, budget: u32) {
        self.calls_left = budget;
        self.trace.clear();
    }

    /// The calls of the run, in order.
    pub(crate) fn take_trace(&mut self) -> Vec<ToolCallRecord> {
        std::mem::take(&mut self.trace)
    }
}

impl Host for ToolsCtx {
    async fn list_tools(&mut self) -> Vec<tools::ToolInfo> {
        self.tape
            .call("tools.list-tools", &(), async { self.registry.list().await.into_iter().map(tool_info).collect() })
            .await
    }

    async fn search_tools(&mut self, query: String, limit: u32) -> Result<Vec<tools::ToolMatch>, HostError> {
        self.tape.call("tools.search-tools", &(&query, limit), self.search(&query, limit)).await
    }

    async fn call_tool(
        &mut self,
        tool: String,
        callable: Option<String>,
        args_json: String,
    ) -> Result<String, HostError> {
        let tape = self.tape.clone();
        // The budget check is inside: a refusal is journaled like any answer.
        tape.call("tools.call-tool", &(&tool, &callable, &args_json), self.call(&tool, callable.as_deref(), &args_json))
            .await
    }

    async fn describe_tools(&mut self) -> String {
        self.tape
            .call("tools.describe-tools", &(), async {
                crate::model::describe::tools_stub(&self.registry.list().await)
            })
            .await
    }
}

impl ToolsCtx {
    async fn search(&self, query: &str, limit: u32) -> Result<Vec<tools::ToolMatch>, HostError> {
        crate::input::check("a search query", query, crate::tools::MAX_QUERY_BYTES)
            .map_err(|e| HostError::new(ErrorKind::InvalidInput, e.to_string()))?;
        let found = self.registry.search_scored(query, limit as usize).await;
        Ok(found.into_iter().map(|m| tools::ToolMatch { info: tool_info(m.info), score: m.score }).collect())
    }

    async fn call(&mut self, tool: &str, callable: Option<&str>, args_json: &str) -> Result<String, HostError> {
        if self.calls_left == 0 {
            return Err(HostError::new(ErrorKind::LimitExceeded, "tool-call limit of this run reached"));
        }
        self.calls_left -= 1;
        let started = Instant::now();
        // Sized, then parsed, by the registry: a huge argument is refused before the
        // host allocates in proportion to it.
        let result = self.registry.call_json(tool, callable, args_json).await;
        // Names come from agent code: the trace keeps them short, or a run's calls
        // could hold a thousand copies of a guest-sized name.
        self.trace.push(ToolCallRecord {
            tool: crate::text::shown(tool),
            callable: callable.map(crate::text::shown),
            duration: started.elapsed(),
            error: result.as_ref().err().map(|err| crate::text::capped(err.to_string(), TRACE_ERROR_LIMIT)),
        });
        Ok(result?.to_string())
    }
}

fn tool_info(info: ToolInfo) -> tools::ToolInfo {
    tools::ToolInfo {
        name: info.name,
        description: info.description,
        tags: info.tags,
        callables: info
            .callables
            .into_iter()
            .map(|c| tools::CallableInfo {
                name: c.name,
                description: c.description,
                params: c.params.into_iter().map(param).collect(),
            })
            .collect(),
        unavailable: info.unavailable,
    }
}

fn param(p: ParamInfo) -> types::Param {
    types::Param {
        name: p.name,
        type_name: Some(p.type_name),
        required: p.required,
        default: p.default.map(|value| types::DefaultValue::Json(value.to_string())),
        description: p.description,
    }
}
