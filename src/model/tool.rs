//! Tools as listed to hosts and agents.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One parameter of a callable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    /// The keyword.
    pub name: String,
    /// The Python type shown to agents (`str`, `int`, `bool`, `list`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether it must be given.
    pub required: bool,
    /// Its default, if any.
    pub default: Option<Value>,
    /// What it is for.
    pub description: String,
}

/// One way to call a tool: a recipe (`tools.curl.get`) or the tool itself (`tools.curl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallableInfo {
    /// The recipe's name; `None` for the tool itself.
    pub name: Option<String>,
    /// What it does.
    pub description: String,
    /// Its keyword parameters.
    pub params: Vec<ParamInfo>,
}

/// A tool as listed to hosts and agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `tools.<name>`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// From the YAML `tags`.
    pub tags: Vec<String>,
    /// Its recipes, then the tool itself.
    pub callables: Vec<CallableInfo>,
    /// Why it cannot be used now (an MCP server that does not start); `None` when it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}
