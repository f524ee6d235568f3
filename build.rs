//! Builds the guest component (CPython on WASI + `wasm/guest` + `wit/`) and hands its
//! path to the crate, which embeds it.
//!
//! componentize-py is not reproducible byte for byte, so builds are cached by a hash
//! of their *inputs* in the user cache directory, shared by every checkout.
//! `CODEMODE_GUEST_WASM=path` skips the build and embeds a prebuilt component.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "src/cache_dir.rs"]
mod cache_dir;

/// Bumped when the build recipe changes in a way the hashed inputs do not show.
const RECIPE: &str = "componentize-py==0.25.1;v1";

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for var in ["CODEMODE_GUEST_WASM", "CODEMODE_CACHE_DIR", "XDG_CACHE_HOME"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for input in ["wit", "wasm/guest", "scripts/build-guest.sh"] {
        println!("cargo:rerun-if-changed={input}");
    }

    let wasm = match env::var_os("CODEMODE_GUEST_WASM") {
        Some(prebuilt) => PathBuf::from(prebuilt),
        None => build_cached(&root),
    };
    let bytes = fs::read(&wasm).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", wasm.display())));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("sandbox.wasm");
    fs::write(&out, &bytes).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", out.display())));
    // The precompiled-artifact cache is keyed by the exact bytes embedded.
    println!("cargo:rustc-env=CODEMODE_GUEST_SHA256={}", hex(&Sha256::digest(&bytes)));
    println!("cargo:rustc-env=CODEMODE_GUEST_WASM_PATH={}", out.display());
}

fn build_cached(root: &Path) -> PathBuf {
    let mut files = Vec::new();
    for dir in ["wit", "wasm/guest"] {
        collect(&root.join(dir), &mut files);
    }
    files.push(root.join("scripts/build-guest.sh"));
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
    let wasm = cache.join(format!("{}.wasm", &key[..32]));
    if wasm.is_file() {
        return wasm;
    }
    let status = Command::new("bash")
        .arg(root.join("scripts/build-guest.sh"))
        .arg(&wasm)
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run scripts/build-guest.sh: {e}")));
    if !status.success() {
        fail("scripts/build-guest.sh failed (its output is above); it needs python3 and access to PyPI");
    }
    wasm
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
