//! The examples, run as built, against loopback stand-ins: the agent against a
//! scripted OpenAI-compatible server, the remote example against a spawned server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// `target/<profile>/examples/<name>`, next to the binary cargo built for the tests.
fn example(name: &str) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_codemode"));
    bin.parent().unwrap().join("examples").join(name)
}

#[test]
fn the_agent_loop_runs_code_the_model_asks_for() {
    // Turn 1: the "model" asks to run code. Turn 2: it answers with what the tool returned.
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = seen.clone();
    let llm = common::http_server(2, move |request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let turn = {
            let mut log = log.lock().unwrap();
            log.push(json!({"path": request.path, "auth": request.headers.get("authorization"), "body": body}));
            log.len()
        };
        let message = if turn == 1 {
            let code = "import math\nmath.factorial(10)";
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "run_code", "arguments": json!({"code": code}).to_string()},
            }]})
        } else {
            let result = body["messages"].as_array().and_then(|m| m.last()).map(|m| m["content"].clone());
            json!({"role": "assistant", "content": format!("10! is {}", result.unwrap_or_default().as_str().unwrap_or("?"))})
        };
        (200, json!({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}).to_string())
    });
    let base = tempfile::tempdir().unwrap();
    let out = Command::new(example("agent"))
        .arg("What is 10 factorial?")
        .env("OPENAI_BASE_URL", format!("{llm}/v1"))
        .env("OPENAI_API_KEY", "test-key")
        .env("CODEMODE_BASE", base.path())
        .output()
        .expect("the agent example runs (cargo build --examples)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), "10! is 3628800");

    let seen = seen.lock().unwrap();
    assert_eq!(seen[0]["path"], "/v1/chat/completions");
    assert_eq!(seen[0]["auth"], "Bearer test-key");
    assert_eq!(seen[0]["body"]["tools"][0]["function"]["name"], "run_code");
    let tool_message = seen[1]["body"]["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&tool_message["role"], &tool_message["tool_call_id"]), (&json!("tool"), &json!("call_1")));
}

#[test]
fn the_remote_example_drives_a_spawned_server() {
    let out = Command::new(example("remote"))
        .args(["--spawn", env!("CARGO_BIN_EXE_codemode")])
        .env("CODEMODE_BASE", tempfile::tempdir().unwrap().path())
        .output()
        .expect("the remote example runs (cargo build --examples)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("median = 3.5"), "{stdout}");
}
