//! Caps on what the host accepts from agent code and clients, checked by the
//! library layer every surface goes through (the guest's namespaces, the MCP and
//! HTTP servers, the Rust API), before anything is parsed, embedded or stored.

/// How large each kind of input may be, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// A skill's source (default 1 MiB).
    pub source: usize,
    /// A description or a search query (default 16 KiB).
    pub text: usize,
    /// An artifact's metadata, as JSON (default 1 MiB).
    pub metadata: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self { source: 1 << 20, text: 16 << 10, metadata: 1 << 20 }
    }
}

/// An input over its cap; nothing was done with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {size} bytes, over the {limit}-byte limit")]
pub struct TooLarge {
    /// What it was (`a skill's source`, `a search query`, ...).
    pub what: &'static str,
    /// Its size.
    pub size: usize,
    /// The cap.
    pub limit: usize,
}

/// `Ok` when `text` fits in `limit` bytes.
pub(crate) fn check(what: &'static str, text: &str, limit: usize) -> Result<(), TooLarge> {
    if text.len() > limit { Err(TooLarge { what, size: text.len(), limit }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_cap_is_refused_with_the_sizes() {
        assert!(check("a query", "abc", 3).is_ok());
        let err = check("a query", "abcd", 3).unwrap_err();
        assert_eq!(err.to_string(), "a query is 4 bytes, over the 3-byte limit");
    }
}
