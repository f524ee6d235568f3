//! The skill-search quality benchmarks, on tests/fixtures/search_corpus.json: 32
//! skills described in a sentence (each with a realistic body for the identifier
//! benchmark) and three query sets: paraphrases, identifiers from the bodies, and
//! every skill's exact name (as written and with spaces).

use std::collections::HashMap;
use std::sync::Arc;

use codemode::Sandbox;
use codemode::skills::{SearchMode, SkillLibrary};
use codemode::storage::{FileStorage, Storage};

/// Query and the skill it should find first.
pub type Query = (String, String);

pub struct Corpus {
    pub skills: Vec<(String, String)>,
    pub paraphrases: Vec<Query>,
    pub identifiers: Vec<Query>,
    bodies: HashMap<String, String>,
}

pub fn corpus() -> Corpus {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search_corpus.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    fn field<T: serde::de::DeserializeOwned>(json: &serde_json::Value, key: &str) -> T {
        serde_json::from_value(json[key].clone()).unwrap()
    }
    let skills: Vec<(String, String)> = field(&json, "skills");
    let bodies: HashMap<String, String> = field(&json, "bodies");
    assert!(skills.iter().all(|(name, _)| bodies.contains_key(name)), "a body per skill");
    Corpus { skills, paraphrases: field(&json, "queries"), identifiers: field(&json, "identifier_queries"), bodies }
}

/// Which source each skill is stored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// The description as a docstring, and no code.
    Docstrings,
    /// The docstring and a realistic body (the libraries and APIs it calls).
    Bodies,
}

impl Corpus {
    pub fn source(&self, name: &str, description: &str, sources: Sources) -> String {
        let (returns, body) = match sources {
            Sources::Docstrings => ("dict", "return kwargs"),
            Sources::Bodies => ("object", self.bodies[name].as_str()),
        };
        format!("def run(**kwargs) -> {returns}:\n    \"\"\"{description}\"\"\"\n    {body}\n")
    }

    /// Each skill's name as written and with spaces for underscores.
    pub fn names(&self) -> Vec<Query> {
        let names = self.skills.iter().map(|(name, _)| name);
        names.flat_map(|name| [(name.clone(), name.clone()), (name.replace('_', " "), name.clone())]).collect()
    }

    /// A library of the corpus in a fresh directory; every vector computed now (as
    /// `codemode skills index` does) unless `keyword_only`.
    pub async fn library(&self, sources: Sources, keyword_only: bool) -> (tempfile::TempDir, SkillLibrary) {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.unwrap());
        let library = SkillLibrary::new(storage, Sandbox::shared());
        let library = if keyword_only { library.without_embeddings() } else { library };
        for (name, description) in &self.skills {
            library.create(name, &self.source(name, description, sources), None).await.unwrap();
        }
        if !keyword_only {
            let mut reported = Vec::new();
            let embedded = library.index(|done, total| reported.push((done, total))).await.unwrap();
            let texts = 2 * self.skills.len();
            assert_eq!(embedded, texts);
            assert_eq!((reported.first(), reported.last()), (Some(&(0, texts)), Some(&(texts, texts))));
        }
        (dir, library)
    }
}

/// How many of `queries` find their skill first, and the misses.
pub async fn recall_at_1(library: &SkillLibrary, queries: &[Query]) -> (usize, Vec<String>) {
    let mut misses = Vec::new();
    for (query, gold) in queries {
        let results = library.search(query, 1).await.unwrap();
        assert_ne!(results.mode, SearchMode::Partial, "every skill is indexed");
        let first = results.matches.first().map_or("nothing", |m| m.info.name.as_str());
        if first != gold {
            misses.push(format!("{query:?}: got {first}, want {gold}"));
        }
    }
    (queries.len() - misses.len(), misses)
}
