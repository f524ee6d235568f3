//! Artifacts: named data an agent keeps across sessions (JSON, text or bytes).
//!
//! [`Artifacts`] is the one implementation of their rules (names, kinds, size cap)
//! that the guest's `artifacts` namespace, the [`Session`](crate::Session) facade and
//! the CLI all go through; backends only store what it has validated.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::input::{InputLimits, TooLarge, check};
use crate::storage::{Storage, StorageError};

/// Default cap on one artifact's size: 64 MiB.
pub const DEFAULT_MAX_ARTIFACT_SIZE: u64 = 64 << 20;

const MAX_NAME_LEN: usize = 1024;
const MAX_SEGMENT_LEN: usize = 255;

/// A validated artifact name: relative, `/`-separated, and unable to leave the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactName(String);

impl ArtifactName {
    /// Validates `name`. Sub-paths (`scans/nmap.json`) are allowed; anything that could
    /// escape the store or collide with its bookkeeping is not.
    pub fn new(name: &str) -> Result<Self, ArtifactError> {
        let invalid = |reason: &str| {
            Err(ArtifactError::InvalidName { name: crate::text::shown(name), reason: reason.to_owned() })
        };
        if name.is_empty() {
            return invalid("it is empty");
        }
        if name.len() > MAX_NAME_LEN {
            return invalid("it is longer than 1024 bytes");
        }
        if name.contains('\0') {
            return invalid("it contains a NUL byte");
        }
        if name.contains('\\') {
            return invalid("it contains a backslash (use `/` between directories)");
        }
        if name.chars().any(char::is_control) {
            return invalid("it contains control characters");
        }
        if name.starts_with('/') {
            return invalid("it is an absolute path");
        }
        let bytes = name.as_bytes();
        if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
            return invalid("it starts with a drive letter");
        }
        if name == "__index__" {
            return invalid("`__index__` is reserved for the store's index");
        }
        for segment in name.split('/') {
            match segment {
                "" => return invalid("it has an empty path component (`//` or a trailing `/`)"),
                "." | ".." => return invalid("it contains `.` or `..` (path traversal)"),
                s if s.starts_with('.') => {
                    return invalid("a component starts with `.` (reserved for the store's own files)");
                }
                s if s.len() > MAX_SEGMENT_LEN => return invalid("a path component is longer than 255 bytes"),
                _ => {}
            }
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ArtifactName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an artifact's bytes are read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// UTF-8 JSON (a Python dict or list).
    Json,
    /// UTF-8 text (a Python str).
    Text,
    /// Raw bytes. Serialised as `bytes`, py-code-mode's `_data_type`.
    #[serde(rename = "bytes")]
    Binary,
}

/// What the store knows about an artifact besides its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// The artifact's name.
    pub name: String,
    /// Free text given when it was saved.
    pub description: String,
    /// How to read the data back.
    pub kind: DataKind,
    /// Size of the data in bytes.
    pub size: u64,
    /// When it was saved, ISO-8601 UTC.
    pub created_at: String,
    /// The JSON object given when it was saved.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// An artifact with its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// Its metadata.
    pub info: ArtifactInfo,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl Artifact {
    /// The data as JSON: parsed for JSON artifacts, a string for text, base64 for binary.
    pub fn to_json(&self) -> Result<serde_json::Value, ArtifactError> {
        use base64::Engine as _;
        Ok(match self.info.kind {
            DataKind::Json => serde_json::from_slice(&self.data)
                .map_err(|e| ArtifactError::InvalidData { name: self.info.name.clone(), reason: e.to_string() })?,
            DataKind::Text => serde_json::Value::String(String::from_utf8_lossy(&self.data).into_owned()),
            DataKind::Binary => serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(&self.data)),
        })
    }
}

/// Why an artifact operation failed.
#[derive(Debug, thiserror::Error)]
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
    /// The storage backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ArtifactError {
    /// How surfaces classify this error.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            ArtifactError::InvalidName { .. }
            | ArtifactError::TooLarge { .. }
            | ArtifactError::InputTooLarge(_)
            | ArtifactError::InvalidData { .. } => ErrorKind::InvalidInput,
            ArtifactError::NotFound(_) => ErrorKind::NotFound,
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
}

impl Artifacts {
    /// Artifacts in `storage`, each capped at `max_size` bytes.
    pub fn new(storage: Arc<dyn Storage>, max_size: u64) -> Self {
        Self { storage, max_size, input: InputLimits::default() }
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
        let name = ArtifactName::new(name)?;
        check("an artifact's description", description, self.input.text)?;
        let size = data.len() as u64;
        if size > self.max_size {
            return Err(ArtifactError::TooLarge { name: name.0, size, limit: self.max_size });
        }
        let invalid = |reason: String| ArtifactError::InvalidData { name: name.0.clone(), reason };
        match kind {
            DataKind::Json => {
                serde_json::from_slice::<serde_json::Value>(&data)
                    .map_err(|e| invalid(format!("not valid JSON: {e}")))?;
            }
            DataKind::Text => {
                std::str::from_utf8(&data).map_err(|e| invalid(format!("text is not UTF-8: {e}")))?;
            }
            DataKind::Binary => {}
        }
        let info = ArtifactInfo {
            name: name.0.clone(),
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
        self.storage.load_artifact(&name).await?.ok_or(ArtifactError::NotFound(name.0))
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
