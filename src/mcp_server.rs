//! The whole system as an MCP server (rmcp): one MCP tool per operation of
//! [`Operations`] (`run` is `run_code`), over stdio or streamable HTTP.
//!
//! The tool list is [`TOOLS`]: a name, a description for the model, the
//! operation's argument schema and hints about its effects (MCP tool annotations).
//! A call becomes a [`Request`] with the same deserialiser every surface uses, and
//! its [`Response`](crate::model::ops::Response) comes back as text for the model
//! with the same data structured, both sized by [`OutputLimits`] (see [`render`]
//! for which carries what). A client
//! that sends a progress token gets a progress notification every second while a
//! call runs. Artifacts are also MCP resources (see [`resources`]).
//!
//! Each MCP session gets its own sandbox [`Session`], built on its first call from
//! a [`SessionBuilder`](crate::SessionBuilder) factory, so sessions share the compiled sandbox, the
//! storage, the tools and the search model, and nothing else. With a
//! [`MemoryBudget`], building that session first reserves its memory cap and its
//! journal's ([`SessionBuilder::memory_reservation`](crate::SessionBuilder::memory_reservation)), and a
//! call past the budget is a tool error; the share is given back when the MCP session
//! ends. Over HTTP the server speaks protocol versions up to 2025-11-25, whose
//! sessions carry that state from call to call (2026-07-28 removed protocol sessions).
//!
//! Forks: one MCP session has one sandbox session, so a fork cannot be a second
//! session the client addresses. What an agent wants from a fork is to try two
//! approaches from one point; [`SESSION_TOOLS`] give it that: `fork_session` keeps a
//! fork of the current state under a name (the session goes on), and
//! `switch_session` continues from a fresh fork of a kept one (which stays kept, so
//! the same point can be tried again), closing the current sandbox session. Kept
//! forks count against the memory budget like sessions and end with the MCP session.

mod output;
mod output_schema;
pub mod render;
pub mod resources;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::common::{schema_for_empty_input, schema_for_type};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

pub use self::output::{DEFAULT_MAX_OUTPUT_CHARS, MIN_MAX_OUTPUT_CHARS};
pub use self::render::OutputLimits;
use crate::model::ops::{
    AddDep, CreateSkill, Describe, InvokeSkill, Named, Operations, Request, RollbackSkill, RunCode, SaveArtifact,
    Search, TestSkills,
};
use crate::server::{MemoryBudget, Reservation};
use crate::session::{Interrupt, Session, SessionFactory};

/// How often a client that asked for progress hears that a call still runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The default largest artifact read as a resource, in bytes.
pub const DEFAULT_MAX_RESOURCE_BYTES: u64 = 1 << 20;

/// Instructions sent to clients at initialisation.
const INSTRUCTIONS: &str = "A persistent Python 3.14 session in a WebAssembly sandbox. Write Python with \
`run_code`: variables, functions and imports persist between calls. Inside the code, `tools.<name>.<recipe>(**kw)` \
calls the host's tools, `skills.<name>(**kw)` runs saved workflows, `artifacts.save/load` keeps data across \
sessions and `deps.add` installs pure-Python packages. Before writing a workflow from scratch, `search_skills` for \
one that exists; when a workflow works, save it with `create_skill` so it can be found and reused.";

/// One MCP tool: the operation it calls, what the model reads about it, and the
/// schema of its arguments (`None`: it takes none).
pub struct McpTool {
    /// The MCP tool's name.
    pub name: &'static str,
    /// The operation's name, as [`Request::name`] gives it.
    pub op: &'static str,
    /// What the model reads.
    pub description: &'static str,
    /// What calling it does, as MCP tool annotations tell a host.
    pub effects: Effects,
    schema: Option<fn() -> Arc<JsonObject>>,
}

/// What calling a tool does (MCP's `readOnlyHint`, `destructiveHint`,
/// `idempotentHint`, `openWorldHint`), for hosts deciding what to confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    /// It changes nothing.
    pub read_only: bool,
    /// It may replace or delete something stored, or the session's state.
    pub destructive: bool,
    /// Calling it twice with the same arguments does nothing more than once.
    pub idempotent: bool,
    /// It may reach outside codemode (the host's tools, the package index).
    pub open_world: bool,
}

/// Reads storage or the tool list.
const READS: Effects = Effects { read_only: true, destructive: false, idempotent: true, open_world: false };
/// Stores, replaces or deletes something by name.
const WRITES: Effects = Effects { read_only: false, destructive: true, idempotent: true, open_world: false };
/// Runs agent code, which may call any tool.
const RUNS: Effects = Effects { read_only: false, destructive: true, idempotent: false, open_world: true };
/// Installs from the package index; replaces nothing.
const INSTALLS: Effects = Effects { read_only: false, destructive: false, idempotent: true, open_world: true };

const fn tool(name: &'static str, op: &'static str, effects: Effects, description: &'static str) -> McpTool {
    McpTool { name, op, description, effects, schema: None }
}

const fn with<T: schemars::JsonSchema + 'static>(mut tool: McpTool) -> McpTool {
    tool.schema = Some(schema_for_type::<T>);
    tool
}

/// Every operation as an MCP tool (a test checks none is missing).
pub const TOOLS: &[McpTool] = &[
    with::<RunCode>(tool(
        "run_code",
        "run",
        RUNS,
        "Run Python in the persistent sandbox session and return its stdout, stderr, the value of the last \
         expression, and the error with traceback if it raised. State persists between calls. Available without \
         imports: `tools` (tools.list(), tools.<name>.<recipe>(**kw)), `skills` (skills.search(q), \
         skills.<name>(**kw)), `artifacts` (save/load/list) and `deps` (add/list). No network or files except \
         through these.",
    )),
    tool(
        "reset",
        "reset",
        WRITES,
        "Reset the Python session: forget every variable, function and import. Stored skills, artifacts and deps \
         are kept.",
    ),
    tool(
        "list_tools",
        "list_tools",
        READS,
        "List the host's tools: one line per callable, with the signature agent code calls \
         (tools.<name>.<callable>(**kwargs)) and what it does.",
    ),
    with::<Describe>(tool(
        "describe",
        "describe",
        READS,
        "Every tool and skill agent code can call, as a compact Python stub: typed keyword-only signatures, \
         defaults and one-line docs. `what`: tools, skills or all (default).",
    )),
    with::<Search>(tool(
        "search_tools",
        "search_tools",
        READS,
        "Find the host's tools that match a description of what you need, best first.",
    )),
    tool(
        "list_skills",
        "list_skills",
        READS,
        "List saved skills (reusable Python workflows) with their descriptions and parameters. In code: \
         skills.<name>(**kwargs).",
    ),
    with::<Search>(tool(
        "search_skills",
        "search_skills",
        READS,
        "Find saved skills by meaning (semantic search over names, descriptions and code), best first. Search here \
         before writing a workflow from scratch.",
    )),
    with::<Named>(tool(
        "get_skill",
        "get_skill",
        READS,
        "Show one skill: its description, parameters and Python source.",
    )),
    with::<CreateSkill>(tool(
        "create_skill",
        "create_skill",
        WRITES,
        "Save a working workflow as a skill, so later sessions can find it with search_skills and call it as \
         skills.<name>(**kwargs). The source must define `def run(...)` or `async def run(...)`; inside it `tools`, \
         `skills`, `artifacts` and `deps` are available. A skill of the same name is replaced. The source is checked \
         (syntax, a `run` function) before anything is stored. Give `examples` ([{\"args\": {...}, \"expect\": \
         value}]) to verify it: each runs first, and a failing one refuses the save with the difference.",
    )),
    with::<Named>(tool("delete_skill", "delete_skill", WRITES, "Delete a saved skill and its history.")),
    with::<Named>(tool(
        "skill_history",
        "skill_history",
        READS,
        "List a skill's versions (number, time, description), oldest first: saving over a skill keeps the one \
         replaced.",
    )),
    with::<RollbackSkill>(tool(
        "rollback_skill",
        "rollback_skill",
        WRITES,
        "Restore an earlier version of a skill (a number from skill_history) as its new current version; the \
         version replaced stays in the history, so a rollback can be undone.",
    )),
    with::<TestSkills>(tool(
        "test_skills",
        "test_skills",
        RUNS,
        "Run the examples of one skill (`name`) or of every skill again, and report which pass and which fail \
         (a tool that changed shows up here); listings and searches then show each as verified true or false.",
    )),
    with::<InvokeSkill>(tool(
        "invoke_skill",
        "invoke_skill",
        RUNS,
        "Run a saved skill with keyword arguments in the session and return its result (as run_code would for \
         `skills.<name>(**args)`).",
    )),
    tool(
        "list_artifacts",
        "list_artifacts",
        READS,
        "List stored artifacts (data kept across sessions) with their kind, size and description. In code: \
         artifacts.load(name).",
    ),
    with::<Named>(tool(
        "load_artifact",
        "load_artifact",
        READS,
        "Read one artifact: JSON comes back as data, text as text, binary as base64.",
    )),
    with::<SaveArtifact>(tool(
        "save_artifact",
        "save_artifact",
        WRITES,
        "Store data as an artifact for this and later sessions (replacing one of the same name): JSON as data, a \
         string as text, kind `bytes` with base64. In code: artifacts.load(name).",
    )),
    with::<Named>(tool("delete_artifact", "delete_artifact", WRITES, "Delete a stored artifact.")),
    tool("list_deps", "list_deps", READS, "List the Python packages installed for the sandbox."),
    with::<AddDep>(tool(
        "add_dep",
        "add_dep",
        INSTALLS,
        "Install a pure-Python package from the package index for this and later sessions (then `import` it in \
         run_code). Packages with native code cannot run in the sandbox and are refused.",
    )),
    with::<Named>(tool("remove_dep", "remove_dep", WRITES, "Uninstall a package added with add_dep.")),
    tool("sync_deps", "sync_deps", INSTALLS, "Install every recorded package that is not installed yet."),
];

/// Most forks one MCP session keeps at once.
pub const MAX_KEPT_FORKS: usize = 8;

/// The tools that act on the MCP session's sandbox session itself rather than
/// being an operation of it (see the module's notes on forks).
pub const SESSION_TOOLS: &[McpTool] = &[
    with::<Named>(tool(
        "fork_session",
        "fork_session",
        Effects { read_only: false, destructive: false, idempotent: false, open_world: false },
        "Keep a copy of the current Python state (variables, functions, imports) under `name`, to come back to \
         with switch_session: try one approach, and if it goes wrong, switch back and try another. The session \
         goes on unchanged. No tool call is run again. A fork of the same name is replaced; at most 8 are kept.",
    )),
    with::<Named>(tool(
        "switch_session",
        "switch_session",
        WRITES,
        "Continue from the state kept by fork_session under `name`: the current Python state is discarded (fork \
         it first to keep it) and replaced by a copy of the kept one, which stays kept so you can switch to it \
         again. Stored skills, artifacts and deps are not affected.",
    )),
];

/// What `fork_session` and `switch_session` answer: the forks kept now.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(title = "Forks")]
struct Forks {
    /// What was done.
    done: String,
    /// The names of the forks kept, in order.
    kept: Vec<String>,
}

/// Operations that change the installed packages, hidden when runtime deps are off.
const DEPS_CHANGES: &[&str] = &["add_dep", "remove_dep"];

/// The MCP server: one per MCP session.
#[derive(Clone)]
pub struct McpServer {
    factory: SessionFactory,
    /// The sandbox session, built on first use; replaced by `switch_session`.
    session: Arc<tokio::sync::Mutex<Option<Arc<Held>>>>,
    /// The forks `fork_session` keeps, by name.
    forks: Arc<tokio::sync::Mutex<Vec<(String, Held)>>>,
    /// The budget sessions reserve from.
    budget: Option<Arc<MemoryBudget>>,
    allow_runtime_deps: bool,
    http: bool,
    limits: OutputLimits,
    max_resource_bytes: u64,
}

/// The sandbox session and its share of the budget: both go when the MCP session ends.
struct Held {
    session: Session,
    _memory: Option<Reservation>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").field("http", &self.http).finish_non_exhaustive()
    }
}

impl McpServer {
    /// A server whose sandbox session comes from `factory`. `allow_runtime_deps`
    /// false hides `add_dep` and `remove_dep`; `http` limits the protocol to versions
    /// with sessions.
    pub fn new(factory: SessionFactory, allow_runtime_deps: bool, http: bool) -> Self {
        Self {
            factory,
            session: Arc::default(),
            forks: Arc::default(),
            budget: None,
            allow_runtime_deps,
            http,
            limits: OutputLimits::default(),
            max_resource_bytes: DEFAULT_MAX_RESOURCE_BYTES,
        }
    }

    /// Makes the sandbox session, and each fork, reserve its share of `budget`
    /// (its memory cap and its journal's) before it is built; past the budget,
    /// calls fail until others end.
    pub fn with_budget(mut self, budget: Arc<MemoryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Sizes tool results by `limits`, and refuses to read an artifact larger than
    /// `max_resource_bytes` as a resource.
    pub fn with_limits(mut self, limits: OutputLimits, max_resource_bytes: u64) -> Self {
        self.limits = limits;
        self.max_resource_bytes = max_resource_bytes;
        self
    }

    /// The tools this server lists.
    fn tools(&self) -> impl Iterator<Item = &'static McpTool> + '_ {
        TOOLS.iter().chain(SESSION_TOOLS).filter(|t| self.allow_runtime_deps || !DEPS_CHANGES.contains(&t.op))
    }

    /// Reserves `bytes` (a session's [`Session::memory_reservation`]) from the
    /// budget, if there is one.
    fn reserve(&self, bytes: u64) -> Result<Option<Reservation>, String> {
        match &self.budget {
            Some(budget) => Ok(Some(budget.reserve(bytes).map_err(|e| e.to_string())?)),
            None => Ok(None),
        }
    }

    async fn session(&self) -> Result<Arc<Held>, String> {
        let mut current = self.session.lock().await;
        if let Some(held) = &*current {
            return Ok(held.clone());
        }
        // Reserved first, so a refusal costs nothing; a failed build gives it back.
        let builder = (self.factory)();
        let memory = self.reserve(builder.memory_reservation())?;
        let session = builder.build().await.map_err(|e| format!("the sandbox session could not start: {e}"))?;
        let held = Arc::new(Held { session, _memory: memory });
        *current = Some(held.clone());
        Ok(held)
    }

    /// `fork_session` and `switch_session`; `cancelled` stops the fork's replay
    /// (the fork then fails, and nothing changes).
    async fn session_tool(
        &self,
        op: &str,
        args: Option<JsonObject>,
        cancelled: impl Future<Output = ()>,
    ) -> Result<CallToolResult, String> {
        let Named { name } = serde_json::from_value(Value::Object(args.unwrap_or_default()))
            .map_err(|e| format!("invalid arguments: {e}"))?;
        let name = crate::names::SkillName::new(&name).map_err(|e| format!("invalid fork name: {e}"))?.to_string();
        let done = if op == "fork_session" {
            let session = self.session().await?;
            let mut forks = self.forks.lock().await;
            if forks.len() >= MAX_KEPT_FORKS && !forks.iter().any(|(kept, _)| *kept == name) {
                return Err(format!("{MAX_KEPT_FORKS} forks are kept already; reuse one of their names"));
            }
            let memory = self.reserve(session.session.memory_reservation())?;
            let fork =
                until_cancelled(|stop| async move { session.session.fork_interruptible(&stop).await }, cancelled)
                    .await
                    .map_err(|e| e.to_string())?;
            forks.retain(|(kept, _)| *kept != name);
            forks.push((name.clone(), Held { session: fork, _memory: memory }));
            format!("the current state is kept as {name:?}")
        } else {
            let forks = self.forks.lock().await;
            let Some((_, kept)) = forks.iter().find(|(kept, _)| *kept == name) else {
                return Err(format!("no fork named {name:?} is kept"));
            };
            // Forked before the current session is let go: a failed switch loses nothing.
            let mut current = self.session.lock().await;
            let memory = self.reserve(kept.session.memory_reservation())?;
            let fork = until_cancelled(|stop| async move { kept.session.fork_interruptible(&stop).await }, cancelled)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(old) = current.replace(Arc::new(Held { session: fork, _memory: memory })) {
                // Its share of the budget is given back when the last call using it ends.
                old.session.close().await;
            }
            format!("continuing from the state kept as {name:?}")
        };
        let kept = self.forks.lock().await.iter().map(|(name, _)| name.clone()).collect();
        let data = serde_json::to_value(Forks { done, kept }).unwrap_or(Value::Null);
        let mut result = CallToolResult::structured(data.clone());
        result.content = vec![ContentBlock::text(data.to_string())];
        Ok(result)
    }

    /// Performs one tool call; a failure is a tool error the model reads, not a
    /// protocol error. When `cancelled` fires (the client's `notifications/cancelled`
    /// for this request, or its going away), the run this call started is
    /// interrupted; a run still queued behind another never starts.
    async fn perform(
        &self,
        tool: &McpTool,
        args: Option<JsonObject>,
        cancelled: impl Future<Output = ()>,
    ) -> CallToolResult {
        let outcome = async {
            if SESSION_TOOLS.iter().any(|t| t.op == tool.op) {
                return self.session_tool(tool.op, args, cancelled).await;
            }
            let request = Request::from_parts(tool.op, args).map_err(|e| format!("invalid arguments: {e}"))?;
            let held = self.session().await?;
            let session = &held.session;
            let response =
                until_cancelled(|stop| async move { session.call_interruptible(request, &stop).await }, cancelled)
                    .await
                    .map_err(|e| e.to_string())?;
            Ok::<_, String>(render::render(tool.op, response, self.limits))
        };
        outcome.await.unwrap_or_else(|message| {
            let text = output::fit_text(message, self.limits.max_chars, "the rest of the message was cut");
            CallToolResult::error(vec![ContentBlock::text(text)])
        })
    }
}

/// `work` given an interrupt that fires when `cancelled` completes first (the
/// client's `notifications/cancelled`, or its going away). Then `work` is still
/// awaited: the client hears nothing of a cancelled request any more (MCP: no
/// response to it), but the session must be free before the next call.
async fn until_cancelled<T, F: Future<Output = T>>(
    work: impl FnOnce(Interrupt) -> F,
    cancelled: impl Future<Output = ()>,
) -> T {
    let interrupt = Interrupt::new();
    let work = work(interrupt.clone());
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => done,
        () = cancelled => {
            interrupt.interrupt();
            work.await
        }
    }
}

/// `work`, telling `peer` every [`PROGRESS_EVERY`] that it still runs (MCP
/// progress notifications for `token`), until it is done.
async fn with_progress<F: Future>(work: F, peer: &Peer<RoleServer>, token: ProgressToken) -> F::Output {
    let started = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
    let mut sent = 0u32;
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => {
                sent += 1;
                let seconds = started.elapsed().as_secs();
                let progress = ProgressNotificationParam::new(token.clone(), f64::from(sent))
                    .with_message(format!("still running after {seconds} s"));
                // A client that went away cannot be told; the call itself decides what happens.
                let _ = peer.notify_progress(progress).await;
            }
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("codemode", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if self.http {
            Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools().map(mcp_tool).collect()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools().find(|t| t.name == name).map(mcp_tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = self.tools().find(|t| t.name == request.name) else {
            let name = crate::text::shown(&request.name);
            return Err(ErrorData::invalid_params(format!("no tool named {name:?}"), None));
        };
        let work = self.perform(tool, request.arguments, context.ct.cancelled());
        let result = match context.meta.get_progress_token() {
            Some(token) => with_progress(work, &context.peer, token).await,
            None => work.await,
        };
        Ok(CallToolResponse::Complete(result))
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let held = self.session().await.map_err(|e| ErrorData::internal_error(e, None))?;
        let artifacts =
            held.session.list_artifacts().await.map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (resources, next) = resources::page(&artifacts, cursor)?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let held = self.session().await.map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(resources::read(&held.session, &request.uri, self.max_resource_bytes).await?.into())
    }
}

fn mcp_tool(tool: &McpTool) -> Tool {
    let schema = tool.schema.map_or_else(schema_for_empty_input, |schema| schema());
    let effects = tool.effects;
    let annotations = ToolAnnotations::new()
        .read_only(effects.read_only)
        .destructive(effects.destructive)
        .idempotent(effects.idempotent)
        .open_world(effects.open_world);
    let described = Tool::new(tool.name, tool.description, schema).with_annotations(annotations);
    let output = match SESSION_TOOLS.iter().any(|t| t.op == tool.op) {
        true => Some(schema_for_type::<Forks>()),
        false => output_schema::output_schema(tool.op),
    };
    match output {
        Some(output) => described.with_raw_output_schema(output),
        None => described,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_a_tool() {
        let ops: Vec<&str> = TOOLS.iter().map(|t| t.op).collect();
        assert_eq!(ops.len(), Request::NAMES.len());
        for name in Request::NAMES {
            assert!(ops.contains(name), "{name} has no MCP tool");
        }
    }

    #[test]
    fn empty_schemas_take_no_arguments() {
        for tool in TOOLS.iter().filter(|t| t.schema.is_none()) {
            assert!(Request::from_parts(tool.op, None).is_ok(), "{}", tool.op);
        }
    }
}
