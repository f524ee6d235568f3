//! Storage through the sandbox, on both backends, next to the in-process path.
//!
//!     cargo bench --bench storage            # everything
//!     cargo bench --bench storage -- writes  # only the 1 KiB writes (a minute)
//!     cargo bench --bench storage -- concurrent  # only 8 concurrent writers on a directory
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it); the bench starts its
//! own on a free loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "common/mod.rs"]
mod bench;

use std::sync::Arc;
use std::time::Duration;

use bench::{median, sample, show};

use codemode::Sandbox;
use codemode::Session;
use codemode::artifacts::{Artifacts, DEFAULT_MAX_ARTIFACT_SIZE, DataKind};
use codemode::skills::SkillLibrary;
use codemode::storage::{FileStorage, RedisStorage, Storage, StoredSkill};

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let redis = common::RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let only = |mode: &str| std::env::args().any(|a| a == mode);
    if !only("writes") {
        concurrent(dir.path()).await;
        if only("concurrent") {
            return;
        }
    }
    writes(&redis, dir.path()).await;
    if only("writes") {
        return;
    }
    let backends: Vec<(&str, Arc<dyn Storage>)> = vec![
        ("file", Arc::new(FileStorage::open(&dir.path().join("file")).await.expect("file storage"))),
        (
            "redis",
            Arc::new(RedisStorage::connect(&redis.url(), "bench", dir.path().join("pkgs")).await.expect("redis")),
        ),
    ];

    println!("| measurement | backend | through the sandbox p50 | in-process Rust API p50 | ratio |");
    println!("|---|---|---|---|---|");
    for (backend, storage) in &backends {
        let session = Session::builder().storage(storage.clone()).build().await.expect("session");
        let artifacts = Artifacts::new(storage.clone(), DEFAULT_MAX_ARTIFACT_SIZE);
        for (label, size, repeats) in [("1 KiB", 1usize << 10, 200), ("10 MiB", 10 << 20, 10)] {
            session.run(&format!("payload = b'x' * {size}")).await.expect("run");
            let sandboxed = sample(repeats, || async {
                let r = session.run("artifacts.save('bench.bin', payload)\nlen(artifacts.load('bench.bin'))").await;
                assert!(r.expect("run").is_ok());
            })
            .await;
            let payload = vec![b'x'; size];
            let native = sample(repeats, || async {
                artifacts
                    .save("bench.bin", payload.clone(), DataKind::Bytes, "", Default::default())
                    .await
                    .expect("save");
                artifacts.load("bench.bin").await.expect("load");
            })
            .await;
            row(&format!("artifact save + load, {label}"), backend, sandboxed, native);
        }
    }

    // Listing 10k skills: Redis against the directory backend.
    let skill_dir = tempfile::tempdir().expect("tempdir");
    let file = FileStorage::open(skill_dir.path()).await.expect("file storage");
    let redis_skills = RedisStorage::connect(&redis.url(), "skills", dir.path().join("pkgs2")).await.expect("redis");
    for i in 0..10_000 {
        let skill = StoredSkill {
            name: codemode::names::SkillName::new(&format!("skill_{i}")).expect("name"),
            description: format!("Skill number {i}: fetches, parses and summarises things"),
            source: format!("def run(x: int = {i}) -> int:\n    return x * 2\n"),
            created_at: String::new(),
            signature: None,
            scope: None,
            version: 1,
            examples: Vec::new(),
            verification: None,
        };
        redis_skills.save_skill(&skill).await.expect("save");
        file.save_skill(&skill).await.expect("save");
    }
    let on_redis = sample(20, || async {
        assert_eq!(redis_skills.list_skills().await.expect("list").len(), 10_000);
    })
    .await;
    let on_file = sample(5, || async {
        assert_eq!(file.list_skills().await.expect("list").len(), 10_000);
    })
    .await;
    println!("\n| measurement | Redis p50 | directory p50 |");
    println!("|---|---|---|");
    println!("| list 10,000 skills (with sources) | {} | {} |", show(median(on_redis)), show(median(on_file)));
}

fn row(name: &str, backend: &str, ours: Vec<Duration>, baseline: Vec<Duration>) {
    let (ours, baseline) = (median(ours), median(baseline));
    println!(
        "| {name} | {backend} | {} | {} | {:.2}x |",
        show(ours),
        show(baseline),
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}

/// `skills.create` and `artifacts.save` of 1 KiB, warm, through agent code and the
/// Rust API on both backends, each row against a plain 1 KiB write + fsync measured
/// right after it (the cost of one durable write on this machine's disk, which
/// drifts within a run).
async fn writes(redis: &common::RedisServer, dir: &std::path::Path) {
    const REPEATS: usize = 60;
    let plain = dir.join("plain.bin");
    println!("| 1 KiB write, warm | backend | p50 | plain write + fsync p50, just after | ratio |");
    println!("|---|---|---|---|---|");
    let backends: Vec<(&str, Arc<dyn Storage>)> = vec![
        ("file", Arc::new(FileStorage::open(&dir.join("writes")).await.expect("file storage"))),
        ("redis", Arc::new(RedisStorage::connect(&redis.url(), "writes", dir.join("wpkgs")).await.expect("redis"))),
    ];
    // A 1 KiB skill; each create stores a new one (a new name and source), as agents do.
    let padding = "# ".to_owned() + &"x".repeat(60) + "\n";
    let body =
        format!("def run(n: int = 1) -> int:\n    \"\"\"Doubles n.\"\"\"\n    return n * 2\n{}", padding.repeat(15));
    let skill_source = |i: usize| format!("{body}# {i:06}\n");
    assert!((1000..1100).contains(&skill_source(0).len()), "{}", skill_source(0).len());
    for (backend, storage) in &backends {
        let session = Session::builder().storage(storage.clone()).build().await.expect("session");
        session.run(&format!("payload = b'x' * 1024\nbody = {body:?}")).await.expect("run");
        let artifacts = Artifacts::new(storage.clone(), DEFAULT_MAX_ARTIFACT_SIZE);
        let library = SkillLibrary::new(storage.clone(), Sandbox::shared());
        let payload = vec![b'x'; 1024];
        // Warm: the first of each pays for start-up (the inspector's instance).
        let mut n = 0;
        let timed = |label: &str, samples: Vec<Duration>| {
            let p50 = median(samples);
            let baseline = median(bench::sample_blocking(REPEATS, || bench::plain_durable_write(&plain)));
            let ratio = p50.as_secs_f64() / baseline.as_secs_f64();
            println!("| {label} | {backend} | {} | {} | {ratio:.2}x |", show(p50), show(baseline));
        };
        let guest_save = sample(REPEATS, || async {
            let r = session.run("artifacts.save('w.bin', payload)").await.expect("run");
            assert!(r.is_ok(), "{:?}", r.error);
        })
        .await;
        timed("`artifacts.save` from agent code", guest_save);
        let rust_save = sample(REPEATS, || async {
            artifacts.save("w.bin", payload.clone(), DataKind::Bytes, "", Default::default()).await.expect("save");
        })
        .await;
        timed("`Artifacts::save` (Rust)", rust_save);
        let guest_create = sample(REPEATS, || {
            n += 1;
            let code = format!("skills.create('w{n}', body + '# {n:06}\\n')");
            let session = &session;
            async move {
                let r = session.run(&code).await.expect("run");
                assert!(r.is_ok(), "{:?}", r.error);
            }
        })
        .await;
        timed("`skills.create` from agent code", guest_create);
        let rust_create = sample(REPEATS, || {
            n += 1;
            let (name, source) = (format!("r{n}"), skill_source(n));
            let library = &library;
            async move {
                library.create(&name, &source, None).await.expect("create");
            }
        })
        .await;
        timed("`SkillLibrary::create` (Rust)", rust_create);
    }
    println!();
}

/// Eight tasks writing 1 KiB skills and artifacts at once to one directory store
/// through the Rust API: through one handle (its writers commit in groups, sharing
/// log fsyncs) against a handle each (each handle's queue its own: every write
/// takes the store's lock and fsyncs alone, as before group commit and as eight
/// processes would), in turns, three rounds after one not shown (the first round
/// ran slower in either mode: threads and files being set up).
async fn concurrent(dir: &std::path::Path) {
    const WRITERS: usize = 8;
    const EACH: usize = 30;
    println!("| {WRITERS} concurrent writers, 1 KiB skills + artifacts, directory | writes/s | log fsyncs per write |");
    println!("|---|---|---|");
    let mut round = 0;
    for shown in [false, true, true, true] {
        for shared in [true, false] {
            round += 1;
            let base = dir.join(format!("concurrent{round}"));
            let one = FileStorage::open(&base).await.expect("file storage");
            let mut handles = Vec::new();
            for _ in 0..WRITERS {
                handles.push(if shared { one.clone() } else { FileStorage::open(&base).await.expect("file storage") });
            }
            let start = std::time::Instant::now();
            let tasks: Vec<_> = handles
                .iter()
                .enumerate()
                .map(|(w, storage)| {
                    let storage = storage.clone();
                    tokio::spawn(async move {
                        let artifacts = Artifacts::new(Arc::new(storage.clone()), DEFAULT_MAX_ARTIFACT_SIZE);
                        for i in 0..EACH {
                            let name = codemode::names::SkillName::new(&format!("w{w}_{i}")).expect("name");
                            let source = format!("def run():\n    return {i}\n# {}\n", "x".repeat(1000));
                            let skill = StoredSkill::new(name, source);
                            storage.save_skill(&skill).await.expect("save");
                            let data = vec![b'x'; 1024];
                            artifacts
                                .save(&format!("w{w}_{i}.bin"), data, DataKind::Bytes, "", Default::default())
                                .await
                                .expect("save");
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("writer");
            }
            let elapsed = start.elapsed();
            let writes = (WRITERS * EACH * 2) as f64;
            let syncs: u64 = if shared { one.log_syncs() } else { handles.iter().map(FileStorage::log_syncs).sum() };
            let label = if shared { "one handle (group commit)" } else { "a handle each (one fsync per write)" };
            if !shown {
                continue;
            }
            println!("| {label} | {:.0} | {:.2} |", writes / elapsed.as_secs_f64(), syncs as f64 / writes);
        }
    }
    let plain = dir.join("plain.bin");
    let baseline = median(bench::sample_blocking(60, || bench::plain_durable_write(&plain)));
    println!("\nplain 1 KiB write + fsync p50, just after: {}\n", show(baseline));
}
