//! Where codemode keeps rebuildable files (the guest build, precompiled artifacts).
//!
//! Shared with `build.rs` through `#[path]`, so the build and the library agree.

use std::path::PathBuf;

/// `$CODEMODE_CACHE_DIR`, else `$XDG_CACHE_HOME/codemode`, else `$HOME/.cache/codemode`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CODEMODE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|d| !d.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("codemode"))
}
