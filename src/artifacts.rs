//! Artifacts: named data an agent keeps across sessions (JSON, text or bytes).
//!
//! [`Artifacts`] is the one implementation of their rules (names, kinds, size cap)
//! that the guest's `artifacts` namespace, the [`Session`](crate::Session) facade and
//! the CLI all go through; backends only store what it has validated.

use std::sync::Arc;

use crate::input::{InputLimits, TooLarge, check};
pub use crate::model::{Artifact, ArtifactInfo, DataKind};
pub use crate::names::ArtifactName;
use crate::names::InvalidName;
use crate::storage::{Storage, StorageError};

/// Default cap on one artifact's size: 64 MiB.
pub const DEFAULT_MAX_ARTIFACT_SIZE: u64 = 64 << 20;

impl Artifact {
    /// The data as JSON: parsed for JSON artifacts, a string for text, base64 for binary.
    pub fn to_json(&self) -> Result<serde_json::Value, ArtifactError> {
        use base64::Engine as _;
        Ok(match self.info.kind {
            DataKind::Json => serde_json::from_slice(&self.data)
                .map_err(|e| ArtifactError::InvalidData { name: self.info.name.clone(), reason: e.to_string() })?,
            DataKind::Text => serde_json::Value::String(String::from_utf8_lossy(&self.data).into_owned()),
            DataKind::Bytes => serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(&self.data)),
        })
    }
}

/// The bytes and kind an artifact's data in the API's JSON form stands for: the
/// inverse of [`Artifact::to_json`]. Without a kind, a string is text and anything
/// else JSON; `bytes` must be base64.
pub fn data_from_json(
    name: &str,
    data: &serde_json::Value,
    kind: Option<DataKind>,
) -> Result<(Vec<u8>, DataKind), ArtifactError> {
    use base64::Engine as _;
    let invalid =
        |reason: &str| ArtifactError::InvalidData { name: crate::text::shown(name), reason: reason.to_owned() };
    let kind = kind.unwrap_or(if data.is_string() { DataKind::Text } else { DataKind::Json });
    let bytes = match (kind, data) {
        (DataKind::Json, data) => data.to_string().into_bytes(),
        (DataKind::Text, serde_json::Value::String(text)) => text.clone().into_bytes(),
        (DataKind::Bytes, serde_json::Value::String(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| invalid("bytes must be given as base64 text"))?,
        (DataKind::Text, _) => return Err(invalid("text must be given as a JSON string")),
        (DataKind::Bytes, _) => return Err(invalid("bytes must be given as base64 text")),
    };
    Ok((bytes, kind))
}

/// Why an artifact operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The name was rejected; nothing was read or written.
    #[error("invalid artifact name {name:?}: {reason}")]
    InvalidName {
        /// The name as given, shortened to its first 80 characters.
        name: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The data is larger than the configured cap; nothing was written.
    #[error("artifact {name:?} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The artifact's name.
        name: String,
        /// Its size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The data does not match its kind (e.g. JSON that does not parse).
    #[error("artifact {name:?}: {reason}")]
    InvalidData {
        /// The artifact's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The description or metadata is over its cap; nothing was written.
    #[error(transparent)]
    InputTooLarge(#[from] TooLarge),
    /// No artifact of that name exists.
    #[error("artifact {0:?} not found")]
    NotFound(String),
    /// This namespace only reads (a skill's examples run with it): nothing was written.
    #[error("artifacts are read-only here ({0}); nothing was written")]
    ReadOnly(&'static str),
    /// The storage backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<InvalidName> for ArtifactError {
    fn from(err: InvalidName) -> Self {
        Self::InvalidName { name: err.name, reason: err.reason.to_owned() }
    }
}

impl ArtifactError {
    /// How surfaces classify this error.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            ArtifactError::InvalidName { .. }
            | ArtifactError::TooLarge { .. }
            | ArtifactError::InputTooLarge(_)
            | ArtifactError::InvalidData { .. } => ErrorKind::InvalidInput,
            ArtifactError::NotFound(_) => ErrorKind::NotFound,
            ArtifactError::ReadOnly(_) => ErrorKind::Denied,
            ArtifactError::Storage(_) => ErrorKind::Failed,
        }
    }
}

/// Artifacts in one storage, with their rules applied.
#[derive(Debug, Clone)]
pub struct Artifacts {
    storage: Arc<dyn Storage>,
    max_size: u64,
    input: InputLimits,
    /// Why writes are refused, when they are.
    read_only: Option<&'static str>,
}

impl Artifacts {
    /// Artifacts in `storage`, each capped at `max_size` bytes.
    pub fn new(storage: Arc<dyn Storage>, max_size: u64) -> Self {
        Self { storage, max_size, input: InputLimits::default(), read_only: None }
    }

    /// The same artifacts, readable only: saves and deletes are refused
    /// ([`ArtifactError::ReadOnly`], saying `why`).
    pub fn read_only(&self, why: &'static str) -> Self {
        Self { read_only: Some(why), ..self.clone() }
    }

    fn writable(&self) -> Result<(), ArtifactError> {
        self.read_only.map_or(Ok(()), |why| Err(ArtifactError::ReadOnly(why)))
    }

    /// Caps on descriptions and metadata (default: [`InputLimits::default`]).
    pub fn with_input_limits(mut self, input: InputLimits) -> Self {
        self.input = input;
        self
    }

    /// Caps on the metadata (JSON text) a caller may send: checked by callers that
    /// receive it as text, before parsing it.
    pub fn check_metadata(&self, json: &str) -> Result<(), ArtifactError> {
        Ok(check("an artifact's metadata", json, self.input.metadata)?)
    }

    /// Saves (or replaces) an artifact.
    pub async fn save(
        &self,
        name: &str,
        data: Vec<u8>,
        kind: DataKind,
        description: &str,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<ArtifactInfo, ArtifactError> {
        self.writable()?;
        let name = ArtifactName::new(name)?;
        check("an artifact's description", description, self.input.text)?;
        let size = data.len() as u64;
        if size > self.max_size {
            return Err(ArtifactError::TooLarge { name: name.into(), size, limit: self.max_size });
        }
        let invalid = |reason: String| ArtifactError::InvalidData { name: name.to_string(), reason };
        match kind {
            DataKind::Json => {
                serde_json::from_slice::<serde_json::Value>(&data)
                    .map_err(|e| invalid(format!("not valid JSON: {e}")))?;
            }
            DataKind::Text => {
                std::str::from_utf8(&data).map_err(|e| invalid(format!("text is not UTF-8: {e}")))?;
            }
            DataKind::Bytes => {}
        }
        let info = ArtifactInfo {
            name: name.to_string(),
            description: description.to_owned(),
            kind,
            size,
            created_at: crate::storage::now_iso8601(),
            metadata,
        };
        self.storage.save_artifact(&name, &info, &data).await?;
        Ok(info)
    }

    /// Loads an artifact with its data.
    pub async fn load(&self, name: &str) -> Result<Artifact, ArtifactError> {
        let name = ArtifactName::new(name)?;
        self.storage.load_artifact(&name).await?.ok_or(ArtifactError::NotFound(name.into()))
    }

    /// Metadata of one artifact, if it exists.
    pub async fn info(&self, name: &str) -> Result<Option<ArtifactInfo>, ArtifactError> {
        let name = ArtifactName::new(name)?;
        Ok(self.storage.artifact_info(&name).await?)
    }

    /// Whether an artifact exists.
    pub async fn exists(&self, name: &str) -> Result<bool, ArtifactError> {
        Ok(self.info(name).await?.is_some())
    }

    /// All artifacts, sorted by name.
    pub async fn list(&self) -> Result<Vec<ArtifactInfo>, ArtifactError> {
        let mut list = self.storage.list_artifacts().await?;
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// Deletes an artifact; deleting a missing one is not an error (returns `false`).
    pub async fn delete(&self, name: &str) -> Result<bool, ArtifactError> {
        self.writable()?;
        let name = ArtifactName::new(name)?;
        Ok(self.storage.delete_artifact(&name).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_stay_inside_the_store_are_accepted() {
        for name in ["a", "report.json", "scans/nmap.json", "a/b/c.txt", "with space", "ünïcode", "ab:c", "__init__"]
        {
            assert!(ArtifactName::new(name).is_ok(), "{name}");
        }
    }
}
