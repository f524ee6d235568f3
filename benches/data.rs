//! The data profile (numpy, pandas...), each figure next to a baseline measured in
//! the same run. The profile must be prepared (`codemode profile fetch data`).
//!
//!     cargo bench --bench data
//!
//! Baselines: a native `python3` process to its first result (the machine's python3
//! has no numpy), and, for what the snapshot saves, the first cell importing a
//! package the snapshot has not imported (`scipy.stats`). Memory is the private
//! (anonymous) memory this process gains per session that ran a numpy and pandas
//! cell.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod bench;

use std::process::Command;
use std::time::Instant;

use bench::{median, private_memory, python3, sample_blocking, show};

use codemode::{Profile, Session};

/// A first numpy and pandas cell, as an agent writes it.
const NUMPY_PANDAS: &str = "import numpy as np, pandas as pd\n\
    df = pd.DataFrame({'k': ['a', 'b', 'a', 'c'], 'v': np.arange(4) * 10})\n\
    df.groupby('k')['v'].sum().to_dict()";
/// Sessions sampled (each is a new interpreter of about 60 MiB of linear memory).
const SESSIONS: usize = 8;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(bench());
}

async fn session() -> Session {
    Session::builder().profile(Profile::Data).embeddings(false).build().await.expect("a data session")
}

async fn bench() {
    let cache = codemode::default_cache_dir().expect("a cache directory");
    assert!(codemode::sandbox::data::is_prepared(&cache).unwrap(), "run `codemode profile fetch data` first");
    let python = python3();
    eprintln!("warming up (loads the compiled profile)...");
    session().await.close().await;

    let (mut start, mut first_cell, mut other_import) = (Vec::new(), Vec::new(), Vec::new());
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
        let result = s.run("import scipy.stats").await.expect("run");
        other_import.push(started.elapsed());
        assert!(result.is_ok(), "{:?}", result.error);
    }
    for s in kept {
        s.close().await;
    }
    let native = sample_blocking(SESSIONS, || {
        let status = Command::new(&python).args(["-c", "import json; json.dumps([1])"]).status().expect("python3");
        assert!(status.success());
    });

    let (start, first_cell, other_import, native) =
        (median(start), median(first_cell), median(other_import), median(native));
    let ratio = |a: std::time::Duration| a.as_secs_f64() / native.as_secs_f64();
    println!("| measure | data profile | baseline | baseline time | ratio |");
    println!("|---|---|---|---|---|");
    println!(
        "| new data session to first `1` result | {} | native `python3 -c` process | {} | {:.2}x |",
        show(start),
        show(native),
        ratio(start)
    );
    println!(
        "| first numpy+pandas cell (pre-imported) | {} | first `import scipy.stats` cell (not pre-imported) | {} | {:.3}x |",
        show(first_cell),
        show(other_import),
        first_cell.as_secs_f64() / other_import.as_secs_f64()
    );
    println!("| private memory per session after that cell | {:.1} MiB | | | |", per_session as f64 / (1 << 20) as f64);
}
