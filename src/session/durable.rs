//! Durable sessions (issue 13): a session's journal kept in the storage backend,
//! next to skills and artifacts, so that a session survives a restart of its
//! process and any process on the same storage can resume it by id.
//!
//! What is stored is a head (what the session was created with, so a resume applies
//! exactly that and never more: allowlists, limits, profile, journal cap; the
//! seeds; what the interpreter read while it started; the clock's reading) and one
//! record per completed cell, appended once after the cell completed. A resume
//! replays them into a fresh interpreter with every host call answered from the
//! journal, so no tool runs twice.
//!
//! One request of a session runs at a time, in whichever process it reached: that
//! process holds the session's lease in the storage while it serves the request
//! (renewed in the background, lapsing when the process dies), and every journal
//! write is fenced by it. Between requests the process keeps its interpreter as a
//! cache of the history up to the journal version it last wrote or read; a request
//! finding a newer version resumes from the storage instead (no sticky routing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::SessionError;
use super::interrupt::Interrupt;
use super::journal::{Entry, Journal, JournalOptions};
use crate::model::Allow;
use crate::names::SessionId;
use crate::sandbox::journal::{Event, Seeds};
use crate::sandbox::{Limits, Profile};
use crate::storage::{JournalCaps, Storage, StorageError};

/// How long a session's lease lasts unless renewed (a third of it between renewals):
/// a dead process's sessions can be resumed elsewhere this long after it died.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// Most cells a stored journal may hold for a resume to read it.
const MAX_CELLS: usize = 1_000_000;

/// Bytes a stored head may add to the journal's own cap (the configuration and the
/// framing of what the cap counts).
const HEAD_SLACK: usize = 1 << 20;

/// The version of the stored format; another is refused, never guessed at.
const FORMAT: u32 = 1;

/// Where and how a session keeps its journal durably (see
/// [`SessionBuilder::durable`](super::SessionBuilder::durable)).
#[derive(Debug, Clone)]
pub(crate) struct DurableOptions {
    pub(crate) id: SessionId,
    /// The journal is deleted by the storage after this long without use; `None`:
    /// kept until deleted.
    pub(crate) ttl: Option<Duration>,
    pub(crate) lease: Duration,
    /// How long a request waits for the lease while another process serves the
    /// session (its run timeout, plus the lease for a holder that died).
    pub(crate) wait: Duration,
    /// Resume the stored session rather than start a new one.
    pub(crate) resume: bool,
}

/// What a session was created with: what a resume applies, never widens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Config {
    pub(crate) allow: Allow,
    pub(crate) profile: Profile,
    pub(crate) limits: Limits,
    /// The journal's cap in bytes (0: no journal).
    pub(crate) journal_max: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    format: u32,
    /// [`Config`] as JSON: its allowlist skips absent fields, which postcard's
    /// fixed layout cannot represent.
    config: String,
    seeds: [u8; 32],
    startup: Vec<Event>,
    broken: Option<String>,
    /// The monotonic clock's reading when the head was written, in nanoseconds.
    clock: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CellRecord {
    /// The monotonic clock's reading when the cell completed, in nanoseconds: a
    /// resumed clock starts past it, so it never goes back for the guest.
    clock: u64,
    entry: Entry,
}

fn clock(journal: &Journal) -> u64 {
    u64::try_from(journal.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    postcard::to_allocvec(value)
        .map_err(|e| StorageError::Corrupt { op: "encoding a session journal", detail: e.to_string() })
}

/// One session's link to its stored journal. The lease is held only while a
/// request is served (renewed in the background meanwhile): between requests any
/// process on the same storage may serve the session, and this one's interpreter
/// is a cache, checked against the stored journal's version when a request comes.
pub(crate) struct Durable {
    storage: Arc<dyn Storage>,
    id: SessionId,
    owner: String,
    ttl: Option<Duration>,
    lease: Duration,
    /// How long a request waits for a lease another process holds (it serves a
    /// request for this session now) before it is refused as held.
    wait: Duration,
    config: Config,
    /// Why the stored journal is behind the interpreter (a failed write, a lost
    /// lease): the next run first rewrites it, or refuses.
    stale: Arc<Mutex<Option<String>>>,
    /// The stored journal's version after this session's last write (or when it
    /// last took the lease): another one found at the next request means another
    /// process went on with the session, and this interpreter is out of date.
    version: AtomicU64,
    /// Renews the lease while it is held.
    renewer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The lease being given back in the background, after a request: the next
    /// claim waits for it, so a late release never drops a lease taken after it.
    releasing: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Whether the lease was given up for good already.
    closed: std::sync::atomic::AtomicBool,
    /// Set by the renewer when the lease held for a request is found lost (another
    /// process took it): the running cell is stopped, as its effects cannot be stored.
    lost: Arc<tokio::sync::watch::Sender<bool>>,
    /// Another process took the session over while this one ran a cell: this copy
    /// is out of date for good, and every later request is refused as superseded.
    overtaken: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Drop for Durable {
    /// A session dropped without [`close`](Durable::close) (a resume that failed
    /// after taking the lease, a session nobody closed) gives its lease up, so
    /// another attempt need not wait for it to lapse.
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            self.stop_renewing();
            return;
        }
        self.release_later();
    }
}

/// The lease held for one request, given back in the background when dropped
/// (the request's answer does not wait for the storage's round trip).
pub(crate) struct Holding<'a> {
    durable: &'a Durable,
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.durable.release_later();
    }
}

impl Holding<'_> {
    /// The lease was given back with the request's last write: nothing to release.
    fn given_back(self) {
        // Holds only a reference: forgetting it leaks nothing.
        std::mem::forget(self);
    }
}

impl Durable {
    /// Takes session `options.id`'s lease in `storage` for a session created with
    /// `config` (waiting, within `options.wait`, for a process that serves it now);
    /// [`SessionError::Held`] if it is not free by then. The caller gives it back
    /// with [`release`](Self::release) once the session is built.
    pub(crate) async fn claim(
        storage: Arc<dyn Storage>,
        options: &DurableOptions,
        config: Config,
    ) -> Result<Self, SessionError> {
        let durable = Self {
            storage,
            id: options.id.clone(),
            owner: SessionId::random().to_string(),
            ttl: options.ttl,
            lease: options.lease,
            wait: options.wait,
            config,
            stale: Arc::new(Mutex::new(None)),
            version: AtomicU64::new(0),
            renewer: Mutex::new(None),
            releasing: Mutex::new(None),
            closed: Default::default(),
            lost: Arc::new(tokio::sync::watch::Sender::new(false)),
            overtaken: Default::default(),
        };
        // Read under the lease: nobody else writes it now. A failure drops
        // `durable`, which gives the lease back.
        let version = durable.take_lease().await?;
        durable.version.store(version, Ordering::Release);
        Ok(durable)
    }

    /// Takes the lease (waiting for a holder, within `wait`: [`wait_for_lease`]) and
    /// starts renewing it; the stored journal's version, read in the same step.
    async fn take_lease(&self) -> Result<u64, SessionError> {
        let releasing = self.releasing.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(releasing) = releasing {
            // Its outcome does not matter: the claim below sees the lease as it is.
            let _ = releasing.await;
        }
        let version = wait_for_lease(&self.id, self.wait, || {
            self.storage.claim_session_version(&self.id, &self.owner, self.lease, self.ttl)
        })
        .await?;
        self.lost.send_replace(false);
        let renewer = tokio::spawn(renew(
            self.storage.clone(),
            self.id.clone(),
            self.owner.clone(),
            self.lease,
            self.ttl,
            self.stale.clone(),
            self.lost.clone(),
        ));
        if let Some(old) = self.renewer.lock().unwrap_or_else(|p| p.into_inner()).replace(renewer) {
            old.abort();
        }
        Ok(version)
    }

    fn stop_renewing(&self) {
        if let Some(renewer) = self.renewer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            renewer.abort();
        }
    }

    /// Gives the lease back (nothing if it is not held).
    pub(crate) async fn release(&self) {
        self.stop_renewing();
        if let Err(err) = self.storage.release_session(&self.id, &self.owner).await {
            // It lapses by itself.
            tracing::warn!(id = %self.id, %err, "cannot give a session's lease back");
        }
    }

    /// Gives the lease back in the background; the next [`take_lease`](Self::take_lease)
    /// waits for it.
    fn release_later(&self) {
        self.stop_renewing();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (storage, id, owner) = (self.storage.clone(), self.id.clone(), self.owner.clone());
        let mut releasing = self.releasing.lock().unwrap_or_else(|p| p.into_inner());
        let earlier = releasing.take();
        *releasing = Some(runtime.spawn(async move {
            if let Some(earlier) = earlier {
                let _ = earlier.await;
            }
            if let Err(err) = storage.release_session(&id, &owner).await {
                // It lapses by itself.
                tracing::warn!(%id, %err, "cannot give a session's lease back");
            }
        }));
    }

    /// Session `id`'s stored configuration and journal (the lease must be held).
    pub(crate) async fn load(&self) -> Result<(Config, Journal), SessionError> {
        let not_resumable = |why: String| SessionError::NotResumable { id: self.id.clone(), why };
        let caps = JournalCaps {
            max_bytes: usize::try_from(self.config.journal_max).unwrap_or(usize::MAX).saturating_add(HEAD_SLACK),
            max_cells: MAX_CELLS,
        };
        let stored = match self.storage.load_journal(&self.id, caps).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Err(SessionError::NotFound(self.id.clone())),
            Err(StorageError::Corrupt { detail, .. }) => {
                return Err(not_resumable(format!("its stored journal is unreadable ({detail})")));
            }
            Err(err) => return Err(err.into()),
        };
        let head: Head = postcard::from_bytes(&stored.head)
            .map_err(|e| not_resumable(format!("its stored journal's head is unreadable ({e})")))?;
        if head.format != FORMAT {
            return Err(not_resumable(format!("its journal was stored in format {}, not {FORMAT}", head.format)));
        }
        let config: Config = serde_json::from_str(&head.config)
            .map_err(|e| not_resumable(format!("its stored configuration is unreadable ({e})")))?;
        if let Some(why) = head.broken {
            return Err(not_resumable(why));
        }
        let mut cells = Vec::with_capacity(stored.cells.len());
        let mut clock = head.clock;
        for (n, bytes) in stored.cells.iter().enumerate() {
            let record: CellRecord = postcard::from_bytes(bytes)
                .map_err(|e| not_resumable(format!("cell {} of its stored journal is unreadable ({e})", n + 1)))?;
            clock = clock.max(record.clock);
            cells.push(record.entry);
        }
        // The clock continues from its last stored reading (an `Instant` cannot be
        // stored; a machine up for less than that long starts it at zero, and the
        // replayed readings still keep it from going back).
        let origin = Instant::now().checked_sub(Duration::from_nanos(clock)).unwrap_or_else(Instant::now);
        // Its own cap, but none larger than this process's (what a server reserved
        // for it): like its limits, never looser than the builder's.
        let options = JournalOptions {
            max_bytes: usize::try_from(config.journal_max.min(self.config.journal_max)).unwrap_or(usize::MAX),
            replay_timeout: None,
        };
        let journal = Journal::resumed(options, Seeds { random: head.seeds }, origin, head.startup, cells)
            .map_err(not_resumable)?;
        Ok((config, journal))
    }

    /// The session's id.
    pub(crate) fn id(&self) -> &SessionId {
        &self.id
    }

    /// Stores `journal` as the start of a new history (a new interpreter, a reset,
    /// a journal past its cap): its head replaces the stored one, the cells go.
    pub(crate) async fn begin(&self, journal: &Journal) {
        if let Err(err) = self.write_head(journal).await {
            self.mark_stale(&err);
        }
    }

    async fn write_head(&self, journal: &Journal) -> Result<(), StorageError> {
        let config = serde_json::to_string(&self.config)
            .map_err(|e| StorageError::Corrupt { op: "encoding a session journal", detail: e.to_string() })?;
        let head = Head {
            format: FORMAT,
            config,
            seeds: journal.seeds.random,
            startup: journal.startup.clone(),
            broken: journal.broken.clone(),
            clock: clock(journal),
        };
        let version = self.storage.begin_journal(&self.id, &self.owner, &encode(&head)?, self.ttl).await?;
        self.version.store(version, Ordering::Release);
        Ok(())
    }

    /// Stores the cell `journal` just committed, or a new history if the commit
    /// broke the journal, and ends the request `holding` the lease (the cell is
    /// stored and the lease given back in one step where the storage can);
    /// `before` is how many cells it held before and whether it was broken
    /// already. [`SessionError::TakenOver`] when the lease was lost to another
    /// process meanwhile (the cell ran here, but is not stored): this copy is then
    /// out of date for good. Another failure marks the stored journal stale, to be
    /// rewritten at the next request.
    pub(crate) async fn committed(
        &self,
        journal: &Journal,
        before: (usize, bool),
        holding: Holding<'_>,
    ) -> Result<(), SessionError> {
        let (cells_before, was_broken) = before;
        let result = match journal.cells.last().filter(|_| journal.cells.len() > cells_before) {
            Some(entry) => {
                // Not renewed past this write: a renewal after the lease went back
                // with it would take that for a loss.
                self.stop_renewing();
                let stored = self.append(journal, entry, true).await;
                if stored.is_ok() {
                    holding.given_back();
                    return Ok(());
                }
                stored
            }
            // Broken by this cell (past its cap): the stored history says so.
            _ if journal.broken.is_some() && !was_broken => self.write_head(journal).await,
            _ => Ok(()),
        };
        match result {
            Ok(()) => Ok(()),
            Err(StorageError::Held(_)) => Err(self.taken_over()),
            Err(err) => {
                self.mark_stale(&err);
                Ok(())
            }
        }
    }

    /// The error of a cell that ran here while another process took the session
    /// over; marks this copy out of date for good (its next request is refused as
    /// [`SessionError::Superseded`], so what it ran is never stored over the other's).
    pub(crate) fn taken_over(&self) -> SessionError {
        self.overtaken.store(true, Ordering::Release);
        SessionError::TakenOver(self.id.clone())
    }

    /// Completes when the lease taken for the request in progress is found lost to
    /// another process (by the renewer): what runs now can no longer be stored.
    pub(crate) async fn lease_lost(&self) {
        let mut lost = self.lost.subscribe();
        if lost.wait_for(|lost| *lost).await.is_err() {
            // The sender lives as long as `self`: never reached.
            std::future::pending::<()>().await;
        }
    }

    /// Whether the lease taken for the request in progress was found lost.
    pub(crate) fn is_lease_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Stores `journal` whole: its head, then its cells one by one.
    async fn write_all(&self, journal: &Journal) -> Result<(), StorageError> {
        self.write_head(journal).await?;
        for entry in &journal.cells {
            self.append(journal, entry, false).await?;
        }
        Ok(())
    }

    /// A new session's link, under a new random id, with `journal` (this one's,
    /// the fork's history) stored whole: a fork survives its process like any
    /// durable session.
    pub(crate) async fn fork(&self, journal: &Journal) -> Result<Self, SessionError> {
        let options = DurableOptions {
            id: SessionId::random(),
            ttl: self.ttl,
            lease: self.lease,
            wait: self.wait,
            resume: false,
        };
        let fork = Self::claim(self.storage.clone(), &options, self.config.clone()).await?;
        // Dropped on failure, which gives the new lease back.
        fork.write_all(journal).await?;
        fork.release().await;
        Ok(fork)
    }

    /// Stores one cell's record, giving the lease back in the same step with `release`.
    async fn append(&self, journal: &Journal, entry: &Entry, release: bool) -> Result<(), StorageError> {
        let record = encode(&CellRecord { clock: clock(journal), entry: entry.clone() })?;
        let (storage, id, owner) = (&self.storage, &self.id, self.owner.as_str());
        let version = match release {
            true => storage.append_journal_and_release(id, owner, &record, self.ttl).await?,
            false => storage.append_journal(id, owner, &record, self.ttl).await?,
        };
        self.version.store(version, Ordering::Release);
        Ok(())
    }

    fn mark_stale(&self, err: &StorageError) {
        tracing::warn!(id = %self.id, %err, "a session's stored journal is behind its interpreter");
        self.stale.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| err.to_string());
    }

    /// Before a request: takes the lease (waiting for a process that serves the
    /// session now, within `wait`) and checks that `journal`, this process's cached
    /// history, is the stored one. [`SessionError::Superseded`] when another process
    /// went on with the session since (the cache is out of date: resume it from the
    /// storage), [`SessionError::Held`] when the lease stays taken. If the stored
    /// journal fell behind this one (a failed write), it is rewritten whole first.
    pub(crate) async fn acquire(&self, journal: &Journal) -> Result<Holding<'_>, SessionError> {
        if self.overtaken.load(Ordering::Acquire) {
            return Err(SessionError::Superseded(self.id.clone()));
        }
        let stored = self.take_lease().await?;
        if stored != self.version.load(Ordering::Acquire) {
            // Given back before the answer: the caller resumes the session anew,
            // from this or another process, at once.
            self.release().await;
            return Err(SessionError::Superseded(self.id.clone()));
        }
        let holding = Holding { durable: self };
        let stale = self.stale.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if stale.is_some() {
            // Dropping `holding` on failure gives the lease back.
            self.write_all(journal).await?;
            *self.stale.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Ok(holding)
    }

    /// Completes when another process asks for the run in progress to stop
    /// ([`Storage::request_interrupt`]); never, on a store that passes no interrupts.
    /// Polled with every other run of this process on the same storage, in one
    /// round trip (`watch.rs`).
    pub(crate) async fn interrupted_elsewhere(&self) {
        super::watch::watch(&self.storage, &self.id).fired().await;
    }

    /// `work`, with `stop` (which `work` heeds) fired also when another process
    /// asks for this session's run to stop: for a replay under the lease, which
    /// the request it serves is answered as interrupted.
    pub(crate) async fn heeding<T>(&self, stop: &Interrupt, work: impl Future<Output = T>) -> T {
        let elsewhere = async {
            self.interrupted_elsewhere().await;
            stop.interrupt();
            // `work` ends once it sees `stop`.
            std::future::pending::<T>().await
        };
        tokio::select! {
            done = work => done,
            never = elsewhere => never,
        }
    }

    /// Gives the lease up, and with `delete` the stored journal too.
    pub(crate) async fn close(&self, delete: bool) {
        if delete {
            // Deleted once a request another process serves now is done: not under
            // a running cell (past the wait, deleted all the same; that process's
            // next write then finds the journal gone).
            let _ = self.take_lease().await;
        }
        self.stop_renewing();
        self.closed.store(true, Ordering::Release);
        let result = if delete {
            self.storage.delete_journal(&self.id).await.map(drop)
        } else {
            self.storage.release_session(&self.id, &self.owner).await
        };
        if let Err(err) = result {
            tracing::warn!(id = %self.id, %err, "cannot release a session's stored journal");
        }
    }
}

/// Asks `claim` for session `id`'s lease until it gives it (`Some`), waiting with
/// a backoff (5 ms doubling to 100 ms) while another process holds it:
/// [`SessionError::Held`] past `wait`. Every claim that waits for a process serving
/// the session goes through it (a request's, a delete's), so all wait alike.
async fn wait_for_lease<T, F: Future<Output = Result<Option<T>, StorageError>>>(
    id: &SessionId,
    wait: Duration,
    mut claim: impl FnMut() -> F,
) -> Result<T, SessionError> {
    // No deadline when it is past what the clock can represent (a huge timeout).
    let deadline = Instant::now().checked_add(wait);
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(claimed) = claim().await? {
            return Ok(claimed);
        }
        let left = deadline.map_or(Duration::MAX, |deadline| deadline.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return Err(SessionError::Held(id.clone()));
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Deletes session `id`'s stored journal for a process that holds no copy of the
/// session, once no other process serves it: the lease is waited for as a request
/// waits for it (within `wait`, [`SessionError::Held`] past it), so a cell running
/// elsewhere completes and is stored first, then the session goes. Whether a
/// journal was stored.
#[cfg(feature = "server")]
pub(crate) async fn delete_stored(
    storage: &dyn Storage,
    id: &SessionId,
    lease: Duration,
    wait: Duration,
) -> Result<bool, SessionError> {
    let owner = SessionId::random().to_string();
    let owner = owner.as_str();
    wait_for_lease(id, wait, || async move { Ok(storage.claim_session(id, owner, lease).await?.then_some(())) })
        .await?;
    // The lease goes with the journal (one left by a failure here lapses by itself).
    Ok(storage.delete_journal(id).await?)
}

/// Renews the lease a third of its length before it lapses; a lost lease marks the
/// journal stale, so the next run finds out, and signals `lost`, which stops the
/// cell running now.
async fn renew(
    storage: Arc<dyn Storage>,
    id: SessionId,
    owner: String,
    lease: Duration,
    ttl: Option<Duration>,
    stale: Arc<Mutex<Option<String>>>,
    lost: Arc<tokio::sync::watch::Sender<bool>>,
) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match storage.renew_session(&id, &owner, lease, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                let why = StorageError::Held(id.clone()).to_string();
                stale.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(why);
                lost.send_replace(true);
            }
            // Transient: the next renewal retries; the lease may lapse meanwhile.
            Err(err) => tracing::warn!(%id, %err, "cannot renew a session's lease"),
        }
    }
}
