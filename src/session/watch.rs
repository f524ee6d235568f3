//! Interrupts asked for by other processes ([`Storage::request_interrupt`]), found
//! by one poll per storage handle whatever the number of runs in progress: each
//! run registers its session's id with its storage's [`Watcher`] for as long as it
//! runs, and the watcher asks the storage about every registered id in one round
//! trip ([`Storage::interrupts_requested`]) each [`POLL`], waking the runs whose
//! interrupt was asked for. With no run registered there is no poll and no task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use super::interrupt::Interrupt;
use crate::names::SessionId;
use crate::storage::Storage;

/// How often the watcher asks: with the storage's round trip, how long a
/// cross-process interrupt takes to stop a run.
const POLL: Duration = Duration::from_millis(25);

/// The watchers of this process, one per storage handle in use. A registry rather
/// than a field of the storage: the [`Storage`] trait is the storage layer's, which
/// knows nothing of runs; sessions built on one handle (a server's) share it.
static WATCHERS: Mutex<Vec<Weak<Watcher>>> = Mutex::new(Vec::new());

/// The runs registered on one storage handle, and its polling task's state.
struct Watcher {
    /// Not kept alive by the watcher: the runs registered keep it so.
    storage: Weak<dyn Storage>,
    runs: Mutex<Runs>,
}

#[derive(Default)]
struct Runs {
    next: u64,
    /// Registration → the run's session and its signal.
    watched: HashMap<u64, (SessionId, Interrupt)>,
    /// Whether a polling task runs (it ends when it finds no run registered).
    polling: bool,
}

/// One run's registration; dropping it (also when the run's future is dropped
/// half-way) unregisters the run.
pub(super) struct Watch {
    watcher: Arc<Watcher>,
    key: u64,
    signal: Interrupt,
}

impl Watch {
    /// Completes once another process asked for the session's run to stop.
    pub(super) async fn fired(&self) {
        self.signal.interrupted().await;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.watcher.runs().watched.remove(&self.key);
    }
}

/// Registers a run of session `id` with `storage`'s watcher (made, with its
/// polling task, if none runs). Needs a Tokio runtime.
pub(super) fn watch(storage: &Arc<dyn Storage>, id: &SessionId) -> Watch {
    let watcher = watcher_of(storage);
    let signal = Interrupt::new();
    let mut runs = watcher.runs();
    let key = runs.next;
    runs.next += 1;
    runs.watched.insert(key, (id.clone(), signal.clone()));
    if !runs.polling {
        runs.polling = true;
        tokio::spawn(poll(watcher.clone()));
    }
    drop(runs);
    Watch { watcher, key, signal }
}

/// `storage`'s watcher: the one in the registry, or a new one registered.
fn watcher_of(storage: &Arc<dyn Storage>) -> Arc<Watcher> {
    let mut watchers = WATCHERS.lock().unwrap_or_else(|p| p.into_inner());
    // Gone watchers are dropped here, so the registry holds no more than the
    // handles in use.
    watchers.retain(|watcher| watcher.strong_count() > 0);
    let found = watchers.iter().filter_map(Weak::upgrade).find(|watcher| {
        // The same handle, alive (an address is reused only once it is not).
        watcher.storage.upgrade().is_some_and(|theirs| std::ptr::addr_eq(Arc::as_ptr(&theirs), Arc::as_ptr(storage)))
    });
    found.unwrap_or_else(|| {
        let watcher = Arc::new(Watcher { storage: Arc::downgrade(storage), runs: Mutex::default() });
        watchers.push(Arc::downgrade(&watcher));
        watcher
    })
}

impl Watcher {
    fn runs(&self) -> MutexGuard<'_, Runs> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Asks the storage about every registered run each [`POLL`] and fires the signals
/// of those asked to stop; ends when no run is registered (or the storage is gone).
async fn poll(watcher: Arc<Watcher>) {
    loop {
        tokio::time::sleep(POLL).await;
        let (ids, signals): (Vec<SessionId>, Vec<Interrupt>) = {
            let mut runs = watcher.runs();
            if runs.watched.is_empty() {
                runs.polling = false;
                return;
            }
            runs.watched.values().cloned().unzip()
        };
        let Some(storage) = watcher.storage.upgrade() else {
            watcher.runs().polling = false;
            return;
        };
        match storage.interrupts_requested(&ids).await {
            Ok(asked) => {
                for (signal, _) in signals.iter().zip(asked).filter(|(_, asked)| *asked) {
                    signal.interrupt();
                }
            }
            // Retried at the next poll.
            Err(err) => tracing::debug!(%err, "cannot read the interrupts asked for"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FileStorage;

    #[tokio::test]
    async fn runs_on_one_handle_share_a_watcher_that_stops_polling_when_none_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.unwrap());
        let (asked, idle) = (SessionId::random(), SessionId::random());
        let first = watch(&storage, &asked);
        let second = watch(&storage, &idle);
        assert!(Arc::ptr_eq(&first.watcher, &second.watcher), "one watcher per storage handle");
        // A run whose future is dropped half-way is unregistered.
        let cancelled = tokio::time::timeout(POLL * 2, watch(&storage, &idle).fired()).await;
        assert!(cancelled.is_err());
        assert_eq!(first.watcher.runs().watched.len(), 2);
        // Asked for one id: that run alone is woken.
        assert!(storage.claim_session(&asked, "holder", Duration::from_secs(30)).await.unwrap());
        assert!(storage.request_interrupt(&asked).await.unwrap());
        tokio::time::timeout(POLL * 8, first.fired()).await.expect("woken within a few polls");
        assert!(tokio::time::timeout(POLL * 2, second.fired()).await.is_err(), "another run was woken");
        let watcher = first.watcher.clone();
        drop((first, second));
        tokio::time::sleep(POLL * 3).await;
        let runs = watcher.runs();
        assert!(runs.watched.is_empty() && !runs.polling, "still polling with no run registered");
    }
}
