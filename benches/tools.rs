//! Tool calls from agent code: the guest-to-host dispatch of an in-process (Rust)
//! tool, a CLI tool against spawning the same process directly, and an MCP tool
//! over stdio against the same call made from Rust.
//!
//!     scripts/install-mcp-servers.sh && cargo bench --bench tools

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/common/mod.rs"]
mod common;

use bench::{median, sample, sample_blocking, show};
use codemode::tools::{ParamInfo, ToolRegistry};
use codemode::{Limits, Session};
use serde_json::{Value, json};
use std::process::Command;

const CALLS: usize = 1000;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let mut tools = ToolRegistry::default();
    let param = ParamInfo {
        name: "x".into(),
        type_name: "int".into(),
        required: true,
        default: None,
        description: String::new(),
    };
    tools
        .add_fn("inc", "Add one", vec![param], |args| async move { Ok(json!(args["x"].as_i64().unwrap_or(0) + 1)) })
        .expect("add");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("echo.yaml"),
        "name: echo\ndescription: echo\nschema:\n  positional:\n    - {name: text, type: string, required: true}\nrecipes:\n  echo:\n    params:\n      text: {}\n",
    )
    .expect("yaml");
    let (cli, skipped) = ToolRegistry::load_dir(dir.path());
    assert!(skipped.is_empty() && cli.list().await.len() == 1, "the echo tool loads: {skipped:?}");
    let limits = Limits { tool_calls: 100_000, ..Limits::default() };
    let with_fn = Session::builder().tools(tools).limits(limits.clone()).build().await.expect("session");
    let with_cli = Session::builder().tools(cli).limits(limits).build().await.expect("session");

    // Per call: a cell of CALLS tool calls, against the same loop calling a Python function.
    let loop_with = |call: &str| format!("for i in range({CALLS}):\n    {call}\n");
    let calls = sample(7, || async {
        let r = with_fn.run(&loop_with("tools.inc(x=i)")).await.expect("run");
        assert!(r.is_ok(), "{:?}", r.error);
    })
    .await;
    with_fn.run("def inc(x):\n    return x + 1").await.expect("run");
    let python = sample(7, || async {
        with_fn.run(&loop_with("inc(i)")).await.expect("run");
    })
    .await;
    let per_call = (median(calls) - median(python)) / CALLS as u32;

    let cli_calls = sample(20, || async {
        let r = with_cli.run("tools.echo(text='hi')").await.expect("run");
        assert_eq!(r.value.and_then(|v| v.json), Some(Value::String("hi\n".into())));
    })
    .await;
    let warm_run = sample(20, || async {
        with_cli.run("'hi'").await.expect("run");
    })
    .await;
    let spawn = sample_blocking(20, || {
        let out = Command::new("echo").arg("hi").output().expect("echo runs");
        assert!(out.status.success());
    });
    let (cli_call, warm, spawn) = (median(cli_calls), median(warm_run), median(spawn));

    let mcp_dir = tempfile::tempdir().expect("tempdir");
    let server = common::mcp_servers().join("node/node_modules/.bin/mcp-server-everything");
    let yaml = format!("name: everything\ntype: mcp\ncommand: {}\nargs: [stdio]\n", server.display());
    std::fs::write(mcp_dir.path().join("everything.yaml"), yaml).expect("yaml");
    let (mcp, skipped) = ToolRegistry::load_dir(mcp_dir.path());
    assert!(skipped.is_empty(), "{skipped:?}");
    let with_mcp = Session::builder().tools(mcp.clone()).build().await.expect("session");
    let echo =
        |r: codemode::RunResult| assert_eq!(r.value.and_then(|v| v.json), Some(Value::String("Echo: hi".into())));
    echo(with_mcp.run("tools.everything.echo(message='hi')").await.expect("run"));
    let mcp_calls = sample(50, || async {
        echo(with_mcp.run("tools.everything.echo(message='hi')").await.expect("run"));
    })
    .await;
    let args = json!({"message": "hi"}).as_object().cloned().unwrap_or_default();
    let mcp_direct = sample(50, || async {
        let value = mcp.call("everything", Some("echo"), &args).await.expect("call");
        assert_eq!(value, Value::String("Echo: hi".into()));
    })
    .await;
    let (mcp_call, mcp_direct) = (median(mcp_calls), median(mcp_direct));

    println!("| measurement | p50 | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| in-process (Rust) tool call from agent code, per call | {} | a Python function call, subtracted | | <= 20 µs |",
        show(per_call)
    );
    println!(
        "| `tools.echo(text='hi')` (CLI tool), whole run | {} | `echo hi` spawned from Rust: {} | {:.2}x | |",
        show(cli_call),
        show(spawn),
        cli_call.as_secs_f64() / spawn.as_secs_f64()
    );
    println!(
        "| of which codemode's overhead (run minus spawn minus an empty warm run) | {} | | | |",
        show(cli_call.saturating_sub(spawn).saturating_sub(warm))
    );
    println!(
        "| `tools.everything.echo(message='hi')` (MCP, stdio), whole run | {} | the same call from Rust (`ToolRegistry::call`): {} | {:.2}x | |",
        show(mcp_call),
        show(mcp_direct),
        mcp_call.as_secs_f64() / mcp_direct.as_secs_f64()
    );
}
