//! The agent-facing API as data: one [`Request`] per operation, one [`Response`]
//! per kind of answer, and [`Operations`], the trait every executor and client
//! implements with one method, [`Operations::call`].
//!
//! The same types travel on every surface: the Rust API, `POST /v1/call` on
//! `codemode serve` (which the remote executor speaks), the MCP tools and the CLI.
//! An operation added here is served by all of them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::describe::Scope;
use super::{
    ArtifactInfo, DataKind, RunResult, SearchResults, Skill, SkillExample, SkillInfo, SkillVersion, TestReport,
    ToolInfo,
};

/// Arguments of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// What is needed, in plain words.
    pub query: String,
    /// How many results at most (default 10, at most 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

impl Search {
    /// The number of results asked for, within bounds.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(10).clamp(1, 100) as usize
    }
}

/// An operation on one named thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Named {
    /// The name.
    pub name: String,
}

/// Arguments of [`Request::Run`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunCode {
    /// Python source; the value of a final expression is returned.
    pub code: String,
    /// Seconds before the run is stopped (at most the session's own timeout).
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// Arguments of [`Request::InvokeSkill`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InvokeSkill {
    /// The skill's name.
    pub name: String,
    /// Keyword arguments for its `run`.
    #[serde(default)]
    pub args: Map<String, Value>,
}

/// Arguments of [`Request::CreateSkill`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSkill {
    /// A Python identifier.
    pub name: String,
    /// A module defining `def run(...)` or `async def run(...)`.
    pub source: String,
    /// One line saying what it does (default: the docstring).
    #[serde(default)]
    pub description: Option<String>,
    /// Examples `[{"args": {...}, "expect": value}]` (at most 16): each runs in a
    /// fresh interpreter before the skill is saved, and one that raises or returns
    /// anything but `expect` refuses the save.
    #[serde(default)]
    pub examples: Vec<SkillExample>,
}

/// Arguments of [`Request::TestSkills`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TestSkills {
    /// The skill to test; every skill when absent.
    #[serde(default)]
    pub name: Option<String>,
}

/// Arguments of [`Request::RollbackSkill`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackSkill {
    /// The skill's name.
    pub name: String,
    /// The version to restore, as its history numbers it.
    pub version: u32,
}

/// Arguments of [`Request::SaveArtifact`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SaveArtifact {
    /// The artifact's name; sub-paths like `scans/a.json` are allowed.
    pub name: String,
    /// The data: any JSON for `json`, a string for `text`, base64 for `bytes`.
    pub data: Value,
    /// How it is read back (default: `text` for a string, else `json`).
    #[serde(default)]
    pub kind: Option<DataKind>,
    /// Free text for listings.
    #[serde(default)]
    pub description: String,
    /// A JSON object kept with it.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// Arguments of [`Request::Describe`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Describe {
    /// `tools`, `skills` or `all` (the default).
    #[serde(default)]
    pub what: Option<Scope>,
}

/// Arguments of [`Request::AddDep`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AddDep {
    /// A requirement such as `tabulate` or `tabulate==0.10.0` (py-code-mode calls it `package`).
    #[serde(alias = "package")]
    pub spec: String,
}

/// Arguments of [`Request::RemoveDep`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RemoveDep {
    /// The package's name (py-code-mode calls it `package`).
    #[serde(alias = "package")]
    pub name: String,
}

/// What an install did, with py-code-mode's keys: every requirement asked for is
/// in exactly one list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct DepsInstalled {
    /// Installed (or changed version) now.
    pub installed: Vec<String>,
    /// The same version was installed already.
    pub already_present: Vec<String>,
    /// pip could not install these; `errors` says why.
    pub failed: Vec<String>,
    /// Why each failed requirement failed, in `failed`'s order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl DepsInstalled {
    /// Whether nothing was asked for (no requirement in any list).
    pub fn is_empty(&self) -> bool {
        self.installed.is_empty() && self.already_present.is_empty() && self.failed.is_empty()
    }
}

/// What a removal did, with py-code-mode's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct DepsRemoved {
    /// Uninstalled from the packages directory.
    pub removed: Vec<String>,
    /// Not installed there.
    pub not_found: Vec<String>,
    /// Could not be uninstalled (the host log says why).
    pub failed: Vec<String>,
    /// Whether the package was recorded (and now is not).
    pub removed_from_config: bool,
}

/// One operation of the API. Serialised with its name under `op` and its arguments
/// beside it: `{"op": "get_skill", "name": "word_count"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// Runs Python in the session's interpreter.
    Run(RunCode),
    /// Runs a saved skill in the session, as `skills.<name>(**args)` would.
    InvokeSkill(InvokeSkill),
    /// Replaces the session's interpreter with a fresh one.
    Reset,
    /// Every tool with its callables.
    ListTools,
    /// The tools best matching a query.
    SearchTools(Search),
    /// Every stored skill.
    ListSkills,
    /// The skills best matching a query, by meaning.
    SearchSkills(Search),
    /// One skill with its source.
    GetSkill(Named),
    /// Validates and stores a skill, replacing one of the same name.
    CreateSkill(CreateSkill),
    /// Deletes a skill and its history.
    DeleteSkill(Named),
    /// A skill's versions, oldest first, the current one last.
    SkillHistory(Named),
    /// Restores an earlier version of a skill as its new current version.
    RollbackSkill(RollbackSkill),
    /// Runs the examples of one skill, or of every skill, again.
    TestSkills(TestSkills),
    /// Every stored artifact.
    ListArtifacts,
    /// One artifact's data and info.
    LoadArtifact(Named),
    /// Stores an artifact, replacing one of the same name.
    SaveArtifact(SaveArtifact),
    /// Deletes an artifact.
    DeleteArtifact(Named),
    /// The recorded packages.
    ListDeps,
    /// Records and installs a pure-Python package.
    AddDep(AddDep),
    /// Forgets and uninstalls a package.
    RemoveDep(RemoveDep),
    /// Installs every recorded package.
    SyncDeps,
    /// The tools and skills as a compact `.pyi`-style stub, for a model's prompt.
    Describe(Describe),
}

impl Request {
    /// Every operation's name, as `op` carries it.
    pub const NAMES: &'static [&'static str] = &[
        "run",
        "invoke_skill",
        "reset",
        "list_tools",
        "search_tools",
        "list_skills",
        "search_skills",
        "get_skill",
        "create_skill",
        "delete_skill",
        "skill_history",
        "rollback_skill",
        "test_skills",
        "list_artifacts",
        "load_artifact",
        "save_artifact",
        "delete_artifact",
        "list_deps",
        "add_dep",
        "remove_dep",
        "sync_deps",
        "describe",
    ];

    /// The operation's name, as `op` carries it.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Run(_) => "run",
            Request::InvokeSkill(_) => "invoke_skill",
            Request::Reset => "reset",
            Request::ListTools => "list_tools",
            Request::SearchTools(_) => "search_tools",
            Request::ListSkills => "list_skills",
            Request::SearchSkills(_) => "search_skills",
            Request::GetSkill(_) => "get_skill",
            Request::CreateSkill(_) => "create_skill",
            Request::DeleteSkill(_) => "delete_skill",
            Request::SkillHistory(_) => "skill_history",
            Request::RollbackSkill(_) => "rollback_skill",
            Request::TestSkills(_) => "test_skills",
            Request::ListArtifacts => "list_artifacts",
            Request::LoadArtifact(_) => "load_artifact",
            Request::SaveArtifact(_) => "save_artifact",
            Request::DeleteArtifact(_) => "delete_artifact",
            Request::ListDeps => "list_deps",
            Request::AddDep(_) => "add_dep",
            Request::RemoveDep(_) => "remove_dep",
            Request::SyncDeps => "sync_deps",
            Request::Describe(_) => "describe",
        }
    }

    /// Whether it needs a session's interpreter (the others only reach storage and tools).
    pub fn needs_interpreter(&self) -> bool {
        matches!(self, Request::Run(_) | Request::InvokeSkill(_) | Request::Reset)
    }

    /// The request named `op` with the arguments in `args` (a JSON object, or null
    /// for none), as an MCP `tools/call` or the CLI's `codemode call` gives them.
    pub fn from_parts(op: &str, args: Option<Map<String, Value>>) -> Result<Self, serde_json::Error> {
        let mut object = args.unwrap_or_default();
        object.insert("op".to_owned(), Value::String(op.to_owned()));
        serde_json::from_value(Value::Object(object))
    }
}

/// What an operation answers. Every variant is a JSON object with a key no other
/// variant requires, so an answer read back is unambiguous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(untagged)]
#[non_exhaustive]
pub enum Response {
    /// A run's outcome ([`Request::Run`], [`Request::InvokeSkill`]).
    #[cfg_attr(feature = "mcp-server", schemars(title = "Run"))]
    Run(RunResult),
    /// The session was reset.
    #[cfg_attr(feature = "mcp-server", schemars(title = "Reset"))]
    Reset {
        /// Always `true`.
        reset: bool,
    },
    /// Tools ([`Request::ListTools`], [`Request::SearchTools`]).
    #[cfg_attr(feature = "mcp-server", schemars(title = "Tools"))]
    Tools {
        /// Best first for a search.
        tools: Vec<ToolInfo>,
    },
    /// Skill infos ([`Request::ListSkills`]).
    #[cfg_attr(feature = "mcp-server", schemars(title = "Skills"))]
    Skills {
        /// In name order.
        skills: Vec<SkillInfo>,
    },
    /// A skill search's results.
    #[cfg_attr(feature = "mcp-server", schemars(title = "SkillSearch"))]
    SkillSearch(SearchResults),
    /// A stored skill was created or replaced: flat, as py-code-mode's
    /// `create_skill` answered (`{name, description, parameters, source}`), plus
    /// `is_async` and `replaced`.
    #[cfg_attr(feature = "mcp-server", schemars(title = "SkillCreated"))]
    SkillCreated {
        /// What was stored.
        #[serde(flatten)]
        skill: Skill,
        /// Whether one of that name was replaced.
        replaced: bool,
    },
    /// A skill's versions ([`Request::SkillHistory`]).
    #[cfg_attr(feature = "mcp-server", schemars(title = "SkillHistory"))]
    SkillHistory {
        /// Oldest first, the current one last.
        versions: Vec<SkillVersion>,
    },
    /// A version was restored ([`Request::RollbackSkill`]).
    #[cfg_attr(feature = "mcp-server", schemars(title = "SkillRolledBack"))]
    SkillRolledBack {
        /// The skill as it now is.
        #[serde(flatten)]
        skill: Skill,
        /// The version restored.
        rolled_back_to: u32,
        /// Its number as the new current version.
        version: u32,
    },
    /// How skills' examples ran ([`Request::TestSkills`]).
    #[cfg_attr(feature = "mcp-server", schemars(title = "SkillsTested"))]
    SkillsTested(TestReport),
    /// One skill with its source.
    #[cfg_attr(feature = "mcp-server", schemars(title = "Skill"))]
    Skill(Skill),
    /// Artifact infos.
    #[cfg_attr(feature = "mcp-server", schemars(title = "Artifacts"))]
    Artifacts {
        /// In name order.
        artifacts: Vec<ArtifactInfo>,
    },
    /// An artifact's data (JSON as is, text as a string, bytes as base64) and info.
    #[cfg_attr(feature = "mcp-server", schemars(title = "Artifact"))]
    Artifact {
        /// Its info.
        info: ArtifactInfo,
        /// Its data.
        data: Value,
    },
    /// An artifact was stored.
    #[cfg_attr(feature = "mcp-server", schemars(title = "ArtifactSaved"))]
    ArtifactSaved {
        /// What was stored.
        saved: ArtifactInfo,
    },
    /// Whether a skill or an artifact was deleted.
    #[cfg_attr(feature = "mcp-server", schemars(title = "Deleted"))]
    Deleted {
        /// `false`: there was none.
        deleted: bool,
    },
    /// The recorded packages ([`Request::ListDeps`]).
    #[cfg_attr(feature = "mcp-server", schemars(title = "Deps"))]
    Deps {
        /// Requirement specs.
        deps: Vec<String>,
    },
    /// A package was recorded and installed (`installed` or `already_present`).
    #[cfg_attr(feature = "mcp-server", schemars(title = "DepAdded"))]
    DepAdded {
        /// The requirement as recorded.
        added: String,
        /// What pip did, with py-code-mode's keys.
        #[serde(flatten)]
        report: DepsInstalled,
    },
    /// A package was forgotten and uninstalled, with py-code-mode's keys.
    #[cfg_attr(feature = "mcp-server", schemars(title = "DepRemoved"))]
    DepRemoved(DepsRemoved),
    /// Every configured package was installed (py-code-mode's keys).
    #[cfg_attr(feature = "mcp-server", schemars(title = "DepsSynced"))]
    DepsSynced(DepsInstalled),
    /// The `.pyi`-style stub ([`Request::Describe`]).
    #[cfg_attr(feature = "mcp-server", schemars(title = "Described"))]
    Described {
        /// Python stub text.
        stub: String,
    },
}

/// An answer of the wrong kind for its request (a server answering out of turn).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer to {op} was of another kind")]
pub struct UnexpectedResponse {
    /// The operation that was answered.
    pub op: &'static str,
}

/// Unwraps the one variant a request's answer must be.
macro_rules! expect {
    ($self:ident, $request:expr, $pattern:pat => $out:expr) => {{
        let request = $request;
        let op = request.name();
        match $self.call(request).await? {
            $pattern => Ok($out),
            _ => Err(UnexpectedResponse { op }.into()),
        }
    }};
}

/// The agent-facing API: one [`call`](Self::call) per [`Request`], and the same
/// operations as typed methods on top of it. Implemented by
/// [`Session`](crate::Session) (in process or on a server), by the remote clients,
/// and by [`Services`](crate::session::Services) (everything but running code).
#[async_trait::async_trait]
pub trait Operations: Send + Sync {
    /// Why an operation failed.
    type Error: From<UnexpectedResponse> + Send;

    /// Performs one operation.
    async fn call(&self, request: Request) -> Result<Response, Self::Error>;

    /// Runs skill `name` with keyword arguments in the session's interpreter.
    async fn invoke_skill(&self, name: &str, args: &Map<String, Value>) -> Result<RunResult, Self::Error> {
        let request = Request::InvokeSkill(InvokeSkill { name: name.to_owned(), args: args.clone() });
        expect!(self, request, Response::Run(result) => result)
    }

    /// Every tool, with its callables and typed parameters.
    async fn list_tools(&self) -> Result<Vec<ToolInfo>, Self::Error> {
        expect!(self, Request::ListTools, Response::Tools { tools } => tools)
    }

    /// The `limit` tools that best match `query`, best first.
    async fn search_tools(&self, query: &str, limit: usize) -> Result<Vec<ToolInfo>, Self::Error> {
        let request = Request::SearchTools(search(query, limit));
        expect!(self, request, Response::Tools { tools } => tools)
    }

    /// Every stored skill.
    async fn list_skills(&self) -> Result<Vec<SkillInfo>, Self::Error> {
        expect!(self, Request::ListSkills, Response::Skills { skills } => skills)
    }

    /// The `limit` skills that best match `query` by meaning, best first.
    async fn search_skills(&self, query: &str, limit: usize) -> Result<SearchResults, Self::Error> {
        let request = Request::SearchSkills(search(query, limit));
        expect!(self, request, Response::SkillSearch(results) => results)
    }

    /// One skill with its source.
    async fn get_skill(&self, name: &str) -> Result<Skill, Self::Error> {
        expect!(self, Request::GetSkill(named(name)), Response::Skill(skill) => skill)
    }

    /// Validates and stores a skill; returns its info and whether one was replaced.
    async fn create_skill(
        &self,
        name: &str,
        source: &str,
        description: Option<&str>,
    ) -> Result<(SkillInfo, bool), Self::Error> {
        let request = Request::CreateSkill(CreateSkill {
            name: name.to_owned(),
            source: source.to_owned(),
            description: description.map(str::to_owned),
            examples: Vec::new(),
        });
        expect!(self, request, Response::SkillCreated { skill, replaced } => (skill.info, replaced))
    }

    /// [`create_skill`](Self::create_skill) with examples that must pass before it
    /// is saved; returns the skill (with its verification) and whether one was replaced.
    async fn create_verified_skill(
        &self,
        name: &str,
        source: &str,
        description: Option<&str>,
        examples: &[SkillExample],
    ) -> Result<(Skill, bool), Self::Error> {
        let request = Request::CreateSkill(CreateSkill {
            name: name.to_owned(),
            source: source.to_owned(),
            description: description.map(str::to_owned),
            examples: examples.to_vec(),
        });
        expect!(self, request, Response::SkillCreated { skill, replaced } => (skill, replaced))
    }

    /// Runs the examples of the skill `name` again, or of every skill when `None`.
    async fn test_skills(&self, name: Option<&str>) -> Result<TestReport, Self::Error> {
        let request = Request::TestSkills(TestSkills { name: name.map(str::to_owned) });
        expect!(self, request, Response::SkillsTested(report) => report)
    }

    /// Deletes a skill; `false` if there was none.
    async fn delete_skill(&self, name: &str) -> Result<bool, Self::Error> {
        expect!(self, Request::DeleteSkill(named(name)), Response::Deleted { deleted } => deleted)
    }

    /// A skill's versions, oldest first, the current one last.
    async fn skill_history(&self, name: &str) -> Result<Vec<SkillVersion>, Self::Error> {
        expect!(self, Request::SkillHistory(named(name)), Response::SkillHistory { versions } => versions)
    }

    /// Restores version `version` of a skill as a new current version; returns the
    /// skill and its new version number.
    async fn rollback_skill(&self, name: &str, version: u32) -> Result<(Skill, u32), Self::Error> {
        let request = Request::RollbackSkill(RollbackSkill { name: name.to_owned(), version });
        expect!(self, request, Response::SkillRolledBack { skill, version, .. } => (skill, version))
    }

    /// Every stored artifact.
    async fn list_artifacts(&self) -> Result<Vec<ArtifactInfo>, Self::Error> {
        expect!(self, Request::ListArtifacts, Response::Artifacts { artifacts } => artifacts)
    }

    /// An artifact's data as JSON (text as a string, bytes as base64) and its info.
    async fn load_artifact(&self, name: &str) -> Result<(Value, ArtifactInfo), Self::Error> {
        expect!(self, Request::LoadArtifact(named(name)), Response::Artifact { info, data } => (data, info))
    }

    /// Stores an artifact (see [`SaveArtifact`] for how `data` is read).
    async fn save_artifact(&self, artifact: SaveArtifact) -> Result<ArtifactInfo, Self::Error> {
        expect!(self, Request::SaveArtifact(artifact), Response::ArtifactSaved { saved } => saved)
    }

    /// Deletes an artifact; `false` if there was none.
    async fn delete_artifact(&self, name: &str) -> Result<bool, Self::Error> {
        expect!(self, Request::DeleteArtifact(named(name)), Response::Deleted { deleted } => deleted)
    }

    /// The recorded packages.
    async fn list_deps(&self) -> Result<Vec<String>, Self::Error> {
        expect!(self, Request::ListDeps, Response::Deps { deps } => deps)
    }

    /// Installs a pure-Python package; returns the requirement as recorded.
    async fn add_dep(&self, spec: &str) -> Result<String, Self::Error> {
        expect!(self, Request::AddDep(AddDep { spec: spec.to_owned() }), Response::DepAdded { added, .. } => added)
    }

    /// Forgets and uninstalls a package; `false` if it was not recorded.
    async fn remove_dep(&self, name: &str) -> Result<bool, Self::Error> {
        let request = Request::RemoveDep(RemoveDep { name: name.to_owned() });
        expect!(self, request, Response::DepRemoved(removed) => removed.removed_from_config)
    }

    /// The tools and skills in `what` (default both) as a compact `.pyi`-style stub.
    async fn describe(&self, what: Option<Scope>) -> Result<String, Self::Error> {
        expect!(self, Request::Describe(Describe { what }), Response::Described { stub } => stub)
    }

    /// Installs every configured package; returns what pip did with each.
    async fn sync_deps(&self) -> Result<DepsInstalled, Self::Error> {
        expect!(self, Request::SyncDeps, Response::DepsSynced(report) => report)
    }
}

fn named(name: &str) -> Named {
    Named { name: name.to_owned() }
}

fn search(query: &str, limit: usize) -> Search {
    Search { query: query.to_owned(), limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_serde_writes() {
        for name in Request::NAMES {
            let args = match *name {
                "run" => serde_json::json!({"code": "1"}),
                "invoke_skill" | "get_skill" | "delete_skill" | "skill_history" | "load_artifact"
                | "delete_artifact" | "remove_dep" => {
                    serde_json::json!({"name": "x"})
                }
                "search_tools" | "search_skills" => serde_json::json!({"query": "x"}),
                "create_skill" => serde_json::json!({"name": "x", "source": "def run(): pass"}),
                "save_artifact" => serde_json::json!({"name": "x", "data": 1}),
                "add_dep" => serde_json::json!({"spec": "x"}),
                "rollback_skill" => serde_json::json!({"name": "x", "version": 1}),
                _ => serde_json::json!({}),
            };
            let request = Request::from_parts(name, args.as_object().cloned()).map_err(|e| format!("{name}: {e}"));
            assert_eq!(request.map(|r| r.name()), Ok(*name));
        }
    }

    #[test]
    fn deps_take_py_code_modes_argument_and_answer_with_its_keys() {
        for (op, key) in
            [("add_dep", "spec"), ("add_dep", "package"), ("remove_dep", "name"), ("remove_dep", "package")]
        {
            let args = serde_json::json!({ key: "six" });
            let request = Request::from_parts(op, args.as_object().cloned()).map_err(|e| format!("{op}({key}): {e}"));
            assert_eq!(request.map(|r| r.name()), Ok(op));
        }
        let both = serde_json::json!({"spec": "six", "package": "six"});
        assert!(Request::from_parts("add_dep", both.as_object().cloned()).is_err(), "one name, not two");

        let added = Response::DepAdded { added: "six".into(), report: DepsInstalled::default() };
        let removed = Response::DepRemoved(DepsRemoved::default());
        let synced = Response::DepsSynced(DepsInstalled::default());
        for (response, keys) in [
            (added, &["added", "installed", "already_present", "failed"][..]),
            (removed, &["removed", "not_found", "failed", "removed_from_config"][..]),
            (synced, &["installed", "already_present", "failed"][..]),
        ] {
            let json = serde_json::to_value(&response).unwrap_or_default();
            for key in keys {
                assert!(json.get(key).is_some(), "{key} missing in {json}");
            }
            // Read back as the same kind of answer (the remote executor does this).
            assert_eq!(serde_json::from_value::<Response>(json).ok(), Some(response));
        }
    }

    #[test]
    fn unknown_operations_and_arguments_are_refused() {
        assert!(Request::from_parts("format_disk", None).is_err());
        let extra = serde_json::json!({"name": "x", "path": "/etc"});
        assert!(Request::from_parts("get_skill", extra.as_object().cloned()).is_err());
    }
}
