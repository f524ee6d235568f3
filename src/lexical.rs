//! Keyword scoring shared by skill and tool search: one tokenizer (stopwords, a
//! crude stemmer), Okapi BM25, and a boost for queries that name an item. Kept
//! below the capabilities so both searches rank words the same way.

use std::collections::HashMap;

/// Added when the query is the item's name (`word stats`, `word_stats`).
pub(crate) const EXACT_NAME_BOOST: f32 = 1.0;
/// Added when every query word is a word of the name.
pub(crate) const NAME_WORDS_BOOST: f32 = 0.25;

/// Scores how well a query names items; the query is split into words once.
pub(crate) struct NameMatcher {
    query_words: Vec<String>,
}

impl NameMatcher {
    pub(crate) fn new(query: &str) -> Self {
        Self { query_words: words(query) }
    }

    /// [`EXACT_NAME_BOOST`], [`NAME_WORDS_BOOST`] or 0 for `name`.
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

/// Lower-case alphanumeric words; `_`, `-` and punctuation separate them.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "i", "in", "is", "it", "of", "on", "or",
    "that", "the", "this", "to", "was", "what", "with", "do", "does", "my", "me", "def", "return", "self", "import",
];

/// Words for BM25: no stopwords, with a crude suffix stemmer so `commits` meets `commit`.
pub(crate) fn terms(text: &str) -> Vec<String> {
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

/// Okapi BM25 (k1 = 1.2, b = 0.75) of `query` against each text. Whole terms only
/// (a short word matches no longer one by substring), rare terms weigh more, and a
/// long text (a server with many callables) does not win by length alone.
pub(crate) fn bm25<S: AsRef<str>>(query: &str, texts: &[S]) -> Vec<f32> {
    const K1: f32 = 1.2;
    const B: f32 = 0.75;
    let tokenized: Vec<Vec<String>> = texts.iter().map(|t| terms(t.as_ref())).collect();
    let n = texts.len() as f32;
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
                    let df = document_frequency.get(term.as_str()).copied().unwrap_or(1.0);
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / average.max(1.0)))
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_boosted() {
        let boost = |query: &str, name: &str| NameMatcher::new(query).boost(name);
        assert_eq!(boost("word_stats", "word_stats"), EXACT_NAME_BOOST);
        assert_eq!(boost("Word Stats", "word_stats"), EXACT_NAME_BOOST);
        assert_eq!(boost("stats", "word_stats"), NAME_WORDS_BOOST);
        assert_eq!(boost("mcp", "my-mcp-server"), NAME_WORDS_BOOST);
        assert_eq!(boost("image", "word_stats"), 0.0);
        assert_eq!(boost("a", "jaq"), 0.0, "a letter of a name is not a word of it");
    }

    #[test]
    fn stopwords_and_substrings_match_nothing() {
        let texts = ["a tool that reads a file", "jq: query and transform JSON", "curl: fetch pages"];
        assert_eq!(bm25("a", &texts), [0.0, 0.0, 0.0]);
        assert_eq!(bm25("the of", &texts), [0.0, 0.0, 0.0]);
        assert_eq!(bm25("url", &texts), [0.0, 0.0, 0.0], "`url` is not a word of `curl`");
        let scores = bm25("files", &texts);
        assert!(scores[0] > 0.0 && scores[1] == 0.0 && scores[2] == 0.0, "stemmed: {scores:?}");
    }
}
