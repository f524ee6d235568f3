//! No model: this build is without the `embeddings` feature.

use std::path::Path;

use super::EmbedError;

pub(crate) const INSTALL_HINT: &str = "build codemode with the `embeddings` feature to rank by meaning";

const UNAVAILABLE: &str = "this build has no embedding model (the `embeddings` feature is off)";

pub(super) fn load_shared() -> Result<Embedder, String> {
    Err(UNAVAILABLE.to_owned())
}

/// The embedding model, which this build does not have: it is never constructed.
#[derive(Debug)]
pub struct Embedder {
    never: std::convert::Infallible,
}

impl Embedder {
    /// Always fails: this build has no model.
    pub fn load(_dir: &Path) -> Result<Self, EmbedError> {
        Err(EmbedError { context: "loading the model".to_owned(), message: UNAVAILABLE.to_owned() })
    }

    /// Unit-length embeddings, one per text (unreachable: there is no model).
    pub fn embed(&self, _texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match self.never {}
    }

    /// How many texts this model has embedded since it was loaded.
    pub fn texts_embedded(&self) -> u64 {
        match self.never {}
    }

    /// Whether the model's vocabulary has `word` (unreachable: there is no model).
    pub fn knows_word(&self, _word: &str) -> bool {
        match self.never {}
    }
}
