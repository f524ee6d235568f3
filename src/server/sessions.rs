//! The live sessions of a server, by id, closed after an idle TTL. With a storage,
//! every session is durable (its journal stored under its id): a session this
//! server does not hold is resumed from the storage on its first request. The
//! idle TTL drops this server's copy only; the stored journal goes when no server
//! used it for the TTL, and a deleted session's at once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::budget::Reservation;
use super::error::ApiError;
use super::trim::Trimmer;
use crate::names::SessionId;
use crate::session::Session;

/// Expired ids remembered, to tell a client its session expired rather than never existed.
const TOMBSTONES: usize = 10_000;

/// How long an id found absent from the storage, or not resumable, is answered
/// from memory: a client asking for it again and again costs no storage read.
const UNRESUMABLE_FOR: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct Sessions {
    live: tokio::sync::RwLock<HashMap<String, Arc<Live>>>,
    expired: Mutex<VecDeque<String>>,
    pub(crate) ttl: Duration,
    max: usize,
    trimmer: Trimmer,
    /// One lock per id being resumed, with how many requests use it (the entry
    /// goes with the last): two requests for one stored session resume it once,
    /// and a slow resume delays no other id's. At most `max` ids at once.
    resuming: ResumeLocks,
    /// Ids whose resume found no journal or one that cannot be resumed, with when
    /// and the answer, for [`UNRESUMABLE_FOR`]; oldest first, at most [`TOMBSTONES`].
    unresumable: Mutex<VecDeque<(String, Instant, ApiError)>>,
}

/// The resume locks by id, each with how many requests use it.
type ResumeLocks = Mutex<HashMap<String, (Arc<tokio::sync::Mutex<()>>, usize)>>;

/// One request's use of an id's resume lock, counted in the map (not by the
/// lock's `Arc`, which a cancelled wait may still hold while this is dropped).
struct ResumeSlot<'a> {
    resuming: &'a ResumeLocks,
    id: String,
}

impl Drop for ResumeSlot<'_> {
    fn drop(&mut self) {
        let mut map = self.resuming.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, users)) = map.get_mut(&self.id) {
            *users -= 1;
            if *users == 0 {
                map.remove(&self.id);
            }
        }
    }
}

/// Holds an id's resume lock; the guard is released before the slot is given back.
struct Resuming<'a> {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    _slot: ResumeSlot<'a>,
}

/// A session, when it was last used, and its share of the memory budget (given
/// back when the last request using it is done).
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) session: Session,
    last_used: Mutex<Instant>,
    busy: AtomicUsize,
    _memory: Reservation,
}

/// Marks a session busy while a request uses it: a run longer than the TTL is not
/// expired under itself.
pub(crate) struct InUse(Arc<Live>);

impl std::ops::Deref for InUse {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0.session
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        *self.0.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Sessions {
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            live: Default::default(),
            expired: Default::default(),
            ttl,
            max,
            trimmer: Trimmer::default(),
            resuming: Default::default(),
            unresumable: Default::default(),
        }
    }

    /// Adds `session` under `id` (made by [`SessionId::random`]: unguessable).
    pub(crate) async fn insert(
        &self,
        id: SessionId,
        session: Session,
        memory: Reservation,
    ) -> Result<String, ApiError> {
        let mut live = self.live.write().await;
        if live.len() >= self.max {
            // Built already (a durable one holds its lease): released, its stored
            // journal kept (a resumed session must not lose it; a new one's expires).
            drop(live);
            session.close().await;
            return Err(self.full());
        }
        let entry = Live { session, last_used: Mutex::new(Instant::now()), busy: AtomicUsize::new(0), _memory: memory };
        live.insert(id.to_string(), Arc::new(entry));
        Ok(id.to_string())
    }

    /// Session `id`: the one this server holds, or else, when `resume` is given,
    /// the one it builds from the storage (under the id's resume lock, so one
    /// stored session is resumed once). An id of the wrong shape names no session
    /// and touches nothing; one found absent or not resumable a moment ago gets the
    /// same answer again without a storage read.
    pub(crate) async fn get_or_resume<F, Fut>(&self, id: &str, resume: Option<F>) -> Result<InUse, ApiError>
    where
        F: FnOnce(SessionId) -> Fut,
        Fut: std::future::Future<Output = Result<(Session, Reservation), ApiError>>,
    {
        // Only ids of the shape this server makes: a name chosen by a person (a
        // `repl --session` one on the same storage) is never an HTTP client's to take.
        let valid = SessionId::new(id)
            .ok()
            .filter(SessionId::is_random)
            .ok_or_else(|| ApiError::not_found(format!("no session {}", crate::text::shown(id))));
        match (self.get(id).await, resume) {
            (Ok(live), _) => return Ok(live),
            (Err(missing), None) => return Err(missing),
            (Err(missing), Some(_)) if valid.is_err() => return Err(missing),
            (Err(_), Some(resume)) => {
                if let Some(answer) = self.recently_unresumable(id) {
                    return Err(answer);
                }
                let _resuming = self.lock_resume(id).await?;
                // Resumed, or found unresumable, by the request before this one.
                if let Ok(live) = self.get(id).await {
                    return Ok(live);
                }
                if let Some(answer) = self.recently_unresumable(id) {
                    return Err(answer);
                }
                self.check_room().await?;
                let id = valid?;
                let (session, memory) = match resume(id.clone()).await {
                    Ok(resumed) => resumed,
                    Err(err) => {
                        // Expired here and unused since on any server: gone.
                        let err = if err.kind() == "not_found" && self.is_expired(id.as_str()) {
                            self.missing(id.as_str())
                        } else {
                            err
                        };
                        if matches!(err.kind(), "not_found" | "not_resumable" | "expired") {
                            self.remember_unresumable(id.as_str(), &err);
                        }
                        return Err(err);
                    }
                };
                self.insert(id.clone(), session, memory).await?;
            }
        }
        self.get(id).await
    }

    /// Waits for `id`'s resume lock; 503 when `max` other ids are being resumed.
    async fn lock_resume(&self, id: &str) -> Result<Resuming<'_>, ApiError> {
        let lock = {
            let mut map = self.resuming.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= self.max && !map.contains_key(id) {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "limit_exceeded",
                    format!("the server is resuming {} sessions already; retry later", self.max),
                ));
            }
            let (lock, users) = map.entry(id.to_owned()).or_default();
            *users += 1;
            lock.clone()
        };
        let slot = ResumeSlot { resuming: &self.resuming, id: id.to_owned() };
        Ok(Resuming { _guard: lock.lock_owned().await, _slot: slot })
    }

    /// The answer a resume of `id` got less than [`UNRESUMABLE_FOR`] ago, if it
    /// found nothing or nothing it could resume.
    fn recently_unresumable(&self, id: &str) -> Option<ApiError> {
        let mut remembered = self.unresumable.lock().unwrap_or_else(|p| p.into_inner());
        while remembered.front().is_some_and(|(_, at, _)| at.elapsed() > UNRESUMABLE_FOR) {
            remembered.pop_front();
        }
        remembered.iter().find(|(known, _, _)| known == id).map(|(_, _, answer)| answer.clone())
    }

    fn remember_unresumable(&self, id: &str, answer: &ApiError) {
        let mut remembered = self.unresumable.lock().unwrap_or_else(|p| p.into_inner());
        if remembered.len() == TOMBSTONES {
            remembered.pop_front();
        }
        remembered.push_back((id.to_owned(), Instant::now(), answer.clone()));
    }

    /// Whether one more session fits under the cap now (checked again on insert).
    pub(crate) async fn check_room(&self) -> Result<(), ApiError> {
        if self.live.read().await.len() >= self.max { Err(self.full()) } else { Ok(()) }
    }

    fn full(&self) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "limit_exceeded",
            format!("the server holds its maximum of {} sessions; close one or retry later", self.max),
        )
    }

    pub(crate) async fn get(&self, id: &str) -> Result<InUse, ApiError> {
        if SessionId::new(id).is_err() {
            return Err(ApiError::not_found(format!("no session {} (not a session id)", crate::text::shown(id))));
        }
        let Some(live) = self.live.read().await.get(id).cloned() else {
            return Err(self.missing(id));
        };
        live.busy.fetch_add(1, Ordering::AcqRel);
        Ok(InUse(live))
    }

    /// Closes session `id` and deletes its stored journal.
    pub(crate) async fn remove(&self, id: &str) -> Result<(), ApiError> {
        let removed = self.live.write().await.remove(id);
        match removed {
            Some(live) => {
                live.session.forget().await;
                self.trimmer.closed();
                Ok(())
            }
            None => Err(self.missing(id)),
        }
    }

    /// Drops this server's copy of session `id`, its stored journal kept (another
    /// process went on with it), if the copy is still `stale`: one another request
    /// resumed meanwhile is kept.
    pub(crate) async fn evict(&self, id: &str, stale: &InUse) {
        let removed = {
            let mut live = self.live.write().await;
            if !live.get(id).is_some_and(|held| Arc::ptr_eq(held, &stale.0)) {
                return;
            }
            live.remove(id)
        };
        if let Some(live) = removed {
            live.session.close().await;
            self.trimmer.closed();
        }
    }

    pub(crate) async fn len(&self) -> usize {
        self.live.read().await.len()
    }

    /// Closes sessions idle for longer than the TTL; returns how many.
    pub(crate) async fn reap(&self) -> usize {
        let now = Instant::now();
        let idle = |live: &Live| {
            live.busy.load(Ordering::Acquire) == 0
                && now.duration_since(*live.last_used.lock().unwrap_or_else(|p| p.into_inner())) > self.ttl
        };
        let expired: Vec<(String, Arc<Live>)> = {
            let mut table = self.live.write().await;
            let ids: Vec<String> = table.iter().filter(|(_, live)| idle(live)).map(|(id, _)| id.clone()).collect();
            ids.into_iter().filter_map(|id| table.remove(&id).map(|live| (id, live))).collect()
        };
        for (id, live) in &expired {
            // Only this server's copy: another server may be using the session. Its
            // stored journal goes when nobody used it for the TTL (Redis expires it,
            // a directory is swept), and a request then finds it expired.
            live.session.close().await;
            let mut tombstones = self.expired.lock().unwrap_or_else(|p| p.into_inner());
            if tombstones.len() == TOMBSTONES {
                tombstones.pop_front();
            }
            tombstones.push_back(id.clone());
        }
        if !expired.is_empty() {
            self.trimmer.closed();
        }
        expired.len()
    }

    fn is_expired(&self, id: &str) -> bool {
        self.expired.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|e| e == id)
    }

    fn missing(&self, id: &str) -> ApiError {
        if self.is_expired(id) {
            ApiError::new(
                StatusCode::GONE,
                "expired",
                format!(
                    "session {id} expired after {} s without requests and was closed; create a new one",
                    self.ttl.as_secs_f64()
                ),
            )
        } else {
            ApiError::not_found(format!("no session {id} (it was closed, or never existed)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::session::SessionError;

    type Resumed = Result<(Session, Reservation), ApiError>;

    fn unresumable(id: SessionId) -> ApiError {
        SessionError::NotResumable { id, why: "its journal is past its cap".to_owned() }.into()
    }

    /// A resume waiting on another id's slow replay would stall here for the whole
    /// replay; each id has its own lock, and the map is empty once both are done.
    #[tokio::test]
    async fn a_slow_resume_does_not_delay_another_id() {
        let sessions = Arc::new(Sessions::new(Duration::from_secs(60), 10));
        let (slow, fast) = (SessionId::random(), SessionId::random());
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (started, mut has_started) = tokio::sync::mpsc::channel::<()>(1);
        let waiting = tokio::spawn({
            let (sessions, slow) = (sessions.clone(), slow.clone());
            async move {
                let resume = |id: SessionId| async move {
                    started.send(()).await.ok();
                    released.await.ok();
                    Resumed::Err(unresumable(id))
                };
                sessions.get_or_resume(slow.as_str(), Some(resume)).await.err().map(|e| e.kind())
            }
        });
        has_started.recv().await.expect("the slow resume starts");
        let quick = |id: SessionId| async move { Resumed::Err(unresumable(id)) };
        let answer = tokio::time::timeout(Duration::from_secs(2), sessions.get_or_resume(fast.as_str(), Some(quick)))
            .await
            .expect("another id's resume is not held up by the slow one");
        assert_eq!(answer.err().map(|e| e.kind()), Some("not_resumable"));
        // A request waiting behind the slow resume of its own id, given up (its
        // client went away), leaves nothing behind.
        let behind = |id: SessionId| async move { Resumed::Err(unresumable(id)) };
        let waited =
            tokio::time::timeout(Duration::from_millis(50), sessions.get_or_resume(slow.as_str(), Some(behind)));
        assert!(waited.await.is_err(), "it waits for the resume in progress");
        release.send(()).expect("the slow resume still waits");
        assert_eq!(waiting.await.expect("the slow resume ends"), Some("not_resumable"));
        assert!(sessions.resuming.lock().unwrap().is_empty(), "every resume lock is removed when done");
    }

    /// A client asking for an unresumable id again and again, at once and one after
    /// another, costs one storage read (one call of `resume`), not one per request.
    #[tokio::test]
    async fn an_unresumable_id_is_read_once() {
        let sessions = Arc::new(Sessions::new(Duration::from_secs(60), 10));
        let id = SessionId::random();
        let reads = Arc::new(AtomicUsize::new(0));
        let ask = || {
            let (sessions, id, reads) = (sessions.clone(), id.clone(), reads.clone());
            async move {
                let resume = |id: SessionId| async move {
                    reads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Resumed::Err(unresumable(id))
                };
                sessions.get_or_resume(id.as_str(), Some(resume)).await.err().map(|e| e.kind())
            }
        };
        let at_once: Vec<_> = (0..50).map(|_| tokio::spawn(ask())).collect();
        for request in at_once {
            assert_eq!(request.await.expect("a request ends"), Some("not_resumable"));
        }
        for _ in 0..50 {
            assert_eq!(ask().await, Some("not_resumable"));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "the storage was read once for 100 requests");
        assert!(sessions.resuming.lock().unwrap().is_empty(), "every resume lock is removed when done");
    }
}
