//! One data-profile interpreter: a store with a WASI preview1 context, the module's
//! `turn` export (run one piece of code in `__main__`), and its `host.call` import
//! (the door agent code's namespaces and the runner talk to the host through).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use wasmtime::{Caller, Extern, Linker, Memory, Store, TypedFunc, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::DataPrepared;
use super::quota::{Quota, QuotaCaps, WithQuota};
use crate::sandbox::host::{Capabilities, Namespaces, door, mount_error};
use crate::sandbox::instance::{Cell, GuestRunResult, Outcome, RunStats, StopCause, classify};
use crate::sandbox::limits::{MemoryLimiter, MemoryShare};
use crate::sandbox::output::Capture;
use crate::sandbox::{Limits, SandboxError};

/// `host.call`'s answers (the module's own ABI): 0 answered, -2 a fault the guest
/// raises as an error (the request could not be read or the answer written).
pub(super) const HOST_FAULT: i32 = -2;
/// Why `deps.add` and `deps.sync` refuse in this profile.
const NO_RUNTIME_DEPS: &str = "the data profile cannot install packages at run time: its packages are compiled into \
     its interpreter (numpy, pandas, scipy, scikit-learn, statsmodels, matplotlib, pillow, lxml, sympy, networkx and \
     more: import them directly); packages from PyPI run in the default profile";

/// The largest request read from the guest: an artifact at the default 64 MiB cap,
/// base64-encoded, with room for its other arguments.
const MAX_REQUEST_BYTES: u32 = 96 << 20;
/// The guest path CPython's `sys.prefix` points at (where `python315.zip` is read).
const LIB_GUEST: &str = "/usr/local/lib";
/// Where matplotlib looks for its data: beside its code, inside the zip.
const MPL_DATA_GUEST: &str = "/usr/local/lib/python315.zip/matplotlib/mpl-data";
/// The session's own writable directory.
const TMP_GUEST: &str = "/tmp";
/// `/tmp`'s descriptor in the guest: preopens are numbered from 3 in the order
/// [`wasi_ctx`] adds them, and `/tmp` is the third.
const TMP_FD: u32 = 5;
/// The prelude's own budget: loading the runner modules takes well under a second.
const PRELUDE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Everything one data session's store holds.
pub(crate) struct DataState {
    wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
    stdout: Capture,
    stderr: Capture,
    ns: Namespaces,
    /// The cell the next turn runs, handed to the runner through the door.
    cell: Option<Value>,
    /// What the runner reported for the current turn.
    result: Option<GuestRunResult>,
    /// What the session's `/tmp` holds, against its quota.
    quota: Quota,
    /// The session's `/tmp` on the host, removed with the session.
    _tmp: PrivateDir,
}

/// The WASI context of every data interpreter, the snapshot's included: the same
/// arguments, environment and preopens in the same order (wasi-libc keeps the
/// preopen table it found when the snapshot was taken). As the default profile:
/// nothing of the host's environment, no network, no stdin, the interpreter's own
/// files read-only; the three variables are the ones CPython in this build reads at
/// start-up (not host values).
pub(super) fn wasi_ctx(
    stdout: Capture,
    stderr: Capture,
    lib: &Path,
    mpl_data: &Path,
    tmp: &Path,
) -> Result<WasiP1Ctx, SandboxError> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(stdout).stderr(stderr);
    wasi.arg("/usr/local/bin/python.wasm");
    wasi.env("HOME", TMP_GUEST).env("TMPDIR", TMP_GUEST).env("PYTHONTZPATH", "");
    wasi.preopened_dir(lib, LIB_GUEST, FsPerms::ReadOnly).map_err(mount_error("the stdlib", lib))?;
    wasi.preopened_dir(mpl_data, MPL_DATA_GUEST, FsPerms::ReadOnly)
        .map_err(mount_error("matplotlib's data", mpl_data))?;
    wasi.preopened_dir(tmp, TMP_GUEST, FsPerms::ReadWrite).map_err(mount_error("/tmp", tmp))?;
    Ok(wasi.build_p1())
}

/// A directory of this process's own, removed (with what is in it) on drop.
pub(super) struct PrivateDir(PathBuf);

impl PrivateDir {
    /// A new empty directory, readable by this user only, in this process's
    /// [`Parent`].
    pub(super) fn new() -> Result<Self, SandboxError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let parent = Parent::get().map_err(|e| {
            tracing::error!(error = %e, "cannot create the data sessions' private directory");
            SandboxError::Setup(format!("cannot create the session's /tmp: {}", e.kind()))
        })?;
        let path = parent.join(format!("{}-{:016x}", NEXT.fetch_add(1, Ordering::Relaxed), rand::random::<u64>()));
        private_dir(&path).map_err(|e| {
            tracing::error!(dir = %path.display(), error = %e, "cannot create a data session's /tmp");
            SandboxError::Setup(format!("cannot create the session's /tmp: {}", e.kind()))
        })?;
        Ok(Self(path))
    }

    /// Its host path.
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

/// Creates `path` readable by this user only.
fn private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// The name of every process's [`Parent`] starts so.
const PRIVATE_PREFIX: &str = "codemode-data-";
/// The file in a [`Parent`] its process keeps locked while it lives.
const LOCK_FILE: &str = "lock";

/// This process's directory of its sessions' private directories, under the
/// system's temporary directory: `0700`, holding [`LOCK_FILE`], which the process
/// holds an exclusive lock (`flock`) on until it exits, however it exits. A parent
/// whose lock can be taken belongs to no live process, whatever its PID namespace.
pub(super) struct Parent {
    path: PathBuf,
    _lock: std::fs::File,
}

impl Parent {
    /// Its host path.
    #[cfg(test)]
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// This process's parent, made (after a sweep of dead processes' parents) on
    /// first use.
    fn get() -> std::io::Result<PathBuf> {
        static PARENT: std::sync::Mutex<Option<Parent>> = std::sync::Mutex::new(None);
        let mut parent = PARENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(parent) = &*parent {
            return Ok(parent.path.clone());
        }
        let made = Self::make(&std::env::temp_dir())?;
        let path = made.path.clone();
        *parent = Some(made);
        Ok(path)
    }

    /// Sweeps `dir`, then makes a locked parent in it. The parent is made and locked
    /// under a name the sweep ignores and renamed into place, so no sweep ever sees
    /// it unlocked.
    pub(super) fn make(dir: &Path) -> std::io::Result<Self> {
        sweep(dir);
        let id = rand::random::<u64>();
        let staging = dir.join(format!(".{PRIVATE_PREFIX}{id:016x}"));
        private_dir(&staging)?;
        let locked = std::fs::File::create_new(staging.join(LOCK_FILE)).and_then(|lock| {
            lock.try_lock().map_err(std::io::Error::other)?;
            Ok(lock)
        });
        let path = dir.join(format!("{PRIVATE_PREFIX}{id:016x}"));
        match locked.and_then(|lock| std::fs::rename(&staging, &path).map(|()| lock)) {
            Ok(lock) => Ok(Self { path, _lock: lock }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    }
}

/// Removes the parents under `dir` that no live process holds (a killed server
/// never ran its sessions' drops). A directory without a lock file, or whose name
/// is not ours, is left alone.
pub(super) fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(|name| name.starts_with(PRIVATE_PREFIX)) {
            continue;
        }
        // A link planted as the lock file or the directory only makes the sweep
        // remove the link (remove_dir_all does not follow links).
        let Ok(lock) = std::fs::File::open(entry.path().join(LOCK_FILE)) else { continue };
        if lock.try_lock().is_ok() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl DataState {
    fn new(
        limits: &Limits,
        memory: Arc<MemoryShare>,
        prepared: &DataPrepared,
        capabilities: Capabilities,
    ) -> Result<Self, SandboxError> {
        let stdout = Capture::new("stdout");
        let stderr = Capture::new("stderr");
        let tmp = PrivateDir::new()?;
        Ok(Self {
            wasi: wasi_ctx(stdout.clone(), stderr.clone(), &prepared.lib, &prepared.mpl_data, tmp.path())?,
            limiter: MemoryLimiter::new(limits.memory, memory),
            stdout,
            stderr,
            // Not journaled: the data profile does not roll back yet (its WASI
            // clocks and random source are not on the tape).
            ns: Namespaces::new(capabilities, &crate::sandbox::journal::Tape::off()),
            cell: None,
            result: None,
            // Fixed for the session: a later run's limits differ only in their timeout.
            quota: Quota::new(tmp.path(), TMP_FD, QuotaCaps::with_bytes(limits.tmp_bytes)),
            _tmp: tmp,
        })
    }

    /// Answers one door request.
    async fn answer(&mut self, request: &[u8]) -> Value {
        // The arguments stay raw JSON (validated, not parsed into a tree) until the
        // function they are for reads them as its typed parameters.
        #[derive(serde::Deserialize)]
        struct Frame<'a> {
            f: String,
            #[serde(borrow, default)]
            a: Option<&'a serde_json::value::RawValue>,
        }
        let Ok(Frame { f, a }) = serde_json::from_slice::<Frame<'_>>(request) else {
            return json!({"err": {"kind": "InvalidInput", "message": "the request is not a JSON frame"}});
        };
        let args = a.map_or("[]", serde_json::value::RawValue::get);
        match f.as_str() {
            "runner.cell" => json!({ "ok": self.cell.take() }),
            "runner.result" => {
                self.result = serde_json::from_str::<(GuestRunResult,)>(args).ok().map(|(result,)| result);
                json!({ "ok": null })
            }
            // The profile's snapshot fixed its directories (no `/deps`), and its
            // CPython loads only the extensions linked into it.
            "deps.add_dep" | "deps.sync_deps" => json!({"err": {"kind": "NotConfigured", "message": NO_RUNTIME_DEPS}}),
            _ => door::dispatch(&mut self.ns, &f, args).await,
        }
    }
}

impl WithQuota for DataState {
    fn parts(&mut self) -> (&mut WasiP1Ctx, &mut Quota) {
        (&mut self.wasi, &mut self.quota)
    }
}

/// Links WASI preview1 (with `/tmp`'s quota) and `host.call`.
pub(super) fn add_to_linker(linker: &mut Linker<DataState>) -> wasmtime::Result<()> {
    super::quota::add_to_linker(linker)?;
    linker.func_wrap_async(
        "host",
        "call",
        |mut caller: Caller<'_, DataState>, (ptr, len, out_ptr, out_len): (i32, i32, i32, i32)| {
            Box::new(async move {
                // i32s from the guest are addresses: unsigned.
                host_call(&mut caller, ptr as u32, len as u32, out_ptr as u32, out_len as u32).await
            })
        },
    )?;
    Ok(())
}

/// `host.call(ptr, len, out_ptr_ptr, out_len_ptr)`: reads the request at
/// `ptr..ptr+len`, answers it, writes the answer into memory the guest's
/// `host_alloc` gives, and its address and length at the two out pointers.
async fn host_call(
    caller: &mut Caller<'_, DataState>,
    ptr: u32,
    len: u32,
    out_ptr: u32,
    out_len: u32,
) -> wasmtime::Result<i32> {
    let (Some(Extern::Memory(memory)), Some(Extern::Func(alloc))) =
        (caller.get_export("memory"), caller.get_export("host_alloc"))
    else {
        return Ok(HOST_FAULT);
    };
    let answer = if len > MAX_REQUEST_BYTES {
        json!({"err": {"kind": "InvalidInput", "message": format!("the request is larger than {MAX_REQUEST_BYTES} bytes")}})
    } else {
        let Some(request) = read(&memory, caller, ptr, len) else { return Ok(HOST_FAULT) };
        caller.data_mut().answer(&request).await
    };
    let answer = answer.to_string().into_bytes();
    let Ok(size) = i32::try_from(answer.len()) else { return Ok(HOST_FAULT) };
    let alloc = alloc.typed::<i32, i32>(&*caller)?;
    let at = alloc.call_async(&mut *caller, size).await? as u32;
    let data = memory.data_mut(&mut *caller);
    let fits = |at: u32, n: usize| (at as usize).checked_add(n).is_some_and(|end| at != 0 && end <= data.len());
    if !fits(at, answer.len()) || !fits(out_ptr, 4) || !fits(out_len, 4) {
        return Ok(HOST_FAULT);
    }
    data[at as usize..at as usize + answer.len()].copy_from_slice(&answer);
    data[out_ptr as usize..out_ptr as usize + 4].copy_from_slice(&at.to_le_bytes());
    data[out_len as usize..out_len as usize + 4].copy_from_slice(&(size as u32).to_le_bytes());
    Ok(0)
}

fn read(memory: &Memory, caller: &Caller<'_, DataState>, ptr: u32, len: u32) -> Option<Vec<u8>> {
    let start = ptr as usize;
    memory.data(caller).get(start..start.checked_add(len as usize)?).map(<[u8]>::to_vec)
}

/// A data-profile interpreter in its own store.
pub(crate) struct DataInstance {
    store: Store<DataState>,
    turn: TypedFunc<(i32, i32), i32>,
    alloc: TypedFunc<i32, i32>,
    memory: Memory,
}

impl DataInstance {
    pub(crate) async fn new(
        prepared: Arc<DataPrepared>,
        limits: &Limits,
        capabilities: Capabilities,
        memory: Arc<MemoryShare>,
    ) -> Result<Self, SandboxError> {
        let state = DataState::new(limits, memory, &prepared, capabilities)?;
        let mut store = Store::new(&prepared.engine, state);
        store.limiter(|state| &mut state.limiter);
        if prepared.metering == crate::sandbox::Metering::Fuel {
            // Counted, never a budget: the data profile refuses fuel limits, and
            // this engine exists to measure what counting costs.
            store.set_fuel(u64::MAX).map_err(SandboxError::wasmtime("setting fuel"))?;
        }
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        store.set_epoch_deadline(1);
        let instance = prepared
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(SandboxError::wasmtime("instantiating the data profile"))?;
        let turn = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "turn")
            .map_err(SandboxError::wasmtime("finding the data profile's turn export"))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "host_alloc")
            .map_err(SandboxError::wasmtime("finding the data profile's host_alloc export"))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| SandboxError::Setup("the data profile exports no memory".into()))?;
        let mut this = Self { store, turn, alloc, memory };
        this.prelude().await?;
        Ok(this)
    }

    /// The first turn: loads the runner modules from the sources sent with it, then
    /// sets up the session (namespaces, globals, fresh random seeds).
    async fn prelude(&mut self) -> Result<(), SandboxError> {
        let sources: serde_json::Map<String, Value> =
            super::guest::MODULES.iter().map(|(name, source)| ((*name).to_owned(), json!(source))).collect();
        // A JSON object of strings is also a Python dict literal.
        let code = format!(
            "import sys as _s, types as _t\n\
             _m = _t.ModuleType('codemode_guest.data_profile')\n\
             _m.__file__ = '/codemode_guest/data_profile.py'\n\
             _s.modules[_m.__name__] = _m\n\
             _src = {sources}\n\
             exec(compile(_src['data_profile'], _m.__file__, 'exec'), _m.__dict__)\n\
             _m.install(_src)\n\
             del _s, _t, _m, _src\n",
            sources = Value::Object(sources)
        );
        self.store.data().stderr.begin(64 << 10);
        self.store.data().stdout.begin(0);
        let status = tokio::time::timeout(PRELUDE_TIMEOUT, self.turn_code(&code)).await;
        let stderr = self.store.data().stderr.finish(0).text;
        match status {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(status)) => {
                Err(SandboxError::Setup(format!("the data profile's prelude failed ({status}): {stderr}")))
            }
            Ok(Err(err)) => Err(SandboxError::Setup(format!("the data profile's prelude trapped: {err}"))),
            Err(_) => Err(SandboxError::Setup("the data profile's prelude did not finish".into())),
        }
    }

    /// Runs `code` as one turn in `__main__`.
    async fn turn_code(&mut self, code: &str) -> wasmtime::Result<i32> {
        let len = i32::try_from(code.len())?;
        let at = self.alloc.call_async(&mut self.store, len).await?;
        self.memory.write(&mut self.store, at as u32 as usize, code.as_bytes())?;
        self.turn.call_async(&mut self.store, (at, len)).await
    }

    /// Runs one cell, as the default profile's instance does (the same outcome and stats).
    pub(crate) async fn run(
        &mut self,
        cell: &Cell,
        limits: &Limits,
        interrupt: impl Future<Output = ()>,
    ) -> (Outcome<GuestRunResult>, RunStats) {
        let cell = match cell {
            Cell::Code(code) => json!({ "code": code }),
            Cell::Skill(call) => json!({ "skill": { "name": call.name, "args_json": call.args_json } }),
        };
        let state = self.store.data_mut();
        state.cell = Some(json!({ "cell": cell, "stdout_limit": limits.stdout, "stderr_limit": limits.stderr }));
        state.result = None;
        state.limiter.set_cap(limits.memory);
        state.limiter.begin_run();
        state.ns.tools.begin_run(limits.tool_calls);
        state.stdout.begin(limits.stdout);
        state.stderr.begin(limits.stderr);

        let started = Instant::now();
        // The runner fetches the cell through the door, so the turn's own code is fixed.
        let call = self.turn_code("__import__('sys').modules['codemode_guest.data_profile'].turn()\n");
        let ended = tokio::select! {
            ended = tokio::time::timeout(limits.timeout, call) => Some(ended),
            () = interrupt => None,
        };
        let outcome = match ended {
            Some(Ok(Ok(_))) => {
                match self.store.data_mut().result.take() {
                    Some(result) => Outcome::Returned(result),
                    // Agent code can replace the runner; the host then has no account of
                    // the run and starts a fresh interpreter.
                    _ => Outcome::Stopped {
                        cause: StopCause::Crash,
                        detail: "the runner did not report the cell's result".into(),
                    },
                }
            }
            Some(Ok(Err(err))) => classify(&err, self.store.data().limiter.denied()),
            Some(Err(_)) => Outcome::timed_out(limits.timeout),
            None => Outcome::interrupted(),
        };
        let wall_time = started.elapsed();
        let state = self.store.data_mut();
        let stats = RunStats::gather(&outcome, &mut state.ns, &state.stdout, &state.stderr, &state.limiter, wall_time);
        (outcome, stats)
    }
}
