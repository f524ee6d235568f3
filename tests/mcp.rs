//! MCP tools against real servers installed by `scripts/install-mcp-servers.sh`:
//! `@modelcontextprotocol/server-everything` (npm) over stdio and streamable HTTP,
//! `mcp-server-time` (PyPI), and a small server on the Python SDK that can be made
//! to crash (`tests/fixtures/mcp/crashy.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use codemode::Session;
use codemode::tools::ToolRegistry;
use common::{error, mcp_servers, run, value};
use serde_json::{Value, json};

const CRASHY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/crashy.py");

fn everything_bin() -> PathBuf {
    mcp_servers().join("node/node_modules/.bin/mcp-server-everything")
}

fn python() -> PathBuf {
    mcp_servers().join("venv/bin/python")
}

/// `name: <name>` YAML for the stdio server-everything.
fn everything(name: &str) -> String {
    format!("name: {name}\ntype: mcp\ncommand: {}\nargs: [stdio]\n", everything_bin().display())
}

/// `name: <name>` YAML for the crashable Python SDK server.
fn crashy(name: &str) -> String {
    format!("name: {name}\ntype: mcp\ncommand: {}\nargs: [{CRASHY}]\ntimeout: 30\n", python().display())
}

/// A tools directory holding `files` (name, YAML).
fn tools_dir(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml) in files {
        std::fs::write(dir.path().join(name), yaml).unwrap();
    }
    dir
}

async fn session(dir: &Path) -> Session {
    let (tools, skipped) = ToolRegistry::load_dir(dir);
    assert!(skipped.is_empty(), "{skipped:?}");
    Session::builder().tools(tools).embeddings(false).build().await.expect("session starts")
}

#[tokio::test]
async fn stdio_servers_from_npm_and_pypi() {
    let time =
        format!("name: time\ntype: mcp\ncommand: {}\n", mcp_servers().join("venv/bin/mcp-server-time").display());
    let structured = everything("structured") + "result: structured\n";
    let dir = tools_dir(&[
        ("everything.yaml", everything("everything")),
        ("time.yaml", time),
        ("structured.yaml", structured),
    ]);
    let s = session(dir.path()).await;

    let listed = value(&run(&s, "{t['name']: t for t in tools.list()}").await);
    let echo = listed["everything"]["callables"].as_array().unwrap().iter().find(|c| c["name"] == "echo").unwrap();
    assert_eq!(echo["parameters"][0]["name"], "message");
    assert_eq!((&echo["parameters"][0]["type"], &echo["parameters"][0]["required"]), (&json!("str"), &json!(true)));
    assert_eq!(echo["signature"], "echo(message: str)");
    assert!(listed["time"]["callables"].as_array().unwrap().iter().any(|c| c["name"] == "get_current_time"));

    // Text joined, as py-code-mode; `get-sum` reachable as `get_sum`.
    assert_eq!(value(&run(&s, "tools.everything.echo(message='hi')").await), "Echo: hi");
    assert_eq!(value(&run(&s, "tools.everything.get_sum(a=2, b=3)").await), "The sum of 2 and 3 is 5.");
    // A result with structuredContent and its JSON text is the text by default...
    let code = "import json\nw = tools.everything.get_structured_content(location='New York')\n[type(w).__name__, json.loads(w)]";
    let weather = value(&run(&s, code).await);
    assert_eq!(weather[0], "str");
    assert!(weather[1]["temperature"].is_number(), "{weather}");
    let now = value(&run(&s, "json.loads(tools.time.get_current_time(timezone='Europe/Paris'))").await);
    assert_eq!(now["timezone"], "Europe/Paris");
    // ...and the data with `result: structured`.
    let weather = value(&run(&s, "tools.structured.get_structured_content(location='New York')").await);
    assert!(weather["temperature"].is_number(), "{weather}");
    assert_eq!(value(&run(&s, "tools.structured.echo(message='x')").await), "Echo: x", "no structured content: text");
    // Mixed content (text and an image) comes back as the content blocks.
    let image = value(&run(&s, "[b['type'] for b in tools.everything.get_tiny_image()]").await);
    assert_eq!(image, json!(["text", "image", "text"]));
    assert_eq!(value(&run(&s, "await tools.everything.echo.call_async(message='a')").await), "Echo: a");
    assert!(value(&run(&s, "tools.everything.echo.__doc__").await).as_str().unwrap().contains("message"));
    assert!(value(&run(&s, "'get_sum' in dir(tools.everything)").await).as_bool().unwrap());

    // Arguments outside the input schema are refused before anything is sent.
    let (kind, message) = error(&run(&s, "tools.everything.echo(msg='x')").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("unknown argument(s) msg"), "{message}");
    let (kind, message) = error(&run(&s, "tools.everything.echo()").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("missing required argument(s): message"), "{message}");
    let (kind, message) = error(&run(&s, "tools.everything.nope()").await);
    assert_eq!(kind, "AttributeError");
    assert!(message.contains("echo") && message.contains("get-sum"), "{message}");
    let (kind, message) = error(&run(&s, "tools.everything(message='x')").await);
    assert_eq!(kind, "ToolArgumentError");
    assert!(message.contains("call one of its tools"), "{message}");

    let traced = run(&s, "tools.everything.echo(message='t')").await;
    assert_eq!(traced.tool_calls.len(), 1);
    assert_eq!(
        (traced.tool_calls[0].tool.as_str(), traced.tool_calls[0].callable.as_deref()),
        ("everything", Some("echo"))
    );
}

/// server-everything in streamable-HTTP mode on a free loopback port, killed on drop.
struct HttpServer(Child, u16);

impl HttpServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(everything_bin())
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server-everything starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "server-everything did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child, port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn streamable_http_server() {
    let server = HttpServer::start();
    let yaml = format!("name: remote\ntype: mcp\ntransport: streamable_http\nurl: http://127.0.0.1:{}/mcp\n", server.1);
    let dir = tools_dir(&[("remote.yaml", yaml)]);
    let s = session(dir.path()).await;
    assert_eq!(value(&run(&s, "tools.remote.echo(message='over http')").await), "Echo: over http");
    assert_eq!(value(&run(&s, "tools.remote.get_sum(a=40, b=2)").await), "The sum of 40 and 2 is 42.");
}

#[tokio::test]
async fn a_server_that_dies_is_restarted() {
    let dir = tools_dir(&[("crashy.yaml", crashy("restarts"))]);
    let s = session(dir.path()).await;
    let pid = |r: Value| r.as_str().and_then(|t| t.parse::<i64>().ok()).expect("a pid, as text");
    let first = pid(value(&run(&s, "tools.restarts.pid()").await));

    // Dies during the call: the call fails (after one retry on a fresh server), the next one works.
    let (kind, message) = error(&run(&s, "tools.restarts.crash()").await);
    assert_eq!(kind, "ToolCallError");
    assert!(message.contains("exited during the call"), "{message}");
    let second = pid(value(&run(&s, "tools.restarts.pid()").await));
    assert_ne!(first, second);

    // Killed from outside between calls: the next call starts it again.
    let killed = Command::new("kill").args(["-9", &second.to_string()]).status().unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(200));
    let third = pid(value(&run(&s, "tools.restarts.pid()").await));
    assert_ne!(second, third);

    // isError results raise with the server's message.
    let (kind, message) = error(&run(&s, "tools.restarts.fail(message='no such invoice')").await);
    assert_eq!(kind, "ToolCallError");
    assert!(message.contains("no such invoice"), "{message}");
}

#[tokio::test]
async fn results_are_text_by_default_and_structured_content_on_request() {
    let structured = crashy("data") + "result: structured\n";
    let dir = tools_dir(&[("text.yaml", crashy("text")), ("data.yaml", structured)]);
    let s = session(dir.path()).await;
    // A ported skill's `.splitlines()` works on the default text.
    assert_eq!(value(&run(&s, "tools.text.pid().splitlines()[0].isdigit()").await), json!(true));
    assert!(value(&run(&s, "tools.data.pid()").await)["result"].is_i64());
    // No content blocks at all: the structured value, whatever `result` says.
    let expected = json!({"rows": [1, 2]});
    assert_eq!(value(&run(&s, "tools.text.structured_only()").await), expected);
    assert_eq!(value(&run(&s, "tools.data.structured_only()").await), expected);
}

#[tokio::test]
async fn sessions_of_a_process_share_one_server() {
    let dir = tools_dir(&[("crashy.yaml", crashy("shared"))]);
    let (a, b) = (session(dir.path()).await, session(dir.path()).await);
    let pid_a = value(&run(&a, "tools.shared.pid()").await);
    let pid_b = value(&run(&b, "tools.shared.pid()").await);
    assert_eq!(pid_a, pid_b);
}

#[tokio::test]
async fn a_missing_server_disables_only_its_tools() {
    let echo = "name: echo\ncommand: echo\nschema:\n  positional:\n    - {name: text, type: string, required: true}\nrecipes:\n  say:\n    params:\n      text: {}\n";
    let ghost = "name: ghost-server\ntype: mcp\ncommand: /nonexistent/mcp-server\n".to_owned();
    let dir = tools_dir(&[("echo.yaml", echo.to_owned()), ("ghost.yaml", ghost)]);
    let s = session(dir.path()).await;

    // py-code-mode's hyphenated names are reachable with underscores.
    let (kind, message) = error(&run(&s, "tools.ghost_server.anything()").await);
    assert_eq!(kind, "ToolCallError");
    assert!(message.contains("cannot run `/nonexistent/mcp-server`"), "{message}");
    assert_eq!(value(&run(&s, "tools.echo.say(text='still here')").await), "still here\n");

    let listed = s.tools().list().await;
    let ghost = listed.iter().find(|t| t.name == "ghost-server").unwrap();
    assert!(ghost.unavailable.as_deref().is_some_and(|r| r.contains("No such file")), "{ghost:?}");
    assert!(listed.iter().find(|t| t.name == "echo").unwrap().unavailable.is_none());
    let described = value(&run(&s, "[t['description'] for t in tools.list() if t['name'] == 'ghost-server'][0]").await);
    assert!(described.as_str().unwrap().contains("unavailable"), "{described}");
}

fn codemode(base: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(["--base", base.to_str().unwrap()])
        .args(args)
        .env_remove("CODEMODE_REDIS")
        .env("CODEMODE_MCP_TEST_SECRET", "s3cr3t-token-value")
        .env("CODEMODE_HOST_ONLY", "not-for-servers")
        .env("CODEMODE_LOG", "info")
        .output()
        .expect("codemode runs")
}

#[test]
fn cli_checks_servers_and_keeps_host_secrets_out() {
    let base = tempfile::tempdir().unwrap();
    let tools = base.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let env = "env:\n  GREETING: \"hello-${CODEMODE_MCP_TEST_SECRET}\"\n";
    std::fs::write(tools.join("everything.yaml"), everything("everything") + env).unwrap();
    std::fs::write(tools.join("ghost.yaml"), "name: ghost\ntype: mcp\ncommand: /nonexistent/mcp-server\n").unwrap();

    let out = codemode(base.path(), &["tools", "check", tools.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ok    everything: Tools of the MCP server everything: echo"), "{stdout}");
    assert!(stdout.contains("fail  ghost: cannot run `/nonexistent/mcp-server`"), "{stdout}");

    // The server sees the expanded value; agent code sees it scrubbed, and host
    // variables the YAML does not pass are not in the server's environment.
    let out = codemode(base.path(), &["run", "print(tools.everything.get_env())"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("hello-***"), "{stdout}");
    assert!(!stdout.contains("s3cr3t-token-value"), "{stdout}");
    assert!(!stdout.contains("CODEMODE_HOST_ONLY"), "{stdout}");
}

/// A Python SDK server that echoes its `TOKEN` (from the YAML `env`) to stderr
/// before dying, and in a structured result.
const LEAKY: &str = r#"import os, sys, time
from mcp.server.mcpserver import MCPServer

server = MCPServer("leaky")


@server.tool()
def leak(pad: int) -> str:
    """Writes `pad` x's and the token on one stderr line, then dies."""
    sys.stderr.write("x" * pad + os.environ["TOKEN"] + "\n")
    sys.stderr.flush()
    time.sleep(0.3)
    os._exit(3)


@server.tool()
def token() -> dict:
    """The token as a value and as a key."""
    return {"echo": os.environ["TOKEN"], os.environ["TOKEN"]: [os.environ["TOKEN"]]}


if __name__ == "__main__":
    server.run()
"#;

#[test]
fn server_stderr_and_results_are_scrubbed_before_they_are_cut() {
    let base = tempfile::tempdir().unwrap();
    let tools = base.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let script = base.path().join("leaky.py");
    std::fs::write(&script, LEAKY).unwrap();
    let yaml = format!(
        "name: leaky\ntype: mcp\ncommand: {}\nargs: [{}]\nresult: structured\nenv:\n  TOKEN: \"${{CODEMODE_MCP_TEST_SECRET}}\"\n",
        python().display(),
        script.display()
    );
    std::fs::write(tools.join("leaky.yaml"), yaml).unwrap();
    let code = "import json\nout = []\nfor pad in (480, 495, 499):\n    try:\n        tools.leaky.leak(pad=pad)\n    except ToolError as e:\n        out.append(str(e))\nprint(json.dumps([out, tools.leaky.token()]))";
    let out = codemode(base.path(), &["run", code]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    let messages = printed[0].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{printed}");
    for message in messages {
        let message = message.as_str().unwrap();
        assert!(message.contains("exited during the call"), "{message}");
        // Before, each stderr line was cut to 500 characters and then scrubbed.
        assert!(!message.contains("s3c"), "{message}");
    }
    assert!(messages.iter().any(|m| m.as_str().unwrap().contains("x***")), "{printed}");
    let result = printed[1].to_string();
    assert!(!result.contains("s3cr3t") && result.contains("***"), "{result}");
    // The server's stderr reaches the host's log, scrubbed too.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("x***"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

#[test]
fn server_stderr_and_log_messages_reach_the_host_log() {
    let base = tempfile::tempdir().unwrap();
    let tools = base.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    std::fs::write(tools.join("chatty.yaml"), crashy("chatty")).unwrap();
    let out = codemode(base.path(), &["run", "tools.chatty.chatty(message='m-41')"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Each with the server's name, from the stderr pipe and from the protocol.
    let line = |needle: &str, and: &str| {
        stderr.lines().find(|l| l.contains(needle) && l.contains(and)).unwrap_or_else(|| panic!("{needle}: {stderr}"))
    };
    assert!(line("stderr says m-41", "INFO").contains("chatty"), "{stderr}");
    // At the server's level (rmcp also logs the raw notification, at info).
    assert!(line("log says m-41", "WARN").contains("chatty"), "{stderr}");
    assert!(line("MCP server started", "INFO").contains("chatty"), "{stderr}");
}
