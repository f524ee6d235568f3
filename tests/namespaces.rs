//! The guest's `artifacts` and `deps` namespaces end to end, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use codemode::deps::PipOptions;
use codemode::storage::{FileStorage, RedisStorage, Storage};
use codemode::tools::ToolRegistry;
use codemode::{Operations, Session};
use common::{RedisServer, error, run, value};
use serde_json::json;

fn offline_pip() -> PipOptions {
    PipOptions {
        find_links: vec![common::test_wheels().display().to_string()],
        no_index: true,
        ..PipOptions::default()
    }
}

async fn session_on(storage: Arc<dyn Storage>) -> Session {
    Session::builder().storage(storage).pip(offline_pip()).build().await.expect("session starts")
}

const ARTIFACTS_CELL: &str = r#"
saved = [
    artifacts.save("report.json", {"rows": [1, 2, 3]}, description="a report", metadata={"owner": "agent"}),
    artifacts.save("notes/today.txt", "ünïcode text"),
    artifacts.save("raw.bin", bytes(range(256))),
]
[s["kind"] for s in saved]
"#;

async fn artifacts_round_trip_across_sessions(storage: Arc<dyn Storage>) {
    let first = session_on(storage.clone()).await;
    assert_eq!(value(&run(&first, ARTIFACTS_CELL).await), json!(["json", "text", "bytes"]));
    drop(first);

    let second = session_on(storage).await;
    let r = run(&second, "(artifacts.load('report.json'), artifacts.load('notes/today.txt'), artifacts.load('raw.bin') == bytes(range(256)))").await;
    assert_eq!(value(&r), json!([{"rows": [1, 2, 3]}, "ünïcode text", true]));
    let r = run(&second, "info = artifacts.get('report.json')\n(info['description'], info['metadata'], info['size'], artifacts.get('nope'))").await;
    assert_eq!(value(&r), json!(["a report", {"owner": "agent"}, 19, null]));
    let r = run(&second, "[a['name'] for a in artifacts.list()]").await;
    assert_eq!(value(&r), json!(["notes/today.txt", "raw.bin", "report.json"]));
    assert_eq!(value(&run(&second, "(artifacts.exists('raw.bin'), artifacts.delete('raw.bin'), artifacts.exists('raw.bin'), artifacts.delete('raw.bin'))").await), json!([true, true, false, false]));

    // Bad input: a clear Python exception, nothing stored is lost.
    assert_eq!(error(&run(&second, "artifacts.save('n', 42)").await).0, "TypeError");
    assert_eq!(error(&run(&second, "artifacts.save('n', {1, 2})").await).0, "TypeError");
    let (kind, message) = error(&run(&second, "artifacts.save('../escape', 'x')").await);
    assert_eq!(kind, "ValueError");
    assert!(message.contains("path traversal"), "{message}");
    assert_eq!(error(&run(&second, "artifacts.load('missing')").await).0, "ArtifactNotFoundError");
    let r = run(&second, "try:\n    artifacts.load('missing')\nexcept LookupError:\n    caught = True\ncaught").await;
    assert_eq!(value(&r), json!(true));
    assert_eq!(error(&run(&second, "artifacts.save('m', 'x', metadata=[1])").await).0, "ValueError");
    assert_eq!(value(&run(&second, "len(artifacts.list())").await), json!(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn artifacts_on_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    artifacts_round_trip_across_sessions(Arc::new(FileStorage::open(dir.path()).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn artifacts_on_redis() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let storage = RedisStorage::connect(&redis.url(), "t", dir.path().to_path_buf()).await.unwrap();
    artifacts_round_trip_across_sessions(Arc::new(storage)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn large_artifacts_cross_as_bytes_and_the_cap_holds() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(FileStorage::open(dir.path()).await.unwrap());
    let s = Session::builder().storage(storage).max_artifact_size(16 << 20).build().await.unwrap();
    let r = run(&s, "data = bytes(range(256)) * (40 * 1024)\nartifacts.save('big.bin', data)['size']").await;
    assert_eq!(value(&r), json!(10 * 1024 * 1024));
    assert_eq!(value(&run(&s, "artifacts.load('big.bin') == data").await), json!(true));
    let (kind, message) = error(&run(&s, "artifacts.save('huge.bin', b'x' * (17 << 20))").await);
    assert_eq!(kind, "ValueError");
    assert!(message.contains("over the 16777216-byte limit"), "{message}");
    assert_eq!(value(&run(&s, "[a['name'] for a in artifacts.list()]").await), json!(["big.bin"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn deps_install_import_persist_and_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.unwrap());
    let s = session_on(storage.clone()).await;
    // Importable in the same session, right after add.
    let r =
        run(&s, "added = deps.add('Tabulate')\nimport tabulate\n(added, tabulate.tabulate([[1, 2]]).split())").await;
    assert_eq!(value(&r), json!(["tabulate", ["-", "-", "1", "2", "-", "-"]]));
    assert_eq!(value(&run(&s, "deps.list()").await), json!(["tabulate"]));

    // And in every later session, with no install step.
    let later = session_on(storage.clone()).await;
    assert_eq!(value(&run(&later, "import tabulate\ntabulate.__file__").await), json!("/deps/tabulate/__init__.py"));
    // The packages directory is read-only for the guest.
    assert_eq!(error(&run(&later, "open('/deps/evil.py', 'w')").await).0, "PermissionError");

    // A package with only native wheels is refused with a message that says why.
    let (kind, message) = error(&run(&later, "deps.add('markupsafe')").await);
    assert_eq!(kind, "DepsError");
    assert!(message.contains("no pure-Python wheel"), "{message}");
    assert_eq!(value(&run(&later, "deps.list()").await), json!(["tabulate"]), "a failed add records nothing");

    // Remove forgets and uninstalls.
    assert_eq!(value(&run(&later, "deps.remove('tabulate')").await), json!(true));
    let fresh = session_on(storage).await;
    assert_eq!(error(&run(&fresh, "import tabulate").await).0, "ModuleNotFoundError");
    assert_eq!(value(&run(&fresh, "(deps.list(), deps.remove('tabulate'))").await), json!([[], false]));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_specs_and_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.unwrap());
    let s = session_on(storage.clone()).await;
    for spec in ["", "pkg @ https://x/y.whl", "six; python_version<'3'", "six && rm -rf /", "$(id)", "-e .", "a\nb"] {
        let r = run(&s, &format!("deps.add({spec:?})")).await;
        let (kind, message) = error(&r);
        assert_eq!(kind, "ValueError", "{spec:?}");
        assert!(message.contains("invalid package spec"), "{message}");
    }
    run(&s, "deps.add('six')").await;

    let locked =
        Session::builder().storage(storage).pip(offline_pip()).allow_runtime_deps(false).build().await.unwrap();
    assert_eq!(error(&run(&locked, "deps.add('tabulate')").await).0, "RuntimeDepsDisabledError");
    assert_eq!(error(&run(&locked, "deps.remove('six')").await).0, "RuntimeDepsDisabledError");
    assert_eq!(value(&run(&locked, "(deps.list(), deps.sync())").await), json!([["six"], ["six"]]));
    assert_eq!(value(&run(&locked, "import six\nsix.__name__").await), json!("six"));
}

#[tokio::test(flavor = "multi_thread")]
async fn deps_recorded_in_redis_are_installed_on_a_new_machine() {
    let redis = RedisServer::start();
    let machine_a = tempfile::tempdir().unwrap();
    let machine_b = tempfile::tempdir().unwrap();
    let a = RedisStorage::connect(&redis.url(), "t", machine_a.path().to_path_buf()).await.unwrap();
    let s = session_on(Arc::new(a)).await;
    run(&s, "deps.add('six')").await;
    // Machine B shares the Redis but has an empty packages directory.
    let b = RedisStorage::connect(&redis.url(), "t", machine_b.path().to_path_buf()).await.unwrap();
    let s = session_on(Arc::new(b)).await;
    assert_eq!(value(&run(&s, "import six\nsix.__name__").await), json!("six"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_without_storage_say_so() {
    let s = Session::builder().build().await.unwrap();
    let (kind, message) = error(&run(&s, "artifacts.list()").await);
    assert_eq!(kind, "ArtifactError");
    assert!(message.contains("not configured"), "{message}");
    assert!(matches!(s.artifacts(), Err(codemode::SessionError::NotConfigured("artifacts"))));
}

/// The deps operations as py-code-mode's clients call them (`package`) and read
/// them (`installed`, `already_present`, `failed`; `removed`, `not_found`,
/// `removed_from_config`), on `session` (in process or over HTTP).
async fn deps_operations_speak_py_code_modes_shape(session: &Session) {
    use codemode::{Operations, Request};
    let call = |op: &'static str, args: serde_json::Value| async move {
        let request = Request::from_parts(op, args.as_object().cloned()).unwrap();
        serde_json::to_value(session.call(request).await.unwrap()).unwrap()
    };
    let added = call("add_dep", json!({"package": "Six"})).await;
    assert_eq!(added, json!({"added": "six", "installed": ["six"], "already_present": [], "failed": []}));
    let again = call("add_dep", json!({"spec": "six"})).await;
    assert_eq!(again, json!({"added": "six", "installed": [], "already_present": ["six"], "failed": []}));
    let synced = call("sync_deps", json!({})).await;
    assert_eq!(synced, json!({"installed": [], "already_present": ["six"], "failed": []}));
    let removed = call("remove_dep", json!({"package": "six"})).await;
    assert_eq!(removed, json!({"removed": ["six"], "not_found": [], "failed": [], "removed_from_config": true}));
    let gone = call("remove_dep", json!({"name": "six"})).await;
    assert_eq!(gone, json!({"removed": [], "not_found": ["six"], "failed": [], "removed_from_config": false}));
    assert!(session.list_deps().await.unwrap().is_empty());

    // Hostile arguments: refused before anything runs, nothing recorded.
    for args in [json!({"package": 42}), json!({"package": "six", "spec": "six"}), json!({"package": "six", "x": 1})] {
        assert!(Request::from_parts("add_dep", args.as_object().cloned()).is_err(), "{args}");
    }
    for spec in ["$(id)", "-e .", "six; python_version<'3'", "pkg @ https://x/y.whl"] {
        let request = Request::from_parts("add_dep", json!({"package": spec}).as_object().cloned()).unwrap();
        let refused = session.call(request).await.unwrap_err().to_string();
        assert!(refused.contains("invalid package spec"), "{spec}: {refused}");
    }
    assert!(session.list_deps().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn deps_operations_speak_py_code_modes_shape_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_on(Arc::new(FileStorage::open(dir.path()).await.unwrap())).await;
    deps_operations_speak_py_code_modes_shape(&session).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deps_operations_speak_py_code_modes_shape_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = common::test_wheels();
    let args = ["--base", dir.path().to_str().unwrap(), "--no-index", "--find-links", wheels.to_str().unwrap()];
    let server =
        codemode::remote::Subprocess::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_codemode")), &args).await.unwrap();
    let session = Session::builder().remote(server).build().await.unwrap();
    deps_operations_speak_py_code_modes_shape(&session).await;
}

/// `codemode <args>` in `base` with `CODEMODE_PYTHON` set to `python`.
fn codemode_with_python(base: &std::path::Path, python: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_codemode"))
        .arg("--base")
        .arg(base)
        .args(args)
        .env("CODEMODE_PYTHON", python)
        .output()
        .unwrap()
}

#[test]
fn deps_without_a_host_pip_say_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    // A Python without pip: the host's, with its site-packages (where pip lives) cut off.
    let no_pip = dir.path().join("python-no-pip");
    std::fs::write(&no_pip, "#!/bin/sh\nexec python3 -S \"$@\"\n").unwrap();
    std::fs::set_permissions(&no_pip, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let missing = dir.path().join("nowhere/python3");
    let base = dir.path().join("base");
    for (python, problem) in [(&missing, "`python3` was not found"), (&no_pip, "`python-no-pip` has no pip module")] {
        let out = codemode_with_python(&base, python, &["deps", "add", "six"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("deps need a host Python with pip"), "{stderr}");
        assert!(stderr.contains(problem) && stderr.contains("python3-pip"), "{stderr}");
        // Agent code gets the same sentence, without the host's paths.
        let out = codemode_with_python(&base, python, &["run", "--json", "deps.add('six')"]);
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let message = result["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(result["error"]["kind"], "DepsError", "{result}");
        assert!(message.contains(problem) && message.contains("python3-pip"), "{message}");
        assert!(!result.to_string().contains(&*dir.path().to_string_lossy()), "a host path leaked: {result}");
        let out = codemode_with_python(&base, python, &["deps", "list"]);
        assert_eq!((out.status.code(), out.stdout.as_slice()), (Some(0), &b""[..]), "nothing was recorded");
    }
}

/// A CLI tool whose recipe has typed defaults, and one that always fails.
const PROBE_YAML: &str = r#"
name: probe
description: Probe a host
command: echo
tags: [net]
schema:
  options:
    port: {type: integer, short: p, description: Port to probe}
    host: {type: string}
    verbose: {type: boolean, short: v}
  positional:
    - name: target
      type: string
      required: true
recipes:
  scan:
    description: Scan one port
    params:
      target: {required: true}
      port: {default: 80}
      host: {default: localhost}
      verbose: {default: true}
"#;

const FAILING_YAML: &str = "name: failing\ncommand: \"false\"\nrecipes:\n  go:\n    description: Exits 1\n";

/// A skill taking an injected namespace, literal defaults and one no literal holds.
const SKILL_SOURCE: &str = "import os\n\nasync def run(tools, target: str, port: int = 80, host='localhost', \
    verbose: bool = True, pair=(1, 2), cwd=os.sep):\n    return [target, port, host, verbose, type(tools).__name__]\n";

async fn listing_session(dir: &std::path::Path) -> Session {
    let tools = dir.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    std::fs::write(tools.join("probe.yaml"), PROBE_YAML).unwrap();
    std::fs::write(tools.join("failing.yaml"), FAILING_YAML).unwrap();
    let (registry, skipped) = ToolRegistry::load_dir(&tools);
    assert!(skipped.is_empty(), "{skipped:?}");
    let storage = Arc::new(FileStorage::open(&dir.join("store")).await.unwrap());
    Session::builder().storage(storage).tools(registry).embeddings(false).build().await.expect("session starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_have_upstreams_shape_and_typed_defaults_on_every_surface() {
    let dir = tempfile::tempdir().unwrap();
    let s = listing_session(dir.path()).await;

    // The host's JSON (what MCP, HTTP and the CLI print): recipes only in `callables`,
    // each with `parameters`; the direct call is the tool's own `parameters`.
    let host = serde_json::to_value(s.list_tools().await.unwrap()).unwrap();
    let probe = host.as_array().unwrap().iter().find(|t| t["name"] == "probe").unwrap().clone();
    assert_eq!(probe["tags"], json!(["net"]));
    assert_eq!(probe["callables"].as_array().unwrap().len(), 1, "no callable for the tool itself: {probe}");
    let scan = &probe["callables"][0];
    assert_eq!(scan["name"], "scan");
    assert!(scan.get("params").is_none(), "{scan}");
    let defaults: Vec<_> = scan["parameters"].as_array().unwrap().iter().map(|p| p["default"].clone()).collect();
    assert_eq!(defaults, vec![json!(null), json!(80), json!("localhost"), json!(true), json!(null)]);
    assert_eq!(
        scan["parameters"][1],
        json!({"name": "port", "type": "int", "required": false, "default": 80, "description": "Port to probe"})
    );
    let direct: Vec<_> = probe["parameters"].as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
    assert_eq!(direct, vec![json!("target"), json!("port"), json!("host"), json!("verbose"), json!("input")]);
    assert!(!host.to_string().contains("\"name\":null"), "a nameless callable: {host}");

    // The guest's listing is the same data, read as `r["k"]` or `r.k`, plus signatures.
    let guest = value(&run(&s, "[t for t in tools.list() if t.name == 'probe'][0]").await);
    assert_eq!(guest["callables"][0]["parameters"], scan["parameters"]);
    assert_eq!(guest["parameters"], probe["parameters"]);
    assert_eq!(guest["tags"], json!(["net"]));
    assert_eq!(
        guest["callables"][0]["signature"],
        "scan(target: str, port: int = 80, host: str = 'localhost', verbose: bool = True, input: str | None = None)"
    );
    let r = run(&s, "t = [t for t in tools.list() if t.name == 'probe'][0]\n(t.callables[0].parameters[1].default, t.callables[0].name, tools.probe.scan.signature())").await;
    assert_eq!(
        value(&r),
        json!([
            80,
            "scan",
            "scan(target: str, port: int = 80, host: str = 'localhost', verbose: bool = True, input: str | None = None)"
        ])
    );

    // Skills: no injected names, defaults typed (a default no literal holds is None),
    // the same on the host and in the guest; signatures keep Python's spelling.
    run(&s, &format!("skills.create('probe_skill', {SKILL_SOURCE:?})")).await;
    let listed = serde_json::to_value(s.list_skills().await.unwrap()).unwrap();
    let params = &listed[0]["parameters"];
    let names: Vec<_> = params.as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
    assert_eq!(
        names,
        vec![json!("target"), json!("port"), json!("host"), json!("verbose"), json!("pair"), json!("cwd")]
    );
    let defaults: Vec<_> = params.as_array().unwrap().iter().map(|p| p["default"].clone()).collect();
    assert_eq!(defaults, vec![json!(null), json!(80), json!("localhost"), json!(true), json!([1, 2]), json!(null)]);
    assert_eq!(
        params[0],
        json!({"name": "target", "type": "str", "description": "", "required": true, "default": null})
    );
    let guest = value(&run(&s, "skills.list()[0].parameters").await);
    assert_eq!(&guest, params);
    assert_eq!(value(&run(&s, "skills.get('probe_skill').parameters").await), *params);
    // Callers never pass the injected names: the runner does.
    assert_eq!(value(&run(&s, "skills.probe_skill(target='h')").await), json!(["h", 80, "localhost", true, "Tools"]));
    let invoked = s.invoke_skill("probe_skill", json!({"target": "x", "port": 22}).as_object().unwrap()).await.unwrap();
    assert_eq!(value(&invoked), json!(["x", 22, "localhost", true, "Tools"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn results_read_as_keys_and_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let s = listing_session(dir.path()).await;
    let code = r#"
import json, copy, pickle
saved = artifacts.save("a.json", {"k": 1}, description="d")
created = skills.create("twice", "def run(n: int = 2):\n    return 2 * n")
checks = [
    saved.name == saved["name"] == "a.json",
    saved.kind == "json",
    artifacts.get("a.json").description == "d",
    artifacts.list()[0].size == saved.size,
    created.name == "twice" and created.replaced is False,
    created.parameters[0].default == 2,
    skills.list()[0].is_async is False,
    skills.get("twice").source.startswith("def run"),
    any(m.name == "twice" and m.score >= 0 for m in skills.search("twice")),
    any(m["name"] == "probe" and m.score >= 0 for m in tools.search("probe")),
    tools.probe.list()[0].signature.startswith("scan("),
    isinstance(saved, dict),
    json.loads(json.dumps(saved)) == dict(saved),
    repr(created).startswith("{'name': 'twice'"),
    copy.deepcopy(saved) == saved and pickle.loads(pickle.dumps(saved)) == saved,
    "description" in dir(saved),
]
checks
"#;
    assert_eq!(value(&run(&s, code).await), json!(vec![true; 16]));
    let (kind, message) = error(&run(&s, "saved.nope").await);
    assert_eq!(kind, "AttributeError");
    assert_eq!(message, "no field 'nope'; fields: name, description, kind, size, created_at, metadata");
    // Not a namespace for arbitrary state: fields are set as keys, never as attributes.
    assert_eq!(error(&run(&s, "saved.extra = 1").await).0, "AttributeError");
}

#[tokio::test(flavor = "multi_thread")]
async fn exceptions_are_the_classes_upstream_code_catches() {
    let dir = tempfile::tempdir().unwrap();
    let s = listing_session(dir.path()).await;
    // py-code-mode raised ValueError("Skill not found: x"); LookupError code keeps working.
    let code = r#"
caught = []
for cls in (SkillNotFoundError, ValueError, LookupError, SkillError, CodemodeError):
    try:
        skills.invoke("missing")
    except cls as e:
        caught.append(type(e).__name__)
caught
"#;
    assert_eq!(value(&run(&s, code).await), json!(vec!["SkillNotFoundError"; 5]));
    let (kind, message) = error(&run(&s, "skills.invoke('missing')").await);
    assert_eq!((kind.as_str(), message.as_str()), ("SkillNotFoundError", "skill \"missing\" not found"));
    assert_eq!(value(&run(&s, "skills.get('missing') is None").await), json!(true));
    assert_eq!(error(&run(&s, "skills.missing").await).0, "AttributeError");

    // ToolCallError for a failed call, its argument errors included (TypeError too).
    let (kind, _) = error(&run(&s, "tools.failing.go()").await);
    assert_eq!(kind, "ToolCallError");
    let code = r#"
out = []
for cls in (ToolArgumentError, ToolCallError, TypeError, ToolError):
    try:
        tools.probe.scan()
    except cls as e:
        out.append(type(e).__name__)
try:
    tools.failing.go()
except ToolCallError:
    out.append("failed")
out
"#;
    assert_eq!(
        value(&run(&s, code).await),
        json!(["ToolArgumentError", "ToolArgumentError", "ToolArgumentError", "ToolArgumentError", "failed"])
    );
    // Unknown names are AttributeErrors, as upstream's proxies raise.
    assert_eq!(error(&run(&s, "tools.nope").await).0, "AttributeError");
    assert_eq!(error(&run(&s, "tools.probe.nope").await).0, "AttributeError");
    // Artifacts: a missing one is ArtifactNotFoundError; a path escape a ValueError.
    assert_eq!(error(&run(&s, "artifacts.load('missing')").await).0, "ArtifactNotFoundError");
    assert_eq!(error(&run(&s, "artifacts.load('../x')").await).0, "ValueError");
    // Deps: an invalid spec is a ValueError, as upstream's validation raised.
    assert_eq!(error(&run(&s, "deps.add('a; rm -rf /')").await).0, "ValueError");
}
