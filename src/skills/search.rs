//! Ranking skills for a query: dense cosine when the model is there (description
//! weighted 0.7, code 0.3, as py-code-mode does), BM25 when it is not, and a boost
//! for queries that name a skill.

use std::collections::{HashMap, VecDeque};

use crate::embed::cosine;

/// What a skill is ranked on.
pub(crate) struct Document<'a> {
    pub(crate) name: &'a str,
    pub(crate) description: &'a str,
    pub(crate) source: &'a str,
}

const DESCRIPTION_WEIGHT: f32 = 0.7;
const CODE_WEIGHT: f32 = 0.3;
/// Added when the query is the skill's name (`word stats`, `word_stats`).
const EXACT_NAME_BOOST: f32 = 1.0;
/// Added when every query word is a word of the name.
const NAME_WORDS_BOOST: f32 = 0.25;

/// The text embedded for a skill's description: its name in words, then the description.
pub(crate) fn description_text(name: &str, description: &str) -> String {
    format!("{}: {description}", name.replace('_', " "))
}

pub(crate) fn dense_score(query: &[f32], description: &[f32], code: &[f32]) -> f32 {
    DESCRIPTION_WEIGHT * cosine(query, description) + CODE_WEIGHT * cosine(query, code)
}

/// Scores how well a query names skills; the query is split into words once.
pub(crate) struct NameMatcher {
    query_words: Vec<String>,
}

impl NameMatcher {
    pub(crate) fn new(query: &str) -> Self {
        Self { query_words: words(query) }
    }

    pub(crate) fn boost(&self, name: &str) -> f32 {
        // A boost needs every query word in the name; most names fail that cheaply.
        let lower = name.to_lowercase();
        if self.query_words.is_empty() || !self.query_words.iter().all(|w| lower.contains(w.as_str())) {
            return 0.0;
        }
        let name_words = words(name);
        if self.query_words == name_words {
            EXACT_NAME_BOOST
        } else if self.query_words.iter().all(|w| name_words.contains(w)) {
            NAME_WORDS_BOOST
        } else {
            0.0
        }
    }
}

#[cfg(test)]
fn name_boost(query: &str, name: &str) -> f32 {
    NameMatcher::new(query).boost(name)
}

/// Lower-case alphanumeric words; `_` and punctuation separate them.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "i", "in", "is", "it", "of", "on", "or",
    "that", "the", "this", "to", "was", "what", "with", "do", "does", "my", "me", "def", "return", "self", "import",
];

/// Words for BM25: no stopwords, with a crude suffix stemmer so `commits` meets `commit`.
fn terms(text: &str) -> Vec<String> {
    words(text).into_iter().filter(|w| !STOPWORDS.contains(&w.as_str())).map(stem).collect()
}

fn stem(word: String) -> String {
    for suffix in ["ing", "ies", "es", "ed", "s"] {
        if word.len() > suffix.len() + 3 && word.ends_with(suffix) {
            return word[..word.len() - suffix.len()].to_owned();
        }
    }
    word
}

/// Okapi BM25 (k1 = 1.2, b = 0.75) of `query` against each document's name,
/// description and source.
pub(crate) fn bm25(query: &str, docs: &[Document<'_>]) -> Vec<f32> {
    const K1: f32 = 1.2;
    const B: f32 = 0.75;
    let tokenized: Vec<Vec<String>> =
        docs.iter().map(|d| terms(&format!("{} {} {} {}", d.name, d.name, d.description, d.source))).collect();
    let n = docs.len() as f32;
    let average = tokenized.iter().map(Vec::len).sum::<usize>() as f32 / n.max(1.0);
    let mut query_terms = terms(query);
    query_terms.sort();
    query_terms.dedup();
    let document_frequency: HashMap<&str, f32> = query_terms
        .iter()
        .map(|t| (t.as_str(), tokenized.iter().filter(|doc| doc.contains(t)).count() as f32))
        .collect();
    tokenized
        .iter()
        .map(|doc| {
            let len = doc.len() as f32;
            query_terms
                .iter()
                .map(|term| {
                    let tf = doc.iter().filter(|t| *t == term).count() as f32;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let df = document_frequency[term.as_str()];
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / average.max(1.0)))
                })
                .sum()
        })
        .collect()
}

/// Recently embedded queries, so a repeated query costs no model run.
pub(crate) struct QueryCache {
    capacity: usize,
    entries: HashMap<String, Vec<f32>>,
    order: VecDeque<String>,
}

impl QueryCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, entries: HashMap::new(), order: VecDeque::new() }
    }

    pub(crate) fn get(&mut self, query: &str) -> Option<Vec<f32>> {
        let vector = self.entries.get(query)?.clone();
        if let Some(at) = self.order.iter().position(|q| q == query) {
            let key = self.order.remove(at).unwrap_or_default();
            self.order.push_back(key);
        }
        Some(vector)
    }

    pub(crate) fn put(&mut self, query: String, vector: Vec<f32>) {
        if self.entries.insert(query.clone(), vector).is_none() {
            self.order.push_back(query);
        }
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bm25_prefers_documents_with_rare_matching_terms() {
        let docs = [
            Document { name: "git_log", description: "List recent commits of a repository", source: "" },
            Document { name: "resize_image", description: "Resize an image", source: "" },
            Document { name: "word_stats", description: "Count words in a text", source: "" },
        ];
        let scores = bm25("recent commits", &docs);
        assert!(scores[0] > 0.0 && scores[1] == 0.0 && scores[2] == 0.0, "{scores:?}");
        assert!(bm25("word stats", &docs)[2] > 0.0);
    }

    #[test]
    fn names_are_boosted() {
        assert_eq!(name_boost("word_stats", "word_stats"), EXACT_NAME_BOOST);
        assert_eq!(name_boost("Word Stats", "word_stats"), EXACT_NAME_BOOST);
        assert_eq!(name_boost("stats", "word_stats"), NAME_WORDS_BOOST);
        assert_eq!(name_boost("image", "word_stats"), 0.0);
    }

    #[test]
    fn the_query_cache_evicts_the_least_recent() {
        let mut cache = QueryCache::new(2);
        cache.put("a".into(), vec![1.0]);
        cache.put("b".into(), vec![2.0]);
        assert!(cache.get("a").is_some());
        cache.put("c".into(), vec![3.0]);
        assert!(cache.get("b").is_none());
        assert_eq!(cache.get("a"), Some(vec![1.0]));
        assert_eq!(cache.get("c"), Some(vec![3.0]));
    }
}
