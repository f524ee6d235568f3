//! Skill search: the model's throughput, search latency at 1k and 10k skills (query
//! embedding included), a new session's first search over 1,000 stored skills, and
//! the first search over 200 skills that have no vectors yet.
//!
//!     scripts/fetch-model.sh && cargo bench --bench skills
//!     cargo bench --bench skills -- unindexed    # only the unindexed directory (half a minute)
//!     cargo bench --bench skills -- quality      # only the recall@1 table (a minute)
//!
//! Populating 10k skills embeds 10k descriptions once (a few minutes on two cores);
//! the sources are shared, so their vectors are computed once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "common/mod.rs"]
mod bench;

use std::sync::Arc;
use std::time::Instant;

use bench::{median, sample, show};

use codemode::skills::{SearchMode, SkillLibrary, shared_embedder};
use codemode::storage::{FileStorage, RedisStorage, Storage};
use codemode::{Sandbox, Session};
use common::quality::Sources;

const TOPICS: &[&str] = &[
    "fetch the star count of a repository",
    "resize an image to a thumbnail",
    "parse a CSV export and average its columns",
    "send a message to a chat channel",
    "look up the weather forecast for a city",
    "compute a checksum of a file",
    "list the running containers",
    "translate a paragraph into another language",
    "summarise a long article into bullet points",
    "convert money between currencies",
];

const SOURCE: &str = "def run(**kwargs) -> dict:\n    return kwargs\n";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let model = shared_embedder().expect("the model is installed: run scripts/fetch-model.sh");
    if std::env::args().skip(1).any(|arg| arg == "unindexed") {
        unindexed().await;
        return;
    }
    if std::env::args().skip(1).any(|arg| arg == "quality") {
        quality().await;
        return;
    }
    let sentence = "Count the words in a text and return the most common ones";
    let single = sample(50, || async {
        model.embed(&[sentence]).expect("embed");
    })
    .await;
    let batch: Vec<String> = (0..32).map(|i| format!("{sentence} (variant {i})")).collect();
    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
    let batched = sample(5, || async {
        model.embed(&refs).expect("embed");
    })
    .await;
    println!("| measurement | p50 | throughput |");
    println!("|---|---|---|");
    let single = median(single);
    let batched = median(batched);
    println!("| embed one text | {} | {:.0} texts/s |", show(single), 1.0 / single.as_secs_f64());
    println!("| embed a batch of 32 | {} | {:.0} texts/s |", show(batched), 32.0 / batched.as_secs_f64());

    let redis = common::RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    println!("\n| skills | backend | search p50 (query embedded each time) | search p50 (query cached) | target |");
    println!("|---|---|---|---|---|");
    for (count, backend) in [(1_000usize, "file"), (1_000, "redis"), (10_000, "redis")] {
        let storage: Arc<dyn Storage> = match backend {
            "file" => Arc::new(FileStorage::open(&dir.path().join(format!("f{count}"))).await.expect("dir")),
            _ => Arc::new(
                RedisStorage::connect(&redis.url(), &format!("s{count}"), dir.path().join("p")).await.expect("redis"),
            ),
        };
        {
            let library = populate(storage, count).await;
            let mut n = 0;
            let fresh = sample(20, || {
                n += 1;
                let query = format!("which skill can resize images, take {n}");
                let library = library.clone();
                async move {
                    let results = library.search(&query, 5).await.expect("search");
                    assert_eq!(results.mode, SearchMode::Semantic);
                }
            })
            .await;
            let cached = sample(20, || async {
                library.search("which skill can resize images", 5).await.expect("search");
            })
            .await;
            let target = if count == 10_000 { "<= 25 ms" } else { "" };
            println!("| {count} | {backend} | {} | {} | {target} |", show(median(fresh)), show(median(cached)));
        }
    }

    // A new session (a new process would build one) and its first search over 1,000
    // stored skills whose vectors are already in the store: nothing is re-embedded.
    let base = dir.path().join("f1000");
    let before = model.texts_embedded();
    let startup = sample(5, || async {
        let session = Session::builder().base_dir(&base).build().await.expect("session");
        let r = session.run("skills.search('make a picture smaller', limit=3)[0]['name']").await.expect("run");
        assert!(r.is_ok(), "{:?}", r.error);
    })
    .await;
    let embedded = model.texts_embedded() - before;
    println!("\n| measurement | p50 | texts embedded | target |");
    println!("|---|---|---|---|");
    println!(
        "| new session + first `skills.search` over 1,000 skills (directory) | {} | {embedded} (one query per session) | <= 200 ms |",
        show(median(startup))
    );
    unindexed().await;
    quality().await;
}

/// Recall@1 on the quality benchmarks (tests/common/quality.rs), the hybrid ranking
/// against keywords alone, with docstring-only skills and with realistic bodies.
async fn quality() {
    let corpus = common::quality::corpus();
    let names = corpus.names();
    println!("\n| benchmark | skills' sources | keywords (BM25) | hybrid (model + unread words) |");
    println!("|---|---|---|---|");
    for sources in [Sources::Docstrings, Sources::Bodies] {
        let (_dir, hybrid) = corpus.library(sources, false).await;
        let (_dir, keywords) = corpus.library(sources, true).await;
        for (benchmark, queries) in
            [("paraphrases", &corpus.paraphrases), ("identifiers", &corpus.identifiers), ("exact names", &names)]
        {
            let (by_keywords, _) = common::quality::recall_at_1(&keywords, queries).await;
            let (found, _) = common::quality::recall_at_1(&hybrid, queries).await;
            let n = queries.len();
            println!("| {benchmark} | {sources:?} | {by_keywords}/{n} | {found}/{n} |");
        }
    }
}

/// A py-code-mode skills directory moved over unchanged: 200 skills, no vectors. A
/// new session's first search from agent code, against the same search once every
/// vector is in the store; then how long the background indexer takes to get there.
async fn unindexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.expect("dir"));
    let writer = SkillLibrary::new(storage, Sandbox::shared()).without_embeddings();
    for i in 0..200 {
        // Each source differs, as a real library's do: 400 texts to embed.
        let description = format!("{} (number {i})", TOPICS[i % TOPICS.len()]);
        let source = format!("def run(**kwargs) -> dict:\n    \"\"\"{description}.\"\"\"\n    return kwargs\n");
        writer.create(&format!("skill_{i}"), &source, Some(&description)).await.expect("create");
    }
    let search = "r = skills.search('make a picture smaller', limit=3)\n[m['name'] for m in r]";
    let session = Session::builder().base_dir(dir.path()).build().await.expect("session");
    let started = Instant::now();
    let first = session.run(search).await.expect("run");
    let first_took = started.elapsed();
    assert!(first.is_ok() && first.stderr.contains("being indexed"), "{:?} {}", first.error, first.stderr);
    let library = session.skills().expect("skills");
    while library.search("make a picture smaller", 3).await.expect("search").mode != SearchMode::Semantic {
        assert!(started.elapsed().as_secs() < 600, "the background index never finished");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let indexed = started.elapsed();
    let fresh = Session::builder().base_dir(dir.path()).build().await.expect("session");
    let started = Instant::now();
    assert!(fresh.run(search).await.expect("run").is_ok());
    let warm = started.elapsed();
    println!("\n| 200 skills without vectors (a py-code-mode directory) | time | target |");
    println!("|---|---|---|");
    println!(
        "| new session + first `skills.search` (partial: keywords for unindexed skills) | {} | <= 1 s |",
        show(first_took)
    );
    println!("| until every skill is ranked semantically (background indexer, 400 texts) | {} | |", show(indexed));
    println!("| new session + first `skills.search` once indexed (the baseline) | {} | |", show(warm));
}

/// Stores `count` skills, then embeds them all once, in batches (as the first search
/// over a folder of py-code-mode skills would), outside the timed part.
async fn populate(storage: Arc<dyn Storage>, count: usize) -> SkillLibrary {
    let writer = SkillLibrary::new(storage.clone(), Sandbox::shared()).without_embeddings();
    let started = Instant::now();
    for i in 0..count {
        let description = format!("{} (number {i})", TOPICS[i % TOPICS.len()]);
        writer.create(&format!("skill_{i}"), SOURCE, Some(&description)).await.expect("create");
    }
    let library = SkillLibrary::new(storage, Sandbox::shared());
    library.index(|_, _| {}).await.expect("index");
    eprintln!("populated and embedded {count} skills in {:.1} s", started.elapsed().as_secs_f64());
    library
}
