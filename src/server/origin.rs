//! `Origin` validation against DNS rebinding, as the MCP streamable HTTP transport
//! requires: a browser page on another site must not reach a server on loopback.

use std::net::IpAddr;

use axum::http::{HeaderMap, Uri, header};

/// An allow-list entry that is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an origin: write scheme://host[:port], e.g. https://app.example.com")]
pub struct InvalidOrigin(pub String);

/// Which `Origin` headers a server accepts: none at all (clients that are not
/// browsers send none), loopback origins, and the allow-listed ones.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Vec<Origin>);

/// An origin as RFC 6454 compares them: scheme, host and port (the scheme's
/// default when not written), all lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn parse(text: &str) -> Option<Self> {
        let uri: Uri = text.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        // An origin is only scheme and authority: no user info, path or query.
        if authority.as_str().contains('@') || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return None;
        }
        let port = authority.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        Some(Self { scheme, host: authority.host().to_ascii_lowercase(), port })
    }

    fn is_loopback(&self) -> bool {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl AllowedOrigins {
    /// Loopback origins plus `extra` (each `scheme://host[:port]`).
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, InvalidOrigin> {
        let parse = |text: &S| Origin::parse(text.as_ref()).ok_or_else(|| InvalidOrigin(text.as_ref().to_owned()));
        Ok(Self(extra.iter().map(parse).collect::<Result<_, _>>()?))
    }

    /// Whether a request with these headers may go on: no `Origin`, or one allowed.
    /// A header that is not an origin at all (`null`, bytes) is refused.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::ORIGIN) else { return true };
        let Some(origin) = value.to_str().ok().and_then(Origin::parse) else { return false };
        origin.is_loopback() || self.0.contains(&origin)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_origin(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn loopback_and_listed_origins_pass_others_do_not() {
        let allowed = AllowedOrigins::new(&["https://app.example.com"]).unwrap();
        assert!(allowed.allows(&HeaderMap::new()), "no Origin: not a browser");
        for ok in ["http://localhost:6274", "http://127.0.0.1", "http://[::1]:8080", "https://APP.example.com:443"] {
            assert!(allowed.allows(&with_origin(ok.as_bytes())), "{ok}");
        }
        for refused in [
            &b"http://evil.example"[..],
            b"http://localhost.evil.example",
            b"https://app.example.com:8443",
            b"http://app.example.com",
            b"null",
            b"",
            b"http://\xff",
            b"localhost",
        ] {
            assert!(!allowed.allows(&with_origin(refused)), "{}", String::from_utf8_lossy(refused));
        }
    }

    #[test]
    fn allow_list_entries_must_be_origins() {
        for bad in ["app.example.com", "https://app.example.com/path", "https://user@app.example.com", ""] {
            assert_eq!(AllowedOrigins::new(&[bad]).unwrap_err(), InvalidOrigin(bad.into()));
        }
    }
}
