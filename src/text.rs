//! Cutting text that came from outside to a size the host is willing to pass on,
//! and quoting it into a URL path segment.

/// Characters of a refused input quoted back in an error: enough to recognise it,
/// never the megabytes a hostile caller sent.
const SHOWN_CHARS: usize = 80;

/// `text` cut to its first 80 characters, with `…` when something was cut.
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A duration as people read it in an error: `30 s`, or `0.250 s` below whole seconds.
pub(crate) fn humanize(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{:.3} s", d.as_secs_f64()) }
}

/// Whether `key` is seen for the first time in this process: a problem found again
/// on every listing (a broken file) is logged once, not on every call. Remembers
/// at most 4096 keys; after that every key counts as seen.
pub(crate) fn first_time(key: &str) -> bool {
    use std::collections::HashSet;
    use std::sync::{Mutex, PoisonError};
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    let seen = seen.get_or_insert_with(HashSet::new);
    seen.len() < 4096 && seen.insert(key.to_owned())
}

/// `text` cut to at most `limit` bytes (at a character boundary) plus a marker
/// saying how much was cut; unchanged when it fits.
pub(crate) fn capped(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("... [truncated: {cut} more bytes]"));
    text
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value
/// cannot add path segments (`../admin`) or a query.
#[cfg(any(feature = "http-tools", feature = "mcp-server"))]
pub(crate) fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    // `.` and `..` alone would still be read as path navigation.
    match out.as_str() {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_keeps_80_characters() {
        assert_eq!(shown("short"), "short");
        assert_eq!(shown(&"é".repeat(100)).chars().count(), 81);
    }

    #[test]
    fn capped_cuts_at_a_character_boundary() {
        assert_eq!(capped("abc".into(), 3), "abc");
        assert_eq!(capped("abcdef".into(), 3), "abc... [truncated: 3 more bytes]");
        // 'é' is two bytes: a cut inside it backs off to the boundary before it.
        assert_eq!(capped("aé".into(), 2), "a... [truncated: 2 more bytes]");
        assert_eq!(capped("x".repeat(10), 0), "... [truncated: 10 more bytes]");
    }

    #[cfg(feature = "http-tools")]
    #[test]
    fn path_values_cannot_escape_their_segment() {
        assert_eq!(encode_segment("octo-cat_1.2~"), "octo-cat_1.2~");
        assert_eq!(encode_segment("../admin"), "..%2Fadmin");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("a b?c#d"), "a%20b%3Fc%23d");
    }
}
