//! The directory backend, in py-code-mode's layout:
//!
//! ```text
//! <base>/skills/<name>.py            skill sources (readable by py-code-mode)
//! <base>/skills/.skills.json         descriptions, creation times, signatures, scopes, versions
//! <base>/skills/.skills.log          the skills' write-ahead log (see `wal.rs`)
//! <base>/skills/.skills.json.checkpoint   .skills.json as of the last checkpoint (`wal.rs`)
//! <base>/skills/.versions/<name>/<n>.json a skill's earlier versions, one per file (at most 20, 4 MiB)
//! <base>/artifacts/<name...>         artifact data, sub-directories allowed
//! <base>/artifacts/.artifacts.json   artifact index (py-code-mode's format)
//! <base>/artifacts/.artifacts.log    the artifacts' write-ahead log
//! <base>/artifacts/.artifacts.json.checkpoint   likewise for .artifacts.json
//! <base>/vectors/<key>.f32           embeddings, little-endian f32
//! <base>/deps/requirements.txt       requirements, one per line
//! <base>/requirements.txt            pre-configured requirements (py-code-mode's; read, never written)
//! <base>/deps/site-packages/         installed packages, mounted into the guest
//! <base>/sessions/<id>.head          a session journal's head (never mounted into the guest)
//! <base>/sessions/<id>.cells         its cells: records of a 4-byte little-endian length and the bytes
//! <base>/sessions/<id>.lock          its lease: an exclusive `flock` held while a process runs it
//! <base>/sessions/<id>.interrupt     an interrupt asked for while it was held; lapses 5 s after its mtime
//! ```
//!
//! A session's cells are appended and fsynced one record at a time, never
//! rewritten. Its lease is the lock on its lock file, which the OS releases when
//! the holder dies; renewing touches the cells file, whose age the idle sweep reads.
//! An interrupt from another process is a flag file written only while someone
//! holds the lock (tested with a non-blocking attempt, released at once), which
//! the holder polls, the next claim removes, and which counts for 5 s after it
//! was written.
//!
//! A write to the skills or the artifacts costs one fsync: it is recorded whole in
//! the store's write-ahead log, which is fsynced, and then the files py-code-mode
//! reads (`<name>.py`, `.skills.json`, the artifact, `.artifacts.json`) are
//! replaced through temporary files and renames without an fsync, before the
//! write returns; the log makes them durable (`wal.rs`: replay after a crash,
//! checkpoints). An artifact larger than [`INLINE_ARTIFACT_BYTES`] keeps its
//! bytes out of the log: its data file is fsynced and renamed into place (with its
//! directory's fsync) before the record that indexes it. Every replacement goes
//! through a temporary file and a rename, so readers in other processes see the
//! old or the new file, never a torn one. Derived data (vectors, the skills version
//! token) is never logged: a crash may lose it and it is recomputed. Writes hold an
//! exclusive lock on the store's lock file, so two processes writing to one
//! directory cannot lose each other's entries. Concurrent writers in one process
//! commit in groups, one log fsync for a batch (`group.rs`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::group::{self, GroupCommit, Keyed, Planned};
use super::wal::Wal;
use super::{
    Expected, INTERRUPT_LAPSES, IndexEntry, JournalCaps, SavedSkill, SkippedSkill, Storage, StorageError,
    StoredJournal, StoredSkill, decode_vector, encode_vector, requirement_name,
};
use crate::model::{Artifact, ArtifactInfo};
use crate::names::ArtifactName;
use crate::names::{SessionId, SkillName};

/// Storage in a local directory.
#[derive(Debug, Clone)]
pub struct FileStorage {
    base: PathBuf,
    packages: PathBuf,
    /// The session leases this process holds: id → (owner, the locked file).
    leases: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<SessionId, (String, File)>>>,
    /// This process's writers to the skills store, committed in groups (`group.rs`).
    skill_writes: Arc<GroupCommit<SkillWrite, SkillDone>>,
    /// Likewise for the artifacts store.
    artifact_writes: Arc<GroupCommit<ArtifactWrite, bool>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SkillMeta {
    #[serde(default)]
    description: String,
    #[serde(default)]
    created_at: String,
    /// The signature is only trusted while the file still has this content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<crate::model::SkillSignature>,
    /// The author's reach ([`StoredSkill::scope`]). Tied to the name, not the
    /// content: a file edited by hand stays scoped until re-saved from a wider session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<crate::model::Allow>,
    #[serde(default)]
    version: u32,
    /// [`StoredSkill::examples`]: in the metadata, so the `.py` stays py-code-mode's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    examples: Vec<crate::model::SkillExample>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verification: Option<crate::model::Verification>,
}

/// Artifacts up to this size are written into the log with their index entry
/// (one fsync); larger ones get their own fsynced data file first.
pub const INLINE_ARTIFACT_BYTES: usize = 64 << 10;

/// One write to the skills store, as its log records it. Each sets whole values
/// (history versions by number), so applying one again changes nothing.
#[derive(Serialize, Deserialize)]
enum SkillOp {
    /// A skill saved, and the versions its history gains by number (the one it
    /// replaced, and those a single-file history of stop 22 held).
    Save { name: SkillName, source: String, meta: SkillMeta, history: Vec<(u64, StoredSkill)> },
    /// A skill's metadata changed in place (a verification recorded).
    Meta { name: SkillName, meta: SkillMeta },
    /// A skill and its history deleted.
    Delete { name: SkillName },
}

/// One write to the artifacts store, as its log records it: a header, then the
/// data when `inline`.
#[derive(Serialize, Deserialize)]
enum ArtifactOp {
    /// An artifact saved; its data is in the record when `inline`, else it was
    /// made durable in its file before the record was written.
    Save { name: String, entry: IndexEntry, inline: bool },
    /// An artifact deleted.
    Delete { name: String },
}

/// A write to the skills store, waiting for its batch (`group.rs`). A save or a
/// delete with an `expected` skill is made only if the skill is still that one
/// when the write is planned, under the store's lock.
enum SkillWrite {
    Save {
        /// Boxed: a skill is far larger than the other writes.
        skill: Box<StoredSkill>,
        expected: Option<Expected>,
    },
    Verify {
        name: SkillName,
        version: u32,
        verification: crate::model::Verification,
    },
    Delete {
        name: SkillName,
        expected: Option<Expected>,
    },
}

impl Keyed for SkillWrite {
    fn key(&self) -> &str {
        match self {
            Self::Save { skill, .. } => skill.name.as_str(),
            Self::Verify { name, .. } | Self::Delete { name, .. } => name.as_str(),
        }
    }
}

/// What a [`SkillWrite`] did.
enum SkillDone {
    /// A skill saved.
    Saved(SavedSkill),
    /// Whether a verification was recorded, or a skill there was deleted.
    Changed(bool),
    /// Nothing: the skill was not the one the write expected.
    Stale,
}

/// The answer for a [`SkillWrite`] of another kind: never given.
fn mismatched() -> StorageError {
    StorageError::Corrupt { op: "a skills write", detail: "it was answered for another kind of write".into() }
}

/// A write to the artifacts store, waiting for its batch; done: `false` for a
/// delete of nothing.
enum ArtifactWrite {
    Save { name: ArtifactName, info: ArtifactInfo, data: Vec<u8> },
    Delete(ArtifactName),
}

impl Keyed for ArtifactWrite {
    fn key(&self) -> &str {
        match self {
            Self::Save { name, .. } | Self::Delete(name) => name.as_str(),
        }
    }
}

impl ArtifactOp {
    /// The artifact written.
    fn name(&self) -> &str {
        match self {
            Self::Save { name, .. } | Self::Delete { name } => name,
        }
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl FileStorage {
    /// Opens (creating if needed) the storage directory `base`.
    pub async fn open(base: &Path) -> Result<Self, StorageError> {
        let base = base.to_path_buf();
        blocking(move || {
            for dir in ["skills", "artifacts", "vectors", "deps/site-packages", "sessions"] {
                let path = base.join(dir);
                std::fs::create_dir_all(&path).map_err(io("creating the storage directory", &path))?;
            }
            // What the logs hold is made durable in the stores' files, so a log is
            // replayed only for writes since this process opened the store (a
            // checkpoint that fails is logged, and the store opens: its log still
            // holds everything, and a later write or open checkpoints). A store
            // never written to gets no files of ours (py-code-mode users list these
            // directories).
            let skills = base.join("skills");
            if skills.join(".skills.log").exists() {
                let lock = Lock::exclusive(&skills.join(".skills.lock"))?;
                skills_log(&skills, &lock)?.checkpoint();
            }
            let artifacts = base.join("artifacts");
            if artifacts.join(".artifacts.log").exists() {
                let lock = Lock::exclusive(&artifacts.join(".artifacts.lock"))?;
                artifacts_log(&artifacts, &lock)?.checkpoint();
            }
            let packages = base.join("deps/site-packages");
            Ok(Self {
                base,
                packages,
                leases: Default::default(),
                skill_writes: Default::default(),
                artifact_writes: Default::default(),
            })
        })
        .await
    }

    /// The storage directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    fn artifacts_dir(&self) -> PathBuf {
        self.base.join("artifacts")
    }

    fn skills_dir(&self) -> PathBuf {
        self.base.join("skills")
    }

    /// Session `id`'s file with `extension` (a validated id: no path tricks).
    fn session_file(&self, id: &SessionId, extension: &str) -> PathBuf {
        self.base.join("sessions").join(format!("{id}.{extension}"))
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<SessionId, (String, File)>> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits `write` to the skills store, in a batch with this process's
    /// concurrent writers to it (one log fsync for all).
    async fn write_skill(&self, write: SkillWrite) -> Result<SkillDone, StorageError> {
        let (dir, group) = (self.skills_dir(), self.skill_writes.clone());
        blocking(move || {
            group.submit(
                write,
                || Lock::exclusive(&dir.join(".skills.lock")),
                |lock, writes, syncs| {
                    group::commit_planned(
                        writes,
                        syncs,
                        || Ok((skills_log(&dir, lock)?, read_meta(&dir)?)),
                        |meta, write| plan_skill(&dir, meta, write),
                        |meta, ops| {
                            group::apply_in_turn(
                                meta,
                                ops,
                                |meta, op| apply_skill(&dir, meta, op),
                                |meta| write_meta(&dir, meta),
                            )
                        },
                        || read_meta(&dir),
                    )
                },
            )
        })
        .await
    }

    /// Saves `skill`, if it is still `expected` when given: `None` when not.
    async fn save(&self, skill: &StoredSkill, expected: Option<&Expected>) -> Result<Option<SavedSkill>, StorageError> {
        let write = SkillWrite::Save { skill: Box::new(skill.clone()), expected: expected.cloned() };
        match self.write_skill(write).await? {
            SkillDone::Saved(saved) => Ok(Some(saved)),
            SkillDone::Stale => Ok(None),
            SkillDone::Changed(_) => Err(mismatched()),
        }
    }

    /// [`write_skill`](Self::write_skill) for a write that answers whether it
    /// changed anything: `None` when it expected another skill.
    async fn change_skill(&self, write: SkillWrite) -> Result<Option<bool>, StorageError> {
        match self.write_skill(write).await? {
            SkillDone::Changed(changed) => Ok(Some(changed)),
            SkillDone::Stale => Ok(None),
            SkillDone::Saved(_) => Err(mismatched()),
        }
    }

    /// Commits `write` to the artifacts store, in a batch likewise.
    async fn write_artifact(&self, write: ArtifactWrite) -> Result<bool, StorageError> {
        let (dir, group) = (self.artifacts_dir(), self.artifact_writes.clone());
        blocking(move || {
            group.submit(
                write,
                || Lock::exclusive(&dir.join(".artifacts.lock")),
                |lock, writes, syncs| {
                    let index = dir.join(".artifacts.json");
                    group::commit_planned(
                        writes,
                        syncs,
                        || Ok((artifacts_log(&dir, lock)?, read_index(&index)?)),
                        |state, write| plan_artifact(&dir, state, write),
                        |state, ops| {
                            group::apply_in_turn(
                                state,
                                ops,
                                |state, (op, data)| apply_artifact(&dir, state, op, &data),
                                |state| write_index(&dir, state),
                            )
                        },
                        || read_index(&index),
                    )
                },
            )
        })
        .await
    }

    /// How many log fsyncs this handle's writes to the skills and the artifacts
    /// made: with concurrent writers, fewer than writes (they commit in groups).
    #[doc(hidden)]
    pub fn log_syncs(&self) -> u64 {
        self.skill_writes.syncs() + self.artifact_writes.syncs()
    }

    /// `Held` unless `owner` holds `id`'s lease in this process.
    fn check_lease(&self, id: &SessionId, owner: &str) -> Result<(), StorageError> {
        match self.leases().get(id) {
            Some((holder, _)) if holder == owner => Ok(()),
            _ => Err(StorageError::Held(id.clone())),
        }
    }
}

#[async_trait::async_trait]
impl Storage for FileStorage {
    async fn save_artifact(&self, name: &ArtifactName, info: &ArtifactInfo, data: &[u8]) -> Result<(), StorageError> {
        let write = ArtifactWrite::Save { name: name.clone(), info: info.clone(), data: data.to_vec() };
        self.write_artifact(write).await.map(|_| ())
    }

    async fn load_artifact(&self, name: &ArtifactName) -> Result<Option<Artifact>, StorageError> {
        let dir = self.artifacts_dir();
        let name = name.clone();
        blocking(move || {
            let Some(info) = info_from_index(&dir, &name)? else { return Ok(None) };
            let path = dir.join(name.as_str());
            let data = match std::fs::read(&path) {
                Ok(data) => data,
                // Indexed but deleted behind our back: treat as absent.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io("reading the artifact", &path)(e)),
            };
            Ok(Some(Artifact { info: ArtifactInfo { size: data.len() as u64, ..info }, data }))
        })
        .await
    }

    async fn artifact_info(&self, name: &ArtifactName) -> Result<Option<ArtifactInfo>, StorageError> {
        let dir = self.artifacts_dir();
        let name = name.clone();
        blocking(move || info_from_index(&dir, &name)).await
    }

    async fn list_artifacts(&self) -> Result<Vec<ArtifactInfo>, StorageError> {
        let dir = self.artifacts_dir();
        blocking(move || {
            let index = read_index(&dir.join(".artifacts.json"))?;
            Ok(index.into_iter().map(|(name, entry)| to_info(&dir, name, entry)).collect())
        })
        .await
    }

    async fn delete_artifact(&self, name: &ArtifactName) -> Result<bool, StorageError> {
        self.write_artifact(ArtifactWrite::Delete(name.clone())).await
    }

    async fn save_skill(&self, skill: &StoredSkill) -> Result<SavedSkill, StorageError> {
        self.save(skill, None).await?.ok_or_else(mismatched)
    }

    async fn save_skill_if(
        &self,
        skill: &StoredSkill,
        expected: &Expected,
    ) -> Result<Option<SavedSkill>, StorageError> {
        self.save(skill, Some(expected)).await
    }

    async fn save_verification(
        &self,
        name: &SkillName,
        version: u32,
        verification: &crate::model::Verification,
    ) -> Result<bool, StorageError> {
        let write = SkillWrite::Verify { name: name.clone(), version, verification: verification.clone() };
        self.change_skill(write).await?.ok_or_else(mismatched)
    }

    async fn skill_versions(&self, name: &SkillName) -> Result<Vec<StoredSkill>, StorageError> {
        let dir = self.skills_dir();
        let name = name.clone();
        blocking(move || {
            let versions = History::of(&dir, &name).read()?;
            // A file edited by hand may hold anything: only this skill's entries count.
            Ok(versions.into_iter().filter(|v| v.name == name).collect())
        })
        .await
    }

    async fn load_skill(&self, name: &SkillName) -> Result<Option<StoredSkill>, StorageError> {
        let dir = self.skills_dir();
        let name = name.clone();
        blocking(move || {
            let mut meta = read_meta(&dir)?;
            let meta = meta.remove(name.as_str()).unwrap_or_default();
            let path = skill_path(&dir, &name);
            read_skill(&dir, name, meta).map_err(io("reading a skill", &path))
        })
        .await
    }

    async fn list_skills(&self) -> Result<Vec<StoredSkill>, StorageError> {
        Ok(self.scan_skills().await?.0)
    }

    async fn scan_skills(&self) -> Result<(Vec<StoredSkill>, Vec<SkippedSkill>), StorageError> {
        let dir = self.skills_dir();
        blocking(move || {
            let mut meta = read_meta(&dir)?;
            let (mut skills, mut skipped) = (Vec::new(), Vec::new());
            // The `.py` files are the truth: py-code-mode users add skills by dropping files in.
            for entry in std::fs::read_dir(&dir).map_err(io("listing skills", &dir))? {
                let path = entry.map_err(io("listing skills", &dir))?.path();
                let Some(file) = path.file_name().map(|f| f.to_string_lossy().into_owned()) else { continue };
                // Helpers (`_*.py`, as in py-code-mode) and our own files are not skills.
                let Some(stem) = file.strip_suffix(".py").filter(|s| !s.starts_with(['_', '.'])) else { continue };
                let name = match SkillName::new(stem) {
                    Ok(name) => name,
                    Err(err) => {
                        skipped.push(SkippedSkill { entry: file, reason: err.to_string() });
                        continue;
                    }
                };
                let meta = meta.remove(name.as_str()).unwrap_or_default();
                match read_skill(&dir, name, meta) {
                    Ok(Some(skill)) => skills.push(skill),
                    Ok(None) => {}
                    // Reported by the caller, once: not a storage failure.
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        skipped.push(SkippedSkill { entry: file, reason: "it is not UTF-8 text".to_owned() });
                    }
                    Err(e) => skipped.push(SkippedSkill { entry: file, reason: format!("it cannot be read: {e}") }),
                }
            }
            Ok((skills, skipped))
        })
        .await
    }

    async fn delete_skill(&self, name: &SkillName) -> Result<bool, StorageError> {
        self.change_skill(SkillWrite::Delete { name: name.clone(), expected: None }).await?.ok_or_else(mismatched)
    }

    async fn delete_skill_if(&self, name: &SkillName, expected: &Expected) -> Result<Option<bool>, StorageError> {
        self.change_skill(SkillWrite::Delete { name: name.clone(), expected: Some(expected.clone()) }).await
    }

    async fn skills_version(&self) -> Result<Option<String>, StorageError> {
        let dir = self.skills_dir();
        blocking(move || {
            // Our own writes change `.version`; files dropped in or edited by hand
            // change a name, size, inode or modification time (a stat each, no reads).
            use std::hash::{Hash, Hasher};
            use std::os::unix::fs::MetadataExt;
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(io("listing skills", &dir))? {
                let entry = entry.map_err(io("listing skills", &dir))?;
                let meta = entry.metadata().map_err(io("reading skill metadata", &entry.path()))?;
                entries.push((entry.file_name(), meta.len(), meta.ino(), meta.mtime(), meta.mtime_nsec()));
            }
            entries.sort();
            let mut hasher = std::hash::DefaultHasher::new();
            entries.hash(&mut hasher);
            std::fs::read(dir.join(".version")).unwrap_or_default().hash(&mut hasher);
            Ok(Some(format!("{:016x}", hasher.finish())))
        })
        .await
    }

    async fn save_vector(&self, key: &str, vector: &[f32]) -> Result<(), StorageError> {
        let path = self.base.join("vectors").join(format!("{key}.f32"));
        let bytes = encode_vector(vector);
        // A lost or torn vector is re-embedded (a length check rejects it): no fsync.
        blocking(move || replace_file_unsynced(&path, &bytes)).await
    }

    async fn load_vectors(&self, keys: &[String]) -> Result<Vec<Option<Vec<f32>>>, StorageError> {
        let dir = self.base.join("vectors");
        let keys = keys.to_vec();
        blocking(move || {
            keys.iter()
                .map(|key| {
                    let path = dir.join(format!("{key}.f32"));
                    match std::fs::read(&path) {
                        Ok(bytes) => decode_vector(&bytes).map(Some),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(io("reading a vector", &path)(e)),
                    }
                })
                .collect()
        })
        .await
    }

    async fn add_dep(&self, name: &str, spec: &str) -> Result<(), StorageError> {
        let path = self.base.join("deps/requirements.txt");
        let (name, spec) = (name.to_owned(), spec.to_owned());
        blocking(move || {
            let _lock = Lock::exclusive(&path.with_extension("lock"))?;
            let mut deps = read_requirements(&path)?;
            deps.retain(|d| requirement_name(d) != name);
            deps.push(spec);
            write_requirements(&path, deps)
        })
        .await
    }

    async fn remove_dep(&self, name: &str) -> Result<bool, StorageError> {
        let path = self.base.join("deps/requirements.txt");
        let name = name.to_owned();
        blocking(move || {
            let _lock = Lock::exclusive(&path.with_extension("lock"))?;
            let mut deps = read_requirements(&path)?;
            let before = deps.len();
            deps.retain(|d| requirement_name(d) != name);
            let removed = deps.len() != before;
            if removed {
                write_requirements(&path, deps)?;
            }
            Ok(removed)
        })
        .await
    }

    async fn list_deps(&self) -> Result<Vec<String>, StorageError> {
        let path = self.base.join("deps/requirements.txt");
        blocking(move || {
            let mut deps = read_requirements(&path)?;
            deps.sort();
            Ok(deps)
        })
        .await
    }

    async fn configured_deps(&self) -> Result<Vec<String>, StorageError> {
        let path = self.base.join("requirements.txt");
        blocking(move || read_requirements(&path)).await
    }

    async fn claim_session(&self, id: &SessionId, owner: &str, _lease: Duration) -> Result<bool, StorageError> {
        if let Some((holder, _)) = self.leases().get(id) {
            return Ok(holder == owner);
        }
        let path = self.session_file(id, "lock");
        // A lock file deleted between our open and our lock (its journal deleted or
        // swept) is tried once more, as the new file; a third such race is `Held`.
        let mut attempts = 0;
        let file = loop {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(io("opening a session's lock file", &path))?;
            match lock_if_current(file, &path)? {
                Locked::Yes(file) => break file,
                Locked::Held => return Ok(false),
                Locked::Replaced if attempts < 2 => attempts += 1,
                Locked::Replaced => return Ok(false),
            }
        };
        let mut leases = self.leases();
        // Another task of this process may have taken it meanwhile.
        if let Some((holder, _)) = leases.get(id) {
            return Ok(holder == owner);
        }
        leases.insert(id.clone(), (owner.to_owned(), file));
        drop(leases);
        // Asked for a run that is over: it must not stop this holder's.
        if let Err(err) = remove_if_present(&self.session_file(id, "interrupt"), "clearing a session's interrupt") {
            // Not taken after all: the lease is given back, not kept by a failed claim.
            self.leases().remove(id);
            return Err(err);
        }
        Ok(true)
    }

    async fn renew_session(
        &self,
        id: &SessionId,
        owner: &str,
        _lease: Duration,
        _ttl: Option<Duration>,
    ) -> Result<bool, StorageError> {
        if self.check_lease(id, owner).is_err() {
            return Ok(false);
        }
        // The sweep reads the cells file's age.
        let path = self.session_file(id, "cells");
        blocking(move || touch(&path)).await?;
        Ok(true)
    }

    async fn release_session(&self, id: &SessionId, owner: &str) -> Result<(), StorageError> {
        let mut leases = self.leases();
        if leases.get(id).is_some_and(|(holder, _)| holder == owner) {
            // Dropping the file releases the lock.
            leases.remove(id);
        }
        Ok(())
    }

    async fn begin_journal(
        &self,
        id: &SessionId,
        owner: &str,
        head: &[u8],
        _ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        self.check_lease(id, owner)?;
        let (head_path, cells) = (self.session_file(id, "head"), self.session_file(id, "cells"));
        let head = head.to_vec();
        blocking(move || {
            // Cells first: a crash between the two leaves the old head with no cells
            // (the old history's start), never new cells under an old head.
            File::create(&cells).and_then(|f| f.sync_all()).map_err(io("starting a session journal", &cells))?;
            write_atomically(&head_path, &head)?;
            journal_version(&head_path, &cells)
        })
        .await
    }

    async fn append_journal(
        &self,
        id: &SessionId,
        owner: &str,
        cell: &[u8],
        _ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        self.check_lease(id, owner)?;
        let (head, path) = (self.session_file(id, "head"), self.session_file(id, "cells"));
        let len = u32::try_from(cell.len()).map_err(|_| corrupt_journal("a cell record over 4 GiB"))?;
        let mut record = Vec::with_capacity(4 + cell.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(cell);
        blocking(move || {
            if !head.exists() {
                return Err(corrupt_journal("the session's journal is gone (it expired or was deleted)"));
            }
            let mut file =
                File::options().append(true).open(&path).map_err(io("appending to a session journal", &path))?;
            // One write of the whole record, then its data made durable.
            file.write_all(&record)
                .and_then(|()| file.sync_data())
                .map_err(io("appending to a session journal", &path))?;
            journal_version(&head, &path)
        })
        .await
    }

    async fn journal_version(&self, id: &SessionId) -> Result<u64, StorageError> {
        let (head, cells) = (self.session_file(id, "head"), self.session_file(id, "cells"));
        blocking(move || journal_version(&head, &cells)).await
    }

    async fn load_journal(&self, id: &SessionId, caps: JournalCaps) -> Result<Option<StoredJournal>, StorageError> {
        let (head, cells) = (self.session_file(id, "head"), self.session_file(id, "cells"));
        blocking(move || {
            let Some(head) = read_capped(&head, caps.max_bytes)? else { return Ok(None) };
            // Each record costs at most 4 bytes of framing besides its data.
            let limit = caps.max_bytes.saturating_add(caps.max_cells.saturating_mul(4));
            let data = read_capped(&cells, limit)?.unwrap_or_default();
            let records = parse_records(&data, caps)?;
            caps.check(head.len() + records.iter().map(Vec::len).sum::<usize>(), records.len())?;
            Ok(Some(StoredJournal { head, cells: records }))
        })
        .await
    }

    async fn delete_journal(&self, id: &SessionId) -> Result<bool, StorageError> {
        // The lock is held until its file is gone: unlocked first, it could be taken
        // by a process that then holds a lock on a deleted file while another
        // locks a new one.
        let held = self.leases().remove(id);
        let files = ["head", "cells", "interrupt", "lock"].map(|ext| self.session_file(id, ext));
        let deleted = blocking(move || delete_session_files(&files)).await;
        drop(held);
        deleted
    }

    async fn sweep_journals(&self, ttl: Duration) -> Result<usize, StorageError> {
        let dir = self.base.join("sessions");
        let held: Vec<SessionId> = self.leases().keys().cloned().collect();
        blocking(move || {
            let entries = std::fs::read_dir(&dir).map_err(io("listing session journals", &dir))?;
            let mut swept = 0;
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".head")) else { continue };
                // Named sessions (`repl --session`) have no TTL: only servers' ids expire.
                let Some(id) = SessionId::new(id).ok().filter(SessionId::is_random) else { continue };
                if held.contains(&id) {
                    continue;
                }
                let file = |ext: &str| dir.join(format!("{id}.{ext}"));
                // Unused: neither renewed nor appended to for longer than the TTL.
                let newest = [file("head"), file("cells")]
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
                    .max();
                if newest.and_then(|t| t.elapsed().ok()).is_none_or(|age| age <= ttl) {
                    continue;
                }
                // Held by another process: alive, whatever its files' age.
                let lock = File::options().create(true).truncate(false).write(true).open(file("lock"));
                let Ok(lock) = lock else { continue };
                // Deleted while held (below), unlocked after.
                let Ok(Locked::Yes(_lock)) = lock_if_current(lock, &file("lock")) else { continue };
                if delete_session_files(&[file("head"), file("cells"), file("interrupt"), file("lock")])? {
                    swept += 1;
                }
            }
            Ok(swept)
        })
        .await
    }

    async fn request_interrupt(&self, id: &SessionId) -> Result<bool, StorageError> {
        let held_here = self.leases().contains_key(id);
        let (lock, flag) = (self.session_file(id, "lock"), self.session_file(id, "interrupt"));
        blocking(move || {
            if !held_here && !held_elsewhere(&lock)? {
                return Ok(false);
            }
            let written = File::create(&flag).and_then(|file| file.set_modified(std::time::SystemTime::now()));
            written.map_err(io("asking for a session's interrupt", &flag))?;
            Ok(true)
        })
        .await
    }

    async fn interrupt_requested(&self, id: &SessionId) -> Result<bool, StorageError> {
        Ok(self.interrupts_requested(std::slice::from_ref(id)).await?.first() == Some(&true))
    }

    async fn interrupts_requested(&self, ids: &[SessionId]) -> Result<Vec<bool>, StorageError> {
        let flags: Vec<PathBuf> = ids.iter().map(|id| self.session_file(id, "interrupt")).collect();
        blocking(move || flags.iter().map(|flag| interrupt_asked(flag)).collect()).await
    }

    fn packages_dir(&self) -> &Path {
        &self.packages
    }
}

/// Whether another process holds the lock on the session lock file at `path`: a
/// non-blocking attempt on a file of its own, given up at once when it succeeds
/// (a claim racing it then finds the lease held and retries). No lock file: no
/// holder, and none is created.
fn held_elsewhere(path: &Path) -> Result<bool, StorageError> {
    let file = match File::options().write(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(io("testing a session's lease", path)(err)),
    };
    match file.try_lock() {
        // Dropping the file releases the lock.
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(err)) => Err(io("testing a session's lease", path)(err)),
    }
}

/// Whether the interrupt flag file at `path` exists and was written less than
/// [`INTERRUPT_LAPSES`] ago (one dated in the future, by a clock set back, counts).
fn interrupt_asked(path: &Path) -> Result<bool, StorageError> {
    let written = match std::fs::metadata(path).and_then(|meta| meta.modified()) {
        Ok(written) => written,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(io("reading a session's interrupt", path)(err)),
    };
    Ok(written.elapsed().map_or(true, |age| age < INTERRUPT_LAPSES))
}

/// A session journal's version, from its files' metadata: every begin renames a
/// new head into place (a new inode and modification time), every append grows
/// the cells file. `0` if no head exists.
fn journal_version(head: &Path, cells: &Path) -> Result<u64, StorageError> {
    use std::os::unix::fs::MetadataExt;
    let head = match std::fs::metadata(head) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(io("reading a session journal's version", head)(err)),
    };
    let cells = match std::fs::metadata(cells) {
        Ok(meta) => meta.len(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => 0,
        Err(err) => return Err(io("reading a session journal's version", cells)(err)),
    };
    // FNV-1a: stable across processes and builds, unlike std's hasher.
    let parts = [head.ino(), head.mtime() as u64, head.mtime_nsec() as u64, head.len(), cells];
    let version = parts
        .iter()
        .flat_map(|part| part.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
    Ok(version.max(1))
}

/// What trying a session's lock file gave.
enum Locked {
    /// Locked, and still the file at its path.
    Yes(File),
    /// Another process holds it.
    Held,
    /// Locked, but the file was deleted (and maybe created anew) since it was
    /// opened: a lock on it excludes nobody. Unlocked again.
    Replaced,
}

/// Locks `file`, opened from `path`, if no one holds it, and checks that it is
/// still the file at `path` (same device and inode): a lock on a deleted lock
/// file would let two processes hold one session.
fn lock_if_current(file: File, path: &Path) -> Result<Locked, StorageError> {
    use std::os::unix::fs::MetadataExt;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Locked::Held),
        Err(std::fs::TryLockError::Error(err)) => return Err(io("locking a session", path)(err)),
    }
    let locked = file.metadata().map_err(io("locking a session", path))?;
    let current = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Locked::Replaced),
        Err(err) => return Err(io("locking a session", path)(err)),
    };
    if (locked.dev(), locked.ino()) == (current.dev(), current.ino()) {
        Ok(Locked::Yes(file))
    } else {
        Ok(Locked::Replaced)
    }
}

fn corrupt_journal(detail: &str) -> StorageError {
    StorageError::Corrupt { op: "a session journal", detail: detail.to_owned() }
}

/// Sets `path`'s modification time to now (nothing if it does not exist).
fn touch(path: &Path) -> Result<(), StorageError> {
    match File::options().append(true).open(path) {
        Ok(file) => file.set_modified(std::time::SystemTime::now()).map_err(io("renewing a session", path)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io("renewing a session", path)(err)),
    }
}

/// `path`'s bytes, `None` if it does not exist; past `limit` bytes is corrupt,
/// found from its size before it is read.
fn read_capped(path: &Path, limit: usize) -> Result<Option<Vec<u8>>, StorageError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io("loading a session journal", path)(err)),
    };
    let len = file.metadata().map_err(io("loading a session journal", path))?.len();
    if len > limit as u64 {
        return Err(corrupt_journal(&format!("a file of it holds more than {limit} bytes")));
    }
    let mut data = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limit as u64 + 1), &mut data)
        .map_err(io("loading a session journal", path))?;
    Ok(Some(data))
}

/// The records of a cells file. A torn last record (a crash in the middle of an
/// append, before the cell was answered) is dropped; a length past the caps is corrupt.
fn parse_records(mut data: &[u8], caps: JournalCaps) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut records = Vec::new();
    while data.len() >= 4 {
        let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len > caps.max_bytes {
            return Err(corrupt_journal(&format!("a cell record claims {len} bytes")));
        }
        let Some(record) = data.get(4..4 + len) else {
            tracing::warn!("a session journal ends in a torn record; it is dropped");
            return Ok(records);
        };
        records.push(record.to_vec());
        caps.check(0, records.len())?;
        data = &data[4 + len..];
    }
    if !data.is_empty() {
        tracing::warn!("a session journal ends in a torn record; it is dropped");
    }
    Ok(records)
}

/// Deletes a session's files; whether its head existed.
fn delete_session_files(files: &[PathBuf]) -> Result<bool, StorageError> {
    let mut existed = false;
    for (i, path) in files.iter().enumerate() {
        match std::fs::remove_file(path) {
            Ok(()) => existed |= i == 0,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io("deleting a session journal", path)(err)),
        }
    }
    Ok(existed)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|join| {
        Err(StorageError::Io { op: "file storage task", path: PathBuf::new(), source: std::io::Error::other(join) })
    })
}

pub(super) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| {
        tracing::warn!(op, path = %path.display(), error = %source, "storage I/O failed");
        StorageError::Io { op, path, source }
    }
}

/// An advisory lock held until dropped (`flock`, released by the OS if the process
/// dies). A store's lock file also holds its log's applied position (`wal.rs`).
struct Lock(File);

impl Lock {
    fn exclusive(path: &Path) -> Result<Self, StorageError> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io("opening the lock file", path))?;
        file.lock().map_err(io("locking", path))?;
        Ok(Self(file))
    }
}

/// Marks a change to the skills for [`Storage::skills_version`]: a token no earlier
/// write can have produced (time, process, and a per-process counter).
fn bump_version(dir: &Path) -> Result<(), StorageError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Only a change token, and every crash is followed by new processes with empty
    // caches: it need not survive one, so it is not fsynced.
    replace_file_unsynced(&dir.join(".version"), format!("{nanos}-{}-{count}", std::process::id()).as_bytes())
}

/// Replaces `path` with `data`, durably: [`replace_file`], then an fsync of its directory.
fn write_atomically(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    replace_file(path, data)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Replaces `path` with `data` through a fsynced temporary file: a crash leaves the
/// old or the new content. The rename is durable only once the directory is synced.
fn replace_file(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    replace_via_temp(path, data, true)
}

/// [`replace_file`] without the fsync, for data that may be lost and is never torn
/// in a way its reader accepts.
fn replace_file_unsynced(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    replace_via_temp(path, data, false)
}

fn replace_via_temp(path: &Path, data: &[u8], sync: bool) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        if sync {
            // Data only: the file's metadata that matters (its size) is in the data sync.
            file.sync_data()?;
        }
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("writing", path)(e)
    })
}

/// Makes the renames into `dir` survive a power cut.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing the directory", dir))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StorageError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "corrupt index file");
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            StorageError::Corrupt { op: "reading an index", detail: format!("{file}: {e}") }
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", path)(e)),
    }
}

fn json_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec_pretty(value)
        .map_err(|e| StorageError::Corrupt { op: "encoding an index", detail: e.to_string() })
}

fn read_index(path: &Path) -> Result<BTreeMap<String, IndexEntry>, StorageError> {
    Ok(read_json(path)?.unwrap_or_default())
}

fn info_from_index(dir: &Path, name: &ArtifactName) -> Result<Option<ArtifactInfo>, StorageError> {
    let mut index = read_index(&dir.join(".artifacts.json"))?;
    Ok(index.remove(name.as_str()).map(|entry| to_info(dir, name.as_str().to_owned(), entry)))
}

fn to_info(dir: &Path, name: String, entry: IndexEntry) -> ArtifactInfo {
    entry.into_info(name, |name| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len()))
}

/// The only place a skill's file name is made: from a validated name, so it stays in `dir`.
fn skill_path(dir: &Path, name: &SkillName) -> PathBuf {
    dir.join(format!("{name}.py"))
}

/// A skill's earlier versions: one file per version, `.versions/<name>/<n>.json`
/// (`n` counts up, so the oldest has the smallest), made from a validated name like
/// [`skill_path`]. A save writes one small file, never the whole history. Stop 22
/// kept them in one `.versions/<name>.json`; that file is read as the oldest
/// versions and split into files by the next save.
struct History {
    dir: PathBuf,
    legacy: PathBuf,
}

impl History {
    fn of(skills: &Path, name: &SkillName) -> Self {
        let versions = skills.join(".versions");
        Self { dir: versions.join(name.as_str()), legacy: versions.join(format!("{name}.json")) }
    }

    /// Whether any version is kept (in files or a single-file history).
    fn exists(&self) -> bool {
        self.dir.exists() || self.legacy.exists()
    }

    /// The version files, by their number, oldest first (anything else is ignored).
    fn files(&self) -> Result<Vec<(u64, PathBuf)>, StorageError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("listing the skill's versions", &self.dir)(e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(io("listing the skill's versions", &self.dir))?.path();
            let number = path.file_name().and_then(|f| f.to_str()?.strip_suffix(".json")?.parse::<u64>().ok());
            if let Some(number) = number {
                files.push((number, path));
            }
        }
        files.sort_unstable_by_key(|(number, _)| *number);
        Ok(files)
    }

    fn read_legacy(&self) -> Result<Vec<StoredSkill>, StorageError> {
        Ok(read_json(&self.legacy)?.unwrap_or_default())
    }

    /// Every version kept, oldest first.
    fn read(&self) -> Result<Vec<StoredSkill>, StorageError> {
        let mut versions = self.read_legacy()?;
        for (_, path) in self.files()? {
            versions.extend(read_json::<StoredSkill>(&path)?);
        }
        Ok(versions)
    }

    /// `version` and the versions of a single-file history, numbered after the
    /// newest kept: what a save adds to the history.
    fn numbered(&self, version: StoredSkill) -> Result<Vec<(u64, StoredSkill)>, StorageError> {
        let first = self.files()?.last().map_or(1, |(number, _)| number + 1);
        Ok((first..).zip(self.read_legacy()?.into_iter().chain(std::iter::once(version))).collect())
    }

    /// Writes `versions` (without an fsync: the log holds them), retires the
    /// single-file history, then drops the oldest past the caps.
    fn write(&self, versions: &[(u64, StoredSkill)]) -> Result<(), StorageError> {
        if versions.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(io("creating the versions directory", &self.dir))?;
        for (number, version) in versions {
            replace_file_unsynced(&self.dir.join(format!("{number}.json")), &json_bytes(version)?)?;
        }
        remove_if_present(&self.legacy, "deleting the skill's versions")?;
        let files = self.files()?;
        let mut sizes: Vec<u64> =
            files.iter().map(|(_, path)| std::fs::metadata(path).map_or(0, |m| m.len())).collect();
        let mut total: u64 = sizes.iter().sum();
        let mut dropped = 0;
        while files.len() - dropped > 1
            && (files.len() - dropped > super::MAX_SKILL_VERSIONS || total > super::MAX_SKILL_HISTORY_BYTES as u64)
        {
            remove_if_present(&files[dropped].1, "dropping an old version")?;
            total -= std::mem::take(&mut sizes[dropped]);
            dropped += 1;
        }
        Ok(())
    }

    fn delete(&self) -> Result<(), StorageError> {
        remove_if_present(&self.legacy, "deleting the skill's versions")?;
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("deleting the skill's versions", &self.dir)(e)),
        }
    }
}

/// Removes a file; `Ok` if there was none.
pub(super) fn remove_if_present(path: &Path, op: &'static str) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(op, path)(e)),
    }
}

/// A skill's file with its metadata; `None` if there is no file. The caller decides
/// how a file that cannot be read is reported (the error names no path).
fn read_skill(dir: &Path, name: SkillName, meta: SkillMeta) -> std::io::Result<Option<StoredSkill>> {
    let path = skill_path(dir, &name);
    match std::fs::read_to_string(&path) {
        Ok(source) => {
            let current = meta.source_sha256.is_some_and(|sha| sha == sha256_hex(&source));
            Ok(Some(StoredSkill {
                name,
                description: meta.description,
                signature: meta.signature.filter(|_| current),
                source,
                created_at: meta.created_at,
                scope: meta.scope,
                version: meta.version,
                examples: meta.examples,
                verification: meta.verification,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The skills store's log, after applying any records a writer that died left
/// unapplied (`lock` is the store's, held).
fn skills_log<'a>(dir: &Path, lock: &'a Lock) -> Result<Wal<'a>, StorageError> {
    Wal::open(&dir.join(".skills.log"), &dir.join(".skills.json"), &lock.0, |base, records| {
        let mut meta = read_json(base)?.unwrap_or_default();
        for record in records {
            match serde_json::from_slice::<SkillOp>(record) {
                Ok(op) => apply_skill(dir, &mut meta, op)?,
                // Checked but not ours (written by hand, or a bad name): skipped.
                Err(err) => tracing::warn!(error = %err, "a skills log record that is no operation is skipped"),
            }
        }
        write_meta(dir, &meta)
    })
}

/// The artifacts store's log, after applying what a dead writer left unapplied.
fn artifacts_log<'a>(dir: &Path, lock: &'a Lock) -> Result<Wal<'a>, StorageError> {
    Wal::open(&dir.join(".artifacts.log"), &dir.join(".artifacts.json"), &lock.0, |base, records| {
        let mut index = read_index(base)?;
        let mut ops = Vec::with_capacity(records.len());
        for record in records {
            let header_len =
                record.get(..4).map_or(usize::MAX, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            let decoded = record
                .get(4..)
                .and_then(|rest| Some((rest.get(..header_len)?, rest.get(header_len..)?)))
                .and_then(|(header, data)| Some((serde_json::from_slice::<ArtifactOp>(header).ok()?, data)));
            match decoded {
                Some(op) => ops.push(op),
                None => tracing::warn!("an artifacts log record that is no operation is skipped"),
            }
        }
        // Only each artifact's last record: a large artifact's record carries no
        // data (its file was fsynced before the record), so applying an earlier
        // record of the same name after it would write that earlier data, or delete
        // the file, under the index entry of the later save.
        let last: HashMap<String, usize> =
            ops.iter().enumerate().map(|(i, (op, _))| (op.name().to_owned(), i)).collect();
        for (i, (op, data)) in ops.into_iter().enumerate() {
            if last.get(op.name()) == Some(&i) {
                apply_artifact(dir, &mut index, op, data)?;
            }
        }
        write_index(dir, &index)
    })
}

/// The skill `name` as stored, its metadata taken from `meta`.
fn current_skill(
    dir: &Path,
    meta: &BTreeMap<String, SkillMeta>,
    name: &SkillName,
) -> Result<Option<StoredSkill>, StorageError> {
    let entry = meta.get(name.as_str()).cloned().unwrap_or_default();
    read_skill(dir, name.clone(), entry).map_err(io("reading a skill", dir))
}

/// Plans a skills write against `meta` (read under the store's lock): the record
/// it logs, if any, and its answer. Reads only the files of its own skill, which
/// no other write of its batch touches (`group.rs`).
fn plan_skill(
    dir: &Path,
    meta: &BTreeMap<String, SkillMeta>,
    write: SkillWrite,
) -> Result<Planned<SkillOp, SkillDone>, StorageError> {
    let (op, done) = match write {
        SkillWrite::Save { skill, expected } => {
            let skill = *skill;
            let current = current_skill(dir, meta, &skill.name)?;
            if expected.is_some_and(|e| !e.matches(current.as_ref())) {
                return Ok((None, SkillDone::Stale));
            }
            let version = super::next_version(current.as_ref().map(|c| c.version));
            let replaced = current.is_some();
            // The skill replaced joins its history in the same record: one atomic write.
            let history = match current {
                Some(current) => History::of(dir, &skill.name).numbered(current)?,
                None => Vec::new(),
            };
            let source_sha256 = skill.signature.as_ref().map(|_| sha256_hex(&skill.source));
            let entry = SkillMeta {
                description: skill.description,
                created_at: skill.created_at,
                source_sha256,
                signature: skill.signature,
                scope: skill.scope,
                version,
                examples: skill.examples,
                verification: skill.verification,
            };
            let op = SkillOp::Save { name: skill.name, source: skill.source, meta: entry, history };
            (op, SkillDone::Saved(SavedSkill { version, replaced }))
        }
        SkillWrite::Verify { name, version, verification } => {
            let entry = match meta.get(name.as_str()) {
                Some(entry) if entry.version == version && skill_path(dir, &name).exists() => {
                    SkillMeta { verification: Some(verification), ..entry.clone() }
                }
                _ => return Ok((None, SkillDone::Changed(false))),
            };
            (SkillOp::Meta { name, meta: entry }, SkillDone::Changed(true))
        }
        SkillWrite::Delete { name, expected } => {
            if let Some(expected) = expected
                && !expected.matches(current_skill(dir, meta, &name)?.as_ref())
            {
                return Ok((None, SkillDone::Stale));
            }
            let existed = skill_path(dir, &name).exists();
            // Nothing of it anywhere (its file, its index entry, its history): a
            // record would cost an fsync under the lock for nothing.
            if !existed && !meta.contains_key(name.as_str()) && !History::of(dir, &name).exists() {
                return Ok((None, SkillDone::Changed(false)));
            }
            (SkillOp::Delete { name }, SkillDone::Changed(existed))
        }
    };
    let record = serde_json::to_vec(&op).map_err(encoding)?;
    Ok((Some((op, record)), done))
}

/// Plans an artifacts write against `index` (read under the store's lock). A
/// large artifact's data is made durable in its file here, before its record.
fn plan_artifact(
    dir: &Path,
    index: &BTreeMap<String, IndexEntry>,
    write: ArtifactWrite,
) -> Result<Planned<(ArtifactOp, Vec<u8>), bool>, StorageError> {
    match write {
        ArtifactWrite::Save { name, info, data } => {
            refuse_clash(dir, &name)?;
            let inline = data.len() <= INLINE_ARTIFACT_BYTES;
            if !inline {
                // Data first, durably: the record never points at data that is not there.
                let path = dir.join(name.as_str());
                let data_dir = create_parent(&path)?;
                replace_file(&path, &data)?;
                sync_dir(&data_dir)?;
                if data_dir != dir {
                    sync_dir(dir)?;
                }
            }
            let op = ArtifactOp::Save { name: name.as_str().to_owned(), entry: IndexEntry::new(&info), inline };
            let header = serde_json::to_vec(&op).map_err(encoding)?;
            let mut record = Vec::with_capacity(4 + header.len() + if inline { data.len() } else { 0 });
            record.extend_from_slice(&(header.len() as u32).to_le_bytes());
            record.extend_from_slice(&header);
            if inline {
                record.extend_from_slice(&data);
            }
            let data = if inline { data } else { Vec::new() };
            Ok((Some(((op, data), record)), true))
        }
        ArtifactWrite::Delete(name) => {
            // A directory of other artifacts is no artifact to delete (removing it
            // as a file would fail the batch's apply).
            if is_dir(&dir.join(name.as_str())) {
                return Err(StorageError::clash_over_artifacts(name.as_str(), true));
            }
            if !index.contains_key(name.as_str()) && !dir.join(name.as_str()).exists() {
                return Ok((None, false));
            }
            let op = ArtifactOp::Delete { name: name.as_str().to_owned() };
            let header = serde_json::to_vec(&op).map_err(encoding)?;
            let record = [&(header.len() as u32).to_le_bytes()[..], &header].concat();
            Ok((Some(((op, Vec::new()), record)), true))
        }
    }
}

/// Refuses to save `name` where the store's files leave no room for it: a file
/// where one of its directories must be (`x/y` while `x` is an artifact), or a
/// directory where its file must be (`x` while `x/...` are artifacts). Checked at
/// planning, so such a save fails alone instead of failing its batch's apply;
/// writes of the same batch cannot change the answer, as no two of them have
/// nesting names (`group.rs`). The error names artifacts only, never a host path.
fn refuse_clash(dir: &Path, name: &ArtifactName) -> Result<(), StorageError> {
    let name = name.as_str();
    let ancestors = name.match_indices('/').map(|(at, _)| &name[..at]);
    for ancestor in ancestors {
        // `symlink_metadata`: whatever is there and is no real directory blocks it.
        if std::fs::symlink_metadata(dir.join(ancestor)).is_ok_and(|m| !m.is_dir()) {
            return Err(StorageError::clash_under_artifact(name, ancestor));
        }
    }
    if is_dir(&dir.join(name)) {
        return Err(StorageError::clash_over_artifacts(name, false));
    }
    Ok(())
}

/// Whether `path` is a real directory (not a link to one).
fn is_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Applies a logged skill operation to the files and to `meta` (which the caller writes).
fn apply_skill(dir: &Path, meta: &mut BTreeMap<String, SkillMeta>, op: SkillOp) -> Result<(), StorageError> {
    match op {
        SkillOp::Save { name, source, meta: entry, history } => {
            History::of(dir, &name).write(&history)?;
            replace_file_unsynced(&skill_path(dir, &name), source.as_bytes())?;
            meta.insert(name.into(), entry);
        }
        SkillOp::Meta { name, meta: entry } => {
            meta.insert(name.into(), entry);
        }
        SkillOp::Delete { name } => {
            // py-code-mode users expect delete to delete: the history goes too.
            History::of(dir, &name).delete()?;
            remove_if_present(&skill_path(dir, &name), "deleting the skill")?;
            // Last, as for every operation: one that fails leaves `meta` as it was.
            meta.remove(name.as_str());
        }
    }
    Ok(())
}

/// Applies a logged artifact operation to the files and to `index` (which the
/// caller writes). A name that could leave the store is skipped.
fn apply_artifact(
    dir: &Path,
    index: &mut BTreeMap<String, IndexEntry>,
    op: ArtifactOp,
    data: &[u8],
) -> Result<(), StorageError> {
    let Ok(name) = ArtifactName::new(op.name()) else {
        tracing::warn!("an artifacts log record with an invalid name is skipped");
        return Ok(());
    };
    let path = dir.join(name.as_str());
    match op {
        ArtifactOp::Save { entry, inline, .. } => {
            if inline {
                create_parent(&path)?;
                replace_file_unsynced(&path, data)?;
            }
            index.insert(name.into(), entry);
        }
        ArtifactOp::Delete { .. } => {
            remove_if_present(&path, "deleting the artifact")?;
            remove_empty_parents(dir, &path);
            // Last, as for a save: one that fails leaves `index` as it was.
            index.remove(name.as_str());
        }
    }
    Ok(())
}

/// Removes the directories between `path` and the store's `dir` that are left
/// empty, deepest first, so a name whose artifacts are all deleted is free for an
/// artifact again (`a` after `a/b`). Stops at the first that is not empty (or
/// cannot be removed: it then only keeps that name taken).
fn remove_empty_parents(dir: &Path, path: &Path) {
    for parent in path.ancestors().skip(1).take_while(|p| *p != dir && p.starts_with(dir)) {
        if std::fs::remove_dir(parent).is_err() {
            break;
        }
    }
}

/// Creates `path`'s directory if missing; the directory.
fn create_parent(path: &Path) -> Result<PathBuf, StorageError> {
    let parent = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(io("creating the artifact's directory", &parent))?;
    Ok(parent)
}

fn read_meta(dir: &Path) -> Result<BTreeMap<String, SkillMeta>, StorageError> {
    Ok(read_json(&dir.join(".skills.json"))?.unwrap_or_default())
}

/// Writes `.skills.json` without an fsync (the log holds what it says) and marks the change.
fn write_meta(dir: &Path, meta: &BTreeMap<String, SkillMeta>) -> Result<(), StorageError> {
    replace_file_unsynced(&dir.join(".skills.json"), &json_bytes(meta)?)?;
    bump_version(dir)
}

/// Writes `.artifacts.json` without an fsync (the log holds what it says).
fn write_index(dir: &Path, index: &BTreeMap<String, IndexEntry>) -> Result<(), StorageError> {
    replace_file_unsynced(&dir.join(".artifacts.json"), &json_bytes(index)?)
}

fn encoding(err: serde_json::Error) -> StorageError {
    StorageError::Corrupt { op: "encoding a log record", detail: err.to_string() }
}

fn read_requirements(path: &Path) -> Result<Vec<String>, StorageError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            // pip's comment syntax: `#` at the start or after whitespace.
            .map(|l| l.split(" #").next().unwrap_or_default().split("\t#").next().unwrap_or_default().trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io("reading requirements", path)(e)),
    }
}

fn write_requirements(path: &Path, mut deps: Vec<String>) -> Result<(), StorageError> {
    deps.sort();
    deps.dedup();
    let mut text = deps.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The race a lock on an unlinked lock file opens: a process opened the lock
    /// file, the journal was deleted and a new lock file made before it locked.
    /// Its lock is refused, and the new file's holder keeps the session alone.
    #[test]
    fn a_lock_on_a_deleted_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        let opened_before = File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let current = File::create(&path).unwrap();
        assert!(matches!(lock_if_current(opened_before, &path).unwrap(), Locked::Replaced));
        let Locked::Yes(holder) = lock_if_current(current, &path).unwrap() else { panic!("the current file locks") };
        let again = File::options().write(true).open(&path).unwrap();
        assert!(matches!(lock_if_current(again, &path).unwrap(), Locked::Held), "one holder at a time");
        drop(holder);
        std::fs::remove_file(&path).unwrap();
        let gone = File::create(dir.path().join("other")).unwrap();
        assert!(matches!(lock_if_current(gone, &path).unwrap(), Locked::Replaced), "no file at the path");
    }

    fn skill(name: &str) -> StoredSkill {
        StoredSkill::new(SkillName::new(name).unwrap(), format!("def run():\n    return {name:?}\n"))
    }

    /// Saves `names` concurrently while the test holds the skills store's lock (as
    /// another process would), releasing it once every save waits in the queue;
    /// the versions they were given, in order.
    async fn saved_while_locked(s: &FileStorage, names: &[&str]) -> Vec<u32> {
        let held = Lock::exclusive(&s.skills_dir().join(".skills.lock")).unwrap();
        let tasks: Vec<_> = names
            .iter()
            .map(|name| {
                let (s, skill) = (s.clone(), skill(name));
                tokio::spawn(async move { s.save_skill(&skill).await })
            })
            .collect();
        // A generous bound on a wait that takes milliseconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while s.skill_writes.waiting() < names.len() {
            assert!(std::time::Instant::now() < deadline, "the saves queue up: {}", s.skill_writes.waiting());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(held);
        let mut versions = Vec::new();
        for task in tasks {
            versions.push(task.await.unwrap().unwrap().version);
        }
        versions
    }

    /// Eight writers that queued while the store was locked share one log fsync,
    /// and each write is there, with its own record in the log.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_one_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::open(dir.path()).await.unwrap();
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        assert_eq!(saved_while_locked(&s, &names).await, vec![1; names.len()]);
        assert_eq!(s.log_syncs(), 1, "one fsync for the whole batch");
        let log = std::fs::read(s.skills_dir().join(".skills.log")).unwrap();
        assert_eq!(super::super::wal::parse(&log).0.len(), names.len(), "one record each");
        // Applied: in the files py-code-mode reads, and after a replay from the log.
        let meta = read_meta(&s.skills_dir()).unwrap();
        for name in names {
            assert_eq!(meta[name].version, 1);
            assert!(s.load_skill(&SkillName::new(name).unwrap()).await.unwrap().is_some(), "{name}");
        }
    }

    /// Writes to one skill never share a batch (each is planned against the store
    /// before its batch): concurrent saves of one name get distinct versions, each
    /// replaced one kept in the history.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_saves_of_one_skill_commit_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::open(dir.path()).await.unwrap();
        let mut versions = saved_while_locked(&s, &["x", "x", "y", "x"]).await;
        assert_eq!(versions.remove(2), 1, "y");
        versions.sort_unstable();
        assert_eq!(versions, vec![1, 2, 3]);
        assert_eq!(s.skill_versions(&SkillName::new("x").unwrap()).await.unwrap().len(), 2);
        assert_eq!(s.log_syncs(), 3, "one batch per save of x");
    }

    fn artifact(name: &str) -> (ArtifactName, ArtifactInfo, Vec<u8>) {
        let info = ArtifactInfo {
            name: name.to_owned(),
            description: String::new(),
            kind: crate::model::DataKind::Text,
            size: name.len() as u64,
            created_at: "2026-01-01T00:00:00Z".into(),
            metadata: serde_json::Map::new(),
        };
        (ArtifactName::new(name).unwrap(), info, name.as_bytes().to_vec())
    }

    /// The artifacts' data files under `dir`, by name (the store's dot files left out).
    fn data_files(dir: &Path, prefix: &str, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if name.starts_with('.') {
                continue;
            }
            let full = format!("{prefix}{name}");
            if entry.file_type().unwrap().is_dir() {
                data_files(&entry.path(), &format!("{full}/"), found);
            } else {
                found.push(full);
            }
        }
    }

    /// Eight honest saves queued with hostile names that clash with the store (`x/y`
    /// while `x` is an artifact, `d` while `d/y` is) and with each other in the
    /// queue (`p` and `p/r`, `q/r` and `q`, whichever is planned first wins): every
    /// honest save succeeds and reads back, each hostile one fails alone with a
    /// clear error naming no host path, and the index and the files agree.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_clashing_artifact_name_fails_alone_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::open(dir.path()).await.unwrap();
        for name in ["x", "d/y"] {
            let (name, info, data) = artifact(name);
            s.save_artifact(&name, &info, &data).await.unwrap();
        }
        let honest: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
        let hostile = ["x/y", "d", "p", "p/r", "q/r", "q"];
        let held = Lock::exclusive(&s.artifacts_dir().join(".artifacts.lock")).unwrap();
        let tasks: Vec<_> = honest
            .iter()
            .map(String::as_str)
            .chain(hostile)
            .map(|name| {
                let (s, (name, info, data)) = (s.clone(), artifact(name));
                tokio::spawn(async move { s.save_artifact(&name, &info, &data).await })
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while s.artifact_writes.waiting() < tasks.len() {
            assert!(std::time::Instant::now() < deadline, "the saves queue up");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(held);
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let (honest_results, hostile_results) = results.split_at(honest.len());
        assert!(honest_results.iter().all(Result::is_ok), "{honest_results:?}");
        for name in &honest {
            let read = s.load_artifact(&ArtifactName::new(name).unwrap()).await.unwrap();
            assert_eq!(read.map(|a| a.data), Some(name.as_bytes().to_vec()), "{name}");
        }
        let host = dir.path().to_string_lossy().into_owned();
        let refused = |i: usize, what: &str| match &hostile_results[i] {
            Err(StorageError::Clash(message)) => {
                assert!(message.contains(what) && !message.contains(&host), "{message}");
                true
            }
            Ok(()) => false,
            Err(other) => panic!("{}: {other}", hostile[i]),
        };
        assert!(refused(0, "`x` is an artifact, not a directory"));
        assert!(refused(1, "it is a directory of other artifacts"));
        assert_ne!(refused(2, "`p` cannot"), refused(3, "`p` is an artifact"), "one of p, p/r");
        assert_ne!(refused(4, "`q`"), refused(5, "`q` cannot"), "one of q/r, q");
        // Deleting a directory of artifacts is refused the same way.
        let err = s.delete_artifact(&ArtifactName::new("d").unwrap()).await.unwrap_err();
        assert!(matches!(err, StorageError::Clash(_)), "{err}");
        let mut indexed: Vec<String> =
            read_index(&s.artifacts_dir().join(".artifacts.json")).unwrap().into_keys().collect();
        let mut files = Vec::new();
        data_files(&s.artifacts_dir(), "", &mut files);
        indexed.sort_unstable();
        files.sort_unstable();
        assert_eq!(indexed, files, "the index and the files agree");
        assert_eq!(indexed.len(), honest.len() + 4, "the honest, x, d/y, and one of each hostile pair");
    }
}
