//! Helpers shared by the integration tests: real servers the tests own.

#![allow(dead_code, reason = "each test crate uses a different subset")]

pub mod quality;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process of the built binary on a free loopback port (`codemode serve`,
/// `codemode mcp --http`), with the URL it said it serves; killed on drop.
pub struct Served {
    pub child: Child,
    pub url: String,
}

impl Served {
    /// `codemode serve` with `token` and `args`.
    pub fn start(token: &str, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_codemode"));
        command.args(["serve", "--listen", "127.0.0.1:0"]).args(args).env("CODEMODE_TOKEN", token);
        Self::spawn(command, "listening on")
    }

    /// Runs `command` until a line of its stderr contains `marker`: the URL is that
    /// line's last word. The rest of its stderr is drained, so it never blocks on a
    /// full pipe.
    pub fn spawn(mut command: Command, marker: &str) -> Self {
        use std::io::BufRead;
        let mut child = command.stderr(Stdio::piped()).spawn().expect("the server starts");
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains(marker) {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "the server exited before {marker:?}");
        }
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let url = line.trim().rsplit(' ').next().unwrap().to_owned();
        Self { child, url }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` this test started on a free loopback port, with an append-only
/// file so a restart keeps every acknowledged write. Killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
        let mut server = Self { child: None, port, dir: tempfile::tempdir().unwrap() };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new(redis_server())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its data directory (the append-only file is under it).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_server() -> PathBuf {
    std::env::var_os("REDIS_SERVER").map_or_else(|| PathBuf::from("redis-server"), PathBuf::from)
}

/// The local wheel directory `scripts/test.sh` fills from PyPI before the tests, so
/// the deps tests themselves need no network.
pub fn test_wheels() -> PathBuf {
    prepared("CODEMODE_TEST_WHEELS", "test-wheels", "scripts/test.sh")
}

/// Where `scripts/install-mcp-servers.sh` put the MCP servers and the Python SDK.
pub fn mcp_servers() -> PathBuf {
    prepared("CODEMODE_MCP_SERVERS", "mcp-servers", "scripts/install-mcp-servers.sh")
}

/// A directory a script prepared (`$var`, else `<cache>/<name>`), marked `.complete`.
fn prepared(var: &str, name: &str, script: &str) -> PathBuf {
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| codemode::default_cache_dir().expect("a cache directory").join(name));
    assert!(dir.join(".complete").exists(), "{} is not prepared: run {script}", dir.display());
    dir
}

/// Runs `code`, which must not fail to run (it may raise).
pub async fn run(session: &codemode::Session, code: &str) -> codemode::RunResult {
    session.run(code).await.expect("run completes")
}

/// The JSON value of a run that must have succeeded.
pub fn value(result: &codemode::RunResult) -> serde_json::Value {
    assert!(result.is_ok(), "unexpected error: {:?}", result.error);
    result.value.as_ref().and_then(|v| v.json.clone()).expect("a JSON value")
}

/// The exception class and message of a run that must have raised.
pub fn error(result: &codemode::RunResult) -> (String, String) {
    let e = result.error.as_ref().expect("an error");
    (e.kind.clone(), e.message.clone())
}

/// The exception class and traceback of a run that must have raised.
pub fn error_traceback(result: &codemode::RunResult) -> (String, String) {
    let e = result.error.as_ref().expect("an error");
    (e.kind.clone(), e.traceback.clone())
}

/// A request [`http_server`] received.
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub body: Vec<u8>,
}

/// An HTTP/1.1 server on a free loopback port that answers `n` requests with
/// `answer(request)` = (status, JSON body), one connection each. Returns its URL.
pub fn http_server(n: usize, answer: impl Fn(HttpRequest) -> (u16, String) + Send + 'static) -> String {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            let mut headers = serde_json::Map::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    let name = name.trim().to_ascii_lowercase();
                    if name == "content-length" {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    headers.insert(name, serde_json::Value::from(value.trim()));
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request_line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
            let (status, reply) = answer(HttpRequest { method, path, headers, body });
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    address
}

/// What `codemode <args>` says on stderr when started with CODEMODE_TOKEN=`token`;
/// it must refuse to start (exit 2).
pub fn start_refusal(args: &[&str], token: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codemode"));
    command.args(args).env_remove("CODEMODE_TOKEN");
    if let Some(token) = token {
        command.env("CODEMODE_TOKEN", token);
    }
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "it started with {token:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A CLI tool whose `hang` recipe starts `sleep 30` in the background (a grandchild
/// of the host, in the tool's process group), writes its pid to the file it is
/// given, and waits for it: a call that runs 30 s unless stopped.
pub const SPAWNER: &str = r#"name: spawner
command: sh
timeout: 1
schema:
  options:
    script: {type: string, short: c}
  positional:
    - {name: pidfile, type: string, required: true}
recipes:
  hang:
    description: Waits for the grandchild (past the timeout)
    preset: {script: 'sleep 30 & echo $! > "$0"; wait'}
  leave:
    description: Exits at once, leaving the grandchild running
    preset: {script: 'sleep 30 & echo $! > "$0"; echo done'}
"#;

/// A `tools` directory holding [`SPAWNER`] with a `timeout` of `seconds`.
pub fn spawner_tools(seconds: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spawner.yaml"), SPAWNER.replace("timeout: 1", &format!("timeout: {seconds}")))
        .unwrap();
    dir
}

/// A cell calling the spawner's `hang` recipe with its pidfile in `scratch`, and a
/// future giving the grandchild's pid once the tool runs.
pub fn hang_call(scratch: &std::path::Path) -> (String, impl std::future::Future<Output = u32>) {
    let pidfile = scratch.join("hang.pid");
    let code = format!("tools.spawner.hang(pidfile={:?})", pidfile.to_str().unwrap());
    (code, async move { tokio::task::spawn_blocking(move || grandchild(&pidfile)).await.unwrap() })
}

/// The pid the spawner wrote to `pidfile` (waiting up to 5 s for it).
pub fn grandchild(pidfile: &std::path::Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pid) = std::fs::read_to_string(pidfile).ok().and_then(|t| t.trim().parse().ok()) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", pidfile.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` is gone within 5 s (or a zombie nobody reaped yet: killed all the same).
pub fn dies(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()));
        if matches!(state, None | Some('Z')) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A base directory for the `describe` tests: py-code-mode's fixture tools and
/// skills (`tests/fixtures/pycodemode`) plus the curl, echo and lister tools and
/// the text_report skill of `tests/fixtures`.
pub fn describe_fixture() -> tempfile::TempDir {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let base = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        let target = base.path().join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(fixtures.join(from), target).unwrap();
    };
    for tool in ["jq.yaml", "ls.yaml"] {
        copy(&format!("pycodemode/tools/{tool}"), &format!("tools/{tool}"));
    }
    for tool in ["curl.yaml", "echo.yml", "lister.yaml"] {
        copy(&format!("tools/{tool}"), &format!("tools/{tool}"));
    }
    for skill in ["word_stats.py", "pluck.py"] {
        copy(&format!("pycodemode/skills/{skill}"), &format!("skills/{skill}"));
    }
    copy("skills/text_report.py", "skills/text_report.py");
    base
}

/// A CLI tool that counts its calls in the file it is given: a call run twice shows.
pub const COUNTER: &str = r#"name: counter
command: sh
timeout: 10
schema:
  options:
    script: {type: string, short: c}
  positional:
    - {name: file, type: string, required: true}
recipes:
  bump:
    description: Appends a line to the file
    preset: {script: 'echo x >> "$0"'}
"#;

/// How many lines `path` holds (0 when it does not exist).
pub fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).unwrap_or_default().lines().count()
}

/// Data work that every surface runs on the data profile, in order, one cell a line
/// (the CLI's repl reads a line as a cell), each with the Python repr of its value,
/// which is also the JSON of it: state across cells, a checked pandas groupby, a
/// matplotlib PNG saved as the artifact `plot.png` (its first four bytes are the
/// value), a `MemoryError` under the default 256 MiB cap caught with the session
/// going on, a skill and a tool (`echo`, see [`data_base`]) called from a cell, and
/// neither a host file nor a host environment variable in sight.
pub const DATA_WORK: [(&str, &str); 8] = [
    (
        "import numpy as np, pandas as pd; df = pd.DataFrame({'k': ['a', 'b', 'a', 'c'], 'v': np.arange(4) * 10}); len(df)",
        "4",
    ),
    ("df.groupby('k')['v'].sum().tolist()", "[20, 10, 30]"),
    (
        "import io, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; fig, ax = plt.subplots(); \
         ax.plot(df['v'], df['v'] ** 2); buf = io.BytesIO(); fig.savefig(buf, format='png'); \
         artifacts.save('plot.png', buf.getvalue()); list(buf.getvalue()[:4])",
        "[137, 80, 78, 71]",
    ),
    (
        "exec('try:\\n    big = np.ones(50_000_000)\\n    caught = 0\\nexcept MemoryError:\\n    caught = 1'); caught",
        "1",
    ),
    ("int(df['v'].sum())", "60"),
    (
        "skills.create('column_total', 'def run(values: list) -> int:\\n    import numpy\\n    return int(numpy.sum(values))\\n'); \
         skills.column_total(values=df['v'].tolist())",
        "60",
    ),
    ("int('from data' in str(tools.echo.echo(text='from data')))", "1"),
    (
        concat!(
            "import os; [k for k in os.environ if k not in ('HOME', 'PYTHONTZPATH', 'TMPDIR')] + ",
            "[p for p in ('/etc/passwd', '/proc/self/environ', '",
            env!("CARGO_MANIFEST_DIR"),
            "/Cargo.toml') if os.path.exists(p)]"
        ),
        "[]",
    ),
];

/// A base directory with the echo tool (`tools/echo.yml`) that [`DATA_WORK`] calls.
pub fn data_base() -> tempfile::TempDir {
    let base = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(base.path().join("tools")).unwrap();
    let echo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tools/echo.yml");
    std::fs::copy(echo, base.path().join("tools/echo.yml")).unwrap();
    base
}

/// Whether `data` is a whole PNG of a real plot (its signature, and more than a header).
pub fn is_plot_png(data: &[u8]) -> bool {
    data.starts_with(b"\x89PNG\r\n\x1a\n") && data.len() > 1000
}
