//! One suite, three executors: the same `Session` API in process, on a
//! `codemode serve` reached as a remote, and on a `codemode serve` child process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use codemode::remote::Subprocess;
use codemode::{LimitKind, Limits, Session, SessionError};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_codemode");

async fn suite(session: Session) {
    // State persists across runs; errors come back as values, not failures.
    session.run("x = 41").await.unwrap();
    assert_eq!(session.run("x + 1").await.unwrap().value.unwrap().json, Some(json!(42)));
    let raised = session.run("print('before')\n{}['missing']").await.unwrap();
    assert_eq!(raised.stdout, "before\n");
    assert_eq!(raised.error.unwrap().kind, "KeyError");
    let limits = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    let slow = session.run_with("while True: pass", &limits).await.unwrap();
    assert_eq!((slow.limit, slow.interpreter_reset), (Some(LimitKind::Timeout), true));

    // Skills: create, find by meaning, get, invoke from the API and from code, delete.
    let source = "def run(word: str) -> str:\n    return word[::-1]\n";
    let (info, replaced) = session.create_skill("reverse", source, Some("Reverse a word")).await.unwrap();
    assert_eq!((info.name.as_str(), replaced), ("reverse", false));
    let rejected = session.create_skill("broken", "def run(:\n", None).await.unwrap_err().to_string();
    assert!(rejected.contains("syntax error"), "{rejected}");
    assert_eq!(session.search_skills("spell a word backwards", 3).await.unwrap().matches[0].info.name, "reverse");
    assert!(session.get_skill("reverse").await.unwrap().source.contains("[::-1]"));
    let args = json!({"word": "stressed"}).as_object().cloned().unwrap();
    assert_eq!(session.invoke_skill("reverse", &args).await.unwrap().value.unwrap().json, Some(json!("desserts")));
    assert_eq!(session.run("skills.reverse(word='ab')").await.unwrap().value.unwrap().json, Some(json!("ba")));
    assert!(session.list_skills().await.unwrap().iter().any(|s| s.name == "reverse"));
    assert!(session.delete_skill("reverse").await.unwrap());

    // Artifacts saved by code are there for the host.
    session.run("artifacts.save('counts', {'a': 1})").await.unwrap();
    assert_eq!(session.list_artifacts().await.unwrap()[0].name, "counts");
    assert_eq!(session.load_artifact("counts").await.unwrap().0, json!({"a": 1}));
    assert!(session.load_artifact("absent").await.is_err());
    assert!(session.list_tools().await.unwrap().is_empty());
    assert!(session.list_deps().await.unwrap().is_empty());

    session.run("y = 1").await.unwrap();
    session.reset().await.unwrap();
    assert_eq!(session.run("y").await.unwrap().error.unwrap().kind, "NameError");
    session.close().await;
    assert!(matches!(session.run("1").await, Err(SessionError::Closed)));
}

#[tokio::test]
async fn in_process() {
    let base = tempfile::tempdir().unwrap();
    let session = Session::builder().base_dir(base.path()).build().await.unwrap();
    assert!(!session.is_remote());
    suite(session).await;
}

#[tokio::test]
async fn remote() {
    let base = tempfile::tempdir().unwrap();
    let server = Subprocess::spawn(Path::new(BIN), &["--base", base.path().to_str().unwrap()]).await.unwrap();
    let session = Session::builder().remote(server).build().await.unwrap();
    assert!(session.is_remote());
    suite(session).await;
}

#[tokio::test]
async fn subprocess() {
    let base = tempfile::tempdir().unwrap();
    let session = Session::builder().subprocess(BIN, &["--base", base.path().to_str().unwrap()]).build().await.unwrap();
    assert!(session.is_remote());
    suite(session).await;
}
