//! The Session API end to end: a real guest in a real wasmtime store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use std::sync::Arc;

use codemode::storage::FileStorage;
use codemode::{CellState, LimitKind, Limits, Operations, RunResult, Session, SessionError};
use common::{run, value};
use serde_json::json;

async fn session() -> Session {
    Session::builder().build().await.expect("session starts")
}

async fn session_with(limits: Limits) -> Session {
    Session::builder().limits(limits).build().await.expect("session starts")
}

fn error_kind(result: &RunResult) -> &str {
    &result.error.as_ref().expect("an error").kind
}

/// The `File ...` lines of a run's traceback (the frames, without their code lines).
fn frames(result: &RunResult) -> Vec<String> {
    let traceback = &result.error.as_ref().expect("an error").traceback;
    traceback.lines().filter(|l| l.starts_with("  File ")).map(|l| l.trim().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn state_persists_across_runs() {
    let s = session().await;
    assert!(run(&s, "x = 1").await.value.is_none());
    assert_eq!(value(&run(&s, "x + 1").await), json!(2));
    run(&s, "def double(n):\n    return 2 * n\nclass Box:\n    def __init__(self, v): self.v = v").await;
    assert_eq!(value(&run(&s, "double(Box(21).v)").await), json!(42));
    run(&s, "import fractions").await;
    assert_eq!(run(&s, "fractions.Fraction(1, 3)").await.value.unwrap().repr, "Fraction(1, 3)");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_clears_variables_but_keeps_namespaces() {
    let s = session().await;
    run(&s, "x = 1\ndef f(): pass").await;
    s.reset().await.unwrap();
    let after = run(&s, "x").await;
    assert_eq!(error_kind(&after), "NameError");
    assert_eq!(
        value(&run(&s, "[n in globals() for n in ('tools', 'skills', 'artifacts', 'deps')]").await),
        json!([true, true, true, true])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn last_expression_value_is_returned() {
    let s = session().await;
    assert_eq!(value(&run(&s, "a = 2\n{'k': [a, 'v', None, 1.5]}").await), json!({"k": [2, "v", null, 1.5]}));
    // Not representable as JSON: repr only.
    let set = run(&s, "{3, 1}").await;
    assert_eq!(set.value.as_ref().unwrap().repr, "{1, 3}");
    assert_eq!(set.value.as_ref().unwrap().json, None);
    assert_eq!(run(&s, "float('nan')").await.value.unwrap().json, None);
    // A statement last, or an expression that is None: no value.
    assert!(run(&s, "y = 3").await.value.is_none());
    assert!(run(&s, "print('x')").await.value.is_none());
    // `_` holds the previous value, as in the Python REPL.
    run(&s, "6 * 7").await;
    assert_eq!(value(&run(&s, "_").await), json!(42));
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_and_stderr_are_captured_separately() {
    let s = session().await;
    let r = run(&s, "import sys\nprint('out', 1)\nprint('err', file=sys.stderr)\nsys.stdout.write('more\\n')").await;
    assert_eq!(r.stdout, "out 1\nmore\n");
    assert_eq!(r.stderr, "err\n");
    assert!(!r.stdout_truncated && !r.stderr_truncated);
}

#[tokio::test(flavor = "multi_thread")]
async fn tracebacks_show_the_agent_lines_only() {
    let s = session().await;
    let r = run(&s, "def boom(n):\n    return 1 / n\n\nboom(0)").await;
    let error = r.error.unwrap();
    assert_eq!(error.kind, "ZeroDivisionError");
    assert_eq!(error.message, "division by zero");
    assert!(error.traceback.contains("line 2, in boom"), "{}", error.traceback);
    assert!(error.traceback.contains("return 1 / n"), "{}", error.traceback);
    assert!(error.traceback.contains("line 4, in <module>"), "{}", error.traceback);
    assert!(!error.traceback.contains("codemode_guest"), "runner frames leak: {}", error.traceback);
    assert!(error.traceback.starts_with("Traceback (most recent call last):"));
}

#[tokio::test(flavor = "multi_thread")]
async fn async_tracebacks_hide_the_event_loop() {
    let s = session().await;
    let r =
        run(&s, "import asyncio\nasync def f():\n    await asyncio.sleep(0)\n    raise KeyError('k')\nawait f()").await;
    let error = r.error.unwrap();
    assert_eq!(error.kind, "KeyError");
    assert!(error.traceback.contains("line 4, in f"), "{}", error.traceback);
    assert!(!error.traceback.contains("base_events"), "event loop frames leak: {}", error.traceback);
    assert!(!error.traceback.contains("codemode_guest"), "{}", error.traceback);
}

#[tokio::test(flavor = "multi_thread")]
async fn async_tracebacks_show_each_coroutine_and_no_asyncio_frame() {
    let s = session().await;
    let code = "import asyncio\nasync def inner():\n    await asyncio.sleep(0)\n    raise KeyError('k')\n\
                async def outer():\n    await asyncio.gather(inner())\ntask = asyncio.create_task(outer())\nawait task";
    let r = run(&s, code).await;
    assert_eq!(
        frames(&r),
        [
            r#"File "<cell-1>", line 8, in <module>"#,
            r#"File "<cell-1>", line 6, in outer"#,
            r#"File "<cell-1>", line 4, in inner"#,
        ],
        "{}",
        r.error.as_ref().unwrap().traceback
    );
    assert!(!r.error.as_ref().unwrap().traceback.contains("/asyncio/"), "{}", r.error.unwrap().traceback);
}

#[tokio::test(flavor = "multi_thread")]
async fn syntax_errors_show_the_cell_line_and_no_parser_frame() {
    let s = session().await;
    for (cell, code, line) in [(1, "x = 1\ndef f(:\n    pass", 2), (2, "return 5", 1), (3, "await = 1", 1)] {
        let r = run(&s, code).await;
        let error = r.error.as_ref().unwrap();
        assert_eq!(error.kind, "SyntaxError", "{code}");
        assert_eq!(frames(&r), [format!(r#"File "<cell-{cell}>", line {line}"#)], "{}", error.traceback);
        assert!(!error.traceback.starts_with("Traceback"), "{}", error.traceback);
        assert!(!error.traceback.contains("/python/"), "{}", error.traceback);
    }
}

/// A session with file storage holding the skill `divide` and its async caller `halve`.
async fn session_with_failing_skills(dir: &std::path::Path) -> Session {
    let storage = Arc::new(FileStorage::open(dir).await.unwrap());
    let s = Session::builder().storage(storage).embeddings(false).build().await.unwrap();
    let divide =
        "\"\"\"Divide.\"\"\"\n\ndef run(a: float, b: float) -> float:\n    half = a / 2\n    return half / b\n";
    let halve = "async def run(n: float) -> float:\n    return skills.divide(a=n, b=0)\n";
    for (name, source) in [("divide", divide), ("halve", halve)] {
        let r = run(&s, &format!("skills.create({name:?}, {source:?})")).await;
        assert!(r.is_ok(), "{:?}", r.error);
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn invoked_skills_trace_from_the_skill_source() {
    let dir = tempfile::tempdir().unwrap();
    let s = session_with_failing_skills(dir.path()).await;
    let args = |v: serde_json::Value| v.as_object().unwrap().clone();

    // From the host: the skill's own frames, no generated call line above them.
    let r = s.invoke_skill("divide", &args(json!({"a": 1, "b": 0}))).await.unwrap();
    assert_eq!(error_kind(&r), "ZeroDivisionError");
    assert_eq!(frames(&r), [r#"File "skills/divide.py", line 5, in run"#], "{}", r.error.as_ref().unwrap().traceback);
    assert!(r.error.as_ref().unwrap().traceback.contains("return half / b"));
    let r = s.invoke_skill("halve", &args(json!({"n": 4}))).await.unwrap();
    assert_eq!(
        frames(&r),
        [r#"File "skills/halve.py", line 2, in run"#, r#"File "skills/divide.py", line 5, in run"#],
        "{}",
        r.error.as_ref().unwrap().traceback
    );
    assert_eq!(value(&s.invoke_skill("divide", &args(json!({"a": 3, "b": 0.5}))).await.unwrap()), json!(3.0));

    // From a cell: the cell's line, then the skill's.
    let r = run(&s, "skills.divide(a=1, b=0)").await;
    assert_eq!(frames(&r), [r#"File "<cell-3>", line 1, in <module>"#, r#"File "skills/divide.py", line 5, in run"#]);

    // Hostile arguments and names: an ordinary error, no frames, the session intact.
    run(&s, "keep = 'me'").await;
    let r = s.invoke_skill("divide", &args(json!({"a b": 1, "__class__": 2}))).await.unwrap();
    assert_eq!((error_kind(&r), frames(&r).len()), ("TypeError", 0), "{:?}", r.error);
    let r = s.invoke_skill("missing", &args(json!({}))).await.unwrap();
    assert_eq!((error_kind(&r), frames(&r).len()), ("SkillNotFoundError", 0), "{:?}", r.error);
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let r = s.invoke_skill("divide", &args(json!({"a": deep, "b": 1}))).await.unwrap();
    assert_eq!(error_kind(&r), "TypeError");
    assert_eq!(value(&run(&s, "keep").await), json!("me"));
}

#[tokio::test(flavor = "multi_thread")]
async fn syntax_errors_are_reported_and_the_session_survives() {
    let s = session().await;
    run(&s, "keep = 'me'").await;
    let r = run(&s, "def f(:\n    pass").await;
    let error = r.error.unwrap();
    assert_eq!(error.kind, "SyntaxError");
    assert!(error.traceback.contains("line 1"), "{}", error.traceback);
    assert!(!r.interpreter_reset);
    assert_eq!(value(&run(&s, "keep").await), json!("me"));
}

#[tokio::test(flavor = "multi_thread")]
async fn system_exit_is_an_error_not_a_crash() {
    let s = session().await;
    run(&s, "keep = 1").await;
    assert_eq!(error_kind(&run(&s, "import sys; sys.exit(3)").await), "SystemExit");
    assert_eq!(value(&run(&s, "keep").await), json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn top_level_await_and_asyncio_work() {
    let s = session().await;
    assert_eq!(value(&run(&s, "import asyncio\nawait asyncio.sleep(0)\n'done'").await), json!("done"));
    let gathered = run(
        &s,
        "async def twice(i):\n    await asyncio.sleep(0.01)\n    return 2 * i\nawait asyncio.gather(*(twice(i) for i in range(5)))",
    )
    .await;
    assert_eq!(value(&gathered), json!([0, 2, 4, 6, 8]));
    // Coroutines defined in one cell are awaited in the next.
    assert_eq!(value(&run(&s, "await twice(21)").await), json!(42));
    // A synchronous cell may run its own event loop.
    assert_eq!(value(&run(&s, "asyncio.run(twice(5))").await), json!(10));
    // async for / async with at top level.
    let r = run(&s, "async def gen():\n    for i in range(3):\n        yield i\n[i async for i in gen()]").await;
    assert_eq!(value(&r), json!([0, 1, 2]));
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_stops_a_busy_loop_and_the_next_run_works() {
    let s = session_with(Limits { timeout: Duration::from_millis(500), ..Limits::default() }).await;
    run(&s, "x = 1").await;
    let r = run(&s, "while True:\n    pass").await;
    assert_eq!(r.limit, Some(LimitKind::Timeout));
    assert!(r.interpreter_reset);
    assert_eq!(error_kind(&r), "LimitExceeded");
    assert!(r.wall_time >= Duration::from_millis(500) && r.wall_time < Duration::from_secs(5), "{:?}", r.wall_time);
    // A fresh interpreter with the state from before the cell: the session goes on.
    assert_eq!(r.state, CellState::RolledBack);
    assert_eq!(value(&run(&s, "x").await), json!(1));
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn output_printed_before_a_limit_stop_is_kept() {
    let s = session_with(Limits { timeout: Duration::from_millis(300), ..Limits::default() }).await;
    let r =
        run(&s, "import sys\nprint('step 1')\nprint('warn', file=sys.stderr)\nprint('step 2')\nwhile True:\n    pass")
            .await;
    assert_eq!(r.limit, Some(LimitKind::Timeout));
    assert_eq!(r.stdout, "step 1\nstep 2\n");
    assert_eq!(r.stderr, "warn\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_stops_a_sleep() {
    let s = session_with(Limits { timeout: Duration::from_millis(300), ..Limits::default() }).await;
    let r = run(&s, "import time\ntime.sleep(60)").await;
    assert_eq!(r.limit, Some(LimitKind::Timeout));
    assert!(r.wall_time < Duration::from_secs(5));
    assert_eq!(value(&run(&s, "'alive'").await), json!("alive"));
}

#[tokio::test(flavor = "multi_thread")]
async fn per_run_limits_override_the_session() {
    let s = session().await;
    let short = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let r = s.run_with("while True: pass", &short).await.unwrap();
    assert_eq!(r.limit, Some(LimitKind::Timeout));
    let fuel = Limits { fuel: Some(1_000_000), ..Limits::default() };
    assert!(matches!(s.run_with("1", &fuel).await, Err(SessionError::InvalidLimits(_))));
    let zero = Limits { timeout: Duration::ZERO, ..Limits::default() };
    assert!(matches!(s.run_with("1", &zero).await, Err(SessionError::InvalidLimits(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn fuel_stops_a_busy_loop_and_the_next_run_works() {
    let s = session_with(Limits { fuel: Some(200_000_000), ..Limits::default() }).await;
    let r = run(&s, "while True:\n    pass").await;
    assert_eq!(r.limit, Some(LimitKind::Fuel));
    assert!(r.interpreter_reset);
    assert_eq!(r.fuel_used, Some(200_000_000));
    let ok = run(&s, "sum(range(100))").await;
    assert_eq!(value(&ok), json!(4950));
    assert!(ok.fuel_used.is_some_and(|f| f > 0 && f < 200_000_000), "{:?}", ok.fuel_used);
}

#[tokio::test(flavor = "multi_thread")]
async fn fuel_is_deterministic() {
    let program = "import json\ntotal = 0\nfor i in range(20000):\n    total += len(json.dumps({'i': i}))\ntotal";
    let mut used = Vec::new();
    for _ in 0..5 {
        let s = session_with(Limits { fuel: Some(10_000_000_000), ..Limits::default() }).await;
        let r = run(&s, program).await;
        assert!(r.is_ok(), "{:?}", r.error);
        used.push(r.fuel_used.expect("metered"));
    }
    assert!(used.iter().all(|u| *u == used[0]), "fuel used differs: {used:?}");
    // And a budget below that stops it, every time at the same point.
    let budget = used[0] / 2;
    for _ in 0..2 {
        let s = session_with(Limits { fuel: Some(budget), ..Limits::default() }).await;
        let r = run(&s, program).await;
        assert_eq!(r.limit, Some(LimitKind::Fuel));
        assert_eq!(r.fuel_used, Some(budget));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bomb_raises_memory_error_and_the_session_survives() {
    let s = session_with(Limits { memory: 128 << 20, ..Limits::default() }).await;
    run(&s, "keep = 'state'").await;
    let r = run(&s, "big = bytearray(200 * 1024 * 1024)").await;
    assert_eq!(error_kind(&r), "MemoryError");
    assert_eq!(r.limit, Some(LimitKind::Memory));
    assert!(!r.interpreter_reset);
    assert!(r.peak_memory <= 128 << 20, "peak {}", r.peak_memory);
    let r = run(&s, "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))").await;
    assert_eq!(error_kind(&r), "MemoryError");
    assert!(r.peak_memory > 64 << 20 && r.peak_memory <= 128 << 20, "peak {}", r.peak_memory);
    run(&s, "del chunks").await;
    assert_eq!(value(&run(&s, "keep").await), json!("state"));
}

#[tokio::test(flavor = "multi_thread")]
async fn output_bomb_is_truncated_with_a_marker() {
    let s = session_with(Limits { stdout: 10_000, stderr: 1_000, ..Limits::default() }).await;
    let r = run(&s, "import sys\nfor i in range(100000):\n    print('x' * 100)\nsys.stderr.write('e' * 5000)\n'after'")
        .await;
    assert!(r.stdout_truncated && r.stderr_truncated);
    assert!(r.stdout.len() < 10_200, "{}", r.stdout.len());
    assert!(r.stdout.contains("[stdout truncated:"), "{}", &r.stdout[r.stdout.len() - 100..]);
    assert!(r.stderr.contains("[stderr truncated: 4000 more bytes]"), "{}", r.stderr);
    assert_eq!(value(&r), json!("after"));
    // Writing to the file descriptor directly bypasses `sys.stdout`, not the cap.
    let r = run(&s, "import os\nfor _ in range(100):\n    os.write(1, b'z' * 1000)").await;
    assert!(r.stdout_truncated);
    assert!(r.stdout.starts_with(&"z".repeat(10_000)));
    assert!(r.stdout.ends_with("[stdout truncated: 90000 more bytes]\n"), "{}", &r.stdout[9_990..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_recursion_is_a_recursion_error() {
    let s = session().await;
    run(&s, "keep = 1").await;
    let r = run(&s, "import sys\nsys.setrecursionlimit(10 ** 6)\ndef f(n):\n    return f(n + 1)\nf(0)").await;
    assert_eq!(error_kind(&r), "RecursionError");
    assert!(!r.interpreter_reset);
    assert_eq!(value(&run(&s, "keep").await), json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guest_reaches_nothing_on_the_host() {
    let s = session().await;
    for (code, expected) in [
        ("open('/etc/passwd').read()", "FileNotFoundError"),
        ("open('/tmp/codemode-escape', 'w')", "FileNotFoundError"),
        // The stdlib mount is read-only and confined.
        ("open('/python/os.py', 'a')", "PermissionError"),
        ("open('/python/../../etc/passwd')", "PermissionError"),
        ("import os\nos.listdir('/')", "FileNotFoundError"),
        ("import socket\nsocket.socket()", "PermissionError"),
        ("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)", "gaierror"),
        ("import subprocess\nsubprocess.run(['ls'])", "OSError"),
        ("import threading\nthreading.Thread(target=print).start()", "RuntimeError"),
    ] {
        let r = run(&s, code).await;
        assert_eq!(error_kind(&r), expected, "{code}: {:?}", r.error);
    }
    // The host's environment (HOME, PATH, any secret) is not there.
    assert_eq!(value(&run(&s, "import os\ndict(os.environ)").await), json!({}));
    assert_eq!(value(&run(&s, "import sys\nsys.argv").await), json!([]));
    assert!(!std::path::Path::new("/tmp/codemode-escape").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_common_stdlib_is_importable() {
    let s = session().await;
    let modules = "json re math datetime collections itertools functools dataclasses typing asyncio csv \
        statistics decimal fractions random hashlib base64 textwrap string uuid time copy pprint operator \
        heapq bisect contextlib enum io struct difflib html urllib.parse xml.etree.ElementTree zlib gzip sqlite3";
    let code = format!(
        "import importlib\nfailed = []\nfor m in {:?}.split():\n    try:\n        importlib.import_module(m)\n    except Exception as e:\n        failed.append(f'{{m}}: {{e}}')\nfailed",
        modules
    );
    assert_eq!(value(&run(&s, &code).await), json!([]));
    let r = run(&s, "import sqlite3\ndb = sqlite3.connect(':memory:')\ndb.execute('select 1 + 1').fetchone()[0]").await;
    assert_eq!(value(&r), json!(2));
    // Beyond the preloaded set, the rest of the pure stdlib imports from the read-only mount.
    let r = run(&s, "import tarfile, zipfile, unittest, smtplib, http.client\ntarfile.__file__").await;
    assert_eq!(value(&r), json!("/python/tarfile.py"));
    let r =
        run(&s, "import hashlib, zlib, gzip\nhashlib.sha256(gzip.decompress(gzip.compress(b'abc'))).hexdigest()[:8]")
            .await;
    assert_eq!(value(&r), json!("ba7816bf"));
}

#[tokio::test(flavor = "multi_thread")]
async fn namespaces_report_missing_backends_clearly() {
    let s = session().await;
    let r = run(&s, "try:\n    tools.curl.get(url='x')\nexcept AttributeError as e:\n    msg = str(e)\nmsg").await;
    assert!(value(&r).as_str().unwrap().contains("no tools are configured"), "{r:?}");
    assert_eq!(value(&run(&s, "tools.list()").await), json!([]));
    assert_eq!(error_kind(&run(&s, "artifacts.save('n', 42)").await), "TypeError");
    assert_eq!(error_kind(&run(&s, "skills.list()").await), "SkillError");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_isolated() {
    let a = session().await;
    let b = session().await;
    run(&a, "secret = 'a'").await;
    assert_eq!(error_kind(&run(&b, "secret").await), "NameError");
    run(&b, "import json\njson.dumps = None").await;
    assert_eq!(value(&run(&a, "json = __import__('json')\njson.dumps([1])").await), json!("[1]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_sessions_run_concurrently() {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            tokio::spawn(async move {
                let s = session().await;
                run(&s, &format!("n = {i}")).await;
                let r = run(&s, "import asyncio\nawait asyncio.sleep(0.05)\nsum(range(n * 1000)) + n").await;
                (i, value(&r))
            })
        })
        .collect();
    for task in tasks {
        let (i, v) = task.await.unwrap();
        let n = i as u64 * 1000;
        assert_eq!(v, json!(n * n.saturating_sub(1) / 2 + i as u64));
    }
}

#[test]
fn sessions_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Session>();
    assert_send_sync::<codemode::Sandbox>();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_session_says_so() {
    let s = session().await;
    s.close().await;
    s.close().await;
    assert!(s.is_closed().await);
    assert!(matches!(s.run("1").await, Err(SessionError::Closed)));
    assert!(matches!(s.reset().await, Err(SessionError::Closed)));
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_skill_reads_run_without_executing() {
    let s = session().await;
    let sig = s
        .inspect_skill(
            "\"\"\"Summarise a repository.\"\"\"\nraise SystemExit('module body must not run')\n\
             async def run(repo: str, limit: int = 10, *, verbose=False) -> dict:\n    return {}",
        )
        .await
        .unwrap();
    assert!(sig.is_async);
    assert_eq!(sig.docstring, "Summarise a repository.");
    let params: Vec<_> = sig
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.type_name.as_deref(), p.required, p.default.as_deref()))
        .collect();
    assert_eq!(
        params,
        [
            ("repo", Some("str"), true, None),
            ("limit", Some("int"), false, Some("10")),
            ("verbose", None, false, Some("False"))
        ]
    );

    let sync =
        s.inspect_skill("def run(text):\n    \"\"\"Count words.\"\"\"\n    return len(text.split())").await.unwrap();
    assert!(!sync.is_async);
    assert_eq!(sync.docstring, "Count words.");

    for (source, needle) in [
        ("def helper():\n    pass", "no top-level `run`"),
        ("run = 42", "must be a function"),
        ("def run(:\n", "syntax error"),
    ] {
        match s.inspect_skill(source).await {
            Err(SessionError::InvalidSkill { message, .. }) => {
                assert!(message.contains(needle), "{message}")
            }
            other => panic!("{source:?}: {other:?}"),
        }
    }
    // The session is untouched by inspection.
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_gives_a_fresh_interpreter() {
    let s = session().await;
    // Agent code poisons the interpreter itself, not just its globals.
    let poison = "import builtins, sys\nbuiltins.compile = None\nsys.modules['json'] = None\nbuiltins.marker = 1";
    run(&s, poison).await;
    assert!(!run(&s, "1 + 1").await.is_ok(), "a poisoned compile breaks the runner");
    s.reset().await.unwrap();
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
    assert_eq!(value(&run(&s, "import json; json.dumps([1])").await), json!("[1]"));
    assert_eq!(error_kind(&run(&s, "import builtins; builtins.marker").await), "AttributeError");
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_exception_messages_are_cut_and_keep_their_kind() {
    let limits = Limits { stdout: 1 << 20, stderr: 1 << 20, ..Limits::default() };
    let s = session_with(limits).await;
    for mib in [20, 100] {
        let result = run(&s, &format!("raise ValueError('x' * ({mib} << 20))")).await;
        let error = result.error.as_ref().expect("an error");
        assert_eq!(error.kind, "ValueError", "{mib} MiB: {}", error.message);
        assert!(error.message.len() <= (1 << 20) + 100, "{mib} MiB message: {} bytes", error.message.len());
        assert!(error.message.contains("[truncated:"), "the cut is marked");
        assert!(error.traceback.len() <= (1 << 20) + 100, "{mib} MiB traceback: {} bytes", error.traceback.len());
        assert!(error.traceback.contains("truncated"), "the cut is marked");
        let serialized = serde_json::to_string(&result).unwrap();
        assert!(serialized.len() < 3 << 20, "{mib} MiB: the whole result is {} bytes", serialized.len());
        assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
    }
    // Notes, syntax errors and a giant value repr are capped the same way.
    let notes = run(&s, "e = KeyError('k')\nfor i in range(100000): e.add_note('n' * 100)\nraise e").await;
    assert!(notes.error.as_ref().unwrap().traceback.len() <= (1 << 20) + 100);
    let syntax = run(&s, &format!("x = ({}", "1 + ".repeat(1 << 19))).await;
    assert_eq!(error_kind(&syntax), "SyntaxError");
    assert!(syntax.error.as_ref().unwrap().traceback.len() <= (1 << 20) + 100);
    let big = run(&s, "list(range(10**6))").await;
    let repr = big.value.expect("a value");
    assert!(repr.repr.len() <= (1 << 20) + 100 && repr.json.is_none(), "{}", repr.repr.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_awaited_on_the_last_line_runs() {
    let s = session().await;
    let code = "import asyncio\nasync def f():\n    return 41\nt = asyncio.create_task(f())\nawait t + 1";
    assert_eq!(value(&run(&s, code).await), json!(42));
    let code = "import asyncio\nasync def f():\n    return 7\nt = asyncio.create_task(f())\nr = await t\nr * 6";
    assert_eq!(value(&run(&s, code).await), json!(42));
    // A plain cell still runs its own loop.
    assert_eq!(value(&run(&s, "import asyncio\nasync def g(): return 5\nasyncio.run(g())").await), json!(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn os_exit_is_named_as_such() {
    let s = session().await;
    run(&s, "x = 1").await;
    let result = run(&s, "import os\nos._exit(3)").await;
    let error = result.error.as_ref().expect("an error");
    assert_eq!(error.kind, "InterpreterExit", "{}", error.message);
    assert!(error.message.contains("os._exit with a non-zero status"), "{}", error.message);
    assert!(!error.message.contains("wasm"), "{}", error.message);
    assert!(result.interpreter_reset);
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tool_trace_keeps_guest_names_short() {
    let s = session().await;
    let code = "from wit_world.imports import tools as t\nn = 'x' * (8 << 20)\nfor _ in range(20):\n    try:\n        \
                t.call_tool(n, n, '{}')\n    except Exception as e:\n        err = e\nlen(str(err))";
    let result = run(&s, code).await;
    assert_eq!(result.tool_calls.len(), 20, "{:?}", result.error);
    for call in &result.tool_calls {
        assert!(call.tool.len() < 100 && call.callable.as_deref().unwrap_or_default().len() < 100);
        assert!(call.error.as_deref().unwrap_or_default().len() <= 4096 + 64);
    }
    let echoed = value(&result).as_u64().unwrap();
    assert!(echoed < 10_000, "the error quotes the name short: {echoed} characters");
}

/// Starts `code` on its own task, waits for `running` (the run is under way), then
/// interrupts it: the result and how long it took to stop after the interrupt.
async fn interrupt_after(
    s: &Arc<Session>,
    code: &str,
    running: impl std::future::Future<Output = ()>,
) -> (RunResult, Duration) {
    let task = tokio::spawn({
        let (s, code) = (s.clone(), code.to_owned());
        async move { s.run(&code).await }
    });
    running.await;
    let asked = std::time::Instant::now();
    assert!(s.interrupt().await.unwrap(), "a run was in progress");
    let result = task.await.unwrap().unwrap();
    (result, asked.elapsed())
}

/// What every interrupted run reports: the kind, the flag, and the rolled-back state said plainly.
fn assert_interrupted(result: &RunResult, took: Duration) {
    assert!(result.interrupted, "{result:?}");
    assert_eq!(error_kind(result), "Interrupted");
    assert_eq!(result.limit, None);
    assert!(result.interpreter_reset, "the interpreter was replaced, and the result says so");
    assert_eq!(result.state, CellState::RolledBack, "{:?}", result.error);
    assert!(result.error.as_ref().unwrap().message.contains("the state from before this cell was restored"));
    assert!(took < Duration::from_secs(2), "stopped {took:?} after the interrupt");
}

async fn half_a_second() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupt_stops_a_busy_loop_and_the_queued_run_then_runs() {
    let s = Arc::new(session().await);
    assert!(!s.interrupt().await.unwrap(), "nothing runs yet");
    run(&s, "x = 1").await;
    let task = tokio::spawn({
        let s = s.clone();
        async move { s.run("while True:\n    pass").await }
    });
    half_a_second().await;
    // Queued behind the loop; the interrupt is not for it.
    let queued = tokio::spawn({
        let s = s.clone();
        async move { s.run("1 + 1").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = std::time::Instant::now();
    assert!(s.interrupt().await.unwrap());
    let result = task.await.unwrap().unwrap();
    assert_interrupted(&result, asked.elapsed());
    assert_eq!(value(&queued.await.unwrap().unwrap()), json!(2));
    // The state from before the interrupted cell, as the result said.
    assert_eq!(value(&run(&s, "x").await), json!(1));
    assert!(!s.interrupt().await.unwrap(), "nothing runs any more");
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupt_stops_a_sleep() {
    let s = Arc::new(session().await);
    let (result, took) = interrupt_after(&s, "import time\ntime.sleep(30)", half_a_second()).await;
    assert_interrupted(&result, took);
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupt_stops_a_tool_call_and_kills_its_process_group() {
    let tools = common::spawner_tools(60);
    let (registry, skipped) = codemode::tools::ToolRegistry::load_dir(tools.path());
    assert!(skipped.is_empty(), "{skipped:?}");
    let s = Arc::new(Session::builder().tools(registry).build().await.unwrap());
    let scratch = tempfile::tempdir().unwrap();
    let (code, grandchild) = common::hang_call(scratch.path());
    let pid = std::sync::OnceLock::new();
    let started = async { pid.set(grandchild.await).unwrap() };
    let (result, took) = interrupt_after(&s, &code, started).await;
    assert_interrupted(&result, took);
    assert!(common::dies(*pid.get().unwrap()), "the tool's grandchild outlived the interrupt");
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_code_cannot_swallow_an_interrupt() {
    let s = Arc::new(session().await);
    let code = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass";
    let (result, took) = interrupt_after(&s, code, half_a_second()).await;
    assert_interrupted(&result, took);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_interrupted_before_it_starts_never_runs() {
    let s = session().await;
    run(&s, "x = 1").await;
    let interrupt = codemode::session::Interrupt::new();
    interrupt.interrupt();
    let result = s.run_interruptible("x = 2", s.limits(), &interrupt).await.unwrap();
    assert!(result.interrupted);
    assert_eq!(error_kind(&result), "Interrupted");
    assert!(!result.interpreter_reset, "nothing ran, nothing was lost");
    assert_eq!(value(&run(&s, "x").await), json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_session_cannot_be_interrupted() {
    let s = session().await;
    s.close().await;
    assert!(matches!(s.interrupt().await, Err(SessionError::Closed)));
}

/// Upstream answers a 10,000-term expression with a RecursionError and keeps its
/// state: the wasm stack is deep enough for CPython's own check to fire first.
#[tokio::test(flavor = "multi_thread")]
async fn a_ten_thousand_term_expression_is_a_recursion_error_and_state_survives() {
    let s = session().await;
    run(&s, "x = 1").await;
    for code in [format!("1{}", " + 1".repeat(10_000)), "eval('1' + ' + 1' * 100_000)".to_owned()] {
        let r = run(&s, &code).await;
        assert_eq!(error_kind(&r), "RecursionError", "{:?}", r.error);
        assert!(!r.interpreter_reset && r.limit.is_none());
        assert_eq!(value(&run(&s, "x").await), json!(1));
    }
}

/// The `describe` stub of the fixture tools and skills: what the guest's
/// `tools.describe()` and `skills.describe()` give, valid Python (the sandbox's own
/// `ast.parse`), with the signatures agent code calls, and at most half the bytes of
/// the JSON listings it replaces.
#[tokio::test(flavor = "multi_thread")]
async fn describe_is_a_small_valid_stub_of_every_tool_and_skill() {
    let base = common::describe_fixture();
    let s = Session::builder().base_dir(base.path()).embeddings(false).build().await.unwrap();
    let stub = s.describe(None).await.unwrap();
    let tools = s.list_tools().await.unwrap();
    let skills = s.list_skills().await.unwrap();
    assert_eq!((tools.len(), skills.len()), (5, 3), "{tools:?} {skills:?}");
    let listing = serde_json::to_string(&codemode::model::Response::Tools { tools }).unwrap().len()
        + serde_json::to_string(&codemode::model::Response::Skills { skills }).unwrap().len();
    println!("describe: stub {} bytes, JSON listing {listing} bytes\n{stub}", stub.len());
    assert!(stub.len() * 2 <= listing, "stub {} bytes, JSON listing {listing} bytes", stub.len());
    for expected in [
        "class tools:\n",
        "    class jq:\n        \"Process JSON data\"\n",
        "        def query(*, filter: str | None = None, input: str | None = None): \"Query JSON with filter\"\n",
        "        def entries(*, path: str | None = None, plain: bool = True, width: int = 80, input: str | None = None): ",
        "class skills:\n",
        "    def word_stats(*, text: str, top: int = 3): \"Async skill in the py-code-mode 0.10 style",
        "    def pluck(*, document: str, field: str = 'name'): \"Pull one field out of a JSON document",
        "    def text_report(*, text: str, name: str = 'report'): ",
    ] {
        assert!(stub.contains(expected), "{expected:?} missing in\n{stub}");
    }
    let r = run(&s, "import ast\nstub = tools.describe() + skills.describe()\nast.parse(stub)\nstub").await;
    assert_eq!(value(&r), json!(stub));
    assert_eq!(
        s.describe(Some(codemode::model::describe::Scope::Skills)).await.unwrap(),
        value(&run(&s, "skills.describe()").await)
    );
}

/// Descriptions with `"""`, newlines, control characters and 100 KiB of text, and
/// annotations and defaults that are code, keep the stub valid and small.
#[tokio::test(flavor = "multi_thread")]
async fn describe_stays_valid_and_bounded_on_hostile_text() {
    let base = common::describe_fixture();
    let long = "y".repeat(100 * 1024);
    let evil = format!(
        "name: evil-tool\ndescription: \"\\\"\\\"\\\" \\\\ \\x00 first\\nsecond {long}\"\ncommand: echo\nschema:\n  \
         positional:\n    - name: text\n      type: string\n      required: true\nrecipes:\n  say-it:\n    \
         description: \"\\\"\\\"\\\"\\r\\n\\\"\\\"\\\"{long}\"\n    params:\n      text: {{}}\n"
    );
    std::fs::write(base.path().join("tools/evil.yaml"), evil).unwrap();
    let s = Session::builder().base_dir(base.path()).embeddings(false).build().await.unwrap();
    assert!(s.skipped_tools().is_empty(), "{:?}", s.skipped_tools());
    let source = "import os\ndef run(x: 'int)\\n\"\"\"' = 1, y: list[def_] = os.getcwd(), **rest): pass\n";
    // Descriptions given to `create` are capped at 16 KiB; a file's docstring is not.
    let description = format!("\"\"\"\n{}", &long[..16_000]);
    s.create_skill("hostile", source, Some(&description)).await.unwrap();
    std::fs::write(base.path().join("skills/huge.py"), format!("\"{long}\\\"\"\n\ndef run():\n    pass\n")).unwrap();
    let stub = s.describe(None).await.unwrap();
    println!("{stub}");
    assert!(stub.len() < 4096, "{} bytes", stub.len());
    assert!(stub.lines().all(|l| l.len() < 400), "{stub}");
    assert!(stub.contains("    class evil_tool:\n"), "{stub}");
    assert!(stub.contains(&format!("    def huge(): \"{}…\"\n", &long[..120])), "{stub}");
    assert!(
        stub.contains("        def say_it(*, text: str | None = None, input: str | None = None): \"\\\"\\\"\\\"\"\n"),
        "{stub}"
    );
    assert!(
        stub.contains("    def hostile(*, x: object = 1, y: list[def_] = ..., **kwargs): \"\\\"\\\"\\\" yyy"),
        "{stub}"
    );
    let code = "import ast\nstub = tools.describe() + skills.describe()\nast.parse(stub)\nstub";
    assert_eq!(value(&run(&s, code).await), json!(stub));
}

// Transactional cells (issue 13): after an interrupt, a timeout or fuel exhaustion,
// the session's state is what it was before the failed cell, rebuilt by replaying
// the session's journal with every host call answered from it.

/// A function tool that counts its calls and answers with the count.
fn counting_tools() -> (codemode::tools::ToolRegistry, Arc<std::sync::atomic::AtomicU64>) {
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tools = codemode::tools::ToolRegistry::default();
    let counter = count.clone();
    tools
        .add_fn("count", "Count calls", Vec::new(), move |_| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            async move { Ok(json!(n)) }
        })
        .unwrap();
    (tools, count)
}

/// The state a test builds before each failing cell, and its check afterwards.
const STATE: &str = "import random, time\nxs = [1, 2, 3]\ncounted = tools.count()\nstamp = time.time()\n\
                     draw = random.random()\ntry:\n    {}['missing']\nfinally:\n    partial = 'kept'";
const CHECK: &str = "(xs, counted, partial, stamp == stamp_seen, draw == draw_seen)";

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_cell_is_rolled_back_without_repeating_host_calls() {
    let (tools, count) = counting_tools();
    let base = tempfile::tempdir().unwrap();
    let limits = Limits { fuel: Some(2_000_000_000), ..Limits::default() };
    let s = Arc::new(Session::builder().base_dir(base.path()).tools(tools).limits(limits).build().await.unwrap());
    // A cell that raised is part of the state: the interpreter survived it.
    assert_eq!(error_kind(&run(&s, STATE).await), "KeyError");
    run(&s, "stamp_seen, draw_seen = stamp, draw\nartifacts.save('once', {'n': counted})").await;
    let saved_at = s.list_artifacts().await.unwrap()[0].created_at.clone();
    let expected = json!([[1, 2, 3], 1, "kept", true, true]);
    assert_eq!(value(&run(&s, CHECK).await), expected);

    // (a) interrupted, (b) timed out, (c) out of fuel: each cell changes the state first.
    let (interrupted, _) = interrupt_after(&s, "xs.append(4)\nimport time\ntime.sleep(30)", half_a_second()).await;
    let short = Limits { timeout: Duration::from_millis(300), fuel: Some(1 << 50), ..s.limits().clone() };
    let timed_out = s.run_with("xs.append(5)\nwhile True:\n    pass", &short).await.unwrap();
    let fuel = Limits { fuel: Some(50_000_000), ..s.limits().clone() };
    let no_fuel = s.run_with("xs.append(6)\nwhile True:\n    pass", &fuel).await.unwrap();
    for (what, r) in [("interrupt", &interrupted), ("timeout", &timed_out), ("fuel", &no_fuel)] {
        assert!(r.interpreter_reset, "{what}");
        assert_eq!(r.state, CellState::RolledBack, "{what}: {:?}", r.error);
        assert!(r.error.as_ref().unwrap().message.contains("earlier cells replayed"), "{what}: {:?}", r.error);
        // Same values of the clock and the random source, from the journal; same list.
        assert_eq!(value(&run(&s, CHECK).await), expected, "{what}");
    }
    assert_eq!(timed_out.limit, Some(LimitKind::Timeout));
    assert_eq!(no_fuel.limit, Some(LimitKind::Fuel));
    // Three replays, and the tool ran once; the artifact was saved once.
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    let artifacts = s.list_artifacts().await.unwrap();
    assert_eq!((artifacts.len(), artifacts[0].created_at.clone()), (1, saved_at));
    // A rolled-back session journals on: the next cells roll back too.
    run(&s, "after = tools.count()").await;
    let r = s.run_with("while True: pass", &short).await.unwrap();
    assert_eq!(r.state, CellState::RolledBack, "{:?}", r.error);
    assert_eq!(value(&run(&s, "after, xs").await), json!([2, [1, 2, 3]]));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_past_its_cap_says_the_state_is_lost_and_the_session_goes_on() {
    let (tools, count) = counting_tools();
    let journal = codemode::session::JournalOptions { max_bytes: 64 << 10, ..Default::default() };
    let limits = Limits { timeout: Duration::from_millis(500), ..Limits::default() };
    let s = Session::builder().tools(tools).journal(journal).limits(limits).build().await.unwrap();
    run(&s, "x = 1").await;
    // Random reads take no journal space for their bytes: a flood of them stays small.
    run(&s, "import os\nfor _ in range(200):\n    os.urandom(4096)").await;
    assert_eq!(value(&run(&s, "x").await), json!(1));
    let r = run(&s, "while True: pass").await;
    assert_eq!(r.state, CellState::RolledBack, "{:?}", r.error);
    // Many clock readings blow the cap: rollback is off, said plainly.
    run(&s, "for _ in range(40):\n    tools.count()").await;
    run(&s, "import time\nstamps = [time.time() for _ in range(5000)]").await;
    let r = run(&s, "while True: pass").await;
    assert_eq!(r.state, CellState::Lost, "{:?}", r.error);
    let message = &r.error.as_ref().unwrap().message;
    assert!(message.contains("state (variables, imports) is lost") && message.contains("size limit"), "{message}");
    assert!(message.contains("artifacts.save"), "{message}");
    assert_eq!(error_kind(&run(&s, "x").await), "NameError");
    // A new history: rollback works again.
    run(&s, "y = 2").await;
    assert_eq!(run(&s, "while True: pass").await.state, CellState::RolledBack);
    assert_eq!(value(&run(&s, "y").await), json!(2));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_past_its_budget_says_so() {
    let journal =
        codemode::session::JournalOptions { replay_timeout: Some(Duration::from_millis(300)), ..Default::default() };
    let s = Session::builder().journal(journal).build().await.unwrap();
    run(&s, "import time\ntime.sleep(0.6)\nx = 1").await;
    let short = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let r = s.run_with("while True: pass", &short).await.unwrap();
    assert_eq!(r.state, CellState::Lost, "{:?}", r.error);
    let message = &r.error.as_ref().unwrap().message;
    assert!(message.contains("replay budget") && message.contains("artifacts.save"), "{message}");
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_clears_the_journal() {
    let (tools, count) = counting_tools();
    let s = Session::builder().tools(tools).limits(Limits { timeout: Duration::from_millis(300), ..Limits::default() });
    let s = s.build().await.unwrap();
    run(&s, "x = tools.count()").await;
    s.reset().await.unwrap();
    let r = run(&s, "while True: pass").await;
    assert_eq!((r.state, r.error.as_ref().unwrap().message.contains("0 earlier cells")), (CellState::RolledBack, true));
    assert_eq!(error_kind(&run(&s, "x").await), "NameError");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Item 5: how much fuel the same cell takes, run again and again in one session
/// and in fresh sessions (printed for the README; run with `--nocapture`).
#[tokio::test(flavor = "multi_thread")]
async fn fuel_of_a_repeated_cell() {
    let program = "import json\ntotal = 0\nfor i in range(2000):\n    total += len(json.dumps({'i': i}))\ntotal";
    let limits = Limits { fuel: Some(10_000_000_000), ..Limits::default() };
    let s = session_with(limits.clone()).await;
    let mut repeats = Vec::new();
    for _ in 0..6 {
        repeats.push(run(&s, program).await.fuel_used.unwrap());
    }
    let mut fresh = Vec::new();
    for _ in 0..3 {
        fresh.push(run(&session_with(limits.clone()).await, program).await.fuel_used.unwrap());
    }
    // The same with a full collection first: the garbage collector's counters carry over between cells.
    let collected = format!("import gc\ngc.collect()\n{program}");
    let s = session_with(limits.clone()).await;
    let mut after_gc = Vec::new();
    for _ in 0..6 {
        after_gc.push(run(&s, &collected).await.fuel_used.unwrap());
    }
    println!("fuel, same session: {repeats:?}; fresh sessions: {fresh:?}; gc.collect() first: {after_gc:?}");
    assert!(fresh.iter().all(|f| *f == fresh[0]), "fresh sessions use the same fuel: {fresh:?}");
    assert_eq!(repeats[0], fresh[0], "the first run of a session is a fresh session's run");
}

/// A replay rebuilds the interpreter's state exactly, down to what fuel counts: a
/// cell after a rollback uses the fuel it uses in a session that never failed.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_rollback_a_cell_uses_the_fuel_it_would_have_used() {
    let limits = Limits { fuel: Some(10_000_000_000), ..Limits::default() };
    let setup = "import json, random\nrandom.seed(7)\ndata = [random.random() for _ in range(500)]";
    let cell = "total = 0\nfor x in data:\n    total += len(json.dumps({'x': x}))\ntotal";
    let straight = session_with(limits.clone()).await;
    run(&straight, setup).await;
    let expected = run(&straight, cell).await;

    let rolled = session_with(limits.clone()).await;
    run(&rolled, setup).await;
    let stopped = rolled.run_with("while True: pass", &Limits { fuel: Some(20_000_000), ..limits }).await.unwrap();
    assert_eq!((stopped.limit, stopped.state), (Some(LimitKind::Fuel), CellState::RolledBack));
    let after = run(&rolled, cell).await;
    assert_eq!(value(&after), value(&expected));
    assert_eq!(after.fuel_used, expected.fuel_used);
}

/// What the guest's random sources give: `os.urandom` comes from the session's own
/// seeded generator, and the `random` module, though imported in the build-time
/// snapshot, is seeded from it when the interpreter starts: both differ between
/// sessions (and a replay reproduces them from the journal's seed). The hash seed
/// is the snapshot's, the same in every session.
#[tokio::test(flavor = "multi_thread")]
async fn random_sources_differ_per_session() {
    let draw = "import os, random\n[random.random(), os.urandom(8).hex(), hash('codemode')]";
    let (a, b) = (value(&run(&session().await, draw).await), value(&run(&session().await, draw).await));
    assert_ne!(a[1], b[1], "os.urandom differs between sessions");
    assert_ne!(a[0], b[0], "random is seeded per session");
    assert_eq!(a[2], b[2], "the hash seed is fixed by the snapshot");
}

/// What a failed cell drew from the secure source is not drawn again after the
/// rollback (fresh entropy is mixed in when the restored interpreter goes live), and
/// that mix is journaled: a second rollback brings back exactly what was drawn.
#[tokio::test(flavor = "multi_thread")]
async fn secure_random_bytes_of_a_failed_cell_are_never_drawn_again() {
    let limits = Limits { fuel: Some(2_000_000_000), ..Limits::default() };
    let s = Arc::new(session_with(limits.clone()).await);
    run(&s, "import secrets\nkept = secrets.token_hex(16)").await;
    let fuel = Limits { fuel: Some(50_000_000), ..limits };
    let failed = s.run_with("print(secrets.token_hex(16))\nwhile True: pass", &fuel).await.unwrap();
    assert_eq!((failed.limit, failed.state), (Some(LimitKind::Fuel), CellState::RolledBack), "{:?}", failed.error);
    let lost = json!(failed.stdout.trim());
    let drawn = value(&run(&s, "after = secrets.token_hex(16)\nafter").await);
    assert_ne!(drawn, lost, "the failed cell's bytes came out again");
    // Once more, by an interrupt: the replay reproduces `after` from the journaled mix.
    let (interrupted, _) =
        interrupt_after(&s, "print(secrets.token_hex(16))\nimport time\ntime.sleep(30)", half_a_second()).await;
    assert_eq!(interrupted.state, CellState::RolledBack, "{:?}", interrupted.error);
    let again = json!(interrupted.stdout.trim());
    assert_eq!(value(&run(&s, "after").await), drawn, "a second rollback replays the same bytes");
    let next = value(&run(&s, "secrets.token_hex(16)").await);
    assert!(next != again && next != lost && next != drawn, "{next} repeats an earlier draw");
}

/// A session whose journal takes seconds to replay (cells that slept are replayed
/// sleeping), with `x = 1` in it.
async fn slow_to_replay() -> Arc<Session> {
    let s = Arc::new(session_with(Limits { timeout: Duration::from_secs(60), ..Limits::default() }).await);
    run(&s, "import time\ntime.sleep(1.5)\nx = 1").await;
    run(&s, "time.sleep(1.5)").await;
    s
}

/// An interrupt that arrives while a rollback replays the journal stops the replay
/// (cells that slept are replayed sleeping: this one would take seconds), and the
/// result says the state was lost and why.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_stops_a_replay_and_says_the_state_is_lost() {
    let s = slow_to_replay().await;
    let task = tokio::spawn({
        let s = s.clone();
        async move { s.run("while True: pass").await }
    });
    half_a_second().await;
    assert!(s.interrupt().await.unwrap(), "the loop runs");
    // The loop stopped; the replay of three seconds of sleeps is under way.
    half_a_second().await;
    let asked = std::time::Instant::now();
    assert!(s.interrupt().await.unwrap(), "the replay is a run in progress");
    let result = task.await.unwrap().unwrap();
    let took = asked.elapsed();
    assert!(took < Duration::from_millis(800), "the replay stopped {took:?} after the interrupt");
    assert!(result.interrupted && result.interpreter_reset, "{result:?}");
    assert_eq!(result.state, CellState::Lost, "{:?}", result.error);
    let message = &result.error.as_ref().unwrap().message;
    assert!(message.contains("state (variables, imports) is lost") && message.contains("interrupt stopped the replay"));
    assert_eq!(error_kind(&run(&s, "x").await), "NameError");
    assert_eq!(value(&run(&s, "1 + 1").await), json!(2));
}

// Fork (issue 13, item 4): a new session with the same state, independent from then on.

/// A fork's replay is the session's operation in progress: an interrupt stops it
/// promptly, the fork fails with `interrupted`, and the original is untouched.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_stops_a_forks_replay_and_leaves_the_original_untouched() {
    let s = slow_to_replay().await;
    let fork = tokio::spawn({
        let s = s.clone();
        async move { s.fork().await }
    });
    half_a_second().await;
    let asked = std::time::Instant::now();
    assert!(s.interrupt().await.unwrap(), "the fork's replay is in progress");
    let refused = fork.await.unwrap().unwrap_err();
    let took = asked.elapsed();
    assert!(took < Duration::from_millis(800), "the replay stopped {took:?} after the interrupt");
    assert!(matches!(refused, SessionError::ForkInterrupted), "{refused}");
    assert!(refused.to_string().contains("interrupted") && refused.to_string().contains("untouched"), "{refused}");
    assert_eq!(value(&run(&s, "x").await), json!(1), "the original keeps its state");
    // A signal fired before the fork gets its turn: nothing is replayed at all.
    let fired = codemode::session::Interrupt::new();
    fired.interrupt();
    assert!(matches!(s.fork_interruptible(&fired).await, Err(SessionError::ForkInterrupted)));
    // Nothing stays registered: the next interrupt finds no operation in progress.
    assert!(!s.interrupt().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_has_the_state_runs_no_call_twice_and_diverges_without_touching_the_original() {
    let (tools, count) = counting_tools();
    let limits = Limits { timeout: Duration::from_secs(5), ..Limits::default() };
    let s = Session::builder().tools(tools).limits(limits).build().await.unwrap();
    run(&s, "import secrets, random\nxs = [1]\nn = tools.count()\ntoken = secrets.token_hex(8)").await;
    let f = s.fork().await.unwrap();
    assert_eq!(value(&run(&f, "xs, n, token").await), value(&run(&s, "xs, n, token").await));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1, "the fork's replay ran the tool again");
    // Independent from then on, both ways.
    run(&f, "xs.append(2)").await;
    assert_eq!(value(&run(&s, "xs").await), json!([1]));
    run(&s, "xs.append(3)\nonly_here = True").await;
    assert_eq!(value(&run(&f, "xs").await), json!([1, 2]));
    assert_eq!(error_kind(&run(&f, "only_here").await), "NameError");
    // Fresh entropy: the two draw different bytes from the same point.
    let draw = "secrets.token_hex(16)";
    assert_ne!(value(&run(&s, draw).await), value(&run(&f, draw).await));
    // The fork's tools are live; the fork journals on and rolls back like any session.
    assert_eq!(value(&run(&f, "m = tools.count()\nm").await), json!(2));
    let short = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    let r = f.run_with("xs.append(9)\nwhile True: pass", &short).await.unwrap();
    assert_eq!(r.state, CellState::RolledBack, "{:?}", r.error);
    assert_eq!(value(&run(&f, "xs, m").await), json!([[1, 2], 2]));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
    // A fork of a fork, and closing one leaves the other.
    let g = f.fork().await.unwrap();
    f.close().await;
    assert_eq!(value(&run(&g, "xs").await), json!([1, 2]));
    assert_eq!(value(&run(&s, "xs").await), json!([1, 3]));
    assert!(matches!(f.fork().await, Err(SessionError::Closed)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_whose_journal_is_off_or_past_its_cap_cannot_be_forked() {
    let off = codemode::session::JournalOptions { max_bytes: 0, ..Default::default() };
    let s = Session::builder().journal(off).build().await.unwrap();
    run(&s, "x = 1").await;
    let err = s.fork().await.unwrap_err();
    assert!(matches!(err, SessionError::Fork(_)), "{err}");
    assert!(err.to_string().contains("cannot be forked") && err.to_string().contains("disabled"), "{err}");

    let small = codemode::session::JournalOptions { max_bytes: 64 << 10, ..Default::default() };
    let s = Session::builder().journal(small).build().await.unwrap();
    run(&s, "x = 1").await;
    s.fork().await.expect("a small journal forks");
    run(&s, "import time\nstamps = [time.time() for _ in range(5000)]").await;
    let err = s.fork().await.unwrap_err().to_string();
    assert!(err.contains("cannot be forked") && err.contains("size limit"), "{err}");
    // The original goes on untouched.
    assert_eq!(value(&run(&s, "x").await), json!(1));
}

/// A cached precompiled guest is checked before it is loaded (loading machine code
/// is unsafe): a truncated or bit-flipped file is compiled again, with the progress
/// indicator, never loaded, and the session works.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_cached_guest_is_recompiled_not_loaded() {
    let cache = tempfile::tempdir().unwrap();
    let compiles = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = || {
        let compiles = compiles.clone();
        let sandbox = codemode::Sandbox::builder()
            .cache_dir(cache.path())
            .on_compile(move |event| {
                if matches!(event, codemode::CompileEvent::Started { .. }) {
                    compiles.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
            .build();
        async move {
            let session = Session::builder().sandbox(sandbox).build().await.expect("session starts");
            assert_eq!(value(&run(&session, "6 * 7").await), json!(42));
        }
    };
    start().await;
    assert_eq!(compiles.load(std::sync::atomic::Ordering::SeqCst), 1, "an empty cache compiles");
    let cached = std::fs::read_dir(cache.path().join("precompiled"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("the compiled guest is cached");
    let bytes = std::fs::read(&cached).unwrap();
    start().await;
    assert_eq!(compiles.load(std::sync::atomic::Ordering::SeqCst), 1, "an intact cache is loaded");

    std::fs::write(&cached, &bytes[..bytes.len() / 2]).unwrap();
    start().await;
    assert_eq!(compiles.load(std::sync::atomic::Ordering::SeqCst), 2, "a truncated file is compiled again");
    assert_eq!(std::fs::read(&cached).unwrap().len(), bytes.len(), "and replaced");

    // One bit in the middle, which wasmtime's own checks of the file need not notice.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x01;
    std::fs::write(&cached, &flipped).unwrap();
    start().await;
    assert_eq!(compiles.load(std::sync::atomic::Ordering::SeqCst), 3, "a bit-flipped file is compiled again");
}
