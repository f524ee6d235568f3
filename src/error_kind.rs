//! What kind of failure an operation had, independent of the surface reporting it.
//!
//! Every capability error ([`SkillError`](crate::skills::SkillError),
//! [`ArtifactError`](crate::artifacts::ArtifactError),
//! [`DepsError`](crate::deps::DepsError), [`ToolError`](crate::tools::ToolError))
//! classifies itself with a `kind()` method; each surface then maps the kind once:
//! the sandbox to the WIT `error-kind` the guest raises from, the HTTP server to a
//! status. Adding an error variant means deciding its kind in one place.

use serde::{Deserialize, Serialize};

/// The class of a failure, as surfaces report it (`kind` in the HTTP server's error
/// body, the WIT `error-kind` in the guest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The session has no backend for this capability (e.g. no storage).
    NotConfigured,
    /// The named tool, skill, artifact or package does not exist.
    NotFound,
    /// The input was rejected before anything ran.
    InvalidInput,
    /// A per-run limit (such as the tool-call budget) was reached.
    LimitExceeded,
    /// The configuration forbids this (e.g. runtime deps are locked).
    Denied,
    /// The operation ran and failed.
    Failed,
}

impl ErrorKind {
    /// The kind's name as surfaces show it, e.g. `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotConfigured => "not_configured",
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Denied => "denied",
            ErrorKind::Failed => "failed",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn names_match_serde() {
        for kind in [
            ErrorKind::NotConfigured,
            ErrorKind::NotFound,
            ErrorKind::InvalidInput,
            ErrorKind::LimitExceeded,
            ErrorKind::Denied,
            ErrorKind::Failed,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
