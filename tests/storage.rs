//! The storage conformance suite, run against both backends: a directory and a real
//! `redis-server` the test starts. Plus each backend's own failure modes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use codemode::artifacts::{ArtifactError, Artifacts, DEFAULT_MAX_ARTIFACT_SIZE, DataKind};
use codemode::names::SessionId;
use codemode::storage::{Expected, FileStorage, JournalCaps, RedisStorage, Storage, StorageError, StoredSkill};
use common::RedisServer;
use serde_json::{Map, Value, json};

/// Opens the same store again, as a new process would.
type Reopen = Box<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Arc<dyn Storage>>>>>;

/// A backend under test, plus whatever keeps it alive.
struct Backend {
    storage: Arc<dyn Storage>,
    _dir: tempfile::TempDir,
    _redis: Option<RedisServer>,
    reopen: Reopen,
}

async fn file_backend() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let storage = Arc::new(FileStorage::open(&path).await.unwrap());
    let reopen = Box::new(move || {
        let path = path.clone();
        Box::pin(async move { Arc::new(FileStorage::open(&path).await.unwrap()) as Arc<dyn Storage> }) as _
    });
    Backend { storage, _dir: dir, _redis: None, reopen }
}

async fn redis_backend() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let (url, packages) = (redis.url(), dir.path().join("packages"));
    let storage = Arc::new(RedisStorage::connect(&url, "tenant", packages.clone()).await.unwrap());
    let reopen = Box::new(move || {
        let (url, packages) = (url.clone(), packages.clone());
        Box::pin(
            async move { Arc::new(RedisStorage::connect(&url, "tenant", packages).await.unwrap()) as Arc<dyn Storage> },
        ) as _
    });
    Backend { storage, _dir: dir, _redis: Some(redis), reopen }
}

fn meta(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

async fn round_trips_each_kind(b: Backend) {
    let artifacts = Artifacts::new(b.storage.clone(), DEFAULT_MAX_ARTIFACT_SIZE);
    let cases: [(&str, &[u8], DataKind); 4] = [
        ("data.json", br#"{"a": [1, 2]}"#, DataKind::Json),
        ("notes.txt", "héllo\n".as_bytes(), DataKind::Text),
        ("blob.bin", &[0, 159, 146, 150, 255], DataKind::Bytes),
        ("scans/2024/nmap.json", b"[]", DataKind::Json),
    ];
    for (name, data, kind) in cases {
        let info = artifacts.save(name, data.to_vec(), kind, "desc", meta(json!({"k": name}))).await.unwrap();
        assert_eq!((info.size, info.kind), (data.len() as u64, kind));
    }
    // A fresh connection or process sees the same.
    let artifacts = Artifacts::new((b.reopen)().await, DEFAULT_MAX_ARTIFACT_SIZE);
    for (name, data, kind) in cases {
        let loaded = artifacts.load(name).await.unwrap();
        assert_eq!(loaded.data, data, "{name}");
        assert_eq!(loaded.info.kind, kind, "{name}");
        assert_eq!(loaded.info.description, "desc");
        assert_eq!(loaded.info.metadata, meta(json!({"k": name})), "metadata is given back without internals");
        assert!(loaded.info.created_at.ends_with("+00:00"), "{}", loaded.info.created_at);
    }
    let names: Vec<_> = artifacts.list().await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["blob.bin", "data.json", "notes.txt", "scans/2024/nmap.json"]);
}

async fn overwrite_replaces(b: Backend) {
    let artifacts = Artifacts::new(b.storage, DEFAULT_MAX_ARTIFACT_SIZE);
    artifacts.save("x", b"one".to_vec(), DataKind::Text, "first", Map::new()).await.unwrap();
    artifacts.save("x", b"[2]".to_vec(), DataKind::Json, "second", Map::new()).await.unwrap();
    let loaded = artifacts.load("x").await.unwrap();
    assert_eq!((loaded.data.as_slice(), loaded.info.kind), (b"[2]".as_slice(), DataKind::Json));
    assert_eq!(loaded.info.description, "second");
    assert_eq!(artifacts.list().await.unwrap().len(), 1);
}

async fn delete_and_missing(b: Backend) {
    let artifacts = Artifacts::new(b.storage, DEFAULT_MAX_ARTIFACT_SIZE);
    assert!(!artifacts.delete("never-saved").await.unwrap());
    assert!(matches!(artifacts.load("never-saved").await, Err(ArtifactError::NotFound(_))));
    assert!(artifacts.info("never-saved").await.unwrap().is_none());
    artifacts.save("d/x.txt", b"x".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    assert!(artifacts.exists("d/x.txt").await.unwrap());
    assert!(artifacts.delete("d/x.txt").await.unwrap());
    assert!(!artifacts.exists("d/x.txt").await.unwrap());
    assert!(artifacts.list().await.unwrap().is_empty());
}

/// Names that nest into stored ones are refused alike by both backends (a file
/// cannot be a directory too): `x/y` while `x` is an artifact, `a` while `a/b` is,
/// and deleting `a`, which is no artifact but holds one. Each refusal is a
/// `Clash` naming artifacts only, and loses nothing stored; once `a/b` is deleted,
/// `a` is free.
async fn nesting_artifact_names_are_refused(b: Backend) {
    let artifacts = Artifacts::new(b.storage, DEFAULT_MAX_ARTIFACT_SIZE);
    let save = |name: &'static str, data: &'static str| {
        artifacts.save(name, data.as_bytes().to_vec(), DataKind::Text, "", Map::new())
    };
    let clash = |result: Result<_, ArtifactError>| match result {
        Err(ArtifactError::Storage(StorageError::Clash(message))) => message,
        other => panic!("expected a clash, got {other:?}"),
    };
    save("x", "x").await.unwrap();
    let message = clash(save("x/y", "y").await.map(|_| ()));
    assert_eq!(message, "artifact `x/y` cannot be saved: `x` is an artifact, not a directory");
    let message = clash(save("x/y/z", "z").await.map(|_| ()));
    assert!(message.contains("`x` is an artifact"), "{message}");
    save("a/b", "b").await.unwrap();
    let message = clash(save("a", "a").await.map(|_| ()));
    assert_eq!(message, "artifact `a` cannot be saved: it is a directory of other artifacts (`a/...`)");
    let message = clash(artifacts.delete("a").await.map(|_| ()));
    assert_eq!(message, "artifact `a` cannot be deleted: it is a directory of other artifacts (`a/...`)");
    // Names that only share a beginning are no clash.
    for name in ["xy", "x.y", "a.b", "ab/c"] {
        save(name, name).await.unwrap();
    }
    let mut names: Vec<String> = artifacts.list().await.unwrap().into_iter().map(|i| i.name).collect();
    names.sort();
    assert_eq!(names, ["a.b", "a/b", "ab/c", "x", "x.y", "xy"], "nothing refused was stored");
    assert_eq!(artifacts.load("x").await.unwrap().data, b"x", "nothing stored was lost");
    assert_eq!(artifacts.load("a/b").await.unwrap().data, b"b");
    assert!(!artifacts.exists("x/y").await.unwrap());

    assert!(artifacts.delete("a/b").await.unwrap());
    save("a", "now a file").await.unwrap();
    assert_eq!(artifacts.load("a").await.unwrap().data, b"now a file");
    assert!(artifacts.delete("x").await.unwrap());
    save("x/y", "y").await.unwrap();
    assert_eq!(artifacts.load("x/y").await.unwrap().data, b"y");
}

const HOSTILE_NAMES: &[&str] = &[
    "",
    "..",
    ".",
    "../escape",
    "a/../../escape",
    "a/../b",
    "./a",
    "/etc/passwd",
    "//server/share",
    "a\\b",
    "..\\..\\windows",
    "C:/windows",
    "c:evil",
    "a\0b",
    "a//b",
    "dir/",
    ".artifacts.json",
    "a/.hidden",
    "__index__",
    "line\nbreak",
    "tab\there",
];

async fn hostile_names_are_rejected(b: Backend) {
    let artifacts = Artifacts::new(b.storage, DEFAULT_MAX_ARTIFACT_SIZE);
    artifacts.save("keep", b"safe".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    let long = "x".repeat(2000);
    let long_segment = format!("a/{}", "y".repeat(300));
    for name in HOSTILE_NAMES.iter().copied().chain([long.as_str(), long_segment.as_str()]) {
        let saved = artifacts.save(name, b"evil".to_vec(), DataKind::Text, "", Map::new()).await;
        assert!(matches!(saved, Err(ArtifactError::InvalidName { .. })), "save {name:?}: {saved:?}");
        assert!(matches!(artifacts.load(name).await, Err(ArtifactError::InvalidName { .. })), "load {name:?}");
        assert!(matches!(artifacts.delete(name).await, Err(ArtifactError::InvalidName { .. })), "delete {name:?}");
        assert!(matches!(artifacts.info(name).await, Err(ArtifactError::InvalidName { .. })), "info {name:?}");
    }
    // Nothing was written, nothing already stored was lost.
    let list = artifacts.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(artifacts.load("keep").await.unwrap().data, b"safe");
}

async fn size_cap_and_invalid_data(b: Backend) {
    let artifacts = Artifacts::new(b.storage, 1000);
    assert!(artifacts.save("fits", vec![1; 1000], DataKind::Bytes, "", Map::new()).await.is_ok());
    let err = artifacts.save("big", vec![1; 1001], DataKind::Bytes, "", Map::new()).await.unwrap_err();
    assert!(err.to_string().contains("1001 bytes, over the 1000-byte limit"), "{err}");
    let err = artifacts.save("bad.json", b"{nope".to_vec(), DataKind::Json, "", Map::new()).await.unwrap_err();
    assert!(matches!(err, ArtifactError::InvalidData { .. }), "{err}");
    let err = artifacts.save("bad.txt", vec![0xff, 0xfe], DataKind::Text, "", Map::new()).await.unwrap_err();
    assert!(matches!(err, ArtifactError::InvalidData { .. }), "{err}");
    let names: Vec<_> = artifacts.list().await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["fits"]);
}

async fn skills_vectors_and_deps(b: Backend) {
    let s = &b.storage;
    let skill = StoredSkill {
        name: skill_name("greet"),
        description: "Say hello, with a description that is not in the docstring".into(),
        source: "def run(name: str) -> str:\n    return f'hi {name}'\n".into(),
        created_at: "2026-01-01T00:00:00+00:00".into(),
        signature: Some(codemode::SkillSignature {
            needs: None,
            is_async: false,
            params: vec![codemode::Param {
                name: "name".into(),
                type_name: Some("str".into()),
                required: true,
                default: None,
            }],
            docstring: String::new(),
        }),
        // Saved by a restricted session: the scope survives a reopen (a wider
        // session must still know not to trust it).
        scope: Some(codemode::model::Allow { tools: Some(vec!["curl".into()]), skills: None }),
        version: 3,
        examples: Vec::new(),
        verification: None,
    };
    let v0 = s.skills_version().await.unwrap();
    s.save_skill(&skill).await.unwrap();
    let v1 = s.skills_version().await.unwrap();
    assert!(v1.is_some() && v1 != v0, "saving a skill changes the version");
    s.save_skill(&StoredSkill { name: skill_name("other"), ..skill.clone() }).await.unwrap();
    assert_ne!(s.skills_version().await.unwrap(), v1);
    let reopened = (b.reopen)().await;
    // The store numbers versions itself: a first save is version 1, whatever it was given.
    let skill = StoredSkill { version: 1, ..skill };
    assert_eq!(
        reopened.load_skill(&skill_name("greet")).await.unwrap(),
        Some(skill.clone()),
        "description survives a restart"
    );
    let mut names: Vec<_> = reopened.list_skills().await.unwrap().into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, ["greet", "other"]);
    let before_delete = reopened.skills_version().await.unwrap();
    assert_eq!(s.skills_version().await.unwrap(), before_delete, "a version is stable while nothing changes");
    assert!(reopened.delete_skill(&skill_name("other")).await.unwrap());
    assert_ne!(s.skills_version().await.unwrap(), before_delete);
    assert!(!reopened.delete_skill(&skill_name("other")).await.unwrap());
    assert_eq!(reopened.load_skill(&skill_name("other")).await.unwrap(), None);

    s.save_vector("abc123", &[0.5, -1.25, 3.0]).await.unwrap();
    let loaded = reopened.load_vectors(&["abc123".into(), "missing".into()]).await.unwrap();
    assert_eq!(loaded, [Some(vec![0.5, -1.25, 3.0]), None]);

    s.add_dep("six", "six").await.unwrap();
    s.add_dep("tabulate", "tabulate>=0.9").await.unwrap();
    s.add_dep("tabulate", "tabulate==0.10.0").await.unwrap();
    assert_eq!(reopened.list_deps().await.unwrap(), ["six", "tabulate==0.10.0"]);
    assert!(reopened.remove_dep("six").await.unwrap());
    assert!(!reopened.remove_dep("six").await.unwrap());
    assert_eq!(reopened.list_deps().await.unwrap(), ["tabulate==0.10.0"]);
}

/// What a skill calls, read by the sandbox when it is saved, survives a reopen of
/// the store (and the source stays a plain `.py` file for py-code-mode).
async fn skill_needs_survive_a_reopen(b: Backend) {
    let source =
        "def run(q: str):\n    rows = tools.jq.query(filter=q)\n    return skills.invoke('pluck', document=rows)\n";
    let library = codemode::skills::SkillLibrary::new(b.storage.clone(), codemode::Sandbox::shared());
    let (info, _) = library.create("report", source, None).await.unwrap();
    let expected = codemode::model::Needs { tools: vec!["jq".into()], skills: vec!["pluck".into()] };
    assert_eq!(info.needs, expected);
    let reopened = (b.reopen)().await;
    let stored = reopened.load_skill(&skill_name("report")).await.unwrap().unwrap();
    assert_eq!(stored.source, source);
    assert_eq!(stored.signature.unwrap().needs, Some(expected.clone()));
    let library = codemode::skills::SkillLibrary::new(reopened, codemode::Sandbox::shared());
    let got = library.get("report").await.unwrap();
    assert_eq!(got.info.needs, expected);
    // `pluck` is not in this store: the skill says so.
    assert_eq!(got.info.unavailable.as_deref(), Some("this session has no skill \"pluck\""));
}

macro_rules! conformance {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::$case(super::$backend().await).await;
                }
            )*
        }
    };
}

/// A session's journal: a lease one owner holds at a time (in this process or
/// another), fenced writes, appends that are never rewrites, capped loads, deletion.
async fn session_journals(b: Backend) {
    use std::time::Duration;
    let s = &b.storage;
    let id = SessionId::new("s-1").unwrap();
    let caps = JournalCaps { max_bytes: 1 << 20, max_cells: 100 };
    let lease = Duration::from_secs(30);
    assert_eq!(s.load_journal(&id, caps).await.unwrap(), None);
    assert!(s.claim_session(&id, "a", lease).await.unwrap());
    assert!(!s.claim_session(&id, "b", lease).await.unwrap(), "a second owner while the first holds it");
    assert!(s.claim_session(&id, "a", lease).await.unwrap(), "the holder takes it again");
    // Another process on the same store sees it held.
    let other = (b.reopen)().await;
    assert!(!other.claim_session(&id, "c", lease).await.unwrap());
    // Appending needs a journal begun, and every write needs the lease.
    assert!(matches!(s.append_journal(&id, "a", b"c0", None).await, Err(StorageError::Corrupt { .. })));
    assert_eq!(s.journal_version(&id).await.unwrap(), 0, "nothing stored: version 0");
    // Every write gives a new version, which every process reads back.
    let mut versions = vec![s.begin_journal(&id, "a", b"head-1", None).await.unwrap()];
    for cell in [&b"c1"[..], b"c2"] {
        versions.push(s.append_journal(&id, "a", cell, Some(Duration::from_secs(60))).await.unwrap());
    }
    assert_eq!(other.journal_version(&id).await.unwrap(), versions[2]);
    versions.dedup();
    assert_eq!(versions.len(), 3, "each write changed the version: {versions:?}");
    assert!(!versions.contains(&0));
    assert!(matches!(s.append_journal(&id, "b", b"x", None).await, Err(StorageError::Held(_))));
    assert!(matches!(s.begin_journal(&id, "b", b"x", None).await, Err(StorageError::Held(_))));
    let stored = other.load_journal(&id, caps).await.unwrap().unwrap();
    assert_eq!((stored.head.as_slice(), stored.cells), (&b"head-1"[..], vec![b"c1".to_vec(), b"c2".to_vec()]));
    // Past the caps: an error before anything is decoded, never a panic.
    for small in [JournalCaps { max_cells: 1, ..caps }, JournalCaps { max_bytes: 5, ..caps }] {
        assert!(matches!(s.load_journal(&id, small).await, Err(StorageError::Corrupt { .. })), "{small:?}");
    }
    // A new history drops the cells.
    s.begin_journal(&id, "a", b"head-2", None).await.unwrap();
    assert_eq!(s.load_journal(&id, caps).await.unwrap().unwrap().cells, Vec::<Vec<u8>>::new());
    assert!(s.renew_session(&id, "a", lease, Some(Duration::from_secs(60))).await.unwrap());
    assert!(!s.renew_session(&id, "b", lease, None).await.unwrap());
    // Released: another owner may take it, and the first is fenced out.
    s.release_session(&id, "b").await.unwrap();
    assert!(!other.claim_session(&id, "c", lease).await.unwrap(), "a non-holder cannot release it");
    s.release_session(&id, "a").await.unwrap();
    assert!(other.claim_session(&id, "c", lease).await.unwrap());
    assert!(matches!(s.append_journal(&id, "a", b"x", None).await, Err(StorageError::Held(_))));
    assert!(other.delete_journal(&id).await.unwrap());
    assert_eq!(s.load_journal(&id, caps).await.unwrap(), None);
    assert_eq!(s.journal_version(&id).await.unwrap(), 0);
    assert!(!other.delete_journal(&id).await.unwrap());
}

/// An interrupt asked through another handle (as another process would) reaches
/// the lease's holder only: none is asked while nobody holds it; one asked is seen
/// for that id alone, in one read for many ids; the next claim and a deletion
/// clear it.
async fn interrupts_reach_the_holder(b: Backend) {
    let s = &b.storage;
    let other = (b.reopen)().await;
    let (id, idle) = (SessionId::random(), SessionId::random());
    let lease = std::time::Duration::from_secs(30);
    assert!(!other.request_interrupt(&id).await.unwrap(), "nobody holds it");
    assert_eq!(s.interrupts_requested(&[id.clone(), idle.clone()]).await.unwrap(), [false, false]);
    assert!(s.claim_session_version(&id, "holder", lease, None).await.unwrap().is_some());
    assert!(other.request_interrupt(&id).await.unwrap(), "held by another process");
    assert!(s.request_interrupt(&id).await.unwrap(), "held by this one");
    assert_eq!(s.interrupts_requested(&[idle.clone(), id.clone()]).await.unwrap(), [false, true]);
    assert!(other.interrupt_requested(&id).await.unwrap());
    assert!(s.interrupts_requested(&[]).await.unwrap().is_empty());
    s.release_session(&id, "holder").await.unwrap();
    assert!(!other.request_interrupt(&id).await.unwrap(), "given back: nobody holds it");
    // Asked for the run that held it: the next claim clears it.
    assert!(other.claim_session_version(&id, "next", lease, None).await.unwrap().is_some());
    assert_eq!(s.interrupts_requested(std::slice::from_ref(&id)).await.unwrap(), [false]);
    assert!(s.request_interrupt(&id).await.unwrap());
    other.delete_journal(&id).await.unwrap();
    assert!(!s.interrupt_requested(&id).await.unwrap(), "deleted with its journal");
}

/// A session that lost its lease while another process took the session over,
/// ran a cell and let it go never stores its older history over the newer one:
/// its next run is refused (`Superseded`, the cell not run) and the stored
/// journal stays the newer one, which the other process resumes.
async fn a_stale_holder_never_overwrites_a_newer_history(b: Backend) {
    use codemode::{Session, SessionError};
    let id = SessionId::new("taken-over").unwrap();
    let lease = std::time::Duration::from_millis(300);
    let stale = Session::builder().storage(b.storage.clone()).durable(id.clone(), None).lease(lease);
    let stale = stale.build().await.unwrap();
    assert!(stale.run("x = 'first'").await.unwrap().is_ok());
    // Its lease gone (as when its process pauses past it), another process starts
    // the session anew under the same id, runs a cell and lets it go.
    b.storage.delete_journal(&id).await.unwrap();
    let other = (b.reopen)().await;
    let newer = Session::builder().storage(other.clone()).durable(id.clone(), None).lease(lease).build().await.unwrap();
    assert!(newer.run("x = 'newer'").await.unwrap().is_ok());
    newer.close().await;
    // The stale holder's renewal finds its lease lost.
    tokio::time::sleep(lease * 2).await;
    let refused = stale.run("x = 'overwritten'").await.unwrap_err();
    assert!(matches!(refused, SessionError::Superseded(_)), "{refused}");
    assert!(stale.run("y = 1").await.is_err(), "refused again, not stored over the newer history");
    let resumed = Session::builder().storage(other).resume(id.clone(), None).build().await.unwrap();
    assert_eq!(common::value(&resumed.run("x").await.unwrap()), json!("newer"));
    resumed.forget().await;
    stale.close().await;
}

/// A cell running when another process takes its session's lease (as when this
/// one pauses past it) is stopped, and answered with `TakenOver`, never as a
/// stored result: the stored journal has none of it and the copy is refused after.
async fn a_cell_running_when_its_lease_is_taken_is_stopped_and_not_stored(b: Backend) {
    use codemode::{Session, SessionError};
    let id = SessionId::new("taken-mid-cell").unwrap();
    let lease = std::time::Duration::from_millis(300);
    let session = Session::builder().storage(b.storage.clone()).durable(id.clone(), None).lease(lease);
    let session = session.build().await.unwrap();
    assert!(session.run("import time\nx = 'first'").await.unwrap().is_ok());
    let started = std::time::Instant::now();
    let steal = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // Gone and taken by another owner, as another process would after a lapse.
        b.storage.delete_journal(&id).await.unwrap();
        assert!(b.storage.claim_session(&id, "other", std::time::Duration::from_secs(60)).await.unwrap());
    };
    let (ran, ()) = tokio::join!(session.run("time.sleep(20)\nx = 'lost'"), steal);
    let err = ran.unwrap_err();
    assert!(matches!(err, SessionError::TakenOver(_)), "{err}");
    assert!(err.to_string().contains("not stored"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "the cell was not stopped");
    assert_eq!(b.storage.journal_version(&id).await.unwrap(), 0, "the cell was stored");
    b.storage.release_session(&id, "other").await.unwrap();
    let refused = session.run("x").await.unwrap_err();
    assert!(matches!(refused, SessionError::Superseded(_)), "{refused}");
    assert_eq!(b.storage.journal_version(&id).await.unwrap(), 0, "the stale copy was stored");
    session.close().await;
}

/// A run timeout or lease past what the clock can add (`Duration::MAX`) makes a
/// durable session wait without a deadline rather than panic.
async fn a_huge_timeout_or_lease_does_not_panic(b: Backend) {
    use codemode::Session;
    let id = SessionId::new("huge-timeout").unwrap();
    let huge = codemode::Limits { timeout: std::time::Duration::MAX, ..Default::default() };
    let session = Session::builder().storage(b.storage.clone()).limits(huge).durable(id.clone(), None);
    let session = session.lease(std::time::Duration::MAX).build().await.unwrap();
    assert_eq!(common::value(&session.run("1 + 1").await.unwrap()), json!(2));
    session.forget().await;
}

/// A durable session closed in one process is resumed by a new one on the same
/// store with its variables; a session with no journal, and stored data that is
/// not a journal, cannot be resumed and say why (no panic, nothing deleted).
async fn durable_sessions_resume(b: Backend) {
    use codemode::session::JournalOptions;
    use codemode::{Session, SessionError};
    let id = SessionId::new("named").unwrap();
    let session = Session::builder().storage(b.storage.clone()).durable(id.clone(), None).build().await.unwrap();
    assert!(session.run("xs = [1, 2]").await.unwrap().is_ok());
    assert!(session.run("xs.append(3)").await.unwrap().is_ok());
    session.close().await;
    let storage = (b.reopen)().await;
    let resumed = Session::builder().storage(storage.clone()).resume(id.clone(), None).build().await.unwrap();
    assert_eq!(common::value(&resumed.run("xs").await.unwrap()), json!([1, 2, 3]));
    // No lease between requests: another copy resumes it too, and each request
    // runs on the stored state (the copy that fell behind resumes anew).
    let twice = Session::builder().storage(storage.clone()).resume(id.clone(), None).build().await.unwrap();
    assert!(twice.run("xs.append(4)").await.unwrap().is_ok());
    let behind = resumed.run("xs").await.unwrap_err();
    assert!(matches!(behind, SessionError::Superseded(_)), "{behind}");
    twice.close().await;
    // A lease another holder keeps is waited for (the run timeout plus the lease),
    // then refused as held.
    assert!(storage.claim_session(&id, "w", std::time::Duration::from_secs(60)).await.unwrap());
    let quick = codemode::Limits { timeout: std::time::Duration::from_millis(200), ..Default::default() };
    let asked = std::time::Instant::now();
    let lease = std::time::Duration::from_millis(300);
    let held = Session::builder().storage(storage.clone()).limits(quick).resume(id.clone(), None).lease(lease);
    let held = held.build().await.unwrap_err();
    assert!(matches!(held, SessionError::Held(_)), "{held}");
    assert!(asked.elapsed() >= std::time::Duration::from_millis(500), "it did not wait: {:?}", asked.elapsed());
    storage.release_session(&id, "w").await.unwrap();
    resumed.forget().await;
    let gone = Session::builder().storage(storage.clone()).resume(id.clone(), None).build().await.unwrap_err();
    assert!(matches!(gone, SessionError::NotFound(_)), "{gone}");

    let off = SessionId::new("off").unwrap();
    let no_journal = JournalOptions { max_bytes: 0, ..JournalOptions::default() };
    let session = Session::builder().storage(storage.clone()).journal(no_journal).durable(off.clone(), None);
    let session = session.build().await.unwrap();
    assert!(session.run("x = 1").await.unwrap().is_ok());
    session.close().await;
    let err = Session::builder().storage(storage.clone()).resume(off.clone(), None).build().await.unwrap_err();
    assert!(matches!(&err, SessionError::NotResumable { why, .. } if why.contains("disabled")), "{err}");

    let bad = SessionId::new("garbage").unwrap();
    assert!(storage.claim_session(&bad, "w", std::time::Duration::from_secs(30)).await.unwrap());
    storage.begin_journal(&bad, "w", &[0xff; 40], None).await.unwrap();
    storage.append_journal(&bad, "w", b"not a cell", None).await.unwrap();
    storage.release_session(&bad, "w").await.unwrap();
    let err = Session::builder().storage(storage.clone()).resume(bad.clone(), None).build().await.unwrap_err();
    assert!(matches!(&err, SessionError::NotResumable { why, .. } if why.contains("unreadable")), "{err}");
    let caps = JournalCaps { max_bytes: 1 << 20, max_cells: 10 };
    assert_eq!(storage.load_journal(&bad, caps).await.unwrap().unwrap().cells.len(), 1, "nothing was deleted");
}

conformance!(file_backend: round_trips_each_kind, overwrite_replaces, delete_and_missing, nesting_artifact_names_are_refused, hostile_names_are_rejected,
    size_cap_and_invalid_data, skills_vectors_and_deps, skill_needs_survive_a_reopen, skill_history_is_kept_and_bounded,
    skill_history_is_capped_in_bytes, concurrent_saves_never_share_a_version, verification_is_recorded_in_place,
    conditional_skill_writes_refuse_a_skill_changed_since_read,
    session_journals, durable_sessions_resume, a_stale_holder_never_overwrites_a_newer_history,
    a_cell_running_when_its_lease_is_taken_is_stopped_and_not_stored, a_huge_timeout_or_lease_does_not_panic,
    interrupts_reach_the_holder);
conformance!(redis_backend: round_trips_each_kind, overwrite_replaces, delete_and_missing, nesting_artifact_names_are_refused, hostile_names_are_rejected,
    size_cap_and_invalid_data, skills_vectors_and_deps, skill_needs_survive_a_reopen, skill_history_is_kept_and_bounded,
    skill_history_is_capped_in_bytes, concurrent_saves_never_share_a_version, verification_is_recorded_in_place,
    conditional_skill_writes_refuse_a_skill_changed_since_read,
    session_journals, durable_sessions_resume, a_stale_holder_never_overwrites_a_newer_history,
    a_cell_running_when_its_lease_is_taken_is_stopped_and_not_stored, a_huge_timeout_or_lease_does_not_panic,
    interrupts_reach_the_holder);

/// The calls of each command `redis` has served, from `INFO commandstats`.
fn command_calls(redis: &mut redis::Connection) -> std::collections::HashMap<String, u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(redis).unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|field| field.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// 50 durable cells running at once in one process cost one interrupt poll per
/// interval between them (one `MGET`), not one per cell; an interrupt asked from
/// another process still stops just its cell, at once; with no cell running
/// nothing polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_running_cells_share_one_interrupt_poll() {
    use std::time::{Duration, Instant};
    const CELLS: usize = 50;
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let connect = || RedisStorage::connect(&url, "t", dir.path().to_path_buf());
    let storage: Arc<dyn Storage> = Arc::new(connect().await.unwrap());
    let mut sessions = Vec::new();
    for _ in 0..CELLS {
        let id = SessionId::random();
        let builder = codemode::Session::builder().storage(storage.clone()).durable(id.clone(), None);
        sessions.push((id, Arc::new(builder.build().await.unwrap())));
    }
    let runs: Vec<_> = sessions
        .iter()
        .map(|(_, session)| {
            let session = session.clone();
            tokio::spawn(async move { session.run("import time\ntime.sleep(4)\n'slept'").await.unwrap() })
        })
        .collect();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    // Every cell is in its sleep by then.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before = command_calls(&mut conn);
    let window = Duration::from_secs(1);
    tokio::time::sleep(window).await;
    let after = command_calls(&mut conn);
    let delta = |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    let polls = window.as_millis() as u64 / 25;
    assert!(delta("mget") >= polls / 4, "the cells are not polled: {} MGETs in {window:?}", delta("mget"));
    assert!(delta("mget") <= polls + 5, "{} MGETs in {window:?}, for {CELLS} cells", delta("mget"));
    assert_eq!(delta("exists"), 0, "a cell polled on its own");
    // Asked from another process: that cell stops, the others sleep on.
    let other = connect().await.unwrap();
    let asked = Instant::now();
    assert!(other.request_interrupt(&sessions[7].0).await.unwrap());
    let mut runs = runs;
    let stopped = runs.remove(7).await.unwrap();
    assert!(stopped.interrupted, "{stopped:?}");
    assert!(asked.elapsed() < Duration::from_millis(500), "stopped {:?} after it was asked", asked.elapsed());
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await.unwrap());
    }
    assert!(outcomes.iter().all(|result| !result.interrupted && result.is_ok()), "another cell was stopped");
    // Nothing runs: nothing polls.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = command_calls(&mut conn);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(command_calls(&mut conn).get("mget"), idle.get("mget"), "polled with no cell running");
    for (_, session) in sessions {
        session.close().await;
    }
}

/// A torn last record (a crash in the middle of an append, before the cell was
/// answered) is dropped; a record claiming more than the cap is corrupt.
#[tokio::test(flavor = "multi_thread")]
async fn file_journals_drop_a_torn_tail_and_refuse_a_huge_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).await.unwrap();
    let id = SessionId::new("torn").unwrap();
    let caps = JournalCaps { max_bytes: 1 << 20, max_cells: 10 };
    assert!(s.claim_session(&id, "a", std::time::Duration::from_secs(30)).await.unwrap());
    s.begin_journal(&id, "a", b"head", None).await.unwrap();
    s.append_journal(&id, "a", b"whole", None).await.unwrap();
    let cells = dir.path().join("sessions/torn.cells");
    let mut data = std::fs::read(&cells).unwrap();
    data.extend_from_slice(&[9, 0, 0, 0, b'p']);
    std::fs::write(&cells, &data).unwrap();
    assert_eq!(s.load_journal(&id, caps).await.unwrap().unwrap().cells, vec![b"whole".to_vec()]);
    std::fs::write(&cells, [&u32::MAX.to_le_bytes()[..], b"x"].concat()).unwrap();
    assert!(matches!(s.load_journal(&id, caps).await, Err(StorageError::Corrupt { .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn file_backend_reads_py_code_mode_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts_dir = dir.path().join("artifacts");
    std::fs::create_dir_all(artifacts_dir.join("scans")).unwrap();
    std::fs::write(artifacts_dir.join("scans/nmap.json"), br#"{"open": [22]}"#).unwrap();
    std::fs::write(artifacts_dir.join("raw.bin"), [1, 2, 3]).unwrap();
    std::fs::write(
        artifacts_dir.join(".artifacts.json"),
        r#"{"scans/nmap.json": {"description": "scan", "created_at": "2025-01-01T10:00:00.123456+00:00",
             "metadata": {"host": "x", "_data_type": "json"}},
           "raw.bin": {"description": "", "created_at": "2025-01-01T10:00:00+00:00", "metadata": {"_data_type": "bytes"}}}"#,
    )
    .unwrap();
    let artifacts = Artifacts::new(Arc::new(FileStorage::open(dir.path()).await.unwrap()), DEFAULT_MAX_ARTIFACT_SIZE);
    let nmap = artifacts.load("scans/nmap.json").await.unwrap();
    assert_eq!((nmap.info.kind, nmap.info.size), (DataKind::Json, 14));
    assert_eq!(nmap.info.metadata, meta(json!({"host": "x"})));
    assert_eq!(artifacts.load("raw.bin").await.unwrap().info.kind, DataKind::Bytes);
    // Our writes keep the index readable by py-code-mode: `_data_type` inside metadata.
    artifacts.save("new.txt", b"t".to_vec(), DataKind::Text, "d", Map::new()).await.unwrap();
    let index: Value = serde_json::from_slice(&std::fs::read(artifacts_dir.join(".artifacts.json")).unwrap()).unwrap();
    assert_eq!(index["new.txt"]["metadata"]["_data_type"], "text");
    assert_eq!(index["scans/nmap.json"]["description"], "scan");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_redis_tenants_never_see_each_other() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(RedisStorage::connect(&redis.url(), "a", dir.path().join("a")).await.unwrap());
    let b = Arc::new(RedisStorage::connect(&redis.url(), "b", dir.path().join("b")).await.unwrap());
    let artifacts_a = Artifacts::new(a.clone(), DEFAULT_MAX_ARTIFACT_SIZE);
    artifacts_a.save("secret", b"a's".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    a.save_skill(&stored_skill("s", "def run(): pass")).await.unwrap();
    a.save_vector("v", &[1.0]).await.unwrap();
    a.add_dep("six", "six").await.unwrap();

    let artifacts_b = Artifacts::new(b.clone(), DEFAULT_MAX_ARTIFACT_SIZE);
    assert!(artifacts_b.list().await.unwrap().is_empty());
    assert!(matches!(artifacts_b.load("secret").await, Err(ArtifactError::NotFound(_))));
    assert!(b.list_skills().await.unwrap().is_empty());
    assert_eq!(b.load_vectors(&["v".into()]).await.unwrap(), [None]);
    assert!(b.list_deps().await.unwrap().is_empty());
    assert!(!artifacts_b.delete("secret").await.unwrap());
    assert_eq!(artifacts_a.load("secret").await.unwrap().data, b"a's");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outage_fails_cleanly_and_loses_nothing_acknowledged() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(RedisStorage::connect(&redis.url(), "t", dir.path().to_path_buf()).await.unwrap());
    let artifacts = Artifacts::new(storage, DEFAULT_MAX_ARTIFACT_SIZE);
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let name = format!("before-{i}");
        artifacts.save(&name, b"x".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
        acknowledged.push(name);
    }

    redis.stop();
    let started = std::time::Instant::now();
    let err = artifacts.save("during", b"x".to_vec(), DataKind::Text, "", Map::new()).await.unwrap_err();
    assert!(matches!(err, ArtifactError::Storage(StorageError::Redis { .. })), "{err}");
    assert!(err.to_string().contains("Redis"), "{err}");
    assert!(artifacts.list().await.is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "failing took {:?}", started.elapsed());

    redis.restart();
    // The connection manager reconnects by itself; allow it a few attempts.
    let mut saved = false;
    for _ in 0..50 {
        if artifacts.save("after", b"y".to_vec(), DataKind::Text, "", Map::new()).await.is_ok() {
            saved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(saved, "no reconnect after the restart");
    acknowledged.push("after".into());
    let mut names: Vec<_> = artifacts.list().await.unwrap().into_iter().map(|i| i.name).collect();
    names.sort();
    acknowledged.sort();
    assert_eq!(names, acknowledged, "every acknowledged write is there, the failed one is not");
}

/// What Redis writes to its append-only file for a durable session: the cells and
/// the journal's expiry, never a lease or an interrupt, and a claim's refresh of
/// the expiry only once less than the TTL is left. After a crash of Redis the
/// journal is whole with its TTL, and the lease and interrupt asked for before are
/// gone (a lapse), so the session resumes at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_redis_restart_keeps_journals_and_forgets_leases() {
    use codemode::Session;
    use std::time::Duration;
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(RedisStorage::connect(&redis.url(), "t", dir.path().to_path_buf()).await.unwrap());
    let id = SessionId::new("restarted").unwrap();
    let ttl = Duration::from_secs(3600);
    let session = Session::builder().storage(storage.clone()).durable(id.clone(), Some(ttl)).build().await.unwrap();
    let cells = ["xs = [1]", "xs.append(2)", "xs.append(3)", "xs.append(4)"];
    for cell in cells {
        assert!(session.run(cell).await.unwrap().is_ok());
    }
    session.close().await;
    assert!(storage.claim_session(&id, "crashed", Duration::from_secs(600)).await.unwrap());
    assert!(storage.request_interrupt(&id).await.unwrap());

    let aof: Vec<u8> = walkdir(redis.dir()).into_iter().flat_map(|file| std::fs::read(file).unwrap()).collect();
    let count = |needle: &str| aof.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count();
    assert_eq!(count(":restarted:lease") + count(":restarted:interrupt"), 0, "a lease or interrupt was written");
    // The head: written once when the history began, then its expiry once per stored cell.
    assert_eq!(count(":restarted:head"), 1 + cells.len(), "a claim wrote the journal's expiry");

    redis.restart();
    let storage = Arc::new(RedisStorage::connect(&redis.url(), "t", dir.path().to_path_buf()).await.unwrap());
    assert!(!storage.interrupt_requested(&id).await.unwrap(), "the interrupt lapsed with the restart");
    let resumed = Session::builder().storage(storage.clone()).resume(id.clone(), Some(ttl)).build().await.unwrap();
    assert_eq!(common::value(&resumed.run("xs").await.unwrap()), json!([1, 2, 3, 4]));
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let left: i64 = redis::cmd("PTTL").arg("t:sessions:restarted:head").query(&mut conn).unwrap();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap();
    assert!((ttl_ms - 60_000..=ttl_ms * 11 / 10).contains(&left), "the journal keeps its TTL: {left} ms left");
}

/// Every file under `dir`.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walkdir(&path)) } else { files.push(path) }
    }
    files
}

/// A checkpoint that fails (here its copy's path is taken by a directory) fails
/// no write that took effect: the write that passes the log's checkpoint size is
/// acknowledged and readable, also after a reopen (whose own checkpoint fails
/// too). The next write checkpoints first and is refused while that fails, so
/// the log never outgrows what a replay reads; once the path is free, the next
/// write checkpoints and nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_checkpoint_fails_the_next_write_not_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(FileStorage::open(dir.path()).await.unwrap());
    let artifacts = Artifacts::new(storage, DEFAULT_MAX_ARTIFACT_SIZE);
    let blocker = dir.path().join("artifacts/.artifacts.json.checkpoint");
    std::fs::create_dir_all(blocker.join("in-the-way")).unwrap();
    let log = dir.path().join("artifacts/.artifacts.log");
    let data = |i: usize| vec![b'a' + (i % 26) as u8; 60 << 10];
    // 60 KiB each stays in the log: the 18th passes the 1 MiB checkpoint size.
    let names: Vec<String> = (0..18).map(|i| format!("big-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        artifacts.save(name, data(i), DataKind::Bytes, "", Map::new()).await.unwrap();
    }
    let logged = std::fs::metadata(&log).unwrap().len();
    assert!(logged > 1 << 20, "no checkpoint emptied the log");
    let refused = artifacts.save("big-18", data(18), DataKind::Bytes, "", Map::new()).await.unwrap_err();
    assert!(refused.to_string().contains("checkpoint"), "{refused}");
    let base = dir.path().to_str().unwrap();
    assert!(!refused.to_string().contains(base), "no host path in what a caller sees: {refused}");
    assert_eq!(std::fs::metadata(&log).unwrap().len(), logged, "the refused write is not in the log");
    let check = |artifacts: Artifacts| {
        let names = names.clone();
        async move {
            for (i, name) in names.iter().enumerate() {
                assert_eq!(artifacts.load(name).await.unwrap().data, data(i), "{name}");
            }
            assert!(artifacts.load("big-18").await.is_err(), "the refused write is not stored");
        }
    };
    check(artifacts.clone()).await;
    let reopened = Artifacts::new(Arc::new(FileStorage::open(dir.path()).await.unwrap()), DEFAULT_MAX_ARTIFACT_SIZE);
    check(reopened.clone()).await;

    std::fs::remove_dir_all(&blocker).unwrap();
    reopened.save("after", b"after".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    assert!(std::fs::metadata(&log).unwrap().len() < 1 << 10, "the next write checkpointed first");
    assert!(blocker.is_file(), "the checkpoint copy is in place");
    let reopened = Artifacts::new(Arc::new(FileStorage::open(dir.path()).await.unwrap()), DEFAULT_MAX_ARTIFACT_SIZE);
    check(reopened.clone()).await;
    assert_eq!(reopened.load("after").await.unwrap().data, b"after");
}

/// Artifacts stored without codemode's names set (by py-code-mode, or before the
/// set existed: only the index and the data) still clash: the first write
/// rebuilds the set from the index.
#[tokio::test(flavor = "multi_thread")]
async fn redis_clashes_with_artifacts_stored_by_another_writer() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(RedisStorage::connect(&redis.url(), "t", dir.path().to_path_buf()).await.unwrap());
    let mut conn = redis::Client::open(redis.url().as_str()).unwrap().get_connection().unwrap();
    for name in ["old", "dir/inner"] {
        redis::cmd("HSET").arg("t:artifacts:__index__").arg(name).arg("{}").query::<()>(&mut conn).unwrap();
        redis::cmd("SET").arg(format!("t:artifacts:{name}")).arg(name).query::<()>(&mut conn).unwrap();
    }
    let artifacts = Artifacts::new(storage, DEFAULT_MAX_ARTIFACT_SIZE);
    for (name, why) in [("old/y", "`old` is an artifact"), ("dir", "a directory of other artifacts")] {
        let err = artifacts.save(name, b"x".to_vec(), DataKind::Text, "", Map::new()).await.unwrap_err();
        assert!(matches!(&err, ArtifactError::Storage(StorageError::Clash(m)) if m.contains(why)), "{name}: {err}");
    }
    artifacts.save("new", b"n".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    // Another writer deletes one behind codemode's back: the set is rebuilt again.
    redis::cmd("HDEL").arg("t:artifacts:__index__").arg("dir/inner").query::<()>(&mut conn).unwrap();
    artifacts.save("dir", b"d".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    let mut names: Vec<String> = artifacts.list().await.unwrap().into_iter().map(|i| i.name).collect();
    names.sort();
    assert_eq!(names, ["dir", "new", "old"]);
}

fn skill_name(name: &str) -> codemode::names::SkillName {
    codemode::names::SkillName::new(name).unwrap()
}

fn stored_skill(name: &str, source: &str) -> StoredSkill {
    StoredSkill::new(skill_name(name), source)
}

/// A skill's versions (issue 16 item 2): saving over a skill keeps the one
/// replaced, bounded, per skill, across a reopen; deleting a skill deletes them.
async fn skill_history_is_kept_and_bounded(b: Backend) {
    let s = &b.storage;
    let max = codemode::storage::MAX_SKILL_VERSIONS as u32;
    let version = |name: &str, n: u32| StoredSkill {
        version: n,
        description: format!("version {n}"),
        ..stored_skill(name, &format!("def run():\n    return {n}\n"))
    };
    assert!(s.skill_versions(&skill_name("hist")).await.unwrap().is_empty());
    s.save_skill(&version("hist", 1)).await.unwrap();
    assert!(s.skill_versions(&skill_name("hist")).await.unwrap().is_empty(), "a first save has no history");
    s.save_skill(&version("other", 1)).await.unwrap();
    s.save_skill(&version("other", 2)).await.unwrap();
    for n in 2..=max + 2 {
        s.save_skill(&version("hist", n)).await.unwrap();
    }
    let reopened = (b.reopen)().await;
    let kept = reopened.skill_versions(&skill_name("hist")).await.unwrap();
    // The oldest is dropped: versions 2..=max+1 remain, oldest first, whole.
    assert_eq!(kept.iter().map(|v| v.version).collect::<Vec<_>>(), (2..=max + 1).collect::<Vec<_>>());
    assert_eq!(kept[0], version("hist", 2));
    assert_eq!(reopened.load_skill(&skill_name("hist")).await.unwrap(), Some(version("hist", max + 2)));
    let other = reopened.skill_versions(&skill_name("other")).await.unwrap();
    assert_eq!(other, [version("other", 1)], "each skill has its own history");
    // Delete deletes the history too: a skill created again starts afresh.
    assert!(reopened.delete_skill(&skill_name("hist")).await.unwrap());
    assert!(reopened.skill_versions(&skill_name("hist")).await.unwrap().is_empty());
    s.save_skill(&version("hist", 1)).await.unwrap();
    assert!(s.skill_versions(&skill_name("hist")).await.unwrap().is_empty());
    assert_eq!(s.skill_versions(&skill_name("other")).await.unwrap().len(), 1);
}

/// Large versions are dropped by bytes long before the count cap: a history costs
/// at most a few times the largest source, never twenty.
async fn skill_history_is_capped_in_bytes(b: Backend) {
    let s = &b.storage;
    let big = |n: usize| stored_skill("big", &format!("def run():\n    return {n}\n# {}\n", "x".repeat(1 << 20)));
    for n in 0..8 {
        s.save_skill(&big(n)).await.unwrap();
    }
    let kept = (b.reopen)().await.skill_versions(&skill_name("big")).await.unwrap();
    let bytes: usize = kept.iter().map(|v| v.source.len()).sum();
    assert!(bytes <= codemode::storage::MAX_SKILL_HISTORY_BYTES, "{bytes} bytes of history kept");
    assert!((2..=4).contains(&kept.len()), "{} versions kept", kept.len());
    assert_eq!(kept.last().unwrap().source, big(6).source, "the newest earlier version is kept");
    assert_eq!(kept.last().unwrap().version, 7);
    // One small save after them keeps it all the same way.
    s.save_skill(&stored_skill("big", "def run():\n    return 'small'\n")).await.unwrap();
    let kept = s.skill_versions(&skill_name("big")).await.unwrap();
    assert_eq!(kept.last().unwrap().source, big(7).source);
}

/// Concurrent saves of one name are numbered under the store's lock: each gets its
/// own number, and every one of them is current or in the history.
async fn concurrent_saves_never_share_a_version(b: Backend) {
    let saves = (0..8).map(|n| {
        let s = b.storage.clone();
        tokio::spawn(async move { s.save_skill(&stored_skill("race", &format!("def run():\n    return {n}\n"))).await })
    });
    let mut numbers = Vec::new();
    for save in saves {
        numbers.push(save.await.unwrap().unwrap().version);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
    let mut stored: Vec<u32> =
        b.storage.skill_versions(&skill_name("race")).await.unwrap().iter().map(|v| v.version).collect();
    stored.push(b.storage.load_skill(&skill_name("race")).await.unwrap().unwrap().version);
    assert_eq!(stored, (1..=8).collect::<Vec<_>>(), "oldest first, the current one last");
}

/// A save or delete conditional on the skill read (what a restricted session's
/// check saw) is refused, writing nothing, when another save or a delete landed
/// between the read and the write: the interleaving is forced by making the
/// other write in between. A skill deleted and saved again up to the same version
/// number is another skill.
async fn conditional_skill_writes_refuse_a_skill_changed_since_read(b: Backend) {
    let (s, name) = (&b.storage, skill_name("contested"));
    let at = |n: u32| format!("2026-01-01T00:00:0{n}.000000+00:00");
    let skill = |source: &str, n: u32| StoredSkill { created_at: at(n), ..stored_skill("contested", source) };
    let narrow = skill("def run():\n    return 'narrow'\n", 9);
    let current = || async { s.load_skill(&name).await.unwrap() };
    let sources = || async {
        let mut all: Vec<String> = s.skill_versions(&name).await.unwrap().into_iter().map(|v| v.source).collect();
        all.extend(current().await.map(|c| c.source));
        all
    };

    // Read: no skill. The wider save lands; the write expecting none is refused.
    let none = Expected::of(current().await.as_ref());
    assert_eq!(none, Expected::Absent);
    s.save_skill(&skill("def run():\n    return 'wide 1'\n", 1)).await.unwrap();
    assert_eq!(s.save_skill_if(&narrow, &none).await.unwrap(), None);
    assert_eq!(s.delete_skill_if(&name, &none).await.unwrap(), None);
    assert_eq!(sources().await, ["def run():\n    return 'wide 1'\n"], "nothing was written");

    // Read: version 1. Version 2 lands; neither a save nor a delete expecting 1 is made.
    let one = Expected::of(current().await.as_ref());
    assert_eq!(one, Expected::Stored { version: 1, created_at: at(1) });
    s.save_skill(&skill("def run():\n    return 'wide 2'\n", 2)).await.unwrap();
    assert_eq!(s.save_skill_if(&narrow, &one).await.unwrap(), None);
    assert_eq!(s.delete_skill_if(&name, &one).await.unwrap(), None);
    let wide = ["def run():\n    return 'wide 1'\n", "def run():\n    return 'wide 2'\n"];
    assert_eq!(sources().await, wide, "nothing was written");

    // Deleted and saved again up to version 2: not the version 2 read.
    let two = Expected::of(current().await.as_ref());
    assert!(s.delete_skill(&name).await.unwrap());
    s.save_skill(&skill("def run():\n    return 'again 1'\n", 3)).await.unwrap();
    s.save_skill(&skill("def run():\n    return 'again 2'\n", 4)).await.unwrap();
    assert_eq!(current().await.unwrap().version, 2);
    assert_eq!(s.save_skill_if(&narrow, &two).await.unwrap(), None);
    assert_eq!(s.delete_skill_if(&name, &two).await.unwrap(), None);
    assert_eq!(current().await.unwrap().source, "def run():\n    return 'again 2'\n");

    // Still what was read: written, as an unconditional write would be.
    let fresh = Expected::of(current().await.as_ref());
    let saved = s.save_skill_if(&narrow, &fresh).await.unwrap().expect("the skill read is current");
    assert_eq!((saved.version, saved.replaced), (3, true));
    assert_eq!(s.skill_versions(&name).await.unwrap().len(), 2, "the one replaced joined the history");
    let fresh = Expected::of(current().await.as_ref());
    assert_eq!(s.delete_skill_if(&name, &fresh).await.unwrap(), Some(true));
    assert_eq!(sources().await, Vec::<String>::new(), "deleted with its history");
    assert_eq!(s.delete_skill_if(&name, &Expected::Absent).await.unwrap(), Some(false));
    let saved = s.save_skill_if(&narrow, &Expected::Absent).await.unwrap().expect("no skill, as read");
    assert_eq!((saved.version, saved.replaced), (1, false));
}

/// The single history file stop 22 wrote is read, and split into one file per
/// version by the next save, in order and without loss.
#[tokio::test(flavor = "multi_thread")]
async fn file_backend_reads_and_splits_a_single_history_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).await.unwrap();
    let name = skill_name("old");
    let version = |n: u32| StoredSkill { version: n, ..stored_skill("old", &format!("def run():\n    return {n}\n")) };
    s.save_skill(&version(3)).await.unwrap();
    let legacy = dir.path().join("skills/.versions/old.json");
    std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    std::fs::write(&legacy, serde_json::to_vec(&[version(1), version(2)]).unwrap()).unwrap();
    assert_eq!(s.skill_versions(&name).await.unwrap(), [version(1), version(2)]);
    s.save_skill(&version(4)).await.unwrap();
    assert!(!legacy.exists(), "split into files");
    let sources: Vec<String> = s.skill_versions(&name).await.unwrap().into_iter().map(|v| v.source).collect();
    assert_eq!(sources, [version(1).source, version(2).source, version(1).source.replace('1', "3")]);
    assert_eq!(std::fs::read_dir(dir.path().join("skills/.versions/old")).unwrap().count(), 3);
    assert!(s.delete_skill(&name).await.unwrap());
    assert!(!dir.path().join("skills/.versions/old").exists(), "delete deletes the history");
}

/// A save that fails on the history write (its temporary file's name taken by a
/// directory) writes nothing: the current skill and its history are as they were.
#[tokio::test(flavor = "multi_thread")]
async fn file_backend_loses_nothing_when_a_save_fails() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).await.unwrap();
    let name = skill_name("keep");
    s.save_skill(&stored_skill("keep", "def run():\n    return 1\n")).await.unwrap();
    s.save_skill(&stored_skill("keep", "def run():\n    return 2\n")).await.unwrap();
    let blocker = dir.path().join(format!("skills/.versions/keep/.2.json.{}.tmp", std::process::id()));
    std::fs::create_dir_all(&blocker).unwrap();
    let failed = s.save_skill(&stored_skill("keep", "def run():\n    return 3\n")).await;
    assert!(matches!(failed, Err(StorageError::Io { .. })), "{failed:?}");
    assert_eq!(s.load_skill(&name).await.unwrap().unwrap().source, "def run():\n    return 2\n");
    let history = s.skill_versions(&name).await.unwrap();
    assert_eq!(history.iter().map(|v| v.source.as_str()).collect::<Vec<_>>(), ["def run():\n    return 1\n"]);
    std::fs::remove_dir(&blocker).unwrap();
    s.save_skill(&stored_skill("keep", "def run():\n    return 3\n")).await.unwrap();
    assert_eq!(s.skill_versions(&name).await.unwrap().len(), 2);
    // The layout py-code-mode reads is unchanged: the current source at the top.
    assert_eq!(std::fs::read_to_string(dir.path().join("skills/keep.py")).unwrap(), "def run():\n    return 3\n");
    assert_eq!(s.list_skills().await.unwrap().len(), 1, "the history is not a skill");
}

/// The same on Redis: a history key of the wrong type makes Redis refuse the save
/// script before its first write.
#[tokio::test(flavor = "multi_thread")]
async fn redis_loses_nothing_when_a_save_fails() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let s = RedisStorage::connect(&redis.url(), "t", dir.path().join("p")).await.unwrap();
    let name = skill_name("keep");
    s.save_skill(&stored_skill("keep", "def run():\n    return 1\n")).await.unwrap();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    redis::cmd("SET").arg("t:skills:__versions__:keep").arg("not a list").query::<()>(&mut conn).unwrap();
    let failed = s.save_skill(&stored_skill("keep", "def run():\n    return 2\n")).await;
    assert!(matches!(failed, Err(StorageError::Redis { .. })), "{failed:?}");
    assert_eq!(s.load_skill(&name).await.unwrap().unwrap().source, "def run():\n    return 1\n");
    redis::cmd("DEL").arg("t:skills:__versions__:keep").query::<()>(&mut conn).unwrap();
    s.save_skill(&stored_skill("keep", "def run():\n    return 2\n")).await.unwrap();
    assert_eq!(s.skill_versions(&name).await.unwrap()[0].source, "def run():\n    return 1\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_skill_entries_that_cannot_be_read_are_skipped() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let storage = RedisStorage::connect(&redis.url(), "t", dir.path().to_path_buf()).await.unwrap();
    storage.save_skill(&stored_skill("good", "def run():\n    return 1\n")).await.unwrap();
    // Another writer put entries no skill operation could have written.
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let other = serde_json::to_string(&stored_skill("other", "def run(): pass")).unwrap();
    for (field, json) in [("corrupt", "{not json"), ("renamed", other.as_str()), ("../x", "{}")] {
        redis::cmd("HSET").arg("t:skills:__skills__").arg(field).arg(json).query::<()>(&mut conn).unwrap();
    }
    let (skills, mut skipped) = storage.scan_skills().await.unwrap();
    assert_eq!(skills.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["good"]);
    skipped.sort_by(|a, b| a.entry.cmp(&b.entry));
    let skipped: Vec<(&str, &str)> = skipped.iter().map(|s| (s.entry.as_str(), s.reason.as_str())).collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped[0].0 == "../x" && skipped[0].1.contains("corrupt"), "{skipped:?}");
    assert!(skipped[1].0 == "corrupt" && skipped[1].1.contains("corrupt"), "{skipped:?}");
    assert!(skipped[2].0 == "renamed" && skipped[2].1.contains("\"other\""), "{skipped:?}");
    assert_eq!(storage.list_skills().await.unwrap().len(), 1, "listing still works");
}

#[tokio::test(flavor = "multi_thread")]
async fn requirements_txt_is_read_as_configured_deps_and_never_written() {
    use codemode::model::{Operations, Response};
    let dir = tempfile::tempdir().unwrap();
    // py-code-mode's pre-configured deps, with what a hand-written file holds.
    let text = "# pre-configured\nsix\n\nTabulate  # pretty tables\nbad spec here\npkg @ https://evil.example/x.whl\n-r other.txt\n";
    std::fs::write(dir.path().join("requirements.txt"), text).unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::open(dir.path()).await.unwrap());
    let pip = codemode::deps::PipOptions {
        find_links: vec![common::test_wheels().display().to_string()],
        no_index: true,
        ..Default::default()
    };
    // Installed when the session starts, like recorded deps.
    let session = codemode::Session::builder().storage(storage.clone()).pip(pip).build().await.unwrap();
    let r = common::run(&session, "import six, tabulate\n(six.__name__, tabulate.__name__, deps.list())").await;
    assert_eq!(common::value(&r), json!(["six", "tabulate", ["six", "tabulate"]]));
    // Removing one is refused with the reason; the file is codemode's input only.
    let (kind, message) = common::error(&common::run(&session, "deps.remove('six')").await);
    assert_eq!(kind, "ValueError");
    assert!(message.contains("requirements.txt"), "{message}");
    let Response::DepsSynced(report) = session.call(codemode::Request::SyncDeps).await.unwrap() else {
        panic!("sync answers a sync report")
    };
    assert_eq!((report.already_present, report.failed), (vec!["six".to_owned(), "tabulate".to_owned()], vec![]));
    assert_eq!(session.list_deps().await.unwrap(), ["six", "tabulate"]);
    assert!(storage.list_deps().await.unwrap().is_empty(), "nothing was recorded for them");
    assert_eq!(std::fs::read_to_string(dir.path().join("requirements.txt")).unwrap(), text, "never written");
}

fn codemode(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_codemode")).args(args).output().unwrap()
}

/// Everything one Redis tenant holds, for comparing before and after.
async fn tenant(storage: &RedisStorage) -> (Vec<(String, String)>, Vec<(String, Vec<u8>)>, Vec<String>) {
    let mut skills: Vec<_> =
        storage.list_skills().await.unwrap().into_iter().map(|s| (s.name.to_string(), s.source)).collect();
    skills.sort();
    let artifacts = Artifacts::new(Arc::new(storage.clone()), DEFAULT_MAX_ARTIFACT_SIZE);
    let mut data = Vec::new();
    for info in artifacts.list().await.unwrap() {
        data.push((info.name.clone(), artifacts.load(&info.name).await.unwrap().data));
    }
    data.sort();
    (skills, data, storage.list_deps().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn store_push_clear_makes_redis_match_the_directory_in_one_transaction() {
    let redis = RedisServer::start();
    let url = redis.url();
    let packages = tempfile::tempdir().unwrap();
    let target = RedisStorage::connect(&url, "team", packages.path().to_path_buf()).await.unwrap();
    target.save_skill(&stored_skill("keep", "def run():\n    return 'old'\n")).await.unwrap();
    target.save_skill(&stored_skill("stale", "def run():\n    return 'stale'\n")).await.unwrap();
    let remote = Artifacts::new(Arc::new(target.clone()), DEFAULT_MAX_ARTIFACT_SIZE);
    remote.save("stale.txt", b"stale".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    target.add_dep("requests", "requests").await.unwrap();
    let neighbour = RedisStorage::connect(&url, "other", packages.path().to_path_buf()).await.unwrap();
    neighbour.save_skill(&stored_skill("theirs", "def run(): pass")).await.unwrap();

    let source = tempfile::tempdir().unwrap();
    let dir = FileStorage::open(source.path()).await.unwrap();
    std::fs::write(source.path().join("skills/keep.py"), "def run():\n    return 'new'\n").unwrap();
    std::fs::write(source.path().join("skills/bad-name.py"), "def run(): pass\n").unwrap();
    let local = Artifacts::new(Arc::new(dir.clone()), DEFAULT_MAX_ARTIFACT_SIZE);
    local.save("keep.json", br#"{"v": 1}"#.to_vec(), DataKind::Json, "", Map::new()).await.unwrap();
    dir.add_dep("tabulate", "tabulate").await.unwrap();
    std::fs::write(source.path().join("requirements.txt"), "six\n").unwrap();
    let push = ["--base", source.path().to_str().unwrap(), "--redis", &url, "--prefix", "team", "store", "push"];
    let push_clear = [&push[..], &["--clear"]].concat();

    // Redis refuses the writes (out of memory): nothing at all changes.
    let before = tenant(&target).await;
    let mut conn = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query::<()>(&mut conn).unwrap();
    redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1").query::<()>(&mut conn).unwrap();
    let out = codemode(&push_clear);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Redis"), "{}", String::from_utf8_lossy(&out.stderr));
    redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0").query::<()>(&mut conn).unwrap();
    assert_eq!(tenant(&target).await, before, "a failed push leaves Redis as it was");

    // A directory that cannot be read fully is refused before anything is written.
    let index = source.path().join("artifacts/.artifacts.json");
    let good_index = std::fs::read(&index).unwrap();
    std::fs::write(&index, "{corrupt").unwrap();
    assert_eq!(codemode(&push_clear).status.code(), Some(2));
    assert_eq!(tenant(&target).await, before);
    std::fs::write(&index, good_index).unwrap();

    let out = codemode(&push_clear);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for line in ["deleted skill: stale", "deleted artifact: stale.txt", "deleted dep: requests", "dep: six"] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad-name.py"), "skipped files are reported");
    let after = tenant(&target).await;
    assert_eq!(after.0, [("keep".to_owned(), "def run():\n    return 'new'\n".to_owned())]);
    assert_eq!(after.1, [("keep.json".to_owned(), br#"{"v": 1}"#.to_vec())]);
    assert_eq!(after.2, ["six", "tabulate"]);
    let stale_data: bool = redis::cmd("EXISTS").arg("team:artifacts:stale.txt").query(&mut conn).unwrap();
    assert!(!stale_data, "the deleted artifact's data went with its index entry");
    assert_eq!(neighbour.list_skills().await.unwrap().len(), 1, "another prefix is untouched");
    assert_eq!(std::fs::read_to_string(source.path().join("requirements.txt")).unwrap(), "six\n");

    // Without --clear, what only Redis has stays.
    target.save_skill(&stored_skill("agent_made", "def run(): pass")).await.unwrap();
    assert_eq!(codemode(&push).status.code(), Some(0));
    let names: Vec<String> = tenant(&target).await.0.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["agent_made", "keep"]);
}

/// A skill's examples and verification (issue 16 item 1) survive a reopen; a new
/// verification is recorded on the current version in place (no new version), and
/// not at all when the version it ran for was replaced meanwhile.
async fn verification_is_recorded_in_place(b: Backend) {
    let s = &b.storage;
    let example: codemode::model::SkillExample =
        serde_json::from_value(serde_json::json!({"args": {"x": [1, {"y": null}]}, "expect": "ok"})).unwrap();
    let passed = codemode::model::Verification { passed: true, at: "t1".into(), examples: 1, failures: Vec::new() };
    let skill = StoredSkill {
        version: 1,
        examples: vec![example.clone()],
        verification: Some(passed.clone()),
        ..stored_skill("checked", "def run(x):\n    return 'ok'\n")
    };
    s.save_skill(&skill).await.unwrap();
    let failed = codemode::model::Verification {
        passed: false,
        at: "t2".into(),
        examples: 1,
        failures: vec!["example 1: expected 1, got 2".into()],
    };
    let v0 = s.skills_version().await.unwrap();
    assert!(s.save_verification(&skill_name("checked"), 1, &failed).await.unwrap());
    assert_ne!(s.skills_version().await.unwrap(), v0, "listings see the new result");
    let reopened = (b.reopen)().await;
    let loaded = reopened.load_skill(&skill_name("checked")).await.unwrap().unwrap();
    assert_eq!((loaded.examples, loaded.verification, loaded.version), (vec![example], Some(failed.clone()), 1));
    assert!(reopened.skill_versions(&skill_name("checked")).await.unwrap().is_empty(), "no version was added");
    // A stale version, or no skill: nothing written.
    assert!(!s.save_verification(&skill_name("checked"), 7, &passed).await.unwrap());
    assert!(!s.save_verification(&skill_name("missing"), 1, &passed).await.unwrap());
    assert_eq!(s.load_skill(&skill_name("checked")).await.unwrap().unwrap().verification, Some(failed));
    assert!(s.load_skill(&skill_name("missing")).await.unwrap().is_none());
}

/// The directory backend's write-ahead logs (`skills/.skills.log`,
/// `artifacts/.artifacts.log`): a record framed as the store writes it.
fn log_record(payload: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut record = (payload.len() as u32).to_le_bytes().to_vec();
    record.extend_from_slice(&sha2::Sha256::digest(payload)[..8]);
    record.extend_from_slice(payload);
    record
}

fn append(path: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(bytes).unwrap();
}

/// A writer killed between its log append and its update of the files (a record
/// appended by hand, as the dead writer left it) is completed by the next write
/// under the store's lock, before that write: the py-code-mode files are current
/// without a reopen. Then a reopen checkpoints: the logs are emptied.
#[tokio::test(flavor = "multi_thread")]
async fn file_log_records_a_dead_writer_left_are_applied_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).await.unwrap();
    s.save_skill(&stored_skill("first", "def run():\n    return 1\n")).await.unwrap();
    let log = dir.path().join("skills/.skills.log");
    assert!(std::fs::metadata(&log).unwrap().len() > 0, "a write is in the log until a checkpoint");
    let orphan = json!({"Save": {"name": "orphan", "source": "def run():\n    return 'o'\n",
        "meta": {"description": "left by a dead writer", "version": 1}, "history": []}});
    append(&log, &log_record(&serde_json::to_vec(&orphan).unwrap()));
    assert!(!dir.path().join("skills/orphan.py").exists());
    s.save_skill(&stored_skill("second", "def run():\n    return 2\n")).await.unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("skills/orphan.py")).unwrap(), "def run():\n    return 'o'\n");
    let index: Value = serde_json::from_slice(&std::fs::read(dir.path().join("skills/.skills.json")).unwrap()).unwrap();
    assert_eq!(index["orphan"]["description"], "left by a dead writer");
    assert_eq!(s.load_skill(&skill_name("second")).await.unwrap().unwrap().source, "def run():\n    return 2\n");

    // The same for an artifact, with its bytes in the record.
    let artifacts = Artifacts::new(Arc::new(s.clone()), DEFAULT_MAX_ARTIFACT_SIZE);
    artifacts.save("a.txt", b"one".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    let header =
        serde_json::to_vec(&json!({"Save": {"name": "sub/b.bin", "entry": {"size": 3}, "inline": true}})).unwrap();
    let payload = [&(header.len() as u32).to_le_bytes()[..], &header, b"\x00\x01\x02"].concat();
    append(&dir.path().join("artifacts/.artifacts.log"), &log_record(&payload));
    assert!(artifacts.delete("a.txt").await.unwrap());
    assert_eq!(std::fs::read(dir.path().join("artifacts/sub/b.bin")).unwrap(), b"\x00\x01\x02");
    assert_eq!(
        s.load_artifact(&codemode::names::ArtifactName::new("sub/b.bin").unwrap()).await.unwrap().unwrap().data,
        b"\x00\x01\x02"
    );

    drop(FileStorage::open(dir.path()).await.unwrap());
    for log in ["skills/.skills.log", "artifacts/.artifacts.log"] {
        assert_eq!(std::fs::metadata(dir.path().join(log)).unwrap().len(), 0, "{log} is checkpointed at open");
    }
    let reopened = FileStorage::open(dir.path()).await.unwrap();
    let mut names: Vec<_> = reopened.list_skills().await.unwrap().into_iter().map(|s| s.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["first", "orphan", "second"]);
}

/// A delete of a skill the directory store has nothing of writes nothing: no log
/// record (nor its fsync), no index change. One of a skill it has is logged.
#[tokio::test(flavor = "multi_thread")]
async fn file_delete_of_a_missing_skill_writes_no_log_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).await.unwrap();
    s.save_skill(&stored_skill("kept", "def run():\n    return 1\n")).await.unwrap();
    let log = dir.path().join("skills/.skills.log");
    let logged = std::fs::metadata(&log).unwrap().len();
    let version = s.skills_version().await.unwrap();
    assert!(!s.delete_skill(&skill_name("never_saved")).await.unwrap());
    assert_eq!(std::fs::metadata(&log).unwrap().len(), logged, "no log record for nothing to delete");
    assert_eq!(s.skills_version().await.unwrap(), version, "nothing changed");
    assert!(s.delete_skill(&skill_name("kept")).await.unwrap());
    assert!(std::fs::metadata(&log).unwrap().len() > logged, "a real delete is logged");
    assert!(!s.delete_skill(&skill_name("kept")).await.unwrap(), "deleted already");
}

/// A reboot (the lock's boot id no longer this boot's) replays the whole log. A
/// large artifact's record carries no data (its file was made durable first), so
/// an earlier record of the same name, replayed after it, must not bring older
/// data back or delete the file: each artifact ends as its last acknowledged write.
#[tokio::test(flavor = "multi_thread")]
async fn a_replay_after_a_reboot_keeps_each_artifacts_last_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::open(dir.path()).await.unwrap();
    let artifacts = Artifacts::new(Arc::new(s.clone()), DEFAULT_MAX_ARTIFACT_SIZE);
    let large = vec![7u8; 1 << 20];
    artifacts.save("grown.bin", b"small".to_vec(), DataKind::Bytes, "", Map::new()).await.unwrap();
    artifacts.save("grown.bin", large.clone(), DataKind::Bytes, "", Map::new()).await.unwrap();
    artifacts.save("back.bin", b"small".to_vec(), DataKind::Bytes, "", Map::new()).await.unwrap();
    assert!(artifacts.delete("back.bin").await.unwrap());
    artifacts.save("back.bin", large.clone(), DataKind::Bytes, "", Map::new()).await.unwrap();
    drop((artifacts, s));
    // Another boot: the offset the lock records is no longer trusted.
    let lock = dir.path().join("artifacts/.artifacts.lock");
    let mut state = std::fs::read(&lock).unwrap();
    assert!(state.len() > 8, "the lock records the log's state");
    state[8..].fill(0);
    std::fs::write(&lock, state).unwrap();
    let s = FileStorage::open(dir.path()).await.unwrap();
    for name in ["grown.bin", "back.bin"] {
        let got = s.load_artifact(&codemode::names::ArtifactName::new(name).unwrap()).await.unwrap();
        assert_eq!(got.map(|a| a.data.len()), Some(large.len()), "{name}");
        assert_eq!(std::fs::read(dir.path().join("artifacts").join(name)).unwrap(), large, "{name}");
    }
}

/// Hostile logs: a torn tail, a record claiming 4 GiB, a corrupt checksum, and
/// records whose names try to leave the store. Nothing panics, the records before
/// the damage are kept, the damage is cut off, and no file appears outside.
#[tokio::test(flavor = "multi_thread")]
async fn file_logs_survive_torn_huge_corrupt_and_escaping_records() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("store");
    let s = FileStorage::open(&base).await.unwrap();
    let log = base.join("skills/.skills.log");
    let escape = json!({"Save": {"name": "../../escaped", "source": "x", "meta": {}, "history": []}});
    let kept = json!({"Save": {"name": "kept", "source": "def run():\n    return 'k'\n", "meta": {}, "history": []}});
    let late = json!({"Save": {"name": "late", "source": "def run(): pass\n", "meta": {}, "history": []}});
    for damage in [log_record(b"torn").split_at(7).0.to_vec(), [&u32::MAX.to_le_bytes()[..], &[7u8; 40]].concat(), {
        let mut r = log_record(b"flipped");
        *r.last_mut().unwrap() ^= 1;
        r
    }] {
        let before = std::fs::metadata(&log).map_or(0, |m| m.len());
        let records =
            [log_record(&serde_json::to_vec(&escape).unwrap()), log_record(&serde_json::to_vec(&kept).unwrap())];
        append(&log, &[records.concat(), damage, log_record(&serde_json::to_vec(&late).unwrap())].concat());
        // The next write repairs the log, applies what came before the damage, and writes.
        s.save_skill(&stored_skill("next", "def run():\n    return 'n'\n")).await.unwrap();
        assert_eq!(s.load_skill(&skill_name("kept")).await.unwrap().unwrap().source, "def run():\n    return 'k'\n");
        assert!(s.load_skill(&skill_name("late")).await.unwrap().is_none(), "records after the damage are cut off");
        assert!(std::fs::metadata(&log).unwrap().len() > before, "the log keeps its records");
        std::fs::remove_file(base.join("skills/kept.py")).unwrap();
    }
    let artifact_log = base.join("artifacts/.artifacts.log");
    for name in ["../escaped.txt", "/tmp/escaped.txt", ".artifacts.json"] {
        let header = serde_json::to_vec(&json!({"Save": {"name": name, "entry": {}, "inline": true}})).unwrap();
        append(&artifact_log, &log_record(&[&(header.len() as u32).to_le_bytes()[..], &header, b"evil"].concat()));
    }
    // A header length past the record's end.
    append(&artifact_log, &log_record(&[&u32::MAX.to_le_bytes()[..], b"{}"].concat()));
    drop(FileStorage::open(&base).await.unwrap());
    let index: Value =
        serde_json::from_slice(&std::fs::read(base.join("artifacts/.artifacts.json")).unwrap_or(b"{}".to_vec()))
            .unwrap();
    assert!(index.as_object().is_none_or(|o| o.is_empty()), "{index}");
    let outside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside, ["store"], "nothing was written outside the store");
    assert!(!base.join("escaped.py").exists() && !base.join("escaped.txt").exists());
}

/// Set by `file_writes_survive_kill_9` for the process it kills.
const WRITER: &str = "CODEMODE_TEST_LOG_WRITER";
/// How many tasks write at once in that process (1 unless set), and where its
/// numbers start (so two processes on one store write different names).
const WRITER_TASKS: &str = "CODEMODE_TEST_LOG_WRITER_TASKS";
const WRITER_FIRST: &str = "CODEMODE_TEST_LOG_WRITER_FIRST";

/// The writer the kill tests kill: skills and artifacts of 1 KiB, one line on
/// stdout after each acknowledged write, from one task or several at once (which
/// then commit in groups). Does nothing unless started so.
#[tokio::test(flavor = "multi_thread")]
async fn file_log_writer_process() {
    let Some(base) = std::env::var_os(WRITER) else { return };
    let number = |var: &str, default: usize| std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (tasks, first) = (number(WRITER_TASKS, 1), number(WRITER_FIRST, 0));
    let s = FileStorage::open(std::path::Path::new(&base)).await.unwrap();
    let writers: Vec<_> = (0..tasks)
        .map(|task| {
            let s = s.clone();
            tokio::spawn(async move {
                let artifacts = Artifacts::new(Arc::new(s.clone()), DEFAULT_MAX_ARTIFACT_SIZE);
                // Bounded; the parent kills it long before.
                for i in (first + task * 10_000..).take(10_000) {
                    s.save_skill(&stored_skill(&format!("s{i}"), &kill_source(i))).await.unwrap();
                    println!("ack skill {i}");
                    artifacts.save(&format!("a{i}.bin"), kill_data(i), DataKind::Bytes, "", Map::new()).await.unwrap();
                    println!("ack artifact {i}");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
}

fn kill_source(i: usize) -> String {
    format!("def run():\n    return {i}\n# {}\n", "x".repeat(1000))
}

fn kill_data(i: usize) -> Vec<u8> {
    format!("{i:08}").into_bytes().repeat(128)
}

/// Starts a writer process on `base` with `tasks` concurrent writers numbering from `first`.
fn start_writer(base: &std::path::Path, tasks: usize, first: usize) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["file_log_writer_process", "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER, base)
        .env(WRITER_TASKS, tasks.to_string())
        .env(WRITER_FIRST, first.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills `child` once it acknowledged `at_least` writes, while it writes more; every
/// write it acknowledged, including those printed before the kill and not yet read.
fn kill_after(mut child: std::process::Child, at_least: usize) -> Vec<String> {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < at_least {
        let Some(line) = lines.next() else { panic!("the writer stopped early: {:?}", child.wait()) };
        if let Some(ack) = line.unwrap().strip_prefix("ack ") {
            acked.push(ack.to_owned());
        }
    }
    child.kill().unwrap();
    acked.extend(lines.map_while(Result::ok).filter_map(|l| l.strip_prefix("ack ").map(str::to_owned)));
    assert!(!child.wait().unwrap().success(), "the writer was killed");
    acked
}

/// Every write in `acked` is in the store at `base` once it is opened again, in
/// the py-code-mode layout (`<name>.py`, `.skills.json`, the artifact,
/// `.artifacts.json`), and the recovery checkpointed the logs.
async fn assert_acked_writes_kept(base: &std::path::Path, acked: &[String]) {
    let s = FileStorage::open(base).await.unwrap();
    let index: Value = serde_json::from_slice(&std::fs::read(base.join("skills/.skills.json")).unwrap()).unwrap();
    let artifact_index: Value =
        serde_json::from_slice(&std::fs::read(base.join("artifacts/.artifacts.json")).unwrap()).unwrap();
    for ack in acked {
        let (kind, i) = ack.split_once(' ').unwrap();
        let i: usize = i.parse().unwrap();
        if kind == "skill" {
            let name = format!("s{i}");
            assert_eq!(std::fs::read_to_string(base.join(format!("skills/{name}.py"))).unwrap(), kill_source(i));
            assert_eq!(index[&name]["version"], 1, "{name} is in .skills.json");
            assert_eq!(s.load_skill(&skill_name(&name)).await.unwrap().unwrap().source, kill_source(i));
        } else {
            let name = format!("a{i}.bin");
            assert_eq!(std::fs::read(base.join("artifacts").join(&name)).unwrap(), kill_data(i));
            assert_eq!(artifact_index[&name]["size"], 1024, "{name} is in .artifacts.json");
        }
    }
    for log in ["skills/.skills.log", "artifacts/.artifacts.log"] {
        assert_eq!(std::fs::metadata(base.join(log)).unwrap().len(), 0, "{log} was checkpointed");
    }
}

/// Every write a writer acknowledged before `kill -9` is there after it, and the
/// py-code-mode layout is current once the store is opened again.
#[tokio::test(flavor = "multi_thread")]
async fn file_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let acked = kill_after(start_writer(dir.path(), 1, 0), 60);
    assert_acked_writes_kept(dir.path(), &acked).await;
}

/// The same with writes committed in groups: two processes with four concurrent
/// writers each on one store, killed mid-stream; every acknowledged write is kept.
#[tokio::test(flavor = "multi_thread")]
async fn file_concurrent_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let children = [start_writer(dir.path(), 4, 0), start_writer(dir.path(), 4, 1_000_000)];
    let killers: Vec<_> =
        children.into_iter().map(|child| std::thread::spawn(move || kill_after(child, 120))).collect();
    let acked: Vec<String> = killers.into_iter().flat_map(|k| k.join().unwrap()).collect();
    assert!(acked.len() >= 240);
    assert_acked_writes_kept(dir.path(), &acked).await;
}

/// What a reboot leaves of the lock files: the boot id they record is not this boot's,
/// so the next open replays every record since the last checkpoint.
fn forget_boot(base: &std::path::Path) {
    use std::os::unix::fs::FileExt;
    for lock in ["skills/.skills.lock", "artifacts/.artifacts.lock"] {
        // A store never written to has no lock file.
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(base.join(lock)) {
            file.write_all_at(&[b'0'; 36], 8).unwrap();
        }
    }
}

async fn skill_names(s: &FileStorage) -> Vec<String> {
    let mut names: Vec<_> = s.list_skills().await.unwrap().into_iter().map(|s| s.name.to_string()).collect();
    names.sort();
    names
}

/// A power cut on a filesystem that writes a renamed file's data late (XFS) leaves
/// `.skills.json` / `.artifacts.json` empty or torn. The replay after the reboot starts
/// from the checkpoint copy and re-applies every record since: every acknowledged write
/// (a deletion too) is back with its metadata, and the indexes are current again.
#[tokio::test(flavor = "multi_thread")]
async fn file_indexes_torn_by_a_power_cut_are_rebuilt_from_the_checkpoint_copy() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let s = FileStorage::open(base).await.unwrap();
    let artifacts = Artifacts::new(Arc::new(s.clone()), DEFAULT_MAX_ARTIFACT_SIZE);
    let mut before = stored_skill("before", "def run():\n    return 1\n");
    before.description = "checkpointed".into();
    s.save_skill(&before).await.unwrap();
    s.save_skill(&stored_skill("gone", "def run():\n    return 0\n")).await.unwrap();
    let meta = Map::from_iter([("k".to_owned(), json!(1))]);
    artifacts.save("before.txt", b"b".to_vec(), DataKind::Text, "old", meta.clone()).await.unwrap();
    artifacts.save("gone.txt", b"g".to_vec(), DataKind::Text, "", Map::new()).await.unwrap();
    drop(FileStorage::open(base).await.unwrap());
    for (copy, log) in [
        ("skills/.skills.json.checkpoint", "skills/.skills.log"),
        ("artifacts/.artifacts.json.checkpoint", "artifacts/.artifacts.log"),
    ] {
        assert!(base.join(copy).exists(), "{copy} is kept at a checkpoint");
        assert_eq!(std::fs::metadata(base.join(log)).unwrap().len(), 0, "{log} is checkpointed");
    }

    let mut after = stored_skill("after", "def run():\n    return 2\n");
    after.description = "logged".into();
    s.save_skill(&after).await.unwrap();
    assert!(s.delete_skill(&skill_name("gone")).await.unwrap());
    artifacts.save("after.bin", vec![7; 10], DataKind::Bytes, "new", meta.clone()).await.unwrap();
    assert!(artifacts.delete("gone.txt").await.unwrap());

    // The power cut: one index empty, the other zeroed, the boot id another.
    std::fs::File::create(base.join("skills/.skills.json")).unwrap();
    let len = std::fs::metadata(base.join("artifacts/.artifacts.json")).unwrap().len() as usize;
    std::fs::write(base.join("artifacts/.artifacts.json"), vec![0u8; len]).unwrap();
    forget_boot(base);

    let s = FileStorage::open(base).await.unwrap();
    assert_eq!(skill_names(&s).await, ["after", "before"]);
    assert_eq!(s.load_skill(&skill_name("before")).await.unwrap().unwrap().description, "checkpointed");
    assert_eq!(s.load_skill(&skill_name("after")).await.unwrap().unwrap().description, "logged");
    let mut listed: Vec<_> =
        s.list_artifacts().await.unwrap().into_iter().map(|a| (a.name, a.description, a.metadata)).collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(listed, [("after.bin".into(), "new".into(), meta.clone()), ("before.txt".into(), "old".into(), meta)]);
    let index: Value = serde_json::from_slice(&std::fs::read(base.join("skills/.skills.json")).unwrap()).unwrap();
    assert_eq!(index["after"]["description"], "logged", "the index py-code-mode reads is current");
    assert!(index.get("gone").is_none());
    let index: Value = serde_json::from_slice(&std::fs::read(base.join("artifacts/.artifacts.json")).unwrap()).unwrap();
    assert_eq!(index["after.bin"]["size"], 10);
    assert!(index.get("gone.txt").is_none());
}

/// An index lost in the same boot is rebuilt from the copy by the next operation;
/// a torn copy falls back to the index; with both torn the store refuses to open
/// with a Corrupt error (never a panic, never an empty store).
#[tokio::test(flavor = "multi_thread")]
async fn file_checkpoint_copy_torn_or_missing_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let s = FileStorage::open(base).await.unwrap();
    s.save_skill(&stored_skill("one", "def run():\n    return 1\n")).await.unwrap();
    drop(FileStorage::open(base).await.unwrap());
    s.save_skill(&stored_skill("two", "def run():\n    return 2\n")).await.unwrap();

    std::fs::remove_file(base.join("skills/.skills.json")).unwrap();
    s.save_skill(&stored_skill("three", "def run():\n    return 3\n")).await.unwrap();
    assert_eq!(skill_names(&s).await, ["one", "three", "two"]);

    let copy = base.join("skills/.skills.json.checkpoint");
    std::fs::write(&copy, b"{\"one\": {").unwrap();
    forget_boot(base);
    let s = FileStorage::open(base).await.unwrap();
    assert_eq!(skill_names(&s).await, ["one", "three", "two"], "a torn copy: the intact index is used");

    s.save_skill(&stored_skill("four", "def run():\n    return 4\n")).await.unwrap();
    std::fs::remove_file(&copy).unwrap();
    std::fs::write(base.join("skills/.skills.json"), b"{\"one\": {").unwrap();
    forget_boot(base);
    let Err(err) = FileStorage::open(base).await else { panic!("opened with nothing left to recover from") };
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
}
