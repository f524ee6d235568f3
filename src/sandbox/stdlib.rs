//! The guest's standard library on disk, mounted read-only at `/python`.
//!
//! The common modules are already in the guest's snapshot; this makes the rest of
//! the pure-Python stdlib importable too. It is the exact stdlib the guest's CPython
//! was built with, embedded at build time and unpacked once per cache directory.

use std::path::{Path, PathBuf};

use super::SandboxError;

const STDLIB_TAR: &[u8] = include_bytes!(env!("CODEMODE_GUEST_STDLIB"));
const STDLIB_SHA256: &str = env!("CODEMODE_GUEST_STDLIB_SHA256");

/// The unpacked stdlib under `cache_dir`, unpacking it first if needed.
pub(crate) fn ensure(cache_dir: &Path) -> Result<PathBuf, SandboxError> {
    let dir = cache_dir.join("stdlib").join(&STDLIB_SHA256[..16]);
    if dir.is_dir() {
        return Ok(dir);
    }
    let error = |source: std::io::Error| {
        tracing::error!(dir = %dir.display(), error = %source, "cannot unpack the guest's stdlib");
        SandboxError::Stdlib { path: dir.clone(), source }
    };
    let parent = dir.parent().unwrap_or(cache_dir);
    std::fs::create_dir_all(parent).map_err(error)?;
    // Unpack beside the target and rename, so a concurrent or interrupted unpack
    // never leaves a half-filled directory under the final name.
    let staging = tempfile_dir(parent).map_err(error)?;
    tar::Archive::new(STDLIB_TAR).unpack(&staging).map_err(error)?;
    match std::fs::rename(&staging, &dir) {
        Ok(()) => Ok(dir),
        // Another process finished first; its copy is identical.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(dir)
        }
        Err(err) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error(err))
        }
    }
}

fn tempfile_dir(parent: &Path) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let path = parent.join(format!(".unpack-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&path)?;
    Ok(path)
}
