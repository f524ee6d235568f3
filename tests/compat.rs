//! A directory laid out exactly as py-code-mode leaves it (`tools/*.yaml`,
//! `skills/<name>.py`, `artifacts/` with its `.artifacts.json` index, a
//! `requirements.txt`), used unchanged by the real binary: agent code written against
//! py-code-mode's documented API, and py-code-mode's MCP tool calls read the way its
//! clients read them (`content[0].text`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_codemode");
const LAYOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pycodemode");
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/upstream_client.py");

/// A fresh copy of the fixture directory (the tests write to it).
fn layout() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(Path::new(LAYOUT), dir.path());
    dir
}

/// The storage flags: the directory as `--base`, deps from the local test wheels.
fn base_args(base: &Path) -> Vec<String> {
    let wheels = common::test_wheels();
    ["--base", base.to_str().unwrap(), "--no-index", "--find-links", wheels.to_str().unwrap()]
        .map(String::from)
        .to_vec()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
    }
    out.sort();
    out
}

/// Agent code as py-code-mode's README and docs write it.
const AGENT: &str = r#"
import json

report = {}

# Tools: py-code-mode's README example, a recipe preset, long single-dash options.
json_data = json.dumps({"key": "value", "n": 3})
report["jq"] = tools.jq.query(filter=".key", input=json_data)
report["jq_raw"] = tools.jq.raw(filter=".key", input=json_data)
report["ls"] = tools.ls.entries(path=SKILLS).split()
jq = [t for t in tools.list() if t.name == "jq"][0]
report["jq_callables"] = sorted(c.name for c in jq.callables)
query = [c for c in jq.callables if c.name == "query"][0]
report["query_parameters"] = [p.name for p in query.parameters]
report["tool_search"] = tools.search("json filter")[0].name

# Skills: the files as they are, invoked, composed, created; upstream's errors.
report["skills"] = sorted(s.name for s in skills.list())
stats = [s for s in skills.list() if s.name == "word_stats"][0]
report["skill_parameters"] = [(p["name"], p.get("default")) for p in stats.parameters]
report["word_stats"] = skills.invoke("word_stats", text="b a b")
report["pluck"] = skills.pluck(document=json_data, field="key")
try:
    skills.invoke("no_such_skill")
except ValueError as e:
    report["missing_skill"] = type(e).__name__
created = skills.create("double", "async def run(n: int) -> int:\n    return n * 2\n", "Double a number")
report["created"] = [created["name"], created.name]
report["double"] = skills.double(n=21)

# Artifacts: py-code-mode's index and files, read and extended.
report["artifacts"] = sorted(a.name for a in artifacts.list())
report["notes"] = artifacts.load("notes.txt")
report["data"] = artifacts.load("data.json")
report["nested"] = artifacts.load("scans/ports.json")
report["blob"] = list(artifacts.load("logo.bin"))
artifacts.save("findings", {"ok": True}, description="from the agent")
report["saved"] = [artifacts.exists("findings"), artifacts.load("findings")]
try:
    artifacts.load("absent")
except LookupError as e:
    report["missing_artifact"] = type(e).__name__

# Deps: requirements.txt is configured and installed when the session starts.
report["deps"] = deps.list()
import six
report["six"] = six.__version__
report
"#;

#[test]
fn agent_code_written_for_py_code_mode_runs_unchanged() {
    let base = layout();
    let skills = base.path().join("skills");
    let code = format!("SKILLS = {:?}\n{AGENT}", skills.to_str().unwrap());
    let out =
        Command::new(BIN).args(base_args(base.path())).args(["run", "--json", &code]).output().expect("codemode runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_str(&stdout).expect("JSON result");
    let report = &result["value"]["json"];
    let expect = json!({
        "jq": "\"value\"\n",
        "jq_raw": "value\n",
        "ls": ["pluck.py", "word_stats.py"],
        "jq_callables": ["compact", "query", "raw"],
        "query_parameters": ["filter", "input"],
        "tool_search": "jq",
        "skills": ["pluck", "word_stats"],
        "skill_parameters": [["text", null], ["top", 3]],
        "word_stats": {"words": 3, "top": [["b", 2], ["a", 1]]},
        "pluck": "value",
        "missing_skill": report["missing_skill"],
        "created": ["double", "double"],
        "double": 42,
        "artifacts": ["data.json", "logo.bin", "notes.txt", "scans/ports.json"],
        "notes": "remember the milk\n",
        "data": {"rows": 3, "ok": true},
        "nested": {"open": [22, 80]},
        "blob": [0x89, b'P', b'N', b'G', 0, 1],
        "saved": [true, {"ok": true}],
        "missing_artifact": report["missing_artifact"],
        "deps": ["six==1.17.0"],
        "six": "1.17.0",
    });
    assert_eq!(report, &expect, "{report:#}");
    assert!(report["missing_skill"].is_string() && report["missing_artifact"].is_string(), "{report:#}");

    // What it wrote stays readable by py-code-mode: the index keeps its entries and
    // `_data_type`, the new skill is `skills/double.py`, requirements.txt is untouched.
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(base.path().join("artifacts/.artifacts.json")).unwrap()).unwrap();
    assert_eq!(index["findings"]["metadata"]["_data_type"], "json", "{index:#}");
    assert_eq!(index["logo.bin"]["metadata"]["_data_type"], "bytes", "{index:#}");
    assert_eq!(index["data.json"]["metadata"]["source"], "agent", "{index:#}");
    assert!(base.path().join("skills/double.py").is_file());
    assert_eq!(
        std::fs::read_to_string(base.path().join("requirements.txt")).unwrap(),
        std::fs::read_to_string(Path::new(LAYOUT).join("requirements.txt")).unwrap()
    );
}

#[test]
fn py_code_mode_mcp_calls_work_unchanged() {
    let base = layout();
    let before = files_under(&base.path().join("artifacts"));
    let out = Command::new(common::mcp_servers().join("venv/bin/python"))
        .arg(CLIENT)
        .arg(BIN)
        .args(base_args(base.path()))
        .arg("mcp")
        .output()
        .expect("the Python client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON report");
    let step = |name: &str| -> &Value {
        let step = &report[name];
        assert!(step.is_object(), "{name} missing from {report:#}");
        step
    };
    let text = |name: &str| step(name)["text"].as_str().unwrap().to_owned();

    // run_code: the value and stdout labelled; errors start with the traceback's label.
    let labelled = text("labelled");
    assert!(labelled.contains("Stdout:\n43") && labelled.contains("43"), "{labelled:?}");
    assert_eq!(step("raises")["is_error"], true);
    let raises = text("raises");
    assert!(raises.contains("Error:") && raises.contains("ZeroDivisionError"), "{raises:?}");
    assert!(raises.contains("Stdout:\nbefore"), "{raises:?}");
    assert_eq!(text("silent"), "(no output)");
    assert!(text("jq").contains("7"), "{}", text("jq"));

    // Listings name what the directory holds.
    for tool in ["jq", "ls"] {
        assert!(text("list_tools").contains(tool), "{}", text("list_tools"));
    }
    assert!(text("search_tools").contains("jq"), "{}", text("search_tools"));
    for skill in ["word_stats", "pluck"] {
        assert!(text("list_skills").contains(skill), "{}", text("list_skills"));
    }
    assert!(text("search_skills").contains("word_stats"), "{}", text("search_skills"));
    let artifacts = text("list_artifacts");
    for name in ["notes.txt", "data.json", "scans/ports.json", "logo.bin"] {
        assert!(artifacts.contains(name), "{artifacts}");
    }
    assert!(text("list_deps").contains("six"), "{}", text("list_deps"));

    // Tools whose py-code-mode counterparts return data give it as JSON text.
    // Flat, as upstream's `{name, description, parameters, source}`.
    let created = &step("create_skill")["json"];
    assert_eq!(created["name"], "triple", "{:#}", step("create_skill"));
    assert!(created["source"].as_str().is_some_and(|s| s.contains("def run")), "{created:#}");
    assert_eq!(created["parameters"][0]["name"], "n", "{:#}", step("create_skill"));
    assert!(text("use_skill").contains("15"), "{}", text("use_skill"));
    assert_eq!(step("delete_skill")["json"]["deleted"], true, "{:#}", step("delete_skill"));
    let added = &step("add_dep")["json"];
    assert_eq!(added["installed"], json!(["tabulate==0.10.0"]), "{added:#}");
    assert_eq!((&added["already_present"], &added["failed"]), (&json!([]), &json!([])), "{added:#}");
    let again = &step("add_again")["json"];
    assert_eq!(again["already_present"], json!(["tabulate==0.10.0"]), "{again:#}");
    let removed = &step("remove_dep")["json"];
    for key in ["removed", "not_found", "failed", "removed_from_config"] {
        assert!(removed.get(key).is_some(), "{key} missing from {removed:#}");
    }
    assert!(removed["removed"].to_string().contains("tabulate"), "{removed:#}");

    // Nothing py-code-mode left there was lost.
    let after = files_under(&base.path().join("artifacts"));
    for file in before {
        assert!(after.contains(&file), "{} lost", file.display());
    }
}
