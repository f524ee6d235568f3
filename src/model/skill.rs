//! Skills as the API lists them: signatures, infos, search results.

use serde::{Deserialize, Serialize};

/// One parameter of a skill's `run` entry point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// How a skill's `run` is declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillSignature {
    /// `async def run` rather than `def run`.
    pub is_async: bool,
    /// Parameters in declaration order.
    pub params: Vec<Param>,
    /// The module docstring, else `run`'s docstring, else empty.
    pub docstring: String,
}

/// What is known about a skill without its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillInfo {
    /// The skill's name, a Python identifier.
    pub name: String,
    /// Given at creation, else the module docstring, else `run`'s docstring.
    pub description: String,
    /// Parameters of `run`.
    pub params: Vec<Param>,
    /// Whether `run` is `async def`.
    pub is_async: bool,
}

/// A skill with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    /// Its description and signature.
    #[serde(flatten)]
    pub info: SkillInfo,
    /// Its Python source.
    pub source: String,
}

/// How a search ranked its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Embeddings (all-MiniLM-L6-v2), plus a boost for name matches.
    Semantic,
    /// BM25 over names, descriptions and sources: the model is not installed.
    Keyword,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkillMatch {
    /// The skill.
    #[serde(flatten)]
    pub info: SkillInfo,
    /// Higher is better; comparable within one search only.
    pub score: f32,
}

/// The outcome of [`SkillLibrary::search`](crate::skills::SkillLibrary::search).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// How the results were ranked.
    pub mode: SearchMode,
    /// Said once per process when search falls back to keywords.
    pub notice: Option<String>,
    /// Best first.
    pub matches: Vec<SkillMatch>,
}
