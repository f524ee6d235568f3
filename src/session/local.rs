//! The in-process executor: one sandbox instance in this process, replaced when a
//! limit or a crash leaves it unusable, and brought back to the state from before
//! the failed cell by replaying the session's [`Journal`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::durable::Durable;
use super::interrupt::{Current, Interrupt};
use super::journal::{Journal, JournalOptions};
use super::services::Services;
use super::{Executor, SessionError};
use crate::model::ops::{Operations, Request, Response};
use crate::model::{CellError, CellState, LimitKind, RunResult, Value};
use crate::names::SessionId;
use crate::sandbox::instance::{Cell, GuestRunResult, Interpreter, Outcome, RunStats, SkillCall, StopCause};
use crate::sandbox::journal::Tape;
use crate::sandbox::{Limits, MemoryShare, Metering, Profile, Sandbox};
use crate::text::{capped, shown};

/// A session's interpreter in this process.
pub(super) struct Local {
    pub(super) sandbox: Sandbox,
    pub(super) metering: Metering,
    pub(super) profile: Profile,
    pub(super) limits: Limits,
    pub(super) services: Services,
    /// The interpreter and the journal of its history, under one lock: runs,
    /// rollbacks and resets of one session are serial.
    slot: Mutex<Slot>,
    /// The run holding `slot`, found by an interrupt without taking that lock.
    pub(super) current: Current,
    /// Where the journal is stored, for a session that outlives this process.
    durable: Option<Durable>,
    /// What its interpreters' memory counts against (with its skills' examples').
    memory: Arc<MemoryShare>,
}

struct Slot {
    /// `None`: the last interpreter stopped and its state was lost, or the session
    /// is closed; the next run starts a fresh one.
    live: Option<Live>,
    journal: Journal,
}

/// An interpreter and the tape it records on.
struct Live {
    instance: Interpreter,
    tape: Tape,
}

/// How a rollback ended.
enum Restored {
    /// The state from before the failed cell is back.
    RolledBack { cells: usize, took: Duration },
    /// It could not be; why, for the agent.
    Lost(String),
}

impl Local {
    /// Starts the first interpreter now, so a broken sandbox fails the build.
    pub(super) async fn start(
        sandbox: Sandbox,
        metering: Metering,
        profile: Profile,
        limits: Limits,
        services: Services,
        journal: JournalOptions,
        durable: Option<Durable>,
    ) -> Result<Self, SessionError> {
        let slot = Slot { live: None, journal: Journal::new(journal_options(profile, journal)) };
        let current = Current::default();
        let memory = services.memory.clone();
        let local =
            Self { sandbox, metering, profile, limits, services, slot: Mutex::new(slot), current, durable, memory };
        {
            let mut slot = local.slot.lock().await;
            let live = local.fresh(&mut slot.journal).await?;
            slot.live = Some(live);
        }
        // Held while it was built; from here on, per request.
        if let Some(durable) = &local.durable {
            durable.release().await;
        }
        Ok(local)
    }

    /// A session stored by another process (or an earlier run of this one), in the
    /// state its stored `journal` records: replayed into a fresh interpreter with
    /// every host call answered from it, so no tool runs again.
    pub(super) async fn resume(
        sandbox: Sandbox,
        metering: Metering,
        profile: Profile,
        limits: Limits,
        services: Services,
        journal: Journal,
        durable: Durable,
    ) -> Result<Self, SessionError> {
        let id = durable.id().clone();
        let slot = Slot { live: None, journal };
        let current = Current::default();
        let durable = Some(durable);
        let memory = services.memory.clone();
        let local =
            Self { sandbox, metering, profile, limits, services, slot: Mutex::new(slot), current, durable, memory };
        {
            let mut slot = local.slot.lock().await;
            let started = Instant::now();
            // Under the lease: an interrupt asked for now is this request's.
            let stop = Interrupt::new();
            let live = match local.heeding(&stop, local.replayed(&slot.journal, &stop)).await {
                Ok(live) => live,
                Err(why) => {
                    if let Some(durable) = &local.durable {
                        durable.close(false).await;
                    }
                    if stop.is_interrupted() {
                        return Err(SessionError::ResumeInterrupted(id));
                    }
                    return Err(SessionError::NotResumable { id, why: format!("its replay failed: {why}") });
                }
            };
            tracing::info!(%id, cells = slot.journal.cells.len(), took = ?started.elapsed(), "resumed a stored session");
            slot.live = Some(live);
        }
        if let Some(durable) = &local.durable {
            durable.release().await;
        }
        Ok(local)
    }

    /// A fresh, empty interpreter, and a new history in `journal` (stored, for a
    /// durable session).
    async fn fresh(&self, journal: &mut Journal) -> Result<Live, SessionError> {
        let tape = journal.restart();
        let instance = self.instance(&tape).await?;
        journal.started(&tape);
        if let Some(durable) = &self.durable {
            durable.begin(journal).await;
        }
        Ok(Live { instance, tape })
    }

    /// A new, independent executor in the state this one's journal records: the
    /// journal replayed into a fresh interpreter (every host call answered from it,
    /// so no tool runs again), which then goes live with fresh entropy in its random
    /// streams. Same sandbox, services (allowlists included), limits and profile.
    /// Waits for the run in progress, if any: the fork has the state after it. A
    /// durable session's fork is durable too, its journal stored under a new id.
    ///
    /// The replay is this session's operation in progress until it ends (runs wait
    /// for it): `interrupt`, or [`Session::interrupt`](super::Session::interrupt),
    /// stops it, and the fork fails with [`SessionError::ForkInterrupted`]; this
    /// session is untouched either way.
    pub(super) async fn fork(&self, interrupt: &Interrupt) -> Result<Self, SessionError> {
        let slot = self.slot.lock().await;
        if interrupt.is_interrupted() {
            // Interrupted while it waited for the run before it: nothing replayed.
            return Err(SessionError::ForkInterrupted);
        }
        // Like a run: the lease, and the check that this copy is the stored history
        // (`Superseded` when another process went on with it since).
        let holding = match &self.durable {
            Some(durable) => Some(durable.acquire(&slot.journal).await?),
            None => None,
        };
        let _replaying = self.current.enter(interrupt);
        let fork = Self {
            sandbox: self.sandbox.clone(),
            metering: self.metering,
            profile: self.profile,
            limits: self.limits.clone(),
            services: self.services.clone(),
            slot: Mutex::new(Slot { live: None, journal: slot.journal.clone() }),
            current: Current::default(),
            durable: None,
            // Its own cap, as a session of its own, so its replay is not counted
            // with this one's interpreter (its skills' examples still count against
            // this session's share: they share the skill library).
            memory: MemoryShare::new(),
        };
        let live = self.heeding(interrupt, fork.replayed(&slot.journal, interrupt)).await.map_err(|why| {
            if interrupt.is_interrupted() { SessionError::ForkInterrupted } else { SessionError::Fork(why) }
        })?;
        let durable = match &self.durable {
            Some(durable) => Some(durable.fork(&slot.journal).await?),
            None => None,
        };
        drop(holding);
        fork.slot.lock().await.live = Some(live);
        Ok(Self { durable, ..fork })
    }

    /// `work` (a replay under the lease, which heeds `stop`), with `stop` fired
    /// also when another process asks for this durable session's run to stop.
    async fn heeding<T>(&self, stop: &Interrupt, work: impl std::future::Future<Output = T>) -> T {
        match &self.durable {
            Some(durable) => durable.heeding(stop, work).await,
            None => work.await,
        }
    }

    /// `journal` replayed into a fresh interpreter, or why it could not be
    /// (`stop` abandons it).
    async fn replayed(&self, journal: &Journal, stop: &Interrupt) -> Result<Live, String> {
        match self.restore(journal, stop).await {
            (Some(live), _) => Ok(live),
            (None, Restored::Lost(why)) => Err(why),
            (None, Restored::RolledBack { .. }) => Err("the replay gave no interpreter".to_owned()),
        }
    }

    async fn instance(&self, tape: &Tape) -> Result<Interpreter, SessionError> {
        let capabilities = self.services.capabilities.clone();
        let memory = self.memory.clone();
        Ok(self.sandbox.interpreter(self.profile, self.metering, &self.limits, capabilities, tape, memory).await?)
    }

    /// A fresh interpreter in the state `journal` records, by replaying it with every
    /// host call answered from the journal; or why it cannot be. `stop` abandons the
    /// replay (the state is then lost, and said so).
    async fn restore(&self, journal: &Journal, stop: &Interrupt) -> (Option<Live>, Restored) {
        if let Some(why) = &journal.broken {
            return (None, Restored::Lost(why.clone()));
        }
        let started = Instant::now();
        let budget = journal.replay_budget(self.limits.timeout);
        let deadline = started + budget;
        let too_long = || {
            Restored::Lost(format!(
                "replaying the session's {} cells took longer than the replay budget of {}, so the state could not \
                 be restored; keep results you need in artifacts (artifacts.save), which survive any failure, or \
                 reset the session to start a shorter history",
                journal.cells.len(),
                crate::text::humanize(budget)
            ))
        };
        let stopped = || {
            Restored::Lost(format!(
                "an interrupt stopped the replay of the session's {} cells that would have restored it",
                journal.cells.len()
            ))
        };
        let tape = Tape::replay(journal.seeds.clone(), journal.origin);
        tape.load(&journal.startup);
        let starting = tokio::time::timeout_at(deadline.into(), self.instance(&tape));
        let instance = tokio::select! {
            started = starting => match started {
                Ok(Ok(instance)) => instance,
                Ok(Err(err)) => return (None, Restored::Lost(format!("a new interpreter could not start: {err}"))),
                Err(_) => return (None, too_long()),
            },
            () = stop.interrupted() => return (None, stopped()),
        };
        let mut live = Live { instance, tape };
        if let Err(why) = live.tape.finish_segment() {
            return (None, diverged(&why));
        }
        for entry in &journal.cells {
            live.tape.load(&entry.events);
            let limits = entry.replay_limits(deadline.saturating_duration_since(Instant::now()));
            // A divergence or an interrupt stops the replayed run as an interrupt does.
            let halt = async {
                tokio::select! {
                    () = live.tape.diverged() => {}
                    () = stop.interrupted() => {}
                }
            };
            let (outcome, _) = live.instance.run(&entry.cell, &limits, halt).await;
            if stop.is_interrupted() {
                return (None, stopped());
            }
            let failed = match outcome {
                Outcome::Returned(_) => None,
                Outcome::Stopped { cause: StopCause::Limit(LimitKind::Timeout), .. } => return (None, too_long()),
                Outcome::Stopped { detail, .. } => Some(detail),
            };
            // The reason of a divergence is the tape's.
            if let Err(why) = live.tape.finish_segment() {
                return (None, diverged(&why));
            }
            if let Some(detail) = failed {
                return (None, diverged(&format!("a replayed cell stopped ({detail})")));
            }
        }
        live.tape.go_live(0);
        let took = started.elapsed();
        tracing::debug!(cells = journal.cells.len(), ?took, "rolled back by replaying the journal");
        (Some(live), Restored::RolledBack { cells: journal.cells.len(), took })
    }
}

/// The journal a session of `profile` keeps. The data profile's clocks and random
/// source are not on the tape, so a replay could not reproduce its cells: no
/// journal, a failed cell loses state and the session cannot be resumed.
pub(super) fn journal_options(profile: Profile, journal: JournalOptions) -> JournalOptions {
    match profile {
        Profile::Default => journal,
        Profile::Data => JournalOptions { max_bytes: 0, ..journal },
    }
}

fn diverged(why: &str) -> Restored {
    Restored::Lost(format!(
        "replaying the session's journal gave a different run than the original ({why}), so the state could not \
         be restored"
    ))
}

#[async_trait::async_trait]
impl Executor for Local {
    async fn run(&self, code: &str, limits: &Limits, interrupt: &Interrupt) -> Result<RunResult, SessionError> {
        self.run_cell(&Cell::Code(code.to_owned()), limits, interrupt).await
    }

    async fn call(&self, request: Request, interrupt: &Interrupt) -> Result<Response, SessionError> {
        match request {
            Request::InvokeSkill(invoke) => {
                // Called in the guest, not written as a cell: the agent's traceback
                // starts in the skill, with no generated line above it.
                let args_json = serde_json::Value::Object(invoke.args).to_string();
                let cell = Cell::Skill(SkillCall { name: invoke.name, args_json });
                Ok(Response::Run(self.run_cell(&cell, &self.limits, interrupt).await?))
            }
            Request::Reset => {
                // A fresh interpreter rather than cleared globals: agent code can change
                // the interpreter itself (builtins, `sys.modules`, the runner), and
                // nothing it did may survive a reset. Its journal starts anew.
                let mut slot = self.slot.lock().await;
                let holding = match &self.durable {
                    Some(durable) => Some(durable.acquire(&slot.journal).await?),
                    None => None,
                };
                slot.live = None;
                let live = self.fresh(&mut slot.journal).await?;
                slot.live = Some(live);
                drop(holding);
                Ok(Response::Reset { reset: true })
            }
            other => self.services.call(other).await,
        }
    }

    async fn interrupt(&self) -> Result<bool, SessionError> {
        Ok(self.current.interrupt())
    }

    async fn fork(&self, interrupt: &Interrupt) -> Result<Box<dyn Executor>, SessionError> {
        Ok(Box::new(Local::fork(self, interrupt).await?))
    }

    async fn close(&self, forget: bool) {
        // A run in progress holds the instance: stop it rather than wait for it.
        self.current.interrupt();
        self.slot.lock().await.live = None;
        if let Some(durable) = &self.durable {
            durable.close(forget).await;
        }
    }

    fn services(&self) -> Option<&Services> {
        Some(&self.services)
    }

    fn stored_as(&self) -> Option<&SessionId> {
        self.durable.as_ref().map(Durable::id)
    }
}

impl Local {
    async fn run_cell(&self, cell: &Cell, limits: &Limits, interrupt: &Interrupt) -> Result<RunResult, SessionError> {
        if limits.fuel.is_some() && self.profile == Profile::Data {
            return Err(SessionError::InvalidLimits("the data profile has no fuel metering; use a timeout".into()));
        }
        if limits.fuel.is_some() && self.metering == Metering::Off {
            return Err(SessionError::InvalidLimits(
                "this session was built without fuel metering; set fuel in the session's limits".into(),
            ));
        }
        let mut guard = self.slot.lock().await;
        let slot = &mut *guard;
        if interrupt.is_interrupted() {
            // Interrupted while it waited for the run before it: it never starts.
            return Ok(not_started());
        }
        let mut holding = match &self.durable {
            Some(durable) => Some(durable.acquire(&slot.journal).await?),
            None => None,
        };
        let _running = self.current.enter(interrupt);
        let mut live = match slot.live.take() {
            Some(live) => live,
            None => self.fresh(&mut slot.journal).await?,
        };
        slot.journal.begin(&live.tape);
        // Stopped from here, or from another process serving the same session, or
        // when another process took the session over (what runs here cannot be
        // stored any more).
        let stop = async {
            match &self.durable {
                Some(durable) => tokio::select! {
                    () = interrupt.interrupted() => {}
                    () = durable.interrupted_elsewhere() => {}
                    () = durable.lease_lost() => {}
                },
                None => interrupt.interrupted().await,
            }
        };
        let (outcome, stats) = live.instance.run(cell, limits, stop).await;
        if let Some(durable) = self.durable.as_ref().filter(|durable| durable.is_lease_lost()) {
            // Taken over meanwhile: this copy is out of date for good (no rollback
            // is worth replaying); the answer says the cell ran but is not stored.
            drop(live);
            return Err(durable.taken_over());
        }
        let result = match outcome {
            Outcome::Returned(result) => {
                let before = (slot.journal.cells.len(), slot.journal.broken.is_some());
                slot.journal.commit(cell, limits, &live.tape);
                if let (Some(durable), Some(holding)) = (&self.durable, holding.take()) {
                    durable.committed(&slot.journal, before, holding).await?;
                }
                slot.live = Some(live);
                completed(result, stats, limits)
            }
            Outcome::Stopped { cause, detail } => {
                // The instance is poisoned (and may hold a lot of memory): drop it first.
                drop(live);
                // The run's own signal may have fired already: the replay gets its
                // own, which `Session::interrupt` now finds.
                let replay = Interrupt::new();
                let _replaying = self.current.enter(&replay);
                // Not stopped by another process: the interrupt that stopped the cell
                // is still asked for (until the next claim), and would stop it at once.
                let (restored, outcome) = self.restore(&slot.journal, &replay).await;
                if restored.is_none() {
                    // The next run starts a fresh interpreter and a new history.
                    slot.journal = Journal::new(slot.journal.options.clone());
                }
                slot.live = restored;
                stopped(cause, detail, stats, outcome)
            }
        };
        // Given back in the background: the answer does not wait for it.
        drop(holding);
        Ok(result)
    }
}

/// The guest's own account of a run. The guest caps its texts itself, but it runs
/// agent code, which can change it: every text is capped again here.
fn completed(result: GuestRunResult, stats: RunStats, limits: &Limits) -> RunResult {
    let text_limit = limits.stdout.max(limits.stderr) as usize;
    let error = result.error.map(|e| CellError {
        kind: shown(&e.kind),
        message: capped(e.message, limits.stderr as usize),
        traceback: capped(e.traceback, limits.stderr as usize),
    });
    // The cap turned into a Python MemoryError the agent can see; say which limit it was.
    let limit =
        (stats.memory_denied && error.as_ref().is_some_and(|e| e.kind == "MemoryError")).then_some(LimitKind::Memory);
    RunResult {
        value: result.value.map(|v| Value {
            json: v.json.filter(|text| text.len() <= text_limit).and_then(|text| serde_json::from_str(&text).ok()),
            repr: capped(v.repr, limits.stdout as usize),
        }),
        stdout: stats.stdout.text,
        stderr: stats.stderr.text,
        stdout_truncated: stats.stdout.truncated,
        stderr_truncated: stats.stderr.truncated,
        error,
        limit,
        interrupted: false,
        interpreter_reset: false,
        state: CellState::Kept,
        wall_time: stats.wall_time,
        peak_memory: stats.peak_memory,
        fuel_used: stats.fuel_used,
        tool_calls: stats.tool_calls,
    }
}

/// The error kind of an interrupted run.
const INTERRUPTED: &str = "Interrupted";

fn stopped(cause: StopCause, detail: String, stats: RunStats, restored: Restored) -> RunResult {
    let (kind, message, limit) = match cause {
        StopCause::Limit(limit) => ("LimitExceeded", format!("{limit} limit: {detail}"), Some(limit)),
        StopCause::Interrupted => (INTERRUPTED, detail, None),
        StopCause::Exit => ("InterpreterExit", detail, None),
        StopCause::Crash => ("InterpreterCrash", detail, None),
    };
    let (message, state) = match restored {
        Restored::RolledBack { cells, took } => (
            format!(
                "{message}; the interpreter was restarted and the state from before this cell was restored (the \
                 cell's changes are undone; {cells} earlier cells replayed in {})",
                crate::text::humanize(took)
            ),
            CellState::RolledBack,
        ),
        Restored::Lost(why) => (
            format!("{message}; the interpreter was restarted and its state (variables, imports) is lost: {why}"),
            CellState::Lost,
        ),
    };
    RunResult {
        value: None,
        stdout: stats.stdout.text,
        stderr: stats.stderr.text,
        stdout_truncated: stats.stdout.truncated,
        stderr_truncated: stats.stderr.truncated,
        error: Some(error(kind, message)),
        limit,
        interrupted: cause == StopCause::Interrupted,
        interpreter_reset: true,
        state,
        wall_time: stats.wall_time,
        peak_memory: stats.peak_memory,
        fuel_used: stats.fuel_used,
        tool_calls: stats.tool_calls,
    }
}

/// A run interrupted before it started: nothing ran, and the interpreter is intact.
fn not_started() -> RunResult {
    interrupted_before_start(
        "the run was interrupted before it started; nothing ran and the interpreter's state is intact".to_owned(),
    )
}

/// A run interrupted before it started, `message` saying why nothing ran.
pub(crate) fn interrupted_before_start(message: String) -> RunResult {
    RunResult {
        value: None,
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: Some(error(INTERRUPTED, message)),
        limit: None,
        interrupted: true,
        interpreter_reset: false,
        state: CellState::Kept,
        wall_time: std::time::Duration::ZERO,
        peak_memory: 0,
        fuel_used: None,
        tool_calls: Vec::new(),
    }
}

/// A stop reported as an error of `kind`, its traceback one line.
fn error(kind: &str, message: String) -> CellError {
    CellError { kind: kind.to_owned(), traceback: format!("{kind}: {message}\n"), message }
}
