//! MCP tools: every tool of one MCP server under one name
//! (`tools.time.get_current_time(timezone=...)`), reached with rmcp as the client
//! over stdio (a child process) or streamable HTTP.
//!
//! Servers start lazily: the first time a session lists tools or calls one of the
//! server's, so a session that never needs them still starts in milliseconds. One
//! connection per server definition is shared by every session of the process. A
//! server found dead is started again on the next use; a call whose server died
//! under it is sent once more to the new one. A server that cannot start disables
//! only its own tools, with the reason, and is tried again after [`RETRY_AFTER`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
#[allow(deprecated)]
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::NotificationContext;
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Map, Value};
use tokio::io::AsyncReadExt;

use super::definition::ToolFile;
use super::process;
use super::secrets::Secrets;
use super::{CallableInfo, ParamInfo, ToolError, reject_unknown};

/// Default timeout of one call.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to start and list its tools.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server that failed to start stays disabled before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// Lines of a stdio server's stderr shown in error messages.
const STDERR_LINES: usize = 20;
/// Characters of one of those lines shown.
const STDERR_LINE_CHARS: usize = 500;
/// Bytes of a stdio server's stderr kept (the last ones), whatever its line lengths.
const STDERR_KEEP: usize = 16 << 10;
/// Bytes of one line of a server's stderr or log message passed to `tracing`; the
/// rest of a longer line is dropped.
const LOG_LINE_BYTES: usize = 2048;

/// The servers of this process, by definition: sessions loading the same tool
/// file share one connection.
static SERVERS: LazyLock<Mutex<HashMap<String, Weak<Server>>>> = LazyLock::new(Default::default);

/// An MCP server's tools, as one tool.
#[derive(Debug, Clone)]
pub(crate) struct McpTool {
    server: Arc<Server>,
    /// `result: structured`: the server's `structuredContent` rather than its text.
    structured: bool,
}

/// What a call returns, from the YAML `result`.
fn result_mode(file: &ToolFile) -> Result<bool, String> {
    match file.result.as_deref() {
        None | Some("text") => Ok(false),
        Some("structured") => Ok(true),
        Some(other) => {
            Err(format!("unknown `result: {}` (expected text, the default, or structured)", crate::text::shown(other)))
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
enum Transport {
    Stdio { command: String, args: Vec<String>, env: BTreeMap<String, String> },
    Http { url: String, headers: BTreeMap<String, String> },
}

#[derive(Debug)]
struct Server {
    name: String,
    transport: Transport,
    timeout: Duration,
    secrets: Secrets,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug)]
enum State {
    Idle,
    Up(Arc<Connection>),
    Down { reason: String, since: Instant },
}

#[derive(Debug)]
struct Connection {
    client: RunningService<RoleClient, Diagnostics>,
    tools: Vec<rmcp::model::Tool>,
    stderr: StderrTail,
}

impl McpTool {
    /// Reads the MCP keys of a `type: mcp` file; `${VAR}` in `env` and `headers` is
    /// expanded now.
    pub(crate) fn from_file(file: &ToolFile) -> Result<Self, String> {
        let mut secrets = Secrets::default();
        let unset = |var: String| format!("references ${{{var}}}, which is not set in the host environment");
        let transport = match file.transport.as_deref().unwrap_or("stdio") {
            "stdio" => {
                let command = file
                    .command
                    .clone()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or("`command` is required for the stdio transport")?;
                let env = secrets.expand_env(file.env.as_ref())?;
                Transport::Stdio { command, args: file.args.clone().unwrap_or_default(), env }
            }
            "streamable_http" | "streamable-http" | "http" => {
                let url = file.url.clone().ok_or("`url` is required for the streamable_http transport")?;
                let parsed = reqwest::Url::parse(&url).map_err(|e| format!("invalid url {url:?}: {e}"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(format!("url must be http or https, not {}", parsed.scheme()));
                }
                let mut headers = BTreeMap::new();
                for (key, value) in file.headers.iter().flatten() {
                    let expanded = secrets.expand(value).map_err(|var| format!("header {key} {}", unset(var)))?;
                    header_pair(key, &expanded)?;
                    headers.insert(key.clone(), expanded);
                }
                Transport::Http { url, headers }
            }
            "sse" => {
                return Err("the legacy SSE transport is not offered by rmcp; use `transport: streamable_http` \
                            (servers that spoke SSE serve streamable HTTP, usually at /mcp)"
                    .into());
            }
            other => return Err(format!("unknown MCP transport {other:?} (expected stdio or streamable_http)")),
        };
        let timeout = file.timeout()?.unwrap_or(DEFAULT_TIMEOUT);
        let structured = result_mode(file)?;
        // The key holds expanded values: two definitions differing only in a secret
        // get separate servers, and the key never leaves this process.
        let key = serde_json::to_string(&(&file.name, &transport, timeout.as_millis())).map_err(|e| e.to_string())?;
        let mut servers = SERVERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        servers.retain(|_, server| server.strong_count() > 0);
        if let Some(server) = servers.get(&key).and_then(Weak::upgrade) {
            return Ok(Self { server, structured });
        }
        let server = Arc::new(Server {
            name: file.name.clone(),
            transport,
            timeout,
            secrets,
            state: tokio::sync::Mutex::new(State::Idle),
        });
        servers.insert(key, Arc::downgrade(&server));
        Ok(Self { server, structured })
    }

    /// What `env` and `headers` pulled from the host environment; the registry
    /// scrubs it from listings and from every outcome of [`call`](Self::call).
    pub(crate) fn secrets(&self) -> &Secrets {
        &self.server.secrets
    }

    /// The server's tools as callables, starting it if needed; `Err` says why it is
    /// unavailable.
    pub(crate) async fn callables(&self) -> Result<Vec<CallableInfo>, String> {
        let connection = self.server.connect().await?;
        Ok(connection.tools.iter().map(callable_info).collect())
    }

    /// Calls the server's tool `callable` with keyword `args`.
    pub(crate) async fn call(&self, callable: Option<&str>, args: &Map<String, Value>) -> Result<Value, ToolError> {
        let server = &self.server;
        let unavailable = |reason: String| ToolError::Failed {
            tool: server.name.clone(),
            message: format!("the MCP server is unavailable: {reason}"),
        };
        let mut connection = server.connect().await.map_err(unavailable)?;
        let names = || connection.tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>();
        let Some(name) = callable else {
            return Err(ToolError::InvalidArguments {
                tool: server.name.clone(),
                message: format!("call one of its tools: {}", names().join(", ")),
            });
        };
        let Some(tool) = connection.tools.iter().find(|t| t.name == name) else {
            return Err(ToolError::UnknownCallable {
                tool: server.name.clone(),
                callable: crate::text::shown(name),
                available: names(),
            });
        };
        let label = format!("{}.{name}", server.name);
        check_arguments(tool, args).map_err(|message| ToolError::InvalidArguments { tool: label.clone(), message })?;
        let request = CallToolRequestParams::new(name.to_owned()).with_arguments(args.clone());
        let mut restarted = false;
        loop {
            let call = connection.client.call_tool(request.clone());
            let outcome = match tokio::time::timeout(server.timeout, call).await {
                Err(_) => return Err(ToolError::Timeout { tool: label, seconds: server.timeout.as_secs_f64() }),
                Ok(outcome) => outcome,
            };
            match outcome {
                Ok(result) => return result_value(&label, result, self.structured),
                // The server died before answering: start it again and send the call once more.
                Err(ServiceError::TransportClosed | ServiceError::TransportSend(_)) if !restarted => {
                    tracing::warn!(server = %server.name, "the MCP server died during a call; starting it again");
                    restarted = true;
                    connection = server.restart(&connection).await.map_err(unavailable)?;
                }
                Err(ServiceError::TransportClosed | ServiceError::TransportSend(_)) => {
                    let stderr = connection.stderr.render(&server.secrets);
                    return Err(ToolError::Failed {
                        tool: label,
                        message: format!("the MCP server exited during the call{stderr}"),
                    });
                }
                Err(e) => return Err(ToolError::Failed { tool: label, message: e.to_string() }),
            }
        }
    }
}

impl Server {
    /// The live connection, started if there is none or the last one died.
    async fn connect(&self) -> Result<Arc<Connection>, String> {
        let mut state = self.state.lock().await;
        match &*state {
            State::Up(connection) if !connection.client.is_transport_closed() => return Ok(connection.clone()),
            State::Down { reason, since } if since.elapsed() < RETRY_AFTER => return Err(reason.clone()),
            _ => {}
        }
        self.start_into(&mut state).await
    }

    /// Replaces `dead` with a new connection, unless another caller already has.
    async fn restart(&self, dead: &Arc<Connection>) -> Result<Arc<Connection>, String> {
        let mut state = self.state.lock().await;
        if let State::Up(current) = &*state
            && !Arc::ptr_eq(current, dead)
            && !current.client.is_transport_closed()
        {
            return Ok(current.clone());
        }
        self.start_into(&mut state).await
    }

    async fn start_into(&self, state: &mut State) -> Result<Arc<Connection>, String> {
        match tokio::time::timeout(START_TIMEOUT, self.start()).await {
            Ok(Ok(connection)) => {
                tracing::info!(server = %self.name, tools = connection.tools.len(), "MCP server started");
                let connection = Arc::new(connection);
                *state = State::Up(connection.clone());
                Ok(connection)
            }
            outcome => {
                let reason = match outcome {
                    Ok(Err(reason)) => reason,
                    _ => format!("it did not start within {} s", START_TIMEOUT.as_secs()),
                };
                tracing::warn!(server = %self.name, %reason, "an MCP server is unavailable");
                *state = State::Down { reason: reason.clone(), since: Instant::now() };
                Err(reason)
            }
        }
    }

    async fn start(&self) -> Result<Connection, String> {
        let diagnostics = Diagnostics { server: self.name.clone(), secrets: self.secrets.clone() };
        let (client, stderr) = match &self.transport {
            Transport::Stdio { command, args, env } => {
                let mut cmd = process::command(command, env);
                cmd.args(args);
                let (child, stderr) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("cannot run `{command}`: {e}"))?;
                let tail = StderrTail::default();
                if let Some(stderr) = stderr {
                    tail.follow(stderr, diagnostics.clone());
                }
                let client = diagnostics.serve(child).await.map_err(|e| {
                    format!("`{command}` did not start as an MCP server: {e}{}", tail.render(&self.secrets))
                })?;
                (client, tail)
            }
            Transport::Http { url, headers } => {
                let mut custom = HashMap::new();
                for (key, value) in headers {
                    let (name, value) = header_pair(key, value)?;
                    custom.insert(name, value);
                }
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom);
                let transport = StreamableHttpClientTransport::from_config(config);
                let client = diagnostics.serve(transport).await.map_err(|e| format!("cannot connect to {url}: {e}"))?;
                (client, StderrTail::default())
            }
        };
        let tools = client
            .list_all_tools()
            .await
            .map_err(|e| format!("listing its tools failed: {e}{}", stderr.render(&self.secrets)))?;
        Ok(Connection { client, tools, stderr })
    }
}

fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header name {name:?}: {e}"))?;
    let mut value = HeaderValue::from_str(value).map_err(|_| format!("header {name}: invalid value"))?;
    value.set_sensitive(true);
    Ok((header, value))
}

/// The end of what a stdio server wrote to stderr: the last [`STDERR_KEEP`] bytes,
/// however long its lines (a server writing one endless line cannot grow it).
#[derive(Debug, Clone, Default)]
struct StderrTail(Arc<Mutex<Tail>>);

#[derive(Debug, Default)]
struct Tail {
    bytes: VecDeque<u8>,
    /// Whether older bytes were dropped (the first kept one may be mid-line, or
    /// mid-secret).
    dropped: bool,
}

impl StderrTail {
    /// Reads the server's stderr to its end: the tail is kept for error messages,
    /// and each line goes to `tracing` (info), scrubbed and cut to [`LOG_LINE_BYTES`].
    fn follow(&self, mut stderr: tokio::process::ChildStderr, diagnostics: Diagnostics) {
        let tail = self.0.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            let mut line = LineBuffer::default();
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                line.feed(&chunk[..n], |bytes, cut| diagnostics.stderr_line(bytes, cut));
                let mut tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                tail.bytes.extend(&chunk[..n]);
                let excess = tail.bytes.len().saturating_sub(STDERR_KEEP);
                if excess > 0 {
                    tail.bytes.drain(..excess);
                    tail.dropped = true;
                }
            }
            line.finish(|bytes, cut| diagnostics.stderr_line(bytes, cut));
        });
    }

    /// `"; its stderr ended with:\n..."`, or nothing; scrubbed before it is cut.
    fn render(&self, secrets: &Secrets) -> String {
        let (bytes, dropped) = {
            let tail = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            (tail.bytes.iter().copied().collect::<Vec<u8>>(), tail.dropped)
        };
        let text = secrets.scrub_read(&bytes, dropped, false);
        let lines: Vec<&str> = text.trim_end().lines().collect();
        if lines.is_empty() {
            return String::new();
        }
        let shown: Vec<String> = lines[lines.len().saturating_sub(STDERR_LINES)..]
            .iter()
            .map(|l| secrets.excerpt(l, STDERR_LINE_CHARS))
            .collect();
        format!("; its stderr ended with:\n{}", shown.join("\n"))
    }
}

/// Splits a byte stream into lines of at most [`LOG_LINE_BYTES`]: a longer line is
/// passed on cut (the flag says so) and the rest of it is dropped, so a server
/// writing one endless line holds no more than that.
#[derive(Debug, Default)]
struct LineBuffer {
    line: Vec<u8>,
    /// Inside a line already passed on cut.
    dropping: bool,
}

impl LineBuffer {
    fn feed(&mut self, mut bytes: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        while !bytes.is_empty() {
            let end = bytes.iter().position(|b| *b == b'\n');
            let (part, rest) = match end {
                Some(at) => (&bytes[..at], &bytes[at + 1..]),
                None => (bytes, &[][..]),
            };
            if !self.dropping {
                let room = LOG_LINE_BYTES - self.line.len();
                self.line.extend_from_slice(&part[..part.len().min(room)]);
                if part.len() > room {
                    emit(&self.line, true);
                    self.line.clear();
                    self.dropping = true;
                }
            }
            if end.is_some() {
                if !self.dropping {
                    emit(&self.line, false);
                }
                self.line.clear();
                self.dropping = false;
            }
            bytes = rest;
        }
    }

    /// Passes on a last line without a newline.
    fn finish(self, mut emit: impl FnMut(&[u8], bool)) {
        if !self.dropping && !self.line.is_empty() {
            emit(&self.line, false);
        }
    }
}

/// The client side of a connection: what the server says about itself (its log
/// messages, its stderr) goes to `tracing`, scrubbed of the definition's secrets,
/// with the server's name.
#[derive(Debug, Clone)]
struct Diagnostics {
    server: String,
    secrets: Secrets,
}

impl Diagnostics {
    fn stderr_line(&self, bytes: &[u8], cut: bool) {
        let text = self.secrets.scrub_read(bytes, false, cut);
        let text = text.trim_end();
        if !text.is_empty() {
            tracing::info!(server = %self.server, "stderr: {text}{}", if cut { "…" } else { "" });
        }
    }
}

// MCP deprecates log messages (SEP-2577), but servers still send them, and they are
// often the only word on why a call failed.
#[allow(deprecated)]
impl ClientHandler for Diagnostics {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let text = match &params.data {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let text = self.secrets.excerpt(&self.secrets.scrub(&text), LOG_LINE_BYTES);
        let logger = params.logger.as_deref().map(|l| self.secrets.excerpt(&self.secrets.scrub(l), 80));
        let (server, logger) = (self.server.as_str(), logger.as_deref().unwrap_or(""));
        match params.level {
            LoggingLevel::Debug => tracing::debug!(server, logger, "{text}"),
            LoggingLevel::Info | LoggingLevel::Notice => tracing::info!(server, logger, "{text}"),
            LoggingLevel::Warning => tracing::warn!(server, logger, "{text}"),
            _ => tracing::error!(server, logger, "{text}"),
        }
    }
}

/// Refuses what the input schema rules out before anything is sent: unknown
/// keywords and missing required ones.
fn check_arguments(tool: &rmcp::model::Tool, args: &Map<String, Value>) -> Result<(), String> {
    let schema = &tool.input_schema;
    // Unknown keywords are refused unless the schema explicitly allows extra properties.
    let open = schema.get("additionalProperties").is_some_and(|extra| extra != &Value::Bool(false));
    if !open {
        let properties = schema.get("properties").and_then(Value::as_object);
        let accepted: Vec<&str> = properties.into_iter().flat_map(|p| p.keys()).map(String::as_str).collect();
        reject_unknown(args, &accepted)?;
    }
    let required = schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    let missing: Vec<&str> = required.filter(|name| !args.contains_key(*name)).collect();
    if missing.is_empty() { Ok(()) } else { Err(format!("missing required argument(s): {}", missing.join(", "))) }
}

/// As py-code-mode: the text contents joined with newlines (a ported skill does
/// `tools.fs.read_text_file(...).splitlines()`). With `structured` (the YAML
/// `result: structured`) the server's `structuredContent` when it sends one. A
/// result with no content but `structuredContent` is that value either way; mixed
/// content (images, resources) comes back as its content blocks; `isError` is a
/// [`ToolError`].
fn result_value(label: &str, result: CallToolResult, structured: bool) -> Result<Value, ToolError> {
    let texts: Vec<&str> = result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.as_str())).collect();
    if result.is_error == Some(true) {
        let message = if texts.is_empty() { "the tool reported an error".to_owned() } else { texts.join("\n") };
        return Err(ToolError::Failed { tool: label.to_owned(), message });
    }
    if let Some(value) = result.structured_content
        && (structured || result.content.is_empty())
    {
        return Ok(value);
    }
    if texts.len() == result.content.len() {
        return Ok(Value::String(texts.join("\n")));
    }
    let blocks: Vec<Value> = result.content.iter().map(content_json).collect();
    Ok(Value::Array(blocks))
}

fn content_json(block: &ContentBlock) -> Value {
    serde_json::to_value(block).unwrap_or(Value::Null)
}

fn callable_info(tool: &rmcp::model::Tool) -> CallableInfo {
    let schema = &tool.input_schema;
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let params = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, property)| ParamInfo {
            name: name.clone(),
            type_name: python_type(property).into(),
            required: required.contains(&name.as_str()),
            default: property.get("default").cloned(),
            description: property.get("description").and_then(Value::as_str).unwrap_or_default().to_owned(),
        })
        .collect();
    CallableInfo {
        name: Some(tool.name.to_string()),
        description: tool.description.as_deref().unwrap_or_default().to_owned(),
        params,
    }
}

/// The Python type of a JSON-schema property, as agents see it in signatures.
fn python_type(property: &Value) -> &'static str {
    match property.get("type").and_then(Value::as_str) {
        Some("string") => "str",
        Some("integer") => "int",
        Some("number") => "float",
        Some("boolean") => "bool",
        Some("array") => "list",
        Some("object") => "dict",
        Some("null") => "None",
        _ => "Any",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(schema: Value) -> rmcp::model::Tool {
        let Value::Object(schema) = schema else { panic!("schema must be an object") };
        rmcp::model::Tool::new("t", "a tool", Arc::new(schema))
    }

    #[test]
    fn arguments_are_checked_against_the_input_schema() {
        let t = tool(serde_json::json!({
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "integer", "default": 3}},
            "required": ["a"],
        }));
        let args = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(check_arguments(&t, &args(serde_json::json!({"a": "x"}))).is_ok());
        assert!(
            check_arguments(&t, &args(serde_json::json!({}))).unwrap_err().contains("missing required argument(s): a")
        );
        assert!(
            check_arguments(&t, &args(serde_json::json!({"a": "x", "c": 1})))
                .unwrap_err()
                .contains("unknown argument(s) c")
        );
        let info = callable_info(&t);
        assert_eq!(info.params.len(), 2);
        assert_eq!((info.params[1].type_name.as_str(), info.params[1].default.clone()), ("int", Some(3.into())));
    }

    #[test]
    fn results_map_to_values_and_errors() {
        let text = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::text("b")]);
        assert_eq!(result_value("t", text, false).unwrap(), Value::String("a\nb".into()));
        // `structured` sends the value as JSON text too: text by default, as upstream.
        let structured = CallToolResult::structured(serde_json::json!({"x": 1}));
        assert_eq!(result_value("t", structured.clone(), false).unwrap(), Value::String(r#"{"x":1}"#.into()));
        assert_eq!(result_value("t", structured, true).unwrap(), serde_json::json!({"x": 1}));
        let mut only_structured = CallToolResult::structured(serde_json::json!({"y": 2}));
        only_structured.content.clear();
        assert_eq!(result_value("t", only_structured, false).unwrap(), serde_json::json!({"y": 2}));
        let plain = CallToolResult::success(vec![ContentBlock::text("plain")]);
        assert_eq!(result_value("t", plain, true).unwrap(), Value::String("plain".into()), "no structured content");
        let error = CallToolResult::error(vec![ContentBlock::text("boom")]);
        assert!(result_value("t", error, false).unwrap_err().to_string().contains("boom"));
    }

    #[test]
    fn stderr_lines_are_split_and_capped() {
        let mut lines = Vec::new();
        let mut buffer = LineBuffer::default();
        let mut emit = |bytes: &[u8], cut: bool| lines.push((String::from_utf8_lossy(bytes).into_owned(), cut));
        buffer.feed(b"one\ntw", &mut emit);
        buffer.feed(b"o\n", &mut emit);
        buffer.feed(&vec![b'x'; LOG_LINE_BYTES + 10], &mut emit);
        buffer.feed(&vec![b'y'; 3 * LOG_LINE_BYTES], &mut emit);
        buffer.feed(b"\nlast", &mut emit);
        buffer.finish(&mut emit);
        let shape: Vec<(usize, bool)> = lines.iter().map(|(l, cut)| (l.len(), *cut)).collect();
        assert_eq!(shape, [(3, false), (3, false), (LOG_LINE_BYTES, true), (4, false)]);
        assert_eq!((lines[0].0.as_str(), lines[1].0.as_str(), lines[3].0.as_str()), ("one", "two", "last"));
    }
}
