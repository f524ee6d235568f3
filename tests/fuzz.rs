//! Property-based fuzzing of what hostile callers control: every parser of names,
//! specs, tool definitions and skill sources, and the guest's host imports. Each
//! property runs a fixed number of cases (CI-sized); the assertions are: no
//! panic, a clear error for bad input, and nothing outside the store touched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Component, Path};

use codemode::artifacts::ArtifactName;
use codemode::deps::Requirement;
use codemode::names::SkillName;
use codemode::tools::ToolRegistry;
use codemode::{Sandbox, Session};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// Strings a hostile caller would try: path tricks, control bytes, quotes,
/// unicode, long runs; mixed with arbitrary text.
fn hostile_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "..",
        "/",
        "\\",
        ".",
        "\0",
        "\n",
        "\r",
        "\t",
        " ",
        "~",
        "$",
        "`",
        "'",
        "\"",
        "${HOME}",
        "%2e",
        "..%2f",
        "-",
        "--",
        "@",
        ";",
        "|",
        "&",
        "(",
        ")",
        "[",
        "]",
        "==",
        ">=",
        "a",
        "Z",
        "_",
        "0",
        "9",
        "é",
        "\u{202e}",
        "\u{feff}",
        "\u{10ffff}",
        "x.py",
        "C:",
        "__index__",
        ".artifacts.json",
        "class",
        "list",
        "run",
    ]);
    prop_oneof![
        prop::collection::vec(pieces, 0..24).prop_map(|parts| parts.concat()),
        any::<String>(),
        "[a-z_][a-z0-9_]{0,20}",
        (1usize..4000).prop_map(|n| "a".repeat(n)),
    ]
}

fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// A validated name, joined to a store directory, never leaves it.
fn stays_inside(name: &str) -> bool {
    Path::new(name).components().all(|c| matches!(c, Component::Normal(_)))
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn skill_names_are_identifiers_or_refused(name in hostile_text()) {
        match SkillName::new(&name) {
            Ok(valid) => {
                prop_assert!(valid.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                let file = format!("{}.py", valid.as_str());
                prop_assert!(stays_inside(&file), "{:?}", file);
            }
            Err(err) => {
                let message = err.to_string();
                prop_assert!(message.starts_with("invalid skill name"), "{}", message);
                prop_assert!(message.len() < 500, "an error quotes the name shortened: {} bytes", message.len());
            }
        }
    }

    #[test]
    fn artifact_names_stay_inside_the_store_or_are_refused(name in hostile_text()) {
        match ArtifactName::new(&name) {
            Ok(valid) => {
                prop_assert!(stays_inside(valid.as_str()), "{:?}", valid);
                prop_assert!(!valid.as_str().split('/').any(|s| s.starts_with('.')), "{:?}", valid);
            }
            Err(err) => prop_assert!(err.to_string().len() < 500),
        }
    }

    #[test]
    fn deps_specs_are_plain_requirements_or_refused(spec in hostile_text()) {
        match Requirement::parse(&spec) {
            Ok(requirement) => {
                prop_assert!(!requirement.spec.starts_with('-'), "{:?}", requirement);
                prop_assert!(!requirement.spec.contains(['@', ';', '/', '\\', '\0', '\n', '$', '`']), "{:?}", requirement);
            }
            Err(err) => prop_assert!(err.to_string().len() < 800, "{}", err),
        }
    }
}

/// Tool YAML built from the format's own keys with hostile values: every file
/// either loads or is skipped with a reason; loading never panics.
#[test]
fn tool_definitions_load_or_are_skipped_with_a_reason() {
    let keys = prop::sample::select(vec![
        "name",
        "type",
        "command",
        "description",
        "timeout",
        "schema",
        "options",
        "positional",
        "recipes",
        "preset",
        "params",
        "short",
        "required",
        "default",
        "url",
        "method",
        "headers",
        "env",
        "args",
        "transport",
        "items",
    ]);
    let value = prop_oneof![
        hostile_text().prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        Just("{}".to_owned()),
        Just("[]".to_owned()),
        Just("null".to_owned()),
        Just("-1".to_owned()),
        Just("1e309".to_owned()),
        Just("cli".to_owned()),
        Just("http".to_owned()),
        Just("mcp".to_owned()),
    ];
    let line = (0usize..4, keys, value).prop_map(|(indent, k, v)| format!("{}{k}: {v}", "  ".repeat(indent)));
    let file = prop::collection::vec(line, 0..20).prop_map(|lines| lines.join("\n"));
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new(config(400));
    runner
        .run(&file, |text| {
            std::fs::write(dir.path().join("fuzz.yaml"), &text).unwrap();
            let (registry, skipped) = ToolRegistry::load_dir(dir.path());
            let loaded = tokio_block(registry.list()).len();
            prop_assert!(loaded + skipped.len() <= 1, "one file is one tool or one skip");
            for skip in &skipped {
                prop_assert!(!skip.reason.trim().is_empty(), "a skipped file says why");
            }
            Ok(())
        })
        .unwrap();
}

/// `n` values drawn from `strategy`, for properties that need `async` to check.
fn samples<S: Strategy>(strategy: &S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::new(config(1));
    (0..n).map(|_| strategy.new_tree(&mut runner).expect("a value").current()).collect()
}

fn tokio_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// Skill sources go to the sandbox's own parser: valid or a clear error, and the
/// inspector keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn skill_sources_are_inspected_or_refused() {
    let sandbox = Sandbox::shared();
    let fragments = prop::sample::select(vec![
        "def run(",
        "async def run(",
        "):\n",
        "    return 1\n",
        "x: int = 1",
        ", ",
        "*args",
        "**kw",
        "import os\n",
        "\"\"\"doc\"\"\"\n",
        "lambda: 0",
        "(",
        ")",
        "[",
        "\0",
        "\u{0}",
        "\\",
        "'",
        "class A:\n",
        "    pass\n",
        "@decorator\n",
        "def run(x=1/0):\n",
        "def run(*, a, b=[]):\n",
        "yield\n",
        "await x\n",
    ]);
    let sources = prop_oneof![prop::collection::vec(fragments, 0..16).prop_map(|p| p.concat()), hostile_text()];
    for source in samples(&sources, 120) {
        match sandbox.inspect_skill(&source).await {
            Ok(_) => {}
            Err(codemode::InspectError::Invalid { message, .. }) => assert!(!message.is_empty(), "{source:?}"),
            Err(err) => panic!("the inspector failed on {source:?}: {err}"),
        }
    }
    assert!(sandbox.inspect_skill("def run():\n    return 1\n").await.is_ok(), "the inspector still works");
}

/// Hostile arguments to every host import, from agent code: each call raises a
/// Python exception (never an internal error), nothing is written outside the
/// store, and the session keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn host_imports_refuse_hostile_arguments() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    // Runtime deps off: a spec that happens to be valid must not reach PyPI.
    let session = Session::builder().base_dir(&base).embeddings(false).allow_runtime_deps(false).build().await.unwrap();
    let calls = [
        "skills.get(A)",
        "skills.invoke(A)",
        "skills.delete(A)",
        "skills.create(A, 'def run():\\n    return 1\\n')",
        "skills.create('ok_name', A)",
        "skills.search(A)",
        "artifacts.load(A)",
        "artifacts.save(A, 'x')",
        "artifacts.save('ok', A, description=A)",
        "artifacts.delete(A)",
        "artifacts.exists(A)",
        "deps.remove(A)",
        "tools.search(A)",
        "getattr(tools, A)()",
        // The raw WIT imports, past the namespaces' own checks.
        "__import__('wit_world.imports.tools', fromlist=['_']).call_tool(A, A, A)",
        "__import__('wit_world.imports.skills', fromlist=['_']).get_skill(A)",
        "__import__('wit_world.imports.skills', fromlist=['_']).get_skill_to_run(A)",
        "__import__('wit_world.imports.skills', fromlist=['_']).create_skill(A, A, A)",
        "__import__('wit_world.imports.artifacts', fromlist=['_']).load(A)",
        "__import__('wit_world.imports.artifacts', fromlist=['_']).info(A)",
        "__import__('wit_world.imports.deps', fromlist=['_']).add(A)",
    ];
    for (i, argument) in samples(&hostile_text(), 60).iter().enumerate() {
        let call = calls[i % calls.len()];
        // The argument reaches Python as a JSON string literal (valid Python, any text).
        let literal = serde_json::to_string(argument).unwrap();
        let code = format!("A = {literal}\ntry:\n    {call}\nexcept Exception as e:\n    type(e).__name__");
        let result = common::run(&session, &code).await;
        if let Some(error) = &result.error {
            assert_ne!(error.kind, "InternalError", "{call} with {argument:?}: {error:?}");
        }
        assert!(!result.interpreter_reset, "{call} with {argument:?} stopped the interpreter");
    }
    assert_eq!(common::value(&common::run(&session, "1 + 1").await), serde_json::json!(2));
    let outside: Vec<_> = std::fs::read_dir(root.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(outside, [std::ffi::OsString::from("base")], "nothing was created beside the store");
}
