//! Persistent state behind one trait: skills, skill vectors, artifacts and the deps list.
//!
//! Two backends behave identically (one conformance suite runs against both):
//! [`FileStorage`], a directory in py-code-mode's layout, and `RedisStorage` (the
//! `redis` feature), keys under a tenant prefix. Callers validate input first ([`ArtifactName`], package
//! specs); backends only store.

mod file;
mod group;
#[cfg(feature = "redis")]
mod redis;
mod wal;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::file::FileStorage;
#[cfg(feature = "redis")]
pub use self::redis::{Cleared, RedisStorage, Snapshot};
use crate::model::{Allow, Artifact, ArtifactInfo, DataKind, SkillExample, SkillSignature, Verification};
use crate::names::{ArtifactName, SessionId, SkillName};

/// A failure of the storage backend itself (never of the caller's input).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A file operation failed. The message leaves the path out (it reaches agent
    /// code and HTTP clients); the path is logged on the host and kept here.
    #[error("{op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory involved, for the host only.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Redis could not be reached or refused the command; nothing is reported stored
    /// unless Redis confirmed it.
    #[cfg(feature = "redis")]
    #[error("{op}: Redis failed: {source}")]
    Redis {
        /// What was being done.
        op: &'static str,
        /// The client's error.
        #[source]
        source: ::redis::RedisError,
    },
    /// Stored data could not be decoded.
    #[error("{op}: stored data is corrupt: {detail}")]
    Corrupt {
        /// What was being done.
        op: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The storage configuration is unusable.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// A write refused because its name clashes with what the store holds (an
    /// artifact `x/y` while `x` is one, or `x` while `x/...` are): nothing was
    /// written. The message names the artifacts, never a host path.
    #[error("{0}")]
    Clash(String),
    /// Another process holds the session's lease (it runs the session now), or
    /// this one lost it: nothing was written.
    #[error("session {0} is held by another server or process")]
    Held(SessionId),
}

impl StorageError {
    /// Saving `name` is refused: `ancestor`, one of its directories, is an artifact.
    pub(crate) fn clash_under_artifact(name: &str, ancestor: &str) -> Self {
        Self::Clash(format!("artifact `{name}` cannot be saved: `{ancestor}` is an artifact, not a directory"))
    }

    /// Saving (`deleting` false) or deleting `name` is refused: artifacts are
    /// stored under it (`name/...`).
    pub(crate) fn clash_over_artifacts(name: &str, deleting: bool) -> Self {
        let what = if deleting { "deleted" } else { "saved" };
        Self::Clash(format!("artifact `{name}` cannot be {what}: it is a directory of other artifacts (`{name}/...`)"))
    }
}

/// A skill as stored: its source and what cannot be recovered from the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSkill {
    /// The skill's name.
    pub name: SkillName,
    /// Its description as given at creation (may be empty).
    #[serde(default)]
    pub description: String,
    /// Its Python source.
    pub source: String,
    /// When it was stored, ISO-8601 UTC.
    #[serde(default)]
    pub created_at: String,
    /// Its `run` signature as inspected when it was stored; `None` if unknown (a file
    /// dropped into the directory by hand, or edited since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SkillSignature>,
    /// What the session that saved it could reach, when that session had an
    /// allowlist: only a session whose reach lies within it may run the skill (a
    /// restricted session must not author code that wider sessions then run with
    /// their tools). `None`: saved by an unrestricted session or an operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Allow>,
    /// Its version number: 1 for a new skill, one more than the version it replaced;
    /// 0 for a skill written outside codemode.
    #[serde(default)]
    pub version: u32,
    /// The examples it was verified against when saved (kept with the version).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<SkillExample>,
    /// How its examples last ran; `None` if they never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

impl StoredSkill {
    /// A skill of `name` with `source` and nothing else known: no description,
    /// signature, scope, examples or verification; version 0 (a save numbers it).
    pub fn new(name: SkillName, source: impl Into<String>) -> Self {
        Self {
            name,
            description: String::new(),
            source: source.into(),
            created_at: String::new(),
            signature: None,
            scope: None,
            version: 0,
            examples: Vec::new(),
            verification: None,
        }
    }
}

/// How long an interrupt asked for stays asked for, unless a claim clears it: long
/// enough for the holder's next poll, short enough that a request that raced the
/// end of the run cannot linger.
pub const INTERRUPT_LAPSES: Duration = Duration::from_secs(5);

/// Most earlier versions kept per skill; saving over a skill with this many drops
/// the oldest.
pub const MAX_SKILL_VERSIONS: usize = 20;

/// Most bytes of earlier versions kept per skill, in their stored form: past it the
/// oldest are dropped (the newest is always kept), so a history costs at most a few
/// times the largest source a skill may have, however small each save is.
pub const MAX_SKILL_HISTORY_BYTES: usize = 4 << 20;

/// What [`Storage::save_skill`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedSkill {
    /// The version number the skill was given.
    pub version: u32,
    /// Whether it replaced a skill of the same name.
    pub replaced: bool,
}

/// The current skill a conditional write ([`Storage::save_skill_if`],
/// [`Storage::delete_skill_if`]) expects to find: what a check made before it read.
/// A stored skill is known by its version number and creation time together: a
/// number alone comes back after a delete (a skill created again starts at 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// No skill of that name.
    Absent,
    /// The skill stored as this version at this time.
    Stored {
        /// Its [`StoredSkill::version`].
        version: u32,
        /// Its [`StoredSkill::created_at`].
        created_at: String,
    },
}

impl Expected {
    /// What a write expects after reading `current` (`None`: no skill).
    pub fn of(current: Option<&StoredSkill>) -> Self {
        match current {
            None => Self::Absent,
            Some(skill) => Self::Stored { version: skill.version, created_at: skill.created_at.clone() },
        }
    }

    /// Whether `current`, read under the store's lock, is the skill expected.
    pub(crate) fn matches(&self, current: Option<&StoredSkill>) -> bool {
        match (self, current) {
            (Self::Absent, None) => true,
            (Self::Stored { version, created_at }, Some(skill)) => {
                skill.version == *version && skill.created_at == *created_at
            }
            _ => false,
        }
    }
}

/// The number of a version saved over `current` (1 for a new name).
pub(crate) fn next_version(current: Option<u32>) -> u32 {
    current.map_or(1, |c| c.saturating_add(1))
}

/// An entry of the skills store that is not a skill, and why: a file whose name
/// no skill operation could use (`bad-name.py`), or one that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSkill {
    /// What the store calls it: a file name (`bad-name.py`) or a key; never a host path.
    pub entry: String,
    /// Why it is not a skill.
    pub reason: String,
}

/// Everything codemode keeps between sessions.
///
/// Operations are atomic: a failed or interrupted write leaves the previous state.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Stores an artifact's data and metadata, replacing any of the same name.
    async fn save_artifact(&self, name: &ArtifactName, info: &ArtifactInfo, data: &[u8]) -> Result<(), StorageError>;
    /// An artifact with its data.
    async fn load_artifact(&self, name: &ArtifactName) -> Result<Option<Artifact>, StorageError>;
    /// An artifact's metadata.
    async fn artifact_info(&self, name: &ArtifactName) -> Result<Option<ArtifactInfo>, StorageError>;
    /// Every artifact's metadata, in no particular order.
    async fn list_artifacts(&self) -> Result<Vec<ArtifactInfo>, StorageError>;
    /// Deletes an artifact; `false` if there was none.
    async fn delete_artifact(&self, name: &ArtifactName) -> Result<bool, StorageError>;

    /// Stores a skill, replacing any of the same name, and says what it did: the
    /// version number it gave the skill is one more than the version replaced (1 for a new name),
    /// assigned under the store's lock so concurrent saves never share a number
    /// (`skill.version` is ignored). The one replaced is kept as an earlier version
    /// (at most [`MAX_SKILL_VERSIONS`] and [`MAX_SKILL_HISTORY_BYTES`], the oldest
    /// dropped first), in the same atomic write: a failed save loses neither the
    /// current skill nor its history.
    async fn save_skill(&self, skill: &StoredSkill) -> Result<SavedSkill, StorageError>;
    /// [`save_skill`](Self::save_skill) if the skill's current version is still
    /// the one `expected`, checked in the same atomic step as the write (under the
    /// store's lock, inside the save script): `None`, and nothing written, when
    /// another save or a delete changed it since it was read.
    async fn save_skill_if(&self, skill: &StoredSkill, expected: &Expected)
    -> Result<Option<SavedSkill>, StorageError>;
    /// A skill's earlier versions, oldest first (the current one is
    /// [`load_skill`](Self::load_skill)'s); empty if it has none.
    async fn skill_versions(&self, name: &SkillName) -> Result<Vec<StoredSkill>, StorageError>;
    /// One skill.
    async fn load_skill(&self, name: &SkillName) -> Result<Option<StoredSkill>, StorageError>;
    /// Every skill, in no particular order.
    async fn list_skills(&self) -> Result<Vec<StoredSkill>, StorageError>;
    /// Every skill, and the entries that look like skills but cannot be read as one
    /// (which [`list_skills`](Self::list_skills) leaves out).
    async fn scan_skills(&self) -> Result<(Vec<StoredSkill>, Vec<SkippedSkill>), StorageError> {
        Ok((self.list_skills().await?, Vec::new()))
    }
    /// Records how the examples of version `version` of the skill `name` ran, on
    /// that version in place (no new version); `false`, and nothing written, when
    /// the skill is gone or its current version is another (saved meanwhile).
    async fn save_verification(
        &self,
        name: &SkillName,
        version: u32,
        verification: &Verification,
    ) -> Result<bool, StorageError>;
    /// Deletes a skill and its earlier versions; `false` if there was no skill.
    async fn delete_skill(&self, name: &SkillName) -> Result<bool, StorageError>;
    /// [`delete_skill`](Self::delete_skill) if the skill's current version is still
    /// the one `expected`, checked atomically with the delete like
    /// [`save_skill_if`](Self::save_skill_if): `None`, and nothing deleted, when it changed.
    async fn delete_skill_if(&self, name: &SkillName, expected: &Expected) -> Result<Option<bool>, StorageError>;
    /// A token that changes whenever any skill changes, so callers can keep a parsed
    /// listing; `None` if this store cannot tell (then re-read every time).
    async fn skills_version(&self) -> Result<Option<String>, StorageError>;

    /// Stores an embedding under a content-derived key.
    async fn save_vector(&self, key: &str, vector: &[f32]) -> Result<(), StorageError>;
    /// Embeddings by key, `None` where missing.
    async fn load_vectors(&self, keys: &[String]) -> Result<Vec<Option<Vec<f32>>>, StorageError>;

    /// Adds a requirement, replacing any with the same (normalised) package name.
    async fn add_dep(&self, name: &str, spec: &str) -> Result<(), StorageError>;
    /// Removes the requirement for a package; `false` if there was none.
    async fn remove_dep(&self, name: &str) -> Result<bool, StorageError>;
    /// Every requirement, sorted.
    async fn list_deps(&self) -> Result<Vec<String>, StorageError>;
    /// Requirement lines configured outside codemode, which it reads and never
    /// writes (py-code-mode's `<base>/requirements.txt`), unvalidated; none by default.
    async fn configured_deps(&self) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    /// Takes session `id`'s lease for `owner` (a token unique to one running
    /// session) for `lease`: `false` if another owner holds it. Taking it again with
    /// the same token renews it. A dead holder's lease lapses by itself.
    async fn claim_session(&self, id: &SessionId, owner: &str, lease: Duration) -> Result<bool, StorageError>;
    /// Renews `owner`'s lease and keeps the journal for `ttl` more (`None`: until
    /// deleted); `false` if `owner` no longer holds the lease.
    async fn renew_session(
        &self,
        id: &SessionId,
        owner: &str,
        lease: Duration,
        ttl: Option<Duration>,
    ) -> Result<bool, StorageError>;
    /// Gives `owner`'s lease up (nothing if it holds none).
    async fn release_session(&self, id: &SessionId, owner: &str) -> Result<(), StorageError>;
    /// Starts a new history of session `id`'s journal: `head` replaces the stored
    /// one and the cells are dropped. Fenced: [`StorageError::Held`] unless `owner`
    /// holds the lease. Returns the journal's new version (see
    /// [`journal_version`](Self::journal_version)).
    async fn begin_journal(
        &self,
        id: &SessionId,
        owner: &str,
        head: &[u8],
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError>;
    /// Appends one completed cell's record to session `id`'s journal, durably, once
    /// (not a rewrite of the journal). Fenced like [`begin_journal`](Self::begin_journal);
    /// returns the journal's new version.
    async fn append_journal(
        &self,
        id: &SessionId,
        owner: &str,
        cell: &[u8],
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError>;
    /// [`append_journal`](Self::append_journal), then gives `owner`'s lease up: the
    /// request that ran the cell is over once it is stored. One round trip where the
    /// store can do it in one; the lease is kept if the append fails.
    async fn append_journal_and_release(
        &self,
        id: &SessionId,
        owner: &str,
        cell: &[u8],
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        let version = self.append_journal(id, owner, cell, ttl).await?;
        if let Err(err) = self.release_session(id, owner).await {
            // The cell is stored: that is the answer. The lease lapses by itself.
            tracing::warn!(%id, %err, "cannot give a session's lease back");
        }
        Ok(version)
    }
    /// The version of session `id`'s stored journal: a token that changes with every
    /// write of it, whoever wrote; `0` if none is stored. A holder compares it with
    /// the version its own last write returned to find out whether another process
    /// wrote since (its view of the history is stale).
    async fn journal_version(&self, id: &SessionId) -> Result<u64, StorageError>;
    /// Session `id`'s journal, `None` if none is stored; more than `caps` allow is
    /// [`StorageError::Corrupt`], found before it is read whole.
    async fn load_journal(&self, id: &SessionId, caps: JournalCaps) -> Result<Option<StoredJournal>, StorageError>;
    /// Deletes session `id`'s journal and lease; `false` if there was no journal.
    async fn delete_journal(&self, id: &SessionId) -> Result<bool, StorageError>;
    /// Deletes the journals unused for longer than `ttl` that no process holds;
    /// how many. Stores whose keys expire by themselves (Redis) have none to sweep.
    async fn sweep_journals(&self, ttl: Duration) -> Result<usize, StorageError> {
        let _ = ttl;
        Ok(0)
    }
    /// Takes session `id`'s lease for `owner` like
    /// [`claim_session`](Self::claim_session) and reads its journal's version
    /// under it: `None` if another owner holds the lease. Taking it also clears an
    /// interrupt asked for before (it was for a run that is over) and keeps the
    /// journal for `ttl` more. One round trip where the store can do it in one.
    async fn claim_session_version(
        &self,
        id: &SessionId,
        owner: &str,
        lease: Duration,
        ttl: Option<Duration>,
    ) -> Result<Option<u64>, StorageError> {
        if !self.claim_session(id, owner, lease).await? {
            return Ok(None);
        }
        // Kept for `ttl` more: the sweep reads the journal's age.
        self.renew_session(id, owner, lease, ttl).await?;
        self.journal_version(id).await.map(Some)
    }
    /// Asks whichever process holds session `id`'s lease (it serves a request for
    /// it now) to stop its run: `true` if the lease was held. The request lapses by
    /// itself after [`INTERRUPT_LAPSES`] and is cleared by the next claim, so it
    /// never stops a later cell. A store that passes no interrupts between
    /// processes answers `false`: the process running the session stops it.
    async fn request_interrupt(&self, id: &SessionId) -> Result<bool, StorageError> {
        let _ = id;
        Ok(false)
    }
    /// Whether an interrupt of session `id` was asked for since its lease was taken.
    async fn interrupt_requested(&self, id: &SessionId) -> Result<bool, StorageError> {
        let _ = id;
        Ok(false)
    }
    /// [`interrupt_requested`](Self::interrupt_requested) for each of `ids`, in
    /// order: what one process polls for all the runs it serves, in one round trip
    /// where the store can do it in one.
    async fn interrupts_requested(&self, ids: &[SessionId]) -> Result<Vec<bool>, StorageError> {
        let mut asked = Vec::with_capacity(ids.len());
        for id in ids {
            asked.push(self.interrupt_requested(id).await?);
        }
        Ok(asked)
    }

    /// The local directory where this storage's packages are installed.
    fn packages_dir(&self) -> &Path;
}

/// A session's journal as stored: records the session layer encodes and decodes
/// (the storage only keeps them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJournal {
    /// The history's head: what the session was created with and what its
    /// interpreter read while it started.
    pub head: Vec<u8>,
    /// One record per completed cell, in order.
    pub cells: Vec<Vec<u8>>,
}

/// How much of a stored journal a load accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalCaps {
    /// Bytes of the head and cells together.
    pub max_bytes: usize,
    /// Cells.
    pub max_cells: usize,
}

impl JournalCaps {
    /// Checks a journal's size so far against the caps.
    pub(crate) fn check(&self, bytes: usize, cells: usize) -> Result<(), StorageError> {
        if cells > self.max_cells {
            return Err(StorageError::Corrupt {
                op: "loading a session journal",
                detail: format!("it holds more than {} cells", self.max_cells),
            });
        }
        if bytes > self.max_bytes {
            return Err(StorageError::Corrupt {
                op: "loading a session journal",
                detail: format!("it holds more than {} bytes", self.max_bytes),
            });
        }
        Ok(())
    }
}

/// The package name of a requirement line, for matching (`Foo_Bar>=1` → `foo-bar`).
pub(crate) fn requirement_name(spec: &str) -> String {
    let end =
        spec.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')).unwrap_or(spec.len());
    crate::names::normalize_package_name(&spec[..end])
}

/// An artifact's index entry, as both backends store it: py-code-mode's format (the
/// kind lives in the metadata under `_data_type`) plus `size`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    #[serde(default)]
    description: String,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

const KIND_KEY: &str = "_data_type";

impl IndexEntry {
    pub(crate) fn new(info: &ArtifactInfo) -> Self {
        let mut metadata = info.metadata.clone();
        metadata.insert(KIND_KEY.into(), serde_json::to_value(info.kind).unwrap_or_default());
        Self {
            description: info.description.clone(),
            created_at: info.created_at.clone(),
            metadata,
            size: Some(info.size),
        }
    }

    /// The entry as [`ArtifactInfo`]; `size_of` is asked when the entry has no size
    /// (py-code-mode does not record one).
    pub(crate) fn into_info(mut self, name: String, size_of: impl FnOnce(&str) -> u64) -> ArtifactInfo {
        let kind = match self.metadata.remove(KIND_KEY).as_ref().and_then(|v| v.as_str()) {
            Some("json") => DataKind::Json,
            Some("bytes" | "binary") => DataKind::Bytes,
            Some(_) => DataKind::Text,
            // py-code-mode reads `.json` names as JSON when the kind is missing.
            None if name.ends_with(".json") => DataKind::Json,
            None => DataKind::Text,
        };
        let size = self.size.unwrap_or_else(|| size_of(&name));
        ArtifactInfo {
            name,
            description: self.description,
            kind,
            size,
            created_at: self.created_at,
            metadata: self.metadata,
        }
    }
}

/// Embeddings are stored as little-endian `f32`s on every backend.
pub(crate) fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(crate) fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>, StorageError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StorageError::Corrupt { op: "reading a vector", detail: format!("{} bytes", bytes.len()) });
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The current time as ISO-8601 UTC with microseconds, as py-code-mode writes it.
pub(crate) fn now_iso8601() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    iso8601(now.as_secs(), now.subsec_micros())
}

fn iso8601(secs: u64, micros: u32) -> String {
    // Civil-from-days (Howard Hinnant's algorithm), valid for every u64 day count we meet.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}+00:00", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso8601(951_782_400, 5), "2000-02-29T00:00:00.000005+00:00");
        assert_eq!(iso8601(1_795_000_000, 123_456), "2026-11-18T11:06:40.123456+00:00");
    }

    #[test]
    fn requirement_names_are_normalised() {
        assert_eq!(requirement_name("Foo_Bar>=1.0"), "foo-bar");
        assert_eq!(requirement_name("requests[socks]==2"), "requests");
        assert_eq!(requirement_name("six"), "six");
    }
}
