//! Sandbox performance, each figure next to a baseline measured in the same run.
//!
//!     cargo bench --bench sandbox
//!     cargo bench --bench sandbox -- interrupt    # only the interrupt latency
//!     cargo bench --bench sandbox -- journal      # only the session journal's costs
//!     cargo bench --bench sandbox -- load         # only sessions under load (memory, creation)
//!     cargo bench --bench sandbox -- compute      # only compute, on each engine variant
//!     cargo bench --bench sandbox -- cache        # only the check of the cached guests
//!
//! Prints a Markdown table (the one in the README). Baselines: starting a native
//! `python3` process for session start-up, and the same Python code run by native
//! `python3` for compute. Memory is the private (anonymous) memory this process
//! gains per idle session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod bench;

use std::process::Command;
use std::time::{Duration, Instant};

use bench::{median, native_times, percentile, private_memory, python3, sample, sample_blocking, show};

use codemode::{Limits, Sandbox, Session};

const WORKLOADS: &[(&str, &str)] = &[
    ("loop of 1e6 additions", "s = 0\nfor i in range(1_000_000):\n    s += i\n"),
    ("recursive fib(25)", "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nfib(25)\n"),
    (
        "JSON round trip (200 x 1000 records)",
        "import json\ndata = [{'id': i, 'name': f'n{i}', 'tags': ['a', 'b'], 'score': i / 3} for i in range(1000)]\nfor _ in range(200):\n    data = json.loads(json.dumps(data))\n",
    ),
];

const COMPUTE_REPEATS: usize = 7;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    if std::env::args().skip(1).any(|arg| arg == "interrupt") {
        interrupt_latency(&Sandbox::shared()).await;
        return;
    }
    if std::env::args().skip(1).any(|arg| arg == "journal") {
        journal_costs(&Sandbox::shared()).await;
        return;
    }
    if std::env::args().skip(1).any(|arg| arg == "load") {
        under_load(&Sandbox::shared()).await;
        return;
    }
    if std::env::args().skip(1).any(|arg| arg == "cache") {
        cache_check();
        return;
    }
    if std::env::args().skip(1).any(|arg| arg == "compute") {
        compute_variants().await;
        return;
    }
    // The interpreter itself, not a wrapper such as a pyenv shim, so start-up is fair.
    let python = python3();
    let sandbox = Sandbox::shared();
    eprintln!("warming up (compiles the guest on first use)...");
    let plain = Session::builder().sandbox(sandbox.clone()).build().await.expect("session");
    let metered_limits = Limits { fuel: Some(u64::MAX / 2), ..Limits::default() };
    let metered = Session::builder().sandbox(sandbox.clone()).limits(metered_limits).build().await.expect("session");

    let mut rows = Vec::new();

    // Start-up: a new session (fresh store + instance from the shared template) to its first result.
    let startup = sample(200, || async {
        let session = Session::builder().sandbox(sandbox.clone()).build().await.expect("session");
        let result = session.run("1+1").await.expect("run");
        assert_eq!(result.value.expect("value").repr, "2");
    })
    .await;
    let native_startup = sample_blocking(20, || {
        let status = Command::new(&python).args(["-c", "1+1"]).status().expect("python3 runs");
        assert!(status.success());
    });
    rows.push(Row::new(
        "new session to first `1+1` result",
        startup,
        "native `python3 -c 1+1` process",
        native_startup,
        "<= 2 ms",
    ));

    // The same, split: instantiation alone, then the first run on a fresh instance.
    let mut instantiate = Vec::new();
    let mut first_run = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let session = Session::builder().sandbox(sandbox.clone()).build().await.expect("session");
        instantiate.push(started.elapsed());
        let started = Instant::now();
        session.run("1+1").await.expect("run");
        first_run.push(started.elapsed());
    }
    rows.push(Row::alone("  of which: new session (store + instance)", instantiate));
    rows.push(Row::alone("  of which: first run on the fresh interpreter", first_run));

    // Warm run on a live session.
    plain.run("x = 1").await.expect("run");
    let warm = sample(2000, || async {
        plain.run("x+1").await.expect("run");
    })
    .await;
    let native_warm = native_times(&python, "x = 1", "x+1", 2000);
    rows.push(Row::new("warm `run(\"x+1\")`", warm, "native `exec` of `x+1` (no transport)", native_warm, "<= 0.1 ms"));

    // Reset: a fresh interpreter (store + instance) and the first run on it, against
    // a warm run on the live one.
    let reset = sample(200, || async {
        plain.reset().await.expect("reset");
        plain.run("x = 1").await.expect("run");
    })
    .await;
    rows.push(Row::alone("`reset()` then the first run (a fresh interpreter)", reset));

    // Compute: the same code in the sandbox and in native python3.
    for (name, code) in WORKLOADS {
        let sandboxed = sample(COMPUTE_REPEATS, || async {
            let result = plain.run(code).await.expect("run");
            assert!(result.is_ok(), "{:?}", result.error);
        })
        .await;
        let native = native_times(&python, "", code, COMPUTE_REPEATS);
        rows.push(Row::new(name, sandboxed, "native python3", native.clone(), "<= 1.5x"));
        let fueled = sample(COMPUTE_REPEATS, || async {
            let result = metered.run(code).await.expect("run");
            assert!(result.is_ok(), "{:?}", result.error);
        })
        .await;
        rows.push(Row::new(&format!("{name}, fuel metered"), fueled, "native python3", native, ""));
    }

    // Memory per idle session.
    let before = private_memory();
    let mut idle = Vec::new();
    for i in 0..100 {
        let session = Session::builder().sandbox(sandbox.clone()).build().await.expect("session");
        session.run(&format!("n = {i}\nnames = [str(j) for j in range(100)]")).await.expect("run");
        idle.push(session);
    }
    let per_session = (private_memory().saturating_sub(before)) as f64 / idle.len() as f64;
    drop(idle);

    let python =
        Command::new("python3").arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    println!("\nGuest: CPython 3.14 (componentize-py 0.25.1) on wasmtime 48; baseline: {}", python.unwrap_or_default());
    println!("\n| measurement | codemode p50 | baseline | baseline p50 | ratio | target |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        row.print();
    }
    println!(
        "| private memory per idle session (100 sessions) | {:.2} MiB | | | | <= 4 MiB |",
        per_session / (1 << 20) as f64
    );
    interrupt_latency(&sandbox).await;
    journal_costs(&sandbox).await;
    under_load(&sandbox).await;
}

/// Each workload on each engine setting the sandbox could use (plus fuel), against
/// native python3 in the same run. The first run of a variant compiles the guest
/// for it (10-20 s each, cached on disk).
async fn compute_variants() {
    use codemode::sandbox::EngineVariant;
    let python = python3();
    let variants = [
        ("standard (what sessions use)", EngineVariant::Standard, None),
        ("standard + fuel metering", EngineVariant::Standard, Some(u64::MAX / 2)),
        ("no epoch checks (unsafe: no timeout)", EngineVariant::NoEpochChecks, None),
        ("Cranelift `speed_and_size`", EngineVariant::SpeedAndSize, None),
    ];
    let natives: Vec<Vec<Duration>> =
        WORKLOADS.iter().map(|(_, code)| native_times(&python, "", code, COMPUTE_REPEATS)).collect();
    let mut sessions = Vec::new();
    for (variant_name, variant, fuel) in variants {
        eprintln!("{variant_name}: preparing (compiles the guest on first use)...");
        let sandbox = Sandbox::builder().engine_variant(variant).build();
        let limits = Limits { fuel, ..Limits::default() };
        sessions.push(Session::builder().sandbox(sandbox).limits(limits).build().await.expect("session"));
    }
    let mut rows = Vec::new();
    for ((name, code), native) in WORKLOADS.iter().zip(&natives) {
        // Interleaved, so a busy spell of a shared machine slows every variant alike.
        let mut times = vec![Vec::new(); sessions.len()];
        for _ in 0..COMPUTE_REPEATS {
            for (session, times) in sessions.iter().zip(&mut times) {
                let started = Instant::now();
                let result = session.run(code).await.expect("run");
                times.push(started.elapsed());
                assert!(result.is_ok(), "{:?}", result.error);
            }
        }
        for ((variant_name, ..), times) in variants.iter().zip(times) {
            rows.push(Row::new(&format!("{name}: {variant_name}"), times, "native python3", native.clone(), ""));
        }
    }
    println!("\n| workload: engine | codemode p50 | baseline | baseline p50 | ratio | |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        row.print();
    }
}

/// Warm runs per workload for the journal's overhead.
const JOURNAL_RUNS: usize = 300;

/// What checking a cached precompiled guest costs when a process loads it: each
/// `.cwasm` in the default cache hashed with SHA-256 as the loader does, against
/// reading it (the baseline; the load itself maps the file in about 2 ms).
fn cache_check() {
    let dir = codemode::default_cache_dir().expect("a cache directory").join("precompiled");
    println!("\n| cached guest (5 each, median) | size | read | read + SHA-256 | ratio |");
    println!("|---|---|---|---|---|");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|path| path.extension().is_some_and(|e| e == "cwasm"));
    files.sort();
    for path in files {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let read = median(sample_blocking(5, || drop(std::fs::read(&path).expect("readable"))));
        let hashed = median(sample_blocking(5, || {
            use sha2::Digest;
            let mut hasher = sha2::Sha256::new();
            std::io::copy(&mut std::fs::File::open(&path).expect("readable"), &mut hasher).expect("readable");
            std::hint::black_box(hasher.finalize());
        }));
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let ratio = hashed.as_secs_f64() / read.as_secs_f64().max(1e-9);
        println!("| {name} | {} MB | {} | {} | {ratio:.1}x |", size / 1_000_000, show(read), show(hashed));
    }
}

/// The session journal (transactional cells): what it adds to a warm `run`, with and
/// without host calls, and how long a rollback takes per journaled cell.
async fn journal_costs(sandbox: &Sandbox) {
    let tools = || {
        let mut tools = codemode::tools::ToolRegistry::default();
        tools.add_fn("echo", "Echo", Vec::new(), |_| async { Ok(serde_json::json!("ok")) }).expect("tool");
        tools
    };
    let session = |journal: codemode::session::JournalOptions| {
        Session::builder().sandbox(sandbox.clone()).tools(tools()).journal(journal).build()
    };
    let on = session(Default::default()).await.expect("session");
    let off = session(codemode::session::JournalOptions { max_bytes: 0, ..Default::default() }).await.expect("session");
    println!("\n| warm run ({JOURNAL_RUNS} each, median) | journal off | journal on | overhead | target |");
    println!("|---|---|---|---|---|");
    let workloads = [
        ("`x = 1`", "x = 1"),
        ("100 `time.time()` readings", "import time\nfor _ in range(100):\n    time.time()"),
        ("10 tool calls", "for _ in range(10):\n    tools.echo()"),
    ];
    for (name, code) in workloads {
        // Interleaved, so both see the same machine load.
        let (mut t_off, mut t_on) = (Vec::new(), Vec::new());
        for _ in 0..JOURNAL_RUNS {
            t_off.extend(sample(1, || async { assert!(off.run(code).await.expect("run").is_ok()) }).await);
            t_on.extend(sample(1, || async { assert!(on.run(code).await.expect("run").is_ok()) }).await);
        }
        let (t_off, t_on) = (median(t_off), median(t_on));
        let overhead = (t_on.as_secs_f64() / t_off.as_secs_f64() - 1.0) * 100.0;
        println!("| {name} | {} | {} | {overhead:+.1} % | < 10 % |", show(t_off), show(t_on));
    }

    println!("\n| rollback (replay of N journaled cells) | total | per cell |");
    println!("|---|---|---|");
    let stop = Limits { timeout: Duration::from_millis(20), ..Limits::default() };
    for cells in [10, 100] {
        let session = session(Default::default()).await.expect("session");
        for i in 0..cells {
            let code = if i % 10 == 0 { format!("x{i} = tools.echo()") } else { format!("x{i} = [{i}] * 100") };
            session.run(&code).await.expect("run");
        }
        let started = Instant::now();
        let result = session.run_with("while True: pass", &stop).await.expect("run");
        let replay = started.elapsed().saturating_sub(stop.timeout);
        assert_eq!(result.state, codemode::CellState::RolledBack, "{:?}", result.error);
        println!("| {cells} cells | {} | {} |", show(replay), show(replay / cells));
    }
}

/// Interrupts needed per workload: enough for a p99.
const INTERRUPTS: usize = 100;

/// From `Session::interrupt` to the interrupted run's result, for a busy loop and a
/// sleep (the run is 50 ms in when interrupted; the next run starts a fresh interpreter).
async fn interrupt_latency(sandbox: &Sandbox) {
    let session = std::sync::Arc::new(Session::builder().sandbox(sandbox.clone()).build().await.expect("session"));
    println!("\n| interrupt to result ({INTERRUPTS} each) | p50 | p99 | target |");
    println!("|---|---|---|---|");
    for (name, code) in [("busy loop", "while True:\n    pass"), ("time.sleep(30)", "import time\ntime.sleep(30)")] {
        let mut took = Vec::with_capacity(INTERRUPTS);
        for _ in 0..INTERRUPTS {
            let task = tokio::spawn({
                let session = session.clone();
                async move { session.run(code).await }
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            let asked = Instant::now();
            assert!(session.interrupt().await.expect("interrupt"), "the run had not started");
            let result = task.await.expect("task").expect("run");
            took.push(asked.elapsed());
            assert!(result.interrupted, "{:?}", result.error);
        }
        let (p50, p99) = (percentile(&mut took, 0.5), percentile(&mut took, 0.99));
        println!("| {name} | {} | {} | <= 50 ms |", show(p50), show(p99));
    }
}

struct Row {
    name: String,
    ours: Duration,
    baseline: Option<(String, Duration)>,
    target: String,
}

impl Row {
    fn new(name: &str, ours: Vec<Duration>, baseline_name: &str, baseline: Vec<Duration>, target: &str) -> Self {
        Row {
            name: name.to_owned(),
            ours: median(ours),
            baseline: Some((baseline_name.to_owned(), median(baseline))),
            target: target.to_owned(),
        }
    }

    /// A breakdown row, without a baseline of its own.
    fn alone(name: &str, ours: Vec<Duration>) -> Self {
        Row { name: name.to_owned(), ours: median(ours), baseline: None, target: String::new() }
    }

    fn print(&self) {
        match &self.baseline {
            Some((name, baseline)) => println!(
                "| {} | {} | {} | {} | {:.2}x | {} |",
                self.name,
                show(self.ours),
                name,
                show(*baseline),
                self.ours.as_secs_f64() / baseline.as_secs_f64(),
                self.target
            ),
            None => println!("| {} | {} | | | | |", self.name, show(self.ours)),
        }
    }
}

/// Sessions alive at once in [`under_load`].
const CONCURRENT: usize = 200;
/// Runs per session before its memory is read.
const RUNS: usize = 50;
/// Rounds of [`under_load`], to see whether closed sessions leave memory behind.
const ROUNDS: usize = 4;
/// New sessions timed one after another while the others are alive.
const TIMED_NEW: usize = 100;

/// A cell of the kind agents run: a few lists and dicts, a string built, a value.
const AGENT_CELL: &str =
    "rows = [{'id': i, 'name': f'row {i}'} for i in range(200)]\ntext = ','.join(r['name'] for r in rows)\nlen(text)";

/// A new session's time to its first result.
async fn first_result(sandbox: &Sandbox) -> (Duration, Session) {
    let asked = Instant::now();
    let session = Session::builder().sandbox(sandbox.clone()).build().await.expect("session");
    assert!(session.run("1 + 1").await.expect("run").is_ok());
    (asked.elapsed(), session)
}

/// Many sessions at once, in rounds: 200 created in one burst, private memory per
/// session idle and after 50 runs each, then new sessions one at a time while the
/// 200 are alive, and the process's private memory once every session is closed.
async fn under_load(sandbox: &Sandbox) {
    drop(first_result(sandbox).await); // the guest compiled or loaded, outside the figures
    let start = private_memory();
    let mut rows: [Vec<String>; 7] = Default::default();
    for _ in 0..ROUNDS {
        let before = private_memory();
        let burst: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let sandbox = sandbox.clone();
                tokio::spawn(async move { first_result(&sandbox).await })
            })
            .collect();
        let mut took = Vec::with_capacity(CONCURRENT);
        let mut sessions = Vec::with_capacity(CONCURRENT);
        for task in burst {
            let (elapsed, session) = task.await.expect("task");
            took.push(elapsed);
            sessions.push(session);
        }
        let idle = private_memory().saturating_sub(before) as f64 / CONCURRENT as f64;
        for session in &sessions {
            for _ in 0..RUNS {
                assert!(session.run(AGENT_CELL).await.expect("run").is_ok());
            }
        }
        let busy = private_memory().saturating_sub(before) as f64 / CONCURRENT as f64;
        let mut one_by_one = Vec::with_capacity(TIMED_NEW);
        for _ in 0..TIMED_NEW {
            let (elapsed, session) = first_result(sandbox).await;
            one_by_one.push(elapsed);
            session.close().await;
        }
        for session in sessions {
            session.close().await;
        }
        let mib = |bytes: f64| format!("{:.2} MiB", bytes / f64::from(1 << 20));
        rows[0].push(show(median(took.clone())));
        rows[1].push(show(percentile(&mut took, 0.99)));
        rows[2].push(show(median(one_by_one.clone())));
        rows[3].push(show(percentile(&mut one_by_one, 0.99)));
        rows[4].push(mib(idle));
        rows[5].push(mib(busy));
        rows[6].push(mib(private_memory().saturating_sub(start) as f64));
    }
    let labels = [
        (format!("burst of {CONCURRENT} new sessions to first result, p50"), ""),
        (format!("burst of {CONCURRENT}, p99 (two cores: queueing)"), ""),
        (format!("new session to first result with {CONCURRENT} alive, p50"), ""),
        (format!("new session to first result with {CONCURRENT} alive, p99"), "<= 5 ms"),
        ("private memory per session, idle".to_owned(), ""),
        (format!("private memory per session after {RUNS} runs"), ""),
        ("private memory kept once every session closed".to_owned(), "no growth"),
    ];
    let rounds: Vec<String> = (1..=ROUNDS).map(|r| format!("round {r}")).collect();
    println!("\n| sessions under load | {} | target |", rounds.join(" | "));
    println!("|---|{}---|", "---|".repeat(ROUNDS));
    for ((label, target), row) in labels.iter().zip(&rows) {
        println!("| {label} | {} | {target} |", row.join(" | "));
    }
}
