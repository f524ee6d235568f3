//! HTTP tools: endpoints of one API under one tool name (`tools.github.get_repo(...)`),
//! declared in YAML (`type: http`) or built in Rust.
//!
//! Header values may reference host environment variables (`${GITHUB_TOKEN}`). They
//! are expanded here, on the host, and the expanded values are scrubbed from
//! everything that goes back to the guest (results, errors, traces), so a secret
//! never enters the sandbox even if a server echoes it verbatim.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Map, Value};

use super::definition::{EndpointYaml, HttpParamYaml, ToolFile};
pub use super::definition::{JsonType, Location};
use super::secrets::Secrets;
use super::{CallableInfo, ParamInfo, ToolError, reject_unknown};
use crate::text::encode_segment;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body accepted.
const MAX_RESPONSE: usize = 16 << 20;
/// Characters of a failed response's body quoted in the error.
const ERROR_EXCERPT: usize = 500;

/// One parameter of an endpoint.
#[derive(Debug, Clone)]
pub struct HttpParam {
    name: String,
    location: Option<Location>,
    kind: JsonType,
    required: bool,
    default: Option<Value>,
    description: String,
}

impl HttpParam {
    fn new(name: &str, location: Location) -> Self {
        Self {
            name: name.to_owned(),
            location: Some(location),
            kind: JsonType::String,
            required: location == Location::Path,
            default: None,
            description: String::new(),
        }
    }

    /// A `{name}` placeholder in the path (required).
    pub fn path(name: &str) -> Self {
        Self::new(name, Location::Path)
    }

    /// A query-string parameter.
    pub fn query(name: &str) -> Self {
        Self::new(name, Location::Query)
    }

    /// A field of the JSON body.
    pub fn body(name: &str) -> Self {
        Self::new(name, Location::Body)
    }

    /// Its JSON type (default string).
    pub fn kind(mut self, kind: JsonType) -> Self {
        self.kind = kind;
        self
    }

    /// Whether the caller must give it.
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Used when the caller does not give it.
    pub fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }

    /// What it is for.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }
}

/// One endpoint: a method, a path template and its parameters.
#[derive(Debug, Clone)]
pub struct Endpoint {
    name: String,
    description: String,
    method: Method,
    path: String,
    params: Vec<HttpParam>,
}

impl Endpoint {
    /// `method` on `path` (relative to the tool's base URL; `{name}` placeholders).
    pub fn new(name: &str, method: Method, path: &str) -> Self {
        Self { name: name.to_owned(), description: String::new(), method, path: path.to_owned(), params: Vec::new() }
    }

    /// What it does.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    /// Adds a parameter.
    pub fn param(mut self, param: HttpParam) -> Self {
        self.params.push(param);
        self
    }

    /// Where a parameter without an explicit location goes: the path if it has a
    /// placeholder, the body for methods that carry one, else the query.
    fn location(&self, param: &HttpParam) -> Location {
        param.location.unwrap_or_else(|| {
            if self.path.contains(&format!("{{{}}}", param.name)) {
                Location::Path
            } else if matches!(self.method, Method::POST | Method::PUT | Method::PATCH) {
                Location::Body
            } else {
                Location::Query
            }
        })
    }
}

/// An HTTP API exposed as one tool.
#[derive(Debug, Clone)]
pub struct HttpTool {
    name: String,
    description: String,
    base_url: Url,
    headers: HeaderMap,
    secrets: Secrets,
    timeout: Duration,
    endpoints: Vec<Endpoint>,
    client: reqwest::Client,
}

impl HttpTool {
    /// A tool named `name` over the API at `base_url`.
    pub fn new(name: &str, base_url: &str) -> Result<Self, ToolError> {
        let invalid = |message: String| ToolError::InvalidArguments { tool: name.to_owned(), message };
        let mut base_url = Url::parse(base_url).map_err(|e| invalid(format!("invalid base URL {base_url:?}: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(invalid(format!("base URL must be http or https, not {}", base_url.scheme())));
        }
        // Paths are joined to the base as written, so the base must end with `/`.
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let client =
            reqwest::Client::builder().build().map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            description: String::new(),
            base_url,
            headers: HeaderMap::new(),
            secrets: Secrets::default(),
            timeout: DEFAULT_TIMEOUT,
            endpoints: Vec::new(),
            client,
        })
    }

    /// What the API is for.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    /// A header sent with every request; `${VAR}` is expanded from the host
    /// environment now, and the result is never shown to the guest.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ToolError> {
        let invalid = |message: String| ToolError::InvalidArguments { tool: self.name.clone(), message };
        let secret = value.contains("${");
        let expanded = self.secrets.expand(value).map_err(|var| {
            invalid(format!("header {name} references ${{{var}}}, which is not set in the host environment"))
        })?;
        let header =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(format!("header name {name:?}: {e}")))?;
        let mut value =
            HeaderValue::from_str(&expanded).map_err(|_| invalid(format!("header {name}: invalid value")))?;
        value.set_sensitive(secret);
        self.headers.insert(header, value);
        Ok(self)
    }

    /// The timeout of one request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds an endpoint.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn from_file(file: &ToolFile) -> Result<Self, String> {
        let base_url = file.base_url.as_deref().ok_or("`base_url` is required for `type: http`")?;
        let mut tool = HttpTool::new(&file.name, base_url).map_err(|e| e.to_string())?.description(&file.description);
        if let Some(timeout) = file.timeout()? {
            tool = tool.timeout(timeout);
        }
        for (name, value) in file.headers.iter().flatten() {
            tool = tool.header(name, value).map_err(|e| e.to_string())?;
        }
        let endpoints = file.endpoints.as_ref().filter(|e| !e.is_empty()).ok_or("no endpoints defined")?;
        for (key, value) in endpoints {
            let name = key.as_str().ok_or("endpoint names must be strings")?;
            let yaml: EndpointYaml =
                yaml_serde::from_value(value.clone()).map_err(|e| format!("endpoint {name:?}: {e}"))?;
            let method = Method::from_bytes(yaml.method.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("endpoint {name:?}: unknown method {:?}", yaml.method))?;
            let mut endpoint = Endpoint::new(name, method, &yaml.path).description(&yaml.description);
            for (key, value) in &yaml.params {
                let param_name = key.as_str().ok_or("parameter names must be strings")?;
                let p: HttpParamYaml = if value.is_null() {
                    HttpParamYaml::default()
                } else {
                    yaml_serde::from_value(value.clone())
                        .map_err(|e| format!("endpoint {name:?}, parameter {param_name:?}: {e}"))?
                };
                let default = p.default.as_ref().map(serde_json::to_value).transpose().map_err(|e| e.to_string())?;
                endpoint.params.push(HttpParam {
                    name: param_name.to_owned(),
                    location: p.location,
                    kind: p.kind,
                    required: p.required,
                    default,
                    description: p.description,
                });
            }
            tool = tool.endpoint(endpoint);
        }
        tool.check()?;
        Ok(tool)
    }

    /// Every `{placeholder}` has a path parameter and every path parameter a placeholder.
    pub(crate) fn check(&self) -> Result<(), String> {
        for endpoint in &self.endpoints {
            let mut rest = endpoint.path.as_str();
            while let Some(open) = rest.find('{') {
                let close =
                    rest[open..].find('}').ok_or(format!("endpoint {:?}: unclosed `{{` in path", endpoint.name))?;
                let placeholder = &rest[open + 1..open + close];
                if !endpoint.params.iter().any(|p| p.name == placeholder && endpoint.location(p) == Location::Path) {
                    return Err(format!(
                        "endpoint {:?}: path placeholder {{{placeholder}}} has no path parameter",
                        endpoint.name
                    ));
                }
                rest = &rest[open + close + 1..];
            }
            for param in endpoint.params.iter().filter(|p| endpoint.location(p) == Location::Path) {
                if !endpoint.path.contains(&format!("{{{}}}", param.name)) {
                    return Err(format!(
                        "endpoint {:?}: path parameter {:?} is not in the path",
                        endpoint.name, param.name
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn callables(&self) -> Vec<CallableInfo> {
        self.endpoints
            .iter()
            .map(|e| CallableInfo {
                name: Some(e.name.clone()),
                description: if e.description.is_empty() {
                    format!("{} {}", e.method, e.path)
                } else {
                    e.description.clone()
                },
                params: e
                    .params
                    .iter()
                    .map(|p| ParamInfo {
                        name: p.name.clone(),
                        type_name: p.kind.python_name().into(),
                        required: p.required,
                        default: p.default.clone(),
                        description: p.description.clone(),
                    })
                    .collect(),
            })
            .collect()
    }

    pub(crate) fn description_text(&self) -> &str {
        &self.description
    }

    /// What the headers pulled from the host environment; the registry scrubs it
    /// from every outcome of [`call`](Self::call).
    pub(crate) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Calls endpoint `callable` with keyword `args`; JSON responses come back parsed.
    pub(crate) async fn call(&self, callable: Option<&str>, args: &Map<String, Value>) -> Result<Value, ToolError> {
        let available = || self.endpoints.iter().map(|e| e.name.clone()).collect();
        let endpoint = match callable {
            Some(name) => self.endpoints.iter().find(|e| e.name == name).ok_or_else(|| ToolError::UnknownCallable {
                tool: self.name.clone(),
                callable: crate::text::shown(name),
                available: available(),
            })?,
            None => {
                return Err(ToolError::InvalidArguments {
                    tool: self.name.clone(),
                    message: format!("call one of its endpoints: {}", available().join(", ")),
                });
            }
        };
        let invalid =
            |message: String| ToolError::InvalidArguments { tool: format!("{}.{}", self.name, endpoint.name), message };
        let accepted: Vec<&str> = endpoint.params.iter().map(|p| p.name.as_str()).collect();
        reject_unknown(args, &accepted).map_err(invalid)?;
        let mut path = endpoint.path.clone();
        let mut query: Vec<(String, String)> = Vec::new();
        let mut body = Map::new();
        for param in &endpoint.params {
            let Some(value) = args.get(&param.name).filter(|v| !v.is_null()).or(param.default.as_ref()) else {
                if param.required {
                    return Err(invalid(format!("required parameter {:?} is missing", param.name)));
                }
                continue;
            };
            check_type(param, value).map_err(invalid)?;
            match endpoint.location(param) {
                Location::Path => path = path.replace(&format!("{{{}}}", param.name), &encode_segment(&text(value))),
                Location::Query => match value {
                    Value::Array(items) => query.extend(items.iter().map(|i| (param.name.clone(), text(i)))),
                    other => query.push((param.name.clone(), text(other))),
                },
                Location::Body => {
                    body.insert(param.name.clone(), value.clone());
                }
            }
        }
        let url = self
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|e| invalid(format!("cannot build the URL: {e}")))?;
        let mut request =
            self.client.request(endpoint.method.clone(), url).headers(self.headers.clone()).timeout(self.timeout);
        if !query.is_empty() {
            request = request.query(&query);
        }
        if !body.is_empty() {
            request = request.json(&body);
        }
        let failed = |message: String| ToolError::Failed { tool: format!("{}.{}", self.name, endpoint.name), message };
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                ToolError::Timeout {
                    tool: format!("{}.{}", self.name, endpoint.name),
                    seconds: self.timeout.as_secs_f64(),
                }
            } else {
                failed(format!("request failed: {}", error_chain(&e)))
            }
        })?;
        let status = response.status();
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let bytes = read_limited(response).await.map_err(failed)?;
        let text = String::from_utf8_lossy(&bytes);
        if status.as_u16() >= 400 {
            // Scrubbed whole, then cut: a cut point cannot expose part of a secret.
            return Err(failed(format!("HTTP {status}: {}", self.secrets.excerpt(&text, ERROR_EXCERPT))));
        }
        if is_json && let Ok(value) = serde_json::from_slice(&bytes) {
            return Ok(value);
        }
        Ok(Value::String(text.into_owned()))
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading the response failed: {e}"))? {
        if bytes.len() + chunk.len() > MAX_RESPONSE {
            return Err(format!("the response exceeded {MAX_RESPONSE} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn check_type(param: &HttpParam, value: &Value) -> Result<(), String> {
    let ok = match param.kind {
        JsonType::String => value.is_string(),
        JsonType::Integer => value.is_i64() || value.is_u64(),
        JsonType::Number => value.is_number(),
        JsonType::Boolean => value.is_boolean(),
        JsonType::Array => value.is_array(),
        JsonType::Object => value.is_object(),
    };
    if ok { Ok(()) } else { Err(format!("{} must be {}, not {value}", param.name, param.kind.python_name())) }
}
