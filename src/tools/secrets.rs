//! Host secrets in tool definitions: `${VAR}` references expanded from the host
//! environment, and the one scrubber every guest-visible string of a tool passes
//! through (results, errors, stderr excerpts, listings).
//!
//! Scrubbing is literal and happens before anything is cut: a string is scrubbed
//! whole, then shortened, so no cut point can expose part of a secret. Text that
//! was already cut while it was read (a capped stderr) first loses any end that
//! could be the start or the rest of a secret. JSON is scrubbed value by value,
//! never as serialized text, so a secret containing `"` or `\` is still found.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ToolError;
#[cfg(feature = "mcp-tools")]
use super::{CallableInfo, ParamInfo};

/// Shortest expanded value that is scrubbed (shorter ones would mangle ordinary text).
const MIN_SECRET_LEN: usize = 4;
/// What a secret is replaced with.
const REDACTED: &str = "***";

/// The values a tool's definition pulled from the host environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

/// A tool without secrets.
pub(crate) static NO_SECRETS: Secrets = Secrets(Vec::new());

impl Secrets {
    /// Expands every `${VAR}` in `text` from the host environment and remembers the
    /// values. An unset variable is an error naming it.
    pub(crate) fn expand(&mut self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            out.push_str(&rest[..start]);
            let var = &rest[start + 2..start + end];
            let value = std::env::var(var).map_err(|_| var.to_owned())?;
            out.push_str(&value);
            if value.len() >= MIN_SECRET_LEN {
                self.0.push(value);
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A YAML `env:` mapping with every value expanded, for a child process. Names
    /// that no environment can hold and values with NUL are refused here, so they do
    /// not surface later as a failed spawn.
    pub(crate) fn expand_env(
        &mut self,
        env: Option<&BTreeMap<String, String>>,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut expanded = BTreeMap::new();
        for (key, value) in env.into_iter().flatten() {
            if key.is_empty() || key.contains(['=', '\0']) {
                return Err(format!("env name {key:?} must be non-empty, without `=` or NUL"));
            }
            let value = self
                .expand(value)
                .map_err(|var| format!("env {key} references ${{{var}}}, which is not set in the host environment"))?;
            if value.contains('\0') {
                return Err(format!("env {key} contains a NUL character"));
            }
            expanded.insert(key.clone(), value);
        }
        Ok(expanded)
    }

    /// `text` with every occurrence of a remembered value replaced by `***`.
    /// Overlapping occurrences (of one secret or of two) become one `***`, so no
    /// fragment of either is left between them.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut covered: Option<Vec<bool>> = None;
        for secret in &self.0 {
            let mut from = 0;
            while let Some(at) = text[from..].find(secret.as_str()) {
                let start = from + at;
                let mask = covered.get_or_insert_with(|| vec![false; text.len()]);
                mask[start..start + secret.len()].fill(true);
                // Step one character, not the whole match, to find overlapping ones.
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        let Some(mask) = covered else { return text.to_owned() };
        // Matches of valid UTF-8 in valid UTF-8 start and end on character
        // boundaries, so every run boundary below is one.
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        while pos < text.len() {
            let run_end = mask[pos..].iter().position(|&m| m != mask[pos]).map_or(text.len(), |n| pos + n);
            if mask[pos] {
                out.push_str(REDACTED);
            } else {
                out.push_str(&text[pos..run_end]);
            }
            pos = run_end;
        }
        out
    }

    /// Text read from a process or a server whose bytes were cut while reading
    /// (`head_cut`: older bytes were dropped; `tail_cut`: later ones were not read),
    /// scrubbed: an incomplete character at a cut end is dropped, and so is an end
    /// that could be the rest (head) or the start (tail) of a secret.
    pub(crate) fn scrub_read(&self, bytes: &[u8], head_cut: bool, tail_cut: bool) -> String {
        let mut bytes = bytes;
        if head_cut {
            // UTF-8 continuation bytes are 0b10xx_xxxx.
            let skip = bytes.iter().take(3).take_while(|b| (**b & 0xC0) == 0x80).count();
            bytes = &bytes[skip..];
        }
        if tail_cut
            && let Err(e) = std::str::from_utf8(bytes)
            && e.error_len().is_none()
        {
            bytes = &bytes[..e.valid_up_to()];
        }
        let text = String::from_utf8_lossy(bytes);
        let mut text: &str = &text;
        if head_cut {
            let cut = self.0.iter().map(|s| longest_affix(text, s, Affix::SuffixOfSecret)).max().unwrap_or(0);
            text = &text[cut..];
        }
        if tail_cut {
            let cut = self.0.iter().map(|s| longest_affix(text, s, Affix::PrefixOfSecret)).max().unwrap_or(0);
            text = &text[..text.len() - cut];
        }
        self.scrub(text)
    }

    /// `text` scrubbed, then cut to at most `max_chars` characters with a marker.
    pub(crate) fn excerpt(&self, text: &str, max_chars: usize) -> String {
        cut(&self.scrub(text), max_chars)
    }

    /// `value` with every remembered value replaced by `***` in every string, object
    /// key and number (a number holding a secret becomes the scrubbed string).
    pub(crate) fn scrub_value(&self, value: Value) -> Value {
        if self.0.is_empty() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.scrub(&s)),
            Value::Number(n) => {
                let text = n.to_string();
                let scrubbed = self.scrub(&text);
                if scrubbed == text { Value::Number(n) } else { Value::String(scrubbed) }
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.scrub_value(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (self.scrub(&k), self.scrub_value(v))).collect())
            }
            other @ (Value::Null | Value::Bool(_)) => other,
        }
    }

    /// `err` with nothing secret left in any of its texts.
    pub(crate) fn scrub_error(&self, err: ToolError) -> ToolError {
        if self.0.is_empty() {
            return err;
        }
        let all = |names: Vec<String>| names.iter().map(|n| self.scrub(n)).collect();
        match err {
            ToolError::NotFound { tool, available } => {
                ToolError::NotFound { tool: self.scrub(&tool), available: all(available) }
            }
            ToolError::UnknownCallable { tool, callable, available } => ToolError::UnknownCallable {
                tool: self.scrub(&tool),
                callable: self.scrub(&callable),
                available: all(available),
            },
            ToolError::InvalidArguments { tool, message } => {
                ToolError::InvalidArguments { tool: self.scrub(&tool), message: self.scrub(&message) }
            }
            ToolError::Timeout { tool, seconds } => ToolError::Timeout { tool: self.scrub(&tool), seconds },
            ToolError::Failed { tool, message } => {
                ToolError::Failed { tool: self.scrub(&tool), message: self.scrub(&message) }
            }
        }
    }

    /// A call's outcome with nothing secret left in it.
    pub(crate) fn scrub_result(&self, result: Result<Value, ToolError>) -> Result<Value, ToolError> {
        result.map(|value| self.scrub_value(value)).map_err(|err| self.scrub_error(err))
    }

    /// A listed callable (names, descriptions and defaults come from a server for
    /// MCP tools) with nothing secret left in it.
    #[cfg(feature = "mcp-tools")]
    pub(crate) fn scrub_callable(&self, callable: CallableInfo) -> CallableInfo {
        if self.0.is_empty() {
            return callable;
        }
        CallableInfo {
            name: callable.name.map(|n| self.scrub(&n)),
            description: self.scrub(&callable.description),
            params: callable
                .params
                .into_iter()
                .map(|p| ParamInfo {
                    name: self.scrub(&p.name),
                    type_name: self.scrub(&p.type_name),
                    required: p.required,
                    default: p.default.map(|d| self.scrub_value(d)),
                    description: self.scrub(&p.description),
                })
                .collect(),
        }
    }
}

#[derive(Clone, Copy)]
enum Affix {
    /// How long a start of `text` is that is the end of `secret`.
    SuffixOfSecret,
    /// How long an end of `text` is that is the start of `secret`.
    PrefixOfSecret,
}

/// The length in bytes of the longest such part of `text` (0 when none).
fn longest_affix(text: &str, secret: &str, affix: Affix) -> usize {
    (1..=secret.len().min(text.len()))
        .rev()
        .find(|&n| match affix {
            Affix::SuffixOfSecret => {
                secret.is_char_boundary(secret.len() - n) && text.starts_with(&secret[secret.len() - n..])
            }
            Affix::PrefixOfSecret => secret.is_char_boundary(n) && text.ends_with(&secret[..n]),
        })
        .unwrap_or(0)
}

/// `text` cut to at most `max_chars` characters (never inside one), with a marker
/// saying how many were left out. Only for text that is already scrubbed.
fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((at, _)) => {
            let left_out = text[at..].chars().count();
            format!("{}... [{left_out} more characters]", &text[..at])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Secrets {
        Secrets(values.iter().map(|v| (*v).to_owned()).collect())
    }

    #[test]
    fn references_expand_and_are_scrubbed() {
        let mut secrets = Secrets::default();
        let path = std::env::var("PATH").unwrap();
        let text = secrets.expand("Bearer ${PATH}").unwrap();
        assert_eq!(text, format!("Bearer {path}"));
        assert_eq!(secrets.scrub(&format!("echo: {path}!")), "echo: ***!");
        assert_eq!(secrets.scrub_value(Value::String(path)), Value::String("***".into()));
        assert_eq!(secrets.expand("${CODEMODE_SURELY_UNSET_VAR}").unwrap_err(), "CODEMODE_SURELY_UNSET_VAR");
        assert_eq!(secrets.expand("plain ${unterminated").unwrap(), "plain ${unterminated");
    }

    #[test]
    fn env_mappings_are_checked() {
        let env = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        let mut s = Secrets::default();
        assert_eq!(s.expand_env(Some(&env("A", "b"))).unwrap(), env("A", "b"));
        assert!(s.expand_env(Some(&env("A=B", "c"))).unwrap_err().contains("without `=`"));
        assert!(s.expand_env(Some(&env("", "c"))).unwrap_err().contains("non-empty"));
        assert!(s.expand_env(Some(&env("A", "x\0y"))).unwrap_err().contains("NUL"));
        assert!(
            s.expand_env(Some(&env("K", "${CODEMODE_SURELY_UNSET_VAR}"))).unwrap_err().contains("env K references")
        );
    }

    #[test]
    fn overlapping_and_repeated_secrets_leave_no_fragment() {
        let s = secrets(&["abcd", "cdef"]);
        assert_eq!(s.scrub("x abcdef y abcd z"), "x *** y *** z");
        assert_eq!(secrets(&["aaaa"]).scrub("aaaaa"), "***");
        assert_eq!(secrets(&["pässwörd"]).scrub("é pässwörd é"), "é *** é");
        assert_eq!(s.scrub("nothing here"), "nothing here");
    }

    #[test]
    fn json_is_scrubbed_value_by_value() {
        let s = secrets(&[r#"q"u\o"#, "12345678"]);
        let value = serde_json::json!({"echo": r#"<q"u\o>"#, r#"q"u\o"#: [1, 12345678, "x"], "n": 123456789});
        let scrubbed = s.scrub_value(value);
        assert_eq!(scrubbed, serde_json::json!({"echo": "<***>", "***": [1, "***", "x"], "n": "***9"}));
    }

    #[test]
    fn cut_reads_lose_any_fragment_of_a_secret() {
        let s = secrets(&["SECRET-VALUE"]);
        // The read stopped inside the secret: its start is dropped.
        assert_eq!(s.scrub_read(b"error: SECRET-VA", false, true), "error: ");
        // Older bytes were dropped inside the secret: its rest is dropped.
        assert_eq!(s.scrub_read(b"RET-VALUE tail", true, false), " tail");
        // An incomplete character at a cut end is dropped, not shown as U+FFFD.
        assert_eq!(s.scrub_read("é".as_bytes().split_at(1).0, false, true), "");
        assert_eq!(s.scrub_read(&"éx".as_bytes()[1..], true, false), "x");
        assert_eq!(s.scrub_read(b"whole SECRET-VALUE", false, false), "whole ***");
    }

    #[test]
    fn excerpts_scrub_first_then_cut_on_a_character() {
        let s = secrets(&["SECRET-VALUE"]);
        for pad in 0..20 {
            let text = format!("{}SECRET-VALUE and more", "x".repeat(pad));
            let excerpt = s.excerpt(&text, 10);
            assert!(!excerpt.contains("SE") && !excerpt.contains("UE"), "{excerpt}");
        }
        assert_eq!(cut("ééé", 2), "éé... [1 more characters]");
        assert_eq!(cut("ééé", 3), "ééé");
    }
}
