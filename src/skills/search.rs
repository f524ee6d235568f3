//! Ranking skills for a query: dense cosine when the model is there (description
//! weighted 0.7, code 0.3, as py-code-mode does) plus BM25 on the query words the
//! model cannot read, BM25 alone when there is no model, and a boost for queries
//! that name a skill.

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

/// The text embedded for a skill's description: its name in words, then the description.
pub(crate) fn description_text(name: &str, description: &str) -> String {
    format!("{}: {description}", name.replace('_', " "))
}

pub(crate) fn dense_score(query: &[f32], description: &[f32], code: &[f32]) -> f32 {
    DESCRIPTION_WEIGHT * cosine(query, description) + CODE_WEIGHT * cosine(query, code)
}

pub(crate) use crate::lexical::NameMatcher;

/// Okapi BM25 of `query` against each document's name (counted twice),
/// description and source.
pub(crate) fn bm25(query: &str, docs: &[Document<'_>]) -> Vec<f32> {
    let texts: Vec<String> =
        docs.iter().map(|d| format!("{} {} {} {}", d.name, d.name, d.description, d.source)).collect();
    crate::lexical::bm25(query, &texts)
}

/// A keyword-ranked skill's score while others are ranked by embeddings: its BM25
/// scaled so the best match scores about what a good semantic match does (a cosine
/// near 0.6), so that neither kind buries the other.
pub(crate) const KEYWORD_SCALE: f32 = 0.6;

/// What keywords the model cannot read add to a dense score, at most. Fusing the two
/// rankings whole (reciprocal rank fusion, or BM25 on every query word) cost up to 10
/// of the 32 paraphrase benchmark's hits, because everyday words match the wrong
/// skill's text; an identifier the model spells in pieces (`boto3`, `smtplib`) is
/// where keywords know better. Measured in README "Skill search quality".
pub(crate) const UNREAD_WORDS_SCALE: f32 = 0.1;

/// [`bm25`], scaled to `0..=scale` by the best score.
pub(crate) fn scaled_bm25(query: &str, docs: &[Document<'_>], scale: f32) -> Vec<f32> {
    let scores = bm25(query, docs);
    let top = scores.iter().copied().fold(0.0, f32::max);
    if top <= 0.0 {
        return scores;
    }
    scores.into_iter().map(|s| scale * s / top).collect()
}

/// The words of `query` that `knows` says the model has no token for, as a query of
/// their own (empty when the model reads every word).
pub(crate) fn unread_words(query: &str, knows: impl Fn(&str) -> bool) -> String {
    crate::lexical::words(query).into_iter().filter(|word| !knows(word)).collect::<Vec<_>>().join(" ")
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
