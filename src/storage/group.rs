//! Group commit for a store directory's writers in one process: concurrent
//! writes to one store (the skills, the artifacts) wait in a queue, and one of
//! them, the leader, takes the store's lock and commits what has queued by then
//! as one batch, so they share one fsync of the log (`wal.rs`).
//!
//! Writers in other processes take the same `flock` in turn: each process's batch
//! then costs one fsync, and its writers keep queueing while it waits for the
//! lock, so the more the lock is contended the larger the batches.
//!
//! A write is acknowledged only once the batch holding it is durable, exactly as
//! a write alone is: the batch's records are all appended and fsynced before any
//! of them is applied, and a batch that fails fails every write in it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::StorageError;
use super::wal::{HEADER_BYTES, MAX_BATCH_BYTES, Stopped, Wal};

/// Most writes one batch takes; the rest wait for the next.
const MAX_BATCH: usize = 64;

/// A write a batch can hold: two writes to one key never share a batch, since
/// each is planned against the store as it was before the batch; nor do two
/// whose keys nest as paths (`x` and `x/y`): one makes a file where the other
/// needs a directory, and neither plan can see it.
pub(super) trait Keyed {
    /// What the write changes (a skill's or an artifact's name).
    fn key(&self) -> &str;
}

/// Whether writes to `a` and `b` may not share a batch: the same key, or one a
/// path-prefix of the other (`x` and `x/y`).
fn clash(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.strip_prefix(short).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The queue of one store's writers in this process.
pub(super) struct GroupCommit<W, R> {
    queue: Mutex<Queue<W, R>>,
    done: Condvar,
    /// Log fsyncs made by this queue's batches (for tests and benches).
    syncs: AtomicU64,
}

struct Queue<W, R> {
    waiting: Vec<(u64, W)>,
    results: HashMap<u64, Result<R, StorageError>>,
    leading: bool,
    next: u64,
}

impl<W, R> Default for GroupCommit<W, R> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue { waiting: Vec::new(), results: HashMap::new(), leading: false, next: 0 }),
            done: Condvar::new(),
            syncs: AtomicU64::new(0),
        }
    }
}

impl<W, R> std::fmt::Debug for GroupCommit<W, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("syncs", &self.syncs.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl<W: Keyed, R> GroupCommit<W, R> {
    /// Queues `write` and blocks until a batch holding it is committed (or failed).
    /// `lead` is run by whichever writer leads a batch: it gets the lock's result
    /// taken by `lock` (taken before the batch is drawn from the queue, so writers
    /// arriving meanwhile join it) and the batch, and returns one result per write,
    /// in order.
    pub(super) fn submit<L>(
        &self,
        write: W,
        lock: impl Fn() -> Result<L, StorageError>,
        lead: impl Fn(&L, Vec<W>, &Syncs<'_>) -> Vec<Result<R, StorageError>>,
    ) -> Result<R, StorageError> {
        let mut queue = self.lock_queue();
        let id = queue.next;
        queue.next += 1;
        queue.waiting.push((id, write));
        loop {
            if let Some(result) = queue.results.remove(&id) {
                return result;
            }
            if queue.leading {
                queue = self.done.wait(queue).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            queue.leading = true;
            drop(queue);
            let mut batch = Batch { group: self, ids: Vec::new() };
            let held = lock();
            let writes = batch.draw();
            let results = match &held {
                Ok(held) => lead(held, writes, &Syncs(&self.syncs)),
                Err(err) => writes.iter().map(|_| Err(copy(err))).collect(),
            };
            drop(held);
            batch.finish(results);
            queue = self.lock_queue();
        }
    }

    /// How many log fsyncs this queue's batches made.
    pub(super) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// How many writes wait for a batch.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.lock_queue().waiting.len()
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue<W, R>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts a batch's log fsyncs.
pub(super) struct Syncs<'a>(&'a AtomicU64);

impl Syncs<'_> {
    /// One more fsync of the log.
    pub(super) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The batch a leader drew; dropped without [`finish`](Self::finish) (a panic),
/// it fails its writes and hands the lead on, so no writer waits forever.
struct Batch<'a, W: Keyed, R> {
    group: &'a GroupCommit<W, R>,
    ids: Vec<u64>,
}

impl<W: Keyed, R> Batch<'_, W, R> {
    /// Takes the writes that wait, oldest first, up to [`MAX_BATCH`] and up to the
    /// first whose key [clashes](clash) with one already in the batch (a pairwise
    /// check: at most [`MAX_BATCH`] keys).
    fn draw(&mut self) -> Vec<W> {
        let mut queue = self.group.lock_queue();
        let mut keys: Vec<&str> = Vec::new();
        let taken = queue
            .waiting
            .iter()
            .take(MAX_BATCH)
            .take_while(|(_, write)| {
                let key = write.key();
                let free = !keys.iter().any(|taken| clash(taken, key));
                keys.push(key);
                free
            })
            .count();
        let (ids, writes) = queue.waiting.drain(..taken).unzip();
        self.ids = ids;
        writes
    }

    fn finish(mut self, results: Vec<Result<R, StorageError>>) {
        let mut results = results.into_iter();
        let ids = std::mem::take(&mut self.ids);
        let mut queue = self.group.lock_queue();
        for id in ids {
            let result = results.next().unwrap_or_else(|| Err(lost()));
            queue.results.insert(id, result);
        }
        drop(queue);
        // `Drop` hands the lead on.
    }
}

impl<W: Keyed, R> Drop for Batch<'_, W, R> {
    fn drop(&mut self) {
        let mut queue = self.group.lock_queue();
        for id in self.ids.drain(..) {
            queue.results.insert(id, Err(lost()));
        }
        queue.leading = false;
        drop(queue);
        self.group.done.notify_all();
    }
}

fn lost() -> StorageError {
    StorageError::Corrupt { op: "a batched write", detail: "its batch stopped before committing it".into() }
}

/// Applies `ops` in turn with `one`, then writes the index with `index`. When an
/// operation fails, the index is written for the ones before it, so they are kept
/// ([`Stopped::applied`]); if that fails too, none is. `one` must change `state`
/// only once the operation's files are done, so a failed operation leaves no trace
/// in the index.
pub(super) fn apply_in_turn<S, O>(
    state: &mut S,
    ops: Vec<O>,
    one: impl Fn(&mut S, O) -> Result<(), StorageError>,
    index: impl Fn(&S) -> Result<(), StorageError>,
) -> Result<(), Stopped> {
    for (applied, op) in ops.into_iter().enumerate() {
        if let Err(error) = one(state, op) {
            return match index(state) {
                Ok(()) => Err(Stopped { applied, error }),
                Err(_) => Err(Stopped::before(error)),
            };
        }
    }
    index(state).map_err(Stopped::before)
}

/// The same failure again, for each write of a batch that failed as a whole.
pub(super) fn copy(err: &StorageError) -> StorageError {
    match err {
        StorageError::Io { op, path, source } => {
            StorageError::Io { op, path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
        }
        StorageError::Corrupt { op, detail } => StorageError::Corrupt { op, detail: detail.clone() },
        StorageError::Config(detail) => StorageError::Config(detail.clone()),
        StorageError::Held(id) => StorageError::Held(id.clone()),
        StorageError::Clash(detail) => StorageError::Clash(detail.clone()),
        #[allow(unreachable_patterns)]
        other => StorageError::Corrupt { op: "a batched write", detail: other.to_string() },
    }
}

/// A store's write planned against its state: the log record and operation it
/// commits, if any (a delete of nothing commits none), and what the writer is told.
pub(super) type Planned<O, R> = (Option<(O, Vec<u8>)>, R);

/// Commits `writes` under the store's lock: `open` opens the store's log and
/// reads its index (the state) and each write is planned with `plan` against it, and their records are
/// appended with one fsync, as many at a time as [`MAX_BATCH_BYTES`] allows;
/// then `apply` applies the operations to the files and `state` and writes the
/// index. An `apply` that stops part-way says how many operations took effect,
/// index written (see [`apply_in_turn`]): their writes succeed, the rest of the
/// commit fails, and `reload` reads the state again for the writes after them.
/// One result per write, in order.
pub(super) fn commit_planned<'l, W, O, S, R>(
    writes: Vec<W>,
    syncs: &Syncs<'_>,
    open: impl FnOnce() -> Result<(Wal<'l>, S), StorageError>,
    plan: impl Fn(&S, W) -> Result<Planned<O, R>, StorageError>,
    apply: impl Fn(&mut S, Vec<O>) -> Result<(), Stopped>,
    reload: impl Fn() -> Result<S, StorageError>,
) -> Vec<Result<R, StorageError>> {
    let (mut log, mut state) = match open() {
        Ok(opened) => opened,
        Err(err) => return writes.iter().map(|_| Err(copy(&err))).collect(),
    };
    let log = &mut log;
    let mut results: Vec<Result<R, StorageError>> = Vec::with_capacity(writes.len());
    let (mut records, mut ops, mut members) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    let mut flush = |records: &mut Vec<Vec<u8>>,
                     ops: &mut Vec<O>,
                     members: &mut Vec<usize>,
                     results: &mut Vec<Result<R, StorageError>>,
                     state: &mut S|
     -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(ops);
        let committed = log.commit(records, || apply(state, ops));
        syncs.add();
        records.clear();
        if let Err(Stopped { applied, error }) = committed {
            // The writes applied before the one that failed took effect (the log
            // keeps them): they succeed. The failing one gets the error, the ones
            // after it (not applied, taken out of the log) a copy.
            let mut failed = members.iter().skip(applied);
            if let Some(&first) = failed.next() {
                for &i in failed {
                    results[i] = Err(copy(&error));
                }
                results[first] = Err(error);
            }
            members.clear();
            // The state as the files and the index now hold it.
            *state = reload()?;
        }
        members.clear();
        Ok(())
    };
    // Set when the state could not be read again: the writes left fail too.
    let mut broken: Option<StorageError> = None;
    for write in writes {
        if let Some(err) = &broken {
            results.push(Err(copy(err)));
            continue;
        }
        match plan(&state, write) {
            Ok((Some((op, record)), told)) => {
                let size = HEADER_BYTES + record.len();
                if bytes + size > MAX_BATCH_BYTES {
                    bytes = 0;
                    if let Err(err) = flush(&mut records, &mut ops, &mut members, &mut results, &mut state) {
                        results.push(Err(copy(&err)));
                        broken = Some(err);
                        continue;
                    }
                }
                bytes += size;
                members.push(results.len());
                records.push(record);
                ops.push(op);
                results.push(Ok(told));
            }
            Ok((None, told)) => results.push(Ok(told)),
            Err(err) => results.push(Err(err)),
        }
    }
    // A failed re-read after the last commit leaves nothing to plan.
    let _ = flush(&mut records, &mut ops, &mut members, &mut results, &mut state);
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_nest_as_paths_clash() {
        for (a, b) in [("x", "x"), ("x", "x/y"), ("x/y/z", "x/y"), ("a/b", "a/b/c/d")] {
            assert!(clash(a, b), "{a} {b}");
        }
        for (a, b) in [("x", "y"), ("x", "xy"), ("x/y", "x/z"), ("xy/z", "x"), ("a/b", "a/bc")] {
            assert!(!clash(a, b), "{a} {b}");
        }
    }

    /// An operation that fails half-way through a commit (a full disk): the writes
    /// before it succeed and stay (in the log, the files and the index), it and
    /// the ones after it fail and leave no record; a later commit goes on from there.
    #[test]
    fn a_failing_apply_keeps_the_writes_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (log_path, index) = (dir.path().join("log"), dir.path().join("index"));
        let lock = std::fs::File::create(dir.path().join("lock")).unwrap();
        let read = || -> Vec<String> {
            serde_json::from_slice(&std::fs::read(&index).unwrap_or_default()).unwrap_or_default()
        };
        let commit = |writes: Vec<&str>| {
            let open = || Ok((Wal::open(&log_path, &index, &lock, |_, _| Ok(()))?, read()));
            let plan = |_: &Vec<String>, write: &str| Ok((Some((write.to_owned(), write.as_bytes().to_vec())), ()));
            let apply = |state: &mut Vec<String>, ops: Vec<String>| {
                let one = |state: &mut Vec<String>, op: String| {
                    if op.starts_with("fail") {
                        return Err(StorageError::Config("the disk is full".into()));
                    }
                    state.push(op);
                    Ok(())
                };
                apply_in_turn(state, ops, one, |state| {
                    std::fs::write(&index, serde_json::to_vec(state).unwrap())
                        .map_err(super::super::file::io("index", &index))
                })
            };
            commit_planned(writes, &Syncs(&AtomicU64::new(0)), open, plan, apply, || Ok(read()))
        };
        let results = commit(vec!["a", "b", "fail", "c", "d"]);
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, true, false, false, false]);
        assert!(matches!(&results[2], Err(StorageError::Config(why)) if why == "the disk is full"));
        assert_eq!(read(), ["a", "b"]);
        let log = std::fs::read(&log_path).unwrap();
        assert_eq!(
            super::super::wal::parse(&log),
            (vec![b"a".to_vec(), b"b".to_vec()], log.len()),
            "the log keeps a, b only"
        );
        assert!(commit(vec!["c"]).into_iter().all(|r| r.is_ok()));
        assert_eq!(read(), ["a", "b", "c"]);
    }
}
