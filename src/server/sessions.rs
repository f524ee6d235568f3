//! The live sessions of a server, by id, closed after an idle TTL.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::budget::Reservation;
use super::error::ApiError;
use super::trim::Trimmer;
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
        Self { live: Default::default(), expired: Default::default(), ttl, max, trimmer: Trimmer::default() }
    }

    pub(crate) async fn insert(&self, session: Session, memory: Reservation) -> Result<String, ApiError> {
        let mut live = self.live.write().await;
        if live.len() >= self.max {
            return Err(self.full());
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let entry = Live { session, last_used: Mutex::new(Instant::now()), busy: AtomicUsize::new(0), _memory: memory };
        live.insert(id.clone(), Arc::new(entry));
        Ok(id)
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
        let Some(live) = self.live.read().await.get(id).cloned() else {
            return Err(self.missing(id));
        };
        live.busy.fetch_add(1, Ordering::AcqRel);
        Ok(InUse(live))
    }

    pub(crate) async fn remove(&self, id: &str) -> Result<(), ApiError> {
        let removed = self.live.write().await.remove(id);
        match removed {
            Some(live) => {
                live.session.close().await;
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

    fn missing(&self, id: &str) -> ApiError {
        let expired = self.expired.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|e| e == id);
        if expired {
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
