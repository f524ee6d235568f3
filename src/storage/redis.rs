//! The Redis backend: one tenant's data under a key prefix `P`.
//!
//! | data | key | type |
//! |---|---|---|
//! | artifact data | `P:artifacts:<name>` | string (raw bytes) |
//! | artifact index | `P:artifacts:__index__` | hash: name → JSON (py-code-mode's entry format) |
//! | artifact names | `P:artifact-names` | sorted set of the index's names, all scored 0 (for prefix ranges) |
//! | skills | `P:skills:__skills__` | hash: name → JSON `{name, description, source, created_at, signature, scope?}` |
//! | a skill's earlier versions | `P:skills:__versions__:<name>` | list of the same JSON, oldest first (at most 20, 4 MiB) |
//! | skills version | `P:skills:__version__` | counter, bumped by every skill write |
//! | vectors | `P:vectors:<key>` | string (little-endian f32) |
//! | deps | `P:deps` | set of requirement specs |
//! | a session's journal head | `P:sessions:<id>:head` | string (postcard, the session layer's) |
//! | its cells | `P:sessions:<id>:cells` | list, one record per completed cell |
//! | its lease | `P:sessions:<id>:lease` | string: the holder's token, with a `PX` expiry |
//! | its version | `P:sessions:<id>:version` | integer: the counter's value at its last write |
//! | an interrupt asked for | `P:sessions:<id>:interrupt` | string, with a `PX` expiry; cleared by the next claim and by a deletion |
//! | the version counter | `P:sessions:versions` | integer, incremented by every journal write of any session |
//!
//! A session's journal keys expire after the idle TTL given with each write and
//! renewal (`PEXPIRE`), so an abandoned session's journal is deleted by Redis
//! itself. Every journal write runs as one Lua script that first checks the lease
//! holder, so a server that lost its lease (paused past it, partitioned) can never
//! write over the server that took the session over.
//!
//! An artifact is saved or deleted by one Lua script that refuses names nesting
//! into stored ones first (`x/y` while `x` is an artifact, `x` while `x/...` are,
//! as the directory backend must): the ancestors are looked up in the index, the
//! names under `x/` are one lexicographic range of the names set. The set is
//! rebuilt from the index by the script whenever their sizes differ (data stored
//! before it existed, or by py-code-mode, which keeps no such set).
//!
//! Other multi-key writes run in `MULTI`/`EXEC`, so a reader never sees data without its
//! index entry (or the reverse), and a write is reported done only once Redis
//! confirmed the transaction. The connection manager reconnects by itself; while
//! Redis is down every operation fails with [`StorageError::Redis`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{
    Expected, INTERRUPT_LAPSES, IndexEntry, JournalCaps, SavedSkill, SkippedSkill, Storage, StorageError,
    StoredJournal, StoredSkill, decode_vector, encode_vector, requirement_name,
};
use crate::model::{Artifact, ArtifactInfo};
use crate::names::ArtifactName;
use crate::names::{SessionId, SkillName};

/// Storage in Redis under a tenant prefix.
#[derive(Clone)]
pub struct RedisStorage {
    conn: ConnectionManager,
    prefix: String,
    packages: PathBuf,
}

impl std::fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStorage").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn redis_err(op: &'static str) -> impl FnOnce(redis::RedisError) -> StorageError {
    move |source| StorageError::Redis { op, source }
}

fn corrupt(op: &'static str, detail: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt { op, detail: detail.to_string() }
}

impl RedisStorage {
    /// Connects to `url`; keys live under `prefix`, packages install into `packages_dir`.
    pub async fn connect(url: &str, prefix: &str, packages_dir: PathBuf) -> Result<Self, StorageError> {
        if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(StorageError::Config(format!("Redis prefix {prefix:?} must be non-empty, without spaces")));
        }
        let client = redis::Client::open(url).map_err(redis_err("opening the Redis URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_with_config(client, config).await.map_err(redis_err("connecting to Redis"))?;
        std::fs::create_dir_all(&packages_dir).map_err(|source| StorageError::Io {
            op: "creating the packages directory",
            path: packages_dir.clone(),
            source,
        })?;
        Ok(Self { conn, prefix: prefix.to_owned(), packages: packages_dir })
    }

    /// Where a tenant's packages go on this machine when no directory is given:
    /// `<cache>/packages/<hash of url and prefix>` (the URL may hold a password, so
    /// it is hashed rather than spelled out in a path).
    pub fn default_packages_dir(url: &str, prefix: &str) -> PathBuf {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{url}\n{prefix}"));
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        crate::cache_dir::default_cache_dir().unwrap_or_else(std::env::temp_dir).join("packages").join(hex)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// The keys of session `id`'s journal: lease, head, cells, version (a validated
    /// id: no `:` tricks).
    fn journal_keys(&self, id: &SessionId) -> [String; 4] {
        ["lease", "head", "cells", "version"].map(|part| self.key(&format!("sessions:{id}:{part}")))
    }

    /// The key an interrupt of session `id` is asked for under.
    fn interrupt_key(&self, id: &SessionId) -> String {
        self.key(&format!("sessions:{id}:interrupt"))
    }

    /// Runs a fenced journal script on `id`'s keys: `Held` unless `owner` holds the lease.
    async fn fenced(
        &self,
        op: &'static str,
        script: &str,
        id: &SessionId,
        args: &[&[u8]],
        ttl: Option<Duration>,
    ) -> Result<i64, StorageError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("EVAL");
        // One counter for every session: a journal deleted and started anew never
        // takes up a version its earlier history had.
        cmd.arg(script).arg(5).arg(&self.journal_keys(id)).arg(self.key("sessions:versions"));
        for arg in args {
            cmd.arg(*arg);
        }
        cmd.arg(millis(ttl));
        let done: i64 = cmd.query_async(&mut conn).await.map_err(redis_err(op))?;
        match done {
            0 => Err(StorageError::Held(id.clone())),
            -1 => Err(corrupt(op, "the session's journal is gone (it expired or was deleted)")),
            _ => Ok(done),
        }
    }

    /// Appends a cell's record to session `id`'s journal (the [`APPEND`] script),
    /// giving the lease up in the same step with `release`.
    async fn append(
        &self,
        id: &SessionId,
        owner: &str,
        cell: &[u8],
        ttl: Option<Duration>,
        release: bool,
    ) -> Result<u64, StorageError> {
        let release: &[u8] = if release { b"1" } else { b"0" };
        let args = [owner.as_bytes(), cell, release];
        Ok(self.fenced("appending to a session journal", APPEND, id, &args, ttl).await?.unsigned_abs())
    }

    /// The keys an artifact script gets: the index, the names set, the artifact's data.
    fn artifact_keys(&self, name: &ArtifactName) -> [String; 3] {
        [self.key("artifacts:__index__"), self.key("artifact-names"), self.key(&format!("artifacts:{name}"))]
    }

    /// Runs [`WRITE_ARTIFACT`]: saves `name` with its index entry and data, or
    /// deletes it (`save` is `None`); the script's answer, or the clash it refused.
    async fn write_artifact(
        &self,
        op: &'static str,
        name: &ArtifactName,
        save: Option<(&str, &[u8])>,
    ) -> Result<i64, StorageError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(WRITE_ARTIFACT).arg(3).arg(&self.artifact_keys(name)).arg(name.as_str());
        match save {
            Some((entry, data)) => cmd.arg("save").arg(entry).arg(data),
            None => cmd.arg("delete"),
        };
        let (done, ancestor): (i64, String) = cmd.query_async(&mut conn).await.map_err(redis_err(op))?;
        match done {
            -1 => Err(StorageError::clash_under_artifact(name.as_str(), &ancestor)),
            -2 => Err(StorageError::clash_over_artifacts(name.as_str(), save.is_none())),
            done => Ok(done),
        }
    }

    /// The list of a skill's earlier versions (a validated name: no `:` tricks).
    fn versions_key(&self, name: &SkillName) -> String {
        self.key(&format!("skills:__versions__:{name}"))
    }

    /// Saves `skill`, if its entry is still `expected` when given: `None` when not.
    async fn save(&self, skill: &StoredSkill, expected: Option<&Expected>) -> Result<Option<SavedSkill>, StorageError> {
        let mut json = serde_json::to_value(skill).map_err(|e| corrupt("encoding a skill", e))?;
        // The script assigns the number, under Redis's single-threaded execution.
        if let Some(fields) = json.as_object_mut() {
            fields.remove("version");
        }
        let json = serde_json::to_string(&json).map_err(|e| corrupt("encoding a skill", e))?;
        let mut conn = self.conn.clone();
        // One script, so one atomic step: the replaced entry is appended to the
        // history before anything is overwritten, and a refused command (a key of
        // the wrong type) stops the script before its first write.
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SAVE_SKILL)
            .arg(3)
            .arg(self.key("skills:__skills__"))
            .arg(self.versions_key(&skill.name))
            .arg(self.key("skills:__version__"))
            .arg(skill.name.as_str())
            .arg(json)
            .arg(super::MAX_SKILL_VERSIONS)
            .arg(super::MAX_SKILL_HISTORY_BYTES);
        if let Some(expected) = expected {
            cmd.arg(&expected_args(expected));
        }
        let saved: Option<(u32, u8)> = cmd.query_async(&mut conn).await.map_err(redis_err("saving a skill"))?;
        Ok(saved.map(|(version, replaced)| SavedSkill { version, replaced: replaced == 1 }))
    }

    /// Writes `snapshot` in one `MULTI`/`EXEC` transaction: Redis applies all of it
    /// or, if it refuses any command (out of memory, connection lost), none of it.
    /// With `clear`, the kinds present in the snapshot are made to match it exactly:
    /// what is stored and absent from it is deleted in the same transaction.
    pub async fn import(&self, snapshot: &Snapshot, clear: bool) -> Result<Cleared, StorageError> {
        let mut conn = self.conn.clone();
        let (index, skills, deps) = (self.key("artifacts:__index__"), self.key("skills:__skills__"), self.key("deps"));
        let names = self.key("artifact-names");
        let mut cleared = Cleared::default();
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(new) = &snapshot.skills {
            let stored: Vec<String> = conn.hkeys(&skills).await.map_err(redis_err("listing skills"))?;
            if clear {
                pipe.del(&skills).ignore();
                cleared.skills = stored.into_iter().filter(|s| !new.iter().any(|n| n.name == s.as_str())).collect();
            }
            for skill in new {
                let json = serde_json::to_string(skill).map_err(|e| corrupt("encoding a skill", e))?;
                pipe.hset(&skills, skill.name.as_str(), json).ignore();
            }
            pipe.incr(self.key("skills:__version__"), 1).ignore();
        }
        if let Some(new) = &snapshot.artifacts {
            let stored: Vec<String> = conn.hkeys(&index).await.map_err(redis_err("listing artifacts"))?;
            if clear {
                pipe.del(&[&index, &names]).ignore();
                cleared.artifacts = stored.into_iter().filter(|s| !new.iter().any(|(n, _)| n.as_str() == s)).collect();
                for name in &cleared.artifacts {
                    pipe.del(self.key(&format!("artifacts:{name}"))).ignore();
                }
            }
            for (name, artifact) in new {
                let entry = serde_json::to_string(&IndexEntry::new(&artifact.info))
                    .map_err(|e| corrupt("encoding the artifact index", e))?;
                pipe.set(self.key(&format!("artifacts:{name}")), &artifact.data).ignore();
                pipe.hset(&index, name.as_str(), entry).ignore();
                // Kept matching the index, which the artifact scripts read for clashes.
                pipe.zadd(&names, name.as_str(), 0).ignore();
            }
        }
        if let Some(new) = &snapshot.deps {
            let stored: Vec<String> = conn.smembers(&deps).await.map_err(redis_err("reading deps"))?;
            let names: Vec<String> = new.iter().map(|d| requirement_name(d)).collect();
            let stale: Vec<&String> = if clear {
                stored.iter().filter(|d| !new.contains(d)).collect()
            } else {
                // Without clear, a new spec still replaces the one for the same package.
                stored.iter().filter(|d| names.contains(&requirement_name(d)) && !new.contains(d)).collect()
            };
            if clear {
                cleared.deps = stored.iter().filter(|d| !names.contains(&requirement_name(d))).cloned().collect();
            }
            if !stale.is_empty() {
                pipe.srem(&deps, stale).ignore();
            }
            if !new.is_empty() {
                pipe.sadd(&deps, new).ignore();
            }
        }
        pipe.query_async::<()>(&mut conn).await.map_err(redis_err("importing into Redis"))?;
        Ok(cleared)
    }
}

/// Lua: `expected(current, kind, version, created_at)`, whether the skill entry
/// `current` (`false`: none) is the one a conditional write expects ([`Expected`]:
/// kind `absent`, or `stored` with this version and creation time, compared as
/// the skill's serde reading of the entry would see them).
macro_rules! expected_lua {
    () => {
        r#"
local function expected(current, kind, version, created_at)
    if kind == 'absent' then
        return not current
    end
    if not current then
        return false
    end
    local ok, skill = pcall(cjson.decode, current)
    if not ok or type(skill) ~= 'table' then
        return false
    end
    local stored_at = skill.created_at
    if type(stored_at) ~= 'string' then
        stored_at = ''
    end
    return (tonumber(skill.version) or 0) == tonumber(version) and stored_at == created_at
end
"#
    };
}

/// Saves a skill (KEYS: skills hash, its versions list, the version counter; ARGV:
/// name, the skill's JSON without its `version`, most versions kept, most bytes
/// kept, then optionally what it expects to replace as [`expected_args`] gives
/// it), moving the entry it replaces to the history. Returns the version number
/// it gives the skill and 1 if it replaced one (else 0): one more than the entry replaced (which another writer may
/// have stored without one), appended to the JSON here so concurrent saves of one
/// name never share a number. Returns nil, writing nothing, when the entry is not
/// the one expected.
const SAVE_SKILL: &str = concat!(
    expected_lua!(),
    r#"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[5] and not expected(current, ARGV[5], ARGV[6], ARGV[7]) then
    return false
end
local version = 1
if current then
    local ok, decoded = pcall(cjson.decode, current)
    if ok and type(decoded) == 'table' and type(decoded.version) == 'number' then
        version = math.min(math.max(math.floor(decoded.version), 0) + 1, 4294967295)
    end
    redis.call('RPUSH', KEYS[2], current)
    redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
    local kept = redis.call('LRANGE', KEYS[2], 0, -1)
    local total = 0
    for _, entry in ipairs(kept) do total = total + #entry end
    local i = 1
    while total > tonumber(ARGV[4]) and i < #kept do
        redis.call('LPOP', KEYS[2])
        total = total - #kept[i]
        i = i + 1
    end
end
local json = string.sub(ARGV[2], 1, -2) .. ',"version":' .. string.format('%d', version) .. '}'
redis.call('HSET', KEYS[1], ARGV[1], json)
redis.call('INCR', KEYS[3])
return {version, current and 1 or 0}
"#
);

/// Deletes a skill and its history if its entry is the one expected (KEYS: skills
/// hash, its versions list, the version counter; ARGV: name, then [`expected_args`]):
/// 1 if there was one, 0 if not, nil (nothing deleted) when the entry is another.
const DELETE_SKILL_IF: &str = concat!(
    expected_lua!(),
    r"
if not expected(redis.call('HGET', KEYS[1], ARGV[1]), ARGV[2], ARGV[3], ARGV[4]) then
    return false
end
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('INCR', KEYS[3])
return removed
"
);

/// The script arguments saying what a conditional write expects: kind, version,
/// creation time.
fn expected_args(expected: &Expected) -> [String; 3] {
    match expected {
        Expected::Absent => ["absent".into(), String::new(), String::new()],
        Expected::Stored { version, created_at } => ["stored".into(), version.to_string(), created_at.clone()],
    }
}

/// Saves or deletes an artifact (KEYS: the index, the names set, its data; ARGV:
/// name, `save` with the index entry and the data, or `delete`), refusing a name
/// that nests into a stored one: a save under an artifact (`{-1, ancestor}`), a
/// save or a delete of a name artifacts are stored under (`{-2, ''}`); else
/// `{1, ''}` (for a delete, `{0, ''}` if there was nothing). The names set is rebuilt first if
/// it does not match the index in size.
const WRITE_ARTIFACT: &str = r"
local index, names, name = KEYS[1], KEYS[2], ARGV[1]
if redis.call('ZCARD', names) ~= redis.call('HLEN', index) then
    redis.call('DEL', names)
    for _, stored in ipairs(redis.call('HKEYS', index)) do redis.call('ZADD', names, 0, stored) end
end
local stored = redis.call('HEXISTS', index, name) == 1
-- An artifact never has artifacts under it, so only a name that is none is looked
-- under ('/' + 1 is '0': the range is every name starting with `name/`).
if not stored and #redis.call('ZRANGEBYLEX', names, '[' .. name .. '/', '(' .. name .. '0', 'LIMIT', 0, 1) > 0 then
    return {-2, ''}
end
if ARGV[2] == 'delete' then
    redis.call('DEL', KEYS[3])
    redis.call('ZREM', names, name)
    return {redis.call('HDEL', index, name), ''}
end
local slash = string.find(name, '/', 1, true)
while slash do
    local ancestor = string.sub(name, 1, slash - 1)
    if redis.call('HEXISTS', index, ancestor) == 1 then return {-1, ancestor} end
    slash = string.find(name, '/', slash + 1, true)
end
redis.call('SET', KEYS[3], ARGV[4])
redis.call('HSET', index, name, ARGV[3])
redis.call('ZADD', names, 0, name)
return {1, ''}
";

/// Replaces a skill's entry only if it is still the one read (KEYS: skills hash,
/// the version counter; ARGV: name, the JSON read, the new JSON): 1 if replaced.
const REPLACE_SKILL_IF: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
    return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[2])
return 1
";

/// What [`RedisStorage::import`] writes: each kind that is `Some` is written (and,
/// when clearing, made to match exactly); a `None` kind is left as it is.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Skills to store.
    pub skills: Option<Vec<StoredSkill>>,
    /// Artifacts to store, with their data.
    pub artifacts: Option<Vec<(ArtifactName, Artifact)>>,
    /// Requirement specs (already validated) to record.
    pub deps: Option<Vec<String>>,
}

/// What an [`import`](RedisStorage::import) with `clear` deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Skills that were stored and are not in the snapshot.
    pub skills: Vec<String>,
    /// Artifacts likewise.
    pub artifacts: Vec<String>,
    /// Requirements likewise.
    pub deps: Vec<String>,
}

fn to_info(name: String, json: &str) -> Result<ArtifactInfo, StorageError> {
    let entry: IndexEntry = serde_json::from_str(json).map_err(|e| corrupt("reading the artifact index", e))?;
    Ok(entry.into_info(name, |_| 0))
}

#[async_trait::async_trait]
impl Storage for RedisStorage {
    async fn save_artifact(&self, name: &ArtifactName, info: &ArtifactInfo, data: &[u8]) -> Result<(), StorageError> {
        let entry =
            serde_json::to_string(&IndexEntry::new(info)).map_err(|e| corrupt("encoding the artifact index", e))?;
        self.write_artifact("saving an artifact", name, Some((&entry, data))).await.map(|_| ())
    }

    async fn load_artifact(&self, name: &ArtifactName) -> Result<Option<Artifact>, StorageError> {
        let mut conn = self.conn.clone();
        let (entry, data): (Option<String>, Option<Vec<u8>>) = redis::pipe()
            .atomic()
            .hget(self.key("artifacts:__index__"), name.as_str())
            .get(self.key(&format!("artifacts:{name}")))
            .query_async(&mut conn)
            .await
            .map_err(redis_err("loading an artifact"))?;
        let (Some(entry), Some(data)) = (entry, data) else { return Ok(None) };
        let info = to_info(name.as_str().to_owned(), &entry)?;
        Ok(Some(Artifact { info: ArtifactInfo { size: data.len() as u64, ..info }, data }))
    }

    async fn artifact_info(&self, name: &ArtifactName) -> Result<Option<ArtifactInfo>, StorageError> {
        let mut conn = self.conn.clone();
        let entry: Option<String> = conn
            .hget(self.key("artifacts:__index__"), name.as_str())
            .await
            .map_err(redis_err("reading the artifact index"))?;
        entry.map(|entry| to_info(name.as_str().to_owned(), &entry)).transpose()
    }

    async fn list_artifacts(&self) -> Result<Vec<ArtifactInfo>, StorageError> {
        let mut conn = self.conn.clone();
        let index: HashMap<String, String> =
            conn.hgetall(self.key("artifacts:__index__")).await.map_err(redis_err("listing artifacts"))?;
        index.into_iter().map(|(name, entry)| to_info(name, &entry)).collect()
    }

    async fn delete_artifact(&self, name: &ArtifactName) -> Result<bool, StorageError> {
        Ok(self.write_artifact("deleting an artifact", name, None).await? > 0)
    }

    async fn save_skill(&self, skill: &StoredSkill) -> Result<SavedSkill, StorageError> {
        // Unconditional: the script always answers.
        self.save(skill, None).await?.ok_or_else(|| corrupt("saving a skill", "the save script refused it"))
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
        let mut conn = self.conn.clone();
        let read: Option<String> =
            conn.hget(self.key("skills:__skills__"), name.as_str()).await.map_err(redis_err("loading a skill"))?;
        let Some(read) = read else { return Ok(false) };
        let mut skill: StoredSkill = serde_json::from_str(&read).map_err(|e| corrupt("reading a skill", e))?;
        if skill.version != version {
            return Ok(false);
        }
        skill.verification = Some(verification.clone());
        let json = serde_json::to_string(&skill).map_err(|e| corrupt("encoding a skill", e))?;
        // Compare and set: a save between the read and this write wins.
        let replaced: i64 = redis::cmd("EVAL")
            .arg(REPLACE_SKILL_IF)
            .arg(2)
            .arg(self.key("skills:__skills__"))
            .arg(self.key("skills:__version__"))
            .arg(name.as_str())
            .arg(read)
            .arg(json)
            .query_async(&mut conn)
            .await
            .map_err(redis_err("recording a skill's verification"))?;
        Ok(replaced == 1)
    }

    async fn skill_versions(&self, name: &SkillName) -> Result<Vec<StoredSkill>, StorageError> {
        let mut conn = self.conn.clone();
        let entries: Vec<String> =
            conn.lrange(self.versions_key(name), 0, -1).await.map_err(redis_err("reading a skill's versions"))?;
        let mut versions = Vec::with_capacity(entries.len());
        for json in entries {
            let version: StoredSkill =
                serde_json::from_str(&json).map_err(|e| corrupt("reading a skill's versions", e))?;
            // Another writer may have stored anything: only this skill's entries count.
            if version.name == *name {
                versions.push(version);
            }
        }
        Ok(versions)
    }

    async fn load_skill(&self, name: &SkillName) -> Result<Option<StoredSkill>, StorageError> {
        let mut conn = self.conn.clone();
        let json: Option<String> =
            conn.hget(self.key("skills:__skills__"), name.as_str()).await.map_err(redis_err("loading a skill"))?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| corrupt("reading a skill", e))).transpose()
    }

    async fn list_skills(&self) -> Result<Vec<StoredSkill>, StorageError> {
        Ok(self.scan_skills().await?.0)
    }

    async fn scan_skills(&self) -> Result<(Vec<StoredSkill>, Vec<SkippedSkill>), StorageError> {
        let mut conn = self.conn.clone();
        let all: HashMap<String, String> =
            conn.hgetall(self.key("skills:__skills__")).await.map_err(redis_err("listing skills"))?;
        let (mut skills, mut skipped) = (Vec::new(), Vec::new());
        for (field, json) in all {
            // Another writer (py-code-mode, a person with redis-cli) may have stored anything.
            match serde_json::from_str::<StoredSkill>(&json) {
                Ok(skill) if skill.name == field.as_str() => skills.push(skill),
                Ok(skill) => skipped.push(SkippedSkill {
                    entry: crate::text::shown(&field),
                    reason: format!("it holds a skill named {:?}", skill.name.as_str()),
                }),
                Err(e) => skipped.push(SkippedSkill {
                    entry: crate::text::shown(&field),
                    reason: format!("stored data is corrupt: {e}"),
                }),
            }
        }
        Ok((skills, skipped))
    }

    async fn delete_skill(&self, name: &SkillName) -> Result<bool, StorageError> {
        let mut conn = self.conn.clone();
        let (removed,): (u64,) = redis::pipe()
            .atomic()
            .hdel(self.key("skills:__skills__"), name.as_str())
            // py-code-mode users expect delete to delete: the history goes too.
            .del(self.versions_key(name))
            .ignore()
            .incr(self.key("skills:__version__"), 1)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(redis_err("deleting a skill"))?;
        Ok(removed > 0)
    }

    async fn delete_skill_if(&self, name: &SkillName, expected: &Expected) -> Result<Option<bool>, StorageError> {
        let mut conn = self.conn.clone();
        let removed: Option<u8> = redis::cmd("EVAL")
            .arg(DELETE_SKILL_IF)
            .arg(3)
            .arg(self.key("skills:__skills__"))
            .arg(self.versions_key(name))
            .arg(self.key("skills:__version__"))
            .arg(name.as_str())
            .arg(&expected_args(expected))
            .query_async(&mut conn)
            .await
            .map_err(redis_err("deleting a skill"))?;
        Ok(removed.map(|removed| removed == 1))
    }

    async fn skills_version(&self) -> Result<Option<String>, StorageError> {
        let mut conn = self.conn.clone();
        // Writers that do not bump the version (py-code-mode itself) leave none: re-read.
        let version: Option<u64> =
            conn.get(self.key("skills:__version__")).await.map_err(redis_err("reading the skills version"))?;
        Ok(version.map(|v| v.to_string()))
    }

    async fn save_vector(&self, key: &str, vector: &[f32]) -> Result<(), StorageError> {
        let mut conn = self.conn.clone();
        conn.set::<_, _, ()>(self.key(&format!("vectors:{key}")), encode_vector(vector))
            .await
            .map_err(redis_err("saving a vector"))
    }

    async fn load_vectors(&self, keys: &[String]) -> Result<Vec<Option<Vec<f32>>>, StorageError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let full: Vec<String> = keys.iter().map(|k| self.key(&format!("vectors:{k}"))).collect();
        let raw: Vec<Option<Vec<u8>>> =
            redis::cmd("MGET").arg(&full).query_async(&mut conn).await.map_err(redis_err("loading vectors"))?;
        raw.into_iter().map(|bytes| bytes.map(|b| decode_vector(&b)).transpose()).collect()
    }

    async fn add_dep(&self, name: &str, spec: &str) -> Result<(), StorageError> {
        let key = self.key("deps");
        let mut conn = self.conn.clone();
        let existing: Vec<String> = conn.smembers(&key).await.map_err(redis_err("reading deps"))?;
        let stale: Vec<&String> = existing.iter().filter(|d| requirement_name(d) == name && *d != spec).collect();
        let mut pipe = redis::pipe();
        pipe.atomic();
        if !stale.is_empty() {
            pipe.srem(&key, stale).ignore();
        }
        pipe.sadd(&key, spec).ignore();
        pipe.query_async::<()>(&mut conn).await.map_err(redis_err("adding a dep"))
    }

    async fn remove_dep(&self, name: &str) -> Result<bool, StorageError> {
        let key = self.key("deps");
        let mut conn = self.conn.clone();
        let existing: Vec<String> = conn.smembers(&key).await.map_err(redis_err("reading deps"))?;
        let matching: Vec<&String> = existing.iter().filter(|d| requirement_name(d) == name).collect();
        if matching.is_empty() {
            return Ok(false);
        }
        let removed: u64 = conn.srem(&key, matching).await.map_err(redis_err("removing a dep"))?;
        Ok(removed > 0)
    }

    async fn list_deps(&self) -> Result<Vec<String>, StorageError> {
        let mut conn = self.conn.clone();
        let mut deps: Vec<String> = conn.smembers(self.key("deps")).await.map_err(redis_err("listing deps"))?;
        deps.sort();
        Ok(deps)
    }

    async fn claim_session(&self, id: &SessionId, owner: &str, lease: Duration) -> Result<bool, StorageError> {
        let mut conn = self.conn.clone();
        let [lease_key, ..] = self.journal_keys(id);
        let claimed: i64 = redis::cmd("EVAL")
            .arg(CLAIM)
            .arg(1)
            .arg(lease_key)
            .arg(owner)
            .arg(millis(Some(lease)))
            .query_async(&mut conn)
            .await
            .map_err(redis_err("taking a session's lease"))?;
        Ok(claimed == 1)
    }

    async fn renew_session(
        &self,
        id: &SessionId,
        owner: &str,
        lease: Duration,
        ttl: Option<Duration>,
    ) -> Result<bool, StorageError> {
        let lease = millis(Some(lease)).to_string();
        match self.fenced("renewing a session's lease", RENEW, id, &[owner.as_bytes(), lease.as_bytes()], ttl).await {
            Ok(_) => Ok(true),
            Err(StorageError::Held(_)) => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn release_session(&self, id: &SessionId, owner: &str) -> Result<(), StorageError> {
        let mut conn = self.conn.clone();
        let [lease_key, ..] = self.journal_keys(id);
        redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(lease_key)
            .arg(owner)
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err("releasing a session's lease"))
    }

    async fn begin_journal(
        &self,
        id: &SessionId,
        owner: &str,
        head: &[u8],
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        let version = self.fenced("starting a session journal", BEGIN, id, &[owner.as_bytes(), head], ttl).await?;
        Ok(version.unsigned_abs())
    }

    async fn append_journal(
        &self,
        id: &SessionId,
        owner: &str,
        cell: &[u8],
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        self.append(id, owner, cell, ttl, false).await
    }

    async fn append_journal_and_release(
        &self,
        id: &SessionId,
        owner: &str,
        cell: &[u8],
        ttl: Option<Duration>,
    ) -> Result<u64, StorageError> {
        self.append(id, owner, cell, ttl, true).await
    }

    async fn journal_version(&self, id: &SessionId) -> Result<u64, StorageError> {
        let mut conn = self.conn.clone();
        let [.., version] = self.journal_keys(id);
        let version: Option<u64> =
            conn.get(&version).await.map_err(redis_err("reading a session journal's version"))?;
        Ok(version.unwrap_or(0))
    }

    async fn load_journal(&self, id: &SessionId, caps: JournalCaps) -> Result<Option<StoredJournal>, StorageError> {
        const OP: &str = "loading a session journal";
        let mut conn = self.conn.clone();
        let [_, head_key, cells_key, _] = self.journal_keys(id);
        // Sizes first: nothing past the caps is fetched.
        let (head_len, count): (usize, usize) =
            redis::pipe().strlen(&head_key).llen(&cells_key).query_async(&mut conn).await.map_err(redis_err(OP))?;
        caps.check(head_len, count)?;
        let head: Option<Vec<u8>> = conn.get(&head_key).await.map_err(redis_err(OP))?;
        let Some(head) = head else { return Ok(None) };
        let mut bytes = head.len();
        let mut cells = Vec::with_capacity(count);
        // In pages, the running total checked after each.
        const PAGE: usize = 256;
        loop {
            let start = cells.len();
            let stop = start + PAGE - 1;
            let page: Vec<Vec<u8>> =
                conn.lrange(&cells_key, start as isize, stop as isize).await.map_err(redis_err(OP))?;
            let last = page.len() < PAGE;
            bytes += page.iter().map(Vec::len).sum::<usize>();
            cells.extend(page);
            caps.check(bytes, cells.len())?;
            if last {
                break;
            }
        }
        Ok(Some(StoredJournal { head, cells }))
    }

    async fn delete_journal(&self, id: &SessionId) -> Result<bool, StorageError> {
        let mut conn = self.conn.clone();
        let [lease, head, cells, version] = self.journal_keys(id);
        let (removed,): (u64,) = redis::pipe()
            .atomic()
            .del(&head)
            .del(&[lease, cells, version, self.interrupt_key(id)])
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(redis_err("deleting a session journal"))?;
        Ok(removed > 0)
    }

    async fn claim_session_version(
        &self,
        id: &SessionId,
        owner: &str,
        lease: Duration,
        ttl: Option<Duration>,
    ) -> Result<Option<u64>, StorageError> {
        let mut conn = self.conn.clone();
        let version: i64 = redis::cmd("EVAL")
            .arg(CLAIM_VERSION)
            .arg(5)
            .arg(&self.journal_keys(id))
            .arg(self.interrupt_key(id))
            .arg(owner)
            .arg(millis(Some(lease)))
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(redis_err("taking a session's lease"))?;
        Ok(u64::try_from(version).ok())
    }

    async fn request_interrupt(&self, id: &SessionId) -> Result<bool, StorageError> {
        let mut conn = self.conn.clone();
        let [lease, ..] = self.journal_keys(id);
        let asked: i64 = redis::cmd("EVAL")
            .arg(INTERRUPT)
            .arg(2)
            .arg(lease)
            .arg(self.interrupt_key(id))
            .arg(millis(Some(INTERRUPT_LAPSES)))
            .query_async(&mut conn)
            .await
            .map_err(redis_err("asking for a session's interrupt"))?;
        Ok(asked == 1)
    }

    async fn interrupt_requested(&self, id: &SessionId) -> Result<bool, StorageError> {
        let mut conn = self.conn.clone();
        conn.exists(self.interrupt_key(id)).await.map_err(redis_err("reading a session's interrupt"))
    }

    async fn interrupts_requested(&self, ids: &[SessionId]) -> Result<Vec<bool>, StorageError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let keys: Vec<String> = ids.iter().map(|id| self.interrupt_key(id)).collect();
        // One command for every id: what a process's poll costs, however many runs it serves.
        // MGET spelled out: the client's `mget` sends a GET for a single key, whose
        // answer is no list.
        let flags: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(redis_err("reading sessions' interrupts"))?;
        Ok(flags.iter().map(Option::is_some).collect())
    }

    fn packages_dir(&self) -> &Path {
        &self.packages
    }
}

// Leases and interrupts are written with `redis.set_repl(redis.REPL_NONE)`: neither
// goes to the append-only file nor to replicas. Both lapse by themselves, and with
// `appendfsync always` every script that writes the file waits for an fsync: a warm
// durable request would wait for three (claim, append, release) where one carries
// what must survive, the cell. A Redis restart or a failover forgets them, which is
// a lapse: every journal write is fenced by the lease, so a holder that lost its
// lease that way stores nothing more.

/// Lua: `lasting(ttl)` is how long a journal is kept past a use: `ttl` ms plus a
/// tenth. `keep(ttl)` keeps a journal (KEYS[2..4]) that long again once less than
/// `ttl` is left, replicated (to the append-only file too): a use within a tenth of
/// the TTL of the last written expiry writes nothing, so a request that stores
/// nothing rarely waits for an fsync, and the expiry a restart reads is always the
/// primary's, at least the TTL after the last use. Leaves replication off.
macro_rules! journal_expiry {
    () => {
        r"
local function lasting(ttl) return ttl + math.floor(ttl / 10) end
local function keep(ttl)
  if ttl == 0 or redis.call('PTTL', KEYS[2]) >= ttl then return end
  redis.set_repl(redis.REPL_ALL)
  for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], lasting(ttl)) end
  redis.set_repl(redis.REPL_NONE)
end
"
    };
}

/// KEYS: lease, head, cells, version, interrupt. ARGV: owner, lease ms, ttl ms (0:
/// none). Takes a free lease (or renews one's own), clears an earlier interrupt,
/// keeps the journal for the TTL; returns the journal's version (0: none), -1 if
/// another owner holds the lease.
const CLAIM_VERSION: &str = concat!(
    journal_expiry!(),
    r"
redis.set_repl(redis.REPL_NONE)
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[5])
keep(tonumber(ARGV[3]))
return tonumber(redis.call('GET', KEYS[4]) or '0')"
);

/// KEYS: lease, interrupt. ARGV: lapse ms. Asks the holder to stop, if any.
const INTERRUPT: &str = r"
redis.set_repl(redis.REPL_NONE)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return 1";

/// A duration as whole milliseconds for `PX`/`PEXPIRE` (at least 1); `0`: none.
fn millis(duration: Option<Duration>) -> u64 {
    duration.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
}

/// KEYS: lease. ARGV: owner, lease ms. Takes a free lease, or renews one's own.
const CLAIM: &str = r"
redis.set_repl(redis.REPL_NONE)
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0";

/// KEYS: lease. ARGV: owner.
const RELEASE: &str = r"
redis.set_repl(redis.REPL_NONE)
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1";

/// KEYS: lease, head, cells, version, counter. ARGV: owner, lease ms, ttl ms (0: none).
const RENEW: &str = concat!(
    journal_expiry!(),
    r"
redis.set_repl(redis.REPL_NONE)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
keep(tonumber(ARGV[3]))
return 1"
);

/// KEYS: lease, head, cells, version, counter. ARGV: owner, head, ttl ms (0: none).
/// Returns the new version.
const BEGIN: &str = concat!(
    journal_expiry!(),
    r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3])
local version = redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[4], version)
local ttl = tonumber(ARGV[3])
if ttl ~= 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', lasting(ttl)) redis.call('PEXPIRE', KEYS[4], lasting(ttl))
else
  redis.call('SET', KEYS[2], ARGV[2])
end
return version"
);

/// KEYS: lease, head, cells, version, counter. ARGV: owner, cell, release ('1': give
/// the lease up once the cell is stored), ttl ms (0: none). Returns the new version.
const APPEND: &str = concat!(
    journal_expiry!(),
    r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
redis.call('RPUSH', KEYS[3], ARGV[2])
local version = redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[4], version)
local ttl = tonumber(ARGV[4])
if ttl ~= 0 then
  for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], lasting(ttl)) end
end
if ARGV[3] == '1' then
  redis.set_repl(redis.REPL_NONE)
  redis.call('DEL', KEYS[1])
end
return version"
);
