//! [`Interrupt`]: stopping one run from another task, and the slot through which
//! [`Session::interrupt`](super::Session::interrupt) finds the run in progress.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Stops one run from another task. Cheap to clone: every clone is the same signal.
///
/// Fired while its run is in progress, the run stops within an epoch tick (busy
/// Python code), at once (a sleep, a tool call: its process group is killed), and
/// its [`RunResult`](crate::RunResult) says `interrupted`. Fired before the run
/// starts (while it waits behind another run of the session), the run never starts.
/// A fired signal stays fired: use a new one per run.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    fired: AtomicBool,
    notify: Notify,
}

impl Interrupt {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal (firing it again does nothing more).
    pub fn interrupt(&self) {
        self.inner.fired.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether the signal has fired.
    pub fn is_interrupted(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    /// Completes when the signal fires (at once if it has).
    pub async fn interrupted(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a fire between the two is not lost.
            notified.as_mut().enable();
            if self.is_interrupted() {
                return;
            }
            notified.await;
        }
    }
}

/// The signal of the run in progress in one session, if any; a run registers its
/// own for as long as it runs. A plain mutex, held for a few instructions only, so
/// an interrupt never waits behind the run it stops.
#[derive(Debug, Default)]
pub(super) struct Current {
    running: Mutex<Option<Interrupt>>,
}

impl Current {
    /// Registers `interrupt` as the run in progress until the guard is dropped
    /// (also when the run's future is dropped half-way).
    pub(super) fn enter<'a>(&'a self, interrupt: &Interrupt) -> Running<'a> {
        *self.slot() = Some(interrupt.clone());
        Running(self)
    }

    /// Fires the run in progress; whether there was one.
    pub(super) fn interrupt(&self) -> bool {
        self.slot().as_ref().map(Interrupt::interrupt).is_some()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Interrupt>> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Unregisters the run in progress when dropped.
pub(super) struct Running<'a>(&'a Current);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.0.slot() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fired_signal_completes_at_once_and_wakes_waiters() {
        let signal = Interrupt::new();
        let waiter = tokio::spawn({
            let signal = signal.clone();
            async move { signal.interrupted().await }
        });
        tokio::task::yield_now().await;
        assert!(!signal.is_interrupted());
        signal.interrupt();
        waiter.await.unwrap();
        signal.interrupted().await;
    }

    #[test]
    fn only_a_registered_run_is_interrupted() {
        let current = Current::default();
        assert!(!current.interrupt());
        let signal = Interrupt::new();
        {
            let _running = current.enter(&signal);
            assert!(current.interrupt());
        }
        assert!(signal.is_interrupted());
        assert!(!current.interrupt());
    }
}
