//! What a run produced.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The value of a cell's last expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct Value {
    /// `repr()` of the value.
    pub repr: String,
    /// The value as JSON, when it is representable (dicts, lists, strings, numbers...).
    pub json: Option<serde_json::Value>,
}

/// An exception raised by the agent's code, or the reason the sandbox stopped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct CellError {
    /// Exception class name (`ZeroDivisionError`, `SyntaxError`), or `LimitExceeded`,
    /// `Interrupted` (the host interrupted the run), `InterpreterExit` (`os._exit`) or
    /// `InterpreterCrash` when the interpreter stopped.
    pub kind: String,
    /// The exception's message.
    pub message: String,
    /// The traceback, showing the agent's own lines only.
    pub traceback: String,
}

/// What one [`Session::run`](crate::Session::run) produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct RunResult {
    /// The last expression's value, if the cell ended with an expression that was not `None`.
    pub value: Option<Value>,
    /// Captured `print` output (capped by [`Limits::stdout`](crate::Limits::stdout)).
    pub stdout: String,
    /// Captured `sys.stderr` output (capped by [`Limits::stderr`](crate::Limits::stderr)).
    pub stderr: String,
    /// Whether stdout was cut at its limit.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at its limit.
    pub stderr_truncated: bool,
    /// The error, if the cell raised or was stopped.
    pub error: Option<CellError>,
    /// The limit that stopped the run, if one did.
    pub limit: Option<LimitKind>,
    /// Whether the host interrupted the run ([`Session::interrupt`](crate::Session::interrupt),
    /// an MCP cancellation, `POST /v1/sessions/{id}/interrupt`, Ctrl-C in the REPL).
    /// `state` says what became of the session's state.
    #[serde(default)]
    pub interrupted: bool,
    /// Whether the interpreter was restarted (a limit, an interrupt or a crash stopped
    /// it). `state` says whether the new one holds the session's state.
    pub interpreter_reset: bool,
    /// The session's state after the run: `kept` (the interpreter survived, with
    /// whatever the cell changed, also when it raised), `rolled_back` (the
    /// interpreter was restarted and holds the state from before this cell, rebuilt
    /// from the session's journal) or `lost` (restarted empty; the error says why).
    #[serde(default)]
    pub state: CellState,
    /// Wall-clock time of the run.
    #[serde(with = "duration_secs")]
    #[cfg_attr(feature = "mcp-server", schemars(with = "f64"))]
    pub wall_time: Duration,
    /// Peak linear memory during the run, in bytes.
    pub peak_memory: u64,
    /// Fuel consumed, when the session meters fuel.
    pub fuel_used: Option<u64>,
    /// The tool calls the run made, in order.
    pub tool_calls: Vec<ToolCallRecord>,
}

impl RunResult {
    /// Whether the cell ran to completion without an exception.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// What a reader must be told about the session's state after this run, if
    /// anything: one line shared by every surface that renders a run as text.
    pub fn state_note(&self) -> Option<&'static str> {
        if !self.interpreter_reset {
            return None;
        }
        Some(match self.state {
            CellState::RolledBack => {
                "the interpreter was restarted: the state from before this cell was restored, its changes are undone"
            }
            CellState::Lost | CellState::Kept => "the interpreter was restarted: every variable is gone",
        })
    }

    /// The run as one text for a model to read, as a notebook shows it: stdout,
    /// stderr, the value, then the traceback, with notes on truncation and restarts.
    pub fn transcript(&self) -> String {
        let mut text = self.stdout.clone();
        if self.stdout_truncated {
            text.push_str("\n[stdout truncated at its limit]\n");
        }
        if !self.stderr.is_empty() {
            text.push_str(&format!("[stderr]\n{}", self.stderr));
        }
        if let Some(value) = &self.value {
            text.push_str(&value.repr);
            text.push('\n');
        }
        if let Some(error) = &self.error {
            text.push_str(&error.traceback);
        }
        if let Some(note) = self.state_note() {
            text.push_str(&format!("\n[{note}]\n"));
        }
        if text.is_empty() {
            text.push_str("(no output)");
        }
        text
    }
}

pub(crate) mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// What became of a session's state after a run (see [`RunResult::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    /// The interpreter survived: the state is what the cell left (also when it raised).
    #[default]
    Kept,
    /// The interpreter was restarted and the state from before the cell restored.
    RolledBack,
    /// The interpreter was restarted empty: every variable is gone.
    Lost,
}

/// The limit that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// The wall-clock timeout.
    Timeout,
    /// The fuel budget.
    Fuel,
    /// The linear-memory cap (only when the interpreter could not recover).
    Memory,
    /// The guest's native stack (e.g. recursion past what the stack holds).
    Stack,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Timeout => "timeout",
            LimitKind::Fuel => "fuel",
            LimitKind::Memory => "memory",
            LimitKind::Stack => "stack",
        })
    }
}

/// One tool call made during a run, for the run's trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
pub struct ToolCallRecord {
    /// The tool.
    pub tool: String,
    /// The recipe, if one was called.
    pub callable: Option<String>,
    /// How long it took.
    #[serde(with = "duration_secs")]
    #[cfg_attr(feature = "mcp-server", schemars(with = "f64"))]
    pub duration: std::time::Duration,
    /// The error, if it failed.
    pub error: Option<String>,
}
