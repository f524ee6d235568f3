//! Skills end to end: validation by the sandbox's CPython, storage, invocation and
//! composition in the guest, py-code-mode skill folders.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use codemode::model::Operations;
use codemode::{Session, SessionError};
use common::{error_traceback, run, value};
use serde_json::json;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/skills");

async fn session(base: &Path) -> Session {
    // Keyword search keeps these tests independent of the model (tests/search.rs has it).
    Session::builder().base_dir(base).embeddings(false).build().await.expect("session starts")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(format!("{name}.py"))).unwrap()
}

/// Creates the three fixture skills through agent code.
async fn create_fixtures(s: &Session) {
    for name in ["word_stats", "text_report", "broken_math"] {
        let code = format!("skills.create({name:?}, {:?})['name']", fixture(name));
        assert_eq!(value(&run(s, &code).await), json!(name));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_and_async_skills_run_and_compose() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    create_fixtures(&s).await;

    // async def run, called synchronously, by name and through invoke.
    let r = run(&s, "skills.word_stats(text='b a b c b a', top=2)").await;
    assert_eq!(value(&r), json!({"words": 6, "top": [["b", 3], ["a", 2]]}));
    let r = run(&s, "skills.invoke('word_stats', text='x y x')['top'][0]").await;
    assert_eq!(value(&r), json!(["x", 2]));
    // def run composing an async skill and saving an artifact.
    let r = run(&s, "skills.text_report(text='one two two', name='t1')").await;
    assert_eq!(value(&r), json!({"words": 3, "top": ["two", "one"]}));
    assert_eq!(value(&run(&s, "artifacts.load('reports/t1.json')").await), json!({"words": 3, "top": ["two", "one"]}));
    // From inside a running event loop (top-level await), sync calls still work:
    // the deadlock py-code-mode has here must not exist.
    let r = run(&s, "import asyncio\nawait asyncio.sleep(0)\nskills.text_report(text='a a', name='t2')['words']").await;
    assert_eq!(value(&r), json!(2));
    let r = run(&s, "async def main():\n    return skills.word_stats(text='q')\nawait main()").await;
    assert_eq!(value(&r), json!({"words": 1, "top": [["q", 1]]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn skills_run_in_fresh_globals() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    let probe = "def run():\n    return sorted(k for k in globals() if not k.startswith('__') and k != 'run')";
    run(&s, &format!("skills.create('probe', {probe:?})")).await;
    let r = run(&s, "secret = 42\nskills.probe()").await;
    let names = value(&r);
    assert!(names.as_array().unwrap().contains(&json!("tools")), "{names}");
    for expected in ["artifacts", "deps", "skills"] {
        assert!(names.as_array().unwrap().contains(&json!(expected)), "{names}");
    }
    assert!(!names.as_array().unwrap().contains(&json!("secret")), "caller variables leak: {names}");
    // And the skill's globals do not leak back.
    run(&s, "skills.create('setter', 'leak = 1\\ndef run():\\n    return leak')").await;
    assert_eq!(value(&run(&s, "skills.setter()").await), json!(1));
    assert_eq!(error_traceback(&run(&s, "leak").await).0, "NameError");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_point_into_the_skill() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    create_fixtures(&s).await;
    let (kind, traceback) = error_traceback(&run(&s, "skills.broken_math(a=1, b=0)").await);
    assert_eq!(kind, "ZeroDivisionError");
    assert!(traceback.contains("File \"skills/broken_math.py\", line 6, in run"), "{traceback}");
    assert!(traceback.contains("return half / b"), "{traceback}");
    assert!(traceback.contains("File \"<cell-"), "{traceback}");
    assert!(!traceback.contains("codemode_guest"), "{traceback}");
    // Keyword arguments only; unknown skills name the known ones.
    assert_eq!(error_traceback(&run(&s, "skills.invoke('word_stats', 'text')").await).0, "TypeError");
    let (kind, traceback) = error_traceback(&run(&s, "skills.nope()").await);
    assert_eq!(kind, "AttributeError");
    assert!(traceback.contains("available: broken_math, text_report, word_stats"), "{traceback}");
    assert_eq!(error_traceback(&run(&s, "skills.invoke('nope')").await).0, "SkillNotFoundError");
    assert_eq!(value(&run(&s, "skills.get('nope') is None").await), json!(true));
    // Recursion between skills is bounded with a clear error.
    run(&s, "skills.create('ping', 'def run(n=0):\\n    return skills.pong(n=n + 1)')").await;
    run(&s, "skills.create('pong', 'def run(n=0):\\n    return skills.ping(n=n + 1)')").await;
    let (kind, traceback) = error_traceback(&run(&s, "skills.ping()").await);
    assert_eq!(kind, "SkillError");
    assert!(traceback.contains("skills nested deeper than 16: ping -> pong -> ping"), "{traceback}");
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_skills_are_rejected_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    run(&s, "skills.create('keep', 'def run():\\n    return 1', description='kept')").await;
    for (name, source, needle) in [
        ("bad_syntax", "def run(:\n", "syntax error"),
        ("no_run", "def helper():\n    pass", "no top-level `run`"),
        ("not_callable", "run = 42", "must be a function"),
        ("class_run", "class run:\n    pass", "must be a function"),
        ("list", "def run():\n    pass", "reserved"),
        ("invoke", "def run():\n    pass", "reserved"),
        ("has-dash", "def run():\n    pass", "identifier"),
        ("../escape", "def run():\n    pass", "identifier"),
        ("1st", "def run():\n    pass", "identifier"),
        ("class", "def run():\n    pass", "keyword"),
        ("", "def run():\n    pass", "empty"),
    ] {
        let r = run(&s, &format!("skills.create({name:?}, {source:?})")).await;
        let (kind, traceback) = error_traceback(&r);
        assert_eq!(kind, "ValueError", "{name}: {traceback}");
        assert!(traceback.contains(needle), "{name}: {traceback}");
    }
    // Validation never runs the module body.
    let r = run(
        &s,
        "skills.create('side_effect', \"artifacts.save('pwned', 'x')\\nraise SystemExit\\ndef run():\\n    return 1\")",
    )
    .await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(value(&run(&s, "artifacts.exists('pwned')").await), json!(false));
    let names = value(&run(&s, "[s['name'] for s in skills.list()]").await);
    assert_eq!(names, json!(["keep", "side_effect"]));
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("skills"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".py"))
        .collect();
    files.sort();
    assert_eq!(files, ["keep.py", "side_effect.py"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn descriptions_and_signatures_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = session(dir.path()).await;
        let r = run(&s, "skills.create('greet', 'async def run(name: str, punct: str = \"!\") -> str:\\n    return \"hi \" + name + punct', description='Greets someone by name')").await;
        assert_eq!(value(&r)["replaced"], json!(false));
        let r = run(&s, "skills.create('greet', 'async def run(name: str, punct: str = \"!\") -> str:\\n    return \"hello \" + name + punct', description='Greets someone by name')").await;
        assert_eq!(value(&r)["replaced"], json!(true), "overwriting says so");
    }
    let s = session(dir.path()).await;
    let info = &value(&run(&s, "skills.list()").await)[0];
    assert_eq!(info["description"], "Greets someone by name");
    assert_eq!(info["is_async"], true);
    assert_eq!(
        info["parameters"][1],
        json!({"name": "punct", "type": "str", "required": false, "default": "!", "description": ""})
    );
    assert_eq!(value(&run(&s, "skills.greet(name='ada')").await), json!("hello ada!"));
    // The same library from Rust.
    let library = s.skills().unwrap();
    let skill = library.get("greet").await.unwrap();
    assert!(skill.source.contains("hello"));
    assert!(library.delete("greet").await.unwrap());
    assert!(!library.delete("greet").await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn py_code_mode_skill_folders_load_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let skills_dir = dir.path().join("skills");
    std::fs::create_dir_all(&skills_dir).unwrap();
    for name in ["word_stats", "text_report", "broken_math"] {
        std::fs::write(skills_dir.join(format!("{name}.py")), fixture(name)).unwrap();
    }
    // A helper module py-code-mode ignores, and a file that is not a skill.
    std::fs::write(skills_dir.join("_helpers.py"), "X = 1").unwrap();
    std::fs::write(skills_dir.join("not_a_skill.py"), "print('no run here')").unwrap();
    let s = session(dir.path()).await;
    let list = value(&run(&s, "[(s['name'], s['description'], s['is_async']) for s in skills.list()]").await);
    assert_eq!(
        list,
        json!([
            ["broken_math", "Divide two numbers (and fail on zero, to show where skills raise).", false],
            [
                "text_report",
                "Write a short report on a text: word statistics (via the word_stats skill), saved as an artifact.",
                false
            ],
            [
                "word_stats",
                "Count the words of a text and return the most common ones (async, docstring on run).",
                true
            ],
        ])
    );
    let r = run(&s, "skills.text_report(text='to be or not to be')").await;
    assert_eq!(value(&r), json!({"words": 6, "top": ["to", "be"]}));
    // Edited by hand after codemode stored its signature: the file wins.
    run(&s, "skills.create('edit_me', 'def run(a):\\n    return a')").await;
    std::fs::write(skills_dir.join("edit_me.py"), "async def run(a, b=2):\n    return a + b\n").unwrap();
    let info = value(&run(&s, "[s for s in skills.list() if s['name'] == 'edit_me'][0]").await);
    assert_eq!((info["is_async"].clone(), info["parameters"].as_array().unwrap().len()), (json!(true), 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn search_sees_skills_other_sessions_create() {
    let dir = tempfile::tempdir().unwrap();
    let reader = session(dir.path()).await;
    let writer = session(dir.path()).await;
    let search = "[m['name'] for m in skills.search('frobnicate', limit=3)]";
    assert_eq!(value(&run(&reader, search).await), json!([]));
    run(&writer, r#"skills.create('frobnicate', 'def run():\n    """Frobnicate widgets."""\n    return 1')"#).await;
    assert_eq!(value(&run(&reader, search).await), json!(["frobnicate"]));
    // A file dropped in by hand is seen too.
    std::fs::write(dir.path().join("skills/frobnicate_more.py"), "def run():\n    \"\"\"Frobnicate more.\"\"\"\n")
        .unwrap();
    assert_eq!(value(&run(&reader, search).await), json!(["frobnicate", "frobnicate_more"]));
    run(&writer, "skills.delete('frobnicate')").await;
    assert_eq!(value(&run(&reader, search).await), json!(["frobnicate_more"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn facade_and_keyword_search() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    create_fixtures(&s).await;
    let library = s.skills().unwrap();
    let results = library.search("word_stats", 3).await.unwrap();
    assert_eq!(results.mode, codemode::skills::SearchMode::Keyword);
    assert_eq!(results.matches[0].info.name, "word_stats");
    assert!(results.notice.as_deref().is_some_and(|n| n.contains("scripts/fetch-model.sh")), "{results:?}");
    assert!(library.search("word_stats", 3).await.unwrap().notice.is_none(), "the notice is given once");
    let r = s.invoke_skill("word_stats", json!({"text": "a b a"}).as_object().unwrap()).await.unwrap();
    assert_eq!(value(&r), json!({"words": 3, "top": [["a", 2], ["b", 1]]}));
    assert!(matches!(s.invoke_skill("../x", &Default::default()).await, Err(SessionError::InvalidSkill { .. })));
    // The guest sees the keyword notice on stderr, once.
    let fresh = session(dir.path()).await;
    let r = run(&fresh, "[m['name'] for m in skills.search('report', limit=2)]").await;
    assert_eq!(value(&r), json!(["text_report"]));
    assert!(r.stderr.contains("keyword-only"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn skill_names_cannot_leave_the_skills_directory() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    let canary = root.path().join("canary");
    std::fs::create_dir_all(&canary).unwrap();
    let victim = "def run():\n    return 'the victim ran'\n";
    std::fs::write(canary.join("victim.py"), victim).unwrap();
    let s = session(&base).await;
    create_fixtures(&s).await;
    let traversals =
        ["../../canary/victim", "../canary/victim", "/tmp/victim", "word_stats/../word_stats", "a\0b", "victim.py"];
    for name in traversals {
        for op in ["get", "invoke", "delete"] {
            let r = run(&s, &format!("skills.{op}({name:?})")).await;
            let error = r.error.as_ref().unwrap_or_else(|| panic!("skills.{op}({name:?}) succeeded"));
            assert_eq!(error.kind, "ValueError", "skills.{op}({name:?}): {error:?}");
            assert!(error.message.contains("invalid skill name"), "skills.{op}({name:?}): {}", error.message);
            assert!(!error.message.contains(&*root.path().to_string_lossy()), "{}", error.message);
        }
        assert!(matches!(s.get_skill(name).await, Err(SessionError::Skill(_))), "{name}");
        assert!(matches!(s.delete_skill(name).await, Err(SessionError::Skill(_))), "{name}");
    }
    assert_eq!(std::fs::read_to_string(canary.join("victim.py")).unwrap(), victim, "the canary is untouched");
    // A huge name is refused without being echoed whole.
    let r = run(&s, "skills.get('../' * 1_000_000)").await;
    assert!(r.error.as_ref().unwrap().message.len() < 300, "{}", r.error.as_ref().unwrap().message.len());
    // Files no operation could name are not listed either.
    std::fs::write(base.join("skills/not-a-name.py"), victim).unwrap();
    std::fs::write(base.join("skills/class.py"), victim).unwrap();
    let names = value(&run(&s, "sorted(s['name'] for s in skills.list())").await);
    assert_eq!(names, json!(["broken_math", "text_report", "word_stats"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn text_the_host_cannot_receive_is_refused_in_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    run(&s, "kept = 1").await;
    let calls = [
        ("skills.get('\\ud800')", "ValueError"),
        ("skills.create('x', 'def run(): pass', description='\\udfff')", "ValueError"),
        ("artifacts.save('a', 'x', description='\\ud800')", "ValueError"),
        ("deps.add('\\ud800')", "ValueError"),
        ("skills.get(123)", "TypeError"),
        ("artifacts.load(None)", "TypeError"),
        ("skills.search('q', limit=-1)", "ValueError"),
        ("tools.search('q', limit=2**40)", "ValueError"),
    ];
    for (call, kind) in calls {
        let r = run(&s, call).await;
        let error = r.error.as_ref().unwrap_or_else(|| panic!("{call} succeeded"));
        assert_eq!(error.kind, kind, "{call}: {error:?}");
        assert!(!r.interpreter_reset, "{call} stopped the interpreter");
    }
    assert_eq!(value(&run(&s, "kept").await), json!(1), "the interpreter kept its state");
}

/// A skills directory with one good skill and one of each way a file can fail to
/// be a skill; `_helper.py` is a py-code-mode helper, not a skill, and not reported.
fn broken_skills_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let skills = dir.path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    let files: [(&str, &[u8]); 6] = [
        ("good.py", b"def run(x: int = 1) -> int:\n    \"\"\"Double a number.\"\"\"\n    return 2 * x\n"),
        ("syntax.py", b"def run(:\n    return 1\n"),
        ("norun.py", b"def helper():\n    return 1\n"),
        ("bad-name.py", b"def run():\n    return 1\n"),
        ("latin1.py", b"def run():\n    return '\xe9t\xe9'\n"),
        ("_helper.py", b"X = 1\n"),
    ];
    for (name, bytes) in files {
        std::fs::write(skills.join(name), bytes).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_skill_files_are_skipped_with_their_reason() {
    let dir = broken_skills_dir();
    let s = session(dir.path()).await;
    let names: Vec<String> = s.list_skills().await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["good"]);
    assert_eq!(value(&run(&s, "[x['name'] for x in skills.list()]").await), json!(["good"]));
    // Search never surfaces them, and still fills its limit with what loads.
    let found = s.search_skills("run return helper number", 10).await.unwrap();
    let found: Vec<&str> = found.matches.iter().map(|m| m.info.name.as_str()).collect();
    assert_eq!(found, ["good"]);

    let checks = s.skills().unwrap().check().await.unwrap();
    let seen: Vec<(&str, Result<&str, &str>)> = checks
        .iter()
        .map(|c| (c.name.as_str(), c.loaded.as_ref().map(|i| i.description.as_str()).map_err(String::as_str)))
        .collect();
    let expected = [
        ("bad-name.py", "must be a Python identifier"),
        ("latin1.py", "not UTF-8"),
        ("norun", "no top-level `run`"),
        ("syntax", "syntax error"),
    ];
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen[1], ("good", Ok("Double a number.")), "{seen:?}");
    for (name, reason) in expected {
        let (_, loaded) = seen.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name} in {seen:?}"));
        assert!(loaded.is_err_and(|r| r.contains(reason)), "{name}: {loaded:?}");
    }
    // None of it was changed or deleted.
    assert!(dir.path().join("skills/bad-name.py").exists() && dir.path().join("skills/syntax.py").exists());
}

fn codemode(base: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_codemode"))
        .arg("--base")
        .arg(base)
        .args(args)
        .env("CODEMODE_LOG", "warn")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn skills_check_reports_each_file_and_fails_when_one_is_skipped() {
    let dir = broken_skills_dir();
    let out = codemode(dir.path(), &["skills", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(lines.contains(&"ok    good: Double a number."), "{stdout}");
    for (file, reason) in [
        ("bad-name.py", "invalid skill name \"bad-name\""),
        ("latin1.py", "not UTF-8"),
        ("norun", "no top-level `run`"),
        ("syntax", "(line 1)"),
    ] {
        assert!(lines.iter().any(|l| l.starts_with(&format!("skip  {file}: ")) && l.contains(reason)), "{stdout}");
    }
    assert!(!stdout.contains(&*dir.path().to_string_lossy()), "no host path: {stdout}");

    let out = codemode(dir.path(), &["skills", "check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(entries[1], json!({"name": "good", "ok": true, "description": "Double a number."}));
    assert_eq!(entries.as_array().unwrap().iter().filter(|e| e["ok"] == json!(false)).count(), 4, "{entries}");

    // Each broken file is reported once per process, however often skills are listed.
    let out = codemode(dir.path(), &["run", "skills.list()\nskills.list()\nlen(skills.list())"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n", "{stderr}");
    for name in ["bad-name.py", "latin1.py", "norun", "syntax"] {
        let reports = stderr.lines().filter(|l| l.contains("skipping a skill") && l.contains(name)).count();
        assert_eq!(reports, 1, "{name}: {stderr}");
    }

    for file in ["syntax.py", "norun.py", "bad-name.py", "latin1.py"] {
        std::fs::remove_file(dir.path().join("skills").join(file)).unwrap();
    }
    let out = codemode(dir.path(), &["skills", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok    good: Double a number.\n");
}

/// Versions (issue 16 item 2): saving over a skill keeps the one replaced; history
/// lists them and rollback restores one as a new version, itself undoable; on the
/// Rust API and from agent code.
#[tokio::test(flavor = "multi_thread")]
async fn history_and_rollback_keep_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path()).await;
    for n in 1..=3 {
        s.create_skill("step", &format!("def run():\n    return {n}\n"), Some(&format!("version {n}"))).await.unwrap();
    }
    let history = s.skill_history("step").await.unwrap();
    let listed: Vec<_> = history.iter().map(|v| (v.version, v.description.as_str(), v.current)).collect();
    assert_eq!(listed, [(1, "version 1", false), (2, "version 2", false), (3, "version 3", true)]);
    assert!(history.iter().all(|v| v.untrusted.is_none() && v.created_at.ends_with("+00:00")));

    let (skill, now) = s.rollback_skill("step", 1).await.unwrap();
    assert_eq!((now, skill.info.description.as_str()), (4, "version 1"));
    assert_eq!(value(&run(&s, "skills.step()").await), json!(1));
    // The rollback is a version like any other: undone by rolling back to 3.
    assert_eq!(s.skill_history("step").await.unwrap().len(), 4);
    s.rollback_skill("step", 3).await.unwrap();
    assert_eq!(value(&run(&s, "skills.step()").await), json!(3));
    // The py-code-mode layout holds the current version at the top.
    assert_eq!(std::fs::read_to_string(dir.path().join("skills/step.py")).unwrap(), "def run():\n    return 3\n");

    // Agent code: the same, and every hostile version or name refused clearly.
    let code = r#"
out = [[v["version"] for v in skills.history("step")], skills.rollback("step", 2)["version"], skills.step()]
for args in (("step", 99), ("step", -1), ("step", 2**40), ("step", "1"), ("step", 1.0), ("step", True),
             ("../step", 1), ("missing", 1), ("step\x00", 1)):
    try:
        skills.rollback(*args)
        out.append("ok")
    except Exception as e:
        out.append(type(e).__name__)
for name in ("missing", "../x", "a" * 10_000):
    try:
        skills.history(name)
        out.append("ok")
    except Exception as e:
        out.append(type(e).__name__)
out
"#;
    let r = run(&s, code).await;
    assert_eq!(
        value(&r),
        json!([
            [1, 2, 3, 4, 5],
            6,
            2,
            "SkillNotFoundError",
            "ValueError",
            "ValueError",
            "ValueError",
            "ValueError",
            "ValueError",
            "ValueError",
            "SkillNotFoundError",
            "ValueError",
            "SkillNotFoundError",
            "ValueError",
            "ValueError"
        ]),
        "{r:?}"
    );
    let missing = s.rollback_skill("step", 99).await.unwrap_err();
    assert!(missing.to_string().contains("has no version 99"), "{missing}");

    // Deleting a skill deletes its history: created again, it starts at 1.
    assert!(s.delete_skill("step").await.unwrap());
    assert!(matches!(s.skill_history("step").await, Err(SessionError::Skill(_))));
    s.create_skill("step", "def run():\n    return 'new'\n", None).await.unwrap();
    let history = s.skill_history("step").await.unwrap();
    assert_eq!(history.iter().map(|v| v.version).collect::<Vec<_>>(), [1]);
}
