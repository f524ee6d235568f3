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
    if path.is_file() {
        // SAFETY: the file was written by `precompile_component` of an engine with the
        // same compatibility hash (it is in the file name) and renamed into place
        // atomically, so it is a complete wasmtime artifact.
        // Unreadable or from another build: recompile and replace it below.
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
    let _ = write_atomically(&path, &compiled);
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

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
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
