//! What reads a skill's `run` signature from its source. The sandbox implements it
//! with its own CPython's `ast`; the trait lives here so skills sit below the sandbox.

use crate::model::SkillSignature;

/// Why a source could not be described.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The source is not a valid skill.
    #[error("invalid skill{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        /// What is wrong.
        message: String,
        /// The offending line, when known.
        line: Option<u32>,
    },
    /// The inspector itself failed (for the sandbox: it could not start or stopped).
    #[error(transparent)]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

/// Describes a skill's `run` entry point without running any of its code.
#[async_trait::async_trait]
pub trait Inspector: Send + Sync + std::fmt::Debug {
    /// The signature of `run` in `source`, or why `source` is not a skill.
    async fn inspect(&self, source: &str) -> Result<SkillSignature, InspectError>;
}
