//! Serving overhead: an MCP `run_code` round trip over stdio and over streamable
//! HTTP, and `codemode serve` throughput at 1, 10 and 100 concurrent sessions, each
//! against the in-process `Session` doing the same in the same run.
//!
//!     cargo bench --bench serve
//!     cargo bench --bench serve -- memory    # only the memory kept after sessions close

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod bench;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{median, private_memory_of, sample, show};
use codemode::Session;
use codemode::remote::Subprocess;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use tokio::io::AsyncBufReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_codemode");
const CODE: &str = "1 + 1";
/// The bearer token of the MCP HTTP server.
const TOKEN: &str = "a-token-for-the-serve-bench";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let base = tempfile::tempdir().expect("tempdir");
    let base_arg = base.path().to_str().expect("utf-8 path").to_owned();
    if std::env::args().skip(1).any(|arg| arg == "memory") {
        kept_after_close(&base_arg).await;
        return;
    }

    // In process: the baseline for both tables.
    let local = Session::builder().base_dir(base.path()).embeddings(false).build().await.expect("session");
    let in_process = median(sample(200, || async { assert!(local.run(CODE).await.expect("run").is_ok()) }).await);

    // MCP over stdio.
    let mut command = tokio::process::Command::new(BIN);
    command.args(["mcp", "--base", &base_arg]).stderr(Stdio::null());
    let stdio = ().serve(TokioChildProcess::new(command).expect("spawn")).await.expect("handshake");
    let call = || CallToolRequestParams::new("run_code").with_arguments(args());
    stdio.call_tool(call()).await.expect("first call");
    let over_stdio = median(
        sample(200, || async {
            stdio.call_tool(call()).await.expect("call");
        })
        .await,
    );
    stdio.cancel().await.expect("close");

    // MCP over streamable HTTP.
    let mut server = tokio::process::Command::new(BIN)
        .args(["mcp", "--http", "127.0.0.1:0", "--base", &base_arg])
        .env("CODEMODE_TOKEN", TOKEN)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = tokio::io::BufReader::new(server.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines.next_line().await.expect("read").expect("serving line");
        if let Some(url) = line.strip_prefix("codemode mcp: serving ") {
            break url.to_owned();
        }
    };
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(TOKEN);
    let http = ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("handshake");
    http.call_tool(call()).await.expect("first call");
    let over_http = median(
        sample(200, || async {
            http.call_tool(call()).await.expect("call");
        })
        .await,
    );
    http.cancel().await.expect("close");
    drop(server);

    println!("| `run_code(\"{CODE}\")` round trip | p50 | in-process `Session::run` | ratio |");
    println!("|---|---|---|---|");
    for (name, took) in [("MCP over stdio", over_stdio), ("MCP over streamable HTTP", over_http)] {
        println!("| {name} | {} | {} | {:.1}x |", show(took), show(in_process), ratio(took, in_process));
    }

    // `codemode serve` against in-process sessions, at several concurrencies.
    // The budget holds 100 sessions of the default 256 MiB cap, whatever the machine's RAM.
    let remote = Subprocess::spawn(Path::new(BIN), &["--base", &base_arg, "--memory-budget", "25600"])
        .await
        .expect("codemode serve");
    println!();
    println!("| concurrent sessions | serve: runs/s | p50 | p99 | in-process: runs/s | p50 | p99 |");
    println!("|---|---|---|---|---|---|---|");
    for sessions in [1, 10, 100] {
        // Every session runs a warm-up cell first: a new interpreter's first run pays
        // its copy-on-write page faults, which is start-up cost, not throughput.
        let per_session = (2000 / sessions).max(20);
        let mut remote_sessions = Vec::new();
        let mut local_sessions = Vec::new();
        for _ in 0..sessions {
            let served = remote.session().await.expect("remote session");
            served.run(CODE).await.expect("warm-up");
            remote_sessions.push(Arc::new(served));
            let local = Session::builder().base_dir(base.path()).embeddings(false).build().await.expect("session");
            local.run(CODE).await.expect("warm-up");
            local_sessions.push(Arc::new(local));
        }
        let served =
            load(&remote_sessions, per_session, |s| async move { assert!(s.run(CODE).await.expect("run").is_ok()) })
                .await;
        let local =
            load(&local_sessions, per_session, |s| async move { assert!(s.run(CODE).await.expect("run").is_ok()) })
                .await;
        println!(
            "| {sessions} | {} | {} | {} | {} | {} | {} |",
            served.0,
            show(served.1),
            show(served.2),
            local.0,
            show(local.1),
            show(local.2)
        );
    }
}

/// Sessions per round of [`kept_after_close`], and runs per session.
const BURST: usize = 200;
const BURST_RUNS: usize = 50;
const BURST_CELL: &str =
    "rows = [{'id': i, 'name': f'row {i}'} for i in range(200)]\n','.join(r['name'] for r in rows)[:10]";

/// `codemode serve`'s private memory once a burst of sessions (200, 50 runs each)
/// has closed, over three rounds, against the server before the first burst.
async fn kept_after_close(base: &str) {
    // The budget holds 200 sessions of the default 256 MiB cap.
    let remote =
        Subprocess::spawn(Path::new(BIN), &["--base", base, "--memory-budget", "52000"]).await.expect("codemode serve");
    let pid = remote.process_id().expect("a spawned server");
    let warm = remote.session().await.expect("session");
    warm.run(CODE).await.expect("run");
    warm.close().await.expect("close");
    // Past the trim's delay after a close (src/server/trim.rs), with a margin.
    let settle = || tokio::time::sleep(Duration::from_millis(2500));
    settle().await;
    let start = private_memory_of(pid);
    let mut kept = Vec::new();
    for _ in 0..3 {
        let mut sessions = Vec::with_capacity(BURST);
        for _ in 0..BURST {
            sessions.push(Arc::new(remote.session().await.expect("session")));
        }
        load(&sessions, BURST_RUNS, |s| async move { assert!(s.run(BURST_CELL).await.expect("run").is_ok()) }).await;
        let peak = private_memory_of(pid);
        for session in &sessions {
            session.close().await.expect("close");
        }
        settle().await;
        let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
        kept.push(format!(
            "{:.1} MiB (peak {:.1})",
            mib(private_memory_of(pid).saturating_sub(start)),
            mib(peak.saturating_sub(start))
        ));
    }
    println!("\n| `codemode serve` after {BURST} sessions x {BURST_RUNS} runs closed | round 1 | round 2 | round 3 |");
    println!("|---|---|---|---|");
    println!("| private memory kept (peak while open) | {} |", kept.join(" | "));
}

fn args() -> serde_json::Map<String, serde_json::Value> {
    serde_json::json!({"code": CODE}).as_object().cloned().unwrap_or_default()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// Runs `per_session` runs on every session at once; returns runs/s, p50 and p99.
async fn load<S, F, Fut>(sessions: &[Arc<S>], per_session: usize, run: F) -> (u64, Duration, Duration)
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for session in sessions {
        let session = session.clone();
        tasks.spawn(async move {
            let mut took = Vec::with_capacity(per_session);
            for _ in 0..per_session {
                let t = Instant::now();
                run(session.clone()).await;
                took.push(t.elapsed());
            }
            took
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.expect("task"));
    }
    let elapsed = started.elapsed();
    all.sort();
    let throughput = (all.len() as f64 / elapsed.as_secs_f64()) as u64;
    (throughput, all[all.len() / 2], all[all.len() * 99 / 100])
}
