//! `codemode mcp` (the real binary) driven by real clients: the Python MCP SDK
//! (installed by `scripts/install-mcp-servers.sh`) over stdio and streamable HTTP,
//! rmcp's client, the MCP Inspector, and raw bytes for malformed, oversized,
//! unauthenticated and cross-origin requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::mcp_servers;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::Value;

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp/client.py");
const BIN: &str = env!("CARGO_BIN_EXE_codemode");
/// The bearer token of the HTTP servers these tests start.
const TOKEN: &str = "a-token-for-the-mcp-tests";

/// Runs the Python SDK scenario (`client.py`) and returns its report. Over HTTP it
/// sends [`TOKEN`] (`CODEMODE_TOKEN`).
fn python_client(mode: &str, target: &[&str]) -> Value {
    let out = Command::new(mcp_servers().join("venv/bin/python"))
        .arg(CLIENT)
        .arg(mode)
        .args(target)
        .env("CODEMODE_TOKEN", TOKEN)
        .output()
        .expect("the Python client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed: {stdout}\n{stderr}");
    let mut report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON report");
    report["stderr"] = Value::from(stderr);
    report
}

/// What every client run must have seen, whatever the transport.
fn check_report(report: &Value) {
    let tools: Vec<&str> = report["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for expected in [
        "run_code",
        "list_tools",
        "search_tools",
        "list_skills",
        "search_skills",
        "create_skill",
        "delete_skill",
        "list_artifacts",
        "list_deps",
        "add_dep",
        "remove_dep",
        "get_skill",
        "invoke_skill",
        "load_artifact",
        "reset",
    ] {
        assert!(tools.contains(&expected), "{expected} missing from {tools:?}");
    }
    assert_eq!(report["server"], "codemode");
    let step = |name: &str| &report[name];
    // A new MCP session starts with a fresh interpreter; state then persists across calls.
    assert_eq!(step("fresh")["data"]["value"]["json"], false);
    assert_eq!(step("state")["text"], "Result:\n42");
    assert_eq!(step("state")["data"]["value"]["json"], 42);
    // The text labels each part, so stdout and the value are told apart.
    assert_eq!(step("labelled")["text"], "Stdout:\n43\n\nResult:\n43");
    assert_eq!(step("nothing")["text"], "(no output)");
    // Errors are tool errors with the traceback, readable as text and structured.
    let raises = step("raises");
    assert_eq!(raises["is_error"], true);
    assert!(raises["text"].as_str().unwrap().starts_with("Stdout:\nbefore\n\nError:\nTraceback"), "{raises}");
    assert_eq!(raises["data"]["error"]["kind"], "ZeroDivisionError");
    // 300 KB of output: the text keeps its head and tail within the default 32 KiB
    // with a note on how to get the rest, and the structured copy does not repeat it.
    let flood = step("flood");
    let text = flood["text"].as_str().unwrap();
    assert!(text.len() < 34_000 && text.starts_with("Stdout:\naaa") && text.ends_with("THE END"), "{}", text.len());
    assert!(text.contains("characters cut here") && text.contains("artifacts.save"), "{text:.200}");
    let structured = flood["data"].to_string();
    assert!(structured.len() <= 32 * 1024 / 8, "{}", structured.len());
    assert!(flood["data"]["stdout"].as_str().unwrap().contains("characters cut"), "{structured:.300}");
    // Every structured result is also its JSON text (the MCP specification's advice).
    for name in ["create", "delete", "artifacts", "skills", "search"] {
        let texts = step(name)["texts"].as_array().unwrap();
        let parsed: Value = serde_json::from_str(texts[0].as_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed, step(name)["data"], "{name}");
    }
    // Every tool declares the schema of its structured result (and the SDK checked each call against it).
    let schemas = &report["output_schemas"];
    assert_eq!(schemas["run_code"], "Run", "{schemas}");
    assert_eq!(schemas["create_skill"], "SkillCreated", "{schemas}");
    assert!(schemas.as_object().unwrap().values().all(Value::is_string), "{schemas}");
    // Annotations say what each tool does.
    let hints = &report["annotations"];
    assert_eq!(hints["list_artifacts"]["readOnlyHint"], true, "{hints}");
    assert_eq!(hints["run_code"]["readOnlyHint"], false, "{hints}");
    assert_eq!(hints["run_code"]["openWorldHint"], true, "{hints}");
    assert_eq!(hints["delete_skill"]["destructiveHint"], true, "{hints}");
    assert_eq!(hints["delete_skill"]["idempotentHint"], true, "{hints}");
    assert_eq!(hints["add_dep"]["destructiveHint"], false, "{hints}");
    // A long cell reports progress to a client that asked for it.
    assert_eq!(step("with_progress")["data"]["value"]["json"], "done");
    let progress = report["progress"].as_array().unwrap();
    assert!(progress.len() >= 2, "{progress:?}");
    assert!(progress[0]["message"].as_str().unwrap().contains("still running"), "{progress:?}");
    // Artifacts are resources, read as text by kind; bad URIs are errors.
    let resources = report["resources"].as_array().unwrap();
    assert_eq!(resources[0]["uri"], "codemode://artifacts/report", "{resources:?}");
    assert_eq!(resources[0]["mimeType"], "application/json");
    assert_eq!(resources[0]["description"], "a test");
    let read = &report["read"][0];
    assert_eq!(serde_json::from_str::<Value>(read["text"].as_str().unwrap()).unwrap(), serde_json::json!({"ok": true}));
    assert_eq!(read["mimeType"], "application/json");
    let errors = &report["read_errors"];
    assert!(errors["codemode://artifacts/nothing-here"].as_str().unwrap().contains("no artifact named"), "{errors}");
    assert!(errors["codemode://artifacts/../../etc/passwd"].as_str().unwrap().contains("path traversal"), "{errors}");
    assert!(errors["file:///etc/passwd"].as_str().unwrap().contains("not an artifact URI"), "{errors}");
    assert_eq!(step("create")["data"]["parameters"][0]["name"], "n");
    assert_eq!(step("bad_skill")["is_error"], true);
    assert!(step("bad_skill")["text"].as_str().unwrap().contains("syntax error"), "{}", step("bad_skill"));
    assert_eq!(step("search")["data"]["matches"][0]["name"], "double");
    assert!(step("get")["text"].as_str().unwrap().contains("return n * 2"));
    assert_eq!(step("invoke")["data"]["value"]["json"], 42);
    assert_eq!(step("in_code")["data"]["value"]["json"], 10);
    assert_eq!(step("artifacts")["data"]["artifacts"][0]["name"], "report");
    assert_eq!(step("load")["data"]["data"], serde_json::json!({"ok": true}));
    assert_eq!(step("missing")["is_error"], true);
    assert_eq!(step("after_reset")["data"]["error"]["kind"], "NameError");
    assert_eq!(step("delete")["data"]["deleted"], true);
    assert_eq!(step("skills")["data"]["skills"], serde_json::json!([]));
    let slow = step("slow");
    assert_eq!((&slow["is_error"], &slow["data"]["limit"]), (&Value::Bool(true), &Value::from("timeout")), "{slow}");
}

#[test]
fn python_sdk_over_stdio() {
    let base = tempfile::tempdir().unwrap();
    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tools");
    let report =
        python_client("auto", &["stdio", BIN, "mcp", "--tools", tools, "--base", base.path().to_str().unwrap()]);
    assert_eq!(report["protocol"], "2026-07-28", "stdio negotiates the newest version");
    check_report(&report);
    // The tool listing is the signatures agent code calls, one per line, not pretty JSON.
    let listing = report["list_tools"]["text"].as_str().unwrap();
    assert!(listing.contains("tools.jq: Query and transform JSON\n"), "{listing}");
    assert!(listing.contains("\n  tools.jq.query(filter: str"), "{listing}");
    assert!(listing.contains("# Run a filter over JSON given as stdin"), "{listing}");
    assert!(listing.contains("tools.sleepy.long("), "{listing}");
    assert!(!listing.contains("\"callables\""), "{listing}");
    assert_eq!(report["list_tools"]["data"]["tools"].as_array().unwrap().len(), 5);
}

/// `codemode mcp --http` on a free port with [`TOKEN`], killed on drop.
struct HttpServer(common::Served);

impl HttpServer {
    fn start(base: &Path, flags: &[&str]) -> Self {
        let mut command = Command::new(BIN);
        command.args(["mcp", "--http", "127.0.0.1:0"]).args(flags).arg("--base").arg(base).env("CODEMODE_TOKEN", TOKEN);
        Self(common::Served::spawn(command, "serving http://"))
    }

    /// A POST of `body` to the endpoint with `headers` (each `(name, value)`).
    async fn send(&self, headers: &[(&str, &[u8])], body: Vec<u8>) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(&self.0.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, reqwest::header::HeaderValue::from_bytes(value).unwrap());
        }
        request.body(body).send().await.unwrap()
    }

    /// [`send`](Self::send), for an answer that must be JSON.
    async fn post(&self, headers: &[(&str, &[u8])], body: Vec<u8>) -> (u16, Value) {
        let response = self.send(headers, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {e}: {text}")))
    }

    /// rmcp's client over streamable HTTP, with the token.
    async fn rmcp_client(&self) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.0.url.clone()).auth_header(TOKEN);
        ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("handshake")
    }
}

/// The `Authorization` header that carries [`TOKEN`].
const BEARER: (&str, &[u8]) = ("authorization", b"Bearer a-token-for-the-mcp-tests");

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

/// Sends a request with the token (`headers` replace the JSON defaults) and checks
/// the answer is `status` with a JSON-RPC error.
async fn expect_rpc_error(method: &str, url: &str, headers: &[(&'static str, &str)], body: &[u8], status: u16) {
    let mut map = reqwest::header::HeaderMap::new();
    map.insert("content-type", "application/json".parse().unwrap());
    map.insert("accept", "application/json, text/event-stream".parse().unwrap());
    for (name, value) in headers {
        map.insert(*name, value.parse().unwrap());
    }
    let request = reqwest::Client::new().request(method.parse().unwrap(), url).bearer_auth(TOKEN).headers(map);
    let response = request.body(body.to_vec()).send().await.unwrap();
    assert_eq!(response.status(), status, "{method} {url} {headers:?}");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32600, "{method} {url} {headers:?}: {answer}");
}

#[tokio::test]
async fn python_sdk_over_streamable_http_and_bad_requests() {
    let base = tempfile::tempdir().unwrap();
    let server = HttpServer::start(base.path(), &["--max-request-bytes", "65536"]);
    // Malformed JSON, bytes that are not UTF-8 and an oversized body are refused with
    // JSON-RPC errors; the server keeps serving.
    let code = |(status, answer): (u16, Value)| (status, answer["error"]["code"].clone());
    assert_eq!(code(server.post(&[BEARER], b"{not json".to_vec()).await), (400, Value::from(-32700)));
    assert_eq!(code(server.post(&[BEARER], br#"{"id": 3}"#.to_vec()).await), (400, Value::from(-32600)));
    let not_utf8 = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}".to_vec();
    assert_eq!(code(server.post(&[BEARER], not_utf8).await), (400, Value::from(-32700)));
    assert_eq!(code(server.post(&[BEARER], b"\xfe\xff\x00".to_vec()).await), (400, Value::from(-32700)));
    let mut big = br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 100_000));
    big.extend(br#""}}"#);
    assert_eq!(code(server.post(&[BEARER], big).await), (413, Value::from(-32600)));
    // What rmcp itself refuses (wrong content type or Accept, no or unknown session, a
    // message it cannot read, a wrong method or path) is a JSON-RPC error too.
    let ping = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let other = server.0.url.replace("/mcp", "/other");
    let url = server.0.url.as_str();
    expect_rpc_error("POST", url, &[("content-type", "text/plain")], INITIALIZE.as_bytes(), 415).await;
    expect_rpc_error("POST", url, &[("accept", "text/html")], INITIALIZE.as_bytes(), 406).await;
    expect_rpc_error("POST", url, &[], ping, 400).await;
    expect_rpc_error("POST", url, &[("mcp-session-id", "no-such-session")], ping, 404).await;
    expect_rpc_error("POST", url, &[], br#"{"jsonrpc":"2.0","id":2,"method":5}"#, 415).await;
    expect_rpc_error("GET", url, &[("accept", "text/event-stream")], b"", 400).await;
    expect_rpc_error("PUT", url, &[], b"", 405).await;
    expect_rpc_error("GET", &other, &[], b"", 404).await;
    // Random bytes: always a JSON-RPC error.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..100 {
        let mut random = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let bytes: Vec<u8> = (0..random() % 80).map(|_| random() as u8).collect();
        let (status, answer) = server.post(&[BEARER], bytes.clone()).await;
        assert!(status == 400 && answer["error"]["code"].is_i64(), "{bytes:?}: {status} {answer}");
    }

    // Each client is its own MCP session with its own interpreter (`fresh` checks it).
    let url = server.0.url.clone();
    for mode in ["auto", "legacy"] {
        let url = url.clone();
        let report = tokio::task::spawn_blocking(move || python_client(mode, &["http", &url])).await.unwrap();
        assert_eq!(report["protocol"], "2025-11-25", "HTTP keeps protocol sessions");
        check_report(&report);
        // Closing the session (DELETE) answers what the SDK expects: no warning.
        assert!(!report["stderr"].as_str().unwrap().contains("Session termination failed"), "{}", report["stderr"]);
    }
}

#[tokio::test]
async fn rmcp_client_and_no_runtime_deps() {
    let base = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(BIN);
    command.args(["mcp", "--no-runtime-deps", "--base"]).arg(base.path()).stderr(Stdio::null());
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("handshake");
    let names: Vec<String> = client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"list_deps".to_owned()) && !names.contains(&"add_dep".to_owned()), "{names:?}");
    let args = serde_json::json!({"code": "deps.add('six')"}).as_object().cloned().unwrap();
    let result =
        client.call_tool(rmcp::model::CallToolRequestParams::new("run_code").with_arguments(args)).await.unwrap();
    assert_eq!(result.is_error, Some(true));
    let data = result.structured_content.unwrap();
    assert_eq!(data["error"]["kind"], "RuntimeDepsDisabledError", "{data}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_data_profile_over_stdio_runs_data_work_and_stops_a_long_call() {
    let cache = codemode::default_cache_dir().unwrap();
    assert!(codemode::sandbox::data::is_prepared(&cache).unwrap(), "run `codemode profile fetch data` first");
    let base = common::data_base();
    let mut command = tokio::process::Command::new(BIN);
    command.args(["--profile", "data", "--timeout", "3", "mcp", "--base"]).arg(base.path()).stderr(Stdio::null());
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("handshake");
    let call = |tool: &'static str, args: Value| {
        client
            .call_tool(rmcp::model::CallToolRequestParams::new(tool).with_arguments(args.as_object().cloned().unwrap()))
    };
    let run = |code: &str| call("run_code", serde_json::json!({"code": code}));
    for (code, repr) in common::DATA_WORK {
        let result = run(code).await.unwrap().structured_content.unwrap();
        assert_eq!(result["value"]["json"], serde_json::from_str::<Value>(repr).unwrap(), "{code}: {result}");
    }
    // The plot as a resource: its bytes whole (a tool's answer is cut to fit a context).
    let read = rmcp::model::ReadResourceRequestParams::new("codemode://artifacts/plot.png");
    let plot = client.read_resource(read).await.unwrap().contents.remove(0);
    let rmcp::model::ResourceContents::BlobResourceContents { blob, mime_type, .. } = plot else {
        panic!("not a blob: {plot:?}")
    };
    let data = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, blob).unwrap();
    assert!(common::is_plot_png(&data), "{mime_type:?}");
    let long = run("import numpy as np\nx = np.random.rand(2000, 2000)\nfor _ in range(1000):\n    x = x @ x.T / 2000")
        .await
        .unwrap();
    assert_eq!(long.structured_content.unwrap()["limit"], "timeout");
    let after = run("import pandas as pd\nint(pd.Series([1, 2, 3]).sum())").await.unwrap();
    assert_eq!(after.structured_content.unwrap()["value"]["json"], 6, "the session is usable after");
    client.cancel().await.unwrap();
}

/// The MCP Inspector's CLI (npm) against `target`; returns its JSON answer.
fn inspector(target: &[&str], method: &[&str]) -> Value {
    let home = tempfile::tempdir().unwrap();
    let cache = codemode::default_cache_dir().expect("a cache directory");
    let out = Command::new(mcp_servers().join("node/node_modules/.bin/mcp-inspector"))
        .arg("--cli")
        .args(target)
        .args(method)
        // The inspector writes under $HOME; the compiled sandbox stays in the real cache.
        .env("HOME", home.path())
        .env("CODEMODE_CACHE_DIR", cache)
        .output()
        .expect("the inspector runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).expect("JSON from the inspector")
}

#[test]
fn mcp_inspector_cli_over_stdio_and_http() {
    let base = tempfile::tempdir().unwrap();
    let base_arg = base.path().to_str().unwrap();
    let listed = inspector(&[BIN, "mcp", "--base", base_arg], &["--method", "tools/list"]);
    // Every operation and the session tools (runtime deps are allowed by default).
    let every = codemode::mcp_server::TOOLS.len() + codemode::mcp_server::SESSION_TOOLS.len();
    assert_eq!(listed["tools"].as_array().unwrap().len(), every, "{listed}");
    let run = ["--method", "tools/call", "--tool-name", "run_code", "--tool-arg", "code=print(6 * 7)"];
    let called = inspector(&[BIN, "mcp", "--base", base_arg], &run);
    assert_eq!(called["structuredContent"]["stdout"], "42\n", "{called}");

    let server = HttpServer::start(base.path(), &["--max-request-bytes", "65536"]);
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let called = inspector(&[&server.0.url, "--header", &bearer], &run);
    assert_eq!(called["isError"], false, "{called}");
    assert_eq!(called["content"][0]["text"], "Stdout:\n42", "{called}");
}

/// `codemode mcp` over stdio on `base` with `args`, its stdin and stdout piped.
fn stdio_server(base: &Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("mcp")
        .args(args)
        .arg("--base")
        .arg(base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn bad_lines_on_stdio_get_json_rpc_errors_and_the_server_keeps_serving() {
    use std::io::Write;
    let base = tempfile::tempdir().unwrap();
    let mut child = stdio_server(base.path(), &["--max-request-bytes", "65536"]);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut exchange = |stdin: &mut std::process::ChildStdin, line: String| -> Value {
        writeln!(stdin, "{line}").unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
    };
    assert_eq!(exchange(&mut stdin, "{not json".into())["error"]["code"], -32700);
    let invalid = exchange(&mut stdin, r#"{"id": 7, "method": "ping"}"#.into());
    assert_eq!((&invalid["error"]["code"], &invalid["id"]), (&Value::from(-32600), &Value::from(7)));
    let big = format!(r#"{{"jsonrpc":"2.0","id":9,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(70_000));
    assert!(exchange(&mut stdin, big)["error"]["message"].as_str().unwrap().contains("larger than 65536 bytes"));

    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    assert_eq!(exchange(&mut stdin, init.into())["result"]["serverInfo"]["name"], "codemode");
    writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    let call =
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_code","arguments":{"code":"6 * 7"}}}"#;
    assert_eq!(exchange(&mut stdin, call.into())["result"]["structuredContent"]["value"]["json"], 42);
    drop(stdin);
    assert!(child.wait().unwrap().success(), "the server exits when its input ends");
}

#[test]
fn verbose_logs_do_not_echo_what_clients_send() {
    use std::io::Write;
    let base = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["mcp", "-v", "--base"])
        .arg(base.path())
        .env_remove("RUST_LOG")
        .env_remove("CODEMODE_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    writeln!(stdin, "{init}").unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    // A token in a tool argument and in a notification: -v must not print either.
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_code","arguments":{"code":"'sk-live-ARGUMENT-7f3a'"}}}"#;
    writeln!(stdin, "{call}").unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":"sk-live-NOTIFY-9c1d","progress":1}}}}"#
    )
    .unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("sk-live-ARGUMENT-7f3a"), "the call ran: {line}");
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INFO"), "-v logs at info: {stderr}");
    for secret in ["sk-live-ARGUMENT-7f3a", "sk-live-NOTIFY-9c1d"] {
        assert!(!stderr.contains(secret), "{secret} in the log: {stderr}");
    }
}

#[tokio::test]
async fn idle_http_sessions_are_closed_after_the_ttl() {
    let base = tempfile::tempdir().unwrap();
    let server = HttpServer::start(base.path(), &["--session-ttl", "1"]);
    let client = server.rmcp_client().await;
    let run = |code: &str| {
        let args = serde_json::json!({"code": code}).as_object().cloned().unwrap();
        client.call_tool(rmcp::model::CallToolRequestParams::new("run_code").with_arguments(args))
    };
    let value = |result: rmcp::model::CallToolResult| result.structured_content.unwrap();
    assert_eq!(value(run("x = 1\nx").await.unwrap())["value"]["json"], 1);
    // Used more often than the TTL, the session lives on.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        assert_eq!(value(run("x").await.unwrap())["value"]["json"], 1);
    }
    // Left idle, it is closed with its interpreter; the client's next call opens a new one.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let after = value(run("x").await.unwrap());
    assert_eq!(after["error"]["kind"], "NameError", "{after}");
}

#[test]
fn http_refuses_to_start_without_a_usable_token() {
    let refusal = |token: Option<&str>| common::start_refusal(&["mcp", "--http", "127.0.0.1:0"], token);
    assert!(refusal(None).contains("refusing to serve without authentication"));
    assert!(refusal(Some("short")).contains("too short"));
    for token in [" ".repeat(20), format!("{}\n", "x".repeat(20))] {
        assert!(refusal(Some(&token)).contains("whitespace or control characters"), "{token:?}");
    }
    let out =
        Command::new(BIN).args(["mcp", "--http", "127.0.0.1:0", "--allow-origin", "example.com"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an origin"));
}

#[tokio::test]
async fn http_needs_the_token_and_a_local_origin() {
    let base = tempfile::tempdir().unwrap();
    let server = HttpServer::start(base.path(), &["--allow-origin", "https://agents.example.com"]);
    let initialize = || INITIALIZE.as_bytes().to_vec();
    for refused in [vec![], vec![("authorization", &b"Bearer wrong-token-but-long-enough"[..])]] {
        let response = server.send(&refused, initialize()).await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let answer: Value = response.json().await.unwrap();
        assert!(answer["error"]["message"].as_str().unwrap().contains("bearer token"), "{answer}");
    }
    // GET (the SSE stream) and DELETE need the token too.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = reqwest::Client::new().request(method, &server.0.url).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    // A browser page elsewhere (DNS rebinding) is refused even with the token.
    for origin in [&b"http://evil.example"[..], b"http://localhost.evil.example:8765", b"null", b"\xff"] {
        let (status, answer) = server.post(&[BEARER, ("origin", origin)], initialize()).await;
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(origin));
        assert_eq!(answer["error"]["code"], -32600, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("--allow-origin"), "{answer}");
    }
    // Loopback origins, allow-listed ones and no origin at all get through.
    for origin in
        [Some(&b"http://localhost:6274"[..]), Some(b"http://127.0.0.1:9"), Some(b"https://agents.example.com"), None]
    {
        let mut headers = vec![BEARER];
        headers.extend(origin.map(|o| ("origin", o)));
        let response = server.send(&headers, initialize()).await;
        assert_eq!(response.status(), 200, "{origin:?}");
        assert!(response.text().await.unwrap().contains("codemode"));
    }
}

#[tokio::test]
async fn http_sessions_past_the_memory_budget_are_refused_until_one_ends() {
    let base = tempfile::tempdir().unwrap();
    // Three sessions of 64 MiB and their journals' 64 fit in 400 MiB, not four.
    let server = HttpServer::start(base.path(), &["--memory", "64", "--memory-budget", "400"]);
    async fn run(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>) -> rmcp::model::CallToolResult {
        let args = serde_json::json!({"code": "6 * 7"}).as_object().cloned().unwrap();
        client.call_tool(rmcp::model::CallToolRequestParams::new("run_code").with_arguments(args)).await.unwrap()
    }
    let mut clients = Vec::new();
    for _ in 0..3 {
        let client = server.rmcp_client().await;
        assert_eq!(run(&client).await.structured_content.unwrap()["value"]["json"], 42);
        clients.push(client);
    }
    let fourth = server.rmcp_client().await;
    let refused = run(&fourth).await;
    assert_eq!(refused.is_error, Some(true));
    let text = serde_json::to_string(&refused.content).unwrap();
    assert!(text.contains("at capacity") && text.contains("budget is 400 MiB"), "{text}");
    // Ending an MCP session gives its share back; the refused session can then start.
    clients.pop().unwrap().cancel().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let result = run(&fourth).await;
        if result.is_error != Some(true) {
            assert_eq!(result.structured_content.unwrap()["value"]["json"], 42);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the ended session's share did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap();
    line.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

#[test]
fn stdio_survives_bytes_that_are_not_utf8_and_streams_past_huge_lines() {
    use std::io::Write;
    let base = tempfile::tempdir().unwrap();
    let mut child = stdio_server(base.path(), &[]);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut answer = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    for bad in [&b"\xff\xfe\xfd"[..], b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"\xc3\x28\"}", b"\0", b"\x80"] {
        stdin.write_all(bad).unwrap();
        stdin.write_all(b"\n").unwrap();
        assert_eq!(answer()["error"]["code"], -32700, "{}", String::from_utf8_lossy(bad));
    }
    stdin.write_all(INITIALIZE.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    assert_eq!(answer()["result"]["serverInfo"]["name"], "codemode");
    writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    let call =
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_code","arguments":{"code":"6 * 7"}}}"#;
    writeln!(stdin, "{call}").unwrap();
    assert_eq!(answer()["result"]["structuredContent"]["value"]["json"], 42);
    let normal = peak_rss(child.id());

    // 50 MiB in one line, written in pieces: refused without being held.
    let piece = vec![b'x'; 1 << 20];
    stdin.write_all(br#"{"jsonrpc":"2.0","id":5,"method":"ping","params":{"pad":""#).unwrap();
    for _ in 0..50 {
        stdin.write_all(&piece).unwrap();
    }
    stdin.write_all(b"\"}}\n").unwrap();
    let refused = answer();
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("larger than 4194304 bytes"), "{refused}");
    let peak = peak_rss(child.id());
    // At most --max-request-bytes (4 MiB) of the line was held, not 50.
    assert!(
        peak < normal + (24 << 20) && peak < 200 << 20,
        "peak RSS {} MiB, normally {} MiB",
        peak >> 20,
        normal >> 20
    );
    writeln!(stdin, "{}", call.replace(r#""id":2"#, r#""id":3"#)).unwrap();
    assert_eq!(answer()["result"]["structuredContent"]["value"]["json"], 42);
    drop(stdin);
    assert!(child.wait().unwrap().success(), "the server exits when its input ends");
}

#[tokio::test]
async fn hostile_tool_calls_are_tool_errors_and_store_nothing() {
    let base = tempfile::tempdir().unwrap();
    let server = HttpServer::start(base.path(), &[]);
    let client = server.rmcp_client().await;
    let call = |tool: &str, args: Value| {
        let params = rmcp::model::CallToolRequestParams::new(tool.to_owned());
        client.call_tool(match args.as_object() {
            Some(args) => params.with_arguments(args.clone()),
            None => params,
        })
    };
    for (tool, args) in [
        ("save_artifact", serde_json::json!({"name": "../../outside", "data": 1})),
        ("save_artifact", serde_json::json!({"name": "b", "data": "%%", "kind": "bytes"})),
        ("save_artifact", serde_json::json!({"name": "x", "data": 1, "path": "/etc/passwd"})),
        ("get_skill", serde_json::json!({"name": "../../etc/passwd"})),
        ("delete_artifact", serde_json::json!({"name": 7})),
        ("run_code", serde_json::json!({"code": "1", "timeout": -5})),
        ("search_skills", serde_json::json!({})),
    ] {
        let result = call(tool, args.clone()).await.unwrap();
        assert_eq!(result.is_error, Some(true), "{tool} {args}: {result:?}");
    }
    assert!(call("format_disk", Value::Null).await.is_err(), "an unknown tool is a protocol error");
    let listed = call("list_artifacts", Value::Null).await.unwrap().structured_content.unwrap();
    assert_eq!(listed["artifacts"], serde_json::json!([]), "{listed}");
    // What a model sends as it should works, and code sees it.
    let saved = call("save_artifact", serde_json::json!({"name": "notes/a", "data": {"n": 1}})).await.unwrap();
    assert_eq!(saved.structured_content.unwrap()["saved"]["kind"], "json");
    let loaded = call("run_code", serde_json::json!({"code": "artifacts.load('notes/a')['n']"})).await.unwrap();
    assert_eq!(loaded.structured_content.unwrap()["value"]["json"], 1);
    let deleted = call("delete_artifact", serde_json::json!({"name": "notes/a"})).await.unwrap();
    assert_eq!(deleted.structured_content.unwrap()["deleted"], true);
}

#[tokio::test]
async fn session_delete_answers_200() {
    let base = tempfile::tempdir().unwrap();
    let server = HttpServer::start(base.path(), &[]);
    let response = server.send(&[BEARER], INITIALIZE.as_bytes().to_vec()).await;
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let delete = |session: String| {
        reqwest::Client::new()
            .delete(&server.0.url)
            .bearer_auth(TOKEN)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .send()
    };
    assert_eq!(delete(session.clone()).await.unwrap().status(), 200);
    // The session is gone: a call in it is refused.
    let call = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.to_vec();
    let session_header = ("mcp-session-id", session.as_bytes());
    assert_eq!(server.send(&[BEARER, session_header], call).await.status(), 404);
}

#[tokio::test]
async fn hostile_resource_reads_are_errors_and_large_outputs_are_cut() {
    use rmcp::model::{PaginatedRequestParams, ReadResourceRequestParams, ResourceContents};
    let base = tempfile::tempdir().unwrap();
    let server = HttpServer::start(base.path(), &["--max-output-chars", "2000", "--max-resource-bytes", "4096"]);
    let client = server.rmcp_client().await;
    let call = |tool: &str, args: Value| {
        let params = rmcp::model::CallToolRequestParams::new(tool.to_owned());
        client.call_tool(params.with_arguments(args.as_object().cloned().unwrap()))
    };
    let code = "artifacts.save('small.txt', 'hello')\nartifacts.save('big.txt', 'x' * 100_000)\n\
                artifacts.save('blob', b'\\x00\\xff')\nartifacts.save('dir/a b%.json', {'k': [1]})";
    assert_eq!(call("run_code", serde_json::json!({"code": code})).await.unwrap().is_error, Some(false));
    let read = |uri: &str| client.read_resource(ReadResourceRequestParams::new(uri.to_owned()));
    // What is stored reads back by kind: text as text, bytes as a base64 blob, and a
    // name with spaces and `%` through its percent-encoded URI.
    let listed = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "codemode://artifacts/big.txt",
            "codemode://artifacts/blob",
            "codemode://artifacts/dir/a%20b%25.json",
            "codemode://artifacts/small.txt"
        ]
    );
    let text = |contents: &ResourceContents| match contents {
        ResourceContents::TextResourceContents { text, .. } => Some(text.clone()),
        _ => None,
    };
    assert_eq!(text(&read("codemode://artifacts/small.txt").await.unwrap().contents[0]).as_deref(), Some("hello"));
    let json = read("codemode://artifacts/dir/a%20b%25.json").await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text(&json.contents[0]).unwrap()).unwrap(),
        serde_json::json!({"k": [1]})
    );
    match &read("codemode://artifacts/blob").await.unwrap().contents[0] {
        ResourceContents::BlobResourceContents { blob, mime_type, .. } => {
            assert_eq!((blob.as_str(), mime_type.as_deref()), ("AP8=", Some("application/octet-stream")));
        }
        other => panic!("{other:?}"),
    }
    // Larger than --max-resource-bytes: refused, naming the way to read it.
    let big = read("codemode://artifacts/big.txt").await.unwrap_err().to_string();
    assert!(big.contains("100000 bytes") && big.contains("artifacts.load"), "{big}");
    // Traversal, absolute, NUL, broken escapes, other schemes, a megabyte of URI:
    // each an error that names no host path.
    let huge = format!("codemode://artifacts/{}", "a/".repeat(500_000));
    for uri in [
        "codemode://artifacts/../../etc/passwd",
        "codemode://artifacts/%2e%2e/%2e%2e/etc/passwd",
        "codemode://artifacts/%2Fetc%2Fpasswd",
        "codemode://artifacts/a%00b",
        "codemode://artifacts/.index",
        "codemode://artifacts/%zz",
        "codemode://artifacts/nothing",
        "codemode://artifacts/",
        "file:///etc/passwd",
        "",
        huge.as_str(),
    ] {
        let error = read(uri).await.unwrap_err().to_string();
        assert!(!error.contains(base.path().to_str().unwrap()), "{uri:.80}: {error}");
        assert!(error.len() < 1000, "{uri:.80}: {}", error.len());
    }
    let bad_cursor = PaginatedRequestParams::default().with_cursor(Some("-1".to_owned()));
    assert!(client.list_resources(Some(bad_cursor)).await.is_err());
    // Nothing was touched by the attempts.
    assert_eq!(client.list_all_resources().await.unwrap().len(), 4);

    // --max-output-chars 2000: a flood is cut to about that, keeping its end.
    let flood = call("run_code", serde_json::json!({"code": "print('y' * 50_000 + 'END')"})).await.unwrap();
    let text = flood.content[0].as_text().unwrap().text.clone();
    assert!(text.len() < 2300 && text.ends_with("END") && text.contains("characters cut here"), "{text}");
    assert!(serde_json::to_string(&flood.structured_content).unwrap().len() <= 1024);
    // Structured results that are their own text stay valid JSON when cut.
    let listed = call("list_artifacts", serde_json::json!({})).await.unwrap();
    let as_text: Value = serde_json::from_str(&listed.content[0].as_text().unwrap().text).unwrap();
    assert_eq!(Some(as_text), listed.structured_content);
    client.cancel().await.unwrap();
}

#[test]
fn max_output_chars_has_a_floor() {
    let out = Command::new(BIN).args(["mcp", "--max-output-chars", "10"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be at least 1024"));
}

/// `notifications/cancelled` for an in-flight `run_code` interrupts its run: a busy
/// loop, a sleep and a tool call (whose process group dies) each stop, and the next
/// call runs at once on a fresh interpreter. (The cancelled request gets no answer,
/// as MCP says.)
#[tokio::test(flavor = "multi_thread")]
async fn cancelling_run_code_interrupts_the_run() {
    use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest};
    use rmcp::service::PeerRequestOptions;

    let base = tempfile::tempdir().unwrap();
    let tools = common::spawner_tools(60);
    std::fs::create_dir(base.path().join("tools")).unwrap();
    std::fs::copy(tools.path().join("spawner.yaml"), base.path().join("tools/spawner.yaml")).unwrap();
    let mut command = tokio::process::Command::new(BIN);
    command.args(["mcp", "--base"]).arg(base.path()).stderr(Stdio::null());
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("handshake");
    let params = |code: &str| {
        CallToolRequestParams::new("run_code")
            .with_arguments(serde_json::json!({"code": code}).as_object().cloned().unwrap())
    };
    let run = |code: &str| client.call_tool(params(code));
    assert!(run("x = 1").await.unwrap().is_error != Some(true));

    let scratch = tempfile::tempdir().unwrap();
    let (hang, started) = common::hang_call(scratch.path());
    let mut started = Some(started);
    for code in ["while True:\n    pass", "import time\ntime.sleep(30)", hang.as_str()] {
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params(code)));
        let handle = client.send_cancellable_request(request, PeerRequestOptions::no_options()).await.unwrap();
        let grandchild = if code == hang {
            Some(started.take().unwrap().await)
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            None
        };
        let asked = std::time::Instant::now();
        handle.cancel(Some("the user pressed stop".into())).await.unwrap();
        // Queued behind the cancelled run, which must stop for it to run.
        let next = run("1 + 1").await.unwrap();
        let took = asked.elapsed();
        assert_eq!(next.structured_content.unwrap()["value"]["json"], 2, "{code}");
        assert!(took < Duration::from_secs(2), "{code}: the next call ran {took:?} after the cancellation");
        if let Some(pid) = grandchild {
            assert!(common::dies(pid), "the tool's grandchild outlived the cancellation");
        }
    }
    // The interrupted interpreter was replaced, and the state rolled back into the new one.
    let x = run("x").await.unwrap();
    assert_eq!(x.structured_content.unwrap()["value"]["json"], 1);
}

#[tokio::test]
async fn describe_is_a_tool_answering_the_stub_as_text() {
    let base = common::describe_fixture();
    let mut command = tokio::process::Command::new(BIN);
    command.args(["mcp", "--base"]).arg(base.path()).stderr(Stdio::null());
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("handshake");
    let args = serde_json::json!({"what": "skills"}).as_object().cloned().unwrap();
    let result =
        client.call_tool(rmcp::model::CallToolRequestParams::new("describe").with_arguments(args)).await.unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let text = result.content[0].as_text().unwrap().text.clone();
    assert!(text.starts_with("class skills:\n") && !text.contains("class tools"), "{text}");
    assert!(text.contains("    def pluck(*, document: str, field: str = 'name'): "), "{text}");
    let all = client.call_tool(rmcp::model::CallToolRequestParams::new("describe")).await.unwrap();
    let all = all.content[0].as_text().unwrap().text.clone();
    assert!(all.starts_with("class tools:\n") && all.ends_with(&text), "{all}");
    let bad = serde_json::json!({"what": "secrets"}).as_object().cloned().unwrap();
    let bad = client.call_tool(rmcp::model::CallToolRequestParams::new("describe").with_arguments(bad)).await.unwrap();
    assert_eq!(bad.is_error, Some(true));
    client.cancel().await.unwrap();
}

/// Capabilities per session over MCP (issue 16 items 5 and 3): `codemode mcp
/// --allow-tools --allow-skills` lists and reaches nothing else, from the operations
/// and from agent code, and a skill needing a tool left out says so up front.
#[tokio::test]
async fn an_allowlisted_mcp_server_reaches_nothing_else() {
    let base = common::describe_fixture();
    std::fs::write(base.path().join("skills/needs_curl.py"), "def run():\n    return tools.curl.get(url='x')\n")
        .unwrap();
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(["mcp", "--allow-tools", "jq", "--allow-skills", "pluck,needs_curl", "--base"])
        .arg(base.path())
        .stderr(Stdio::null());
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("handshake");
    let call = |tool: &str, args: Value| {
        let params = rmcp::model::CallToolRequestParams::new(tool.to_owned());
        client.call_tool(match args.as_object() {
            Some(args) => params.with_arguments(args.clone()),
            None => params,
        })
    };
    let tools = call("list_tools", Value::Null).await.unwrap().structured_content.unwrap();
    let names: Vec<&str> = tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["jq"]);
    let skills = call("list_skills", Value::Null).await.unwrap().structured_content.unwrap();
    let listed: Vec<(&str, &Value)> =
        skills["skills"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), &s["unavailable"])).collect();
    assert_eq!(
        listed,
        [("needs_curl", &serde_json::json!("this session has no tool \"curl\"")), ("pluck", &Value::Null)]
    );
    let got = call("get_skill", serde_json::json!({"name": "needs_curl"})).await.unwrap().structured_content.unwrap();
    assert_eq!(got["needs"], serde_json::json!({"tools": ["curl"], "skills": []}), "{got}");
    let hidden = call("get_skill", serde_json::json!({"name": "word_stats"})).await.unwrap();
    assert_eq!(hidden.is_error, Some(true), "{hidden:?}");
    let invoked = call("invoke_skill", serde_json::json!({"name": "needs_curl"})).await.unwrap();
    let text = serde_json::to_string(&invoked.structured_content).unwrap();
    assert!(text.contains("cannot run: this session has no tool \\\"curl\\\""), "{text}");
    let code = "from wit_world.imports import tools as t\ntry:\n    t.call_tool('echo', None, '{}')\nexcept Exception as e:\n    r = e.value.message\nr";
    let ran = call("run_code", serde_json::json!({"code": code})).await.unwrap().structured_content.unwrap();
    assert_eq!(ran["value"]["json"], serde_json::json!("no tool named \"echo\"; available: jq"), "{ran}");
    let stub = call("describe", Value::Null).await.unwrap();
    let stub = stub.content[0].as_text().unwrap().text.clone();
    assert!(stub.contains("class jq") && !stub.contains("class echo") && !stub.contains("word_stats"), "{stub}");
    // The operator's `pluck` is neither replaced, rolled back nor deleted from here.
    let before = std::fs::read(base.path().join("skills/pluck.py")).unwrap();
    for (tool, args) in [
        ("create_skill", serde_json::json!({"name": "pluck", "source": "def run():\n    return 0\n"})),
        ("rollback_skill", serde_json::json!({"name": "pluck", "version": 1})),
        ("delete_skill", serde_json::json!({"name": "pluck"})),
    ] {
        let refused = call(tool, args).await.unwrap();
        assert_eq!(refused.is_error, Some(true), "{tool}: {refused:?}");
        let text = serde_json::to_string(&refused.content).unwrap();
        assert!(text.contains("only such a session can replace, roll back or delete it"), "{tool}: {text}");
    }
    assert_eq!(std::fs::read(base.path().join("skills/pluck.py")).unwrap(), before);
    client.cancel().await.unwrap();
}

/// Fork over MCP (one sandbox session per MCP session): `fork_session` keeps the
/// state under a name, `switch_session` continues from a copy of it, as often as
/// wanted; no tool call runs twice, and hostile names are tool errors.
#[tokio::test]
async fn fork_session_and_switch_session_try_two_approaches_from_one_point() {
    let base = tempfile::tempdir().unwrap();
    std::fs::create_dir(base.path().join("tools")).unwrap();
    std::fs::write(base.path().join("tools/counter.yaml"), common::COUNTER).unwrap();
    let calls = base.path().join("calls");
    let mut command = tokio::process::Command::new(BIN);
    command.args(["mcp", "--base"]).arg(base.path()).stderr(Stdio::null());
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("handshake");
    let call = |tool: &str, args: Value| {
        let params = rmcp::model::CallToolRequestParams::new(tool.to_owned());
        client.call_tool(params.with_arguments(args.as_object().cloned().unwrap()))
    };
    let run = |code: &str| call("run_code", serde_json::json!({"code": code}));
    let setup = format!("xs = [1]\ntools.counter.bump(file={:?})", calls.to_str().unwrap());
    assert_ne!(run(&setup).await.unwrap().is_error, Some(true));
    let forked = call("fork_session", serde_json::json!({"name": "start"})).await.unwrap();
    assert_eq!(forked.structured_content.unwrap()["kept"], serde_json::json!(["start"]));
    for approach in [2, 3] {
        run(&format!("xs.append({approach})")).await.unwrap();
        let xs = run("xs").await.unwrap().structured_content.unwrap();
        assert_eq!(xs["value"]["json"], serde_json::json!([1, approach]));
        let switched = call("switch_session", serde_json::json!({"name": "start"})).await.unwrap();
        assert_ne!(switched.is_error, Some(true), "{switched:?}");
        let xs = run("xs").await.unwrap().structured_content.unwrap();
        assert_eq!(xs["value"]["json"], serde_json::json!([1]), "back at the fork point");
    }
    assert_eq!(common::lines(&calls), 1, "a fork or a switch ran the tool again");
    for (tool, name) in [("switch_session", "nope"), ("fork_session", "../x"), ("switch_session", "")] {
        let refused = call(tool, serde_json::json!({"name": name})).await.unwrap();
        assert_eq!(refused.is_error, Some(true), "{tool} {name:?}: {refused:?}");
    }
    let listed = client.list_all_tools().await.unwrap();
    let fork = listed.iter().find(|t| t.name == "fork_session").unwrap();
    assert_eq!(fork.output_schema.as_ref().unwrap()["title"], "Forks");
    client.cancel().await.unwrap();
}
