//! Tool definitions as py-code-mode writes them in YAML, read unchanged.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// The type of a CLI option, positional or recipe parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A flag: present when true.
    #[serde(alias = "bool")]
    Boolean,
    /// Text (the default).
    #[default]
    #[serde(alias = "str")]
    String,
    /// A whole number.
    #[serde(alias = "int")]
    Integer,
    /// Any number.
    #[serde(alias = "float")]
    Number,
    /// A list: the flag is repeated once per item (the only type that takes a list).
    #[serde(alias = "list")]
    Array,
}

impl ParamType {
    /// The Python type agents see in signatures.
    pub fn python_name(self) -> &'static str {
        match self {
            ParamType::Boolean => "bool",
            ParamType::String => "str",
            ParamType::Integer => "int",
            ParamType::Number => "float",
            ParamType::Array => "list",
        }
    }

    /// A YAML `type`: the JSON-schema names and, as py-code-mode's recipes accept,
    /// the Python ones (`str`, `int`, `bool`, `list`, `float`); `None` if neither.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "boolean" | "bool" => Some(ParamType::Boolean),
            "string" | "str" => Some(ParamType::String),
            "integer" | "int" => Some(ParamType::Integer),
            "number" | "float" => Some(ParamType::Number),
            "array" | "list" => Some(ParamType::Array),
            _ => None,
        }
    }
}

/// One `*.yaml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolFile {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    // CLI
    pub(crate) command: Option<String>,
    pub(crate) timeout: Option<f64>,
    pub(crate) schema: Option<SchemaYaml>,
    pub(crate) recipes: Option<yaml_serde::Mapping>,
    /// Put `--` before the positionals, so none is read as an option (off by
    /// default: not every program accepts `--`).
    #[serde(default)]
    pub(crate) end_of_options: bool,
    // HTTP (`type: http`); parsed without the feature too, to say why it is skipped.
    #[cfg_attr(not(feature = "http-tools"), allow(dead_code))]
    pub(crate) base_url: Option<String>,
    /// Default request headers; `${VAR}` is expanded from the host environment.
    #[cfg_attr(not(feature = "http-tools"), allow(dead_code))]
    pub(crate) headers: Option<BTreeMap<String, String>>,
    /// An ordered mapping of endpoint name to [`EndpointYaml`].
    #[cfg_attr(not(feature = "http-tools"), allow(dead_code))]
    pub(crate) endpoints: Option<yaml_serde::Mapping>,
    // MCP (`type: mcp`)
    /// `stdio` (default) or `streamable_http`.
    #[cfg_attr(not(feature = "mcp-tools"), allow(dead_code))]
    pub(crate) transport: Option<String>,
    /// The server's arguments (stdio).
    #[cfg_attr(not(feature = "mcp-tools"), allow(dead_code))]
    pub(crate) args: Option<Vec<String>>,
    /// Environment of a CLI tool's or a stdio MCP server's process, on top of the
    /// allow-list it inherits; `${VAR}` is expanded from the host.
    pub(crate) env: Option<BTreeMap<String, String>>,
    /// The server's endpoint (streamable HTTP).
    #[cfg_attr(not(feature = "mcp-tools"), allow(dead_code))]
    pub(crate) url: Option<String>,
    /// What an MCP tool's call returns: `text` (the default: text contents joined,
    /// as py-code-mode) or `structured` (the server's `structuredContent`).
    pub(crate) result: Option<String>,
}

impl ToolFile {
    /// The `timeout` key, checked.
    pub(crate) fn timeout(&self) -> Result<Option<Duration>, String> {
        match self.timeout {
            None => Ok(None),
            Some(t) if t > 0.0 && t <= 86_400.0 => Ok(Some(Duration::from_secs_f64(t))),
            Some(t) => Err(format!("timeout must be between 0 and 86400 seconds, not {t}")),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchemaYaml {
    /// An ordered mapping: options are emitted in declaration order.
    #[serde(default)]
    pub(crate) options: yaml_serde::Mapping,
    #[serde(default)]
    pub(crate) positional: Vec<PositionalYaml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptionYaml {
    /// A [`ParamType`] name, read by [`ParamType::parse`] (an unknown one is a string
    /// with a warning, not a reason to skip the file).
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) short: Option<String>,
    #[serde(default)]
    pub(crate) description: String,
    /// Whether a value may start with `-` (refused by default: the program would
    /// read it as an option).
    #[serde(default)]
    pub(crate) allow_dash: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PositionalYaml {
    pub(crate) name: String,
    /// As [`OptionYaml::kind`].
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) required: bool,
    #[serde(default)]
    pub(crate) description: String,
    pub(crate) default: Option<yaml_serde::Value>,
    /// As [`OptionYaml::allow_dash`].
    #[serde(default)]
    pub(crate) allow_dash: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecipeYaml {
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) preset: yaml_serde::Mapping,
    #[serde(default)]
    pub(crate) params: yaml_serde::Mapping,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecipeParamYaml {
    /// As [`OptionYaml::kind`]; absent means the schema parameter's type.
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) required: Option<bool>,
    pub(crate) default: Option<yaml_serde::Value>,
    #[serde(default)]
    pub(crate) description: String,
}

#[cfg(feature = "http-tools")]
/// One endpoint of an HTTP tool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointYaml {
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default = "get")]
    pub(crate) method: String,
    pub(crate) path: String,
    /// An ordered mapping of parameter name to [`HttpParamYaml`].
    #[serde(default)]
    pub(crate) params: yaml_serde::Mapping,
}

#[cfg(feature = "http-tools")]
fn get() -> String {
    "GET".into()
}

/// Where an HTTP parameter goes.
#[cfg(feature = "http-tools")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// Substituted into `{name}` in the path.
    Path,
    /// Appended to the query string.
    Query,
    /// A field of the JSON body.
    Body,
}

/// The JSON type of an HTTP parameter.
#[cfg(feature = "http-tools")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    /// Text (the default).
    #[default]
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// true or false.
    Boolean,
    /// A list.
    Array,
    /// A mapping.
    Object,
}

#[cfg(feature = "http-tools")]
impl JsonType {
    /// The Python type agents see in signatures.
    pub fn python_name(self) -> &'static str {
        match self {
            JsonType::String => "str",
            JsonType::Integer => "int",
            JsonType::Number => "float",
            JsonType::Boolean => "bool",
            JsonType::Array => "list",
            JsonType::Object => "dict",
        }
    }
}

#[cfg(feature = "http-tools")]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpParamYaml {
    #[serde(rename = "in")]
    pub(crate) location: Option<Location>,
    #[serde(rename = "type", default)]
    pub(crate) kind: JsonType,
    #[serde(default)]
    pub(crate) required: bool,
    pub(crate) default: Option<yaml_serde::Value>,
    #[serde(default)]
    pub(crate) description: String,
}
