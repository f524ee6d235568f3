//! Skills: saved Python workflows with a `run` entry point, validated by the
//! sandbox's own CPython, stored in the session's storage, found by meaning.
//!
//! [`SkillLibrary`] is the one implementation behind the guest's `skills`
//! namespace, the [`Session`](crate::Session) facade and the CLI.

mod index;
mod inspector;
pub(crate) mod search;
mod verify;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

pub use self::inspector::{InspectError, Inspector};
use self::search::{Document, QueryCache};
pub use self::verify::{ExampleRun, Verifier};
pub use crate::embed::{DIMENSION, EmbedError, Embedder, MODEL_NAME, model_dir, shared_embedder};
use crate::embed::{INSTALL_HINT, embed_blocking};
use crate::input::{InputLimits, TooLarge, check};
use crate::model::{Allow, Needs};
pub use crate::model::{
    Param, SearchMode, SearchResults, Skill, SkillExample, SkillInfo, SkillMatch, SkillSignature, SkillTest,
    SkillVersion, TestReport, Verification, Verified,
};
pub use crate::storage::MAX_SKILL_VERSIONS;
use crate::storage::{Expected, SavedSkill, Storage, StorageError, StoredSkill};

pub use crate::names::{InvalidName, RESERVED_SKILL_NAMES as RESERVED_NAMES, SkillName};

/// Why a skill operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SkillError {
    /// The name is not usable; nothing was read or written.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    /// The source is not a valid skill; nothing was written.
    #[error("invalid skill {name:?}{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    InvalidSource {
        /// The skill's name.
        name: String,
        /// What is wrong.
        message: String,
        /// The offending line, when known.
        line: Option<u32>,
    },
    /// No skill of that name exists (or the session may not reach it).
    #[error("skill {0:?} not found")]
    NotFound(String),
    /// The skill has no version of that number (earlier ones may have been dropped:
    /// at most [`MAX_SKILL_VERSIONS`] are kept).
    #[error("skill {name:?} has no version {version}; its history lists the versions kept")]
    VersionNotFound {
        /// The skill's name.
        name: String,
        /// The number asked for.
        version: u32,
    },
    /// The session's allowlist does not name this skill, so it may not create or
    /// delete it; nothing was written.
    #[error("skill {0:?} is not in this session's allowed skills; it cannot be created or deleted here")]
    NotAllowed(String),
    /// The skill was saved by a session that could reach less than this one, so
    /// this session does not run it (see [`StoredSkill::scope`]); nothing ran.
    #[error("skill {name:?} cannot run: {reason}")]
    Untrusted {
        /// The skill's name.
        name: String,
        /// Whose scope it was written in, and how to trust it.
        reason: String,
    },
    /// A restricted session may not replace, roll back or delete a skill any version
    /// of which a session that could reach more than it wrote (an operator's, say):
    /// its saves would push the wider session's versions out of the history.
    /// Nothing was written.
    #[error(
        "skill {0:?} was written by a session that can reach more than this one; \
         only such a session can replace, roll back or delete it (save yours under another name)"
    )]
    Protected(String),
    /// Other sessions changed the skill each time this restricted session checked
    /// it and tried to write it ([`GUARD_ATTEMPTS`] times); nothing was written.
    #[error("skill {0:?} changed each time this session checked and tried to write it; nothing was written, try again")]
    Contended(String),
    /// The examples are not acceptable (too many, too large, too deep); nothing ran
    /// and nothing was written.
    #[error("skill {name:?}: {reason}")]
    InvalidExamples {
        /// The skill's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An example raised or returned something other than what it expects, so the
    /// skill was not saved; nothing was written.
    #[error("skill {name:?} was not saved: its examples failed: {}", failures.join("; "))]
    ExamplesFailed {
        /// The skill's name.
        name: String,
        /// Which example failed, and the difference or the error.
        failures: Vec<String>,
    },
    /// Examples were given where nothing can run them (a library without a
    /// sandbox), or the sandbox failed while running them; nothing was written.
    #[error("skill {name:?}: its examples could not run: {reason}")]
    Unverifiable {
        /// The skill's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// This library is read-only (it serves a skill's examples while they run);
    /// nothing was written.
    #[error("skills are read-only here ({0}); nothing was written")]
    ReadOnly(&'static str),
    /// The storage backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The inspector (the sandbox) could not read the source.
    #[error(transparent)]
    Inspector(Box<dyn std::error::Error + Send + Sync>),
    /// The source, description or query is over its cap; nothing was done.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The embedding model failed while it was loaded.
    #[error("embedding failed: {0}")]
    Embed(#[from] EmbedError),
}

impl SkillError {
    /// How surfaces classify this error.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            SkillError::InvalidName(_)
            | SkillError::InvalidSource { .. }
            | SkillError::TooLarge(_)
            | SkillError::InvalidExamples { .. }
            | SkillError::ExamplesFailed { .. } => ErrorKind::InvalidInput,
            SkillError::ReadOnly(_) => ErrorKind::Denied,
            SkillError::Unverifiable { .. } | SkillError::Contended(_) => ErrorKind::Failed,
            SkillError::NotFound(_) | SkillError::VersionNotFound { .. } => ErrorKind::NotFound,
            SkillError::NotAllowed(_) | SkillError::Untrusted { .. } | SkillError::Protected(_) => ErrorKind::Denied,
            SkillError::Storage(_) | SkillError::Inspector(_) | SkillError::Embed(_) => ErrorKind::Failed,
        }
    }
}

/// Whether semantic search may load the model.
#[derive(Debug, Clone)]
enum Embedding {
    /// Load the model from [`model_dir`] on first use; keywords if it is not there.
    Auto,
    /// Keywords only.
    Disabled,
}

/// Skills in one storage.
#[derive(Debug, Clone)]
pub struct SkillLibrary {
    storage: Arc<dyn Storage>,
    inspector: Arc<dyn Inspector>,
    embedding: Embedding,
    input: InputLimits,
    cache: Arc<Mutex<Caches>>,
    /// The keyword-only notice is given once per library (so once per session).
    notice_given: Arc<AtomicBool>,
    /// The only skills reachable, when the session is restricted (see
    /// [`Allow`](crate::model::Allow)); every operation passes through [`allows`](Self::allows).
    allowed: Option<Arc<BTreeSet<String>>>,
    /// The session's tools, when known: a skill calling a tool outside them is unavailable.
    tools: Option<Arc<BTreeSet<String>>>,
    /// The session's tool allowlist, when it has one: with `allowed`, its reach,
    /// recorded as the scope of the skills it saves ([`StoredSkill::scope`]).
    allowed_tools: Option<Arc<Vec<String>>>,
    /// What runs examples; without one, a skill with examples cannot be saved.
    verifier: Option<Arc<dyn Verifier>>,
    /// Why writes are refused, when they are.
    read_only: Option<&'static str>,
}

/// Vectors and queries are content-addressed, so never stale: a changed text has a
/// different key. The listing is checked against the storage's version.
struct Caches {
    vectors: HashMap<String, Arc<Vec<f32>>>,
    queries: QueryCache,
    /// The last listing and the storage's skills version it was read at.
    listing: Option<(String, Arc<Vec<Entry>>)>,
    /// The vectors of that listing, resolved.
    listing_vectors: Option<ResolvedListing>,
}

/// A listing's vectors; the listing's `Arc` identifies which listing they belong to.
struct ResolvedListing {
    entries: Arc<Vec<Entry>>,
    vectors: Arc<Vec<Option<VectorPair>>>,
}

/// A skill's (description, code) vectors.
type VectorPair = (Arc<Vec<f32>>, Arc<Vec<f32>>);

/// Most times a restricted session checks a skill and tries to write it, when the
/// skill changes between the check and the write (the write is conditional on
/// what the check read, so it then writes nothing; see [`SkillError::Contended`]).
pub const GUARD_ATTEMPTS: usize = 3;

/// Most skills one [`SkillLibrary::test`] of every skill runs the examples of.
pub const MAX_TESTED: usize = 100;

/// Most skills whose needs are followed, transitively, to tell whether a skill can
/// run: a chain or a web of calls longer than this is not followed further.
pub const MAX_NEEDS_WALKED: usize = 64;

/// Every stored skill by name, from one scan: what a listing checks needs against,
/// rather than a read from storage per needed name.
struct Known<'a>(HashMap<&'a str, &'a StoredSkill>);

impl<'a> Known<'a> {
    fn of(skills: impl IntoIterator<Item = &'a StoredSkill>) -> Self {
        Self(skills.into_iter().map(|s| (s.name.as_str(), s)).collect())
    }
}

/// How long one [`SkillLibrary::test`] of every skill starts new skills for (each
/// example is also bounded by the session's own limits).
pub const TEST_BUDGET: std::time::Duration = std::time::Duration::from_secs(300);

/// The most texts a search embeds itself (two per skill); more go to the background.
const INLINE_TEXTS: usize = 8;

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").field("vectors", &self.vectors.len()).finish_non_exhaustive()
    }
}

impl SkillLibrary {
    /// Skills stored in `storage`, validated by `inspector` (a [`Sandbox`](crate::Sandbox)).
    pub fn new(storage: Arc<dyn Storage>, inspector: impl Inspector + 'static) -> Self {
        let cache =
            Caches { vectors: HashMap::new(), queries: QueryCache::new(256), listing: None, listing_vectors: None };
        Self {
            storage,
            inspector: Arc::new(inspector),
            embedding: Embedding::Auto,
            input: InputLimits::default(),
            cache: Arc::new(Mutex::new(cache)),
            notice_given: Arc::new(AtomicBool::new(false)),
            allowed: None,
            tools: None,
            allowed_tools: None,
            verifier: None,
            read_only: None,
        }
    }

    /// Runs skills' examples with `verifier` (a session's sandbox, tools and limits).
    pub fn with_verifier(mut self, verifier: Arc<dyn Verifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// The same skills, readable only: creating, deleting, rolling back and
    /// recording test results are refused ([`SkillError::ReadOnly`], saying `why`).
    /// What a skill's examples see while they run: they cannot write skills.
    pub fn read_only(&self, why: &'static str) -> Self {
        Self { read_only: Some(why), verifier: None, ..self.clone() }
    }

    fn writable(&self) -> Result<(), SkillError> {
        self.read_only.map_or(Ok(()), |why| Err(SkillError::ReadOnly(why)))
    }

    /// The tools of the session this library serves: a skill whose source calls a
    /// tool not among them is listed as unavailable ([`SkillInfo::unavailable`]).
    /// Without it, tools are not checked (the skills the library reaches always are).
    pub fn with_tools<'a>(mut self, tools: impl IntoIterator<Item = &'a str>) -> Self {
        self.tools = Some(Arc::new(tools.into_iter().map(str::to_owned).collect()));
        self
    }

    /// Only the skills named in `allowed` (which need not exist yet): the others
    /// are absent from listings and searches and not found by `get` (so they cannot
    /// be invoked), and creating or deleting them is refused
    /// ([`SkillError::NotAllowed`]). Creating an allowed name is fine. A library
    /// already restricted is narrowed, never widened: a name outside its list is
    /// an error.
    pub fn restricted(&self, allowed: &[String]) -> Result<Self, crate::model::InvalidAllow> {
        let mut names = BTreeSet::new();
        for name in allowed {
            let name = SkillName::new(name).map_err(|e| crate::model::InvalidAllow(e.to_string()))?;
            if !self.allows(name.as_str()) {
                return Err(crate::model::InvalidAllow(format!("skill {:?} is not allowed here", name.as_str())));
            }
            names.insert(name.to_string());
        }
        Ok(Self { allowed: Some(Arc::new(names)), ..self.clone() })
    }

    /// The session's tool allowlist (`None`: every tool): a skill this library saves
    /// records it with the skill allowlist as its scope, and a scoped skill is
    /// available only when this reach lies within its scope ([`StoredSkill::scope`]).
    pub fn with_allowed_tools(mut self, tools: Option<&[String]>) -> Self {
        self.allowed_tools = tools.map(|t| {
            let mut t = t.to_vec();
            t.sort();
            t.dedup();
            Arc::new(t)
        });
        self
    }

    /// What this library's session may reach: its tool and skill allowlists.
    pub fn reach(&self) -> Allow {
        Allow {
            tools: self.allowed_tools.as_ref().map(|t| t.to_vec()),
            skills: self.allowed.as_ref().map(|s| s.iter().cloned().collect()),
        }
    }

    /// Why this session may not run a skill saved within `scope`, or `None` when
    /// its reach lies within it. An unrestricted reach is never within a set scope:
    /// the skill's author could not reach what this session can, so its code is not
    /// trusted with it. Names are shown only where this session may know them.
    fn outside_scope(&self, scope: Option<&Allow>) -> Option<String> {
        let scope = scope?;
        let reach = self.reach();
        let mut limits = Vec::new();
        for (what, scoped, mine) in [("tools", &scope.tools, &reach.tools), ("skills", &scope.skills, &reach.skills)] {
            let Some(scoped) = scoped else { continue };
            if !crate::model::allow::list_within(mine.as_deref(), Some(scoped)) {
                let shown: Vec<String> = scoped
                    .iter()
                    .filter(|n| mine.as_ref().is_none_or(|mine| mine.contains(n)))
                    .map(|n| format!("{:?}", crate::text::shown(n)))
                    .collect();
                limits.push(format!("{what} [{}]", shown.join(", ")));
            }
        }
        (!limits.is_empty()).then(|| {
            format!(
                "written by a session limited to {}; re-save it from a wider session to trust it",
                limits.join(" and ")
            )
        })
    }

    /// Whether this library may reach the skill `name`.
    pub fn allows(&self, name: &str) -> bool {
        self.allowed.as_ref().is_none_or(|allowed| allowed.contains(name))
    }

    /// `name` validated, and refused with `refusal` unless allowed.
    fn reachable(&self, name: &str, refusal: fn(String) -> SkillError) -> Result<SkillName, SkillError> {
        let name = SkillName::new(name)?;
        if self.allows(name.as_str()) { Ok(name) } else { Err(refusal(name.to_string())) }
    }

    /// Never load the model: search ranks by keywords (BM25) only.
    pub fn without_embeddings(mut self) -> Self {
        self.embedding = Embedding::Disabled;
        self
    }

    /// Caps on sources, descriptions and queries (default: [`InputLimits::default`]).
    pub fn with_input_limits(mut self, input: InputLimits) -> Self {
        self.input = input;
        self
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn embedder(&self) -> Result<Arc<Embedder>, String> {
        match self.embedding {
            Embedding::Auto => shared_embedder(),
            Embedding::Disabled => Err("embeddings are disabled for this library".into()),
        }
    }

    /// Validates and stores a skill, replacing one of the same name. Returns its
    /// info and whether a skill was replaced. Nothing is written if validation fails.
    pub async fn create(
        &self,
        name: &str,
        source: &str,
        description: Option<&str>,
    ) -> Result<(SkillInfo, bool), SkillError> {
        let (skill, replaced) = self.create_verified(name, source, description, &[]).await?;
        Ok((skill.info, replaced))
    }

    /// [`create`](Self::create), running each of `examples` first in a fresh
    /// interpreter (the session's tools and limits, nothing persisting): one that
    /// raises or returns anything but its `expect` refuses the save
    /// ([`SkillError::ExamplesFailed`], with the difference) and nothing is written.
    /// The skill keeps its examples and how they ran; it is returned with them.
    /// A restricted session cannot save over a skill a wider one wrote
    /// ([`SkillError::Protected`]).
    pub async fn create_verified(
        &self,
        name: &str,
        source: &str,
        description: Option<&str>,
        examples: &[SkillExample],
    ) -> Result<(Skill, bool), SkillError> {
        self.writable()?;
        let name = self.reachable(name, SkillError::NotAllowed)?;
        let checked = self.guard_wider(&name).await?;
        check("a skill's source", source, self.input.source)?;
        check("a skill's description", description.unwrap_or_default(), self.input.text)?;
        SkillExample::check_all(examples)
            .map_err(|e| SkillError::InvalidExamples { name: name.to_string(), reason: e.0 })?;
        let signature = self.inspect(&name, source).await?;
        let verification = self.verify(&name, source, examples).await?;
        if let Some(failed) = verification.as_ref().filter(|v| !v.passed) {
            return Err(SkillError::ExamplesFailed { name: name.to_string(), failures: failed.failures.clone() });
        }
        let description = description.map(str::trim).filter(|d| !d.is_empty()).unwrap_or(&signature.docstring);
        let stored = StoredSkill {
            name: name.clone(),
            description: first_paragraph(description),
            source: source.to_owned(),
            created_at: crate::storage::now_iso8601(),
            signature: Some(signature),
            scope: self.scope_of_saves(),
            version: 0,
            examples: examples.to_vec(),
            verification,
        };
        // Not embedded here: loading the model and embedding two texts cost far more
        // than the write. The next search embeds a few new skills itself and hands
        // more to the background indexer.
        // The examples may have run for a whole timeout and a wider session may have
        // saved this name meanwhile: the save is conditional on what was checked.
        let saved = self.guarded(&name, checked, |expected| self.save(&stored, expected)).await?;
        Ok((self.skill(StoredSkill { version: saved.version, ..stored }).await?, saved.replaced))
    }

    /// Saves `skill`, if it still replaces the skill `expected` when given: `None` when not.
    async fn save(&self, skill: &StoredSkill, expected: Option<Expected>) -> Result<Option<SavedSkill>, SkillError> {
        Ok(match expected {
            None => Some(self.storage.save_skill(skill).await?),
            Some(expected) => self.storage.save_skill_if(skill, &expected).await?,
        })
    }

    /// How `examples` of `source` run; `None` when there are none.
    async fn verify(
        &self,
        name: &SkillName,
        source: &str,
        examples: &[SkillExample],
    ) -> Result<Option<Verification>, SkillError> {
        if examples.is_empty() {
            return Ok(None);
        }
        let unverifiable = |reason: String| SkillError::Unverifiable { name: name.to_string(), reason };
        let verifier =
            self.verifier.as_ref().ok_or_else(|| unverifiable("this library has no sandbox to run them".into()))?;
        verify::run_examples(verifier.as_ref(), name, source, examples)
            .await
            .map(Some)
            .map_err(|e| unverifiable(e.to_string()))
    }

    /// Runs the examples of the skill `name` again, or of every skill when `None`
    /// (at most [`MAX_TESTED`] per call, within [`TEST_BUDGET`]; the rest are
    /// reported skipped), and reports each. An unrestricted session stores the
    /// results with the skills (listings then show them as `verified`); a
    /// restricted one only reports them. A skill this session may not run (saved
    /// by a narrower session) is skipped; one missing a tool it needs fails.
    /// `progress` is told (done, total) after each skill.
    pub async fn test(
        &self,
        name: Option<&str>,
        mut progress: impl FnMut(usize, usize) + Send,
    ) -> Result<TestReport, SkillError> {
        let mut skills = match name {
            Some(name) => vec![self.load(name).await?],
            None => {
                let mut all: Vec<StoredSkill> = self
                    .entries()
                    .await?
                    .iter()
                    .map(|e| e.skill.clone())
                    .filter(|s| self.allows(s.name.as_str()))
                    .collect();
                all.sort_by(|a, b| a.name.cmp(&b.name));
                all
            }
        };
        let record = self.reach().is_unrestricted() && self.read_only.is_none();
        let deadline = std::time::Instant::now() + TEST_BUDGET;
        let total = skills.len();
        let mut results = Vec::with_capacity(total);
        for (i, skill) in skills.drain(..).enumerate() {
            let examples = u32::try_from(skill.examples.len()).unwrap_or(u32::MAX);
            let skip = |why: String| SkillTest {
                name: skill.name.to_string(),
                verified: Verified::of(skill.verification.as_ref()),
                examples,
                failures: Vec::new(),
                skipped: Some(why),
            };
            let result = if skill.examples.is_empty() {
                skip("it has no examples".into())
            } else if i >= MAX_TESTED {
                skip(format!("only {MAX_TESTED} skills are tested per call; test it by name"))
            } else if std::time::Instant::now() >= deadline {
                skip(format!("the test's budget of {} s was spent; test it by name", TEST_BUDGET.as_secs()))
            } else if let Some(reason) = self.outside_scope(skill.scope.as_ref()) {
                skip(format!("it cannot run in this session: {reason}"))
            } else {
                self.test_one(&skill, record).await?
            };
            results.push(result);
            progress(i + 1, total);
        }
        Ok(TestReport::new(results, record))
    }

    /// Runs one stored skill's examples, recording the outcome when `record`.
    async fn test_one(&self, skill: &StoredSkill, record: bool) -> Result<SkillTest, SkillError> {
        let info = self.info(skill.clone(), None).await?;
        let verification =
            match &info.unavailable {
                // A tool it needs is gone: that is what a test is for, said without running.
                Some(why) => Verification {
                    passed: false,
                    at: crate::storage::now_iso8601(),
                    examples: u32::try_from(skill.examples.len()).unwrap_or(u32::MAX),
                    failures: vec![format!("cannot run: {why}")],
                },
                None => self.verify(&skill.name, &skill.source, &skill.examples).await?.unwrap_or_else(|| {
                    Verification { passed: true, at: crate::storage::now_iso8601(), examples: 0, failures: Vec::new() }
                }),
            };
        if record {
            // A save since it was read keeps its own result (`false` here).
            self.storage.save_verification(&skill.name, skill.version, &verification).await?;
        }
        Ok(SkillTest {
            name: skill.name.to_string(),
            verified: Verified::of(Some(&verification)),
            examples: verification.examples,
            failures: verification.failures,
            skipped: None,
        })
    }

    /// The scope recorded with what this library saves: its reach, when restricted.
    fn scope_of_saves(&self) -> Option<Allow> {
        Some(self.reach()).filter(|reach| !reach.is_unrestricted())
    }

    /// A skill's versions, oldest first, the current one last. Earlier versions are
    /// kept when a skill is replaced (at most [`MAX_SKILL_VERSIONS`]); deleting a
    /// skill deletes them.
    pub async fn history(&self, name: &str) -> Result<Vec<SkillVersion>, SkillError> {
        let current = self.load(name).await?;
        let mut versions = self.storage.skill_versions(&current.name).await?;
        versions.push(current);
        let last = versions.len() - 1;
        Ok(versions
            .into_iter()
            .enumerate()
            .map(|(i, v)| SkillVersion {
                version: v.version,
                untrusted: self.outside_scope(v.scope.as_ref()),
                description: v.description,
                created_at: v.created_at,
                current: i == last,
            })
            .collect())
    }

    /// Restores version `version` of a skill as a new current version (so a
    /// rollback is itself undone by another); returns it with its new number. The
    /// version replaced joins the history. Refused like [`create`](Self::create)
    /// outside the session's allowlist; a restricted session's rollback is scoped
    /// to it like its saves.
    pub async fn rollback(&self, name: &str, version: u32) -> Result<(Skill, u32), SkillError> {
        self.writable()?;
        let name = self.reachable(name, SkillError::NotAllowed)?;
        let checked = self.guard_wider(&name).await?;
        let restored = self
            .guarded(&name, checked, |expected| async {
                let current =
                    self.storage.load_skill(&name).await?.ok_or_else(|| SkillError::NotFound(name.to_string()))?;
                let versions = self.storage.skill_versions(&name).await?;
                let chosen = versions
                    .into_iter()
                    .chain(std::iter::once(current))
                    .rfind(|v| v.version == version)
                    .ok_or_else(|| SkillError::VersionNotFound { name: name.to_string(), version })?;
                let restored = StoredSkill {
                    created_at: crate::storage::now_iso8601(),
                    // Never wider than the version restored nor than this session: a
                    // restricted rollback of a narrower session's code stays as narrow.
                    scope: Allow::narrowest(self.scope_of_saves().as_ref(), chosen.scope.as_ref()),
                    ..chosen
                };
                let saved = self.save(&restored, expected).await?;
                Ok(saved.map(|saved| StoredSkill { version: saved.version, ..restored }))
            })
            .await?;
        let number = restored.version;
        Ok((self.skill(restored).await?, number))
    }

    /// One skill with its source (to read it: one this session may not run is
    /// returned too, listed [`unavailable`](SkillInfo::unavailable)).
    pub async fn get(&self, name: &str) -> Result<Skill, SkillError> {
        let stored = self.load(name).await?;
        self.skill(stored).await
    }

    /// What agents see of `stored`, with its source and examples.
    async fn skill(&self, stored: StoredSkill) -> Result<Skill, SkillError> {
        let source = stored.source.clone();
        let examples = stored.examples.clone();
        let verification = stored.verification.clone();
        Ok(Skill { info: self.info(stored, None).await?, source, examples, verification })
    }

    /// One skill with its source, to run it: what invoking a skill reads, refused
    /// ([`SkillError::Untrusted`]) when a session narrower than this one saved it.
    /// The refusal is the host's, whatever the guest's wrappers do.
    pub async fn get_to_run(&self, name: &str) -> Result<Skill, SkillError> {
        let stored = self.load(name).await?;
        if let Some(reason) = self.outside_scope(stored.scope.as_ref()) {
            return Err(SkillError::Untrusted { name: stored.name.to_string(), reason });
        }
        self.skill(stored).await
    }

    /// The stored skill `name`, if this library may reach it.
    async fn load(&self, name: &str) -> Result<StoredSkill, SkillError> {
        let name = self.reachable(name, SkillError::NotFound)?;
        self.storage.load_skill(&name).await?.ok_or_else(|| SkillError::NotFound(name.to_string()))
    }

    /// Every skill, sorted by name. Entries that are not valid skills are left out,
    /// and each is logged once with its reason ([`check`](Self::check) lists them).
    pub async fn list(&self) -> Result<Vec<SkillInfo>, SkillError> {
        let mut skills = Vec::new();
        for checked in self.check().await? {
            checked.log();
            if let Ok(info) = checked.loaded {
                skills.push(info);
            }
        }
        Ok(skills)
    }

    /// Every entry of the store, sorted by name: each skill as it loads, or why it
    /// was skipped (a name no operation could use, a syntax error, no `run`, ...).
    pub async fn check(&self) -> Result<Vec<SkillCheck>, SkillError> {
        let (stored, skipped) = self.storage.scan_skills().await?;
        let mut checks: Vec<SkillCheck> = skipped
            .into_iter()
            .filter(|_| self.allowed.is_none())
            .map(|s| SkillCheck { name: s.entry, loaded: Err(s.reason) })
            .collect();
        // What the skills need is looked up in this one scan, not read from storage
        // per needed name (a listing would otherwise cost a read per need per skill).
        let names = Known::of(&stored);
        for skill in stored.iter().filter(|s| self.allows(s.name.as_str())) {
            let name = skill.name.to_string();
            checks.push(SkillCheck { loaded: self.loadable(skill.clone(), Some(&names)).await?, name });
        }
        checks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(checks)
    }

    /// A stored skill's info, or why its source is not a skill; other failures
    /// (the sandbox could not start) are errors.
    async fn loadable(
        &self,
        stored: StoredSkill,
        known: Option<&Known<'_>>,
    ) -> Result<Result<SkillInfo, String>, SkillError> {
        match self.info(stored, known).await {
            Ok(info) => Ok(Ok(info)),
            Err(err @ SkillError::InvalidSource { .. }) => Ok(Err(err.to_string())),
            Err(err) => Err(err),
        }
    }

    /// Deletes a skill; `false` if there was none. A restricted session deletes
    /// only a skill all of whose versions a session no wider than it wrote
    /// ([`SkillError::Protected`]).
    pub async fn delete(&self, name: &str) -> Result<bool, SkillError> {
        self.writable()?;
        let name = self.reachable(name, SkillError::NotAllowed)?;
        let checked = self.guard_wider(&name).await?;
        self.guarded(&name, checked, |expected| async {
            Ok(match expected {
                None => Some(self.storage.delete_skill(&name).await?),
                Some(expected) => self.storage.delete_skill_if(&name, &expected).await?,
            })
        })
        .await
    }

    /// Refuses ([`SkillError::Protected`]) a restricted session's write to a skill
    /// any version of which (the current one or one in its history) a session wider
    /// than it wrote: what an operator saved stays current and in the history,
    /// whatever a restricted agent saves, rolls back or deletes. Otherwise returns
    /// the current skill checked, which the write must still find
    /// ([`guarded`](Self::guarded)); `None` for an unrestricted session, whose
    /// writes are not checked.
    async fn guard_wider(&self, name: &SkillName) -> Result<Option<Expected>, SkillError> {
        let reach = self.reach();
        if reach.is_unrestricted() {
            return Ok(None);
        }
        let current = self.storage.load_skill(name).await?;
        let versions = self.storage.skill_versions(name).await?;
        match current.iter().chain(&versions).all(|v| v.scope.as_ref().is_some_and(|s| s.is_within(&reach))) {
            true => Ok(Some(Expected::of(current.as_ref()))),
            false => Err(SkillError::Protected(name.to_string())),
        }
    }

    /// Runs `write`, a write of the skill `name` that [`guard_wider`](Self::guard_wider)
    /// allowed, returning `checked`: the write is made only if the skill is still
    /// the one checked, in the store's atomic step (`write` answers `None`, having
    /// written nothing, when not). The skill is then checked again, so a wider
    /// session's save landing between the check and the write refuses it
    /// ([`SkillError::Protected`]), and the write is tried again, at most
    /// [`GUARD_ATTEMPTS`] times in all. Unrestricted, `write` gets `None` (no
    /// condition) and answers at once.
    async fn guarded<T, W>(
        &self,
        name: &SkillName,
        checked: Option<Expected>,
        mut write: impl FnMut(Option<Expected>) -> W,
    ) -> Result<T, SkillError>
    where
        W: Future<Output = Result<Option<T>, SkillError>>,
    {
        let mut expected = checked;
        for _ in 1..GUARD_ATTEMPTS {
            if let Some(done) = write(expected).await? {
                return Ok(done);
            }
            expected = self.guard_wider(name).await?;
        }
        write(expected).await?.ok_or_else(|| SkillError::Contended(name.to_string()))
    }

    /// The skills that best match `query`, best first.
    pub async fn search(&self, query: &str, limit: usize) -> Result<SearchResults, SkillError> {
        check("a search query", query, self.input.text)?;
        let entries = self.entries().await?;
        // Only the skills this library may show are ranked, and only they shape the
        // ranking (BM25's word statistics, the scale of keyword scores, the count of
        // skills still being indexed): a restricted session learns nothing of others.
        let shown: Vec<usize> = (0..entries.len()).filter(|&i| self.allows(entries[i].skill.name.as_str())).collect();
        let docs: Vec<Document<'_>> = shown
            .iter()
            .map(|&i| Document {
                name: entries[i].skill.name.as_str(),
                description: &entries[i].skill.description,
                source: &entries[i].skill.source,
            })
            .collect();
        let names = search::NameMatcher::new(query);
        // A skill ranked by keywords is only returned if it shares a word with the
        // query (or its name matches); `None` leaves it out.
        let keyword_score = |score: f32, doc: &Document<'_>| Some(score + names.boost(doc.name)).filter(|s| *s > 0.0);
        let (mode, notice, scores): (_, _, Vec<Option<f32>>) = match self.embedder() {
            Ok(embedder) => {
                let query_vector = self.query_vector(&embedder, query).await?;
                let all_vectors = self.listing_vectors(&embedder, &entries).await?;
                let vectors: Vec<&Option<VectorPair>> = shown.iter().map(|&i| &all_vectors[i]).collect();
                let unindexed = vectors.iter().filter(|v| v.is_none()).count();
                let lexical = |query: &str, scale| match query.is_empty() {
                    true => vec![0.0; docs.len()],
                    false => search::scaled_bm25(query, &docs, scale),
                };
                let keywords = lexical(if unindexed > 0 { query } else { "" }, search::KEYWORD_SCALE);
                let unread = search::unread_words(query, |word| embedder.knows_word(word));
                let unread = lexical(&unread, search::UNREAD_WORDS_SCALE);
                let scores = docs
                    .iter()
                    .zip(vectors)
                    .zip(keywords.into_iter().zip(unread))
                    .map(|((doc, vectors), (keywords, unread))| match vectors {
                        Some((desc, code)) => {
                            Some(search::dense_score(&query_vector, desc, code) + unread + names.boost(doc.name))
                        }
                        None => keyword_score(keywords, doc),
                    })
                    .collect();
                if unindexed == 0 {
                    (SearchMode::Semantic, None, scores)
                } else {
                    let notice = format!(
                        "{unindexed} of {} skills are still being indexed for semantic search and are ranked by keywords until then",
                        docs.len()
                    );
                    (SearchMode::Partial, Some(notice), scores)
                }
            }
            Err(reason) => {
                let notice = (!self.notice_given.swap(true, Ordering::Relaxed))
                    .then(|| format!("skill search is keyword-only (BM25): {reason}; {INSTALL_HINT}"));
                let scores =
                    search::bm25(query, &docs).into_iter().zip(&docs).map(|(s, doc)| keyword_score(s, doc)).collect();
                (SearchMode::Keyword, notice, scores)
            }
        };
        let names = Known::of(entries.iter().map(|e| &e.skill));
        let mut ranked: Vec<(f32, &StoredSkill)> = scores
            .into_iter()
            .zip(shown.iter().map(|&i| &entries[i].skill))
            .filter_map(|(score, skill)| Some((score?, skill)))
            .collect();
        // A skill whose examples failed ranks below every one that did not, whatever
        // its score: an agent should find the skill that works first.
        let failed = |skill: &StoredSkill| skill.verification.as_ref().is_some_and(|v| !v.passed);
        ranked.sort_by(|a, b| {
            failed(a.1).cmp(&failed(b.1)).then_with(|| b.0.total_cmp(&a.0)).then_with(|| a.1.name.cmp(&b.1.name))
        });
        let mut matches = Vec::new();
        for (score, skill) in ranked {
            if matches.len() == limit {
                break;
            }
            let name = skill.name.to_string();
            match self.loadable(skill.clone(), Some(&names)).await? {
                Ok(info) => matches.push(SkillMatch { info, score }),
                Err(reason) => SkillCheck { name, loaded: Err(reason) }.log(),
            }
        }
        Ok(SearchResults { mode, notice, matches })
    }

    async fn inspect(&self, name: &SkillName, source: &str) -> Result<SkillSignature, SkillError> {
        self.inspector.inspect(source).await.map_err(|err| match err {
            InspectError::Invalid { message, line } => {
                SkillError::InvalidSource { name: name.to_string(), message, line }
            }
            InspectError::Unavailable(err) => SkillError::Inspector(err),
        })
    }

    /// What agents see of `stored`; `known`, when given, is every stored skill's
    /// name (else each skill it needs is looked up in storage).
    async fn info(&self, stored: StoredSkill, known: Option<&Known<'_>>) -> Result<SkillInfo, SkillError> {
        let signature = match stored.signature {
            Some(signature) if signature.needs.is_some() => signature,
            // Written by hand, by py-code-mode, or before needs were recorded: read
            // the source now.
            _ => self.inspect(&stored.name, &stored.source).await?,
        };
        let description =
            if stored.description.is_empty() { first_paragraph(&signature.docstring) } else { stored.description };
        let needs = signature.needs.unwrap_or_default();
        let unavailable = match (self.outside_scope(stored.scope.as_ref()), self.missing(&needs, known).await?) {
            (Some(scope), Some(missing)) => Some(format!("{scope}; {missing}")),
            (scope, missing) => scope.or(missing),
        };
        Ok(SkillInfo {
            name: stored.name.into(),
            description,
            params: signature.params,
            is_async: signature.is_async,
            needs,
            unavailable,
            verified: Verified::of(stored.verification.as_ref()),
        })
    }

    /// What of `needs` this library's session lacks, said in one line naming each
    /// missing tool and skill; `None` when nothing is missing. A needed skill counts
    /// as present when it exists, is allowed, and what it needs in turn is present,
    /// however deep (up to [`MAX_NEEDS_WALKED`] skills; a skill whose needs were never
    /// recorded is taken as it is): the first one found lacking is named with the
    /// skill that lacks it.
    async fn missing(&self, needs: &Needs, known: Option<&Known<'_>>) -> Result<Option<String>, SkillError> {
        let lacking = self.lacking(needs, known).await?;
        if !lacking.is_empty() {
            return Ok(Some(format!("this session has no {}", lacking.join(", "))));
        }
        let mut seen: HashSet<String> = HashSet::new();
        let mut queue: std::collections::VecDeque<String> = needs.skills.iter().cloned().collect();
        while let Some(skill) = queue.pop_front() {
            if seen.len() == MAX_NEEDS_WALKED {
                break;
            }
            if !seen.insert(skill.clone()) {
                continue;
            }
            let Some(deeper) = self.needs_of(&skill, known).await? else { continue };
            let lacking = self.lacking(&deeper, known).await?;
            if !lacking.is_empty() {
                return Ok(Some(format!("this session has no {}, which skill {skill:?} needs", lacking.join(", "))));
            }
            queue.extend(deeper.skills);
        }
        Ok(None)
    }

    /// The tools and skills of `needs` themselves (not what they need) this session lacks.
    async fn lacking(&self, needs: &Needs, known: Option<&Known<'_>>) -> Result<Vec<String>, SkillError> {
        let mut lacking = Vec::new();
        if let Some(tools) = &self.tools {
            lacking.extend(needs.tools.iter().filter(|t| !tools.contains(*t)).map(|t| format!("tool {t:?}")));
        }
        for skill in &needs.skills {
            let present = match (SkillName::new(skill), known) {
                (Err(_), _) => false,
                (Ok(_), Some(known)) => self.allows(skill) && known.0.contains_key(skill.as_str()),
                (Ok(name), None) => self.allows(skill) && self.storage.load_skill(&name).await?.is_some(),
            };
            if !present {
                lacking.push(format!("skill {skill:?}"));
            }
        }
        Ok(lacking)
    }

    /// What the stored skill `name` needs; `None` when it is not stored or its source
    /// is not a skill.
    async fn needs_of(&self, name: &str, known: Option<&Known<'_>>) -> Result<Option<Needs>, SkillError> {
        let loaded;
        let stored = match known {
            Some(known) => known.0.get(name).copied(),
            None => {
                let Ok(name) = SkillName::new(name) else { return Ok(None) };
                loaded = self.storage.load_skill(&name).await?;
                loaded.as_ref()
            }
        };
        let Some(stored) = stored else { return Ok(None) };
        if let Some(needs) = stored.signature.as_ref().and_then(|s| s.needs.clone()) {
            return Ok(Some(needs));
        }
        // Written by hand, by py-code-mode, or before needs were recorded: read it
        // now, as a listing does.
        match self.inspect(&stored.name, &stored.source).await {
            Ok(signature) => Ok(signature.needs),
            Err(SkillError::InvalidSource { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn query_vector(&self, embedder: &Arc<Embedder>, query: &str) -> Result<Vec<f32>, SkillError> {
        if let Some(vector) = self.caches().queries.get(query) {
            return Ok(vector);
        }
        let vector = embed_blocking(embedder, vec![query.to_owned()]).await?.pop().unwrap_or_default();
        self.caches().queries.put(query.to_owned(), vector.clone());
        Ok(vector)
    }

    /// Embeds, now, every skill's texts that have no stored vector; `progress` is
    /// told (done, total) after each batch. Returns how many texts were embedded.
    /// What `codemode skills index` runs; searches do the same in the background.
    pub async fn index(&self, mut progress: impl FnMut(usize, usize)) -> Result<usize, SkillError> {
        let embedder = self.embedder().map_err(|reason| EmbedError::unavailable(&reason))?;
        let entries = self.entries().await?;
        let missing = self.load_missing(&entries).await?;
        progress(0, missing.len());
        self.embed_and_store(&embedder, &entries, &missing, progress).await?;
        Ok(missing.len())
    }

    /// Queues every skill's texts that have no stored vector for the background
    /// indexer (a server does this at start); returns how many were queued.
    pub async fn index_in_background(&self) -> Result<usize, SkillError> {
        if self.embedder().is_err() {
            return Ok(0);
        }
        let entries = self.entries().await?;
        let missing = self.load_missing(&entries).await?;
        Ok(self.queue(&entries, &missing))
    }

    /// (description, code) vectors of each skill that has both, from memory, else
    /// from storage. Texts with neither are embedded now when they are a few (a
    /// skill or four just created: the agent creates, then searches), else queued
    /// for the background indexer while the search ranks them by keywords: a search
    /// never waits for a whole library to be embedded.
    async fn vectors_for(
        &self,
        embedder: &Arc<Embedder>,
        entries: &[Entry],
    ) -> Result<Vec<Option<VectorPair>>, SkillError> {
        let mut missing = self.load_missing(entries).await?;
        missing.retain(|key| !index::is_waiting(&self.storage, key));
        if missing.len() > INLINE_TEXTS {
            self.queue(entries, &missing);
        } else if !missing.is_empty() {
            // Read again: the indexer stores a vector before it stops waiting on it,
            // so one it finished since the first read is found now, not embedded twice.
            let missing = self.load_stored(missing).await?;
            self.embed_and_store(embedder, entries, &missing, |_, _| {}).await?;
        }
        let caches = self.caches();
        Ok(entries
            .iter()
            .map(|e| Some((caches.vectors.get(&e.keys[0])?.clone(), caches.vectors.get(&e.keys[1])?.clone())))
            .collect())
    }

    /// The vector keys of `entries` found neither in memory nor in storage (those
    /// in storage are loaded into memory on the way).
    async fn load_missing(&self, entries: &[Entry]) -> Result<Vec<String>, SkillError> {
        let missing_in_memory: Vec<String> = {
            let caches = self.caches();
            let mut missing: Vec<String> =
                entries.iter().flat_map(|e| &e.keys).filter(|k| !caches.vectors.contains_key(*k)).cloned().collect();
            missing.sort();
            missing.dedup();
            missing
        };
        self.load_stored(missing_in_memory).await
    }

    /// Loads the stored vectors of `keys` into memory; returns the keys with none.
    async fn load_stored(&self, keys: Vec<String>) -> Result<Vec<String>, SkillError> {
        if keys.is_empty() {
            return Ok(keys);
        }
        let stored = self.storage.load_vectors(&keys).await?;
        let mut caches = self.caches();
        let mut missing = Vec::new();
        for (key, vector) in keys.into_iter().zip(stored) {
            match vector.filter(|v| v.len() == DIMENSION) {
                Some(vector) => {
                    caches.vectors.insert(key, Arc::new(vector));
                }
                None => missing.push(key),
            }
        }
        Ok(missing)
    }

    /// The text behind each of `keys`, as embedded.
    fn texts_of(entries: &[Entry], keys: &[String]) -> Vec<(String, String)> {
        let texts: HashMap<&String, String> = entries.iter().flat_map(|e| e.keys.iter().zip(e.texts())).collect();
        keys.iter().filter_map(|k| Some((k.clone(), texts.get(k)?.clone()))).collect()
    }

    /// Embeds the texts of `keys` in batches, storing each vector (so each text is
    /// embedded once per store, ever) and keeping it in memory.
    async fn embed_and_store(
        &self,
        embedder: &Arc<Embedder>,
        entries: &[Entry],
        keys: &[String],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), SkillError> {
        let texts = Self::texts_of(entries, keys);
        let mut done = 0;
        for batch in texts.chunks(32) {
            let vectors = embed_blocking(embedder, batch.iter().map(|(_, text)| text.clone()).collect()).await?;
            for ((key, _), vector) in batch.iter().zip(vectors) {
                self.storage.save_vector(key, &vector).await?;
                self.caches().vectors.insert(key.clone(), Arc::new(vector));
            }
            done += batch.len();
            progress(done, texts.len());
        }
        Ok(())
    }

    /// Hands the texts of `keys` to the background indexer; returns how many it took.
    fn queue(&self, entries: &[Entry], keys: &[String]) -> usize {
        let storage = &self.storage;
        index::enqueue(Self::texts_of(entries, keys).into_iter().map(|(key, text)| index::Job {
            storage: storage.clone(),
            key,
            text,
        }))
    }

    /// [`vectors_for`](Self::vectors_for) the whole listing, kept until the listing
    /// changes once every skill has its vectors: an unchanged store is then searched
    /// without a lookup per skill.
    async fn listing_vectors(
        &self,
        embedder: &Arc<Embedder>,
        entries: &Arc<Vec<Entry>>,
    ) -> Result<Arc<Vec<Option<VectorPair>>>, SkillError> {
        if let Some(resolved) = &self.caches().listing_vectors
            && Arc::ptr_eq(&resolved.entries, entries)
        {
            return Ok(resolved.vectors.clone());
        }
        let vectors = Arc::new(self.vectors_for(embedder, entries).await?);
        if vectors.iter().all(Option::is_some) {
            self.caches().listing_vectors =
                Some(ResolvedListing { entries: entries.clone(), vectors: vectors.clone() });
        }
        Ok(vectors)
    }

    /// Every stored skill with its vector keys, re-read only when the storage says
    /// the skills changed (searching 10k skills must not parse 10k skills each time).
    async fn entries(&self) -> Result<Arc<Vec<Entry>>, SkillError> {
        let version = self.storage.skills_version().await?;
        if let (Some(version), Some((cached, entries))) = (&version, &self.caches().listing)
            && cached == version
        {
            return Ok(entries.clone());
        }
        let entries: Arc<Vec<Entry>> =
            Arc::new(self.storage.list_skills().await?.into_iter().map(Entry::new).collect());
        if let Some(version) = version {
            self.caches().listing = Some((version, entries.clone()));
        }
        Ok(entries)
    }
}

/// One entry of the skills store as [`SkillLibrary::check`] found it.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillCheck {
    /// The skill's name; for an entry with no usable name, what the store calls it
    /// (`bad-name.py`).
    pub name: String,
    /// What agents see of it, or why it is left out.
    pub loaded: Result<SkillInfo, String>,
}

impl SkillCheck {
    /// Logs a skipped entry, once per process for each entry and reason: a broken
    /// file is reported, not silently missing, and not on every listing.
    fn log(&self) {
        if let Err(reason) = &self.loaded
            && crate::text::first_time(&format!("skill\0{}\0{reason}", self.name))
        {
            tracing::warn!(skill = %self.name, %reason, "skipping a skill that cannot be loaded");
        }
    }
}

/// A stored skill and the storage keys of its two vectors.
#[derive(Debug)]
struct Entry {
    skill: StoredSkill,
    keys: [String; 2],
}

impl Entry {
    fn new(skill: StoredSkill) -> Self {
        let [description, code] = Self::texts_of(&skill);
        Self { keys: [vector_key(&description), vector_key(&code)], skill }
    }

    fn texts(&self) -> [String; 2] {
        Self::texts_of(&self.skill)
    }

    /// What is embedded: the name and description, and the source.
    fn texts_of(skill: &StoredSkill) -> [String; 2] {
        let description = if skill.description.is_empty() {
            skill.signature.as_ref().map(|sig| first_paragraph(&sig.docstring)).unwrap_or_default()
        } else {
            skill.description.clone()
        };
        [search::description_text(skill.name.as_str(), &description), skill.source.clone()]
    }
}

/// The storage key of a text's embedding: model and content, nothing else.
fn vector_key(text: &str) -> String {
    let digest = Sha256::digest(format!("{MODEL_NAME}\0{text}"));
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("minilm-{hex}")
}

/// The first paragraph of a docstring, on one line.
fn first_paragraph(text: &str) -> String {
    text.trim().split("\n\n").next().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_first_paragraphs() {
        assert_eq!(first_paragraph("  Count words.\n  Fast.\n\n  Details here."), "Count words. Fast.");
        assert_eq!(first_paragraph(""), "");
    }
}
