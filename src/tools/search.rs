//! Ranking for `tools.search`, with the keyword scorer skill search uses
//! ([`crate::lexical`]: whole words without stopwords, BM25, a boost for a query
//! naming the tool) and, when the search model is installed, the cosine between the
//! query and the tool's text added to it, so paraphrases find tools too.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Serialize};

use super::ToolInfo;
use crate::embed::{cosine, embed_blocking, shared_embedder};
use crate::lexical::{self, NameMatcher};

/// Below this similarity a tool with no keyword match is not a result.
const MIN_SIMILARITY: f32 = 0.25;
/// Weight of the keyword score (scaled to 0..1 within a search) next to the cosine
/// similarity, so neither drowns the other.
const LEXICAL_WEIGHT: f32 = 0.5;
/// Tool texts whose vectors are kept; past this, only the current registry's stay.
const CACHE_LIMIT: usize = 10_000;

/// Vectors of tool texts, shared by every registry of the process (tools rarely change).
static VECTORS: LazyLock<Mutex<HashMap<String, Arc<Vec<f32>>>>> = LazyLock::new(Default::default);

/// A tool found by [`ToolRegistry::search_scored`](super::ToolRegistry::search_scored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolMatch {
    /// The tool.
    #[serde(flatten)]
    pub info: ToolInfo,
    /// Higher is better: BM25 plus the name boost; with the search model, the
    /// cosine similarity plus the name boost plus the BM25 scaled to 0..0.5.
    /// Comparable within one search only.
    pub score: f32,
}

/// `tools` best first for `query`, at most `limit`. A query of stopwords only
/// (`a`, `the`) names nothing and finds nothing.
pub(crate) async fn rank(tools: Vec<ToolInfo>, query: &str, limit: usize) -> Vec<ToolMatch> {
    let names = NameMatcher::new(query);
    let boosts: Vec<f32> = tools.iter().map(|t| names.boost(&t.name)).collect();
    if lexical::terms(query).is_empty() && boosts.iter().all(|b| *b == 0.0) {
        return Vec::new();
    }
    let texts: Vec<String> = tools.iter().map(keyword_text).collect();
    let keyword = lexical::bm25(query, &texts);
    let similarity = similarities(&tools, query).await;
    let best_keyword = keyword.iter().copied().fold(0.0_f32, f32::max);
    let mut scored: Vec<ToolMatch> = tools
        .into_iter()
        .enumerate()
        .filter_map(|(i, tool)| {
            let (keyword, boost) = (keyword[i], boosts[i]);
            let score = match &similarity {
                // The keyword score is scaled to the best one so it adds at most
                // LEXICAL_WEIGHT to a cosine, whatever the corpus.
                Some(dense) => dense[i] + boost + LEXICAL_WEIGHT * keyword / best_keyword.max(f32::EPSILON),
                None => keyword + boost,
            };
            let dense_match = similarity.as_ref().is_some_and(|dense| dense[i] >= MIN_SIMILARITY);
            (keyword > 0.0 || boost > 0.0 || dense_match).then_some(ToolMatch { info: tool, score })
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.info.name.cmp(&b.info.name)));
    scored.truncate(limit);
    scored
}

/// What a tool is matched on by keyword: its name (twice, as skills'), description,
/// tags, and its callables' names and descriptions.
fn keyword_text(tool: &ToolInfo) -> String {
    let mut text = format!("{} {} {} {}", tool.name, tool.name, tool.description, tool.tags.join(" "));
    for callable in &tool.callables {
        text.push(' ');
        text.push_str(callable.name.as_deref().unwrap_or_default());
        text.push(' ');
        text.push_str(&callable.description);
    }
    text
}

/// What is embedded for a tool: its name in words, its description, and its
/// callables' names and descriptions (an MCP server's description may be empty).
fn embedded_text(tool: &ToolInfo) -> String {
    let callables: Vec<String> = tool
        .callables
        .iter()
        .filter_map(|c| c.name.as_ref().map(|n| format!("{}: {}", n.replace(['_', '-'], " "), c.description)))
        .collect();
    format!("{}: {} {}", tool.name.replace(['_', '-'], " "), tool.description, callables.join("; "))
}

/// The cosine of each tool with the query; `None` without the model.
async fn similarities(tools: &[ToolInfo], query: &str) -> Option<Vec<f32>> {
    let embedder = shared_embedder().ok()?;
    let texts: Vec<String> = tools.iter().map(embedded_text).collect();
    let mut missing: Vec<String> = {
        let cache = VECTORS.lock().unwrap_or_else(|p| p.into_inner());
        texts.iter().filter(|t| !cache.contains_key(*t)).cloned().collect()
    };
    missing.sort();
    missing.dedup();
    missing.push(query.to_owned());
    let mut vectors = embed_blocking(&embedder, missing.clone()).await.ok()?;
    let query_vector = vectors.pop()?;
    missing.pop();
    let mut cache = VECTORS.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() + missing.len() > CACHE_LIMIT {
        let wanted: std::collections::HashSet<&String> = texts.iter().collect();
        cache.retain(|text, _| wanted.contains(text));
    }
    for (text, vector) in missing.into_iter().zip(vectors) {
        cache.insert(text, Arc::new(vector));
    }
    Some(texts.iter().map(|t| cache.get(t).map_or(0.0, |v| cosine(&query_vector, v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CallableInfo;

    fn tool(name: &str, description: &str, callables: &[(&str, &str)]) -> ToolInfo {
        ToolInfo {
            name: name.into(),
            description: description.into(),
            tags: Vec::new(),
            callables: callables
                .iter()
                .map(|(n, d)| CallableInfo { name: Some((*n).into()), description: (*d).into(), params: Vec::new() })
                .collect(),
            unavailable: None,
        }
    }

    /// An MCP-like server with many callables whose texts share words with every
    /// query, and three single tools.
    fn registry() -> Vec<ToolInfo> {
        let verbs = ["read", "write", "convert", "list", "get", "fetch", "copy", "move", "delete", "search"];
        let nouns = ["a json file", "a csv table", "the url of a page", "a text file", "the data of a record"];
        let callables: Vec<(String, String)> = verbs
            .iter()
            .flat_map(|v| {
                nouns.iter().map(move |n| (format!("{v}_{}", n.split(' ').nth(1).unwrap_or(n)), format!("{v} {n}")))
            })
            .collect();
        let callables: Vec<(&str, &str)> = callables.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
        vec![
            tool("everything", "", &callables),
            tool("csvkit", "Convert JSON records to CSV", &[("from_json", "Convert JSON to a CSV table")]),
            tool("jq", "Query and transform JSON", &[("query", "Run a filter over JSON")]),
            tool("curl", "Make HTTP requests", &[("get", "GET a URL quietly")]),
        ]
    }

    async fn names(query: &str) -> Vec<String> {
        rank(registry(), query, 10).await.into_iter().map(|m| m.info.name).collect()
    }

    #[tokio::test]
    async fn stopwords_find_nothing_and_many_callables_do_not_drown_the_others() {
        assert_eq!(names("a").await, Vec::<String>::new());
        assert_eq!(names("the of a").await, Vec::<String>::new());
        assert_eq!(names("convert json to csv").await[0], "csvkit");
        assert_eq!(names("filter json").await[0], "jq");
        assert_eq!(names("http requests").await[0], "curl");
        // The name still wins when asked for.
        assert_eq!(names("everything").await[0], "everything");
        let scored = rank(registry(), "convert json to csv", 10).await;
        assert!(scored.windows(2).all(|w| w[0].score >= w[1].score), "best first, with scores");
        assert!(scored[0].score > 0.0);
    }
}
