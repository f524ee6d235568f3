//! The write-ahead log of a store directory (`skills/.skills.log`,
//! `artifacts/.artifacts.log`): what makes a write durable with one fsync.
//!
//! A write appends one record (the whole operation: for small data the bytes
//! themselves) and fsyncs the log; only then are the files py-code-mode reads
//! updated, without an fsync, and the write acknowledged. Everything happens
//! under the store's lock file, which also holds how far the log has been
//! applied and the boot it was applied in:
//!
//! - a writer killed between its append and the end of its update leaves the
//!   applied offset behind the log's end: the next operation under the lock, in
//!   any process, applies the records past it (they set whole values, so applying
//!   one twice changes nothing);
//! - after a reboot the page cache that held the unsynced files is gone, and the
//!   offset (itself unsynced) is not trusted: every record is applied again;
//! - a checkpoint (when the log passes [`CHECKPOINT_BYTES`], and when a process
//!   opens the store) flushes the filesystem (`syncfs`: the files every record
//!   touched, in one call), keeps a hard link to the synced index as
//!   `<index>.checkpoint`, and only then empties the log;
//! - the replay after a reboot starts from that checkpoint copy, not from the
//!   index: the index was replaced since by renames whose data was never synced,
//!   and a filesystem without ext4's `auto_da_alloc` (XFS) can leave it empty or
//!   torn after a power cut. The copy plus every record since it is the store.
//!
//! A record is `[u32 LE length][first 8 bytes of its SHA-256][payload]`. A torn or
//! corrupt record ends the log: it and anything after it are cut off (a writer
//! that died mid-append was never acknowledged), the records before it kept.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::StorageError;
use super::file::{io, remove_if_present};

/// A log longer than this is checkpointed by the write that passes it.
pub(super) const CHECKPOINT_BYTES: u64 = 1 << 20;

/// The largest record written or read: a larger length is corruption, found
/// before anything is allocated for it.
pub(super) const MAX_RECORD_BYTES: usize = 32 << 20;

/// A record's header: its length and check.
pub(super) const HEADER_BYTES: usize = 12;

/// Most bytes one commit appends, headers included: one largest record's room,
/// which is what a replay reads past a checkpoint's size.
pub(super) const MAX_BATCH_BYTES: usize = HEADER_BYTES + MAX_RECORD_BYTES;

/// The applied offset and the boot id, at the start of the store's lock file.
const STATE_BYTES: usize = 8 + BOOT_ID_BYTES;
const BOOT_ID_BYTES: usize = 36;

/// Why a commit stopped, and how many of its first records took full effect
/// (files and index) before: those writes are kept, the rest failed.
#[derive(Debug)]
pub(super) struct Stopped {
    /// How many of the batch's first records were applied, index included.
    pub(super) applied: usize,
    /// Why the next one was not.
    pub(super) error: StorageError,
}

impl Stopped {
    /// A commit that stopped before applying any record.
    pub(super) fn before(error: StorageError) -> Self {
        Self { applied: 0, error }
    }
}

/// A store's log, open under the store's lock (the caller holds it throughout).
pub(super) struct Wal<'a> {
    file: File,
    path: PathBuf,
    /// The store's index (`.skills.json`, `.artifacts.json`).
    index: PathBuf,
    lock: &'a File,
    len: u64,
}

impl<'a> Wal<'a> {
    /// Opens the log at `path` (creating it durably), cuts off a torn tail, and
    /// hands the records the store's files may lack to `apply` (see the module
    /// docs) before marking them applied. `apply` gets the index file to start
    /// from: `index`, or its checkpoint copy when every record is replayed.
    pub(super) fn open(
        path: &Path,
        index: &Path,
        lock: &'a File,
        apply: impl FnOnce(&Path, &[Vec<u8>]) -> Result<(), StorageError>,
    ) -> Result<Self, StorageError> {
        let file = open_durably(path)?;
        let len = file.metadata().map_err(io("reading the store's log", path))?.len();
        let mut wal = Self { file, path: path.to_path_buf(), index: index.to_path_buf(), lock, len };
        let copy = wal.checkpoint_copy();
        // An index gone while its checkpoint copy is there (a rename lost in a
        // crash, a hand deletion) is rebuilt from the copy whatever the offset says.
        let index_lost = !index.exists() && copy.exists();
        let applied = wal.applied_offset().filter(|_| !index_lost);
        if applied == Some(len) {
            return Ok(wal);
        }
        // Records after the offset this boot applied, or all of them (the offset
        // is past the end when a checkpoint emptied the log and died before saying so).
        let start = applied.filter(|&offset| offset <= len).unwrap_or(0);
        // Every record since the checkpoint goes on top of the index as of that
        // checkpoint: the copy, if it is whole (else the index, the best left).
        let whole = start == 0 && parses(&copy);
        if start == 0 && !whole && copy.exists() {
            tracing::warn!(copy = %copy.display(), "a store's checkpoint copy is torn; the replay starts from the index");
        }
        let base = if whole { copy.as_path() } else { index };
        let (records, end) = wal.read_from(start)?;
        if end < len {
            tracing::warn!(log = %path.display(), kept = end, len, "a store's log ends in a torn or corrupt record; it is cut off");
            wal.file.set_len(end).and_then(|()| wal.file.sync_data()).map_err(io("repairing the store's log", path))?;
            wal.len = end;
        }
        if !records.is_empty() || base != index {
            apply(base, &records)?;
        }
        wal.mark_applied()?;
        Ok(wal)
    }

    /// Appends `payloads` durably, in order, with one fsync for all of them (a
    /// group commit), applies them with `apply`, and marks them applied;
    /// checkpoints when the log has grown past [`CHECKPOINT_BYTES`] (a checkpoint
    /// that fails fails none of these writes, but the next one: see
    /// [`settle`](Self::settle)). If `apply`
    /// stops part-way, the records it did not apply are taken back out (durably),
    /// so a failed write is never replayed later, and those it applied (index
    /// included) stay. Together they may take at most one largest record's room
    /// ([`MAX_BATCH_BYTES`]), so a replay never reads past what it allows.
    pub(super) fn commit(
        &mut self,
        payloads: &[Vec<u8>],
        apply: impl FnOnce() -> Result<(), Stopped>,
    ) -> Result<(), Stopped> {
        let total: usize = payloads.iter().map(|p| HEADER_BYTES + p.len()).sum();
        if let Some(payload) = payloads.iter().find(|p| p.len() > MAX_RECORD_BYTES) {
            return Err(Stopped::before(StorageError::Corrupt {
                op: "writing the store's log",
                detail: format!("a record of {} bytes, over {MAX_RECORD_BYTES}", payload.len()),
            }));
        }
        if total > MAX_BATCH_BYTES {
            return Err(Stopped::before(StorageError::Corrupt {
                op: "writing the store's log",
                detail: format!("a batch of {total} bytes, over {MAX_BATCH_BYTES}"),
            }));
        }
        if self.len > CHECKPOINT_BYTES {
            // The last checkpoint failed: the log may not outgrow what a replay reads
            // (past that, a reopen would take the rest for a torn tail).
            self.try_checkpoint().map_err(Stopped::before)?;
        }
        let mut records = Vec::with_capacity(total);
        for payload in payloads {
            records.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            records.extend_from_slice(&check(payload));
            records.extend_from_slice(payload);
        }
        let start = self.len;
        let appended = self.file.write_all_at(&records, start).and_then(|()| self.file.sync_data());
        if let Err(err) = appended {
            // Never acknowledged: a torn append is cut off by the next open.
            return Err(Stopped::before(io("appending to the store's log", &self.path)(err)));
        }
        self.len = start + records.len() as u64;
        if let Err(stopped) = apply() {
            // Keep the records applied: their writes took effect and are answered so.
            let kept: usize = payloads.iter().take(stopped.applied).map(|p| HEADER_BYTES + p.len()).sum();
            let end = start + kept as u64;
            self.file
                .set_len(end)
                .and_then(|()| self.file.sync_data())
                .map_err(|err| Stopped::before(io("taking a failed write out of the store's log", &self.path)(err)))?;
            self.len = end;
            self.settle(false);
            return Err(stopped);
        }
        self.settle(self.len > CHECKPOINT_BYTES);
        Ok(())
    }

    /// Makes everything the log covers durable in the store's files, then empties
    /// the log (nothing to do for an empty log). A failure is logged and left for
    /// a later checkpoint, like one after a write ([`settle`](Self::settle)).
    pub(super) fn checkpoint(&mut self) {
        self.settle(true);
    }

    /// Records that the whole log is applied, after checkpointing it first when
    /// `checkpoint`. Runs once the log's records took effect, so a failure here is
    /// logged, never made the writes' error: the log still holds every record
    /// since the last checkpoint, and a record not marked applied is applied again
    /// by the next operation under the lock (changing nothing). A checkpoint that
    /// failed is tried again by the next open and before the next write, which
    /// fails if it fails again.
    fn settle(&mut self, checkpoint: bool) {
        let checkpointed = if checkpoint { self.try_checkpoint() } else { Ok(()) };
        if let Err(err) = checkpointed.and(self.mark_applied()) {
            tracing::warn!(log = %self.path.display(), %err, "a store's log was not checkpointed or marked applied after its writes took effect; a later write or open does it");
        }
    }

    fn try_checkpoint(&mut self) -> Result<(), StorageError> {
        if self.len == 0 {
            return Ok(());
        }
        flush_filesystem(&self.file).map_err(io("checkpointing the store's log", &self.path))?;
        // After the flush (the copy must be the synced index) and before the log
        // is emptied (until the copy is durable, the old copy and the whole log
        // still rebuild the store; replaying records the new copy already holds
        // changes nothing, as each sets whole values).
        self.keep_index()?;
        self.file.set_len(0).map_err(io("checkpointing the store's log", &self.path))?;
        // At once: a later append of this handle must start at the new end, or it
        // would leave a hole that ends the log for a replay.
        self.len = 0;
        self.file.sync_data().map_err(io("checkpointing the store's log", &self.path))
    }

    /// `<index>.checkpoint`: the index as of the last checkpoint.
    fn checkpoint_copy(&self) -> PathBuf {
        let mut name = self.index.file_name().unwrap_or_default().to_os_string();
        name.push(".checkpoint");
        self.index.with_file_name(name)
    }

    /// Makes the checkpoint copy the (synced) index, durably: a hard link (no data
    /// copied; the index is only ever replaced by renames, so the linked file never
    /// changes again) made under a temporary name and renamed over the old copy,
    /// so a crash leaves the old copy or the new one. No index, no copy: a stale
    /// copy would bring back what was deleted since.
    fn keep_index(&self) -> Result<(), StorageError> {
        let copy = self.checkpoint_copy();
        let mut tmp = copy.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let op = "keeping the index at a checkpoint";
        remove_if_present(&tmp, op)?;
        match std::fs::hard_link(&self.index, &tmp) {
            Ok(()) => std::fs::rename(&tmp, &copy).map_err(io(op, &copy))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => remove_if_present(&copy, op)?,
            Err(err) => return Err(io(op, &self.index)(err)),
        }
        let dir = copy.parent().unwrap_or(Path::new("."));
        File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing the directory", dir))
    }

    /// The offset up to which the log was applied in this boot; `None` if unknown
    /// (no state yet, another boot, or a state this code did not write).
    fn applied_offset(&self) -> Option<u64> {
        let mut state = [0u8; STATE_BYTES];
        self.lock.read_exact_at(&mut state, 0).ok()?;
        let boot = boot_id()?;
        (state[8..] == boot[..]).then(|| u64::from_le_bytes(state[..8].try_into().unwrap_or_default()))
    }

    /// Records that the whole log is applied. Not synced: after a power cut the
    /// boot id differs and the offset is ignored.
    fn mark_applied(&self) -> Result<(), StorageError> {
        let Some(boot) = boot_id() else { return Ok(()) };
        let mut state = [0u8; STATE_BYTES];
        state[..8].copy_from_slice(&self.len.to_le_bytes());
        state[8..].copy_from_slice(boot);
        self.lock.write_all_at(&state, 0).map_err(io("recording the store's log position", &self.path))
    }

    /// The whole records from `offset` on, and the offset where they end.
    fn read_from(&mut self, offset: u64) -> Result<(Vec<Vec<u8>>, u64), StorageError> {
        let path = &self.path;
        self.file.seek(SeekFrom::Start(offset)).map_err(io("reading the store's log", path))?;
        let mut data = Vec::new();
        // A log never grows past a checkpoint plus one batch: more is a torn tail.
        let cap = CHECKPOINT_BYTES + MAX_BATCH_BYTES as u64;
        (&mut self.file).take(cap).read_to_end(&mut data).map_err(io("reading the store's log", path))?;
        let (records, used) = parse(&data);
        Ok((records, offset + used as u64))
    }
}

/// The records at the start of `data`, and how many bytes they take: parsing
/// stops at the first record that is torn, too long or fails its check.
pub(super) fn parse(mut data: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let (mut records, mut used) = (Vec::new(), 0);
    while data.len() >= HEADER_BYTES {
        let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let Some(payload) = data.get(HEADER_BYTES..HEADER_BYTES + len).filter(|_| len <= MAX_RECORD_BYTES) else {
            break;
        };
        if data[4..HEADER_BYTES] != check(payload) {
            break;
        }
        records.push(payload.to_vec());
        used += HEADER_BYTES + len;
        data = &data[HEADER_BYTES + len..];
    }
    (records, used)
}

fn check(payload: &[u8]) -> [u8; 8] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(payload);
    let mut check = [0u8; 8];
    check.copy_from_slice(&digest[..8]);
    check
}

/// Whether `path` holds whole JSON (a torn or missing checkpoint copy does not).
fn parses(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok())
}

/// Opens the log for reading and writing; a log this call creates has its
/// directory entry fsynced, so records appended to it survive a power cut.
fn open_durably(path: &Path) -> Result<File, StorageError> {
    let existing = File::options().read(true).write(true).open(path);
    match existing {
        Ok(file) => Ok(file),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io("creating the store's log", path))?;
            let dir = path.parent().unwrap_or(Path::new("."));
            File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing the directory", dir))?;
            Ok(file)
        }
        Err(err) => Err(io("opening the store's log", path)(err)),
    }
}

/// Writes back every file of the filesystem holding `file`, in one call.
#[cfg(target_os = "linux")]
fn flush_filesystem(file: &File) -> std::io::Result<()> {
    rustix::fs::syncfs(file).map_err(std::io::Error::from)
}

/// Writes back every file (no per-filesystem call here).
#[cfg(not(target_os = "linux"))]
fn flush_filesystem(_file: &File) -> std::io::Result<()> {
    rustix::fs::sync();
    Ok(())
}

/// This boot's id (Linux's `boot_id`), read once; `None` where there is none, and
/// then no offset is trusted: every open replays the whole log.
fn boot_id() -> Option<&'static [u8; BOOT_ID_BYTES]> {
    static BOOT: std::sync::OnceLock<Option<[u8; BOOT_ID_BYTES]>> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        let text = std::fs::read("/proc/sys/kernel/random/boot_id").ok()?;
        text.get(..BOOT_ID_BYTES)?.try_into().ok()
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut record = (payload.len() as u32).to_le_bytes().to_vec();
        record.extend_from_slice(&check(payload));
        record.extend_from_slice(payload);
        record
    }

    #[test]
    fn parsing_stops_at_a_torn_corrupt_or_huge_record_and_keeps_the_ones_before() {
        let good = [frame(b"one"), frame(b"two")].concat();
        assert_eq!(parse(&good), (vec![b"one".to_vec(), b"two".to_vec()], good.len()));
        // Torn in the header, and in the payload.
        for cut in [good.len() + 5, good.len() + HEADER_BYTES + 1] {
            let torn = [good.clone(), frame(b"three!")].concat();
            assert_eq!(parse(&torn[..cut]).1, good.len());
        }
        // A flipped payload byte fails the check.
        let mut flipped = [good.clone(), frame(b"three")].concat();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(parse(&flipped), (vec![b"one".to_vec(), b"two".to_vec()], good.len()));
        // A length of 4 GiB allocates nothing and ends the log.
        let huge = [good.clone(), u32::MAX.to_le_bytes().to_vec(), vec![0; 64]].concat();
        assert_eq!(parse(&huge).1, good.len());
    }
}
