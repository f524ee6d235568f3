//! Semantic skill search with the real model (fetched by scripts/fetch-model.sh,
//! which scripts/test.sh runs first): parity with sentence-transformers, ranking
//! quality on a corpus written for this, and embeddings computed once per store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use codemode::Sandbox;
use codemode::skills::{Embedder, SearchMode, SkillLibrary, model_dir};
use codemode::storage::{FileStorage, Storage};
use common::quality::{self, Sources};

mod common;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Model-using tests share one process-wide model; they take turns so the
/// "embedded nothing" counts are exact.
static MODEL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn embedder() -> Embedder {
    let dir = model_dir().expect("a cache directory");
    assert!(dir.join("model.safetensors").is_file(), "no model in {}: run scripts/fetch-model.sh", dir.display());
    Embedder::load(&dir).expect("the model loads")
}

#[test]
fn embeddings_match_sentence_transformers() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/minilm_reference.json")).unwrap()).unwrap();
    let texts: Vec<&str> = reference["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let expected: Vec<Vec<f32>> = serde_json::from_value(reference["vectors"].clone()).unwrap();
    let model = embedder();
    // As one padded batch and one by one: padding must not change a vector.
    let batched = model.embed(&texts).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let single = model.embed(&[text]).unwrap().remove(0);
        for actual in [&batched[i], &single] {
            assert_eq!(actual.len(), 384);
            let cosine: f32 = actual.iter().zip(&expected[i]).map(|(a, b)| a * b).sum();
            let max_diff = actual.iter().zip(&expected[i]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(cosine > 1.0 - 1e-5, "{text:?}: cosine {cosine}");
            assert!(max_diff < 1e-5, "{text:?}: max abs diff {max_diff}");
        }
    }
}

fn skill_source(description: &str) -> String {
    format!("def run(**kwargs) -> dict:\n    \"\"\"{description}\"\"\"\n    return kwargs\n")
}

/// Recall@1 of the model's ranking against keywords alone on every benchmark of
/// tests/common/quality.rs (`cargo bench --bench skills -- quality` prints the table).
/// Before keywords joined the model's ranking, the model alone found 32/32
/// paraphrases, 64/64 names and 18/20 identifiers (at 04c4db0, with bodies); the
/// hybrid must keep every paraphrase and name and find what only keywords found.
#[tokio::test(flavor = "multi_thread")]
async fn hybrid_search_keeps_paraphrases_and_reads_identifiers() {
    let _turn = MODEL.lock().await;
    let corpus = quality::corpus();
    let names = corpus.names();
    for sources in [Sources::Docstrings, Sources::Bodies] {
        let (_dir, hybrid) = corpus.library(sources, false).await;
        let (_dir, keywords) = corpus.library(sources, true).await;
        for (benchmark, queries) in
            [("paraphrases", &corpus.paraphrases), ("identifiers", &corpus.identifiers), ("names", &names)]
        {
            let (found, misses) = quality::recall_at_1(&hybrid, queries).await;
            let (by_keywords, _) = quality::recall_at_1(&keywords, queries).await;
            eprintln!(
                "{sources:?} {benchmark}: hybrid {found}/{}, keywords {by_keywords}; misses {misses:?}",
                queries.len()
            );
            assert!(found >= by_keywords, "{sources:?} {benchmark}: {found} < keywords' {by_keywords}: {misses:#?}");
            let floor = match (sources, benchmark) {
                // Docstrings hold none of the identifiers: only the model can guess.
                (Sources::Docstrings, "identifiers") => 16,
                _ => queries.len(),
            };
            assert!(found >= floor, "{sources:?} {benchmark}: {found}/{} < {floor}: {misses:#?}", queries.len());
        }
    }
    // Keywords alone still find every exact name.
    let (_dir, keywords) = corpus.library(Sources::Docstrings, true).await;
    let (found, misses) = quality::recall_at_1(&keywords, &names).await;
    assert_eq!(found, names.len(), "{misses:#?}");
    assert_eq!(keywords.search("zzzz qqqq", 5).await.unwrap().mode, SearchMode::Keyword);
    assert!(keywords.search("zzzz qqqq", 5).await.unwrap().matches.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_embeds_nothing_but_the_query() {
    let _turn = MODEL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.unwrap());
    let library = SkillLibrary::new(storage.clone(), Sandbox::shared());
    let model = codemode::skills::shared_embedder().expect("the model is installed");
    let before = model.texts_embedded();
    for i in 0..200 {
        let source = skill_source(&format!("Task number {i}: transforms records of kind {}", i % 17));
        library.create(&format!("task_{i}"), &source, None).await.unwrap();
    }
    assert_eq!(model.texts_embedded(), before, "creating a skill embeds nothing");
    // The first search does not wait for 400 texts: it embeds its query, ranks the
    // skills by keywords and hands their texts to the background indexer.
    let first = library.search("task_7", 3).await.unwrap();
    assert_eq!(first.mode, SearchMode::Partial);
    assert!(first.notice.as_deref().unwrap().contains("200 of 200 skills"), "{first:?}");
    assert_eq!(first.matches[0].info.name, "task_7", "a named skill is found by keywords meanwhile");
    // Then semantic ranking follows, each text embedded once (bounded wait).
    let started = std::time::Instant::now();
    while library.search("records of kind 5", 5).await.unwrap().mode != SearchMode::Semantic {
        assert!(started.elapsed() < std::time::Duration::from_secs(600), "the background index never finished");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(model.texts_embedded() - before, 402, "200 skills' two texts and two queries");
    let before = model.texts_embedded();
    // A new process would build a new library over the same storage.
    let restarted = SkillLibrary::new(Arc::new(FileStorage::open(dir.path()).await.unwrap()), Sandbox::shared());
    let results = restarted.search("records of kind 5", 5).await.unwrap();
    assert_eq!(results.mode, SearchMode::Semantic);
    assert_eq!(model.texts_embedded() - before, 1, "only the query was embedded");
    // The same query again costs nothing.
    restarted.search("records of kind 5", 5).await.unwrap();
    assert_eq!(model.texts_embedded() - before, 1);
}

/// Tools are found by meaning too (with the model installed), not only by words.
#[tokio::test]
async fn tools_are_found_by_meaning() {
    let _turn = MODEL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let tool = |name: &str, description: &str| {
        let yaml =
            format!("name: {name}\ndescription: {description}\ncommand: echo\nrecipes:\n  run:\n    params: {{}}\n");
        std::fs::write(dir.path().join(format!("{name}.yaml")), yaml).unwrap();
    };
    tool("weather", "Current conditions and forecast for a city");
    tool("translate", "Translate text between languages");
    tool("pdftext", "Extract the text of PDF documents");
    tool("stocks", "Share prices and market data for ticker symbols");
    let (registry, skipped) = codemode::tools::ToolRegistry::load_dir(dir.path());
    assert!(skipped.is_empty(), "{skipped:?}");
    for (query, expected) in [
        ("will it rain in Paris tomorrow", "weather"),
        ("say this sentence in German", "translate"),
        ("read the words out of a scanned report file", "pdftext"),
        ("how much is an Apple share worth", "stocks"),
        ("weather", "weather"),
    ] {
        let found = registry.search(query, 4).await;
        assert_eq!(found.first().map(|t| t.name.as_str()), Some(expected), "{query}: {found:?}");
    }
}

/// `codemode skills index` embeds what has no vectors, with progress, once.
#[tokio::test(flavor = "multi_thread")]
async fn the_index_command_embeds_missing_vectors_once() {
    let _turn = MODEL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.unwrap());
    let writer = SkillLibrary::new(storage.clone(), Sandbox::shared()).without_embeddings();
    for (name, description) in [("fetch_page", "Download a web page"), ("sum_column", "Add up a CSV column")] {
        writer.create(name, &skill_source(description), None).await.unwrap();
    }
    let index = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_codemode"))
            .args(["--base", dir.path().to_str().unwrap(), "skills", "index"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let first = index();
    assert!(first.contains("embedding skills: 0/4") && first.contains("embedding skills: 4/4"), "{first}");
    assert!(first.contains("4 text(s) embedded"), "{first}");
    assert!(index().contains("0 text(s) embedded"), "a second run finds nothing to do");
    // A search over the indexed store is semantic at once, embedding only its query.
    let model = codemode::skills::shared_embedder().expect("the model is installed");
    let before = model.texts_embedded();
    let results =
        SkillLibrary::new(storage, Sandbox::shared()).search("total of a spreadsheet field", 1).await.unwrap();
    assert_eq!((results.mode, results.matches[0].info.name.as_str()), (SearchMode::Semantic, "sum_column"));
    assert_eq!(model.texts_embedded() - before, 1);
}

/// A restricted library ranks only what it may show: hidden skills, indexed or not,
/// neither appear nor shape the scores or the counts.
#[tokio::test(flavor = "multi_thread")]
async fn a_restricted_search_ignores_hidden_skills_even_unindexed() {
    let _turn = MODEL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.unwrap());
    let full = SkillLibrary::new(storage.clone(), Sandbox::shared());
    full.create("sum_column", &skill_source("Add up a CSV column"), None).await.unwrap();
    full.index(|_, _| {}).await.unwrap();
    // Five hidden skills without vectors: more than a search embeds itself.
    let writer = SkillLibrary::new(storage.clone(), Sandbox::shared()).without_embeddings();
    for i in 0..5 {
        writer.create(&format!("hidden_{i}"), &skill_source("Add up a CSV column secretly"), None).await.unwrap();
    }
    let restricted = full.restricted(&["sum_column".to_owned()]).unwrap();
    let results = restricted.search("add up a csv column", 10).await.unwrap();
    assert_eq!(results.mode, SearchMode::Semantic, "every skill it may show is indexed: {results:?}");
    let names: Vec<&str> = results.matches.iter().map(|m| m.info.name.as_str()).collect();
    assert_eq!(names, ["sum_column"]);
}
