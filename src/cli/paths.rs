//! `~` and `$HOME` in path flags and in the environment variables behind them.
//!
//! A shell expands `~` only at the start of a word it parses; an MCP client's JSON
//! config (`"args": ["mcp", "--base", "~/.codemode"]`), a systemd unit or a
//! `docker run -e CODEMODE_BASE=~/...` passes it through untouched, and the storage
//! would land in a directory literally named `~`. Every path flag parses with
//! [`path`] (a clap value parser, so environment values pass through it too).

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::builder::{OsStringValueParser, TypedValueParser};

/// The clap value parser of every path flag: [`expand`] with the process's `HOME`.
pub fn path() -> impl TypedValueParser<Value = PathBuf> {
    OsStringValueParser::new().try_map(|text| expand(&text, home()))
}

/// [`path`] for flags that keep a path as text (handed to pip, where it may also
/// be a URL, which is left as it is).
pub fn path_text(text: &str) -> Result<String, String> {
    let expanded = expand(OsStr::new(text), home())?;
    expanded.into_os_string().into_string().map_err(|_| "the expanded path is not UTF-8".to_owned())
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `text` with a leading `~`, `~/`, `$HOME` or `${HOME}` replaced by `home`;
/// anything else as it is. `~user` is refused (it would need the password
/// database, and guessing wrong puts files somewhere unexpected), as is a `~` with
/// no `HOME` to expand it to.
fn expand(text: &OsStr, home: Option<PathBuf>) -> Result<PathBuf, String> {
    let bytes = text.as_encoded_bytes();
    let Some(prefix) = ["${HOME}", "$HOME", "~"].into_iter().find(|p| bytes.starts_with(p.as_bytes())) else {
        return Ok(PathBuf::from(text));
    };
    let rest = &bytes[prefix.len()..];
    match (prefix, rest.first().copied()) {
        (_, None | Some(b'/')) => {}
        // `$HOMEDIR/x` is another variable: left as it is, like any other `$`.
        ("$HOME" | "${HOME}", _) => return Ok(PathBuf::from(text)),
        _ => return Err("`~user` is not expanded: write the full path".to_owned()),
    }
    let home = home.ok_or("cannot expand `~` or `$HOME`: HOME is not set")?;
    let text = text.to_str().ok_or("a path starting with `~` or `$HOME` must be UTF-8")?;
    let rest = text[prefix.len()..].trim_start_matches('/');
    Ok(if rest.is_empty() { home } else { home.join(rest) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_home() -> Option<PathBuf> {
        Some(PathBuf::from("/home/u"))
    }

    fn ok(text: &str) -> String {
        expand(OsStr::new(text), test_home()).unwrap().display().to_string()
    }

    #[test]
    fn expands_the_home_prefixes_only() {
        assert_eq!(ok("~"), "/home/u");
        assert_eq!(ok("~/"), "/home/u");
        assert_eq!(ok("~/.codemode"), "/home/u/.codemode");
        assert_eq!(ok("$HOME/a/b"), "/home/u/a/b");
        assert_eq!(ok("${HOME}/a"), "/home/u/a");
        assert_eq!(ok("$HOME"), "/home/u");
        assert_eq!(ok("./~/x"), "./~/x");
        assert_eq!(ok("/abs/~"), "/abs/~");
        assert_eq!(ok("$HOMEDIR/x"), "$HOMEDIR/x");
        assert_eq!(ok("relative"), "relative");
        assert_eq!(ok(""), "");
    }

    #[test]
    fn refuses_what_it_cannot_expand() {
        assert!(expand(OsStr::new("~root/x"), test_home()).unwrap_err().contains("~user"));
        assert!(expand(OsStr::new("~/x"), None).unwrap_err().contains("HOME is not set"));
        assert_eq!(expand(OsStr::new("/no/home/needed"), None).unwrap(), PathBuf::from("/no/home/needed"));
    }
}
