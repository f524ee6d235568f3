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
    /// Whether its examples passed when they last ran.
    pub verified: Verified,
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
    /// `true` or `false`: whether its examples passed when they last ran;
    /// `"never"`: it has no examples, or they never ran.
    #[serde(default)]
    #[cfg_attr(feature = "mcp-server", schemars(with = "Value"))]
    verified: Verified,
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
            verified: info.verified,
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
            verified: listed.verified,
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
    /// The examples it is verified against (empty: it has none).
    #[serde(default)]
    pub examples: Vec<SkillExample>,
    /// How its examples last ran; `None` when they never did.
    #[serde(default)]
    pub verification: Option<Verification>,
}

/// Most examples one skill keeps.
pub const MAX_EXAMPLES: usize = 16;

/// Most bytes of one example's `args` and `expect`, as JSON.
pub const MAX_EXAMPLE_BYTES: usize = 16 * 1024;

/// Deepest nesting of arrays and objects in an example's `args` or `expect`.
pub const MAX_EXAMPLE_DEPTH: usize = 32;

/// One example a skill must pass to be saved: `run(**args)` returns `expect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SkillExample {
    /// Keyword arguments for `run`.
    #[serde(default)]
    pub args: serde_json::Map<String, Value>,
    /// What `run` must return, compared as JSON (`1` equals `1.0`).
    pub expect: Value,
}

/// Why an example is not acceptable (before anything runs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidExamples(pub String);

impl SkillExample {
    /// Checks `examples` against [`MAX_EXAMPLES`], [`MAX_EXAMPLE_BYTES`] and
    /// [`MAX_EXAMPLE_DEPTH`]: they come from agents, and every one of them runs.
    pub fn check_all(examples: &[SkillExample]) -> Result<(), InvalidExamples> {
        if examples.len() > MAX_EXAMPLES {
            return Err(InvalidExamples(format!(
                "{} examples given; a skill keeps at most {MAX_EXAMPLES}",
                examples.len()
            )));
        }
        for (i, example) in examples.iter().enumerate() {
            let n = i + 1;
            for (what, value) in [("args", &Value::Object(example.args.clone())), ("expect", &example.expect)] {
                if depth(value) > MAX_EXAMPLE_DEPTH {
                    return Err(InvalidExamples(format!(
                        "example {n}: its {what} nest deeper than {MAX_EXAMPLE_DEPTH} levels"
                    )));
                }
            }
            let size = serde_json::to_string(&example.args).map_or(0, |t| t.len())
                + serde_json::to_string(&example.expect).map_or(0, |t| t.len());
            if size > MAX_EXAMPLE_BYTES {
                return Err(InvalidExamples(format!(
                    "example {n} is {size} bytes as JSON; at most {MAX_EXAMPLE_BYTES} are allowed"
                )));
            }
        }
        Ok(())
    }
}

/// How deeply arrays and objects nest in `value` (a scalar is 0). Iterative, so a
/// hostile depth cannot overflow the host's stack.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, level)) = stack.pop() {
        deepest = deepest.max(level);
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, level + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    deepest
}

/// The outcome of a skill's examples when they last ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct Verification {
    /// Whether every example passed.
    pub passed: bool,
    /// When they ran, ISO-8601 UTC.
    pub at: String,
    /// How many examples ran.
    pub examples: u32,
    /// One line per failed example: which, and the difference or the error.
    #[serde(default)]
    pub failures: Vec<String>,
}

/// Whether a skill's examples passed: listed as `true`, `false` or `"never"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verified {
    /// Every example passed when they last ran.
    Passed,
    /// An example failed when they last ran.
    Failed,
    /// It has no examples, or they never ran.
    #[default]
    Never,
}

impl Verified {
    /// What `verification` says.
    pub fn of(verification: Option<&Verification>) -> Self {
        match verification {
            Some(v) if v.passed => Verified::Passed,
            Some(_) => Verified::Failed,
            None => Verified::Never,
        }
    }
}

impl Serialize for Verified {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Verified::Passed => serializer.serialize_bool(true),
            Verified::Failed => serializer.serialize_bool(false),
            Verified::Never => serializer.serialize_str("never"),
        }
    }
}

impl<'de> Deserialize<'de> for Verified {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Bool(true) => Ok(Verified::Passed),
            Value::Bool(false) => Ok(Verified::Failed),
            Value::String(s) if s == "never" => Ok(Verified::Never),
            other => Err(serde::de::Error::custom(format!("verified is true, false or \"never\", not {other}"))),
        }
    }
}

/// One skill as `skills.test` found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct SkillTest {
    /// The skill's name.
    pub name: String,
    /// `true` if every example passed, `false` if one failed, `"never"` if none ran.
    #[cfg_attr(feature = "mcp-server", schemars(with = "Value"))]
    pub verified: Verified,
    /// How many examples it has.
    pub examples: u32,
    /// One line per failed example (the first failure stops the run).
    pub failures: Vec<String>,
    /// Why its examples did not run, when they did not (no examples, not runnable
    /// in this session, the run's budget spent).
    pub skipped: Option<String>,
}

/// What `skills.test` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct TestReport {
    /// Every skill looked at, by name.
    pub results: Vec<SkillTest>,
    /// Skills whose examples all passed.
    pub passed: u32,
    /// Skills with a failed example.
    pub failed: u32,
    /// Skills whose examples did not run.
    pub skipped: u32,
    /// Whether the results were stored with the skills (only an unrestricted
    /// session's are: a narrower one's view of the tools is not everyone's).
    pub recorded: bool,
    /// `3 passed, 1 failed, 2 skipped` and the like.
    pub summary: String,
}

impl TestReport {
    /// The report of `results`, counted; `recorded` says whether they were stored.
    pub fn new(results: Vec<SkillTest>, recorded: bool) -> Self {
        let count = |v: Verified| {
            u32::try_from(results.iter().filter(|r| r.skipped.is_none() && r.verified == v).count()).unwrap_or(u32::MAX)
        };
        let (passed, failed) = (count(Verified::Passed), count(Verified::Failed));
        let skipped = u32::try_from(results.iter().filter(|r| r.skipped.is_some()).count()).unwrap_or(u32::MAX);
        let summary = format!("{passed} passed, {failed} failed, {skipped} skipped");
        Self { results, passed, failed, skipped, recorded, summary }
    }
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
            verified: Verified::Never,
        };
        let listed = serde_json::to_value(&info).unwrap();
        assert_eq!(
            listed,
            json!({"name": "scan", "description": "Scan", "is_async": true, "needs": {"tools": [], "skills": []}, "unavailable": null, "verified": "never", "parameters": [
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

#[cfg(test)]
mod example_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn verified_is_true_false_or_never() {
        for (v, j) in
            [(Verified::Passed, json!(true)), (Verified::Failed, json!(false)), (Verified::Never, json!("never"))]
        {
            assert_eq!(serde_json::to_value(v).unwrap(), j);
            assert_eq!(serde_json::from_value::<Verified>(j).unwrap(), v);
        }
        assert!(serde_json::from_value::<Verified>(json!("yes")).is_err());
    }

    #[test]
    fn examples_are_capped_in_count_size_and_depth() {
        let one = SkillExample { args: serde_json::Map::new(), expect: json!(1) };
        assert!(SkillExample::check_all(&vec![one.clone(); MAX_EXAMPLES]).is_ok());
        assert!(SkillExample::check_all(&vec![one.clone(); MAX_EXAMPLES + 1]).is_err());
        let big = SkillExample { expect: json!("x".repeat(MAX_EXAMPLE_BYTES)), ..one.clone() };
        assert!(SkillExample::check_all(&[big]).unwrap_err().0.contains("bytes"));
        let mut deep = json!(1);
        for _ in 0..=MAX_EXAMPLE_DEPTH {
            deep = json!([deep]);
        }
        let deep = SkillExample { expect: deep, ..one };
        assert!(SkillExample::check_all(&[deep]).unwrap_err().0.contains("deeper"));
    }
}
