//! Builds the guest (the CPython-on-WASI component from `wasm/guest` + `wit/`, and the
//! matching stdlib tar) and hands their paths to the crate, which embeds both.
//!
//! componentize-py is not reproducible byte for byte, so builds are cached by a hash
//! of their *inputs* in the user cache directory, shared by every checkout.
//! `CODEMODE_GUEST_DIR=dir` skips the build and embeds a prebuilt `sandbox.wasm` and
//! `stdlib.tar` from `dir`.

// A build script reports failure by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "src/cache_dir.rs"]
mod cache_dir;

/// Bumped when the build recipe changes in a way the hashed inputs do not show.
const RECIPE: &str = "componentize-py==0.25.1;zstandard==0.25.0;v2";

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for var in ["CODEMODE_GUEST_DIR", "CODEMODE_CACHE_DIR", "XDG_CACHE_HOME"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for input in ["wit", "wasm/guest", "scripts/build-guest.sh", "scripts/extract-stdlib.py"] {
        println!("cargo:rerun-if-changed={input}");
    }

    let guest = match env::var_os("CODEMODE_GUEST_DIR") {
        Some(prebuilt) => PathBuf::from(prebuilt),
        None => build_cached(&root),
    };
    for (file, var) in [("sandbox.wasm", "CODEMODE_GUEST_WASM"), ("stdlib.tar", "CODEMODE_GUEST_STDLIB")] {
        let path = guest.join(file);
        let bytes = fs::read(&path).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
        println!("cargo:rerun-if-changed={}", path.display());
        println!("cargo:rustc-env={var}={}", path.display());
        // Caches derived from these files are keyed by the exact bytes embedded.
        println!("cargo:rustc-env={var}_SHA256={}", hex(&Sha256::digest(&bytes)));
    }
}

fn build_cached(root: &Path) -> PathBuf {
    let mut files = Vec::new();
    for dir in ["wit", "wasm/guest"] {
        collect(&root.join(dir), &mut files);
    }
    files.push(root.join("scripts/build-guest.sh"));
    files.push(root.join("scripts/extract-stdlib.py"));
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(RECIPE);
    for file in &files {
        let rel = file.strip_prefix(root).unwrap_or(file);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        let content = fs::read(file).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", file.display())));
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    let key = hex(&hasher.finalize());
    let cache = cache_dir::default_cache_dir()
        .unwrap_or_else(|| fail("no cache directory: set CODEMODE_CACHE_DIR (or HOME)"))
        .join("guest");
    let dir = cache.join(&key[..32]);
    if dir.join("sandbox.wasm").is_file() && dir.join("stdlib.tar").is_file() {
        return dir;
    }
    let status = Command::new("bash")
        .arg(root.join("scripts/build-guest.sh"))
        .arg(&dir)
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run scripts/build-guest.sh: {e}")));
    if !status.success() {
        fail("scripts/build-guest.sh failed (its output is above); it needs python3 and access to PyPI");
    }
    dir
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("cannot list {}: {e}", dir.display())));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                collect(&path, files);
            }
        } else if path.extension().is_some_and(|ext| ext == "py" || ext == "wit") {
            files.push(path);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fail(message: &str) -> ! {
    eprintln!("codemode build: {message}");
    std::process::exit(1);
}
