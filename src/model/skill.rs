//! Skills as the API lists them: signatures, infos, search results.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::literal;

/// Names a skill's code finds in its globals, never passed by callers: listings
/// leave them out of a skill's parameters, as py-code-mode does.
pub const INJECTED_NAMES: [&str; 4] = ["tools", "skills", "artifacts", "deps"];

/// One parameter of a skill's `run` entry point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct Param {
    /// The name; `*args` and `**kwargs` keep their stars.
    pub name: String,
    /// The annotation as written, e.g. `int` or `list[str]`.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Whether a caller must pass it.
    pub required: bool,
    /// The default as Python source, e.g. `10` or `'utf-8'`.
    pub default: Option<String>,
}

impl Param {
    /// The default as a typed JSON value (`10`, `"utf-8"`, `null` for `None`); `None`
    /// when there is none or it is not a literal JSON can hold (`os.getcwd()`).
    pub fn default_value(&self) -> Option<Value> {
        self.default.as_deref().and_then(literal::to_json)
    }

    /// Whether the runner supplies it (`tools`, `skills`, `artifacts`, `deps`).
    pub fn is_injected(&self) -> bool {
        INJECTED_NAMES.contains(&self.name.as_str())
    }
}

/// How a skill's `run` is declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct SkillSignature {
    /// `async def run` rather than `def run`.
    pub is_async: bool,
    /// Parameters in declaration order.
    pub params: Vec<Param>,
    /// The module docstring, else `run`'s docstring, else empty.
    pub docstring: String,
    /// The tools and skills its source calls; `None` in metadata written before
    /// they were recorded (the source is read again).
    #[serde(default)]
    pub needs: Option<Needs>,
}

/// Most names of each kind recorded in [`Needs`]; a source naming more is cut.
pub const MAX_NEEDS: usize = 64;

/// Longest name recorded in [`Needs`], in bytes; longer ones are dropped.
const MAX_NEED_NAME: usize = 128;

/// What a skill's source calls, read by the sandbox's `ast` when it is saved:
/// `tools.x(...)`, `tools.x.y(...)` (the tool `x`), `skills.name(...)` and
/// `skills.invoke("name", ...)`. Names built at run time are not seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct Needs {
    /// Tool names, sorted.
    pub tools: Vec<String>,
    /// Skill names, sorted.
    pub skills: Vec<String>,
}

impl Needs {
    /// Sorted, deduplicated and capped: the names come from a hostile source (via
    /// the guest), so the host bounds them itself.
    pub fn new(tools: Vec<String>, skills: Vec<String>) -> Self {
        let clean = |mut names: Vec<String>| {
            names.retain(|n| !n.is_empty() && n.len() <= MAX_NEED_NAME && !n.chars().any(char::is_control));
            names.sort();
            names.dedup();
            names.truncate(MAX_NEEDS);
            names
        };
        Self { tools: clean(tools), skills: clean(skills) }
    }
}

/// What is known about a skill without its source.
///
/// Listed as py-code-mode lists it: `parameters`, each `{name, type, description,
/// required, default}` with a typed default, without the injected names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(into = "ListedSkill", from = "ListedSkill")]
pub struct SkillInfo {
    /// The skill's name, a Python identifier.
    pub name: String,
    /// Given at creation, else the module docstring, else `run`'s docstring.
    pub description: String,
    /// Parameters of `run`.
    pub params: Vec<Param>,
    /// Whether `run` is `async def`.
    pub is_async: bool,
    /// The tools and skills it calls.
    pub needs: Needs,
    /// Why it cannot run in this session (a needed tool or skill is missing or not
    /// allowed); `None` when it can.
    pub unavailable: Option<String>,
}

impl SkillInfo {
    /// The parameters a caller passes: `params` without the injected names.
    pub fn caller_params(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| !p.is_injected())
    }
}

/// [`SkillInfo`] as serialised.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
struct ListedSkill {
    name: String,
    description: String,
    #[serde(alias = "params")]
    parameters: Vec<ListedParam>,
    is_async: bool,
    /// The tools and skills its source calls.
    #[serde(default)]
    needs: Needs,
    /// Why it cannot run here (a needed tool or skill is missing); null when it can.
    #[serde(default)]
    unavailable: Option<String>,
}

/// A skill parameter as serialised: upstream's keys, the default typed.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
struct ListedParam {
    name: String,
    #[serde(rename = "type")]
    type_name: Option<String>,
    /// Always empty: a signature does not say what a parameter is for.
    #[serde(default)]
    description: String,
    required: bool,
    default: Option<Value>,
}

impl From<SkillInfo> for ListedSkill {
    fn from(info: SkillInfo) -> Self {
        let parameters = info
            .caller_params()
            .map(|p| ListedParam {
                name: p.name.clone(),
                type_name: p.type_name.clone(),
                description: String::new(),
                required: p.required,
                default: p.default_value(),
            })
            .collect();
        Self {
            name: info.name,
            description: info.description,
            parameters,
            is_async: info.is_async,
            needs: info.needs,
            unavailable: info.unavailable,
        }
    }
}

impl From<ListedSkill> for SkillInfo {
    fn from(listed: ListedSkill) -> Self {
        let params = listed
            .parameters
            .into_iter()
            .map(|p| Param {
                name: p.name,
                type_name: p.type_name,
                required: p.required,
                // Only an optional parameter has a default, `None` included.
                default: (!p.required).then(|| literal::to_python(p.default.as_ref().unwrap_or(&Value::Null))),
            })
            .collect();
        Self {
            name: listed.name,
            description: listed.description,
            params,
            is_async: listed.is_async,
            needs: listed.needs,
            unavailable: listed.unavailable,
        }
    }
}

/// A skill with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct Skill {
    /// Its description and signature.
    #[serde(flatten)]
    pub info: SkillInfo,
    /// Its Python source.
    pub source: String,
}

/// One version of a skill, as `skills.history(name)` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct SkillVersion {
    /// Its number: 1 for the first, one more for each save or rollback; 0 for a
    /// skill written outside codemode.
    pub version: u32,
    /// When it was saved, ISO-8601 UTC (empty if unknown).
    pub created_at: String,
    /// Its description.
    pub description: String,
    /// Whether it is the current version.
    pub current: bool,
    /// Why this session would not run it (it was saved by a session limited to
    /// less than this one); `None` when it would.
    pub untrusted: Option<String>,
}

/// How a search ranked its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Embeddings (all-MiniLM-L6-v2), plus BM25 on the query words the model has no
    /// token for (identifiers such as `boto3`) and a boost for name matches.
    Semantic,
    /// BM25 over names, descriptions and sources: the model is not installed.
    Keyword,
    /// Embeddings for the skills whose vectors are ready, BM25 for the others while
    /// the background indexer embeds them (the notice says how many).
    Partial,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct SkillMatch {
    /// The skill.
    #[serde(flatten)]
    pub info: SkillInfo,
    /// Higher is better; comparable within one search only.
    pub score: f32,
}

/// The outcome of [`SkillLibrary::search`](crate::skills::SkillLibrary::search).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct SearchResults {
    /// How the results were ranked.
    pub mode: SearchMode,
    /// Said once per process when search falls back to keywords.
    pub notice: Option<String>,
    /// Best first.
    pub matches: Vec<SkillMatch>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn param(name: &str, type_name: Option<&str>, default: Option<&str>) -> Param {
        Param {
            name: name.into(),
            type_name: type_name.map(Into::into),
            required: default.is_none(),
            default: default.map(Into::into),
        }
    }

    #[test]
    fn listed_without_injected_names_and_with_typed_defaults() {
        let info = SkillInfo {
            name: "scan".into(),
            description: "Scan".into(),
            params: vec![
                param("tools", None, None),
                param("host", Some("str"), Some("'localhost'")),
                param("port", Some("int"), Some("80")),
                param("cwd", None, Some("os.getcwd()")),
            ],
            is_async: true,
            needs: Needs::default(),
            unavailable: None,
        };
        let listed = serde_json::to_value(&info).unwrap();
        assert_eq!(
            listed,
            json!({"name": "scan", "description": "Scan", "is_async": true, "needs": {"tools": [], "skills": []}, "unavailable": null, "parameters": [
                {"name": "host", "type": "str", "description": "", "required": false, "default": "localhost"},
                {"name": "port", "type": "int", "description": "", "required": false, "default": 80},
                {"name": "cwd", "type": null, "description": "", "required": false, "default": null},
            ]})
        );
        // Read back (a remote session's listing): the literals are Python source again.
        let back: SkillInfo = serde_json::from_value(listed).unwrap();
        let defaults: Vec<_> = back.params.iter().map(|p| p.default.as_deref()).collect();
        assert_eq!(defaults, [Some("'localhost'"), Some("80"), Some("None")]);
    }
}
