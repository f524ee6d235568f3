//! Bearer-token authentication that fails closed, for `codemode serve` and
//! `codemode mcp --http` alike.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;

/// Fewer characters than this is refused at start.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Why a server refuses to start with the authentication it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No token, and serving without one was not asked for.
    #[error("refusing to serve without authentication: set CODEMODE_TOKEN (or --token), or pass --insecure-no-auth")]
    Missing,
    /// The token is shorter than [`MIN_TOKEN_CHARS`].
    #[error("the token is too short: use at least {MIN_TOKEN_CHARS} characters")]
    TooShort,
    /// The token holds whitespace or control characters. No client can send a
    /// header value that matches such a token (HTTP trims the ends of header
    /// values and forbids control characters), so it would lock every client out.
    #[error(
        "the token contains whitespace or control characters (a trailing newline from a file?): use printable \
         characters only, e.g. `openssl rand -hex 24`"
    )]
    BadCharacters,
}

/// The token requests must carry, or none when the server was started with
/// `--insecure-no-auth`. Only the token's digest is kept.
#[derive(Clone)]
pub struct Auth(Option<[u8; 32]>);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Auth(bearer)" } else { "Auth(none)" })
    }
}

impl Auth {
    /// Requests must carry `Authorization: Bearer <token>`. The token must be at least
    /// [`MIN_TOKEN_CHARS`] long, of printable characters without spaces.
    pub fn bearer(token: &str) -> Result<Self, TokenError> {
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::BadCharacters);
        }
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(TokenError::TooShort);
        }
        Ok(Self(Some(digest(token.as_bytes()))))
    }

    /// Every request is let in: only behind something that authenticates.
    pub fn none() -> Self {
        Self(None)
    }

    /// What a server's `--token` (or `CODEMODE_TOKEN`) and `--insecure-no-auth` flags
    /// ask for. An empty token counts as none.
    pub fn from_flags(token: Option<&str>, insecure_no_auth: bool) -> Result<Self, TokenError> {
        match token.filter(|t| !t.is_empty()) {
            Some(token) => Self::bearer(token),
            None if insecure_no_auth => Ok(Self::none()),
            None => Err(TokenError::Missing),
        }
    }

    /// Whether `headers` carry the token. Digests are compared, so the time taken
    /// says nothing about the token, not even its length.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.0 else { return true };
        let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.as_bytes().strip_prefix(b"Bearer ")) else {
            return false;
        };
        let given = digest(given);
        expected.iter().zip(given.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// `body` as the 401 answer to a request without the right token: the status and
/// the `WWW-Authenticate` challenge clients look for.
pub fn unauthorized(body: impl IntoResponse) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, body).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Rejects requests without the right `Authorization: Bearer <token>` with 401.
pub(crate) async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.auth.accepts(request.headers()) {
        return next.run(request).await;
    }
    unauthorized(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong bearer token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn only_the_token_is_accepted() {
        let auth = Auth::bearer("s3cret-s3cret-s3cret").unwrap();
        assert!(auth.accepts(&bearer(b"Bearer s3cret-s3cret-s3cret")));
        for wrong in [&b"Bearer s3cret-s3cret-s3cre"[..], b"bearer s3cret-s3cret-s3cret", b"s3cret-s3cret-s3cret"] {
            assert!(!auth.accepts(&bearer(wrong)), "{}", String::from_utf8_lossy(wrong));
        }
        assert!(!auth.accepts(&bearer(b"Bearer \xffs3cret")) && !auth.accepts(&HeaderMap::new()));
        assert!(Auth::none().accepts(&HeaderMap::new()));
    }

    #[test]
    fn unusable_tokens_are_refused() {
        assert_eq!(Auth::from_flags(None, false).unwrap_err(), TokenError::Missing);
        assert_eq!(Auth::from_flags(Some(""), false).unwrap_err(), TokenError::Missing);
        assert!(Auth::from_flags(None, true).unwrap().accepts(&HeaderMap::new()));
        assert_eq!(Auth::bearer("short").unwrap_err(), TokenError::TooShort);
        let spaces = " ".repeat(20);
        let newline = format!("{}\n", "x".repeat(20));
        for bad in [spaces.as_str(), &newline, "abcdefgh abcdefgh", "abcdefgh\tabcdefgh", "abcdefgh\0abcdefgh"] {
            assert_eq!(Auth::bearer(bad).unwrap_err(), TokenError::BadCharacters, "{bad:?}");
        }
        assert!(Auth::bearer("0123456789abcdef").is_ok());
    }
}
