//! The JSON error body every endpoint uses: `{"error": {"kind", "message"}}`.

use axum::Json;
use axum::extract::Request;
use axum::extract::rejection::JsonRejection;
use axum::http::response::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::budget::OverBudget;
use crate::artifacts::ArtifactError;
use crate::deps::DepsError;
use crate::error_kind::ErrorKind;
use crate::session::SessionError;
use crate::skills::SkillError;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into() }
    }

    /// Its kind, as the client sees it (`not_found`, `held`, ...).
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    /// Its message, as the client sees it.
    pub(crate) fn message(&self) -> &str {
        &self.message
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

/// The kind an error of this status has when nothing more specific is known.
fn kind_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "denied",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_client_error() => "invalid_input",
        _ => "failed",
    }
}

/// Longest plain-text error body kept as the message (axum's and rmcp's are a line).
const MAX_PLAIN_MESSAGE: usize = 4096;

/// An error answer that is not JSON (axum's rejections and rmcp's refusals are plain
/// text, axum's 405 is empty), taken apart to be answered in JSON instead: its parts
/// and its text, if it has one. Any other answer comes back as `Err`, untouched.
pub async fn plain_error(response: Response) -> Result<(Parts, Option<String>), Response> {
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return Err(response);
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_PLAIN_MESSAGE).await.ok().and_then(|b| String::from_utf8(b.into()).ok());
    Ok((parts, text.filter(|t| !t.trim().is_empty())))
}

/// Puts every error answered in another shape into the JSON shape, so a client sees
/// one shape whatever failed and no route can forget it. The status and the
/// `WWW-Authenticate` header are kept.
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let (parts, text) = match plain_error(next.run(request).await).await {
        Ok(plain) => plain,
        Err(response) => return response,
    };
    let status = parts.status;
    let message = match text {
        Some(text) => text,
        // axum adds the `Allow` header after this layer has run.
        None if status == StatusCode::METHOD_NOT_ALLOWED => {
            format!("{method} is not allowed on this route (the Allow header lists what is)")
        }
        None => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut answer = ApiError::new(status, kind_of(status), message).into_response();
    if let Some(challenge) = parts.headers.get(header::WWW_AUTHENTICATE) {
        answer.headers_mut().insert(header::WWW_AUTHENTICATE, challenge.clone());
    }
    answer
}

impl From<OverBudget> for ApiError {
    fn from(err: OverBudget) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "capacity", err.to_string())
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

/// The status of each kind of capability error: the HTTP side of the one mapping
/// (the guest's is the sandbox's WIT `error-kind`).
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Denied => StatusCode::FORBIDDEN,
        ErrorKind::LimitExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::NotConfigured => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Each capability error is answered with its `kind()`: that kind's status and name.
macro_rules! api_error_from {
    ($($error:ty),*) => {$(
        impl From<$error> for ApiError {
            fn from(err: $error) -> Self {
                let kind = err.kind();
                Self::new(status_of(kind), kind.as_str(), err.to_string())
            }
        }
    )*};
}

api_error_from!(SkillError, ArtifactError, DepsError);

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::InvalidLimits(_)
            | SessionError::InvalidSkill { .. }
            | SessionError::TooLarge(_)
            | SessionError::InvalidAllow(_)
            | SessionError::NeedsSession(_) => Self::bad_request(err),
            SessionError::Closed => Self::new(StatusCode::GONE, "closed", err.to_string()),
            SessionError::Fork(_) => Self::new(StatusCode::CONFLICT, "not_forkable", err.to_string()),
            SessionError::ForkInterrupted | SessionError::ResumeInterrupted(_) => {
                Self::new(StatusCode::CONFLICT, "interrupted", err.to_string())
            }
            SessionError::Held(_) => Self::new(StatusCode::CONFLICT, "held", err.to_string()),
            SessionError::Superseded(_) => Self::new(StatusCode::CONFLICT, "superseded", err.to_string()),
            SessionError::TakenOver(_) => Self::new(StatusCode::CONFLICT, "taken_over", err.to_string()),
            SessionError::NotResumable { .. } => Self::new(StatusCode::CONFLICT, "not_resumable", err.to_string()),
            SessionError::NotFound(_) => Self::not_found(err),
            SessionError::Deps(deps) => deps.into(),
            SessionError::Skill(skill) => skill.into(),
            SessionError::Artifact(artifact) => artifact.into(),
            other => Self::internal(other),
        }
    }
}
