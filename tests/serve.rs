//! `codemode serve` (the real binary) through the library's client: `Subprocess`
//! spawns it on loopback with a random token, `Remote` talks to it. Auth, TTL,
//! concurrency, a crashed child, and two servers sharing one Redis.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use codemode::remote::{Remote, RemoteError, Subprocess};
use common::RedisServer;
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
fn refuses_to_start_without_a_token() {
    let out =
        Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0"]).env_remove("CODEMODE_TOKEN").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to serve without authentication"));
    let out = Command::new(BIN).args(["serve", "--token", "short"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("too short"));
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
    let remote = spawn(&["--base", base.path().to_str().unwrap()]).await;
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
    use std::io::BufRead;
    let base = tempfile::tempdir().unwrap();
    let token = "a-token-for-the-body-tests";
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--max-body-bytes", "4096", "--base"])
        .arg(base.path())
        .env("CODEMODE_TOKEN", token)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "codemode serve exited");
    }
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
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
    let _ = child.kill();
    let _ = child.wait();
}
