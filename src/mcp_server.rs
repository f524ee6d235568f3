//! The whole system as an MCP server (rmcp): `run_code` plus tools for the host's
//! tools, skills, artifacts and deps, over stdio or streamable HTTP.
//!
//! Each MCP session gets its own sandbox [`Session`], built on its first call from
//! a [`SessionBuilder`](crate::SessionBuilder) factory, so sessions share the compiled sandbox, the
//! storage, the tools and the search model, and nothing else. With a
//! [`MemoryBudget`], building that session first reserves its memory cap, and a
//! call past the budget is a tool error; the share is given back when the MCP session
//! ends. Over HTTP the server
//! speaks protocol versions up to 2025-11-25, whose sessions carry that state from
//! call to call (2026-07-28 removed protocol sessions).

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ProtocolVersion, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::deps::Deps;
use crate::server::{MemoryBudget, Reservation};
use crate::session::{RunResult, Session, SessionFactory};
use crate::skills::SkillLibrary;

/// Instructions sent to clients at initialisation.
const INSTRUCTIONS: &str = "A persistent Python 3.14 session in a WebAssembly sandbox. Write Python with \
`run_code`: variables, functions and imports persist between calls. Inside the code, `tools.<name>.<recipe>(**kw)` \
calls the host's tools, `skills.<name>(**kw)` runs saved workflows, `artifacts.save/load` keeps data across \
sessions and `deps.add` installs pure-Python packages. Before writing a workflow from scratch, `search_skills` for \
one that exists; when a workflow works, save it with `create_skill` so it can be found and reused.";

/// The MCP server: one per MCP session.
#[derive(Clone)]
pub struct McpServer {
    factory: SessionFactory,
    session: Arc<tokio::sync::OnceCell<Held>>,
    /// The budget sessions reserve from, and what one reserves.
    budget: Option<(Arc<MemoryBudget>, u64)>,
    http: bool,
    tool_router: ToolRouter<Self>,
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct RunCode {
    /// Python source. The value of a final expression is returned, as in a notebook cell;
    /// top-level `await` works.
    code: String,
    /// Seconds before the run is stopped (at most the server's limit, which is the default).
    timeout: Option<f64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Search {
    /// What you need, in plain words.
    query: String,
    /// How many results at most (default 10).
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Name {
    /// The name.
    name: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct CreateSkill {
    /// A Python identifier; `skills.<name>(...)` calls it.
    name: String,
    /// A module defining `def run(...)` or `async def run(...)`; its keyword
    /// parameters are the skill's inputs, its return value the result.
    source: String,
    /// One line saying what it does (default: the module or `run` docstring). Search matches on it.
    description: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct InvokeSkill {
    /// The skill's name.
    name: String,
    /// Keyword arguments for its `run`.
    #[serde(default)]
    args: Map<String, Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AddDep {
    /// A requirement such as `tabulate` or `tabulate==0.10.0`; only pure-Python wheels install.
    spec: String,
}

impl McpServer {
    /// A server whose sandbox session comes from `factory`. `allow_runtime_deps`
    /// false hides `add_dep` and `remove_dep`; `http` limits the protocol to versions
    /// with sessions.
    pub fn new(factory: SessionFactory, allow_runtime_deps: bool, http: bool) -> Self {
        let mut tool_router = Self::tool_router();
        if !allow_runtime_deps {
            tool_router.remove_route("add_dep");
            tool_router.remove_route("remove_dep");
        }
        Self { factory, session: Arc::default(), budget: None, http, tool_router }
    }

    /// Makes the sandbox session reserve `per_session` bytes (its memory cap) from
    /// `budget` before it is built; past the budget, calls fail until others end.
    pub fn with_budget(mut self, budget: Arc<MemoryBudget>, per_session: u64) -> Self {
        self.budget = Some((budget, per_session));
        self
    }

    async fn session(&self) -> Result<&Session, String> {
        let held = self
            .session
            .get_or_try_init(|| async {
                // Reserved first, so a refusal costs nothing; a failed build gives it back.
                let memory = match &self.budget {
                    Some((budget, bytes)) => Some(budget.reserve(*bytes).map_err(text)?),
                    None => None,
                };
                let session =
                    (self.factory)().build().await.map_err(|e| format!("the sandbox session could not start: {e}"))?;
                Ok::<_, String>(Held { session, _memory: memory })
            })
            .await?;
        Ok(&held.session)
    }
}

/// A result readable as text, with the same data structured.
fn structured(text: String, data: Value, is_error: bool) -> CallToolResult {
    let mut result = if is_error { CallToolResult::structured_error(data) } else { CallToolResult::structured(data) };
    result.content = vec![ContentBlock::text(text)];
    result
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Structured content must be an object: lists are wrapped under `key`.
fn listing(key: &str, items: &impl serde::Serialize) -> CallToolResult {
    let data = json!({ key: items });
    structured(pretty(&data[key]), data, false)
}

/// A run: its transcript as text, the whole result as data.
fn run_result(result: &RunResult) -> CallToolResult {
    let data = serde_json::to_value(result).unwrap_or(Value::Null);
    structured(result.transcript(), data, result.error.is_some())
}

#[tool_router]
impl McpServer {
    #[tool(description = "Run Python in the persistent sandbox session and return its stdout, stderr, the value \
        of the last expression, and the error with traceback if it raised. State persists between calls. \
        Available without imports: `tools` (tools.list(), tools.<name>.<recipe>(**kw)), `skills` \
        (skills.search(q), skills.<name>(**kw)), `artifacts` (save/load/list) and `deps` (add/list). No network \
        or files except through these.")]
    async fn run_code(&self, Parameters(request): Parameters<RunCode>) -> CallToolResult {
        respond(async {
            let session = self.session().await?;
            let limits = session.limits().with_timeout_at_most(request.timeout)?;
            Ok(run_result(&session.run_with(&request.code, &limits).await.map_err(text)?))
        })
        .await
    }

    #[tool(description = "Reset the Python session: forget every variable, function and import. Stored skills, \
        artifacts and deps are kept.")]
    async fn reset(&self) -> CallToolResult {
        respond(async {
            self.session().await?.reset().await.map_err(text)?;
            Ok(structured("The session was reset.".into(), json!({"reset": true}), false))
        })
        .await
    }

    #[tool(description = "List the host's tools with their callables and typed parameters. In code: \
        tools.<name>.<callable>(**kwargs).")]
    async fn list_tools(&self) -> CallToolResult {
        respond(async { Ok(listing("tools", &self.session().await?.tools().list().await)) }).await
    }

    #[tool(description = "Find the host's tools that match a description of what you need, best first.")]
    async fn search_tools(&self, Parameters(request): Parameters<Search>) -> CallToolResult {
        respond(async {
            let tools = self.session().await?.tools().search(&request.query, request.limit()).await;
            Ok(listing("tools", &tools))
        })
        .await
    }

    #[tool(description = "List saved skills (reusable Python workflows) with their descriptions and parameters. \
        In code: skills.<name>(**kwargs).")]
    async fn list_skills(&self) -> CallToolResult {
        respond(async { Ok(listing("skills", &self.skills().await?.list().await.map_err(text)?)) }).await
    }

    #[tool(description = "Find saved skills by meaning (semantic search over names, descriptions and code), \
        best first. Search here before writing a workflow from scratch.")]
    async fn search_skills(&self, Parameters(request): Parameters<Search>) -> CallToolResult {
        respond(async {
            let results = self.skills().await?.search(&request.query, request.limit()).await.map_err(text)?;
            Ok(structured(pretty(&results.matches), json!(results), false))
        })
        .await
    }

    #[tool(description = "Show one skill: its description, parameters and Python source.")]
    async fn get_skill(&self, Parameters(Name { name }): Parameters<Name>) -> CallToolResult {
        respond(async {
            let skill = self.skills().await?.get(&name).await.map_err(text)?;
            Ok(structured(skill.source.clone(), json!(skill), false))
        })
        .await
    }

    #[tool(description = "Save a working workflow as a skill, so later sessions can find it with search_skills \
        and call it as skills.<name>(**kwargs). The source must define `def run(...)` or `async def run(...)`; \
        inside it `tools`, `skills`, `artifacts` and `deps` are available. A skill of the same name is replaced. \
        The source is checked (syntax, a `run` function) before anything is stored.")]
    async fn create_skill(&self, Parameters(request): Parameters<CreateSkill>) -> CallToolResult {
        respond(async {
            let skills = self.skills().await?;
            let (info, replaced) =
                skills.create(&request.name, &request.source, request.description.as_deref()).await.map_err(text)?;
            let verb = if replaced { "Replaced" } else { "Created" };
            Ok(structured(format!("{verb} skill {}.", info.name), json!({"skill": info, "replaced": replaced}), false))
        })
        .await
    }

    #[tool(description = "Delete a saved skill.")]
    async fn delete_skill(&self, Parameters(Name { name }): Parameters<Name>) -> CallToolResult {
        respond(async {
            let deleted = self.skills().await?.delete(&name).await.map_err(text)?;
            let said = if deleted { "Deleted." } else { "There was no such skill." };
            Ok(structured(said.into(), json!({"deleted": deleted}), false))
        })
        .await
    }

    #[tool(description = "Run a saved skill with keyword arguments in the session and return its result \
        (as run_code would for `skills.<name>(**args)`).")]
    async fn invoke_skill(&self, Parameters(request): Parameters<InvokeSkill>) -> CallToolResult {
        respond(async {
            let session = self.session().await?;
            Ok(run_result(&session.invoke_skill(&request.name, &request.args).await.map_err(text)?))
        })
        .await
    }

    #[tool(description = "List stored artifacts (data kept across sessions) with their kind, size and \
        description. In code: artifacts.load(name).")]
    async fn list_artifacts(&self) -> CallToolResult {
        respond(async {
            let artifacts = self.session().await?.artifacts().map_err(text)?;
            Ok(listing("artifacts", &artifacts.list().await.map_err(text)?))
        })
        .await
    }

    #[tool(description = "Read one artifact: JSON comes back as data, text as text, binary as base64.")]
    async fn load_artifact(&self, Parameters(Name { name }): Parameters<Name>) -> CallToolResult {
        respond(async {
            let artifacts = self.session().await?.artifacts().map_err(text)?;
            let artifact = artifacts.load(&name).await.map_err(text)?;
            let data = artifact.to_json().map_err(text)?;
            let shown = match &data {
                Value::String(s) => s.clone(),
                other => pretty(other),
            };
            Ok(structured(shown, json!({"info": artifact.info, "data": data}), false))
        })
        .await
    }

    #[tool(description = "List the Python packages installed for the sandbox.")]
    async fn list_deps(&self) -> CallToolResult {
        respond(async { Ok(listing("deps", &self.deps().await?.list().await.map_err(text)?)) }).await
    }

    #[tool(description = "Install a pure-Python package from the package index for this and later sessions \
        (then `import` it in run_code). Packages with native code cannot run in the sandbox and are refused.")]
    async fn add_dep(&self, Parameters(AddDep { spec }): Parameters<AddDep>) -> CallToolResult {
        respond(async {
            let added = self.deps().await?.add(&spec).await.map_err(text)?;
            Ok(structured(format!("Installed {added}."), json!({"added": added}), false))
        })
        .await
    }

    #[tool(description = "Uninstall a package added with add_dep.")]
    async fn remove_dep(&self, Parameters(Name { name }): Parameters<Name>) -> CallToolResult {
        respond(async {
            let removed = self.deps().await?.remove(&name).await.map_err(text)?;
            let said = if removed { "Removed." } else { "It was not installed." };
            Ok(structured(said.into(), json!({"removed": removed}), false))
        })
        .await
    }
}

impl McpServer {
    async fn skills(&self) -> Result<&SkillLibrary, String> {
        self.session().await?.skills().map_err(text)
    }

    async fn deps(&self) -> Result<&Deps, String> {
        self.session().await?.deps().map_err(text)
    }
}

impl Search {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(10).clamp(1, 100) as usize
    }
}

/// A failure is a tool error the model reads, not a protocol error.
async fn respond(call: impl Future<Output = Result<CallToolResult, String>>) -> CallToolResult {
    call.await.unwrap_or_else(|message| CallToolResult::error(vec![ContentBlock::text(message)]))
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

#[tool_handler(router = self.tool_router)]
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
}
