//! The whole system as an MCP server (rmcp): one MCP tool per operation of
//! [`Operations`] (`run` is `run_code`), over stdio or streamable HTTP.
//!
//! The tool list is [`TOOLS`]: a name, a description for the model and the
//! operation's argument schema. A call becomes a [`Request`] with the same
//! deserialiser every surface uses, and its [`Response`] comes back as text for the
//! model with the same data structured.
//!
//! Each MCP session gets its own sandbox [`Session`], built on its first call from
//! a [`SessionBuilder`](crate::SessionBuilder) factory, so sessions share the compiled sandbox, the
//! storage, the tools and the search model, and nothing else. With a
//! [`MemoryBudget`], building that session first reserves its memory cap, and a
//! call past the budget is a tool error; the share is given back when the MCP session
//! ends. Over HTTP the server speaks protocol versions up to 2025-11-25, whose
//! sessions carry that state from call to call (2026-07-28 removed protocol sessions).

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::common::{schema_for_empty_input, schema_for_type};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::model::ops::{
    AddDep, CreateSkill, InvokeSkill, Named, Operations, Request, Response, RunCode, SaveArtifact, Search,
};
use crate::server::{MemoryBudget, Reservation};
use crate::session::{Session, SessionFactory};

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
    schema: Option<fn() -> Arc<JsonObject>>,
}

const fn tool(name: &'static str, op: &'static str, description: &'static str) -> McpTool {
    McpTool { name, op, description, schema: None }
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
        "Run Python in the persistent sandbox session and return its stdout, stderr, the value of the last \
         expression, and the error with traceback if it raised. State persists between calls. Available without \
         imports: `tools` (tools.list(), tools.<name>.<recipe>(**kw)), `skills` (skills.search(q), \
         skills.<name>(**kw)), `artifacts` (save/load/list) and `deps` (add/list). No network or files except \
         through these.",
    )),
    tool(
        "reset",
        "reset",
        "Reset the Python session: forget every variable, function and import. Stored skills, artifacts and deps \
         are kept.",
    ),
    tool(
        "list_tools",
        "list_tools",
        "List the host's tools with their callables and typed parameters. In code: \
         tools.<name>.<callable>(**kwargs).",
    ),
    with::<Search>(tool(
        "search_tools",
        "search_tools",
        "Find the host's tools that match a description of what you need, best first.",
    )),
    tool(
        "list_skills",
        "list_skills",
        "List saved skills (reusable Python workflows) with their descriptions and parameters. In code: \
         skills.<name>(**kwargs).",
    ),
    with::<Search>(tool(
        "search_skills",
        "search_skills",
        "Find saved skills by meaning (semantic search over names, descriptions and code), best first. Search here \
         before writing a workflow from scratch.",
    )),
    with::<Named>(tool("get_skill", "get_skill", "Show one skill: its description, parameters and Python source.")),
    with::<CreateSkill>(tool(
        "create_skill",
        "create_skill",
        "Save a working workflow as a skill, so later sessions can find it with search_skills and call it as \
         skills.<name>(**kwargs). The source must define `def run(...)` or `async def run(...)`; inside it `tools`, \
         `skills`, `artifacts` and `deps` are available. A skill of the same name is replaced. The source is checked \
         (syntax, a `run` function) before anything is stored.",
    )),
    with::<Named>(tool("delete_skill", "delete_skill", "Delete a saved skill.")),
    with::<InvokeSkill>(tool(
        "invoke_skill",
        "invoke_skill",
        "Run a saved skill with keyword arguments in the session and return its result (as run_code would for \
         `skills.<name>(**args)`).",
    )),
    tool(
        "list_artifacts",
        "list_artifacts",
        "List stored artifacts (data kept across sessions) with their kind, size and description. In code: \
         artifacts.load(name).",
    ),
    with::<Named>(tool(
        "load_artifact",
        "load_artifact",
        "Read one artifact: JSON comes back as data, text as text, binary as base64.",
    )),
    with::<SaveArtifact>(tool(
        "save_artifact",
        "save_artifact",
        "Store data as an artifact for this and later sessions (replacing one of the same name): JSON as data, a \
         string as text, kind `bytes` with base64. In code: artifacts.load(name).",
    )),
    with::<Named>(tool("delete_artifact", "delete_artifact", "Delete a stored artifact.")),
    tool("list_deps", "list_deps", "List the Python packages installed for the sandbox."),
    with::<AddDep>(tool(
        "add_dep",
        "add_dep",
        "Install a pure-Python package from the package index for this and later sessions (then `import` it in \
         run_code). Packages with native code cannot run in the sandbox and are refused.",
    )),
    with::<Named>(tool("remove_dep", "remove_dep", "Uninstall a package added with add_dep.")),
    tool("sync_deps", "sync_deps", "Install every recorded package that is not installed yet."),
];

/// Operations that change the installed packages, hidden when runtime deps are off.
const DEPS_CHANGES: &[&str] = &["add_dep", "remove_dep"];

/// The MCP server: one per MCP session.
#[derive(Clone)]
pub struct McpServer {
    factory: SessionFactory,
    session: Arc<tokio::sync::OnceCell<Held>>,
    /// The budget sessions reserve from, and what one reserves.
    budget: Option<(Arc<MemoryBudget>, u64)>,
    allow_runtime_deps: bool,
    http: bool,
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
        Self { factory, session: Arc::default(), budget: None, allow_runtime_deps, http }
    }

    /// Makes the sandbox session reserve `per_session` bytes (its memory cap) from
    /// `budget` before it is built; past the budget, calls fail until others end.
    pub fn with_budget(mut self, budget: Arc<MemoryBudget>, per_session: u64) -> Self {
        self.budget = Some((budget, per_session));
        self
    }

    /// The tools this server lists.
    fn tools(&self) -> impl Iterator<Item = &'static McpTool> + '_ {
        TOOLS.iter().filter(|t| self.allow_runtime_deps || !DEPS_CHANGES.contains(&t.op))
    }

    async fn session(&self) -> Result<&Session, String> {
        let held = self
            .session
            .get_or_try_init(|| async {
                // Reserved first, so a refusal costs nothing; a failed build gives it back.
                let memory = match &self.budget {
                    Some((budget, bytes)) => Some(budget.reserve(*bytes).map_err(|e| e.to_string())?),
                    None => None,
                };
                let session =
                    (self.factory)().build().await.map_err(|e| format!("the sandbox session could not start: {e}"))?;
                Ok::<_, String>(Held { session, _memory: memory })
            })
            .await?;
        Ok(&held.session)
    }

    /// Performs one tool call; a failure is a tool error the model reads, not a
    /// protocol error.
    async fn perform(&self, tool: &McpTool, args: Option<JsonObject>) -> CallToolResult {
        let outcome = async {
            let request = Request::from_parts(tool.op, args).map_err(|e| format!("invalid arguments: {e}"))?;
            let response = self.session().await?.call(request).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(render(tool.op, response))
        };
        outcome.await.unwrap_or_else(|message| CallToolResult::error(vec![ContentBlock::text(message)]))
    }
}

/// A response as text for the model, with the same data structured.
fn render(op: &str, response: Response) -> CallToolResult {
    let (text, is_error) = match &response {
        Response::Run(result) => (result.transcript(), result.error.is_some()),
        Response::Reset { .. } => ("The session was reset.".to_owned(), false),
        Response::Tools { tools } => (pretty(tools), false),
        Response::Skills { skills } => (pretty(skills), false),
        Response::SkillSearch(results) => (pretty(&results.matches), false),
        Response::Skill(skill) => (skill.source.clone(), false),
        Response::SkillCreated { skill, replaced } => {
            (format!("{} skill {}.", if *replaced { "Replaced" } else { "Created" }, skill.name), false)
        }
        Response::Artifacts { artifacts } => (pretty(artifacts), false),
        Response::Artifact { data: Value::String(text), .. } => (text.clone(), false),
        Response::Artifact { data, .. } => (pretty(data), false),
        Response::ArtifactSaved { saved } => (format!("Saved artifact {} ({} bytes).", saved.name, saved.size), false),
        Response::Deleted { deleted: true } => ("Deleted.".to_owned(), false),
        Response::Deleted { deleted: false } => {
            let what = if op == "delete_skill" { "skill" } else { "artifact" };
            (format!("There was no such {what}."), false)
        }
        Response::Deps { deps } => (pretty(deps), false),
        Response::DepAdded { added, .. } => (format!("Installed {added}."), false),
        Response::DepRemoved(removed) if removed.removed_from_config => ("Removed.".to_owned(), false),
        Response::DepRemoved(_) => ("It was not installed.".to_owned(), false),
        Response::DepsSynced(report) => (format!("Installed: {}", report.installed.join(", ")), false),
    };
    let data = serde_json::to_value(&response).unwrap_or(Value::Null);
    let mut result = if is_error { CallToolResult::structured_error(data) } else { CallToolResult::structured(data) };
    result.content = vec![ContentBlock::text(text)];
    result
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
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
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = self.tools().find(|t| t.name == request.name) else {
            let name = crate::text::shown(&request.name);
            return Err(ErrorData::invalid_params(format!("no tool named {name:?}"), None));
        };
        Ok(CallToolResponse::Complete(self.perform(tool, request.arguments).await))
    }
}

fn mcp_tool(tool: &McpTool) -> Tool {
    let schema = tool.schema.map_or_else(schema_for_empty_input, |schema| schema());
    Tool::new(tool.name, tool.description, schema)
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
