//! The in-process executor: one sandbox instance in this process, replaced when a
//! limit or a crash leaves it unusable.

use tokio::sync::Mutex;

use super::interrupt::{Current, Interrupt};
use super::services::Services;
use super::{Executor, SessionError};
use crate::model::ops::{Operations, Request, Response};
use crate::model::{CellError, LimitKind, RunResult, Value};
use crate::sandbox::instance::{Cell, GuestRunResult, Interpreter, Outcome, RunStats, SkillCall, StopCause};
use crate::sandbox::{Limits, Metering, Profile, Sandbox};
use crate::text::{capped, shown};

/// A session's interpreter in this process.
pub(super) struct Local {
    pub(super) sandbox: Sandbox,
    pub(super) metering: Metering,
    pub(super) profile: Profile,
    pub(super) limits: Limits,
    pub(super) services: Services,
    /// `None`: the last interpreter stopped, or the session is closed; the next run
    /// starts a fresh one.
    pub(super) instance: Mutex<Option<Interpreter>>,
    /// The run holding `instance`, found by an interrupt without taking that lock.
    pub(super) current: Current,
}

impl Local {
    /// Starts the first interpreter now, so a broken sandbox fails the build.
    pub(super) async fn start(
        sandbox: Sandbox,
        metering: Metering,
        profile: Profile,
        limits: Limits,
        services: Services,
    ) -> Result<Self, SessionError> {
        let instance = Mutex::new(None);
        let local = Self { sandbox, metering, profile, limits, services, instance, current: Current::default() };
        let instance = local.new_instance().await?;
        *local.instance.lock().await = Some(instance);
        Ok(local)
    }

    async fn new_instance(&self) -> Result<Interpreter, SessionError> {
        let capabilities = self.services.capabilities.clone();
        Ok(self.sandbox.interpreter(self.profile, self.metering, &self.limits, capabilities).await?)
    }
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
                // nothing it did may survive a reset.
                let mut slot = self.instance.lock().await;
                *slot = None;
                *slot = Some(self.new_instance().await?);
                Ok(Response::Reset { reset: true })
            }
            other => self.services.call(other).await,
        }
    }

    async fn interrupt(&self) -> Result<bool, SessionError> {
        Ok(self.current.interrupt())
    }

    async fn close(&self) {
        // A run in progress holds the instance: stop it rather than wait for it.
        self.current.interrupt();
        *self.instance.lock().await = None;
    }

    fn services(&self) -> Option<&Services> {
        Some(&self.services)
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
        let mut slot = self.instance.lock().await;
        if interrupt.is_interrupted() {
            // Interrupted while it waited for the run before it: it never starts.
            return Ok(not_started());
        }
        let _running = self.current.enter(interrupt);
        let mut instance = match slot.take() {
            Some(instance) => instance,
            None => self.new_instance().await?,
        };
        let (outcome, stats) = instance.run(cell, limits, interrupt.interrupted()).await;
        Ok(match outcome {
            Outcome::Returned(result) => {
                *slot = Some(instance);
                completed(result, stats, limits)
            }
            // The instance is poisoned; the next run starts a fresh one.
            Outcome::Stopped { cause, detail } => stopped(cause, detail, stats),
        })
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
        wall_time: stats.wall_time,
        peak_memory: stats.peak_memory,
        fuel_used: stats.fuel_used,
        tool_calls: stats.tool_calls,
    }
}

/// The error kind of an interrupted run.
const INTERRUPTED: &str = "Interrupted";

fn stopped(cause: StopCause, detail: String, stats: RunStats) -> RunResult {
    let (kind, message, limit) = match cause {
        StopCause::Limit(limit) => ("LimitExceeded", format!("{limit} limit: {detail}"), Some(limit)),
        StopCause::Interrupted => (INTERRUPTED, detail, None),
        StopCause::Exit => ("InterpreterExit", detail, None),
        StopCause::Crash => ("InterpreterCrash", detail, None),
    };
    let message = format!("{message}; the interpreter was restarted and its state (variables, imports) is lost");
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
        wall_time: stats.wall_time,
        peak_memory: stats.peak_memory,
        fuel_used: stats.fuel_used,
        tool_calls: stats.tool_calls,
    }
}

/// A run interrupted before it started: nothing ran, and the interpreter is intact.
fn not_started() -> RunResult {
    let message = "the run was interrupted before it started; nothing ran and the interpreter's state is intact";
    RunResult {
        value: None,
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: Some(error(INTERRUPTED, message.to_owned())),
        limit: None,
        interrupted: true,
        interpreter_reset: false,
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
