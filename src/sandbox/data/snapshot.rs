//! The profile's own snapshot: the wheel's plain interpreter started and numpy and
//! pandas imported, then frozen by wasmtime-wizer into a module whose memory is that
//! state (the wheel's stock snapshot stops before numpy). A session then starts with
//! them imported: its first numpy and pandas cell costs milliseconds instead of a
//! second or more, and the pages they fill are shared by every session.
//!
//! Wizer's own `run` would call the init export with no arguments; we instead drive
//! the instrumented instance ourselves (`_initialize`, the module's
//! `wizer.initialize`, then one `turn` with the imports) and only ask wizer to take
//! the snapshot, so the module is not rewritten beforehand.

use std::path::Path;

use wasmtime::{Config, Engine, Instance, Linker, Store, Val};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::instance::{HOST_FAULT, wasi_ctx};
use crate::sandbox::SandboxError;
use crate::sandbox::output::Capture;

/// The version of what the snapshot holds and how it is made: part of the cache
/// key, so changing [`PRE_IMPORT`], the guest layout or the steps makes a new one.
pub(super) const RECIPE: u32 = 2;

/// What the snapshot has run: the modules most cells use, imported once for all
/// sessions. matplotlib's import builds its font list (a second, most of a first
/// plot's time); the snapshot keeps that list in memory, and the cache file it wrote
/// to the snapshot's own `/tmp` is not kept, so sessions start with an empty `/tmp`.
const PRE_IMPORT: &str = "import numpy, pandas\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot\n";

/// The export the wheel's plain module pre-initialises with (removed from the result).
const MODULE_INIT: &str = "wizer.initialize";

/// The most stderr kept to explain a failed pre-import.
const STDERR_KEPT: u32 = 16 << 10;

/// Builds the snapshot from the plain module `wasm`, with the guest file layout
/// of a session (`lib`, `mpl_data`, and `tmp` as its `/tmp`): wasi-libc keeps the
/// table of preopened directories it found in the snapshot, so sessions must
/// preopen the same guest paths in the same order.
pub(super) fn build(wasm: &[u8], lib: &Path, mpl_data: &Path, tmp: &Path) -> Result<Vec<u8>, SandboxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| SandboxError::Setup(format!("cannot start the snapshot's runtime: {e}")))?;
    runtime.block_on(build_async(wasm, lib, mpl_data, tmp))
}

async fn build_async(wasm: &[u8], lib: &Path, mpl_data: &Path, tmp: &Path) -> Result<Vec<u8>, SandboxError> {
    let failed = |what: &'static str| move |err: wasmtime::Error| SandboxError::Setup(format!("{what}: {err:#}"));
    let mut wizer = Wizer::new();
    wizer.init_func(MODULE_INIT);
    let (cx, instrumented) = wizer.instrument(wasm).map_err(failed("preparing the data profile's snapshot"))?;

    // This engine only runs the initialisation once: no epoch checks, and Cranelift
    // without optimisation (the compile dominates; the imports take a second).
    let mut config = Config::new();
    config.wasm_exceptions(true).cranelift_opt_level(wasmtime::OptLevel::None);
    let engine = Engine::new(&config).map_err(failed("configuring the snapshot's engine"))?;
    let module = wasmtime::Module::new(&engine, &instrumented).map_err(failed("compiling the plain interpreter"))?;
    drop(instrumented);

    let stderr = Capture::new("stderr");
    stderr.begin(STDERR_KEPT);
    let wasi = wasi_ctx(Capture::new("stdout"), stderr.clone(), lib, mpl_data, tmp)?;
    let mut store = Store::new(&engine, wasi);
    let mut linker = Linker::<WasiP1Ctx>::new(&engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |wasi| wasi).map_err(failed("linking the snapshot"))?;
    // Importing numpy and pandas never calls the host.
    linker
        .func_wrap("host", "call", |_: i32, _: i32, _: i32, _: i32| HOST_FAULT)
        .map_err(failed("linking the snapshot"))?;
    let instance =
        linker.instantiate_async(&mut store, &module).await.map_err(failed("instantiating the plain interpreter"))?;

    let explain = |stage: &str, detail: String| {
        let stderr = stderr.finish(0).text;
        SandboxError::Setup(format!("the data profile's snapshot failed at {stage}: {detail} {stderr}"))
    };
    for init in ["_initialize", MODULE_INIT] {
        let func = instance.get_typed_func::<(), ()>(&mut store, init).map_err(|e| explain(init, e.to_string()))?;
        func.call_async(&mut store, ()).await.map_err(|e| explain(init, format!("{e:#}")))?;
    }
    let alloc = instance
        .get_typed_func::<i32, i32>(&mut store, "host_alloc")
        .map_err(|e| explain("host_alloc", e.to_string()))?;
    let turn =
        instance.get_typed_func::<(i32, i32), i32>(&mut store, "turn").map_err(|e| explain("turn", e.to_string()))?;
    let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| explain("memory", "no export".into()))?;
    let len = PRE_IMPORT.len() as i32;
    let at = alloc.call_async(&mut store, len).await.map_err(|e| explain("host_alloc", format!("{e:#}")))?;
    memory
        .write(&mut store, at as u32 as usize, PRE_IMPORT.as_bytes())
        .map_err(|e| explain("writing the imports", e.to_string()))?;
    let status = turn.call_async(&mut store, (at, len)).await.map_err(|e| explain("the imports", format!("{e:#}")))?;
    if status != 0 {
        return Err(explain("the imports", format!("status {status}")));
    }
    let mut frozen = Frozen { store: &mut store, instance, unreadable: None };
    let wasm = wizer.snapshot(&cx, &mut frozen).await.map_err(failed("taking the data profile's snapshot"))?;
    match frozen.unreadable {
        Some(name) => Err(SandboxError::Setup(format!("the data profile's snapshot could not read {name}"))),
        None => Ok(wasm),
    }
}

/// The initialised instance, read by wizer.
struct Frozen<'a> {
    store: &'a mut Store<WasiP1Ctx>,
    instance: Instance,
    /// A global or memory wizer asked for that the instance does not have as
    /// expected (the trait cannot fail): the snapshot is then refused.
    unreadable: Option<String>,
}

impl InstanceState for Frozen<'_> {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        // Wizer asks only for the globals its instrumentation exported, of number
        // types (it refuses reference-typed mutable globals up front).
        match self.instance.get_global(&mut *self.store, name).map(|g| g.get(&mut *self.store)) {
            Some(Val::I64(x)) => SnapshotVal::I64(x),
            Some(Val::F32(x)) => SnapshotVal::F32(x),
            Some(Val::F64(x)) => SnapshotVal::F64(x),
            Some(Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            Some(Val::I32(x)) => SnapshotVal::I32(x),
            _ => {
                self.unreadable = Some(format!("the global {name}"));
                SnapshotVal::I32(0)
            }
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => {
                self.unreadable = Some(format!("the memory {name}"));
                contents(&[]);
            }
        }
    }
}
