//! Bearer-token authentication that fails closed.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;

/// The token requests must carry, or none when the server was started with
/// `--insecure-no-auth`.
#[derive(Clone)]
pub(crate) struct Auth(Option<[u8; 32]>);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Auth(bearer)" } else { "Auth(none)" })
    }
}

impl Auth {
    pub(crate) fn new(token: Option<&str>) -> Self {
        Self(token.map(digest))
    }

    /// Compares digests so the time taken says nothing about the token, not even its length.
    fn accepts(&self, given: Option<&str>) -> bool {
        let Some(expected) = &self.0 else { return true };
        let Some(given) = given else { return false };
        let given = digest(given);
        expected.iter().zip(given.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Rejects requests without the right `Authorization: Bearer <token>` with 401.
pub(crate) async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if state.auth.accepts(given) {
        return next.run(request).await;
    }
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong bearer token").into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_is_accepted() {
        let auth = Auth::new(Some("s3cret"));
        assert!(auth.accepts(Some("s3cret")));
        assert!(!auth.accepts(Some("s3cre")) && !auth.accepts(Some("s3cret ")) && !auth.accepts(None));
        assert!(Auth::new(None).accepts(None));
    }
}
