//! Durable sessions (issue 13): what storing the journal costs a warm `run`, and
//! the time another process on the same storage takes to resume a 100-cell session
//! (a fresh connection, as a second `codemode serve` has), on both backends.
//!
//!     cargo test --bench durable
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it); the bench starts its
//! own on a free loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "common/mod.rs"]
mod bench;

use std::sync::Arc;
use std::time::Instant;

use bench::{median, sample, show};

use codemode::Session;
use codemode::names::SessionId;
use codemode::storage::{FileStorage, RedisStorage, Storage};

/// Cells in the resumed session.
const CELLS: usize = 100;

/// Rounds of 40 warm runs of each kind, interleaved.
const ROUNDS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let redis = common::RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    let open = |backend: &'static str| {
        let (url, file, packages) = (redis.url(), file.clone(), dir.path().join("pkgs"));
        async move {
            match backend {
                "file" => Arc::new(FileStorage::open(&file).await.expect("file")) as Arc<dyn Storage>,
                _ => Arc::new(RedisStorage::connect(&url, "bench", packages).await.expect("redis")) as Arc<dyn Storage>,
            }
        }
    };
    println!(
        "| backend | warm `run`, in memory p50 | warm `run`, durable p50 | one durable write p50 | \
         durable minus in memory, against one durable write | resume of a {CELLS}-cell session p50 |"
    );
    println!("|---|---|---|---|---|---|");
    for backend in ["file", "redis"] {
        let storage = open(backend).await;
        let plain = Session::builder().storage(storage.clone()).build().await.expect("session");
        let id = SessionId::new(&format!("bench-{backend}")).unwrap();
        let durable = Session::builder().storage(storage.clone()).durable(id.clone(), None).build().await.unwrap();
        let cell = "x = sum(range(100))";
        // The least a stored cell can cost: one write the storage makes durable
        // (a file created, written and fsynced; a Redis SET under `appendfsync
        // always`), timed in turn with the runs, since this VM's fsync changes speed
        // for minutes at a time.
        let baseline_file = dir.path().join("baseline");
        let mut redis_conn = match backend {
            "redis" => {
                let client = redis::Client::open(redis.url()).expect("redis client");
                Some(client.get_multiplexed_async_connection().await.expect("redis connection"))
            }
            _ => None,
        };
        let (mut in_memory, mut stored, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
        for session in [&plain, &durable] {
            session.run(cell).await.unwrap();
        }
        for _ in 0..ROUNDS {
            in_memory.extend(sample(40, || async { assert!(plain.run(cell).await.unwrap().is_ok()) }).await);
            stored.extend(sample(40, || async { assert!(durable.run(cell).await.unwrap().is_ok()) }).await);
            baseline.extend(match redis_conn.as_mut() {
                Some(conn) => {
                    let mut times = Vec::new();
                    for _ in 0..40 {
                        let started = Instant::now();
                        redis::cmd("SET").arg("bench:baseline").arg(&[b'x'; 128][..]).exec_async(conn).await.unwrap();
                        times.push(started.elapsed());
                    }
                    times
                }
                None => bench::sample_blocking(40, || bench::plain_durable_write(&baseline_file)),
            });
        }
        durable.forget().await;
        let warm = [median(in_memory), median(stored)];
        let write = median(baseline);
        let overhead = warm[1].saturating_sub(warm[0]).as_secs_f64() / write.as_secs_f64();
        // A session of CELLS cells, each reading the clock and the random source
        // (journaled values the replay answers with).
        let session = Session::builder().storage(storage.clone()).durable(id.clone(), None).build().await.unwrap();
        session.run("import time, random\nxs = []").await.unwrap();
        for n in 1..CELLS {
            let r = session.run(&format!("xs.append(({n}, time.time(), random.random()))")).await.unwrap();
            assert!(r.is_ok());
        }
        session.close().await;
        let mut resumes = Vec::new();
        for _ in 0..5 {
            // A fresh connection, as another server has.
            let other = open(backend).await;
            let started = Instant::now();
            let resumed = Session::builder().storage(other).resume(id.clone(), None).build().await.unwrap();
            resumes.push(started.elapsed());
            assert_eq!(resumed.run("len(xs)").await.unwrap().value.unwrap().json, Some((CELLS - 1).into()));
            resumed.close().await;
        }
        println!(
            "| {backend} | {} | {} | {} | {overhead:.2}x | {} |",
            show(warm[0]),
            show(warm[1]),
            show(write),
            show(median(resumes))
        );
    }
}
