//! The data profile (numpy, pandas...), each figure next to a baseline measured in
//! the same run. The profile must be prepared (`codemode profile fetch data`).
//!
//!     cargo bench --bench data
//!     cargo test --bench data -- compute   # only compute, on each engine setting
//!
//! Baselines: native python3 with numpy and pandas from PyPI, in a venv that
//! `scripts/native-data-venv.sh` makes once under the cache directory (pinned;
//! OpenBLAS single-threaded, as the guest has no threads). Compute is timed inside
//! each interpreter by the same loop (`time.perf_counter` around `exec`), so no
//! host round trip is counted; a ratio is wasm over native. Session start and the
//! first numpy+pandas cell are compared with a native process doing the same, and
//! with a first cell importing a package the snapshot has not imported
//! (`scipy.stats`). Memory is the private (anonymous) memory this process gains
//! per session that ran a numpy and pandas cell.
//!
//! `compute` runs the compute cases on the engine sessions use (epoch checks), on
//! one without epoch checks and on one that also counts fuel, interleaved, each
//! against native python3 and against the one without epoch checks. Each engine
//! needs the profile compiled for it: the first run compiles the two others
//! (minutes each, up to 2.6 GB of memory; cached beside the shipped one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod bench;

use std::process::Command;
use std::time::{Duration, Instant};

use bench::{median, native_times, private_memory, sample_blocking, show};

use codemode::sandbox::EngineVariant;
use codemode::{CompileEvent, Metering, Profile, Sandbox, Session};

/// A first numpy and pandas cell, as an agent writes it.
const NUMPY_PANDAS: &str = "import numpy as np, pandas as pd\n\
    df = pd.DataFrame({'k': ['a', 'b', 'a', 'c'], 'v': np.arange(4) * 10})\n\
    df.groupby('k')['v'].sum().to_dict()";
/// A first plot, as an agent makes one for an artifact.
const FIRST_PLOT: &str = "import io, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n\
    fig, ax = plt.subplots()\nax.plot([1, 2, 3], [1, 4, 9])\nbuf = io.BytesIO()\nfig.savefig(buf, format='png')\n\
    len(buf.getvalue())";
/// Sessions sampled (each is a new interpreter of about 60 MiB of linear memory).
const SESSIONS: usize = 8;
/// Timed runs of each compute case, in each interpreter.
const ROUNDS: usize = 7;
/// Interleaved repeats of each compute case on each engine in `compute`.
const REPEATS: usize = 11;

/// Before numpy loads natively: one OpenBLAS thread, and none of the variables
/// that pin an older kernel (this machine sets them on some processors).
const NATIVE_BLAS: &str = "import os\nos.environ['OPENBLAS_NUM_THREADS'] = '1'\n\
    os.environ.pop('OPENBLAS_CORETYPE', None)\nos.environ.pop('OPENBLAS_L2_SIZE', None)\n";

/// Compute cases: name, setup, timed code.
const CASES: [(&str, &str, &str); 5] = [
    ("matmul 200x200 f64", "import numpy as np\na = np.random.rand(200, 200)\nb = np.random.rand(200, 200)", "a @ b"),
    ("`np.sort` of 1e6 floats", "import numpy as np\nx = np.random.rand(1_000_000)", "np.sort(x).sum()"),
    (
        "pandas groupby-sum, 100k rows, 50 keys",
        "import numpy as np, pandas as pd\n\
         df = pd.DataFrame({'k': np.random.randint(0, 50, 100_000), 'v': np.random.rand(100_000)})",
        "df.groupby('k')['v'].sum()",
    ),
    ("pure Python: fib(25)", "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)", "fib(25)"),
    ("pure Python: 1e6-iteration loop", "", "s = 0\nfor i in range(1_000_000):\n    s += i"),
];

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if std::env::args().skip(1).any(|arg| arg == "compute") {
        runtime.block_on(compute_variants());
    } else {
        runtime.block_on(bench());
    }
}

async fn session() -> Session {
    session_on(Sandbox::shared()).await
}

async fn session_on(sandbox: Sandbox) -> Session {
    Session::builder().sandbox(sandbox).profile(Profile::Data).embeddings(false).build().await.expect("a data session")
}

/// The venv's python (made once by the project's script), its versions printed.
fn native_python() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/native-data-venv.sh");
    let out = Command::new("bash").arg(script).output().expect("bash runs");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    let python = String::from_utf8(out.stdout).expect("a path").trim().to_owned();
    let versions = Command::new(&python)
        .args(["-c", "import sys, numpy, pandas; print(sys.version.split()[0], numpy.__version__, pandas.__version__)"])
        .output()
        .expect("the venv's python runs");
    eprintln!("native baseline: python, numpy, pandas {}", String::from_utf8_lossy(&versions.stdout).trim());
    python
}

/// `code` timed `ROUNDS` times after `setup`, inside the session, by the loop
/// `native_times` runs natively.
async fn wasm_times(s: &Session, setup: &str, code: &str) -> Vec<Duration> {
    set_up(s, setup, code).await;
    timed(s, ROUNDS).await
}

/// Runs `setup` in a namespace of its own in the session and compiles `code` for [`timed`].
async fn set_up(s: &Session, setup: &str, code: &str) {
    let cell =
        format!("import time as _time\n_g = {{}}\nexec({setup:?}, _g)\n_c = compile({code:?}, '<bench>', 'exec')");
    let result = s.run(&cell).await.expect("run");
    assert!(result.is_ok(), "{:?}", result.error);
}

/// The code [`set_up`] compiled, timed `rounds` times inside the session.
async fn timed(s: &Session, rounds: usize) -> Vec<Duration> {
    let cell = format!(
        "_out = []\nfor _ in range({rounds}):\n    _t = _time.perf_counter()\n    exec(_c, _g)\n    \
         _out.append(_time.perf_counter() - _t)\n_out"
    );
    let result = s.run(&cell).await.expect("run");
    assert!(result.is_ok(), "{:?}", result.error);
    let secs: Vec<f64> = serde_json::from_value(result.value.and_then(|v| v.json).expect("a JSON list")).unwrap();
    secs.into_iter().map(Duration::from_secs_f64).collect()
}

/// Each compute case on each engine the data profile could use, interleaved (a busy
/// spell of a shared machine slows every engine alike), against native python3 in
/// the same run and against the engine without epoch checks.
async fn compute_variants() {
    let cache = codemode::default_cache_dir().expect("a cache directory");
    assert!(codemode::sandbox::data::is_prepared(&cache).unwrap(), "run `codemode profile fetch data` first");
    let python = native_python();
    let engines = [
        ("epoch checks (sessions)", EngineVariant::Standard, Metering::Off),
        ("no epoch checks", EngineVariant::NoEpochChecks, Metering::Off),
        ("epoch checks + fuel", EngineVariant::Standard, Metering::Fuel),
    ];
    let mut sessions = Vec::new();
    for (name, variant, metering) in engines {
        eprintln!("{name}: loading (the first run compiles the profile for this engine)...");
        let sandbox = Sandbox::builder()
            .engine_variant(variant)
            .data_metering(metering)
            .on_compile(move |event| match event {
                CompileEvent::DataStarted => eprintln!("  {name}: compiling (minutes, up to 2.6 GB of memory)..."),
                CompileEvent::DataFinished { elapsed } => eprintln!("  {name}: compiled in {}", show(elapsed)),
                _ => {}
            })
            .build();
        sessions.push(session_on(sandbox).await);
    }
    let no_epoch = 1;
    println!("| case | native python3 | {} |", engines.iter().map(|(name, ..)| *name).collect::<Vec<_>>().join(" | "));
    println!("|---|---|{}", "---|".repeat(engines.len()));
    for (case, setup, code) in CASES {
        for s in &sessions {
            set_up(s, setup, code).await;
        }
        let mut times = vec![Vec::new(); sessions.len()];
        for _ in 0..REPEATS {
            for (s, times) in sessions.iter().zip(&mut times) {
                times.extend(timed(s, 1).await);
            }
        }
        let native = median(native_times(&python, &format!("{NATIVE_BLAS}{setup}"), code, REPEATS));
        let p50: Vec<Duration> = times.into_iter().map(median).collect();
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        let cells: Vec<String> = p50
            .iter()
            .map(|&t| format!("{} ({:.1}x; {:.2}x)", show(t), ratio(t, native), ratio(t, p50[no_epoch])))
            .collect();
        println!("| {case} | {} | {} |", show(native), cells.join(" | "));
    }
    println!("\n(p50 of {REPEATS}; in brackets: against native python3; against no epoch checks)");
    for s in sessions {
        s.close().await;
    }
}

async fn bench() {
    let cache = codemode::default_cache_dir().expect("a cache directory");
    assert!(codemode::sandbox::data::is_prepared(&cache).unwrap(), "run `codemode profile fetch data` first");
    let python = native_python();
    eprintln!("warming up (loads the compiled profile)...");
    session().await.close().await;

    let (mut start, mut first_cell, mut first_plot, mut other_import) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let before = private_memory();
    let mut kept = Vec::new();
    for _ in 0..SESSIONS {
        let started = Instant::now();
        let s = session().await;
        assert!(s.run("1").await.expect("run").is_ok());
        start.push(started.elapsed());
        let started = Instant::now();
        let result = s.run(NUMPY_PANDAS).await.expect("run");
        first_cell.push(started.elapsed());
        assert!(result.is_ok(), "{:?}", result.error);
        kept.push(s);
    }
    let per_session = private_memory().saturating_sub(before) / SESSIONS as u64;
    for s in &kept {
        let started = Instant::now();
        let result = s.run(FIRST_PLOT).await.expect("run");
        first_plot.push(started.elapsed());
        assert!(result.is_ok(), "{:?}", result.error);
        let started = Instant::now();
        let result = s.run("import scipy.stats").await.expect("run");
        other_import.push(started.elapsed());
        assert!(result.is_ok(), "{:?}", result.error);
    }
    let compute = kept.pop().expect("a session");
    for s in kept {
        s.close().await;
    }
    // matplotlib's font cache goes here, not under the user's home (built by the first sample).
    let mpl_config = tempfile::tempdir().expect("a temporary directory");
    let native_process = |code: &'static str| {
        let (python, mpl_config) = (python.clone(), mpl_config.path().to_owned());
        move || {
            let status = Command::new(&python)
                .args(["-c", code])
                .env("MPLCONFIGDIR", &mpl_config)
                .status()
                .expect("python runs");
            assert!(status.success());
        }
    };
    let native_start = median(sample_blocking(SESSIONS, native_process("1")));
    let native_first = median(sample_blocking(SESSIONS, native_process(NUMPY_PANDAS)));
    let native_plot = median(sample_blocking(SESSIONS, native_process(FIRST_PLOT)));

    println!("| measure | data profile | native python3 (same run) | ratio |");
    println!("|---|---|---|---|");
    let row = |what: &str, wasm: Duration, native: Duration| {
        println!("| {what} | {} | {} | {:.1}x |", show(wasm), show(native), wasm.as_secs_f64() / native.as_secs_f64());
    };
    let (start, first_cell) = (median(start), median(first_cell));
    row("new session to a first `1` result (native: a `python3 -c 1` process)", start, native_start);
    row(
        "new session, then the first numpy+pandas groupby cell (native: one process doing both)",
        start + first_cell,
        native_first,
    );
    row(
        "first matplotlib plot cell, PNG to bytes (native: a process doing it, interpreter start included)",
        median(first_plot),
        native_plot,
    );
    for (name, setup, code) in CASES {
        let wasm = median(wasm_times(&compute, setup, code).await);
        let native = median(native_times(&python, &format!("{NATIVE_BLAS}{setup}"), code, ROUNDS));
        row(name, wasm, native);
    }
    compute.close().await;
    println!();
    println!(
        "first numpy+pandas cell (pre-imported): {}; a first `import scipy.stats` cell (not pre-imported): {}",
        show(first_cell),
        show(median(other_import))
    );
    println!("private memory per session after that cell: {:.1} MiB", per_session as f64 / (1 << 20) as f64);
}
