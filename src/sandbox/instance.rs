//! One live interpreter: a store, its guest instance, and how a run ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::{self, runner};
use super::host::{Capabilities, HostState, Namespaces};
use super::journal::Tape;
use super::limits::{MemoryLimiter, MemoryShare};
use super::output::{Capture, Captured};
use super::{LimitKind, Limits, Metering, Prepared, SandboxError};
use crate::model::ToolCallRecord;

/// How a call into the guest ended.
pub(crate) enum Outcome<T> {
    /// The guest returned; the interpreter is intact.
    Returned(T),
    /// The guest stopped; the instance is unusable.
    Stopped { cause: StopCause, detail: String },
}

impl<T> Outcome<T> {
    /// A run stopped by its timeout.
    pub(crate) fn timed_out(timeout: Duration) -> Self {
        Outcome::Stopped {
            cause: StopCause::Limit(LimitKind::Timeout),
            detail: format!("the run exceeded its timeout of {}", crate::text::humanize(timeout)),
        }
    }

    /// A run stopped by an interrupt.
    pub(crate) fn interrupted() -> Self {
        Outcome::Stopped { cause: StopCause::Interrupted, detail: "the run was interrupted".to_owned() }
    }
}

/// Why the guest stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// A limit stopped it.
    Limit(LimitKind),
    /// The host interrupted the run (`Session::interrupt`).
    Interrupted,
    /// Agent code ended the process (`os._exit`).
    Exit,
    /// It trapped.
    Crash,
}

/// What the guest's runner returns for a cell.
pub(crate) type GuestRunResult = runner::RunResult;

/// What a run runs: agent code, or a skill the host invokes.
pub(crate) use runner::{Cell, SkillCall};

/// Output and measurements of one run, whichever way it ended.
pub(crate) struct RunStats {
    pub(crate) tool_calls: Vec<ToolCallRecord>,
    pub(crate) stdout: Captured,
    pub(crate) stderr: Captured,
    pub(crate) wall_time: Duration,
    pub(crate) peak_memory: u64,
    pub(crate) fuel_used: Option<u64>,
    /// Whether the memory cap refused an allocation.
    pub(crate) memory_denied: bool,
}

impl RunStats {
    /// What a run that ended with `outcome` left in its store's state (no fuel: the
    /// caller knows whether it metered).
    pub(crate) fn gather(
        outcome: &Outcome<GuestRunResult>,
        ns: &mut Namespaces,
        stdout: &Capture,
        stderr: &Capture,
        limiter: &MemoryLimiter,
        wall_time: Duration,
    ) -> Self {
        let (stdout_dropped, stderr_dropped) = match outcome {
            Outcome::Returned(result) => (result.stdout_dropped, result.stderr_dropped),
            Outcome::Stopped { .. } => (0, 0),
        };
        RunStats {
            tool_calls: ns.tools.take_trace(),
            stdout: stdout.finish(stdout_dropped),
            stderr: stderr.finish(stderr_dropped),
            wall_time,
            peak_memory: limiter.peak(),
            memory_denied: limiter.denied(),
            fuel_used: None,
        }
    }
}

/// A session's interpreter, of either profile.
pub(crate) enum Interpreter {
    /// The component guest.
    Component(Instance),
    /// The data profile's interpreter.
    #[cfg(feature = "data-profile")]
    Data(super::data::DataInstance),
}

impl Interpreter {
    /// Runs one cell (see [`Instance::run`]).
    pub(crate) async fn run(
        &mut self,
        cell: &Cell,
        limits: &Limits,
        interrupt: impl Future<Output = ()>,
    ) -> (Outcome<GuestRunResult>, RunStats) {
        match self {
            Interpreter::Component(instance) => instance.run(cell, limits, interrupt).await,
            #[cfg(feature = "data-profile")]
            Interpreter::Data(instance) => instance.run(cell, limits, interrupt).await,
        }
    }
}

/// A guest instance in its own store.
pub(crate) struct Instance {
    store: Store<HostState>,
    guest: bindings::Sandbox,
    prepared: Arc<Prepared>,
}

impl Instance {
    pub(crate) async fn new(
        prepared: Arc<Prepared>,
        limits: &Limits,
        capabilities: Capabilities,
        tape: &Tape,
        memory: Arc<MemoryShare>,
    ) -> Result<Self, SandboxError> {
        let limiter = MemoryLimiter::new(limits.memory, memory);
        let state = HostState::new(limiter, &prepared.stdlib, capabilities, tape)?;
        let mut store = Store::new(&prepared.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Each epoch tick yields to tokio, so a CPU-bound cell leaves the thread
        // to other sessions and its timeout can fire.
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        store.set_epoch_deadline(1);
        if prepared.metering == Metering::Fuel {
            // Instantiation runs guest start-up code; runs get their own budget.
            store.set_fuel(u64::MAX).map_err(SandboxError::wasmtime("setting fuel"))?;
        }
        let guest = prepared
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(SandboxError::wasmtime("instantiating the guest"))?;
        Ok(Self { store, guest, prepared })
    }

    pub(crate) fn metering(&self) -> Metering {
        self.prepared.metering
    }

    /// Runs one cell (agent code, or a skill the host invokes) under `limits`, until
    /// it ends or `interrupt` completes.
    ///
    /// An interrupt stops the run the way the timeout does: the call into the guest
    /// is dropped wherever it is suspended (an epoch yield in Python code, a sleep,
    /// a tool call, whose process group the drop kills), so guest code cannot catch
    /// it, and the instance is unusable afterwards.
    pub(crate) async fn run(
        &mut self,
        cell: &Cell,
        limits: &Limits,
        interrupt: impl Future<Output = ()>,
    ) -> (Outcome<GuestRunResult>, RunStats) {
        let options = runner::RunOptions { stdout_limit: limits.stdout, stderr_limit: limits.stderr };
        let fuel = match self.metering() {
            Metering::Fuel => Some(limits.fuel.unwrap_or(u64::MAX)),
            Metering::Off => None,
        };
        let state = self.store.data_mut();
        state.limiter.set_cap(limits.memory);
        state.limiter.begin_run();
        state.ns.tools.begin_run(limits.tool_calls);
        state.stdout.begin(limits.stdout);
        state.stderr.begin(limits.stderr);
        if let Some(fuel) = fuel {
            // Setting fuel on a fuel-enabled store cannot fail.
            let _ = self.store.set_fuel(fuel);
        }

        let started = Instant::now();
        let call = self.guest.code_mode_sandbox_runner().call_run(&mut self.store, cell, options);
        let ended = tokio::select! {
            ended = tokio::time::timeout(limits.timeout, call) => Some(ended),
            () = interrupt => None,
        };
        let outcome = match ended {
            Some(Ok(Ok(result))) => Outcome::Returned(result),
            Some(Ok(Err(err))) => self.stopped(&err),
            Some(Err(_)) => Outcome::timed_out(limits.timeout),
            None => Outcome::interrupted(),
        };
        let wall_time = started.elapsed();
        let fuel_used = fuel.map(|budget| budget.saturating_sub(self.store.get_fuel().unwrap_or(0)));
        let state = self.store.data_mut();
        let stats = RunStats::gather(&outcome, &mut state.ns, &state.stdout, &state.stderr, &state.limiter, wall_time);
        (outcome, RunStats { fuel_used, ..stats })
    }

    /// Describes a skill's `run` without executing the skill.
    pub(crate) async fn inspect_skill(
        &mut self,
        source: &str,
    ) -> Outcome<Result<runner::SkillSignature, runner::InspectError>> {
        self.refuel();
        let call = self.guest.code_mode_sandbox_runner().call_inspect_skill(&mut self.store, source);
        let result = tokio::time::timeout(INTERNAL_CALL_TIMEOUT, call).await;
        self.internal_outcome(result)
    }

    /// Runner exports that are not agent code get unlimited fuel; only a generous
    /// timeout guards them, as a backstop against a wedged guest.
    fn refuel(&mut self) {
        if self.metering() == Metering::Fuel {
            let _ = self.store.set_fuel(u64::MAX);
        }
    }

    fn internal_outcome<T>(&self, result: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>) -> Outcome<T> {
        match result {
            Ok(Ok(value)) => Outcome::Returned(value),
            Ok(Err(err)) => self.stopped(&err),
            Err(_) => Outcome::Stopped {
                cause: StopCause::Limit(LimitKind::Timeout),
                detail: "the guest did not answer".into(),
            },
        }
    }

    fn stopped<T>(&self, err: &wasmtime::Error) -> Outcome<T> {
        classify(err, self.store.data().limiter.denied())
    }
}

/// How a call into a guest that returned an error ended (both profiles):
/// `memory_denied` says whether the memory cap refused an allocation in the run.
pub(crate) fn classify<T>(err: &wasmtime::Error, memory_denied: bool) -> Outcome<T> {
    let trap = err.downcast_ref::<Trap>();
    // The full error carries a wasm backtrace of the interpreter's internals,
    // which means nothing to the agent: keep its first line.
    let cause = trap.map_or_else(|| first_line(&err.to_string()), |t| t.to_string());
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        // WASI's exit carries success or failure only, not the status itself.
        let status = if exit.0 == 0 { "status 0" } else { "a non-zero status" };
        let detail = format!("the code ended the interpreter process (os._exit with {status})");
        return Outcome::Stopped { cause: StopCause::Exit, detail };
    }
    let (cause, detail) = match trap {
        Some(Trap::OutOfFuel) => (StopCause::Limit(LimitKind::Fuel), "the run used up its fuel".to_owned()),
        Some(Trap::StackOverflow) => {
            (StopCause::Limit(LimitKind::Stack), "the guest overflowed its stack (recursion too deep)".to_owned())
        }
        _ if memory_denied => (
            StopCause::Limit(LimitKind::Memory),
            format!("the interpreter could not recover from the memory cap ({cause})"),
        ),
        _ => (StopCause::Crash, format!("the interpreter crashed ({cause})")),
    };
    Outcome::Stopped { cause, detail }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim_end_matches(':').to_owned()
}

const INTERNAL_CALL_TIMEOUT: Duration = Duration::from_secs(10);
