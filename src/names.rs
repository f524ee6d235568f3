//! Names that arrive from agent code or clients and end up as storage keys or file
//! names: validated once, then carried as types, so no backend ever builds a path
//! from a string nobody checked.

use serde::{Deserialize, Serialize};

use crate::text::shown;

/// Names the `skills` namespace itself uses, so no skill may take them.
pub const RESERVED_SKILL_NAMES: &[&str] = &["list", "search", "get", "invoke", "create", "delete", "describe"];

/// Longest skill name.
const MAX_SKILL_NAME_LEN: usize = 128;

/// Why a name was refused; nothing was read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} name {name:?}: {reason}")]
pub struct InvalidName {
    /// What kind of name it was (`skill`, `artifact`, ...).
    pub what: &'static str,
    /// The name as given, shortened to its first 80 characters.
    pub name: String,
    /// Why it is invalid.
    pub reason: &'static str,
}

impl InvalidName {
    /// An error for `name`, which is quoted shortened.
    pub fn new(what: &'static str, name: &str, reason: &'static str) -> Self {
        Self { what, name: shown(name), reason }
    }
}

/// A validated skill name: an ASCII Python identifier of at most 128 characters,
/// not a keyword, not one of the namespace's own names, not starting with `_`
/// (py-code-mode's directory layout keeps helpers in `_*.py`).
///
/// Every skill operation takes one, so `../x` or `/etc/x` never reaches a backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SkillName(String);

impl SkillName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, InvalidName> {
        let invalid = |reason| Err(InvalidName::new("skill", name, reason));
        let mut chars = name.chars();
        let Some(first) = chars.next() else { return invalid("it is empty") };
        if name.len() > MAX_SKILL_NAME_LEN {
            return invalid("it is longer than 128 characters");
        }
        if !(first.is_ascii_alphabetic() || first == '_') || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return invalid("it must be a Python identifier (letters, digits, `_`, not starting with a digit)");
        }
        if name.starts_with('_') {
            return invalid("names starting with `_` are ignored by py-code-mode's directory layout");
        }
        if PYTHON_KEYWORDS.contains(&name) {
            return invalid("it is a Python keyword");
        }
        if RESERVED_SKILL_NAMES.contains(&name) {
            return invalid(
                "it is reserved by the skills namespace (list, search, get, invoke, create, delete, describe)",
            );
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SkillName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SkillName {
    type Error = InvalidName;

    fn try_from(name: String) -> Result<Self, InvalidName> {
        Self::new(&name)
    }
}

impl From<SkillName> for String {
    fn from(name: SkillName) -> String {
        name.0
    }
}

impl AsRef<str> for SkillName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SkillName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SkillName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Python's keywords: no name agent code writes after a dot may be one.
pub const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Whether `name` is an ASCII Python identifier and not a keyword: what agent code
/// can write after a dot or as a keyword argument.
pub fn is_python_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !PYTHON_KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skill_names() {
        for ok in ["word_stats", "a", "fetchV2", "x1"] {
            assert!(SkillName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "has-dash",
            "has space",
            "../x",
            "../../../../tmp/victim",
            "/etc/passwd",
            "a/b",
            "a.py",
            "a\0b",
            "list",
            "invoke",
            "class",
            "_private",
            "ünï",
        ] {
            assert!(SkillName::new(bad).is_err(), "{bad:?}");
        }
        assert!(SkillName::new(&"a".repeat(129)).is_err());
    }

    #[test]
    fn refused_names_are_quoted_short() {
        let err = SkillName::new(&format!("../{}", "x".repeat(1 << 20))).unwrap_err();
        assert!(err.to_string().len() < 300, "{}", err.to_string().len());
        assert!(err.name.ends_with('…'));
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<SkillName>("\"ok_name\"").is_ok());
        assert!(serde_json::from_str::<SkillName>("\"../x\"").is_err());
    }
}

const MAX_ARTIFACT_NAME_LEN: usize = 1024;
const MAX_ARTIFACT_SEGMENT_LEN: usize = 255;

/// A validated artifact name: relative, `/`-separated, and unable to leave the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactName(String);

impl ArtifactName {
    /// Validates `name`. Sub-paths (`scans/nmap.json`) are allowed; anything that could
    /// escape the store or collide with its bookkeeping is not.
    pub fn new(name: &str) -> Result<Self, InvalidName> {
        let invalid = |reason| Err(InvalidName::new("artifact", name, reason));
        if name.is_empty() {
            return invalid("it is empty");
        }
        if name.len() > MAX_ARTIFACT_NAME_LEN {
            return invalid("it is longer than 1024 bytes");
        }
        if name.contains('\0') {
            return invalid("it contains a NUL byte");
        }
        if name.contains('\\') {
            return invalid("it contains a backslash (use `/` between directories)");
        }
        if name.chars().any(char::is_control) {
            return invalid("it contains control characters");
        }
        if name.starts_with('/') {
            return invalid("it is an absolute path");
        }
        let bytes = name.as_bytes();
        if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
            return invalid("it starts with a drive letter");
        }
        if name == "__index__" {
            return invalid("`__index__` is reserved for the store's index");
        }
        for segment in name.split('/') {
            match segment {
                "" => return invalid("it has an empty path component (`//` or a trailing `/`)"),
                "." | ".." => return invalid("it contains `.` or `..` (path traversal)"),
                s if s.starts_with('.') => {
                    return invalid("a component starts with `.` (reserved for the store's own files)");
                }
                s if s.len() > MAX_ARTIFACT_SEGMENT_LEN => return invalid("a path component is longer than 255 bytes"),
                _ => {}
            }
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<ArtifactName> for String {
    fn from(name: ArtifactName) -> Self {
        name.0
    }
}

impl std::fmt::Display for ArtifactName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// PEP 503 normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_package_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Longest session id or name.
const MAX_SESSION_ID_LEN: usize = 64;

/// A validated session id (a server's random id, or a name given to `codemode repl
/// --session`): 1 to 64 ASCII letters, digits, `-` or `_`, not starting with `-`.
/// A session's journal is stored under it, so a path-like, huge or non-ASCII id is
/// refused before any storage is touched. Ids a server makes are 128 random bits:
/// knowing one is what lets a client use the session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// Validates `id`.
    pub fn new(id: &str) -> Result<Self, InvalidName> {
        let invalid = |reason| Err(InvalidName::new("session", id, reason));
        if id.is_empty() {
            return invalid("it is empty");
        }
        if id.len() > MAX_SESSION_ID_LEN {
            return invalid("it is longer than 64 characters");
        }
        if id.starts_with('-') || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return invalid("it may hold only ASCII letters, digits, `-` and `_`, and not start with `-`");
        }
        Ok(Self(id.to_owned()))
    }

    /// A name a person chose for a session (`codemode repl --session NAME`):
    /// validated like [`new`](Self::new), and never of the shape of
    /// [`random`](Self::random) ids, which servers reach.
    pub fn named(name: &str) -> Result<Self, InvalidName> {
        let id = Self::new(name)?;
        if id.is_random() {
            return Err(InvalidName::new(
                "session",
                name,
                "32 hex digits is the shape of a server's session ids, which HTTP clients reach; choose another name",
            ));
        }
        Ok(id)
    }

    /// A new random id (128 bits from the host's generator, as 32 hex digits).
    pub fn random() -> Self {
        use rand::Rng as _;
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Whether it has the shape of [`random`](Self::random) ids (32 lowercase hex
    /// digits). A server resumes, deletes and sweeps only those: a name a person
    /// chose (`codemode repl --session work`) is guessable, so no HTTP client may
    /// reach it, and `repl` refuses names of this shape.
    pub fn is_random(&self) -> bool {
        self.0.len() == 32 && self.0.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SessionId {
    type Error = InvalidName;
    fn try_from(id: String) -> Result<Self, InvalidName> {
        Self::new(&id)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

#[cfg(test)]
mod session_id_tests {
    use super::SessionId;

    #[test]
    fn hostile_session_ids_are_refused_before_any_storage() {
        for bad in ["", "../x", "a/b", "a:b", "-x", ".", "é", "a b", "a\0b", &"x".repeat(65), "x\n"] {
            assert!(SessionId::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["work", "0123456789abcdef0123456789abcdef", "a-b_c", &"x".repeat(64)] {
            assert_eq!(SessionId::new(good).unwrap().as_str(), good);
        }
        let (a, b) = (SessionId::random(), SessionId::random());
        assert!(a != b && a.as_str().len() == 32 && SessionId::new(a.as_str()).is_ok());
    }

    #[test]
    fn names_people_choose_never_take_the_shape_servers_reach() {
        assert!(SessionId::random().is_random());
        for named in
            ["work", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcde", "g".repeat(32).as_str()]
        {
            assert!(!SessionId::new(named).unwrap().is_random(), "{named}");
            assert!(SessionId::named(named).is_ok(), "{named}");
        }
        let err = SessionId::named("0123456789abcdef0123456789abcdef").unwrap_err();
        assert!(err.to_string().contains("choose another name"), "{err}");
    }
}
