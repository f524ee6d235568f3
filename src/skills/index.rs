//! Embedding skills off the run path. One worker thread per process takes the texts
//! that searches (or a server's start, or a new skill) found without vectors, embeds
//! them in batches and writes each vector to the storage it belongs to. Sessions of
//! the process share it: a text queued by one is not queued again by another while
//! it waits, and every session's next search reads the stored vector.
//!
//! A thread of its own, not a tokio task: embedding is seconds of CPU, and a task
//! would die with the runtime that spawned it (a test's, a CLI command's).

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::embed::{Embedder, shared_embedder};
use crate::storage::Storage;

/// Texts embedded per model run.
const BATCH: usize = 32;

/// The most texts, and text bytes, waiting at once: what agents store decides how
/// much there is to embed, so the queue is bounded; what does not fit is queued
/// again by a later search.
const MAX_WAITING: usize = 20_000;
const MAX_WAITING_BYTES: usize = 64 << 20;

/// One text to embed and the storage its vector goes to.
pub(crate) struct Job {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) key: String,
    pub(crate) text: String,
}

impl Job {
    /// Identifies the job among those waiting: the storage (by address) and the key.
    fn id(&self) -> (usize, String) {
        (Arc::as_ptr(&self.storage).cast::<()>() as usize, self.key.clone())
    }
}

struct Queue {
    sender: Mutex<Sender<Job>>,
    waiting: Mutex<Waiting>,
}

/// The jobs queued or being embedded, and their texts' bytes.
#[derive(Default)]
struct Waiting {
    ids: HashSet<(usize, String)>,
    bytes: usize,
}

impl Waiting {
    fn done(&mut self, job: &Job) {
        if self.ids.remove(&job.id()) {
            self.bytes = self.bytes.saturating_sub(job.text.len());
        }
    }
}

fn queue() -> &'static Queue {
    static QUEUE: OnceLock<Queue> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name("codemode-skill-index".into()).spawn(move || work(receiver));
        if let Err(err) = spawned {
            // Nothing is ever embedded in the background: searches keep ranking the
            // unindexed skills by keywords, and `codemode skills index` still works.
            tracing::error!(%err, "cannot start the skill indexing thread");
        }
        Queue { sender: Mutex::new(sender), waiting: Mutex::new(Waiting::default()) }
    })
}

/// Queues `jobs` that are not already waiting; returns how many were queued.
pub(crate) fn enqueue(jobs: impl IntoIterator<Item = Job>) -> usize {
    let queue = queue();
    let sender = queue.sender.lock().unwrap_or_else(PoisonError::into_inner);
    let mut waiting = queue.waiting.lock().unwrap_or_else(PoisonError::into_inner);
    let mut queued = 0;
    for job in jobs {
        let id = job.id();
        if waiting.ids.contains(&id) {
            continue;
        }
        if waiting.ids.len() >= MAX_WAITING || waiting.bytes + job.text.len() > MAX_WAITING_BYTES {
            tracing::warn!("the skill index queue is full; the rest waits for a later search");
            break;
        }
        let bytes = job.text.len();
        if sender.send(job).is_err() {
            break;
        }
        waiting.ids.insert(id);
        waiting.bytes += bytes;
        queued += 1;
    }
    queued
}

/// Whether the text behind `key` in `storage` is queued or being embedded.
pub(crate) fn is_waiting(storage: &Arc<dyn Storage>, key: &str) -> bool {
    let id = (Arc::as_ptr(storage).cast::<()>() as usize, key.to_owned());
    queue().waiting.lock().unwrap_or_else(PoisonError::into_inner).ids.contains(&id)
}

fn work(receiver: Receiver<Job>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(%err, "the skill indexing thread has no runtime");
            return;
        }
    };
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Whatever happens to the batch, even a panic in the model, its texts stop
        // waiting: a later search queues them again (or embeds them itself).
        let _done = Done(&batch);
        match shared_embedder() {
            Ok(embedder) => runtime.block_on(index(&embedder, &batch)),
            Err(reason) => tracing::debug!(%reason, "not indexing skills: no model"),
        }
    }
}

/// Takes a batch off the waiting list when dropped.
struct Done<'a>(&'a [Job]);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        let mut waiting = queue().waiting.lock().unwrap_or_else(PoisonError::into_inner);
        for job in self.0 {
            waiting.done(job);
        }
    }
}

/// Embeds one batch and stores each vector; failures are logged (the next search
/// queues the text again).
async fn index(embedder: &Embedder, batch: &[Job]) {
    let texts: Vec<&str> = batch.iter().map(|job| job.text.as_str()).collect();
    let vectors = match embedder.embed(&texts) {
        Ok(vectors) => vectors,
        Err(err) => {
            tracing::warn!(%err, texts = batch.len(), "indexing skills failed");
            return;
        }
    };
    for (job, vector) in batch.iter().zip(vectors) {
        if let Err(err) = job.storage.save_vector(&job.key, &vector).await {
            tracing::warn!(%err, key = %job.key, "cannot store a skill's vector");
        }
    }
    tracing::debug!(texts = batch.len(), "indexed skills");
}
