//! The live sessions of a server, by id, closed after an idle TTL. With a storage,
//! every session is durable (its journal stored under its id): a session this
//! server does not hold is resumed from the storage on its first request, and an
//! expired or deleted session's journal is deleted.

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

#[derive(Debug)]
pub(crate) struct Sessions {
    live: tokio::sync::RwLock<HashMap<String, Arc<Live>>>,
    expired: Mutex<VecDeque<String>>,
    pub(crate) ttl: Duration,
    max: usize,
    trimmer: Trimmer,
    /// Held while a session is resumed: two requests for one stored session resume
    /// it once.
    resuming: tokio::sync::Mutex<()>,
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
    /// the one it builds from the storage (held under the resume lock, so one
    /// stored session is resumed once). An id of the wrong shape names no session
    /// and touches nothing.
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
            (Err(missing), Some(_)) if valid.is_err() || self.is_expired(id) => return Err(missing),
            (Err(_), Some(resume)) => {
                let _resuming = self.resuming.lock().await;
                // Resumed by the request before this one.
                if let Ok(live) = self.get(id).await {
                    return Ok(live);
                }
                self.check_room().await?;
                let id = valid?;
                let (session, memory) = resume(id.clone()).await?;
                self.insert(id.clone(), session, memory).await?;
            }
        }
        self.get(id).await
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
            // Expired: its stored journal goes too.
            live.session.forget().await;
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
