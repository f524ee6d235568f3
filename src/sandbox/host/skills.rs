//! `skills`: the session's [`SkillLibrary`], if it has storage.

use super::configured;
use crate::model::Param;
use crate::sandbox::bindings::skills::{self, Host};
use crate::sandbox::bindings::types::{self, HostError};
use crate::skills::{SearchMode, SkillInfo, SkillLibrary};

/// The state behind the `skills` interface.
pub(crate) struct SkillsCtx {
    pub(super) library: Option<SkillLibrary>,
}

impl SkillsCtx {
    fn library(&self) -> Result<&SkillLibrary, HostError> {
        configured(&self.library, "skills")
    }
}

impl Host for SkillsCtx {
    async fn list_skills(&mut self) -> Result<Vec<skills::SkillInfo>, HostError> {
        Ok(self.library()?.list().await?.into_iter().map(skill_info).collect())
    }

    async fn search_skills(&mut self, query: String, limit: u32) -> Result<skills::SearchResult, HostError> {
        let results = self.library()?.search(&query, limit as usize).await?;
        Ok(skills::SearchResult {
            semantic: results.mode == SearchMode::Semantic,
            notice: results.notice,
            matches: results
                .matches
                .into_iter()
                .map(|m| skills::SkillMatch { info: skill_info(m.info), score: m.score })
                .collect(),
        })
    }

    async fn get_skill(&mut self, name: String) -> Result<skills::Skill, HostError> {
        let skill = self.library()?.get(&name).await?;
        Ok(skills::Skill { info: skill_info(skill.info), source: skill.source })
    }

    async fn create_skill(
        &mut self,
        name: String,
        source: String,
        description: Option<String>,
    ) -> Result<skills::Created, HostError> {
        let (info, replaced) = self.library()?.create(&name, &source, description.as_deref()).await?;
        Ok(skills::Created { info: skill_info(info), replaced })
    }

    async fn delete_skill(&mut self, name: String) -> Result<bool, HostError> {
        Ok(self.library()?.delete(&name).await?)
    }

    async fn describe_skills(&mut self) -> Result<String, HostError> {
        Ok(crate::model::describe::skills_stub(&self.library()?.list().await?))
    }
}

fn skill_info(info: SkillInfo) -> skills::SkillInfo {
    let params = info.caller_params().map(param).collect();
    skills::SkillInfo {
        name: info.name,
        description: info.description,
        params,
        is_async: info.is_async,
        needs_tools: info.needs.tools,
        needs_skills: info.needs.skills,
        unavailable: info.unavailable,
    }
}

/// A parameter with its default typed when it is a literal JSON can hold, as
/// every other listing gives it; as Python source otherwise.
fn param(p: &Param) -> types::Param {
    let default = match p.default_value() {
        Some(value) => Some(types::DefaultValue::Json(value.to_string())),
        None => p.default.clone().map(types::DefaultValue::Source),
    };
    types::Param {
        name: p.name.clone(),
        type_name: p.type_name.clone(),
        required: p.required,
        default,
        description: String::new(),
    }
}
