//! The session journal (issue 13, in memory for now): the cells that completed and
//! every value the host handed the guest while they ran, so that after an
//! interrupt, a limit or a crash a fresh interpreter can be brought back to the
//! state from before the failed cell by replaying it (see [`crate::sandbox::journal`]
//! for the tape that records and answers).
//!
//! A cell that raised a Python exception completed: the interpreter survived it, so
//! its partial effects are part of the state and it is journaled like any other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sandbox::Limits;
use crate::sandbox::instance::Cell;
use crate::sandbox::journal::{Event, Seeds, Tape, push_counted, slots_to_grow};

/// How a session keeps its journal (see [`SessionBuilder::journal`](super::SessionBuilder::journal)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// Bytes the journal may hold (cell sources and the host's answers: tool results,
    /// loaded artifacts, skill sources, clock readings). Past it the session keeps
    /// working but a failed cell can no longer be rolled back. `0` disables the
    /// journal. Default 64 MiB.
    pub max_bytes: usize,
    /// Time a rollback may take to replay the journal; `None`: the session's run
    /// timeout. Past it the state is reported lost.
    pub replay_timeout: Option<Duration>,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self { max_bytes: 64 << 20, replay_timeout: None }
    }
}

/// One completed cell: what ran, the limits that shape what the guest sees, and
/// the host's answers in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) cell: Cell,
    pub(crate) memory: u64,
    pub(crate) stdout: u32,
    pub(crate) stderr: u32,
    pub(crate) events: Vec<Event>,
}

impl Entry {
    /// Bytes the entry holds in memory, for the journal's cap: its slot in the
    /// journal's vector of cells, its cell and its events (whose vector has no
    /// spare room: see [`Tape::take`]).
    pub(crate) fn size(&self) -> usize {
        let cell = match &self.cell {
            Cell::Code(code) => code.capacity(),
            Cell::Skill(call) => call.name.capacity() + call.args_json.capacity(),
        };
        std::mem::size_of::<Entry>()
            + cell
            + (self.events.capacity() - self.events.len()) * std::mem::size_of::<Event>()
            + self.events.iter().map(Event::size).sum::<usize>()
    }

    /// The limits a replay of this cell runs under: the same memory cap and output
    /// limits the guest saw live, no fuel, and what is left of the replay's time.
    pub(crate) fn replay_limits(&self, timeout: Duration) -> Limits {
        Limits {
            timeout,
            fuel: None,
            memory: self.memory,
            stdout: self.stdout,
            stderr: self.stderr,
            // Tool calls are answered from the journal, refusals included.
            tool_calls: u32::MAX,
            // The default profile (the only one journaled) has no writable directory.
            ..Limits::default()
        }
    }
}

/// The journal of one session's current interpreter history (cloned, the history
/// of a fork).
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    pub(crate) options: JournalOptions,
    pub(crate) seeds: Arc<Seeds>,
    /// Where the session's monotonic clock counts from.
    pub(crate) origin: Instant,
    /// What the interpreter read while it started.
    pub(crate) startup: Vec<Event>,
    pub(crate) cells: Vec<Entry>,
    bytes: usize,
    /// Why a rollback is no longer possible in this history.
    pub(crate) broken: Option<String>,
}

impl Journal {
    pub(crate) fn new(options: JournalOptions) -> Self {
        let broken = (options.max_bytes == 0).then(|| "the session's journal is disabled".to_owned());
        Self {
            options,
            seeds: Arc::new(Seeds::new()),
            origin: Instant::now(),
            startup: Vec::new(),
            cells: Vec::new(),
            bytes: 0,
            broken,
        }
    }

    /// A journal read back from storage (see [`super::durable`]): its history as
    /// stored, or why it cannot be used.
    pub(crate) fn resumed(
        options: JournalOptions,
        seeds: Seeds,
        origin: Instant,
        startup: Vec<Event>,
        cells: Vec<Entry>,
    ) -> Result<Self, String> {
        let mut journal = Self::new(options);
        if let Some(why) = journal.broken {
            return Err(why);
        }
        let bytes = startup.iter().map(Event::size).sum::<usize>() + cells.iter().map(Entry::size).sum::<usize>();
        if bytes > journal.options.max_bytes {
            return Err(format!("its stored journal holds more than its cap of {} bytes", journal.options.max_bytes));
        }
        journal.seeds = Arc::new(seeds);
        journal.origin = origin;
        journal.startup = startup;
        journal.cells = cells;
        journal.bytes = bytes;
        Ok(journal)
    }

    /// Starts a new history (a fresh, empty interpreter): a tape for it to record on.
    pub(crate) fn restart(&mut self) -> Tape {
        *self = Journal::new(self.options.clone());
        if self.broken.is_some() {
            return Tape::off();
        }
        Tape::record(self.seeds.clone(), self.origin, self.budget())
    }

    fn budget(&self) -> usize {
        self.options.max_bytes.saturating_sub(self.bytes)
    }

    /// Journals what the interpreter read while it started on `tape`.
    pub(crate) fn started(&mut self, tape: &Tape) {
        match tape.take() {
            Ok(events) => {
                self.bytes += events.iter().map(Event::size).sum::<usize>();
                self.startup = events;
            }
            Err(why) => self.break_off(why),
        }
    }

    /// Before a live run on `tape`: what it may record.
    pub(crate) fn begin(&self, tape: &Tape) {
        tape.set_budget(if self.broken.is_some() { 0 } else { self.budget() });
    }

    /// Journals a cell that completed on `tape` (the interpreter survived it).
    pub(crate) fn commit(&mut self, cell: &Cell, limits: &Limits, tape: &Tape) {
        let events = tape.take();
        if self.broken.is_some() {
            return;
        }
        match events {
            Ok(events) => {
                let entry = Entry {
                    cell: cell.clone(),
                    memory: limits.memory,
                    stdout: limits.stdout,
                    stderr: limits.stderr,
                    events,
                };
                // The vector's slots count when it grows, spare ones included: the
                // entry's own slot (in its `size`) was counted then, or is now.
                let slot = std::mem::size_of::<Entry>();
                let size = entry.size() - slot + slots_to_grow(&self.cells) * slot;
                if self.bytes + size > self.options.max_bytes {
                    self.break_off("the session's journal reached its size limit".to_owned());
                } else {
                    self.bytes += size;
                    push_counted(&mut self.cells, entry);
                }
            }
            Err(why) => self.break_off(why),
        }
    }

    fn break_off(&mut self, why: String) {
        tracing::info!(why, "the session can no longer roll back a failed cell");
        self.broken = Some(format!(
            "{why}, so a failed cell can no longer be rolled back (the journal holds at most {} bytes); keep \
             results you need in artifacts (artifacts.save), or reset the session to start a new journal",
            self.options.max_bytes
        ));
        // Nothing will be replayed: free it.
        self.startup = Vec::new();
        self.cells = Vec::new();
    }

    /// The time a replay of this journal may take, for a session whose runs time
    /// out after `run_timeout`.
    pub(crate) fn replay_budget(&self, run_timeout: Duration) -> Duration {
        self.options.replay_timeout.unwrap_or(run_timeout)
    }
}
