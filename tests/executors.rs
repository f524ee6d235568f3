//! One suite, three executors: the same `Session` API in process, on a
//! `codemode serve` reached as a remote, and on a `codemode serve` child process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use codemode::model::ops::SaveArtifact;
use codemode::model::{DataKind, Operations, Request, Response};
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
    // The state from before the stopped cell is back, and every executor says so.
    assert_eq!(slow.state, codemode::CellState::RolledBack, "{:?}", slow.error);
    assert_eq!(session.run("x").await.unwrap().value.unwrap().json, Some(json!(41)));

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
    assert!(session.search_tools("fetch a web page", 3).await.unwrap().is_empty());
    assert!(session.list_deps().await.unwrap().is_empty());
    assert!(session.sync_deps().await.unwrap().is_empty());

    // Artifacts saved and deleted from the host side are what code sees.
    let save = |name: &str, data: serde_json::Value, kind| SaveArtifact {
        name: name.into(),
        data,
        kind,
        description: "from the host".into(),
        metadata: json!({"by": "test"}).as_object().cloned().unwrap(),
    };
    let saved = session.save_artifact(save("host/notes", json!("hello"), None)).await.unwrap();
    assert_eq!((saved.kind, saved.size, saved.metadata["by"].as_str()), (DataKind::Text, 5, Some("test")));
    let bytes = session.save_artifact(save("host/raw", json!("AAEC"), Some(DataKind::Bytes))).await.unwrap();
    assert_eq!(bytes.size, 3);
    let seen = session.run("(artifacts.load('host/notes'), artifacts.load('host/raw'))").await.unwrap();
    assert_eq!(seen.value.unwrap().repr, "('hello', b'\\x00\\x01\\x02')");
    for (name, data, kind) in [
        ("../escape", json!(1), None),
        ("bad", json!(1), Some(DataKind::Text)),
        ("b", json!("*"), Some(DataKind::Bytes)),
    ] {
        let refused = session.save_artifact(save(name, data, kind)).await.unwrap_err().to_string();
        assert!(refused.contains("artifact"), "{refused}");
    }
    assert!(session.delete_artifact("host/notes").await.unwrap());
    assert!(!session.delete_artifact("host/notes").await.unwrap());
    assert!(session.delete_artifact("host/raw").await.unwrap());

    // Every operation as data, the way the servers receive it.
    let listed = session.call(Request::from_parts("list_artifacts", None).unwrap()).await.unwrap();
    assert!(matches!(&listed, Response::Artifacts { artifacts } if artifacts.len() == 1), "{listed:?}");
    let ran = session.call(Request::from_parts("run", json!({"code": "6 * 7"}).as_object().cloned()).unwrap());
    let Response::Run(ran) = ran.await.unwrap() else { panic!("a run answers a run result") };
    assert_eq!(ran.value.unwrap().json, Some(json!(42)));

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
