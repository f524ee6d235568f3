//! The JSON error body every endpoint uses: `{"error": {"kind", "message"}}`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::SessionError;
use crate::artifacts::ArtifactError;
use crate::deps::DepsError;
use crate::skills::SkillError;

/// An error answered to a client.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into() }
    }

    pub(crate) fn bad_request(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message.to_string())
    }

    pub(crate) fn not_found(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message.to_string())
    }

    pub(crate) fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "failed", message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"kind": self.kind, "message": self.message}}))).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let kind = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "invalid_input" };
        Self::new(status, kind, rejection.body_text())
    }
}

impl From<SkillError> for ApiError {
    fn from(err: SkillError) -> Self {
        match err {
            SkillError::InvalidName { .. } | SkillError::InvalidSource { .. } | SkillError::TooLarge(_) => {
                Self::bad_request(err)
            }
            SkillError::NotFound(_) => Self::not_found(err),
            other => Self::internal(other),
        }
    }
}

impl From<ArtifactError> for ApiError {
    fn from(err: ArtifactError) -> Self {
        match err {
            ArtifactError::InvalidName { .. }
            | ArtifactError::TooLarge { .. }
            | ArtifactError::InputTooLarge(_)
            | ArtifactError::InvalidData { .. } => Self::bad_request(err),
            ArtifactError::NotFound(_) => Self::not_found(err),
            other => Self::internal(other),
        }
    }
}

impl From<DepsError> for ApiError {
    fn from(err: DepsError) -> Self {
        match err {
            DepsError::InvalidSpec { .. } | DepsError::NoPureWheel { .. } => Self::bad_request(err),
            DepsError::RuntimeDisabled => Self::new(StatusCode::FORBIDDEN, "denied", err.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::InvalidLimits(_) | SessionError::InvalidSkill { .. } => Self::bad_request(err),
            SessionError::Closed => Self::new(StatusCode::GONE, "closed", err.to_string()),
            SessionError::Deps(deps) => deps.into(),
            other => Self::internal(other),
        }
    }
}
