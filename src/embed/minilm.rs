//! all-MiniLM-L6-v2 on candle (the `embeddings` feature).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{EmbedError, fail, model_dir};

pub(crate) const INSTALL_HINT: &str =
    "run `codemode model fetch` (or scripts/fetch-model.sh) to install all-MiniLM-L6-v2";

/// The model from [`model_dir`]; the error says why it is not available.
pub(super) fn load_shared() -> Result<Embedder, String> {
    let dir = model_dir().ok_or("no cache directory to look for the model in")?;
    if !dir.join("model.safetensors").is_file() {
        tracing::info!(dir = %dir.display(), "the search model is not installed");
        return Err("the model is not installed".to_owned());
    }
    Embedder::load(&dir).map_err(|e| e.to_string())
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
        // Read rather than mapped: mapping is unsafe, and the weights are copied into
        // tensors either way, so the buffer lives only while the model loads.
        let weights =
            std::fs::read(dir.join("model.safetensors")).map_err(|e| fail("reading model.safetensors")(&e))?;
        let vars = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| fail("parsing model.safetensors")(&e))?;
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

    /// Whether the model's vocabulary has `word` (lower-cased) as one token. A word it
    /// can only spell in pieces (`boto3`, `openpyxl`) means little to it.
    pub fn knows_word(&self, word: &str) -> bool {
        self.tokenizer.token_to_id(&word.to_lowercase()).is_some()
    }
}
