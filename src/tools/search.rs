//! Ranking for `tools.search`: py-code-mode's lexical score (exact name, partial
//! name, query words found), plus, when the search model is installed, the cosine
//! between the query and the tool's "name: description", so paraphrases find tools.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Serialize};

use super::ToolInfo;
use crate::embed::{cosine, embed_blocking, shared_embedder};

/// Below this similarity a tool with no lexical match is not a result.
const MIN_SIMILARITY: f32 = 0.25;
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
    /// Higher is better: the lexical score plus, with the search model, the cosine
    /// similarity. Comparable within one search only.
    pub score: f32,
}

/// `tools` best first for `query`, at most `limit`.
pub(crate) async fn rank(tools: Vec<ToolInfo>, query: &str, limit: usize) -> Vec<ToolMatch> {
    let similarity = similarities(&tools, query).await;
    let mut scored: Vec<ToolMatch> = tools
        .into_iter()
        .enumerate()
        .filter_map(|(i, tool)| {
            let lexical = lexical_score(&tool, query);
            let dense = similarity.as_ref().map_or(0.0, |s| s[i]);
            (lexical > 0.0 || dense >= MIN_SIMILARITY).then_some(ToolMatch { info: tool, score: lexical + dense })
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.info.name.cmp(&b.info.name)));
    scored.truncate(limit);
    scored
}

/// 1 for the exact name, 0.5 for a partial one, 0.25 per query word in the texts.
fn lexical_score(tool: &ToolInfo, query: &str) -> f32 {
    let query = query.trim().to_lowercase();
    let name = tool.name.to_lowercase();
    let callables: Vec<String> =
        tool.callables.iter().map(|c| format!("{} {}", c.name.as_deref().unwrap_or_default(), c.description)).collect();
    let text = format!("{} {} {}", tool.description, tool.tags.join(" "), callables.join(" ")).to_lowercase();
    let mut score = 0.0;
    if name == query {
        score += 1.0;
    } else if !query.is_empty() && (name.contains(&query) || query.contains(&name)) {
        score += 0.5;
    }
    score + 0.25 * query.split_whitespace().filter(|w| text.contains(*w)).count() as f32
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
