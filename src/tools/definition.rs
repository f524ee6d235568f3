//! Tool definitions as py-code-mode writes them in YAML, read unchanged.

use serde::Deserialize;

/// The type of a CLI option, positional or recipe parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A flag: present when true.
    Boolean,
    /// Text (the default).
    #[default]
    String,
    /// A whole number.
    Integer,
    /// A list: the flag is repeated once per item.
    Array,
}

impl ParamType {
    /// The Python type agents see in signatures.
    pub fn python_name(self) -> &'static str {
        match self {
            ParamType::Boolean => "bool",
            ParamType::String => "str",
            ParamType::Integer => "int",
            ParamType::Array => "list",
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
    // MCP and HTTP: parsed so such files are recognised and reported; their adapters
    // are not in this build yet.
    #[allow(dead_code, reason = "parsed for validation until the MCP adapter lands")]
    pub(crate) transport: Option<String>,
    #[allow(dead_code, reason = "parsed for validation until the MCP and HTTP adapters land")]
    pub(crate) args: Option<Vec<String>>,
    #[allow(dead_code, reason = "parsed for validation until the MCP and HTTP adapters land")]
    pub(crate) env: Option<yaml_serde::Mapping>,
    #[allow(dead_code, reason = "parsed for validation until the MCP and HTTP adapters land")]
    pub(crate) url: Option<String>,
    #[allow(dead_code, reason = "parsed for validation until the MCP and HTTP adapters land")]
    pub(crate) headers: Option<yaml_serde::Mapping>,
    #[allow(dead_code, reason = "parsed for validation until the MCP and HTTP adapters land")]
    pub(crate) base_url: Option<String>,
    #[allow(dead_code, reason = "parsed for validation until the MCP and HTTP adapters land")]
    pub(crate) endpoints: Option<yaml_serde::Value>,
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
    #[serde(rename = "type", default)]
    pub(crate) kind: ParamType,
    pub(crate) short: Option<String>,
    #[serde(default)]
    pub(crate) description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PositionalYaml {
    pub(crate) name: String,
    #[serde(rename = "type", default)]
    pub(crate) kind: ParamType,
    #[serde(default)]
    pub(crate) required: bool,
    #[serde(default)]
    pub(crate) description: String,
    pub(crate) default: Option<yaml_serde::Value>,
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
    #[serde(rename = "type")]
    pub(crate) kind: Option<ParamType>,
    pub(crate) required: Option<bool>,
    pub(crate) default: Option<yaml_serde::Value>,
    #[serde(default)]
    pub(crate) description: String,
}
