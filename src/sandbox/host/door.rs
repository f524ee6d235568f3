//! The data profile's door: one JSON framing of the same namespace calls the
//! component guest makes through its WIT imports, served by the same contexts.
//!
//! A request is `{"f": "<interface>.<function>", "a": [<arguments in WIT order>]}`
//! with the WIT names in snake case; the answer is `{"ok": <result>}` or
//! `{"err": {"kind": "<ErrorKind>", "message": "..."}}`. Records travel as the
//! bindings' own types (serde), so nothing here restates their fields; bytes
//! (artifact data) travel as base64.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Namespaces;
use crate::error_kind::ErrorKind;
use crate::sandbox::bindings::types::HostError;
use crate::sandbox::bindings::{artifacts, deps, skills, tools};

/// Answers one request from agent code (hostile: every argument is checked by
/// type here, and by the capability behind it as for the component guest).
/// `args` is the request's raw JSON array: it is parsed straight into the
/// function's typed parameters, never into a `Value` tree, which would cost the
/// host 16 times the request's size before its first element could be refused.
pub(crate) async fn dispatch(ns: &mut Namespaces, function: &str, args: &str) -> Value {
    match call(ns, function, args).await {
        Ok(value) => json!({ "ok": value }),
        Err(error) => json!({ "err": error }),
    }
}

type Answer = Result<Value, HostError>;

async fn call(ns: &mut Namespaces, function: &str, args: &str) -> Answer {
    match function {
        "tools.list_tools" => ok(tools::Host::list_tools(&mut ns.tools).await),
        "tools.search_tools" => {
            let (query, limit) = parse(args)?;
            ok(tools::Host::search_tools(&mut ns.tools, query, limit).await?)
        }
        "tools.call_tool" => {
            let (tool, callable, args_json) = parse(args)?;
            ok(tools::Host::call_tool(&mut ns.tools, tool, callable, args_json).await?)
        }
        "tools.describe_tools" => ok(tools::Host::describe_tools(&mut ns.tools).await),
        "skills.list_skills" => ok(skills::Host::list_skills(&mut ns.skills).await?),
        "skills.search_skills" => {
            let (query, limit) = parse(args)?;
            ok(skills::Host::search_skills(&mut ns.skills, query, limit).await?)
        }
        "skills.get_skill" => {
            let (name,) = parse(args)?;
            ok(skills::Host::get_skill(&mut ns.skills, name).await?)
        }
        "skills.get_skill_to_run" => {
            let (name,) = parse(args)?;
            ok(skills::Host::get_skill_to_run(&mut ns.skills, name).await?)
        }
        "skills.create_skill" => {
            let (name, source, description, examples_json) = parse(args)?;
            ok(skills::Host::create_skill(&mut ns.skills, name, source, description, examples_json).await?)
        }
        "skills.test_skills" => {
            let (name,) = parse(args)?;
            ok(skills::Host::test_skills(&mut ns.skills, name).await?)
        }
        "skills.delete_skill" => {
            let (name,) = parse(args)?;
            ok(skills::Host::delete_skill(&mut ns.skills, name).await?)
        }
        "skills.skill_history" => {
            let (name,) = parse(args)?;
            ok(skills::Host::skill_history(&mut ns.skills, name).await?)
        }
        "skills.rollback_skill" => {
            let (name, version) = parse(args)?;
            ok(skills::Host::rollback_skill(&mut ns.skills, name, version).await?)
        }
        "skills.describe_skills" => ok(skills::Host::describe_skills(&mut ns.skills).await?),
        "artifacts.save_artifact" => {
            let (name, data, kind, description, metadata_json): (String, String, artifacts::DataKind, String, String) =
                parse(args)?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| invalid("artifact data must be base64"))?;
            ok(artifacts::Host::save_artifact(&mut ns.artifacts, name, data, kind, description, metadata_json).await?)
        }
        "artifacts.load_artifact" => {
            let (name,) = parse(args)?;
            let artifact = artifacts::Host::load_artifact(&mut ns.artifacts, name).await?;
            let data = base64::engine::general_purpose::STANDARD.encode(&artifact.data);
            Ok(json!({ "info": to_value(artifact.info)?, "data": data }))
        }
        "artifacts.get_artifact_info" => {
            let (name,) = parse(args)?;
            ok(artifacts::Host::get_artifact_info(&mut ns.artifacts, name).await?)
        }
        "artifacts.list_artifacts" => ok(artifacts::Host::list_artifacts(&mut ns.artifacts).await?),
        "artifacts.delete_artifact" => {
            let (name,) = parse(args)?;
            ok(artifacts::Host::delete_artifact(&mut ns.artifacts, name).await?)
        }
        "deps.add_dep" => {
            let (spec,) = parse(args)?;
            ok(deps::Host::add_dep(&mut ns.deps, spec).await?)
        }
        "deps.remove_dep" => {
            let (name,) = parse(args)?;
            ok(deps::Host::remove_dep(&mut ns.deps, name).await?)
        }
        "deps.list_deps" => ok(deps::Host::list_deps(&mut ns.deps).await?),
        "deps.sync_deps" => ok(deps::Host::sync_deps(&mut ns.deps).await?),
        _ => Err(invalid(format!("no host function {}", crate::text::shown(function)))),
    }
}

fn ok(value: impl serde::Serialize) -> Answer {
    to_value(value)
}

fn to_value(value: impl serde::Serialize) -> Answer {
    serde_json::to_value(value).map_err(|e| HostError::new(ErrorKind::Failed, e.to_string()))
}

/// The arguments as the function's parameter tuple: the count and every type must match.
fn parse<T: DeserializeOwned>(args: &str) -> Result<T, HostError> {
    serde_json::from_str(args).map_err(|e| invalid(format!("bad arguments: {e}")))
}

fn invalid(message: impl Into<String>) -> HostError {
    HostError::new(ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::sandbox::Capabilities;

    #[tokio::test]
    async fn answers_errors_for_hostile_frames_and_not_configured_namespaces() {
        let mut ns = Namespaces::new(Capabilities::default(), &crate::sandbox::journal::Tape::off());
        let unknown = dispatch(&mut ns, "os.system", r#"["ls"]"#).await;
        assert_eq!(unknown["err"]["kind"], "InvalidInput", "{unknown}");
        let arity = dispatch(&mut ns, "tools.call_tool", r#"["x"]"#).await;
        assert_eq!(arity["err"]["kind"], "InvalidInput", "{arity}");
        let types = dispatch(&mut ns, "tools.search_tools", r#"["q", -1]"#).await;
        assert_eq!(types["err"]["kind"], "InvalidInput", "{types}");
        let missing = dispatch(&mut ns, "skills.list_skills", "[]").await;
        assert_eq!(missing["err"]["kind"], "NotConfigured", "{missing}");
        let tools = dispatch(&mut ns, "tools.list_tools", "[]").await;
        assert_eq!(tools["ok"], json!([]), "{tools}");
        // The run's tool-call budget applies to the door as to the WIT import.
        let args = r#"["nope", null, "{}"]"#;
        let spent = dispatch(&mut ns, "tools.call_tool", args).await;
        assert_eq!(spent["err"]["kind"], "LimitExceeded", "{spent}");
        ns.tools.begin_run(1);
        let call = dispatch(&mut ns, "tools.call_tool", args).await;
        // A huge argument list is refused by its type, not built in memory first.
        let huge = format!("[{}0]", "0,".repeat(1 << 20));
        let refused = dispatch(&mut ns, "skills.get_skill", &huge).await;
        assert_eq!(refused["err"]["kind"], "InvalidInput", "{refused}");
        assert_eq!(call["err"]["kind"], "NotFound", "{call}");
    }
}
