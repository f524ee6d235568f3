//! Capabilities per session (issue 16 item 5): a session limited to some tools and
//! skills sees and reaches nothing else, through the guest's wrappers, its raw WIT
//! imports, and the operations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use codemode::model::{Allow, SkillExample};
use codemode::names::SkillName;
use codemode::storage::{FileStorage, Storage, StoredSkill};
use codemode::tools::ToolRegistry;
use codemode::{Operations, Session, SessionError};
use common::{run, value};
use serde_json::json;

/// Two host tools: `alpha` (allowed in these tests) and `beta` (not).
fn two_tools() -> ToolRegistry {
    let mut tools = ToolRegistry::default();
    for name in ["alpha", "beta"] {
        tools.add_fn(name, &format!("The {name} tool"), Vec::new(), move |_| async move { Ok(json!(name)) }).unwrap();
    }
    tools
}

/// A storage with `shown` (allowed), `hidden` (not) and `caller` (allowed, calls
/// the disallowed tool `beta`).
fn skills_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let skills = dir.path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    std::fs::write(skills.join("shown.py"), "\"\"\"Shown.\"\"\"\ndef run():\n    return 'shown'\n").unwrap();
    std::fs::write(skills.join("hidden.py"), "\"\"\"Hidden secret skill.\"\"\"\ndef run():\n    return 'hidden'\n")
        .unwrap();
    std::fs::write(
        skills.join("caller.py"),
        "\"\"\"Calls the other tool.\"\"\"\ndef run():\n    return tools.beta()\n",
    )
    .unwrap();
    dir
}

async fn restricted(dir: &std::path::Path) -> Session {
    Session::builder()
        .base_dir(dir)
        .tools(two_tools())
        .embeddings(false)
        .allow_tools(["alpha"])
        .allow_skills(["shown", "caller", "fresh"])
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowlisted_session_lists_and_describes_only_what_it_allows() {
    let dir = skills_dir();
    let s = restricted(dir.path()).await;
    let tools: Vec<String> = s.list_tools().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(tools, ["alpha"]);
    let found: Vec<String> = s.search_tools("beta tool", 10).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(found, ["alpha"]);
    let skills: Vec<String> = s.list_skills().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(skills, ["caller", "shown"]);
    let found = s.search_skills("hidden secret", 10).await.unwrap();
    assert!(found.matches.iter().all(|m| m.info.name != "hidden"), "{found:?}");
    let stub = s.describe(None).await.unwrap();
    assert!(stub.contains("alpha") && stub.contains("shown"), "{stub}");
    // `beta` is named only as what `caller` needs (as its listing says), never offered.
    assert!(!stub.contains("class beta") && !stub.contains("hidden"), "{stub}");

    // The same through the guest's wrappers and its raw imports.
    let code = r#"
from wit_world.imports import tools as t, skills as k
(
    [x.name for x in tools.list()], [x.name for x in skills.list()],
    [x.name for x in t.list_tools()], [x.name for x in k.list_skills()],
    [m.info.name for m in t.search_tools("beta", 10)], [m.info.name for m in k.search_skills("hidden", 10).matches],
    "beta" in tools.describe() + t.describe_tools(), "hidden" in skills.describe() + k.describe_skills(),
    sorted(dir(tools)), sorted(dir(skills)),
)
"#;
    assert_eq!(
        value(&run(&s, code).await),
        json!([
            ["alpha"],
            ["caller", "shown"],
            ["alpha"],
            ["caller", "shown"],
            ["alpha"],
            [],
            false,
            false,
            ["alpha"],
            ["caller", "shown"]
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowlisted_session_cannot_reach_anything_else() {
    let dir = skills_dir();
    let s = restricted(dir.path()).await;
    // Wrappers: refused as absent, naming what was asked for.
    let code = r#"
out = []
for attempt in (lambda: tools.beta(), lambda: tools.call("beta"), lambda: skills.hidden(),
                lambda: skills.invoke("hidden"), lambda: skills.get("hidden"), lambda: skills.caller()):
    try:
        out.append(["ok", attempt()])
    except Exception as e:
        out.append([type(e).__name__, "beta" in str(e) or "hidden" in str(e)])
out
"#;
    let r = run(&s, code).await;
    let out = value(&r);
    assert_eq!(out[0][0], "AttributeError", "{out}");
    assert_eq!(out[2][0], "AttributeError", "{out}");
    assert_eq!(out[3], json!(["SkillNotFoundError", true]), "{out}");
    // `skills.get` answers None for a skill it cannot see, as for a missing one.
    assert_eq!(out[4], json!(["ok", null]), "{out}");
    // An allowed skill calling a disallowed tool is refused up front (its needs)...
    assert_eq!(out[5], json!(["SkillError", true]), "{out}");
    // ... and, where its source hides the name, at the tool call, by the host.
    let sneaky =
        "def run():\n    from wit_world.imports import tools as t\n    return t.call_tool('be' + 'ta', None, '{}')\n";
    s.create_skill("fresh", sneaky, None).await.unwrap();
    let r = run(&s, "skills.fresh()").await;
    let error = r.error.expect("refused");
    assert!(error.message.contains("no tool named \"beta\""), "{error:?}");

    // Raw imports: the host refuses, whatever the guest's wrappers would have done.
    let code = r#"
from wit_world.imports import tools as t, skills as k
out = []
for attempt in (lambda: t.call_tool("beta", None, "{}"), lambda: t.call_tool("BETA", None, "{}"),
                lambda: t.call_tool("beta\u0301", None, "{}"), lambda: t.call_tool("alpha ", None, "{}"),
                lambda: k.get_skill("hidden"), lambda: k.delete_skill("hidden"),
                lambda: k.create_skill("hidden", "def run():\n    return 'replaced'\n", None, "[]"),
                lambda: k.create_skill("other", "def run():\n    return 1\n", None, "[]")):
    try:
        out.append(["ok", str(attempt())])
    except Exception as e:
        out.append([e.value.kind.name, e.value.message])
out.append(t.call_tool("alpha", None, "{}"))
out
"#;
    let out = value(&run(&s, code).await);
    let out = out.as_array().unwrap();
    for (i, asked) in [(0, "beta"), (1, "BETA"), (2, "beta\u{301}"), (3, "alpha ")] {
        assert_eq!(out[i][0], "NOT_FOUND", "{out:?}");
        let message = out[i][1].as_str().unwrap();
        assert!(message.contains(&format!("{asked:?}")) && message.contains("available: alpha"), "{message}");
    }
    assert_eq!(out[4], json!(["NOT_FOUND", "skill \"hidden\" not found"]));
    for i in [5, 6, 7] {
        assert_eq!(out[i][0], "DENIED", "{out:?}");
        assert!(out[i][1].as_str().unwrap().contains("not in this session's allowed skills"), "{out:?}");
    }
    assert_eq!(out[8], json!("\"alpha\""));
    // Nothing was written.
    assert!(std::fs::read_to_string(dir.path().join("skills/hidden.py")).unwrap().contains("'hidden'"));
    assert!(!dir.path().join("skills/other.py").exists());

    // The operations: the same refusals.
    assert!(matches!(s.get_skill("hidden").await, Err(SessionError::Skill(e)) if e.to_string().contains("hidden")));
    assert!(matches!(s.delete_skill("hidden").await, Err(SessionError::Skill(_))));
    let invoked = s.invoke_skill("hidden", &serde_json::Map::new()).await.unwrap();
    let error = invoked.error.expect("refused");
    assert!(error.message.contains("\"hidden\" not found"), "{error:?}");
    // Creating an allowed name is fine.
    s.create_skill("fresh", "def run():\n    return 'fresh'\n", None).await.unwrap();
    assert_eq!(value(&run(&s, "skills.fresh()").await), json!("fresh"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_cannot_widen_or_name_what_does_not_exist() {
    let dir = skills_dir();
    let path = dir.path().to_owned();
    let build = |b: codemode::SessionBuilder| {
        let path = path.clone();
        async move { b.base_dir(path).tools(two_tools()).build().await }
    };
    let widened = build(Session::builder().allow_tools(["alpha"]).allow_tools(["beta"])).await;
    assert!(
        matches!(&widened, Err(SessionError::InvalidAllow(e)) if e.to_string().contains("\"beta\"")),
        "{widened:?}"
    );
    let widened = build(Session::builder().allow_skills(["shown"]).allow_skills(["hidden"])).await;
    assert!(matches!(&widened, Err(SessionError::InvalidAllow(e)) if e.to_string().contains("\"hidden\"")));
    let unknown = build(Session::builder().allow_tools(["gamma"])).await;
    assert!(matches!(&unknown, Err(SessionError::InvalidAllow(e)) if e.to_string().contains("\"gamma\"")));
    let traversal = build(Session::builder().allow_skills(["../hidden"])).await;
    assert!(matches!(traversal, Err(SessionError::InvalidAllow(_))));
    // Narrowing is fine, and an empty list allows nothing.
    let none = build(Session::builder().allow(Allow { tools: Some(vec![]), skills: Some(vec![]) })).await.unwrap();
    assert!(none.list_tools().await.unwrap().is_empty());
    assert!(none.list_skills().await.unwrap().is_empty());
    let narrowed = build(Session::builder().allow_tools(["alpha", "beta"]).allow_tools(["beta"])).await.unwrap();
    assert_eq!(narrowed.list_tools().await.unwrap()[0].name, "beta");
}

/// What a skill needs (issue 16 item 3): recorded when saved, shown by `get`, and a
/// skill needing a tool or skill the session lacks is listed unavailable and
/// refused up front, naming what is missing.
#[tokio::test(flavor = "multi_thread")]
async fn a_skill_needing_what_the_session_lacks_is_unavailable_and_says_which() {
    let dir = skills_dir();
    let s = restricted(dir.path()).await;
    // `caller` calls `beta`, which this session does not allow.
    let listed = s.list_skills().await.unwrap();
    let caller = listed.iter().find(|i| i.name == "caller").unwrap();
    assert_eq!(caller.needs.tools, ["beta"]);
    assert_eq!(caller.unavailable.as_deref(), Some("this session has no tool \"beta\""));
    assert_eq!(listed.iter().find(|i| i.name == "shown").unwrap().unavailable, None);
    // The stub a model plans with says so too.
    let stub = s.describe(Some(codemode::model::describe::Scope::Skills)).await.unwrap();
    assert!(stub.contains(r#"(unavailable: this session has no tool \"beta\")"#), "{stub}");
    let invoked = s.invoke_skill("caller", &serde_json::Map::new()).await.unwrap();
    let error = invoked.error.expect("refused up front");
    assert_eq!(error.kind, "SkillError");
    assert_eq!(error.message, "skill 'caller' cannot run: this session has no tool \"beta\"");
    assert!(invoked.tool_calls.is_empty(), "nothing ran: {:?}", invoked.tool_calls);

    // Created from agent code: the needs come back from `create` and `get`.
    let code = r#"
src = "def run():\n    a = tools.alpha()\n    b = tools.alpha.x if False else None\n    return [a, skills.shown(), skills.invoke('hidden')]\n"
created = skills.create("fresh", src)
got = skills.get("fresh")
try:
    skills.fresh()
    raised = None
except Exception as e:
    raised = [type(e).__name__, str(e)]
created["needs"], got["needs"], got["unavailable"], raised
"#;
    let r = run(&s, code).await;
    assert_eq!(
        value(&r),
        json!([
            {"tools": ["alpha"], "skills": ["hidden", "shown"]},
            {"tools": ["alpha"], "skills": ["hidden", "shown"]},
            "this session has no skill \"hidden\"",
            ["SkillError", "skill 'fresh' cannot run: this session has no skill \"hidden\""]
        ]),
        "{r:?}"
    );
    // In a session that has everything, the same skills are available and run
    // (`fresh` once re-saved there: the restricted session's save is not trusted).
    let open = Session::builder().base_dir(dir.path()).tools(two_tools()).embeddings(false).build().await.unwrap();
    let source = open.get_skill("fresh").await.unwrap().source;
    open.create_skill("fresh", &source, None).await.unwrap();
    assert!(open.list_skills().await.unwrap().iter().all(|i| i.unavailable.is_none()));
    assert_eq!(value(&run(&open, "skills.caller()").await), json!("beta"));
    assert_eq!(value(&run(&open, "skills.fresh()").await), json!(["alpha", "shown", "hidden"]));

    // What a needed skill needs counts too, however deep: `outer` calls `middle`,
    // which calls `caller` (written by hand), which needs `beta`.
    let chained = Session::builder()
        .base_dir(dir.path())
        .tools(two_tools())
        .embeddings(false)
        .allow_tools(["alpha"])
        .allow_skills(["caller", "middle", "outer"])
        .build()
        .await
        .unwrap();
    chained.create_skill("middle", "def run():\n    return skills.caller()\n", None).await.unwrap();
    chained.create_skill("outer", "def run():\n    return skills.invoke('middle')\n", None).await.unwrap();
    let listed = chained.list_skills().await.unwrap();
    let said = |name: &str| listed.iter().find(|i| i.name == name).unwrap().unavailable.clone();
    assert_eq!(said("middle").as_deref(), Some("this session has no tool \"beta\", which skill \"caller\" needs"));
    assert_eq!(said("outer").as_deref(), Some("this session has no tool \"beta\", which skill \"caller\" needs"));
    let invoked = chained.invoke_skill("outer", &serde_json::Map::new()).await.unwrap();
    let error = invoked.error.expect("refused up front");
    assert_eq!(
        error.message,
        "skill 'outer' cannot run: this session has no tool \"beta\", which skill \"caller\" needs"
    );
    // A cycle is followed once.
    chained.create_skill("middle", "def run():\n    return skills.outer()\n", None).await.unwrap();
    assert_eq!(chained.list_skills().await.unwrap().iter().find(|i| i.name == "outer").unwrap().unavailable, None);
}

/// The confused deputy (issue 16, security): a session limited to some tools saves a
/// skill; a wider session must not then run that code with its own tools. The skill
/// keeps its author's scope and is refused host-side wherever the reader's reach is
/// not within it, until a wider session re-saves it. A shared skill the operator
/// placed, the restricted session cannot overwrite at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_skill_saved_by_a_narrower_session_does_not_run_in_a_wider_one() {
    let dir = skills_dir();
    let narrow = restricted(dir.path()).await;
    narrow.create_skill("fresh", "def run():\n    return tools.alpha()\n", None).await.unwrap();
    let refused = narrow.create_skill("shown", "def run():\n    return 'overwritten'\n", None).await.unwrap_err();
    assert!(refused.to_string().contains("only such a session can replace, roll back or delete it"), "{refused}");
    // Its author runs it: its reach is the scope.
    assert_eq!(value(&run(&narrow, "skills.fresh()").await), json!("alpha"));
    assert_eq!(narrow.list_skills().await.unwrap().iter().find(|i| i.name == "fresh").unwrap().unavailable, None);

    let reason = "written by a session limited to tools [\"alpha\"] and skills [\"caller\", \"fresh\", \"shown\"]; \
                  re-save it from a wider session to trust it";
    // Reopened from the directory: the scope was stored with the skill.
    let open = Session::builder().base_dir(dir.path()).tools(two_tools()).embeddings(false).build().await.unwrap();
    let listed = open.list_skills().await.unwrap();
    let info = listed.iter().find(|i| i.name == "fresh").unwrap();
    assert_eq!(info.unavailable.as_deref(), Some(reason), "{info:?}");
    // Operator-placed skills carry no scope.
    for name in ["hidden", "shown"] {
        assert_eq!(listed.iter().find(|i| i.name == name).unwrap().unavailable, None);
    }
    // Refused by the operation, before anything ran.
    let invoked = open.invoke_skill("fresh", &serde_json::Map::new()).await.unwrap();
    let error = invoked.error.expect("refused");
    assert_eq!(error.kind, "SkillError");
    assert_eq!(error.message, format!("skill \"fresh\" cannot run: {reason}"));
    assert!(invoked.tool_calls.is_empty(), "nothing ran: {:?}", invoked.tool_calls);
    // From agent code: by attribute, by invoke, and through the raw import (the
    // host's refusal, not the wrapper's). Reading the source is still allowed.
    let code = r#"
from wit_world.imports import skills as k
out = []
for attempt in (lambda: skills.fresh(), lambda: skills.invoke("fresh")):
    try:
        out.append(["ok", str(attempt())])
    except Exception as e:
        out.append([type(e).__name__, str(e)])
try:
    out.append(["ok", str(k.get_skill_to_run("fresh"))])
except Exception as e:
    out.append([e.value.kind.name, e.value.message])
got = skills.get("fresh")
out.append([got["source"], got["unavailable"]])
out
"#;
    let out = value(&run(&open, code).await);
    assert_eq!(out[0], json!(["SkillError", format!("skill \"fresh\" cannot run: {reason}")]), "{out}");
    assert_eq!(out[1], json!(["SkillError", format!("skill \"fresh\" cannot run: {reason}")]), "{out}");
    assert_eq!(out[2], json!(["DENIED", format!("skill \"fresh\" cannot run: {reason}")]), "{out}");
    assert_eq!(out[3], json!(["def run():\n    return tools.alpha()\n", reason]), "{out}");
    // A trusted skill calling the scoped one is refused at that call too.
    open.create_skill("wrapper", "def run():\n    return skills.fresh()\n", None).await.unwrap();
    let error = run(&open, "skills.wrapper()").await.error.expect("refused");
    assert!(error.message.contains("cannot run: written by a session limited to"), "{error:?}");

    // A session whose reach is within the scope runs it; one wider in tools does not.
    let narrower = Session::builder()
        .base_dir(dir.path())
        .tools(two_tools())
        .embeddings(false)
        .allow_tools(["alpha"])
        .allow_skills(["fresh"])
        .build()
        .await
        .unwrap();
    assert_eq!(value(&run(&narrower, "skills.fresh()").await), json!("alpha"));
    let wider = Session::builder()
        .base_dir(dir.path())
        .tools(two_tools())
        .embeddings(false)
        .allow_tools(["alpha", "beta"])
        .allow_skills(["fresh"])
        .build()
        .await
        .unwrap();
    let listed = wider.list_skills().await.unwrap();
    assert_eq!(
        listed[0].unavailable.as_deref(),
        Some("written by a session limited to tools [\"alpha\"]; re-save it from a wider session to trust it")
    );
    // The reason names only what the reader may know: `caller` and `shown` are not
    // in its skill list, and it is within the scope's skills anyway.
    assert!(!listed[0].unavailable.as_deref().unwrap().contains("caller"));

    // Re-saved by the unrestricted session (the operator's review): trusted again.
    let source = open.get_skill("fresh").await.unwrap().source;
    open.create_skill("fresh", &source, None).await.unwrap();
    assert_eq!(value(&run(&open, "skills.fresh()").await), json!("alpha"));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("skills/.skills.json")).unwrap()).unwrap();
    assert!(meta["fresh"].get("scope").is_none(), "{meta}");
    // The refused overwrite wrote nothing.
    assert!(meta.get("shown").is_none(), "{meta}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("skills/shown.py")).unwrap(),
        "\"\"\"Shown.\"\"\"\ndef run():\n    return 'shown'\n"
    );
}

/// A restricted rollback never widens the scope of the code it restores, and a
/// restricted session cannot replace, roll back or delete a skill any version of
/// which a wider one wrote (its saves would push those versions out of the history).
#[tokio::test(flavor = "multi_thread")]
async fn restricted_rollbacks_and_deletes_never_widen_or_destroy() {
    let dir = skills_dir();
    let scope = |dir: &std::path::Path| {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("skills/.skills.json")).unwrap()).unwrap();
        meta["fresh"]["scope"].clone()
    };
    let narrowest = Session::builder()
        .base_dir(dir.path())
        .tools(two_tools())
        .embeddings(false)
        .allow_tools(Vec::<String>::new())
        .allow_skills(["fresh"])
        .build()
        .await
        .unwrap();
    narrowest.create_skill("fresh", "def run():\n    return 1\n", None).await.unwrap();
    let narrow = restricted(dir.path()).await;
    narrow.create_skill("fresh", "def run():\n    return 2\n", None).await.unwrap();
    assert_eq!(scope(dir.path()), json!({"tools": ["alpha"], "skills": ["caller", "fresh", "shown"]}));
    narrow.rollback_skill("fresh", 1).await.unwrap();
    assert_eq!(scope(dir.path()), json!({"tools": [], "skills": ["fresh"]}), "the narrower scope is kept");

    // The operator's `shown`: neither replaced (from Rust or from agent code),
    // nor deleted.
    let protected = "only such a session can replace, roll back or delete it";
    let error = narrow.create_skill("shown", "def run():\n    return 'mine now'\n", None).await.unwrap_err();
    assert!(error.to_string().contains(protected), "{error}");
    let error = narrow.delete_skill("shown").await.unwrap_err();
    assert!(error.to_string().contains(protected), "{error}");
    for code in ["skills.create('shown', 'def run():\\n    return 0\\n')", "skills.delete('shown')"] {
        let refused = run(&narrow, code).await.error.expect("refused");
        assert_eq!(refused.kind, "SkillError", "{refused:?}");
    }
    let open = Session::builder().base_dir(dir.path()).tools(two_tools()).embeddings(false).build().await.unwrap();
    assert_eq!(open.skill_history("shown").await.unwrap().len(), 1, "nothing was written");
    assert_eq!(value(&run(&open, "skills.shown()").await), json!("shown"));

    // A current version the narrow session could have written is not enough: the
    // operator's version in the history protects the skill too.
    open.create_skill("fresh", "def run():\n    return 'reviewed'\n", None).await.unwrap();
    open.rollback_skill("fresh", 3).await.unwrap();
    assert_eq!(scope(dir.path()), json!({"tools": [], "skills": ["fresh"]}), "the rollback keeps its scope");
    for error in [
        narrow.create_skill("fresh", "def run():\n    return 3\n", None).await.unwrap_err(),
        narrow.rollback_skill("fresh", 1).await.unwrap_err(),
        narrow.delete_skill("fresh").await.unwrap_err(),
    ] {
        assert!(error.to_string().contains(protected), "{error}");
    }
    assert_eq!(open.skill_history("fresh").await.unwrap().len(), 5, "nothing was written");
    assert!(open.delete_skill("shown").await.unwrap(), "an unrestricted session deletes anything");

    // What only sessions within its reach wrote, the narrow one may delete.
    assert!(open.delete_skill("fresh").await.unwrap());
    narrowest.create_skill("fresh", "def run():\n    return 1\n", None).await.unwrap();
    narrow.create_skill("fresh", "def run():\n    return 2\n", None).await.unwrap();
    assert!(narrow.delete_skill("fresh").await.unwrap());
}

/// A wider session's save landing between a restricted session's check and its
/// write is never replaced, on either backend: the write is conditional on the
/// skill the check read, checked with the write in one atomic step. The save
/// lands there every time: the tool the skill's example calls makes it, after the
/// check and before the write.
#[tokio::test(flavor = "multi_thread")]
async fn a_wider_save_between_the_check_and_the_write_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let file = FileStorage::open(&dir.path().join("store")).await.unwrap();
    wider_save_lands_before_the_write(Arc::new(file)).await;
    #[cfg(feature = "redis")]
    {
        let redis = common::RedisServer::start();
        let packages = dir.path().join("packages");
        let redis_store = codemode::storage::RedisStorage::connect(&redis.url(), "race", packages).await.unwrap();
        wider_save_lands_before_the_write(Arc::new(redis_store)).await;
    }
}

async fn wider_save_lands_before_the_write(storage: Arc<dyn Storage>) {
    let name = SkillName::new("contested").unwrap();
    let wide = "def run():\n    return 'wide'\n";
    // The operator's save (no scope: an unrestricted session's), made by the tool.
    let mut tools = ToolRegistry::default();
    let (store, skill) = (storage.clone(), name.clone());
    tools
        .add_fn("land", "Saves the operator's version", Vec::new(), move |_| {
            let (store, skill) = (store.clone(), skill.clone());
            async move {
                let saved = store.save_skill(&StoredSkill::new(skill, wide)).await.map_err(|e| e.to_string())?;
                Ok(json!(saved.version))
            }
        })
        .unwrap();
    let narrow = Session::builder()
        .storage(storage.clone())
        .tools(tools)
        .embeddings(false)
        .allow_tools(["land"])
        .allow_skills(["contested"])
        .build()
        .await
        .unwrap();
    let racing = "def run():\n    return tools.land()\n";
    let example: SkillExample = serde_json::from_value(json!({"args": {}, "expect": 1})).unwrap();
    let protected = "only such a session can replace, roll back or delete it";

    // Checked: no skill. The operator's version 1 lands; the save is refused.
    let error = narrow.create_verified_skill("contested", racing, None, &[example]).await.unwrap_err();
    assert!(error.to_string().contains(protected), "{error}");
    let current = storage.load_skill(&name).await.unwrap().unwrap();
    assert_eq!((current.source.as_str(), current.version, current.scope), (wide, 1, None));
    assert!(storage.skill_versions(&name).await.unwrap().is_empty(), "nothing was written");

    // Checked: the narrow session's own version 1. The operator's version 2 lands.
    assert!(storage.delete_skill(&name).await.unwrap());
    let own = "def run():\n    return 'narrow'\n";
    narrow.create_skill("contested", own, None).await.unwrap();
    let example: SkillExample = serde_json::from_value(json!({"args": {}, "expect": 2})).unwrap();
    let error = narrow.create_verified_skill("contested", racing, None, &[example]).await.unwrap_err();
    assert!(error.to_string().contains(protected), "{error}");
    let current = storage.load_skill(&name).await.unwrap().unwrap();
    assert_eq!((current.source.as_str(), current.version, current.scope), (wide, 2, None));
    let history: Vec<String> = storage.skill_versions(&name).await.unwrap().into_iter().map(|v| v.source).collect();
    assert_eq!(history, [own], "nothing was written");
}
