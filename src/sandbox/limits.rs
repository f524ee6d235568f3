//! Per-run resource limits, the store's memory limiter, and the share of memory
//! every interpreter of one session draws from.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Resource limits applied to every run of a session.
///
/// Defaults: 30 s wall clock, 256 MiB linear memory, 1 MiB each of stdout and
/// stderr, no fuel metering, 1000 tool calls, 64 MiB of the data profile's `/tmp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock budget of one run; exceeding it stops the code.
    pub timeout: Duration,
    /// Instructions budget (wasmtime fuel) of one run; `None` disables metering.
    ///
    /// Metering is deterministic (the same code with the same fuel stops at the same
    /// instruction) but costs about 40 % speed and its own compiled artifact.
    pub fuel: Option<u64>,
    /// Cap on the guest's linear memory, in bytes. Allocations past it raise
    /// `MemoryError` in Python; the session survives.
    pub memory: u64,
    /// Bytes of stdout kept per run; the rest is dropped with a marker.
    pub stdout: u32,
    /// Bytes of stderr kept per run; the rest is dropped with a marker.
    pub stderr: u32,
    /// Host tool calls allowed per run.
    pub tool_calls: u32,
    /// Bytes the data profile's writable `/tmp` may hold over the session (files,
    /// links, and removed files still open; past it a write is `ENOSPC`). Its names
    /// are capped at 1024 whatever this is. The default profile has no writable
    /// directory, so it ignores this.
    #[serde(default = "default_tmp_bytes")]
    pub tmp_bytes: u64,
}

/// Room for matplotlib's font cache and the files a data cell writes and reads
/// back, far from a host disk's size (also what limits stored before the field
/// existed get).
fn default_tmp_bytes() -> u64 {
    64 << 20
}

impl Limits {
    /// These limits, none looser than `outer`'s: each the stricter of the two (a
    /// resumed session keeps its own limits but never exceeds its new server's).
    pub fn within(&self, outer: &Limits) -> Limits {
        Limits {
            timeout: self.timeout.min(outer.timeout),
            fuel: match (self.fuel, outer.fuel) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            memory: self.memory.min(outer.memory),
            stdout: self.stdout.min(outer.stdout),
            stderr: self.stderr.min(outer.stderr),
            tool_calls: self.tool_calls.min(outer.tool_calls),
            tmp_bytes: self.tmp_bytes.min(outer.tmp_bytes),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            fuel: None,
            memory: 256 << 20,
            stdout: 1 << 20,
            stderr: 1 << 20,
            tool_calls: 1000,
            tmp_bytes: default_tmp_bytes(),
        }
    }
}

impl Limits {
    /// These limits with the timeout a caller asked for one run, if any: never
    /// longer than this one's.
    pub fn with_timeout_at_most(&self, seconds: Option<f64>) -> Result<Limits, String> {
        let Some(seconds) = seconds else { return Ok(self.clone()) };
        if !(seconds > 0.0 && seconds.is_finite()) {
            return Err(format!("timeout must be a positive number of seconds, not {seconds}"));
        }
        let asked = Duration::from_secs_f64(seconds.min(86_400.0));
        Ok(Limits { timeout: asked.min(self.timeout), ..self.clone() })
    }
}

/// The linear memory of every interpreter one session runs at a time: its own,
/// and the fresh ones that run a skill's examples while a cell waits on them. They
/// all count against the session's one memory cap, so a session never holds more
/// than the cap a server reserved for it, however many interpreters it starts.
#[derive(Debug, Default)]
pub struct MemoryShare {
    used: AtomicUsize,
}

impl MemoryShare {
    /// A share with nothing drawn from it yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Bytes the session's interpreters hold now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire) as u64
    }

    /// Draws `bytes` more if the total stays within `cap`.
    fn draw(&self, bytes: usize, cap: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(bytes).filter(|&t| t <= cap))
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Caps linear memory (this interpreter's, together with the rest of its session's
/// [`MemoryShare`]) and records the peak a run reached.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    cap: usize,
    /// This interpreter's memories, in bytes (what it drew from `share`).
    current: usize,
    peak: usize,
    denied: bool,
    share: Arc<MemoryShare>,
}

impl MemoryLimiter {
    pub(crate) fn new(cap: u64, share: Arc<MemoryShare>) -> Self {
        Self { cap: usize::try_from(cap).unwrap_or(usize::MAX), current: 0, peak: 0, denied: false, share }
    }

    pub(crate) fn set_cap(&mut self, cap: u64) {
        self.cap = usize::try_from(cap).unwrap_or(usize::MAX);
    }

    /// Starts a run: the peak restarts from the current size.
    pub(crate) fn begin_run(&mut self) {
        self.peak = self.current;
        self.denied = false;
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak as u64
    }

    /// Whether a growth was refused since the run began.
    pub(crate) fn denied(&self) -> bool {
        self.denied
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        // `current` is this one memory's size (an instance may have several): the
        // growth is what the share pays for.
        let growth = desired.saturating_sub(current);
        if maximum.is_some_and(|max| desired > max) || !self.share.draw(growth, self.cap) {
            self.denied = true;
            return Ok(false);
        }
        self.current += growth;
        self.peak = self.peak.max(self.current);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

impl Drop for MemoryLimiter {
    /// The store, and with it every memory this limiter let grow, is going away.
    fn drop(&mut self) {
        self.share.give_back(self.current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_takes_the_stricter_of_each_limit() {
        let stored = Limits { timeout: Duration::from_secs(600), memory: 2 << 30, fuel: Some(10), ..Limits::default() };
        let server = Limits { tool_calls: 5, tmp_bytes: 1 << 20, ..Limits::default() };
        let got = stored.within(&server);
        assert_eq!(got, Limits { fuel: Some(10), tool_calls: 5, tmp_bytes: 1 << 20, ..Limits::default() });
        let metered = Limits { fuel: Some(7), ..Limits::default() };
        assert_eq!(Limits::default().within(&metered).fuel, Some(7));
    }

    #[test]
    fn a_sessions_interpreters_share_one_cap() {
        use wasmtime::ResourceLimiter;
        let share = MemoryShare::new();
        let mut own = MemoryLimiter::new(100, share.clone());
        assert!(own.memory_growing(0, 60, None).unwrap());
        let mut examples = MemoryLimiter::new(100, share.clone());
        assert!(!examples.memory_growing(0, 50, None).unwrap(), "60 + 50 is past the cap");
        assert!(examples.denied());
        assert!(examples.memory_growing(0, 40, None).unwrap());
        assert_eq!(share.used(), 100);
        drop(examples);
        assert_eq!(share.used(), 60, "a dropped interpreter gives its memory back");
        assert!(own.memory_growing(60, 100, None).unwrap());
        assert_eq!(own.peak(), 100);
        assert!(!own.memory_growing(100, 101, None).unwrap(), "one byte past the cap");
        drop(own);
        assert_eq!(share.used(), 0);
    }

    #[test]
    fn limits_stored_before_tmp_bytes_existed_get_its_default() {
        let mut stored = serde_json::to_value(Limits::default()).unwrap();
        stored.as_object_mut().unwrap().remove("tmp_bytes");
        assert_eq!(serde_json::from_value::<Limits>(stored).unwrap(), Limits::default());
    }
}
