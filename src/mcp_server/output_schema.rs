//! Each MCP tool's `outputSchema`: the JSON Schema of the [`Response`] variant its
//! operation answers with, as serialised, so clients (the Python SDK among them)
//! can check and type the structured content.
//!
//! The schemas come from one schemars pass over [`Response`], whose variants carry
//! titles; a tool's schema is its variant with the definitions it reaches. Shrinking
//! a result for the model ([`super::output`]) keeps its shape, so a cut result
//! still matches.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use rmcp::model::JsonObject;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::model::ops::Response;

/// The [`Response`] variant (its schemars title) that operation `op` answers with.
fn variant_of(op: &str) -> Option<&'static str> {
    Some(match op {
        "run" | "invoke_skill" => "Run",
        "reset" => "Reset",
        "list_tools" | "search_tools" => "Tools",
        "list_skills" => "Skills",
        "search_skills" => "SkillSearch",
        "create_skill" => "SkillCreated",
        "get_skill" => "Skill",
        "skill_history" => "SkillHistory",
        "rollback_skill" => "SkillRolledBack",
        "test_skills" => "SkillsTested",
        "list_artifacts" => "Artifacts",
        "load_artifact" => "Artifact",
        "save_artifact" => "ArtifactSaved",
        "delete_skill" | "delete_artifact" => "Deleted",
        "list_deps" => "Deps",
        "add_dep" => "DepAdded",
        "remove_dep" => "DepRemoved",
        "sync_deps" => "DepsSynced",
        "describe" => "Described",
        _ => return None,
    })
}

/// Every variant's schema by title, computed once per process.
static SCHEMAS: LazyLock<HashMap<String, Arc<JsonObject>>> = LazyLock::new(variant_schemas);

/// The output schema of operation `op`'s tool; `None` for an operation without one.
pub(crate) fn output_schema(op: &str) -> Option<Arc<JsonObject>> {
    SCHEMAS.get(variant_of(op)?).cloned()
}

fn variant_schemas() -> HashMap<String, Arc<JsonObject>> {
    let generator = SchemaSettings::draft2020_12().for_serialize().into_generator();
    let root = serde_json::to_value(generator.into_root_schema_for::<Response>()).unwrap_or(Value::Null);
    let defs = root.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    let variants = root.get("anyOf").and_then(Value::as_array).cloned().unwrap_or_default();
    variants
        .into_iter()
        .filter_map(|variant| {
            let Value::Object(mut variant) = variant else { return None };
            let title = variant.get("title")?.as_str()?.to_owned();
            // A newtype variant is a `$ref`: inline it, since MCP wants an object schema at the root.
            if let Some(target) = variant.get("$ref").and_then(Value::as_str).and_then(def_name) {
                let mut inlined = defs.get(target)?.as_object()?.clone();
                inlined.insert("title".into(), Value::String(title.clone()));
                variant = inlined;
            }
            let reached = reachable(&Value::Object(variant.clone()), &defs);
            if !reached.is_empty() {
                let used = reached.into_iter().filter_map(|name| Some((name.clone(), defs.get(&name)?.clone())));
                variant.insert("$defs".into(), Value::Object(used.collect()));
            }
            Some((title, Arc::new(variant)))
        })
        .collect()
}

/// `X` of a `#/$defs/X` reference.
fn def_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/$defs/")
}

/// The definitions `schema` refers to, directly or through other definitions.
fn reachable(schema: &Value, defs: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![schema];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => {
                if let Some(name) = map.get("$ref").and_then(Value::as_str).and_then(def_name)
                    && found.insert(name.to_owned())
                    && let Some(def) = defs.get(name)
                {
                    pending.push(def);
                }
                pending.extend(map.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::Request;

    #[test]
    fn every_operation_has_an_object_schema_whose_references_resolve() {
        for op in Request::NAMES {
            let schema = output_schema(op).unwrap_or_else(|| panic!("{op} has no output schema"));
            assert_eq!(schema.get("type"), Some(&Value::from("object")), "{op}: {schema:?}");
            let defs = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
            for name in reachable(&Value::Object((*schema).clone()), &defs) {
                assert!(defs.contains_key(&name), "{op}: #/$defs/{name} is not in the schema");
            }
        }
    }
}
