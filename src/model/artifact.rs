//! Artifacts as stored and listed.

use serde::{Deserialize, Serialize};

/// How an artifact's bytes are read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// UTF-8 JSON (a Python dict or list).
    Json,
    /// UTF-8 text (a Python str).
    Text,
    /// Raw bytes (a Python `bytes`): `bytes` on every surface, as py-code-mode's
    /// `_data_type` says it. `binary`, the guest's old name, is still read.
    #[serde(alias = "binary")]
    Bytes,
}

/// What the store knows about an artifact besides its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
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
