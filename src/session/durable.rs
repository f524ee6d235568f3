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
//! One session runs in one process at a time: the process holds the session's
//! lease in the storage (renewed in the background, lapsing when the process dies),
//! and every journal write is fenced by it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::SessionError;
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

/// One session's link to its stored journal; the lease is renewed while it lives.
pub(crate) struct Durable {
    storage: Arc<dyn Storage>,
    id: SessionId,
    owner: String,
    ttl: Option<Duration>,
    lease: Duration,
    config: Config,
    /// Why the stored journal is behind the interpreter (a failed write, a lost
    /// lease): the next run first rewrites it, or refuses.
    stale: Arc<Mutex<Option<String>>>,
    /// When the lease was last taken or renewed (as asked): past `lease` after it,
    /// the lease may be another's (this process paused, or the storage was
    /// unreachable), so the next run checks before it runs.
    renewed: Arc<Mutex<Instant>>,
    /// The stored journal's version after this session's last write (or when it
    /// took the lease): a rewrite finding another is refused, never stored over a
    /// newer history.
    version: AtomicU64,
    renewer: tokio::task::JoinHandle<()>,
    /// Whether the lease was given up already.
    closed: std::sync::atomic::AtomicBool,
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
        self.renewer.abort();
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (storage, id, owner) = (self.storage.clone(), self.id.clone(), self.owner.clone());
            runtime.spawn(async move { storage.release_session(&id, &owner).await });
        }
    }
}

impl Durable {
    /// Takes session `options.id`'s lease in `storage` for a session created with
    /// `config`; [`SessionError::Held`] if another process runs it.
    pub(crate) async fn claim(
        storage: Arc<dyn Storage>,
        options: &DurableOptions,
        config: Config,
    ) -> Result<Self, SessionError> {
        let owner = SessionId::random().to_string();
        let asked = Instant::now();
        if !storage.claim_session(&options.id, &owner, options.lease).await? {
            return Err(SessionError::Held(options.id.clone()));
        }
        let stale = Arc::new(Mutex::new(None));
        let renewed = Arc::new(Mutex::new(asked));
        let renewer = tokio::spawn(renew(
            storage.clone(),
            options.id.clone(),
            owner.clone(),
            options.lease,
            options.ttl,
            stale.clone(),
            renewed.clone(),
        ));
        let durable = Self {
            storage,
            id: options.id.clone(),
            owner,
            ttl: options.ttl,
            lease: options.lease,
            config,
            stale,
            renewed,
            version: AtomicU64::new(0),
            renewer,
            closed: Default::default(),
        };
        // Read under the lease: nobody else writes it now. A failure drops
        // `durable`, which gives the lease back.
        let version = durable.storage.journal_version(&durable.id).await?;
        durable.version.store(version, Ordering::Release);
        Ok(durable)
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
    /// broke the journal; `before` is how many cells it held before and whether it
    /// was broken already.
    pub(crate) async fn committed(&self, journal: &Journal, before: (usize, bool)) {
        let (cells_before, was_broken) = before;
        let result = match (journal.cells.len() > cells_before, journal.cells.last()) {
            (true, Some(entry)) => self.append(journal, entry).await,
            // Broken by this cell (past its cap): the stored history says so.
            _ if journal.broken.is_some() && !was_broken => self.write_head(journal).await,
            _ => Ok(()),
        };
        if let Err(err) = result {
            self.mark_stale(&err);
        }
    }

    /// Stores `journal` whole: its head, then its cells one by one.
    async fn write_all(&self, journal: &Journal) -> Result<(), StorageError> {
        self.write_head(journal).await?;
        for entry in &journal.cells {
            self.append(journal, entry).await?;
        }
        Ok(())
    }

    /// A new session's link, under a new random id, with `journal` (this one's,
    /// the fork's history) stored whole: a fork survives its process like any
    /// durable session.
    pub(crate) async fn fork(&self, journal: &Journal) -> Result<Self, SessionError> {
        let options = DurableOptions { id: SessionId::random(), ttl: self.ttl, lease: self.lease, resume: false };
        let fork = Self::claim(self.storage.clone(), &options, self.config.clone()).await?;
        // Dropped on failure, which gives the new lease back.
        fork.write_all(journal).await?;
        Ok(fork)
    }

    async fn append(&self, journal: &Journal, entry: &Entry) -> Result<(), StorageError> {
        let record = CellRecord { clock: clock(journal), entry: entry.clone() };
        let version = self.storage.append_journal(&self.id, &self.owner, &encode(&record)?, self.ttl).await?;
        self.version.store(version, Ordering::Release);
        Ok(())
    }

    fn mark_stale(&self, err: &StorageError) {
        tracing::warn!(id = %self.id, %err, "a session's stored journal is behind its interpreter");
        self.stale.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| err.to_string());
    }

    /// Before a run: if the stored journal fell behind, rewrites it whole from
    /// `journal`, and if the lease may have lapsed (not renewed for its length:
    /// this process paused, or the storage was unreachable), takes it again before
    /// the cell runs. Refuses the run when that fails (another process holds the
    /// session, or the storage is down), so two histories never go on at once, and
    /// with [`SessionError::Superseded`] when another process wrote the stored
    /// journal since this one's last write: a newer history is never overwritten.
    pub(crate) async fn catch_up(&self, journal: &Journal) -> Result<(), SessionError> {
        let stale = self.stale.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let lapsed = self.renewed.lock().unwrap_or_else(|p| p.into_inner()).elapsed() >= self.lease;
        if stale.is_none() && !lapsed {
            return Ok(());
        }
        let rewrite = async {
            let asked = Instant::now();
            // Taken again if it lapsed while nobody else took it.
            if !self.storage.claim_session(&self.id, &self.owner, self.lease).await? {
                return Err(StorageError::Held(self.id.clone()));
            }
            if self.storage.journal_version(&self.id).await? != self.version.load(Ordering::Acquire) {
                // Given back, so the process holding the newer history can resume it.
                self.storage.release_session(&self.id, &self.owner).await?;
                return Ok(Err(SessionError::Superseded(self.id.clone())));
            }
            *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = asked;
            if stale.is_some() {
                self.write_all(journal).await?;
            }
            Ok(Ok(()))
        };
        match rewrite.await {
            Ok(Err(superseded)) => Err(superseded),
            Ok(Ok(())) => {
                *self.stale.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(())
            }
            Err(StorageError::Held(id)) => Err(SessionError::Held(id)),
            Err(err) => Err(err.into()),
        }
    }

    /// Gives the lease up, and with `delete` the stored journal too.
    pub(crate) async fn close(&self, delete: bool) {
        self.renewer.abort();
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

/// Renews the lease a third of its length before it lapses; a lost lease marks the
/// journal stale, so the next run finds out.
async fn renew(
    storage: Arc<dyn Storage>,
    id: SessionId,
    owner: String,
    lease: Duration,
    ttl: Option<Duration>,
    stale: Arc<Mutex<Option<String>>>,
    renewed: Arc<Mutex<Instant>>,
) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let asked = Instant::now();
        match storage.renew_session(&id, &owner, lease, ttl).await {
            Ok(true) => *renewed.lock().unwrap_or_else(|p| p.into_inner()) = asked,
            Ok(false) => {
                let why = StorageError::Held(id.clone()).to_string();
                stale.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(why);
            }
            // Transient: the next renewal retries; the lease may lapse meanwhile.
            Err(err) => tracing::warn!(%id, %err, "cannot renew a session's lease"),
        }
    }
}
