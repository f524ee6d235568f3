//! Tools: what agent code reaches outside the sandbox, defined by the host.
//!
//! [`ToolRegistry`] loads py-code-mode's YAML tool definitions unchanged
//! (`*.yaml` and `*.yml` in a directory): CLI tools (`cli.rs`), HTTP APIs
//! (`http.rs`, also buildable in Rust; the `http-tools` feature) and MCP servers
//! (`mcp.rs`; the `mcp-tools` feature). A bad file, or one of a type this build
//! lacks, is reported with its name and reason and skipped; the others load.

mod cli;
mod definition;
mod function;
#[cfg(feature = "http-tools")]
mod http;
#[cfg(feature = "mcp-tools")]
mod mcp;
mod process;
mod search;
mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use self::cli::CliTool;
pub use self::definition::ParamType;
use self::definition::ToolFile;
use self::function::FunctionTool;
#[cfg(feature = "http-tools")]
pub use self::http::{Endpoint, HttpParam, HttpTool, JsonType, Location};
#[cfg(feature = "mcp-tools")]
use self::mcp::McpTool;
pub use self::search::ToolMatch;
use self::secrets::{NO_SECRETS, Secrets};
pub use crate::model::{CallableInfo, ParamInfo, ToolInfo};
/// HTTP methods for [`Endpoint::new`].
#[cfg(feature = "http-tools")]
pub use reqwest::Method;

/// Why a tool call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// No tool of that name.
    #[error("no tool named {tool:?}; available: {}", list(available))]
    NotFound {
        /// The name asked for.
        tool: String,
        /// Every tool's name.
        available: Vec<String>,
    },
    /// The tool has no such recipe.
    #[error("tool {tool:?} has no recipe {callable:?}; available: {}", list(available))]
    UnknownCallable {
        /// The tool.
        tool: String,
        /// The recipe asked for.
        callable: String,
        /// Its recipes.
        available: Vec<String>,
    },
    /// The arguments were rejected before anything ran.
    #[error("{tool}: {message}")]
    InvalidArguments {
        /// The tool.
        tool: String,
        /// What is wrong.
        message: String,
    },
    /// The tool ran past its timeout and was killed.
    #[error("{tool} timed out after {seconds} s and was stopped")]
    Timeout {
        /// The tool.
        tool: String,
        /// Its timeout.
        seconds: f64,
    },
    /// The tool ran and failed.
    #[error("{tool} failed: {message}")]
    Failed {
        /// The tool.
        tool: String,
        /// Its error (for CLI tools, the exit code and stderr).
        message: String,
    },
}

impl ToolError {
    /// How surfaces classify this error.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            ToolError::NotFound { .. } | ToolError::UnknownCallable { .. } => ErrorKind::NotFound,
            ToolError::InvalidArguments { .. } => ErrorKind::InvalidInput,
            ToolError::Timeout { .. } | ToolError::Failed { .. } => ErrorKind::Failed,
        }
    }
}

/// Refuses keyword arguments outside `accepted` (py-code-mode silently dropped them),
/// naming what is accepted.
pub(crate) fn reject_unknown(args: &Map<String, Value>, accepted: &[&str]) -> Result<(), String> {
    let unknown: Vec<&str> = args.keys().map(String::as_str).filter(|k| !accepted.contains(k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!("unknown argument(s) {}; accepted: {}", unknown.join(", "), accepted.join(", ")))
}

fn list(names: &[String]) -> String {
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

/// Something a file that loaded should fix (an unknown parameter type, read as a string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadWarning {
    /// The file.
    pub path: PathBuf,
    /// What to fix.
    pub message: String,
}

/// A file that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

#[derive(Debug)]
enum Adapter {
    Cli(CliTool),
    #[cfg(feature = "http-tools")]
    Http(HttpTool),
    Function(FunctionTool),
    #[cfg(feature = "mcp-tools")]
    Mcp(McpTool),
}

impl Adapter {
    /// What the tool's definition pulled from the host environment.
    fn secrets(&self) -> &Secrets {
        match self {
            Adapter::Cli(cli) => cli.secrets(),
            #[cfg(feature = "http-tools")]
            Adapter::Http(http) => http.secrets(),
            #[cfg(feature = "mcp-tools")]
            Adapter::Mcp(mcp) => mcp.secrets(),
            Adapter::Function(_) => &NO_SECRETS,
        }
    }
}

#[derive(Debug)]
struct Tool {
    info: ToolInfo,
    adapter: Adapter,
}

/// Longest tool search query considered, in bytes.
pub const MAX_QUERY_BYTES: usize = 16 << 10;

/// Default of [`ToolRegistry::max_argument_bytes`].
pub const DEFAULT_MAX_ARGUMENT_BYTES: usize = 1 << 20;

/// The tools of a session, shared by its runs.
#[derive(Debug, Clone)]
pub struct ToolRegistry {
    tools: Arc<BTreeMap<String, Arc<Tool>>>,
    max_argument_bytes: usize,
    warnings: Arc<[LoadWarning]>,
}

impl Default for ToolRegistry {
    fn default() -> Self {
        Self { tools: Arc::default(), max_argument_bytes: DEFAULT_MAX_ARGUMENT_BYTES, warnings: Arc::new([]) }
    }
}

/// Largest tool file read, in bytes (py-code-mode's are a few KiB).
const MAX_TOOL_FILE: u64 = 1 << 20;

impl ToolRegistry {
    /// Caps the JSON of one call's arguments from the guest (default
    /// [`DEFAULT_MAX_ARGUMENT_BYTES`]); larger arguments are refused before they are
    /// parsed, since parsed JSON takes many times its size on the host.
    pub fn with_max_argument_bytes(mut self, bytes: usize) -> Self {
        self.max_argument_bytes = bytes;
        self
    }

    /// The cap on one call's arguments, in bytes of JSON.
    pub fn max_argument_bytes(&self) -> usize {
        self.max_argument_bytes
    }

    /// Loads every `*.yaml` and `*.yml` in `dir` (not recursively, in name order).
    /// Files that cannot be used are returned with the reason, and the others load;
    /// a directory that does not exist or cannot be read is returned the same way,
    /// as one entry naming the directory. Each skipped file and each
    /// [`warning`](Self::warnings) is logged once (`tracing`, at warn).
    pub fn load_dir(dir: &Path) -> (Self, Vec<Skipped>) {
        let (registry, skipped) = Self::check_dir(dir);
        for skip in &skipped {
            tracing::warn!(path = %skip.path.display(), reason = %skip.reason, "skipped a tool file");
        }
        for warning in registry.warnings.iter() {
            tracing::warn!(path = %warning.path.display(), "tool file: {}", warning.message);
        }
        (registry, skipped)
    }

    /// [`load_dir`](Self::load_dir), except that a directory that does not exist
    /// means no tools and nothing to report: for a default location, such as
    /// py-code-mode's `<base>/tools`, that need not exist.
    pub fn load_dir_if_present(dir: &Path) -> (Self, Vec<Skipped>) {
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Self::default(), Vec::new()),
            _ => Self::load_dir(dir),
        }
    }

    /// [`load_dir`](Self::load_dir) without logging, for a caller that reports what
    /// was skipped itself (`codemode tools check`).
    pub fn check_dir(dir: &Path) -> (Self, Vec<Skipped>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                let reason = match e.kind() {
                    std::io::ErrorKind::NotFound => "the tools directory does not exist".to_owned(),
                    std::io::ErrorKind::NotADirectory => "not a directory".to_owned(),
                    _ => format!("cannot read the tools directory: {e}"),
                };
                return (Self::default(), vec![Skipped { path: dir.to_owned(), reason }]);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        paths.sort();
        let mut skipped = Vec::new();
        let mut warnings = Vec::new();
        let mut tools = BTreeMap::new();
        for path in paths {
            match read_tool_file(&path).and_then(|text| load_tool(&text)) {
                Ok((tool, _)) if tools.contains_key(&tool.info.name) => skipped.push(Skipped {
                    reason: format!("duplicate tool name {:?} (an earlier file defines it)", tool.info.name),
                    path,
                }),
                Ok((tool, messages)) => {
                    warnings.extend(messages.into_iter().map(|message| LoadWarning { path: path.clone(), message }));
                    tools.insert(tool.info.name.clone(), Arc::new(tool));
                }
                Err(reason) => skipped.push(Skipped { path, reason }),
            }
        }
        (Self { tools: Arc::new(tools), warnings: warnings.into(), ..Self::default() }, skipped)
    }

    /// What the loaded files should fix, though they loaded (an unknown parameter
    /// type is read as a string).
    pub fn warnings(&self) -> &[LoadWarning] {
        &self.warnings
    }

    /// Adds an HTTP tool built in Rust; a tool of the same name is an error.
    #[cfg(feature = "http-tools")]
    pub fn add_http(&mut self, tool: HttpTool) -> Result<(), ToolError> {
        let name = tool.name().to_owned();
        tool.check().map_err(|message| ToolError::InvalidArguments { tool: name.clone(), message })?;
        let description = tool.description_text().to_owned();
        let callables = tool.callables();
        self.insert(ToolInfo { name, description, tags: Vec::new(), callables, unavailable: None }, Adapter::Http(tool))
    }

    /// Adds an async Rust function as `tools.<name>(**kwargs)`: the arguments are
    /// checked against `params` (unknown or missing required ones are refused,
    /// defaults filled in), and an `Err` becomes a `ToolError` in the guest.
    pub fn add_fn<F, Fut>(
        &mut self,
        name: &str,
        description: &str,
        params: Vec<ParamInfo>,
        function: F,
    ) -> Result<(), ToolError>
    where
        F: Fn(Map<String, Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, String>> + Send + 'static,
    {
        let tool = FunctionTool::new(name, params, function);
        let callables = tool.callables(description);
        let info = ToolInfo {
            name: name.to_owned(),
            description: description.to_owned(),
            tags: Vec::new(),
            callables,
            unavailable: None,
        };
        self.insert(info, Adapter::Function(tool))
    }

    fn insert(&mut self, info: ToolInfo, adapter: Adapter) -> Result<(), ToolError> {
        if self.tools.contains_key(&info.name) {
            return Err(ToolError::InvalidArguments {
                tool: info.name,
                message: "a tool of this name is already registered".into(),
            });
        }
        Arc::make_mut(&mut self.tools).insert(info.name.clone(), Arc::new(Tool { info, adapter }));
        Ok(())
    }

    /// Every tool, by name. MCP servers not yet running are started (all at once),
    /// so their tools can be listed; one that cannot start is listed with the
    /// reason in [`ToolInfo::unavailable`].
    pub async fn list(&self) -> Vec<ToolInfo> {
        #[cfg(feature = "mcp-tools")]
        let mut servers = self.describe_servers().await;
        self.tools
            .values()
            .map(|tool| {
                #[cfg(feature = "mcp-tools")]
                if let Some(info) = servers.remove(&tool.info.name) {
                    return info;
                }
                tool.info.clone()
            })
            .collect()
    }

    /// The info of every MCP tool, with the callables its server lists (or why it
    /// cannot), all servers started at once.
    #[cfg(feature = "mcp-tools")]
    async fn describe_servers(&self) -> BTreeMap<String, ToolInfo> {
        let mut described = BTreeMap::new();
        let mut starting = tokio::task::JoinSet::new();
        for tool in self.tools.values() {
            if let Adapter::Mcp(mcp) = &tool.adapter {
                // Replaced below unless the task panics.
                let info = ToolInfo { unavailable: Some("its server task failed".into()), ..tool.info.clone() };
                described.insert(tool.info.name.clone(), info);
                let (name, mcp) = (tool.info.name.clone(), mcp.clone());
                starting.spawn(async move { (name, mcp.callables().await) });
            }
        }
        while let Some(joined) = starting.join_next().await {
            let Ok((name, callables)) = joined else { continue };
            let (Some(info), Some(tool)) = (described.get_mut(&name), self.tools.get(&name)) else { continue };
            let secrets = tool.adapter.secrets();
            match callables {
                Ok(callables) => {
                    // A server's own names and descriptions are shown to the guest.
                    let callables: Vec<CallableInfo> =
                        callables.into_iter().map(|c| secrets.scrub_callable(c)).collect();
                    if info.description.is_empty() {
                        let names: Vec<&str> = callables.iter().filter_map(|c| c.name.as_deref()).collect();
                        info.description = format!("Tools of the MCP server {}: {}", info.name, names.join(", "));
                    }
                    info.callables = callables;
                    info.unavailable = None;
                }
                Err(reason) => info.unavailable = Some(secrets.scrub(&reason)),
            }
        }
        described
    }

    /// The tools that best match `query`, best first, with their scores: by name
    /// and words, and by meaning when the search model is installed. Only the
    /// query's first [`MAX_QUERY_BYTES`] count (every surface passes through here;
    /// the guest's path refuses longer queries outright).
    pub async fn search_scored(&self, query: &str, limit: usize) -> Vec<ToolMatch> {
        let mut end = query.len().min(MAX_QUERY_BYTES);
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        search::rank(self.list().await, &query[..end], limit).await
    }

    /// [`search_scored`](Self::search_scored) without the scores.
    pub async fn search(&self, query: &str, limit: usize) -> Vec<ToolInfo> {
        self.search_scored(query, limit).await.into_iter().map(|m| m.info).collect()
    }

    /// Only the tools named in `allowed`, each with all its recipes: the others are
    /// absent from listings, searches and calls, as if never loaded (see
    /// [`Allow`](crate::model::Allow)). A name no tool has is refused, so a typo
    /// does not silently allow less than meant.
    pub fn restricted(&self, allowed: &[String]) -> Result<Self, crate::model::InvalidAllow> {
        if let Some(unknown) = allowed.iter().find(|name| !self.tools.contains_key(name.as_str())) {
            let available: Vec<String> = self.tools.keys().cloned().collect();
            return Err(crate::model::InvalidAllow(format!(
                "no tool named {:?} to allow; available: {}",
                crate::text::shown(unknown),
                list(&available)
            )));
        }
        let tools = self.tools.iter().filter(|(name, _)| allowed.contains(name)).map(|(n, t)| (n.clone(), t.clone()));
        Ok(Self { tools: Arc::new(tools.collect()), ..self.clone() })
    }

    /// Every tool's name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }

    fn get(&self, tool: &str) -> Result<&Tool, ToolError> {
        self.tools.get(tool).map(|t| t.as_ref()).ok_or_else(|| ToolError::NotFound {
            tool: crate::text::shown(tool),
            available: self.tools.keys().cloned().collect(),
        })
    }

    /// Calls `tool` (or its recipe `callable`) with keyword `args` given as JSON, as
    /// the guest sends them: refused before parsing when over
    /// [`max_argument_bytes`](Self::max_argument_bytes), and unless they are an object.
    pub async fn call_json(&self, tool: &str, callable: Option<&str>, args_json: &str) -> Result<Value, ToolError> {
        let invalid = |message: String| ToolError::InvalidArguments { tool: crate::text::shown(tool), message };
        if args_json.len() > self.max_argument_bytes {
            return Err(invalid(format!(
                "the arguments are {} bytes of JSON, over the cap of {} bytes per tool call",
                args_json.len(),
                self.max_argument_bytes
            )));
        }
        match serde_json::from_str::<Value>(args_json) {
            Ok(Value::Object(args)) => self.call(tool, callable, &args).await,
            _ => Err(invalid("tool arguments must be keyword arguments".into())),
        }
    }

    /// Calls `tool` (or its recipe `callable`) with keyword `args`; the result is JSON.
    /// Whatever the outcome, no value the tool's definition pulled from the host
    /// environment is in it.
    pub async fn call(
        &self,
        tool: &str,
        callable: Option<&str>,
        args: &Map<String, Value>,
    ) -> Result<Value, ToolError> {
        let entry = self.get(tool)?;
        let result = match &entry.adapter {
            Adapter::Cli(cli) => match cli.argv(callable, args) {
                Ok((argv, stdin)) => cli.run(&argv, stdin).await.map(Value::String),
                Err(err) => Err(err),
            },
            #[cfg(feature = "http-tools")]
            Adapter::Http(http) => http.call(callable, args).await,
            Adapter::Function(function) => function.call(callable, args).await,
            #[cfg(feature = "mcp-tools")]
            Adapter::Mcp(mcp) => mcp.call(callable, args).await,
        };
        entry.adapter.secrets().scrub_result(result)
    }

    /// The argv a CLI tool call would run, without running it.
    pub fn cli_argv(
        &self,
        tool: &str,
        callable: Option<&str>,
        args: &Map<String, Value>,
    ) -> Result<Vec<String>, ToolError> {
        let entry = self.get(tool)?;
        match &entry.adapter {
            Adapter::Cli(cli) => cli.argv(callable, args).map(|(argv, _)| argv),
            _ => Err(ToolError::InvalidArguments { tool: tool.to_owned(), message: "not a CLI tool".into() }),
        }
    }
}

/// A tool file's text, refused when it is not a regular file or is over [`MAX_TOOL_FILE`].
fn read_tool_file(path: &Path) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    if metadata.len() > MAX_TOOL_FILE {
        return Err(format!("the file is {} bytes, over the {MAX_TOOL_FILE}-byte cap on a tool file", metadata.len()));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

/// py-code-mode's own refusal of its pre-0.2 format, where `args:` was a template.
const OLD_FORMAT: &str = "this is the old `args:` format (a command-line template), which py-code-mode \
    no longer supports and neither does codemode: describe the command line under `schema` (`options` and \
    `positional`) and the calls agents make under `recipes` (see the Tools section of codemode's README)";

/// The tool of one file, and what the file should fix though it loads.
fn load_tool(text: &str) -> Result<(Tool, Vec<String>), String> {
    let raw: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    let cli = raw.get("type").is_none_or(|kind| kind.as_str() == Some("cli"));
    if cli && raw.get("args").is_some() {
        return Err(OLD_FORMAT.into());
    }
    // Parsed again from the text, so errors carry a line and column.
    let file: ToolFile = yaml_serde::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    if file.name.trim().is_empty() {
        return Err("`name` is empty".into());
    }
    if !file.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(format!("name {:?} must be letters, digits, `_` or `-`", crate::text::shown(&file.name)));
    }
    let kind = file.kind.as_deref().unwrap_or("cli");
    if file.result.is_some() && kind != "mcp" {
        return Err("`result` applies to `type: mcp` tools only".into());
    }
    let mut warnings = Vec::new();
    let (adapter, callables) = match kind {
        "cli" => {
            let cli = CliTool::from_file(&file)?;
            let callables = cli.callables(&file.description);
            warnings.extend(cli.warnings().iter().cloned());
            (Adapter::Cli(cli), callables)
        }
        #[cfg(feature = "http-tools")]
        "http" => {
            let http = HttpTool::from_file(&file)?;
            let callables = http.callables();
            (Adapter::Http(http), callables)
        }
        #[cfg(feature = "mcp-tools")]
        "mcp" => (Adapter::Mcp(McpTool::from_file(&file)?), Vec::new()),
        #[cfg(not(feature = "http-tools"))]
        "http" => return Err(not_in_this_build("http", "http-tools")),
        #[cfg(not(feature = "mcp-tools"))]
        "mcp" => return Err(not_in_this_build("mcp", "mcp-tools")),
        other => {
            return Err(format!("unknown tool type {:?} (expected cli, http or mcp)", crate::text::shown(other)));
        }
    };
    let info =
        ToolInfo { name: file.name, description: file.description, tags: file.tags, callables, unavailable: None };
    Ok((Tool { info, adapter }, warnings))
}

/// Why a file of a tool type this build was compiled without is skipped.
#[cfg(not(all(feature = "http-tools", feature = "mcp-tools")))]
fn not_in_this_build(kind: &str, feature: &str) -> String {
    format!("`type: {kind}` tools are not in this build of codemode (it lacks the `{feature}` feature)")
}
