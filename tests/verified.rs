//! Verified skills (issue 16 item 1): a skill's examples run in a fresh,
//! read-only interpreter before it is saved, on every surface (agent code, the
//! Rust API, MCP, HTTP `/v1/call` and routes, the CLI). A failing example refuses
//! the save and writes nothing; a skill verified and later broken by a tool
//! change shows up in `skills test`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use codemode::model::{Operations, SkillExample, Verified};
use codemode::{Limits, Session};
use common::{Served, error, run, value};
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_codemode");

/// A CLI tool `shout` whose `say` recipe prints its word with `suffix` (a tool
/// change is a new suffix).
fn shout_tool(base: &Path, suffix: &str) {
    let yaml = format!(
        "name: shout\ncommand: sh\ntimeout: 10\nschema:\n  options:\n    script: {{type: string, short: c}}\n  \
         positional:\n    - {{name: word, type: string, required: true}}\nrecipes:\n  say:\n    description: Say a \
         word\n    preset: {{script: 'printf \"%s{suffix}\" \"$0\"'}}\n"
    );
    std::fs::create_dir_all(base.join("tools")).unwrap();
    std::fs::write(base.join("tools/shout.yaml"), yaml).unwrap();
}

/// A store with the `shout` tool saying `word!`.
fn store() -> tempfile::TempDir {
    let base = tempfile::tempdir().unwrap();
    shout_tool(base.path(), "!");
    base
}

/// A skill calling the tool: `loud(word)` is `word!` while the tool says so.
const LOUD: &str =
    "\"\"\"Say a word loudly.\"\"\"\ndef run(word: str) -> str:\n    return tools.shout.say(word=word)\n";

fn example(args: Value, expect: Value) -> SkillExample {
    serde_json::from_value(json!({"args": args, "expect": expect})).unwrap()
}

async fn session(base: &Path) -> Session {
    let limits = Limits { timeout: Duration::from_secs(5), ..Limits::default() };
    Session::builder().base_dir(base).embeddings(false).limits(limits).build().await.unwrap()
}

/// Nothing of skill `name` is stored: no file, no metadata entry.
fn nothing_stored(base: &Path, name: &str) {
    assert!(!base.join(format!("skills/{name}.py")).exists(), "{name}.py was written");
    let meta = std::fs::read_to_string(base.join("skills/.skills.json")).unwrap_or_default();
    assert!(!meta.contains(&format!("\"{name}\"")), "{name} is in the metadata: {meta}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_code_and_the_rust_api_save_only_what_passes_its_examples() {
    let base = store();
    let s = session(base.path()).await;
    // Agent code: a wrong expectation refuses the save, with the difference.
    let code = format!(
        "skills.create('loud', {LOUD:?}, examples=[{{'args': {{'word': 'hi'}}, 'expect': 'hi!'}}, {{'args': \
         {{'word': 'a'}}, 'expect': 'A!'}}])"
    );
    let (kind, message) = error(&run(&s, &code).await);
    assert!(message.contains("example 2: expected \"A!\", got \"a!\""), "{kind}: {message}");
    nothing_stored(base.path(), "loud");
    assert_eq!(value(&run(&s, "len(skills.list())").await), json!(0));
    // Passing examples: saved, kept, and listed as verified.
    let code = format!("skills.create('loud', {LOUD:?}, examples=[{{'args': {{'word': 'hi'}}, 'expect': 'hi!'}}])");
    value(&run(&s, &code).await);
    let got = value(&run(&s, "s = skills.get('loud'); [s.verified, s.examples, s.verification['passed']]").await);
    assert_eq!(got, json!([true, [{"args": {"word": "hi"}, "expect": "hi!"}], true]));
    assert_eq!(value(&run(&s, "skills.list()[0]['verified']").await), json!(true));
    // Examples go to the metadata; the file stays py-code-mode's.
    let meta = std::fs::read_to_string(base.path().join("skills/.skills.json")).unwrap();
    assert!(meta.contains("\"examples\"") && meta.contains("\"verification\""), "{meta}");
    assert_eq!(std::fs::read_to_string(base.path().join("skills/loud.py")).unwrap(), LOUD);

    // The Rust API: a failing example is an error and the stored version is untouched.
    let broken = "def run(word: str) -> str:\n    return word.upper()\n";
    let err = s.create_verified_skill("loud", broken, None, &[example(json!({"word": "x"}), json!("x!"))]).await;
    let err = err.unwrap_err().to_string();
    assert!(err.contains("expected \"x!\", got \"X\""), "{err}");
    assert_eq!(s.get_skill("loud").await.unwrap().source, LOUD);
    assert_eq!(s.skill_history("loud").await.unwrap().len(), 1, "no version was added");
    // An example that raises is reported with its exception.
    let raises = "def run():\n    return 1 / 0\n";
    let err = s.create_verified_skill("div", raises, None, &[example(json!({}), json!(1))]).await.unwrap_err();
    assert!(err.to_string().contains("raised ZeroDivisionError"), "{err}");
    nothing_stored(base.path(), "div");
    // A skill without examples is saved, and never verified.
    let (skill, _) = s.create_verified_skill("plain", "def run():\n    return 1\n", None, &[]).await.unwrap();
    assert_eq!((skill.info.verified, skill.verification), (Verified::Never, None));
    let listed = serde_json::to_value(s.list_skills().await.unwrap()).unwrap();
    let verified: Vec<(&str, &Value)> =
        listed.as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), &s["verified"])).collect();
    assert_eq!(verified, [("loud", &json!(true)), ("plain", &json!("never"))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn examples_are_hostile_input_and_cannot_write_anything_that_persists() {
    let base = store();
    let s = session(base.path()).await;
    let attempts = [
        // Writes from inside an example are refused: artifacts, skills, deps.
        ("def run():\n    artifacts.save('leak', {'a': 1})\n    return 1\n", "read-only"),
        ("def run():\n    skills.create('other', 'def run():\\n    return 1\\n')\n    return 1\n", "read-only"),
        ("def run():\n    deps.add('six')\n    return 1\n", "runtime dependency changes are disabled"),
        // A loop is stopped by the session's limits, and refuses the save.
        ("def run():\n    while True:\n        pass\n", "timeout"),
        // A value JSON cannot hold is not equal to anything expected.
        ("def run():\n    return object()\n", "not JSON"),
    ];
    for (source, said) in attempts {
        let err = s.create_verified_skill("sneaky", source, None, &[example(json!({}), json!(1))]).await.unwrap_err();
        assert!(err.to_string().contains(said), "{source}: {err}");
        nothing_stored(base.path(), "sneaky");
    }
    assert!(s.list_artifacts().await.unwrap().is_empty());
    nothing_stored(base.path(), "other");
    // Caps: count, size and depth, checked before anything runs.
    let one = example(json!({}), json!(1));
    let source = "def run():\n    return 1\n";
    let too_many = vec![one.clone(); codemode::model::MAX_EXAMPLES + 1];
    let big = example(json!({"x": "y".repeat(codemode::model::MAX_EXAMPLE_BYTES)}), json!(1));
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    for (examples, said) in [(too_many, "at most"), (vec![big], "bytes"), (vec![example(json!({}), deep)], "deeper")] {
        let err = s.create_verified_skill("capped", source, None, &examples).await.unwrap_err();
        assert!(err.to_string().contains(said), "{err}");
    }
    nothing_stored(base.path(), "capped");
    // From agent code: examples that are not a list of JSON data are refused in the guest.
    for bad in ["'x'", "[{'args': {}, 'expect': object()}]", "[{'args': [], 'expect': 1}]", "[{'expect': 1, 'x': 2}]"] {
        let code = format!("skills.create('capped', 'def run():\\n    return 1\\n', examples={bad})");
        let result = run(&s, &code).await;
        assert!(result.error.is_some(), "{bad}: {:?}", result.value);
    }
    nothing_stored(base.path(), "capped");
}

/// Examples run in interpreters of their own, but within their session's limits:
/// their memory counts with the session's against its one cap (a server reserves
/// no more than that cap for it), and all of a skill's examples together get one
/// run's timeout.
#[tokio::test(flavor = "multi_thread")]
async fn examples_spend_their_sessions_memory_and_time() {
    let base = store();
    let limits = Limits { timeout: Duration::from_secs(3), memory: 160 << 20, ..Limits::default() };
    let s = Session::builder().base_dir(base.path()).embeddings(false).limits(limits).build().await.unwrap();
    let alloc = "def run(n: int) -> int:\n    return len(bytearray(n))\n";
    let wants = 64 << 20;
    let examples = [example(json!({"n": wants}), json!(wants))];
    s.create_verified_skill("alloc", alloc, None, &examples).await.unwrap();
    // The session now holds about as much as the example wants: together they do
    // not fit, so the example runs out of memory, whatever an interpreter alone may use.
    let held = value(&run(&s, &format!("held = bytearray({wants}); len(held)")).await);
    assert_eq!(held, json!(wants));
    let err = s.create_verified_skill("alloc", alloc, None, &examples).await.unwrap_err();
    assert!(err.to_string().contains("MemoryError"), "{err}");
    let code =
        format!("skills.create('alloc2', {alloc:?}, examples=[{{'args': {{'n': {wants}}}, 'expect': {wants}}}])");
    let (_, message) = error(&run(&s, &code).await);
    assert!(message.contains("MemoryError"), "{message}");
    nothing_stored(base.path(), "alloc2");
    assert_eq!(value(&run(&s, "len(held)").await), json!(wants), "the session lives on");

    // Sixteen examples that each sleep 1 s would take 16 s one after the other;
    // they get 3 s together.
    let sleepy = "def run() -> int:\n    import time\n    time.sleep(1)\n    return 1\n";
    let started = std::time::Instant::now();
    let many = vec![example(json!({}), json!(1)); codemode::model::MAX_EXAMPLES];
    let err = s.create_verified_skill("sleepy", sleepy, None, &many).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    assert!(err.to_string().contains("timeout"), "{err}");
    nothing_stored(base.path(), "sleepy");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skill_broken_by_a_tool_change_fails_skills_test_and_ranks_last() {
    let base = store();
    let s = session(base.path()).await;
    s.create_verified_skill("loud", LOUD, None, &[example(json!({"word": "hi"}), json!("hi!"))]).await.unwrap();
    let shout = "\"\"\"Say a word loudly, verified.\"\"\"\ndef run(word: str) -> str:\n    return word + '!'\n";
    s.create_verified_skill("shout_word", shout, None, &[example(json!({"word": "hi"}), json!("hi!"))]).await.unwrap();
    let report = s.test_skills(None).await.unwrap();
    assert_eq!((report.passed, report.failed, report.recorded), (2, 0, true), "{report:?}");
    drop(s);

    // The tool changes: a new session over the same store finds out.
    shout_tool(base.path(), "?");
    let s = session(base.path()).await;
    let report =
        value(&run(&s, "r = skills.test(); [r.summary, r.results[0]['name'], r.results[0]['failures']]").await);
    assert_eq!(report, json!(["1 passed, 1 failed, 0 skipped", "loud", ["example 1: expected \"hi!\", got \"hi?\""]]));
    let listed = value(&run(&s, "[(x['name'], x['verified']) for x in skills.list()]").await);
    assert_eq!(listed, json!([["loud", false], ["shout_word", true]]));
    // Search ranks the failing skill below the passing one, even on its own words.
    let found: Vec<String> =
        s.search_skills("say a word loudly", 5).await.unwrap().matches.into_iter().map(|m| m.info.name).collect();
    assert_eq!(found, ["shout_word", "loud"]);
    // Testing one skill by name; the tool removed entirely fails it too.
    std::fs::remove_file(base.path().join("tools/shout.yaml")).unwrap();
    let s = session(base.path()).await;
    let report = s.test_skills(Some("loud")).await.unwrap();
    assert_eq!(report.results[0].failures, ["cannot run: this session has no tool \"shout\""], "{report:?}");
    assert!(s.test_skills(Some("nope")).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restricted_session_reports_but_does_not_record_and_skips_what_it_may_not_run() {
    let base = store();
    let s = session(base.path()).await;
    s.create_verified_skill("loud", LOUD, None, &[example(json!({"word": "hi"}), json!("hi!"))]).await.unwrap();
    shout_tool(base.path(), "?");
    // Limited to other tools: `loud` cannot run here; the result is not stored for everyone.
    let narrow = Session::builder()
        .base_dir(base.path())
        .embeddings(false)
        .allow_tools(Vec::<String>::new())
        .build()
        .await
        .unwrap();
    let report = narrow.test_skills(None).await.unwrap();
    assert_eq!((report.failed, report.recorded), (1, false), "{report:?}");
    let wide = session(base.path()).await;
    assert_eq!(wide.list_skills().await.unwrap()[0].verified, Verified::Passed, "the narrow result was not kept");
    // A skill saved by the narrow session is not run by a wider one's test.
    narrow
        .create_verified_skill("tiny", "def run():\n    return 1\n", None, &[example(json!({}), json!(1))])
        .await
        .unwrap();
    let report = wide.test_skills(Some("tiny")).await.unwrap();
    assert!(
        report.results[0].skipped.as_deref().unwrap_or_default().contains("cannot run in this session"),
        "{report:?}"
    );
}

#[tokio::test]
async fn mcp_create_skill_verifies_and_test_skills_reports() {
    let base = store();
    let client = |base: &Path| {
        let mut command = tokio::process::Command::new(BIN);
        command.args(["mcp", "--base"]).arg(base).stderr(Stdio::null());
        ().serve(TokioChildProcess::new(command).unwrap())
    };
    let mcp = client(base.path()).await.expect("handshake");
    let call = |tool: &str, args: Value| {
        let params = rmcp::model::CallToolRequestParams::new(tool.to_owned());
        mcp.call_tool(params.with_arguments(args.as_object().cloned().unwrap_or_default()))
    };
    let failing = json!({"name": "loud", "source": LOUD, "examples": [{"args": {"word": "hi"}, "expect": "HI"}]});
    let refused = call("create_skill", failing).await.unwrap();
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    assert!(serde_json::to_string(&refused.content).unwrap().contains("expected \\\"HI\\\", got \\\"hi!\\\""));
    nothing_stored(base.path(), "loud");
    let passing = json!({"name": "loud", "source": LOUD, "examples": [{"args": {"word": "hi"}, "expect": "hi!"}]});
    let created = call("create_skill", passing).await.unwrap().structured_content.unwrap();
    assert_eq!((&created["verified"], &created["verification"]["passed"]), (&json!(true), &json!(true)), "{created}");
    let hostile = json!({"name": "x", "source": LOUD, "examples": [{"args": 1, "expect": 1}]});
    assert_eq!(call("create_skill", hostile).await.unwrap().is_error, Some(true));
    mcp.cancel().await.unwrap();

    shout_tool(base.path(), "?");
    let mcp = client(base.path()).await.expect("handshake");
    let params = rmcp::model::CallToolRequestParams::new("test_skills");
    let report = mcp.call_tool(params).await.unwrap().structured_content.unwrap();
    assert_eq!(report["summary"], "0 passed, 1 failed, 0 skipped", "{report}");
    mcp.cancel().await.unwrap();
}

#[tokio::test]
async fn http_call_and_routes_verify_and_test() {
    let base = store();
    let token = "verified-test-token";
    let served = Served::start(token, &["--base", base.path().to_str().unwrap()]);
    let url = served.url.clone();
    let remote = codemode::remote::Remote::new(&url, Some(token)).unwrap();
    // `POST /v1/call`, through the client.
    let bad = [example(json!({"word": "hi"}), json!("nope"))];
    let err = remote.create_verified_skill("loud", LOUD, None, &bad).await.unwrap_err().to_string();
    assert!(err.contains("expected \"nope\", got \"hi!\""), "{err}");
    nothing_stored(base.path(), "loud");
    // `PUT /v1/skills/{name}` with examples, and `POST /v1/skills/{name}/test`.
    let http = reqwest::Client::new();
    let put = |examples: Value| {
        http.put(format!("{url}/v1/skills/loud"))
            .bearer_auth(token)
            .json(&json!({"source": LOUD, "examples": examples}))
            .send()
    };
    let refused = put(json!([{"args": {"word": "a"}, "expect": "b"}])).await.unwrap();
    assert_eq!(refused.status(), 400);
    nothing_stored(base.path(), "loud");
    let saved = put(json!([{"args": {"word": "a"}, "expect": "a!"}])).await.unwrap();
    assert_eq!(saved.status(), 200);
    assert_eq!(saved.json::<Value>().await.unwrap()["verified"], true);
    shout_tool(base.path(), "?");
    drop((remote, served));
    // A server started after the tool changed.
    let served = Served::start(token, &["--base", base.path().to_str().unwrap()]);
    let url = &served.url;
    let tested = http.post(format!("{url}/v1/skills/loud/test")).bearer_auth(token).send().await.unwrap();
    let report: Value = tested.json().await.unwrap();
    assert_eq!(report["results"][0]["failures"], json!(["example 1: expected \"a!\", got \"a?\""]), "{report}");
    let remote = codemode::remote::Remote::new(url, Some(token)).unwrap();
    assert_eq!(remote.list_skills().await.unwrap()[0].verified, Verified::Failed);
}

#[test]
fn cli_add_with_examples_and_skills_test() {
    let base = store();
    let file = base.path().join("loud.py");
    std::fs::write(&file, LOUD).unwrap();
    let codemode = |args: &[&str]| Command::new(BIN).args(args).arg("--base").arg(base.path()).output().unwrap();
    let text = |out: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    let file = file.to_str().unwrap();
    let refused = codemode(&["skills", "add", file, "--example", r#"{"args": {"word": "a"}, "expect": "z"}"#]);
    assert!(!refused.status.success() && text(&refused).contains("expected \"z\", got \"a!\""), "{}", text(&refused));
    nothing_stored(base.path(), "loud");
    let bad = codemode(&["skills", "add", file, "--example", "[1]"]);
    assert!(!bad.status.success() && text(&bad).contains("--example 1"), "{}", text(&bad));
    let added = codemode(&["skills", "add", file, "--example", r#"{"args": {"word": "a"}, "expect": "a!"}"#]);
    assert!(added.status.success() && text(&added).contains("1 example(s) passed"), "{}", text(&added));
    let listed = codemode(&["skills", "list"]);
    assert!(text(&listed).contains("[verified]"), "{}", text(&listed));
    let tested = codemode(&["skills", "test"]);
    assert!(tested.status.success() && text(&tested).contains("pass  loud"), "{}", text(&tested));
    shout_tool(base.path(), "?");
    let tested = codemode(&["skills", "test", "loud"]);
    assert_eq!(tested.status.code(), Some(1), "{}", text(&tested));
    assert!(text(&tested).contains("FAIL  loud: example 1: expected \"a!\", got \"a?\""), "{}", text(&tested));
    assert!(text(&tested).contains("0 passed, 1 failed, 0 skipped"), "{}", text(&tested));
    let json: Value = serde_json::from_slice(&codemode(&["skills", "test", "--json"]).stdout).unwrap();
    assert_eq!(json["failed"], 1, "{json}");
}
