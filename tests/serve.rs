//! `codemode serve` (the real binary) through the library's client: `Subprocess`
//! spawns it on loopback with a random token, `Remote` talks to it. Auth, TTL,
//! concurrency, a crashed child, two servers sharing one Redis, readiness while
//! Redis is down, the memory budget, and hostile bytes over raw TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use codemode::model::Operations;
use codemode::remote::{Remote, RemoteError, Subprocess};
use common::{RedisServer, Served};
use serde_json::{Map, Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_codemode");

async fn spawn(args: &[&str]) -> Remote {
    Subprocess::spawn(Path::new(BIN), args).await.expect("codemode serve starts")
}

fn kind(err: RemoteError) -> (u16, String) {
    match err {
        RemoteError::Api { status, kind, .. } => (status, kind),
        other => panic!("expected an API error, got {other}"),
    }
}

#[test]
fn refuses_to_start_without_a_usable_token() {
    let refusal = |token: Option<&str>| common::start_refusal(&["serve", "--listen", "127.0.0.1:0"], token);
    assert!(refusal(None).contains("refusing to serve without authentication"));
    assert!(refusal(Some("short")).contains("too short"));
    // Neither can ever match a header: HTTP trims header values.
    for token in [" ".repeat(20), format!("{}\n", "x".repeat(20))] {
        assert!(refusal(Some(&token)).contains("whitespace or control characters"), "{token:?}");
    }
}

#[tokio::test]
async fn wrong_or_missing_token_is_401() {
    let base = tempfile::tempdir().unwrap();
    let remote = spawn(&["--base", base.path().to_str().unwrap()]).await;
    let url = remote.url().trim_end_matches('/').to_owned();
    for token in [None, Some("wrong-token-of-enough-length")] {
        let (status, kind) = kind(Remote::new(&url, token).unwrap().session().await.unwrap_err());
        assert_eq!((status, kind.as_str()), (401, "unauthorized"));
    }
    // Health is open; the metrics are not.
    let health = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(reqwest::get(format!("{url}/metrics")).await.unwrap().status(), 401);
    assert!(remote.session().await.is_ok());
}

#[tokio::test]
async fn sessions_over_http_behave_like_local_ones() {
    let base = tempfile::tempdir().unwrap();
    let remote = spawn(&["--base", base.path().to_str().unwrap()]).await;
    let (a, b) = (remote.session().await.unwrap(), remote.session().await.unwrap());
    a.run("x = 41").await.unwrap();
    assert_eq!(a.run("x + 1").await.unwrap().value.unwrap().json, Some(json!(42)));
    let other = b.run("x").await.unwrap();
    assert_eq!(other.error.unwrap().kind, "NameError", "sessions are isolated");

    let raised = a.run("print('before')\n1 / 0").await.unwrap();
    assert_eq!((raised.stdout.as_str(), raised.error.unwrap().kind.as_str()), ("before\n", "ZeroDivisionError"));
    let slow = a.run_with_timeout("while True: pass", Duration::from_millis(300)).await.unwrap();
    assert_eq!(slow.limit, Some(codemode::LimitKind::Timeout));

    let (info, replaced) = remote
        .create_skill("triple", "def run(n: int) -> int:\n    return n * 3\n", Some("Triple a number"))
        .await
        .unwrap();
    assert_eq!((info.name.as_str(), replaced), ("triple", false));
    let bad = remote.create_skill("broken", "def run(:\n", None).await.unwrap_err();
    assert_eq!(kind(bad), (400, "invalid_input".into()));
    let found = remote.search_skills("multiply by three", 3).await.unwrap();
    assert_eq!(found.matches[0].info.name, "triple");
    let args: Map<String, Value> = json!({"n": 5}).as_object().cloned().unwrap();
    assert_eq!(a.invoke_skill("triple", &args).await.unwrap().value.unwrap().json, Some(json!(15)));
    assert!(remote.get_skill("triple").await.unwrap().source.contains("n * 3"));

    a.run("artifacts.save('notes', 'hello')").await.unwrap();
    assert_eq!(remote.list_artifacts().await.unwrap()[0].name, "notes");
    assert_eq!(remote.load_artifact("notes").await.unwrap().0, json!("hello"));
    assert_eq!(kind(remote.load_artifact("../etc/passwd").await.unwrap_err()).0, 400);
    assert_eq!(kind(remote.load_artifact("absent").await.unwrap_err()), (404, "not_found".into()));
    assert!(remote.list_tools().await.unwrap().is_empty());
    assert!(remote.delete_skill("triple").await.unwrap());

    a.reset().await.unwrap();
    assert_eq!(a.run("x").await.unwrap().error.unwrap().kind, "NameError");
    a.close().await.unwrap();
}

#[tokio::test]
async fn idle_sessions_expire_and_the_client_is_told() {
    let base = tempfile::tempdir().unwrap();
    let remote = spawn(&["--base", base.path().to_str().unwrap(), "--session-ttl", "0.5"]).await;
    let session = remote.session().await.unwrap();
    // A run longer than the TTL is not expired under itself.
    assert!(session.run("import time; time.sleep(0.8); 1").await.unwrap().is_ok());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, kind) = kind(session.run("1").await.unwrap_err());
    assert_eq!((status, kind.as_str()), (410, "expired"));
}

#[tokio::test]
async fn a_hundred_sessions_run_concurrently() {
    let base = tempfile::tempdir().unwrap();
    // A hundred sessions of 64 MiB (and their journals' 64), whatever the machine's RAM.
    let remote = spawn(&["--base", base.path().to_str().unwrap(), "--memory", "64", "--memory-budget", "12800"]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let remote = remote.clone();
        tasks.spawn(async move {
            let session = remote.session().await?;
            session.run(&format!("n = {i}")).await?;
            for _ in 0..20 {
                let result = session.run("n = n + 1\nn").await?;
                assert!(result.is_ok(), "{:?}", result.error);
            }
            let last = session.run("n").await?.value.and_then(|v| v.json);
            assert_eq!(last, Some(json!(i + 20)));
            session.close().await
        });
    }
    let mut failed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.unwrap() {
            failed.push(e.to_string());
        }
    }
    assert!(failed.is_empty(), "{} of 100 sessions failed: {:?}", failed.len(), &failed[..failed.len().min(3)]);
}

#[tokio::test]
async fn a_crashed_server_is_reported() {
    let base = tempfile::tempdir().unwrap();
    let remote = spawn(&["--base", base.path().to_str().unwrap()]).await;
    let session = remote.session().await.unwrap();
    assert!(session.run("1").await.unwrap().is_ok());
    Command::new("kill").args(["-9", &remote.process_id().unwrap().to_string()]).status().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    match session.run("1").await {
        Err(RemoteError::Exited { status, .. }) => assert!(status.contains("signal"), "{status}"),
        other => panic!("expected Exited, got {other:?}"),
    }
}

#[tokio::test]
async fn two_servers_share_one_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let args = ["--redis", url.as_str(), "--prefix", "shared"];
    let (one, two) = (spawn(&args).await, spawn(&args).await);
    one.create_skill("greet", "def run(name: str) -> str:\n    return f'hello {name}'\n", Some("Say hello to someone"))
        .await
        .unwrap();
    // Found by meaning on the other server, without a restart, and runnable there.
    let found = two.search_skills("welcome a person by name", 3).await.unwrap();
    assert_eq!(found.matches[0].info.name, "greet");
    let session = two.session().await.unwrap();
    let greeted = session.run("skills.greet(name='ada')").await.unwrap();
    assert_eq!(greeted.value.unwrap().json, Some(json!("hello ada")));
    session.run("artifacts.save('shared-note', {'from': 'two'})").await.unwrap();
    assert_eq!(one.load_artifact("shared-note").await.unwrap().0, json!({"from": "two"}));
}

#[tokio::test]
async fn bad_bodies_get_json_errors() {
    let base = tempfile::tempdir().unwrap();
    let token = "a-token-for-the-body-tests";
    let served = Served::start(token, &["--max-body-bytes", "4096", "--base", base.path().to_str().unwrap()]);
    let url = served.url.clone();
    let remote = Remote::new(&url, Some(token)).unwrap();
    let session = remote.session().await.unwrap();
    let run_url = format!("{url}/v1/sessions/{}/run", session.id());
    let post = |body: String| {
        reqwest::Client::new()
            .post(&run_url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, status, kind) in [
        ("{not json".to_owned(), 400, "invalid_input"),
        (r#"{"code": "1", "colour": "blue"}"#.to_owned(), 422, "invalid_input"),
        (json!({"code": "x".repeat(10_000)}).to_string(), 413, "too_large"),
    ] {
        let response = post(body).await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["kind"], kind, "{error}");
    }
    // The session is untouched and keeps serving.
    assert_eq!(session.run("6 * 7").await.unwrap().value.unwrap().json, Some(json!(42)));
}

/// Sends `request` as is on a new connection; the status and body of the answer.
fn raw(addr: &str, request: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let status = text.strip_prefix("HTTP/1.1 ").and_then(|t| t.get(..3)).and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(Vec::new(), |at| answer[at + 4..].to_vec());
    (status, body)
}

/// An HTTP/1.1 request with `headers` (one `Name: value` each, any bytes) and `body`.
fn request(method: &str, path: &str, headers: &[&[u8]], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n").into_bytes();
    for header in headers {
        out.extend_from_slice(header);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// A deterministic pseudo-random sequence (xorshift64), so a failure replays.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Sends a request and checks the answer is `status` with an error of `kind` in the JSON shape.
fn expect_json_error(addr: &str, method: &str, path: &str, headers: &[&[u8]], body: &[u8], status: u16, kind: &str) {
    let (got, answer) = raw(addr, &request(method, path, headers, body));
    let shown = String::from_utf8_lossy(&answer);
    assert_eq!(got, status, "{method} {path}: {shown}");
    let error: Value = serde_json::from_slice(&answer).unwrap_or_else(|e| panic!("{method} {path}: {e}: {shown}"));
    assert_eq!(error["error"]["kind"], kind, "{method} {path}: {error}");
    assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {error}");
}

#[tokio::test]
async fn hostile_requests_get_json_errors_and_the_server_keeps_serving() {
    let base = tempfile::tempdir().unwrap();
    let token = "a-token-for-hostile-requests";
    let served = Served::start(token, &["--max-body-bytes", "4096", "--base", base.path().to_str().unwrap()]);
    let session = Remote::new(&served.url, Some(token)).unwrap().session().await.unwrap();
    let run = format!("/v1/sessions/{}/run", session.id());
    let invoke = format!("/v1/sessions/{}/skills/anything", session.id());
    let bearer = format!("Authorization: Bearer {token}");
    let auth: &[u8] = bearer.as_bytes();
    let json: &[u8] = b"Content-Type: application/json";
    let big = vec![b'x'; 5000];
    let lower = format!("Authorization: bearer {token}");
    let addr = served.addr();
    expect_json_error(addr, "GET", "/nothing-here", &[], b"", 404, "not_found");
    expect_json_error(addr, "GET", "/v1/nothing-here", &[auth], b"", 404, "not_found");
    expect_json_error(addr, "PUT", "/health", &[], b"", 405, "method_not_allowed");
    expect_json_error(addr, "DELETE", "/v1/tools", &[auth], b"", 405, "method_not_allowed");
    expect_json_error(addr, "GET", &run, &[auth], b"", 405, "method_not_allowed");
    expect_json_error(addr, "BREW", "/v1/sessions", &[auth], b"", 405, "method_not_allowed");
    expect_json_error(addr, "GET", "/v1/tools/search?limit=abc", &[auth], b"", 400, "invalid_input");
    expect_json_error(addr, "GET", "/v1/tools/search?query=x&limit=abc", &[auth], b"", 400, "invalid_input");
    expect_json_error(addr, "GET", "/v1/tools/search?query=x&limit=-1", &[auth], b"", 400, "invalid_input");
    expect_json_error(
        addr,
        "GET",
        "/v1/skills/search?query=x&limit=99999999999999999999999",
        &[auth],
        b"",
        400,
        "invalid_input",
    );
    expect_json_error(addr, "GET", "/v1/skills/%FF%FE", &[auth], b"", 400, "invalid_input");
    expect_json_error(addr, "DELETE", "/v1/artifacts/%C3%28", &[auth], b"", 400, "invalid_input");
    expect_json_error(addr, "POST", &run, &[auth, json], b"\xff\xfe", 400, "invalid_input");
    expect_json_error(addr, "POST", &run, &[auth, json], b"{\"code\": \"\xff\"}", 400, "invalid_input");
    expect_json_error(
        addr,
        "POST",
        &run,
        &[auth, b"Content-Type: text/plain"],
        b"{\"code\": \"1\"}",
        415,
        "invalid_input",
    );
    expect_json_error(addr, "POST", &run, &[auth], b"{\"code\": \"1\"}", 415, "invalid_input");
    expect_json_error(addr, "POST", &run, &[auth, b"Content-Type: \xff"], b"{\"code\": \"1\"}", 415, "invalid_input");
    expect_json_error(addr, "POST", &run, &[auth, json], b"[]", 422, "invalid_input");
    expect_json_error(addr, "POST", &run, &[auth, json], b"null", 422, "invalid_input");
    expect_json_error(addr, "POST", &run, &[auth, json], b"{\"code\": 5}", 422, "invalid_input");
    expect_json_error(addr, "POST", &run, &[auth, json], b"{\"code\": \"1\", \"timeout\": -1}", 400, "invalid_input");
    expect_json_error(addr, "POST", &invoke, &[auth], b"\xff", 400, "invalid_input");
    expect_json_error(addr, "POST", &invoke, &[auth], &big, 413, "too_large");
    expect_json_error(addr, "PUT", "/v1/skills/x", &[auth, json], b"{\"source\": 1}", 422, "invalid_input");
    expect_json_error(addr, "POST", "/v1/deps", &[auth, json], b"{}", 422, "invalid_input");
    expect_json_error(
        addr,
        "POST",
        "/v1/sessions/no-such-session/run",
        &[auth, json],
        b"{\"code\": \"1\"}",
        404,
        "not_found",
    );
    expect_json_error(addr, "GET", "/v1/tools", &[b"Authorization: Bearer \xff\xfe"], b"", 401, "unauthorized");
    expect_json_error(addr, "GET", "/v1/tools", &[lower.as_bytes()], b"", 401, "unauthorized");
    expect_json_error(addr, "GET", "/metrics", &[], b"", 401, "unauthorized");
    // Random bytes as a run's body and as a skill name: always a JSON error.
    let mut random = xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..150 {
        let bytes: Vec<u8> = (0..random() % 80).map(|_| random() as u8).collect();
        let skill: String = bytes.iter().map(|b| format!("%{b:02X}")).fold("/v1/skills/".into(), |p, b| p + &b);
        for (method, path, body) in [("POST", run.as_str(), bytes.as_slice()), ("GET", skill.as_str(), &[][..])] {
            let (status, answer) = raw(addr, &request(method, path, &[auth, json], body));
            let error: Value = serde_json::from_slice(&answer).unwrap_or_else(|e| panic!("{path} {bytes:?}: {e}"));
            assert!(status >= 400 && error["error"]["kind"].is_string(), "{path} {bytes:?}: {error}");
        }
    }
    // Bytes that are not HTTP at all are refused by the HTTP layer itself (a bare 400,
    // and the connection closed) without disturbing the server.
    for garbage in
        [&b"\x00\x01\x02\r\n\r\n"[..], b"GET /v1/\xff HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"]
    {
        assert_eq!(raw(served.addr(), garbage).0, 400, "{}", String::from_utf8_lossy(garbage));
    }
    assert_eq!(session.run("6 * 7").await.unwrap().value.unwrap().json, Some(json!(42)));
}

#[tokio::test]
async fn ready_follows_the_storage_and_runs_no_code() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let remote = spawn(&["--redis", &url, "--prefix", "ready"]).await;
    let ready_url = format!("{}/ready", remote.url().trim_end_matches('/'));
    let ready = || async {
        let response = reqwest::get(&ready_url).await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(ready().await, (200, json!({"status": "ready"})));
    redis.stop();
    let (status, body) = ready().await;
    assert_eq!((status, &body["error"]["kind"]), (503, &json!("not_ready")), "{body}");
    assert!(!body.to_string().contains("redis://"), "no storage detail to anonymous callers: {body}");
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready().await.0 != 200 {
        assert!(Instant::now() < deadline, "not ready again after Redis came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(remote.session().await.unwrap().run("1").await.unwrap().is_ok());
}

/// Each session reserves its memory cap and its journal's (64 MiB by default): a
/// budget of 400 MiB fits six sessions of 64 MiB by memory alone, three with their
/// journals, and the fourth is refused with the budget error.
#[tokio::test]
async fn sessions_past_the_memory_budget_are_refused_until_one_closes() {
    let base = tempfile::tempdir().unwrap();
    let base = base.path().to_str().unwrap();
    let remote = spawn(&["--base", base, "--memory", "64", "--memory-budget", "400"]).await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(remote.session().await.expect("three sessions of 64 + 64 MiB fit in 400 MiB"));
    }
    let refused = remote.session().await.unwrap_err();
    let RemoteError::Api { status, kind, message } = refused else { panic!("expected an API error: {refused}") };
    assert_eq!((status, kind.as_str()), (503, "capacity"), "{message}");
    assert!(
        message.contains("budget is 400 MiB")
            && message.contains("reserve 384 MiB")
            && message.contains("needs 128 MiB"),
        "{message}"
    );
    // A fork reserves what its original does.
    let forked = sessions[0].fork().await.unwrap_err();
    assert!(forked.to_string().contains("needs 128 MiB"), "{forked}");
    sessions.pop().unwrap().close().await.unwrap();
    let again = remote.session().await.expect("a closed session gives its share back");
    assert!(again.run("1").await.unwrap().is_ok());
    // A budget that holds no session at all is refused at start.
    let out = Command::new(BIN)
        .args(["serve", "--memory", "256", "--memory-budget", "100", "--base", base])
        .env("CODEMODE_TOKEN", "a-token-that-is-long-enough")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("smaller than what one session reserves (320 MiB"));
}

#[test]
fn requests_from_other_origins_are_refused() {
    let base = tempfile::tempdir().unwrap();
    let token = "origin-test-token-0123456789";
    let served =
        Served::start(token, &["--base", base.path().to_str().unwrap(), "--allow-origin", "https://app.example"]);
    let auth = format!("Authorization: Bearer {token}");
    let cases = [
        ("Origin: http://evil.example", 403),
        ("Origin: null", 403),
        ("Origin: http://localhost.evil.example", 403),
        ("Origin: http://127.0.0.1:3000", 201),
        ("Origin: https://app.example", 201),
        ("X-No-Origin: 1", 201),
    ];
    for (origin, expected) in cases {
        let headers: [&[u8]; 2] = [auth.as_bytes(), origin.as_bytes()];
        let (status, body) = raw(served.addr(), &request("POST", "/v1/sessions", &headers, b""));
        assert_eq!(status, expected, "{origin}: {}", String::from_utf8_lossy(&body));
        if expected == 403 {
            let error: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(error["error"]["kind"], "forbidden", "{origin}");
        }
    }
}

#[tokio::test]
async fn operations_as_data_are_checked_like_every_route() {
    let base = tempfile::tempdir().unwrap();
    let token = "a-token-for-the-call-routes";
    let served = Served::start(token, &["--max-body-bytes", "8192", "--base", base.path().to_str().unwrap()]);
    let session = Remote::new(&served.url, Some(token)).unwrap().session().await.unwrap();
    let in_session = format!("/v1/sessions/{}/call", session.id());
    let bearer = format!("Authorization: Bearer {token}");
    let headers: &[&[u8]] = &[bearer.as_bytes(), b"Content-Type: application/json"];
    let hostile: &[(&str, &str, &[u8], u16, &str)] = &[
        // Unknown operations, unknown or missing arguments, wrong types.
        ("POST", "/v1/call", br#"{"op": "format_disk"}"#, 422, "invalid_input"),
        ("POST", "/v1/call", br#"{"name": "x"}"#, 422, "invalid_input"),
        ("POST", "/v1/call", br#"{"op": "get_skill", "name": "x", "path": "/etc"}"#, 422, "invalid_input"),
        ("POST", "/v1/call", br#"{"op": "get_skill", "name": 7}"#, 422, "invalid_input"),
        ("POST", "/v1/call", br#"[{"op": "list_skills"}]"#, 422, "invalid_input"),
        // Code runs in a session only.
        ("POST", "/v1/call", br#"{"op": "run", "code": "1"}"#, 400, "invalid_input"),
        ("POST", "/v1/call", br#"{"op": "reset"}"#, 400, "invalid_input"),
        // Names that would leave the store, data that is not what its kind says.
        ("POST", "/v1/call", br#"{"op": "save_artifact", "name": "../../x", "data": 1}"#, 400, "invalid_input"),
        ("POST", "/v1/call", br#"{"op": "save_artifact", "name": "/etc/x", "data": 1}"#, 400, "invalid_input"),
        (
            "POST",
            "/v1/call",
            br#"{"op": "save_artifact", "name": "b", "data": "%%", "kind": "bytes"}"#,
            400,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/call",
            br#"{"op": "save_artifact", "name": "t", "data": [1], "kind": "text"}"#,
            400,
            "invalid_input",
        ),
        ("POST", "/v1/call", br#"{"op": "get_skill", "name": "../../etc/passwd"}"#, 400, "invalid_input"),
        ("PUT", "/v1/artifacts/..%2F..%2Fx", br#"{"data": 1}"#, 400, "invalid_input"),
        ("PUT", "/v1/artifacts/a", br#"{"data": 1, "colour": "blue"}"#, 422, "invalid_input"),
        // The run inside the session is checked as POST .../run is.
        ("POST", &in_session, br#"{"op": "run", "code": "1", "timeout": -1}"#, 400, "invalid_input"),
        ("POST", "/v1/sessions/nope/call", br#"{"op": "list_skills"}"#, 404, "not_found"),
    ];
    for (method, path, body, status, kind) in hostile {
        expect_json_error(served.addr(), method, path, headers, body, *status, kind);
    }
    let big = json!({"op": "save_artifact", "name": "big", "data": "x".repeat(10_000)}).to_string();
    expect_json_error(served.addr(), "POST", "/v1/call", headers, big.as_bytes(), 413, "too_large");
    // Nothing was stored, and both routes keep serving.
    let remote = Remote::new(&served.url, Some(token)).unwrap();
    assert!(remote.list_artifacts().await.unwrap().is_empty());
    assert_eq!(session.list_artifacts().await.unwrap().len(), 0);
    let (status, answer) = raw(served.addr(), &request("PUT", "/v1/artifacts/notes", headers, br#"{"data": "hi"}"#));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(session.run("artifacts.load('notes')").await.unwrap().value.unwrap().json, Some(json!("hi")));
    let ran = raw(served.addr(), &request("POST", &in_session, headers, br#"{"op": "run", "code": "6 * 7"}"#));
    let ran: Value = serde_json::from_slice(&ran.1).unwrap();
    assert_eq!(ran["value"]["json"], 42, "{ran}");
}

/// A server started with `-v` whose stderr lines are collected, with the address it
/// printed (after `ready`, e.g. "listening on http://" or "serving http://").
struct Logged {
    child: Child,
    _base: tempfile::TempDir,
    addr: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Logged {
    fn start(args: &[&str], token: &str, ready: &str) -> Self {
        let base = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .args(args)
            .arg("--base")
            .arg(base.path())
            .env("CODEMODE_TOKEN", token)
            .env_remove("RUST_LOG")
            .env_remove("CODEMODE_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains(ready) {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "the server exited");
        }
        let url = line.trim().rsplit(' ').next().unwrap();
        let addr = url.trim_start_matches("http://").split('/').next().unwrap().to_owned();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, _base: base, addr, lines }
    }

    /// Every stderr line until one contains all of `wanted` (or 10 s pass).
    fn wait_for(&self, wanted: &[&str]) -> Vec<String> {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let done = wanted.iter().all(|w| line.contains(w));
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("no log line with {wanted:?} in:\n{}", seen.join("\n"));
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on `stream` (kept alive); returns the status and body.
fn keep_alive_request(stream: &mut std::net::TcpStream, request: &str) -> (u16, String) {
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn verbose_logs_each_request_but_never_the_token() {
    let token = "log-test-token-0123456789abcdef";
    let server = Logged::start(&["-v", "serve", "--listen", "127.0.0.1:0"], token, "listening on");
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    let authorized = format!("GET /v1/skills HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    assert_eq!(keep_alive_request(&mut stream, &authorized).0, 200);
    let wrong =
        "GET /v1/skills?secret=query-text HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-wrong-token\r\n\r\n";
    assert_eq!(keep_alive_request(&mut stream, wrong).0, 401);
    let lines = server.wait_for(&["method=GET", "path=/v1/skills", "status=401", "ms="]);
    let log = lines.join("\n");
    assert!(log.contains("INFO"), "{log}");
    assert!(lines.iter().any(|l| l.contains("path=/v1/skills") && l.contains("status=200")), "{log}");
    for secret in [token, "wrong-token-wrong-token", "query-text", "Bearer"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

#[test]
fn the_mcp_http_server_logs_requests_too() {
    let token = "mcp-log-token-0123456789abcdef";
    let server = Logged::start(&["-v", "mcp", "--http", "127.0.0.1:0"], token, "serving http://");
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    let body = r#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // Without an MCP session rmcp refuses a ping: the refusal is logged like any answer.
    let (status, _) = keep_alive_request(&mut stream, &request);
    let log = server.wait_for(&["method=POST", "path=/mcp", &format!("status={status}"), "ms="]).join("\n");
    assert!(!log.contains(token), "the token is in the log:\n{log}");
}

#[test]
fn keep_alive_clients_do_not_wait_for_delayed_acks() {
    let token = "nodelay-token-0123456789abcdef";
    let served = Served::start(token, &[]);
    let mut stream = std::net::TcpStream::connect(served.addr()).unwrap();
    stream.set_nodelay(true).unwrap();
    // An answer of several segments whose last one is small: the one Nagle holds back
    // until the client's delayed ACK (40 ms on Linux) when it is not disabled.
    let data = "x".repeat(100_000);
    let body = json!({"data": data}).to_string();
    let put = format!(
        "PUT /v1/artifacts/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(keep_alive_request(&mut stream, &put).0, 200);
    let get = format!("GET /v1/artifacts/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    let started = Instant::now();
    for _ in 0..20 {
        let (status, body) = keep_alive_request(&mut stream, &get);
        assert_eq!(status, 200);
        assert!(body.contains(&data));
    }
    let elapsed = started.elapsed();
    // A stall costs ~40 ms per request (800 ms for 20); without one each takes ~1 ms.
    assert!(elapsed < Duration::from_millis(300), "20 keep-alive requests took {elapsed:?}");
}

#[tokio::test]
async fn mcp_keep_alive_clients_do_not_wait_for_delayed_acks() {
    let token = "mcp-nodelay-token-0123456789abcdef";
    let server = Logged::start(&["mcp", "--http", "127.0.0.1:0"], token, "serving http://");
    let url = format!("http://{}/mcp", server.addr);
    // reqwest keeps the connection alive and sets TCP_NODELAY on its side.
    let client = reqwest::Client::new();
    let post = |body: String, session: Option<String>| {
        let mut request = client
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.body(body).send()
    };
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let response = post(init.to_owned(), None).await.unwrap();
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    response.text().await.unwrap();
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    post(initialized.to_owned(), Some(session.clone())).await.unwrap().text().await.unwrap();
    let started = Instant::now();
    for id in 2..22 {
        let ping = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        let answer = post(ping, Some(session.clone())).await.unwrap().text().await.unwrap();
        assert!(answer.contains(&format!("\"id\":{id}")), "{answer}");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(300), "20 keep-alive MCP pings took {elapsed:?}");
}

/// `code` started on its own task in `session`, interrupted through the HTTP route
/// once `running` completes: the result and how long it took to stop.
async fn interrupt_remote(
    session: &std::sync::Arc<codemode::remote::RemoteSession>,
    code: &str,
    running: impl std::future::Future<Output = ()>,
) -> (codemode::RunResult, Duration) {
    let task = tokio::spawn({
        let (session, code) = (session.clone(), code.to_owned());
        async move { session.run(&code).await }
    });
    running.await;
    let asked = Instant::now();
    assert!(session.interrupt().await.unwrap(), "a run was in progress");
    let result = task.await.unwrap().unwrap();
    (result, asked.elapsed())
}

fn assert_interrupted(result: &codemode::RunResult, took: Duration) {
    assert!(result.interrupted, "{result:?}");
    assert_eq!(result.error.as_ref().unwrap().kind, "Interrupted");
    assert!(result.interpreter_reset);
    assert_eq!(result.state, codemode::CellState::RolledBack, "{:?}", result.error);
    assert!(took < Duration::from_secs(2), "stopped {took:?} after the interrupt");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_interrupt_route_stops_a_sleep_and_a_tool_call() {
    let base = tempfile::tempdir().unwrap();
    let tools = common::spawner_tools(60);
    std::fs::create_dir(base.path().join("tools")).unwrap();
    std::fs::copy(tools.path().join("spawner.yaml"), base.path().join("tools/spawner.yaml")).unwrap();
    let remote = spawn(&["--base", base.path().to_str().unwrap()]).await;
    let session = std::sync::Arc::new(remote.session().await.unwrap());
    assert!(!session.interrupt().await.unwrap(), "nothing runs yet");

    let (result, took) =
        interrupt_remote(&session, "import time\ntime.sleep(30)", tokio::time::sleep(Duration::from_millis(500))).await;
    assert_interrupted(&result, took);
    assert_eq!(session.run("1 + 1").await.unwrap().value.unwrap().json, Some(json!(2)));

    let scratch = tempfile::tempdir().unwrap();
    let (code, grandchild) = common::hang_call(scratch.path());
    let pid = std::sync::OnceLock::new();
    let started = async { pid.set(grandchild.await).unwrap() };
    let (result, took) = interrupt_remote(&session, &code, started).await;
    assert_interrupted(&result, took);
    assert!(common::dies(*pid.get().unwrap()), "the tool's grandchild outlived the interrupt");
    assert_eq!(session.run("1 + 1").await.unwrap().value.unwrap().json, Some(json!(2)));
}

#[tokio::test(flavor = "multi_thread")]
async fn session_interrupt_on_a_subprocess_stops_a_busy_loop_and_the_queued_run_then_runs() {
    let base = tempfile::tempdir().unwrap();
    let session =
        codemode::Session::builder().subprocess(BIN, &["--base", base.path().to_str().unwrap()]).build().await.unwrap();
    let session = std::sync::Arc::new(session);
    session.run("x = 1").await.unwrap();
    let busy = tokio::spawn({
        let session = session.clone();
        async move { session.run("while True:\n    pass").await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued = tokio::spawn({
        let session = session.clone();
        async move { session.run("1 + 1").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    assert!(session.interrupt().await.unwrap());
    assert_interrupted(&busy.await.unwrap().unwrap(), asked.elapsed());
    assert_eq!(queued.await.unwrap().unwrap().value.unwrap().json, Some(json!(2)));
    // The state from before the interrupted cell was restored, and the subprocess said so.
    assert_eq!(session.run("x").await.unwrap().value.unwrap().json, Some(json!(1)));
}

#[tokio::test]
async fn the_interrupt_route_needs_the_token_and_a_live_session() {
    let base = tempfile::tempdir().unwrap();
    let token = "a-token-for-the-interrupt-route";
    let served = Served::start(token, &["--base", base.path().to_str().unwrap()]);
    let session = Remote::new(&served.url, Some(token)).unwrap().session().await.unwrap();
    let bearer = format!("Authorization: Bearer {token}");
    let path = format!("/v1/sessions/{}/interrupt", session.id());
    let addr = served.addr();
    expect_json_error(addr, "POST", &path, &[], b"", 401, "unauthorized");
    expect_json_error(addr, "GET", &path, &[bearer.as_bytes()], b"", 405, "method_not_allowed");
    for id in ["0123456789abcdef0123456789abcdef", "..%2F..%2Fetc", &"x".repeat(5000)] {
        let path = format!("/v1/sessions/{id}/interrupt");
        expect_json_error(addr, "POST", &path, &[bearer.as_bytes()], b"", 404, "not_found");
    }
    let (status, body) = raw(addr, &request("POST", &path, &[bearer.as_bytes()], b"{\"junk\": 1}"));
    assert_eq!((status, serde_json::from_slice::<Value>(&body).unwrap()), (200, json!({"interrupted": false})));
}

#[tokio::test]
async fn describe_is_plain_text_on_its_route_and_an_operation_on_call() {
    let base = common::describe_fixture();
    let token = "a-token-for-the-describe-route";
    let served = Served::start(token, &["--base", base.path().to_str().unwrap()]);
    let bearer = format!("Authorization: Bearer {token}");
    let (status, stub) = raw(served.addr(), &request("GET", "/v1/describe?what=tools", &[bearer.as_bytes()], b""));
    let stub = String::from_utf8(stub).unwrap();
    assert_eq!(status, 200, "{stub}");
    assert!(stub.starts_with("class tools:\n") && !stub.contains("class skills"), "{stub}");
    assert!(
        stub.contains(
            "        def query(*, filter: str | None = None, input: str | None = None): \"Query JSON with filter\"\n"
        ),
        "{stub}"
    );
    let remote = Remote::new(&served.url, Some(token)).unwrap();
    let all = remote.describe(None).await.unwrap();
    assert!(all.starts_with(&stub) && all.contains("class skills:\n"), "{all}");
    expect_json_error(
        served.addr(),
        "GET",
        "/v1/describe?what=secrets",
        &[bearer.as_bytes()],
        b"",
        400,
        "invalid_input",
    );
    expect_json_error(served.addr(), "GET", "/v1/describe", &[], b"", 401, "unauthorized");
}

/// Capabilities per session over HTTP (issue 16 items 5 and 3): the server's own
/// list (`--allow-tools`, `--allow-skills`) bounds every session, a session's
/// `allow` in `POST /v1/sessions` narrows it and cannot widen it, and a skill needing
/// a tool the session lacks is listed unavailable and refused naming the tool.
#[tokio::test]
async fn allowlisted_sessions_over_http_reach_nothing_else() {
    let base = common::describe_fixture();
    std::fs::write(base.path().join("skills/needs_curl.py"), "def run():\n    return tools.curl.get(url='x')\n")
        .unwrap();
    let token = "a-token-for-the-allow-tests";
    let served = Served::start(
        token,
        &["--base", base.path().to_str().unwrap(), "--allow-tools", "jq,echo", "--allow-skills", "pluck,needs_curl"],
    );
    let remote = Remote::new(&served.url, Some(token)).unwrap();
    // The server's own operations are bounded by its list.
    let names = |tools: Vec<codemode::tools::ToolInfo>| tools.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(names(remote.list_tools().await.unwrap()), ["echo", "jq"]);
    assert_eq!(kind(remote.get_skill("word_stats").await.unwrap_err()), (404, "not_found".into()));

    let allow = codemode::model::Allow { tools: Some(vec!["jq".into()]), skills: None };
    let session = remote.session_allowing(&allow).await.unwrap();
    assert_eq!(names(session.list_tools().await.unwrap()), ["jq"]);
    let skills = session.list_skills().await.unwrap();
    let listed: Vec<_> = skills.iter().map(|s| (s.name.as_str(), s.unavailable.as_deref())).collect();
    assert_eq!(listed, [("needs_curl", Some("this session has no tool \"curl\"")), ("pluck", None)]);
    let code = "from wit_world.imports import tools as t\ntry:\n    t.call_tool('echo', None, '{}')\nexcept Exception as e:\n    r = [e.value.kind.name, e.value.message]\nr";
    let r = session.run(code).await.unwrap();
    let refused = r.value.unwrap().json.unwrap();
    assert_eq!(refused[0], "NOT_FOUND");
    assert!(refused[1].as_str().unwrap().starts_with("no tool named \"echo\"; available: jq"), "{refused}");
    let invoked = session.invoke_skill("needs_curl", &Map::new()).await.unwrap();
    assert_eq!(invoked.error.unwrap().message, "skill 'needs_curl' cannot run: this session has no tool \"curl\"");
    assert_eq!(kind(session.get_skill("word_stats").await.unwrap_err()), (404, "not_found".into()));
    let got = session.get_skill("needs_curl").await.unwrap();
    assert_eq!(got.info.needs.tools, ["curl"]);
    // The operator's `pluck` is neither replaced nor deleted by a restricted server
    // or session: 403, and the file is as it was.
    let before = std::fs::read(base.path().join("skills/pluck.py")).unwrap();
    let replaced = session.create_skill("pluck", "def run():\n    return 0\n", None).await.unwrap_err();
    assert_eq!(kind(replaced), (403, "denied".into()));
    assert_eq!(kind(remote.delete_skill("pluck").await.unwrap_err()), (403, "denied".into()));
    assert_eq!(std::fs::read(base.path().join("skills/pluck.py")).unwrap(), before);

    // Wider than the server, a tool that is not there, or a malformed body: 400.
    for allow in [json!({"tools": ["ls"]}), json!({"skills": ["word_stats"]}), json!({"tools": ["nope"]})] {
        let allow: codemode::model::Allow = serde_json::from_value(allow).unwrap();
        let Err(refused) = remote.session_allowing(&allow).await else { panic!("{allow:?} was accepted") };
        assert_eq!(kind(refused), (400, "invalid_input".into()));
    }
    let bearer = format!("Authorization: Bearer {token}");
    for body in [&br#"{"allow": {"tools": 5}}"#[..], br#"{"allow": {"skills": ["../x"]}}"#, br#"{"other": 1}"#, b"[1"] {
        expect_json_error(served.addr(), "POST", "/v1/sessions", &[bearer.as_bytes()], body, 400, "invalid_input");
    }
}

#[tokio::test]
async fn a_server_that_ignores_the_allowlist_is_not_trusted_with_it() {
    // A server that predates allowlists: it never reads the body, so its answer has
    // no applied list. It records the requests it gets.
    let (seen, lines) = std::sync::mpsc::channel();
    let url = common::http_server(3, move |request| {
        seen.send(format!("{} {}", request.method, request.path)).unwrap();
        match request.method.as_str() {
            "POST" => (201, r#"{"id":"s1","ttl_seconds":60}"#.to_owned()),
            _ => (204, String::new()),
        }
    });
    let remote = Remote::new(&url, None).unwrap();
    // Nothing asked, nothing to check: the old server's session is usable.
    assert_eq!(remote.session().await.unwrap().id(), "s1");
    let allow = codemode::model::Allow { tools: Some(vec!["jq".into()]), skills: None };
    let refused = remote.session_allowing(&allow).await.unwrap_err();
    assert!(matches!(refused, RemoteError::Unlimited), "{refused:?}");
    assert!(refused.to_string().contains("did not apply the session's allowlist"), "{refused}");
    let seen: Vec<String> = lines.iter().take(3).collect();
    assert_eq!(seen, ["POST /v1/sessions", "POST /v1/sessions", "DELETE /v1/sessions/s1"]);
}

/// `POST /v1/sessions/{id}/fork` and `RemoteSession::fork`: the fork has the
/// original's state and allowlist, no tool call runs twice, the two are
/// independent, the fork counts against the session cap, and hostile requests
/// (no token, an unknown or closed id, a wrong method) get JSON errors.
#[tokio::test(flavor = "multi_thread")]
async fn the_fork_route_copies_the_state_and_counts_against_the_cap() {
    let base = tempfile::tempdir().unwrap();
    std::fs::create_dir(base.path().join("tools")).unwrap();
    std::fs::write(base.path().join("tools/counter.yaml"), common::COUNTER).unwrap();
    std::fs::write(base.path().join("tools/spawner.yaml"), common::SPAWNER).unwrap();
    let calls = base.path().join("calls");
    let token = "a-token-for-the-fork-route";
    let served = Served::start(token, &["--base", base.path().to_str().unwrap(), "--max-sessions", "2"]);
    let remote = Remote::new(&served.url, Some(token)).unwrap();
    let allow = codemode::model::Allow { tools: Some(vec!["counter".into()]), skills: None };
    let original = remote.session_allowing(&allow).await.unwrap();
    let setup = format!("xs = [1]\ntools.counter.bump(file={:?})", calls.to_str().unwrap());
    assert!(original.run(&setup).await.unwrap().is_ok());
    let fork = original.fork().await.unwrap();
    assert_ne!(fork.id(), original.id());
    let json = |r: codemode::RunResult| r.value.and_then(|v| v.json);
    assert_eq!(json(fork.run("xs").await.unwrap()), Some(json!([1])));
    assert_eq!(common::lines(&calls), 1, "the fork's replay ran the tool again");
    // Independent both ways.
    assert!(fork.run("xs.append(2)").await.unwrap().is_ok());
    assert!(original.run("xs.append(3)").await.unwrap().is_ok());
    assert_eq!(json(original.run("xs").await.unwrap()), Some(json!([1, 3])));
    assert_eq!(json(fork.run("xs").await.unwrap()), Some(json!([1, 2])));
    // The allowlist is inherited, never widened.
    let names: Vec<String> = fork.list_tools().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["counter"]);
    // Two sessions is the cap: a third by fork is refused like a create, and nothing is lost.
    assert_eq!(kind(original.fork().await.unwrap_err()), (503, "limit_exceeded".into()));
    assert_eq!(json(original.run("xs").await.unwrap()), Some(json!([1, 3])));

    let bearer = format!("Authorization: Bearer {token}");
    let addr = served.addr();
    let path = format!("/v1/sessions/{}/fork", original.id());
    expect_json_error(addr, "POST", &path, &[], b"", 401, "unauthorized");
    expect_json_error(addr, "GET", &path, &[bearer.as_bytes()], b"", 405, "method_not_allowed");
    // A named (not server-made) id, a path and a huge one name no session; an id of
    // the server's shape it does not hold would need room to be resumed, and there is none.
    for id in ["work", "..%2F..%2Fetc", &"x".repeat(5000)] {
        let path = format!("/v1/sessions/{id}/fork");
        expect_json_error(addr, "POST", &path, &[bearer.as_bytes()], b"", 404, "not_found");
    }
    let path = "/v1/sessions/0123456789abcdef0123456789abcdef/fork";
    expect_json_error(addr, "POST", path, &[bearer.as_bytes()], b"", 503, "limit_exceeded");
    fork.close().await.unwrap();
    assert_eq!(kind(fork.fork().await.unwrap_err()), (404, "not_found".into()));
    assert_eq!(common::lines(&calls), 1);
}

/// `POST /v1/sessions/{id}/interrupt` while the session's fork replays its
/// journal stops the replay: the fork answers 409 `interrupted`, nothing was
/// created, and the original keeps its state.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_stops_a_forks_replay_over_http() {
    let base = tempfile::tempdir().unwrap();
    let remote = spawn(&["--base", base.path().to_str().unwrap(), "--timeout", "60"]).await;
    let session = std::sync::Arc::new(remote.session().await.unwrap());
    for cell in ["import time\ntime.sleep(1.5)\nx = 1", "time.sleep(1.5)"] {
        assert!(session.run(cell).await.unwrap().is_ok());
    }
    let fork = tokio::spawn({
        let session = session.clone();
        async move { session.fork().await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    assert!(session.interrupt().await.unwrap(), "the fork's replay is in progress");
    let refused = fork.await.unwrap().unwrap_err();
    assert!(asked.elapsed() < Duration::from_secs(2), "stopped {:?} after the interrupt", asked.elapsed());
    assert_eq!(kind(refused), (409, "interrupted".into()));
    let x = session.run("x").await.unwrap().value.and_then(|v| v.json);
    assert_eq!(x, Some(json!(1)));
}

/// `Session::fork` on the subprocess executor forks on the server.
#[tokio::test(flavor = "multi_thread")]
async fn session_fork_on_a_subprocess_forks_on_the_server() {
    let base = tempfile::tempdir().unwrap();
    let session =
        codemode::Session::builder().subprocess(BIN, &["--base", base.path().to_str().unwrap()]).build().await.unwrap();
    session.run("x = 1").await.unwrap();
    let fork = session.fork().await.unwrap();
    assert!(fork.is_remote());
    fork.run("x += 1").await.unwrap();
    let x = |r: codemode::RunResult| r.value.and_then(|v| v.json);
    assert_eq!(x(fork.run("x").await.unwrap()), Some(json!(2)));
    assert_eq!(x(session.run("x").await.unwrap()), Some(json!(1)));
}

/// A session whose journal went past its cap (64 MiB by default: six loads of a
/// 12 MB artifact) cannot be forked, and the route says why (409).
#[tokio::test(flavor = "multi_thread")]
async fn the_fork_route_refuses_a_session_past_its_journal_cap() {
    let base = tempfile::tempdir().unwrap();
    let remote = spawn(&["--base", base.path().to_str().unwrap()]).await;
    let session = remote.session().await.unwrap();
    let code = "artifacts.save('big', 'x' * 12_000_000)\nfor _ in range(6):\n    n = len(artifacts.load('big'))\nn";
    assert_eq!(session.run(code).await.unwrap().value.unwrap().json, Some(json!(12_000_000)));
    let RemoteError::Api { status, kind, message } = session.fork().await.unwrap_err() else { panic!() };
    assert_eq!((status, kind.as_str()), (409, "not_forkable"), "{message}");
    assert!(message.contains("cannot be forked") && message.contains("size limit"), "{message}");
    assert_eq!(session.run("n").await.unwrap().value.unwrap().json, Some(json!(12_000_000)));
}

/// POSTs `body` to `path` with the bearer `token`; the status and the JSON answer.
fn post_json(addr: &str, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let bearer = format!("Authorization: Bearer {token}");
    let headers: [&[u8]; 2] = [bearer.as_bytes(), b"Content-Type: application/json"];
    let (status, answer) = raw(addr, &request("POST", path, &headers, body.to_string().as_bytes()));
    (status, serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

#[test]
fn a_session_asks_for_the_data_profile_and_its_limits_hold() {
    let cache = codemode::default_cache_dir().unwrap();
    assert!(codemode::sandbox::data::is_prepared(&cache).unwrap(), "run `codemode profile fetch data` first");
    let base = common::data_base();
    let token = "a-token-for-the-data-profile";
    let served = Served::start(token, &["--base", base.path().to_str().unwrap(), "--memory", "256", "--timeout", "3"]);
    let session = || {
        let (status, created) = post_json(served.addr(), token, "/v1/sessions", &json!({"profile": "data"}));
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().to_owned()
    };
    let run_in = |id: &str, code: &str| {
        let (status, result) =
            post_json(served.addr(), token, &format!("/v1/sessions/{id}/run"), &json!({"code": code}));
        assert_eq!(status, 200, "{result}");
        result
    };
    let (id, other) = (session(), session());
    let run = |code: &str| run_in(&id, code);
    // The data work (state, a groupby, a plot, a MemoryError under the cap, a skill,
    // a tool, no host file or variable), then the plot as the artifact API serves it.
    for (code, repr) in common::DATA_WORK {
        let result = run(code);
        assert_eq!(result["value"]["json"], serde_json::from_str::<Value>(repr).unwrap(), "{code}: {result}");
    }
    let bearer = format!("Authorization: Bearer {token}");
    let (status, plot) = raw(served.addr(), &request("GET", "/v1/artifacts/plot.png", &[bearer.as_bytes()], b""));
    assert_eq!(status, 200);
    let plot: Value = serde_json::from_slice(&plot).unwrap();
    let data = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, plot["data"].as_str().unwrap());
    assert!(common::is_plot_png(&data.unwrap()), "{}", plot["info"]);
    // Two sessions draw different random numbers.
    let draw = "import numpy as np, random\n[random.random(), float(np.random.rand())]";
    let (mine, theirs) = (run(draw), run_in(&other, draw));
    assert_ne!(mine["value"]["json"][0], theirs["value"]["json"][0], "{mine} {theirs}");
    assert_ne!(mine["value"]["json"][1], theirs["value"]["json"][1], "{mine} {theirs}");
    // A long numpy call is stopped by the timeout, and the session is usable after.
    let started = Instant::now();
    let long = run("import numpy as np\nx = np.random.rand(2000, 2000)\nfor _ in range(1000):\n    x = x @ x.T / 2000");
    assert_eq!(long["limit"], "timeout", "{long}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(run("import pandas as pd\nint(pd.Series([1, 2, 3]).sum())")["value"]["json"], json!(6));
    // A profile that does not exist is refused before any interpreter starts.
    let (status, refused) = post_json(served.addr(), token, "/v1/sessions", &json!({"profile": "gpu"}));
    assert_eq!((status, refused["error"]["kind"].as_str()), (400, Some("invalid_input")), "{refused}");
}

/// Issue 13: a session outlives its server. `kill -9` of the server that served it,
/// and a second server on the same Redis resumes it at its next request with its
/// variables intact and its clock not gone back, while the counting tool shows no
/// call ran twice. While the first server lives the second serves it too (no sticky
/// routing); after DELETE no server finds it.
#[test]
fn a_session_survives_kill_9_of_its_server_and_resumes_on_another() {
    let redis = RedisServer::start();
    let url = redis.url();
    let tools = tempfile::tempdir().unwrap();
    std::fs::write(tools.path().join("counter.yaml"), common::COUNTER).unwrap();
    let calls = tools.path().join("calls");
    let token = "a-token-for-durable-sessions";
    let args =
        ["--redis", &url, "--prefix", "durable", "--tools", tools.path().to_str().unwrap(), "--session-lease", "1"];
    let (mut one, two) = (Served::start(token, &args), Served::start(token, &args));
    let (status, created) = post_json(one.addr(), token, "/v1/sessions", &json!({}));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let run = |served: &Served, code: &str| {
        post_json(served.addr(), token, &format!("/v1/sessions/{id}/run"), &json!({"code": code}))
    };
    let value = |(status, result): (u16, Value)| {
        assert_eq!(status, 200, "{result}");
        assert!(result["error"].is_null(), "{result}");
        result["value"]["json"].clone()
    };
    let bump = format!("tools.counter.bump(file={:?})", calls.to_str().unwrap());
    value(run(&one, &format!("import time, random\nxs = [1, 2]\n{bump}\nt0 = time.monotonic()")));
    value(run(&one, "xs.append(random.randrange(10**9))\nlen(xs)"));
    let drawn = value(run(&one, "xs[-1]"));
    assert_eq!(common::lines(&calls), 1);

    // No sticky routing: the other server serves it too, from the stored journal,
    // without running the tool again.
    assert_eq!(value(run(&two, "xs")), json!([1, 2, drawn]));
    assert_eq!(common::lines(&calls), 1, "the other server ran the tool again");

    Command::new("kill").args(["-9", &one.child.id().to_string()]).status().unwrap();
    let _ = one.child.wait();
    // Its lease (1 s here) lapses; until then the session is still held.
    let deadline = Instant::now() + Duration::from_secs(20);
    let resumed = loop {
        let answer = run(&two, "xs");
        if answer.0 != 409 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(value(resumed), json!([1, 2, drawn]));
    assert_eq!(common::lines(&calls), 1, "the resume ran the tool again");
    assert_eq!(value(run(&two, "time.monotonic() >= t0")), json!(true), "the resumed clock went back");
    // From here on it is live: a new call runs once.
    value(run(&two, &bump));
    assert_eq!(common::lines(&calls), 2);

    // DELETE forgets it everywhere: a third server on the same Redis finds nothing.
    let bearer = format!("Authorization: Bearer {token}");
    let (status, _) = raw(two.addr(), &request("DELETE", &format!("/v1/sessions/{id}"), &[bearer.as_bytes()], b""));
    assert_eq!(status, 204);
    let three = Served::start(token, &args);
    let (status, gone) = run(&three, "xs");
    assert_eq!((status, gone["error"]["kind"].as_str()), (404, Some("not_found")), "{gone}");
}

/// DELETE sent to one server while another serves a request of the session waits
/// for that request, as any request waits for the lease, then deletes: the run is
/// answered as it ran (its cell completed and was stored, then the session went),
/// and the session is gone on both servers. The deleting server either never saw
/// the session or keeps an older copy of it.
#[test]
fn a_delete_waits_for_the_run_another_server_serves() {
    let redis = RedisServer::start();
    let url = redis.url();
    let token = "a-token-for-waiting-deletes";
    let args = ["--redis", &url, "--prefix", "deletes"];
    let (one, two) = (Served::start(token, &args), Served::start(token, &args));
    let bearer = format!("Authorization: Bearer {token}");
    for created_on in [&one, &two] {
        let (status, created) = post_json(created_on.addr(), token, "/v1/sessions", &json!({}));
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/sessions/{id}");
        let run = |served: &Served, code: &str| {
            post_json(served.addr(), token, &format!("{path}/run"), &json!({"code": code}))
        };
        assert_eq!(run(&one, "import time\nx = 1").0, 200);
        std::thread::scope(|scope| {
            let slow = scope.spawn(|| run(&one, "time.sleep(1)\nx = 2\nx"));
            std::thread::sleep(Duration::from_millis(300));
            let asked = Instant::now();
            let (status, body) = raw(two.addr(), &request("DELETE", &path, &[bearer.as_bytes()], b""));
            assert_eq!(status, 204, "after {:?}: {}", asked.elapsed(), String::from_utf8_lossy(&body));
            assert!(asked.elapsed() > Duration::from_millis(400), "the DELETE did not wait: {:?}", asked.elapsed());
            let (status, result) = slow.join().unwrap();
            assert_eq!((status, &result["value"]["json"]), (200, &json!(2)), "{result}");
        });
        for served in [&one, &two] {
            let (status, gone) = run(served, "x");
            assert_eq!((status, gone["error"]["kind"].as_str()), (404, Some("not_found")), "{gone}");
        }
    }
}

/// Issue 13: a fork made on a durable server is stored under its own id like any
/// session. `kill -9` of the server that made it, and a second server on the same
/// Redis resumes the fork with its own state (the original's untouched), while the
/// counting tool shows neither the fork nor either resume ran the tool again.
#[test]
fn a_fork_is_stored_and_survives_its_server() {
    let redis = RedisServer::start();
    let url = redis.url();
    let tools = tempfile::tempdir().unwrap();
    std::fs::write(tools.path().join("counter.yaml"), common::COUNTER).unwrap();
    let calls = tools.path().join("calls");
    let token = "a-token-for-stored-forks";
    let args =
        ["--redis", &url, "--prefix", "forks", "--tools", tools.path().to_str().unwrap(), "--session-lease", "1"];
    let (mut one, two) = (Served::start(token, &args), Served::start(token, &args));
    let (status, created) = post_json(one.addr(), token, "/v1/sessions", &json!({}));
    assert_eq!(status, 201, "{created}");
    let original = created["id"].as_str().unwrap().to_owned();
    let run = |served: &Served, id: &str, code: &str| {
        let (status, result) =
            post_json(served.addr(), token, &format!("/v1/sessions/{id}/run"), &json!({"code": code}));
        assert_eq!(status, 200, "{result}");
        assert!(result["error"].is_null(), "{result}");
        result["value"]["json"].clone()
    };
    let bump = format!("tools.counter.bump(file={:?})", calls.to_str().unwrap());
    run(&one, &original, &format!("xs = [1]\n{bump}"));
    let (status, forked) = post_json(one.addr(), token, &format!("/v1/sessions/{original}/fork"), &json!({}));
    assert_eq!(status, 201, "{forked}");
    let fork = forked["id"].as_str().unwrap().to_owned();
    assert_ne!(fork, original);
    run(&one, &fork, "xs.append('fork')");
    run(&one, &original, "xs.append('original')");
    assert_eq!(common::lines(&calls), 1);

    Command::new("kill").args(["-9", &one.child.id().to_string()]).status().unwrap();
    let _ = one.child.wait();
    // Both leases (1 s here) lapse; until then both are held.
    let deadline = Instant::now() + Duration::from_secs(20);
    let resumed = |id: &str| loop {
        let (status, result) = post_json(two.addr(), token, &format!("/v1/sessions/{id}/run"), &json!({"code": "xs"}));
        if status != 409 || Instant::now() > deadline {
            assert_eq!(status, 200, "{result}");
            break result["value"]["json"].clone();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(resumed(&fork), json!([1, "fork"]));
    assert_eq!(resumed(&original), json!([1, "original"]));
    assert_eq!(common::lines(&calls), 1, "a fork or a resume ran the tool again");
}

/// A server paused (`kill -STOP`) while another went on with the session never
/// answers from, nor stores, its older state: woken, its next request finds the
/// newer stored version, drops its copy and resumes the newer state; once the
/// other server is gone, the woken one still serves the newer state.
#[test]
fn a_paused_server_never_overwrites_the_session_another_took_over() {
    let redis = RedisServer::start();
    let url = redis.url();
    let token = "a-token-for-paused-servers";
    let args = ["--redis", &url, "--prefix", "paused", "--session-lease", "1"];
    let (paused, mut other) = (Served::start(token, &args), Served::start(token, &args));
    let (status, created) = post_json(paused.addr(), token, "/v1/sessions", &json!({}));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let run = |served: &Served, code: &str| {
        post_json(served.addr(), token, &format!("/v1/sessions/{id}/run"), &json!({"code": code}))
    };
    let until_taken = |served: &Served, code: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, result) = run(served, code);
            if status != 409 || Instant::now() > deadline {
                assert_eq!(status, 200, "{result}");
                assert!(result["error"].is_null(), "{result}");
                break result["value"]["json"].clone();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let pid = paused.child.id().to_string();
    assert_eq!(run(&paused, "x = 'a'").0, 200);
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    // The paused server's lease (1 s) lapses and the other takes the session over.
    assert_eq!(until_taken(&other, "x += '+b'\nx"), json!("a+b"));
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let (status, result) = run(&paused, "x += '+c'\nx");
    assert_eq!((status, &result["value"]["json"]), (200, &json!("a+b+c")), "stale state answered: {result}");
    // The other server dies; the woken one resumes the newer state from Redis.
    Command::new("kill").args(["-9", &other.child.id().to_string()]).status().unwrap();
    let _ = other.child.wait();
    assert_eq!(until_taken(&paused, "x"), json!("a+b+c"));
}

/// A server paused (`kill -STOP`) in the middle of a cell while another takes the
/// session over: woken, the cell is answered with the `taken_over` error (it ran
/// but is not stored), never 200, and the stored state is the other server's.
#[test]
fn a_cell_paused_while_another_server_took_over_is_answered_as_not_stored() {
    let redis = RedisServer::start();
    let url = redis.url();
    let token = "a-token-for-paused-cells";
    let args = ["--redis", &url, "--prefix", "paused-cell", "--session-lease", "1"];
    let (paused, other) = (Served::start(token, &args), Served::start(token, &args));
    let (status, created) = post_json(paused.addr(), token, "/v1/sessions", &json!({}));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/sessions/{id}/run");
    let run = |served: &Served, code: &str| post_json(served.addr(), token, &path, &json!({"code": code}));
    assert_eq!(run(&paused, "import time\nx = 'a'").0, 200);
    let (addr, slow_path) = (paused.addr().to_owned(), path.clone());
    let slow =
        std::thread::spawn(move || post_json(&addr, token, &slow_path, &json!({"code": "time.sleep(3)\nx = 'lost'"})));
    std::thread::sleep(Duration::from_millis(800));
    let pid = paused.child.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let taken = loop {
        let (status, result) = run(&other, "x += '+b'\nx");
        if status != 409 || Instant::now() > deadline {
            break (status, result);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!((taken.0, &taken.1["value"]["json"]), (200, &json!("a+b")), "{}", taken.1);
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let (status, answer) = slow.join().unwrap();
    assert_eq!((status, answer["error"]["kind"].as_str()), (409, Some("taken_over")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("not stored"), "{answer}");
    // The stored state is the other server's, on either server.
    assert_eq!(run(&other, "x").1["value"]["json"], json!("a+b"));
    assert_eq!(run(&paused, "x").1["value"]["json"], json!("a+b"));
}

/// A fork made on a server whose copy another server went on with since is of
/// the stored (newer) state, not of the older copy.
#[test]
fn a_fork_on_a_server_behind_forks_the_stored_state() {
    let pair = Pair::start("fork-behind", &[]);
    pair.value(&pair.a, "x = 1");
    pair.value(&pair.b, "x += 1");
    let (status, forked) = post_json(pair.a.addr(), PAIR_TOKEN, &format!("/v1/sessions/{}/fork", pair.id), &json!({}));
    assert_eq!(status, 201, "{forked}");
    let fork = forked["id"].as_str().unwrap();
    let (status, result) =
        post_json(pair.a.addr(), PAIR_TOKEN, &format!("/v1/sessions/{fork}/run"), &json!({"code": "x"}));
    assert_eq!((status, &result["value"]["json"]), (200, &json!(2)), "{result}");
}

/// Two `codemode serve` on one Redis the test starts (or one `--base` directory),
/// with the counting tool, for the no-sticky-routing tests; `extra` applies to
/// the first server only.
struct Pair {
    _redis: Option<RedisServer>,
    _base: Option<tempfile::TempDir>,
    _tools: tempfile::TempDir,
    calls: std::path::PathBuf,
    a: Served,
    b: Served,
    id: String,
}

const PAIR_TOKEN: &str = "a-token-for-two-servers";

impl Pair {
    fn start(prefix: &str, extra: &[&str]) -> Self {
        let redis = RedisServer::start();
        let url = redis.url();
        Self::on(&["--redis", &url, "--prefix", prefix], extra, Some(redis), None)
    }

    /// Two servers on one machine sharing a `--base` directory.
    fn on_directory(extra: &[&str]) -> Self {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().to_str().unwrap().to_owned();
        Self::on(&["--base", &dir], extra, None, Some(base))
    }

    fn on(storage: &[&str], extra: &[&str], redis: Option<RedisServer>, base: Option<tempfile::TempDir>) -> Self {
        let tools = tempfile::tempdir().unwrap();
        std::fs::write(tools.path().join("counter.yaml"), common::COUNTER).unwrap();
        let calls = tools.path().join("calls");
        let args = [storage, &["--tools", tools.path().to_str().unwrap()]].concat();
        let a = Served::start(PAIR_TOKEN, &[&args[..], extra].concat());
        let b = Served::start(PAIR_TOKEN, &args);
        let (status, created) = post_json(a.addr(), PAIR_TOKEN, "/v1/sessions", &json!({}));
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        Self { _redis: redis, _base: base, _tools: tools, calls, a, b, id }
    }

    fn run(&self, served: &Served, code: &str) -> (u16, Value) {
        post_json(served.addr(), PAIR_TOKEN, &format!("/v1/sessions/{}/run", self.id), &json!({"code": code}))
    }

    /// The value of `code` run on `served`, which must answer it without error.
    fn value(&self, served: &Served, code: &str) -> Value {
        let (status, result) = self.run(served, code);
        assert_eq!(status, 200, "{code}: {result}");
        assert!(result["error"].is_null(), "{code}: {result}");
        result["value"]["json"].clone()
    }

    /// Waits (within 2 s) until an interrupt sent to `served` answers `false`: the
    /// lease the last request held is given back in the background, after its answer.
    fn until_nobody_holds_it(&self, served: &Served) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let path = format!("/v1/sessions/{}/interrupt", self.id);
            let (status, answer) = post_json(served.addr(), PAIR_TOKEN, &path, &json!({}));
            assert_eq!(status, 200, "{answer}");
            if answer == json!({"interrupted": false}) {
                return;
            }
            assert!(Instant::now() < deadline, "the lease is still held: {answer}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn bump(&self) -> String {
        format!("tools.counter.bump(file={:?})", self.calls.to_str().unwrap())
    }
}

/// Issue 13, no sticky routing: requests for one session alternate between two
/// servers, each answering from the state the other left (never a 409), and the
/// counting tool shows that no tool call ran twice (the journal is replayed, never
/// its calls).
#[test]
fn requests_for_one_session_alternate_between_servers() {
    let pair = Pair::start("alternate", &[]);
    let (a, b) = (&pair.a, &pair.b);
    pair.value(a, &format!("x = 1\n{}", pair.bump()));
    pair.value(b, &format!("x += 1\n{}", pair.bump()));
    assert_eq!(pair.value(a, "x += 1\nx"), json!(3));
    assert_eq!(common::lines(&pair.calls), 2);
    for round in 0..4 {
        let served = if round % 2 == 0 { b } else { a };
        assert_eq!(pair.value(served, "x += 1\nx"), json!(4 + round));
    }
    assert_eq!(common::lines(&pair.calls), 2, "a tool call ran twice");
}

/// Two requests for one session at once, on two servers: the second waits for the
/// first (as a call queued behind a running cell waits), then runs on its state.
#[test]
fn concurrent_requests_on_two_servers_run_in_order() {
    let pair = Pair::start("concurrent", &[]);
    pair.value(&pair.a, "import time\nlog = []");
    std::thread::scope(|scope| {
        let first = scope.spawn(|| pair.value(&pair.a, "time.sleep(1.5)\nlog.append('a')\nlog"));
        // Sent while the first runs: it waits for it.
        std::thread::sleep(Duration::from_millis(500));
        let second = scope.spawn(|| pair.value(&pair.b, "log.append('b')\nlog"));
        assert_eq!(first.join().unwrap(), json!(["a"]));
        assert_eq!(second.join().unwrap(), json!(["a", "b"]));
    });
    assert_eq!(pair.value(&pair.a, "log"), json!(["a", "b"]));
}

/// An interrupt sent to server B stops a cell server A runs: the run answers
/// `interrupted` with its state rolled back, and the session goes on on either.
/// An interrupt for a session nobody runs stops nothing, not its next cell;
/// malformed and unknown ids are 404; a storm of interrupts costs one Redis call
/// each and leaves the server serving.
#[test]
fn an_interrupt_sent_to_another_server_stops_the_run() {
    interrupt_across_servers(&Pair::start("interrupt", &["--timeout", "30"]));
}

/// The same between two servers on one machine sharing a `--base` directory: the
/// interrupt is a flag file next to the session's journal.
#[test]
fn an_interrupt_sent_to_another_server_on_one_directory_stops_the_run() {
    interrupt_across_servers(&Pair::on_directory(&["--timeout", "30"]));
}

fn interrupt_across_servers(pair: &Pair) {
    let (a, b) = (&pair.a, &pair.b);
    pair.value(a, "x = 1");
    let interrupt = |served: &Served, id: &str| {
        post_json(served.addr(), PAIR_TOKEN, &format!("/v1/sessions/{id}/interrupt"), &json!({}))
    };
    // Nobody runs it: nothing is stopped, and the next cell runs whole.
    pair.until_nobody_holds_it(b);
    assert_eq!(pair.value(a, "import time\ntime.sleep(0.3)\nx"), json!(1));
    std::thread::scope(|scope| {
        let started = Instant::now();
        let running = scope.spawn(|| pair.run(a, "x = 2\nwhile True:\n    pass"));
        let asked = loop {
            std::thread::sleep(Duration::from_millis(200));
            let (status, answer) = interrupt(b, &pair.id);
            assert_eq!(status, 200, "{answer}");
            if answer["interrupted"] == json!(true) || started.elapsed() > Duration::from_secs(20) {
                break Instant::now();
            }
        };
        let (status, result) = running.join().unwrap();
        assert_eq!(status, 200, "{result}");
        assert_eq!(result["interrupted"], json!(true), "{result}");
        assert_eq!(result["state"], json!("rolled_back"), "{result}");
        // Generous: the poll is 25 ms, the round trip well under that.
        assert!(asked.elapsed() < Duration::from_secs(5), "the interrupt took {:?}", asked.elapsed());
    });
    assert_eq!(pair.value(b, "x"), json!(1));
    assert_eq!(pair.value(a, "x += 1\nx"), json!(2));
    // Hostile ids: 404, and nothing is asked of the storage for them.
    for id in ["not-an-id", "..%2F..%2Fetc", "x".repeat(300).as_str(), "0123456789abcdef0123456789abcdef"] {
        let (status, answer) = interrupt(b, id);
        assert_eq!(status, 404, "{id}: {answer}");
    }
    for _ in 0..200 {
        assert_eq!(interrupt(b, &pair.id).0, 200);
    }
    assert_eq!(pair.value(b, "x"), json!(2), "a storm with nothing running stopped the next cell");
}

/// An interrupt that comes while server B resumes the session (replays its
/// stored journal under the lease) stops that replay: B answers the run as
/// interrupted before it started, nothing ran, and the stored session is
/// untouched, so the next request resumes it whole.
#[test]
fn an_interrupt_stops_a_resumes_replay_on_redis() {
    interrupt_during_a_resume(&Pair::start("resume-interrupt", &["--timeout", "30"]));
}

/// The same on one `--base` directory.
#[test]
fn an_interrupt_stops_a_resumes_replay_on_one_directory() {
    interrupt_during_a_resume(&Pair::on_directory(&["--timeout", "30"]));
}

fn interrupt_during_a_resume(pair: &Pair) {
    let (a, b) = (&pair.a, &pair.b);
    // A cell whose replay takes a while: B's resume replays it.
    let started = Instant::now();
    assert_eq!(pair.value(a, "n = 0\nfor i in range(15_000_000):\n    n += 1\nn"), json!(15_000_000));
    let slow = started.elapsed();
    assert!(slow > Duration::from_secs(1), "the cell is too quick to interrupt its replay: {slow:?}");
    let interrupt = || post_json(a.addr(), PAIR_TOKEN, &format!("/v1/sessions/{}/interrupt", pair.id), &json!({}));
    pair.until_nobody_holds_it(a);
    std::thread::scope(|scope| {
        let resuming = scope.spawn(|| pair.run(b, "n += 1\nn"));
        let deadline = Instant::now() + slow * 3 / 4;
        // Answered `false` until B holds the lease for its resume.
        let asked = loop {
            std::thread::sleep(Duration::from_millis(20));
            let (status, answer) = interrupt();
            assert_eq!(status, 200, "{answer}");
            if answer["interrupted"] == json!(true) {
                break Instant::now();
            }
            assert!(Instant::now() < deadline, "B never held the lease while it resumed");
        };
        let (status, result) = resuming.join().unwrap();
        assert_eq!(status, 200, "{result}");
        assert_eq!(result["interrupted"], json!(true), "{result}");
        assert_eq!(result["error"]["kind"], json!("Interrupted"), "{result}");
        assert!(result["error"]["message"].as_str().unwrap().contains("resumed"), "{result}");
        assert!(asked.elapsed() < slow / 2, "the replay went on {:?} after the interrupt", asked.elapsed());
    });
    // Nothing ran: the next request resumes the stored state whole, on either server.
    assert_eq!(pair.value(b, "n += 1\nn"), json!(15_000_001));
    assert_eq!(pair.value(a, "n"), json!(15_000_001));
}

/// Server A's idle TTL drops its copy of a session only: the stored journal that
/// server B keeps using survives A's reaper, and A resumes it afterwards.
#[test]
fn a_short_ttl_on_one_server_spares_a_journal_another_uses() {
    let pair = Pair::start("reaping", &["--session-ttl", "1"]);
    let (a, b) = (&pair.a, &pair.b);
    pair.value(a, &format!("n = 0\n{}", pair.bump()));
    // B uses it for well past A's TTL, while A's reaper runs several times.
    let until = Instant::now() + Duration::from_secs(3);
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        assert_eq!(pair.value(b, "n += 1\nn"), json!(n));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(pair.value(a, "n"), json!(n), "A's reaper deleted the journal B was using");
    assert_eq!(pair.value(b, "n"), json!(n));
    assert_eq!(common::lines(&pair.calls), 1);
}
