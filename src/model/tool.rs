//! Tools as listed to hosts and agents.
//!
//! The listing has py-code-mode's shape on every surface: `callables` holds the
//! recipes, each with `parameters`; calling the tool itself (`tools.<name>(**kw)`),
//! which py-code-mode does not list, is the tool's own `parameters`, so no callable
//! is nameless.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One parameter of a callable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct ParamInfo {
    /// The keyword.
    pub name: String,
    /// The Python type shown to agents (`str`, `int`, `bool`, `list`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether it must be given.
    pub required: bool,
    /// Its default as a typed JSON value (`80`, `"localhost"`, `true`), if any.
    pub default: Option<Value>,
    /// What it is for.
    pub description: String,
}

/// One way to call a tool: a recipe (`tools.curl.get`) or the tool itself (`tools.curl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct CallableInfo {
    /// The recipe's name; `None` for the tool itself.
    pub name: Option<String>,
    /// What it does.
    pub description: String,
    /// Its keyword parameters.
    #[serde(rename = "parameters", alias = "params")]
    pub params: Vec<ParamInfo>,
}

/// A tool as listed to hosts and agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(into = "ListedTool", from = "ListedTool")]
pub struct ToolInfo {
    /// `tools.<name>`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// From the YAML `tags`.
    pub tags: Vec<String>,
    /// Its recipes, then the tool itself (the callable without a name).
    pub callables: Vec<CallableInfo>,
    /// Why it cannot be used now (an MCP server that does not start); `None` when it can.
    pub unavailable: Option<String>,
}

impl ToolInfo {
    /// The parameters of calling the tool itself, when it can be called that way.
    pub fn direct_params(&self) -> Option<&[ParamInfo]> {
        self.callables.iter().find(|c| c.name.is_none()).map(|c| c.params.as_slice())
    }
}

/// [`ToolInfo`] as serialised: recipes only in `callables`.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
struct ListedTool {
    name: String,
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    callables: Vec<ListedCallable>,
    /// Keyword parameters of `tools.<name>(**kw)`; absent when the tool cannot be
    /// called without a recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parameters: Option<Vec<ParamInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
}

/// A recipe as serialised: it always has a name (a nameless one, as listings before
/// this shape had, is read as the tool's own call).
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
struct ListedCallable {
    name: Option<String>,
    description: String,
    #[serde(alias = "params")]
    parameters: Vec<ParamInfo>,
}

impl From<ToolInfo> for ListedTool {
    fn from(info: ToolInfo) -> Self {
        let mut parameters = None;
        let mut callables = Vec::with_capacity(info.callables.len());
        for callable in info.callables {
            match callable.name {
                Some(name) => callables.push(ListedCallable {
                    name: Some(name),
                    description: callable.description,
                    parameters: callable.params,
                }),
                None => parameters = Some(callable.params),
            }
        }
        Self {
            name: info.name,
            description: info.description,
            tags: info.tags,
            callables,
            parameters,
            unavailable: info.unavailable,
        }
    }
}

impl From<ListedTool> for ToolInfo {
    fn from(listed: ListedTool) -> Self {
        let (mut callables, nameless): (Vec<_>, Vec<_>) = listed
            .callables
            .into_iter()
            .map(|c| CallableInfo { name: c.name, description: c.description, params: c.parameters })
            .partition(|c| c.name.is_some());
        // The tool itself is described by the tool's own description, as the registry lists it.
        let direct = listed.parameters.map(|params| CallableInfo {
            name: None,
            description: listed.description.clone(),
            params,
        });
        callables.extend(direct.into_iter().chain(nameless).take(1));
        Self {
            name: listed.name,
            description: listed.description,
            tags: listed.tags,
            callables,
            unavailable: listed.unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn param(name: &str, default: Option<Value>) -> ParamInfo {
        ParamInfo {
            name: name.into(),
            type_name: "int".into(),
            required: default.is_none(),
            default,
            description: String::new(),
        }
    }

    #[test]
    fn listed_like_upstream_and_read_back() {
        let info = ToolInfo {
            name: "nmap".into(),
            description: "scan".into(),
            tags: vec!["net".into()],
            callables: vec![
                CallableInfo {
                    name: Some("quick".into()),
                    description: "fast".into(),
                    params: vec![param("port", None)],
                },
                CallableInfo { name: None, description: "scan".into(), params: vec![param("port", Some(json!(80)))] },
            ],
            unavailable: None,
        };
        let listed = serde_json::to_value(&info).unwrap();
        assert_eq!(
            listed,
            json!({
                "name": "nmap", "description": "scan", "tags": ["net"],
                "callables": [{"name": "quick", "description": "fast", "parameters": [
                    {"name": "port", "type": "int", "required": true, "default": null, "description": ""}]}],
                "parameters": [{"name": "port", "type": "int", "required": false, "default": 80, "description": ""}],
            })
        );
        assert_eq!(serde_json::from_value::<ToolInfo>(listed).unwrap(), info);
        assert_eq!(info.direct_params().unwrap()[0].default, Some(json!(80)));
        // The shape before: `params`, and the tool itself as a nameless callable.
        let old = json!({"name": "nmap", "description": "scan", "tags": ["net"], "callables": [
            {"name": "quick", "description": "fast", "params": [
                {"name": "port", "type": "int", "required": true, "default": null, "description": ""}]},
            {"name": null, "description": "scan", "params": [
                {"name": "port", "type": "int", "required": false, "default": 80, "description": ""}]}]});
        assert_eq!(serde_json::from_value::<ToolInfo>(old).unwrap(), info);
    }

    #[test]
    fn a_tool_without_a_direct_call_has_no_parameters_key() {
        let info = ToolInfo {
            name: "api".into(),
            description: String::new(),
            tags: Vec::new(),
            callables: vec![CallableInfo { name: Some("get".into()), description: String::new(), params: Vec::new() }],
            unavailable: Some("down".into()),
        };
        let listed = serde_json::to_value(&info).unwrap();
        assert!(listed.get("parameters").is_none(), "{listed}");
        assert_eq!(listed["unavailable"], "down");
        assert_eq!(serde_json::from_value::<ToolInfo>(listed).unwrap(), info);
    }
}
