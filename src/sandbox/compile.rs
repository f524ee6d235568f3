//! Engine configuration and the on-disk cache of precompiled guest artifacts.
//!
//! Cranelift needs 10-20 s on two cores to compile the 22 MB guest; loading the
//! precompiled artifact with `mmap` takes about 2 ms. The cache key covers the exact
//! guest bytes and the engine's compatibility hash, so a wasmtime upgrade or a config
//! change never loads a stale artifact.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use super::{CompileEvent, ProgressFn, SandboxError};

/// The guest component built by `build.rs` from `wasm/guest` and `wit/`.
pub(crate) const GUEST_WASM: &[u8] = include_bytes!(env!("CODEMODE_GUEST_WASM"));
const GUEST_SHA256: &str = env!("CODEMODE_GUEST_WASM_SHA256");

/// Wasm stack available to every guest. CPython's C recursion (repr of nested data,
/// the compiler, the parser) needs more than wasmtime's 512 KiB default.
const MAX_WASM_STACK: usize = 16 << 20;

/// Whether an engine counts fuel; each needs its own compiled artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    /// No fuel: the fast default.
    Off,
    /// Deterministic instruction budgets, about 40 % slower.
    Fuel,
}

impl Metering {
    fn name(self) -> &'static str {
        match self {
            Metering::Off => "plain",
            Metering::Fuel => "fuel",
        }
    }
}

/// Engine settings that `benches/sandbox.rs -- compute` (and `benches/data.rs --
/// compute` for the data profile) compare against the one sessions use
/// ([`Standard`](Self::Standard)); the README has what each gave.
/// Measurement only: the others are not faster, or not safe.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EngineVariant {
    /// What every session runs on.
    #[default]
    Standard,
    /// No epoch checks: what they cost. A timeout can then never stop a busy loop.
    NoEpochChecks,
    /// Cranelift's `speed_and_size` optimisation level instead of `speed`.
    SpeedAndSize,
}

/// The settings every guest's engine shares (the default guest's and the data
/// profile's): epoch checks, fuel, the stack, and the variant being measured.
pub(crate) fn config(metering: Metering, variant: EngineVariant) -> Config {
    let mut config = Config::new();
    config
        // Epoch ticks make long-running guest code yield to tokio, so a timeout can fire.
        .epoch_interruption(variant != EngineVariant::NoEpochChecks)
        .consume_fuel(metering == Metering::Fuel)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK + (1 << 20));
    if variant == EngineVariant::SpeedAndSize {
        config.cranelift_opt_level(wasmtime::OptLevel::SpeedAndSize);
    }
    config
}

pub(crate) fn engine(metering: Metering, variant: EngineVariant) -> Result<Engine, SandboxError> {
    let mut config = config(metering, variant);
    config.wasm_component_model(true);
    Engine::new(&config).map_err(SandboxError::wasmtime("configuring the engine"))
}

/// Loads the guest for `engine` from the cache, else compiles it and caches the result.
// The crate's only unsafe code: wasmtime cannot check that precompiled machine code
// is what it claims, so loading it is unsafe (see the SAFETY notes below).
#[allow(unsafe_code)]
pub(crate) fn component(
    engine: &Engine,
    metering: Metering,
    cache_dir: &Path,
    progress: Option<&ProgressFn>,
) -> Result<Component, SandboxError> {
    let path = artifact_path(engine, metering, cache_dir);
    if is_intact(&path) {
        // SAFETY: the file's bytes are the ones `precompile_component` of an engine
        // with the same compatibility hash (it is in the file name) produced: their
        // SHA-256 is the one recorded when they were written (see `is_intact`).
        // From another build: recompile and replace it below.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(component);
        }
    }

    let started = Instant::now();
    if let Some(progress) = progress {
        progress(CompileEvent::Started { metering });
    }
    let compiled =
        engine.precompile_component(GUEST_WASM).map_err(SandboxError::wasmtime("compiling the guest component"))?;
    if let Some(progress) = progress {
        progress(CompileEvent::Finished { metering, elapsed: started.elapsed() });
    }
    // A cache that cannot be written costs the next process a compile, nothing more.
    let _ = write_cached(&path, &compiled);
    // SAFETY: `compiled` was produced just now by this very engine.
    unsafe { Component::deserialize(engine, &compiled) }
        .map_err(SandboxError::wasmtime("loading the compiled guest component"))
}

fn artifact_path(engine: &Engine, metering: Metering, dir: &Path) -> PathBuf {
    // SipHash with fixed keys: stable for a given build of this crate, which is all
    // a cache key needs (the guest hash covers the rest).
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let name = format!("{}-{}-{:016x}.cwasm", &GUEST_SHA256[..16], metering.name(), hasher.finish());
    dir.join("precompiled").join(name)
}

/// Where the SHA-256 of the precompiled artifact at `path` is recorded.
fn digest_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".sha256");
    path.with_file_name(name)
}

/// Caches a precompiled artifact at `path` with its SHA-256 beside it, which
/// [`is_intact`] checks before the artifact is loaded. The old digest goes first
/// and the new one last, so a reader in between finds none or a mismatch and
/// compiles rather than loads.
pub(crate) fn write_cached(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use sha2::{Digest, Sha256};
    let digest = digest_path(path);
    match std::fs::remove_file(&digest) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    write_atomically(path, bytes)?;
    write_atomically(&digest, hex(&Sha256::digest(bytes)).as_bytes())
}

/// The SHA-256 of the file at `path` in lower-case hex, streamed (a data profile's
/// artifact is a third of a gigabyte).
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the cached artifact at `path` is the one [`write_cached`] wrote: its
/// SHA-256 is the recorded one. Loading precompiled machine code is unsafe, so a
/// truncated, corrupted or tampered file (or one cached before digests were
/// recorded) is compiled again, never loaded.
///
/// What this cannot catch: whoever can write the cache directory can write a
/// matching digest too (the directory must be the user's own), and an in-place
/// write racing the load (ours never write in place: they rename).
pub(crate) fn is_intact(path: &Path) -> bool {
    // 64 hex digits; anything longer is not a digest this code wrote.
    let recorded = match std::fs::File::open(digest_path(path)) {
        Ok(file) => {
            let mut text = String::new();
            match std::io::Read::read_to_string(&mut std::io::Read::take(file, 65), &mut text) {
                Ok(64) => text,
                _ => return false,
            }
        }
        Err(_) => return false,
    };
    sha256_file(path).is_ok_and(|actual| actual == recorded)
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Named after the file too: one process may write two artifacts at once (the
    // plain and the fuel guest compile on their own threads).
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Spawns the thread that advances `engine`'s epoch; it ends with the engine.
pub(crate) fn start_epoch_ticker(engine: &Engine, tick: Duration) -> Result<(), SandboxError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("codemode-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map(drop)
        .map_err(SandboxError::Ticker)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A cached artifact is loaded only when its bytes are the ones written: not
    /// truncated, not one bit flipped, not without its recorded digest.
    #[test]
    fn only_an_intact_cached_artifact_is_loadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("precompiled").join("guest.cwasm");
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert!(!is_intact(&path), "nothing cached");
        write_cached(&path, &bytes).unwrap();
        assert!(is_intact(&path));

        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(!is_intact(&path), "truncated");
        let mut flipped = bytes.clone();
        flipped[12_345] ^= 0x04;
        std::fs::write(&path, &flipped).unwrap();
        assert!(!is_intact(&path), "one bit flipped");

        write_cached(&path, &bytes).unwrap();
        std::fs::write(digest_path(&path), "00".repeat(64)).unwrap();
        assert!(!is_intact(&path), "a digest that is not its own");
        std::fs::remove_file(digest_path(&path)).unwrap();
        assert!(!is_intact(&path), "no digest (cached before digests were recorded)");
        write_cached(&path, &bytes).unwrap();
        assert!(is_intact(&path), "rewritten");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
