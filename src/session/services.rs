//! [`Services`]: the operations that need no interpreter (tools, skills, artifacts,
//! deps), served from this process. Sessions delegate to it; so do the HTTP
//! server's store routes and the CLI.

use std::sync::Arc;

use super::SessionError;
use crate::artifacts::{Artifacts, data_from_json};
use crate::deps::Deps;
use crate::model::describe::{self, Scope};
use crate::model::ops::{Operations, Request, Response};
use crate::sandbox::{Capabilities, MemoryShare};
use crate::skills::SkillLibrary;
use crate::tools::{Skipped, ToolRegistry};

/// The host's tools and a storage's skills, artifacts and deps: what agent code
/// sees as its namespaces, for callers outside the sandbox. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Services {
    /// What the guest's namespaces reach, shared with the session's instances.
    pub(super) capabilities: Capabilities,
    pub(super) skipped_tools: Arc<[Skipped]>,
    /// The storage behind the skills, artifacts and deps, if any.
    pub(super) storage: Option<Arc<dyn crate::storage::Storage>>,
    /// What the interpreters running skills' examples draw their memory from: the
    /// session's own share, so examples never take it past its memory cap.
    pub(super) memory: Arc<MemoryShare>,
}

impl Services {
    /// The storage behind the skills, artifacts and deps (and durable sessions' journals).
    pub fn storage(&self) -> Option<&Arc<dyn crate::storage::Storage>> {
        self.storage.as_ref()
    }

    /// The tools (the same ones agent code sees as `tools`).
    pub fn tools(&self) -> &ToolRegistry {
        &self.capabilities.tools
    }

    /// Tool definition files in `<base_dir>/tools` that could not be loaded.
    pub fn skipped_tools(&self) -> &[Skipped] {
        &self.skipped_tools
    }

    /// The skills (the same ones agent code sees as `skills`).
    pub fn skills(&self) -> Result<&SkillLibrary, SessionError> {
        self.capabilities.skills.as_ref().ok_or(SessionError::NotConfigured("skills"))
    }

    /// The artifacts (the same ones agent code sees as `artifacts`).
    pub fn artifacts(&self) -> Result<&Artifacts, SessionError> {
        self.capabilities.artifacts.as_ref().ok_or(SessionError::NotConfigured("artifacts"))
    }

    /// The packages (the same ones agent code sees as `deps`).
    pub fn deps(&self) -> Result<&Deps, SessionError> {
        self.capabilities.deps.as_ref().ok_or(SessionError::NotConfigured("deps"))
    }
}

#[async_trait::async_trait]
impl Operations for Services {
    type Error = SessionError;

    async fn call(&self, request: Request) -> Result<Response, SessionError> {
        Ok(match request {
            Request::Run(_) | Request::InvokeSkill(_) | Request::Reset => {
                return Err(SessionError::NeedsSession(request.name()));
            }
            Request::ListTools => Response::Tools { tools: self.capabilities.tools.list().await },
            Request::SearchTools(search) => {
                Response::Tools { tools: self.capabilities.tools.search(&search.query, search.limit()).await }
            }
            Request::ListSkills => Response::Skills { skills: self.skills()?.list().await? },
            Request::SearchSkills(search) => {
                Response::SkillSearch(self.skills()?.search(&search.query, search.limit()).await?)
            }
            Request::GetSkill(named) => Response::Skill(self.skills()?.get(&named.name).await?),
            Request::CreateSkill(create) => {
                let skills = self.skills()?;
                let (skill, replaced) = skills
                    .create_verified(&create.name, &create.source, create.description.as_deref(), &create.examples)
                    .await?;
                Response::SkillCreated { skill, replaced }
            }
            Request::DeleteSkill(named) => Response::Deleted { deleted: self.skills()?.delete(&named.name).await? },
            Request::SkillHistory(named) => {
                Response::SkillHistory { versions: self.skills()?.history(&named.name).await? }
            }
            Request::RollbackSkill(rollback) => {
                let (skill, version) = self.skills()?.rollback(&rollback.name, rollback.version).await?;
                Response::SkillRolledBack { skill, rolled_back_to: rollback.version, version }
            }
            Request::TestSkills(test) => {
                Response::SkillsTested(self.skills()?.test(test.name.as_deref(), |_, _| {}).await?)
            }
            Request::ListArtifacts => Response::Artifacts { artifacts: self.artifacts()?.list().await? },
            Request::LoadArtifact(named) => {
                let artifact = self.artifacts()?.load(&named.name).await?;
                Response::Artifact { data: artifact.to_json()?, info: artifact.info }
            }
            Request::SaveArtifact(save) => {
                let artifacts = self.artifacts()?;
                artifacts.check_metadata(&serde_json::to_string(&save.metadata).unwrap_or_default())?;
                let (data, kind) = data_from_json(&save.name, &save.data, save.kind)?;
                let saved = artifacts.save(&save.name, data, kind, &save.description, save.metadata).await?;
                Response::ArtifactSaved { saved }
            }
            Request::DeleteArtifact(named) => {
                Response::Deleted { deleted: self.artifacts()?.delete(&named.name).await? }
            }
            Request::ListDeps => Response::Deps { deps: self.deps()?.list().await? },
            Request::AddDep(add) => {
                let (added, report) = self.deps()?.add_reporting(&add.spec).await?;
                Response::DepAdded { added, report }
            }
            Request::RemoveDep(remove) => Response::DepRemoved(self.deps()?.remove_reporting(&remove.name).await?),
            Request::SyncDeps => Response::DepsSynced(self.deps()?.sync_reporting().await?),
            Request::Describe(describe) => {
                let scope = describe.what.unwrap_or_default();
                let tools = if scope.tools() { Some(self.capabilities.tools.list().await) } else { None };
                // `all` describes the skills only where there are some to call.
                let skills = match (scope, &self.capabilities.skills) {
                    (Scope::Tools, _) | (Scope::All, None) => None,
                    (Scope::Skills, _) => Some(self.skills()?.list().await?),
                    (Scope::All, Some(library)) => Some(library.list().await?),
                };
                Response::Described { stub: describe::stub(tools.as_deref(), skills.as_deref()) }
            }
        })
    }
}
