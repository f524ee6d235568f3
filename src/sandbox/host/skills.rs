//! `skills`: the session's [`SkillLibrary`], if it has storage.

use super::configured;
use crate::error_kind::ErrorKind;
use crate::model::Param;
use crate::model::{MAX_EXAMPLE_BYTES, MAX_EXAMPLES, Skill, SkillExample, Verified};
use crate::sandbox::bindings::skills::{self, Host};
use crate::sandbox::bindings::types::{self, HostError};
use crate::sandbox::journal::Tape;
use crate::skills::{SearchMode, SkillInfo, SkillLibrary};

/// Most bytes of the examples' JSON the guest may send: the caps on count and size
/// with room for the keys; checked before parsing.
const MAX_EXAMPLES_JSON: usize = MAX_EXAMPLES * (MAX_EXAMPLE_BYTES + 64) + 2;

/// The state behind the `skills` interface.
pub(crate) struct SkillsCtx {
    pub(super) library: Option<SkillLibrary>,
    pub(super) tape: Tape,
}

impl SkillsCtx {
    fn library(&self) -> Result<&SkillLibrary, HostError> {
        configured(&self.library, "skills")
    }
}

impl Host for SkillsCtx {
    async fn list_skills(&mut self) -> Result<Vec<skills::SkillInfo>, HostError> {
        self.tape
            .call("skills.list-skills", &(), async {
                Ok(self.library()?.list().await?.into_iter().map(skill_info).collect())
            })
            .await
    }

    async fn search_skills(&mut self, query: String, limit: u32) -> Result<skills::SearchResult, HostError> {
        self.tape.call("skills.search-skills", &(&query, limit), self.search(&query, limit)).await
    }

    async fn get_skill(&mut self, name: String) -> Result<skills::Skill, HostError> {
        self.tape.call("skills.get-skill", &name, async { Ok(skill(self.library()?.get(&name).await?)) }).await
    }

    async fn get_skill_to_run(&mut self, name: String) -> Result<skills::Skill, HostError> {
        self.tape
            .call("skills.get-skill-to-run", &name, async { Ok(skill(self.library()?.get_to_run(&name).await?)) })
            .await
    }

    async fn create_skill(
        &mut self,
        name: String,
        source: String,
        description: Option<String>,
        examples_json: String,
    ) -> Result<skills::Created, HostError> {
        self.tape
            .call("skills.create-skill", &(&name, &source, &description, &examples_json), async {
                let examples = parse_examples(&examples_json)?;
                let library = self.library()?;
                let (skill, replaced) =
                    library.create_verified(&name, &source, description.as_deref(), &examples).await?;
                Ok(skills::Created { info: skill_info(skill.info), replaced })
            })
            .await
    }

    async fn test_skills(&mut self, name: Option<String>) -> Result<String, HostError> {
        self.tape
            .call("skills.test-skills", &name, async {
                let report = self.library()?.test(name.as_deref(), |_, _| {}).await?;
                serde_json::to_string(&report).map_err(|e| HostError::new(ErrorKind::Failed, e.to_string()))
            })
            .await
    }

    async fn delete_skill(&mut self, name: String) -> Result<bool, HostError> {
        self.tape.call("skills.delete-skill", &name, async { Ok(self.library()?.delete(&name).await?) }).await
    }

    async fn skill_history(&mut self, name: String) -> Result<Vec<skills::SkillVersion>, HostError> {
        self.tape
            .call("skills.skill-history", &name, async {
                let versions = self.library()?.history(&name).await?;
                Ok(versions
                    .into_iter()
                    .map(|v| skills::SkillVersion {
                        version: v.version,
                        created_at: v.created_at,
                        description: v.description,
                        current: v.current,
                        untrusted: v.untrusted,
                    })
                    .collect())
            })
            .await
    }

    async fn rollback_skill(&mut self, name: String, version: u32) -> Result<skills::RolledBack, HostError> {
        self.tape
            .call("skills.rollback-skill", &(&name, version), async {
                let (skill, version) = self.library()?.rollback(&name, version).await?;
                Ok(skills::RolledBack { info: skill_info(skill.info), version })
            })
            .await
    }

    async fn describe_skills(&mut self) -> Result<String, HostError> {
        self.tape
            .call("skills.describe-skills", &(), async {
                Ok(crate::model::describe::skills_stub(&self.library()?.list().await?))
            })
            .await
    }
}

impl SkillsCtx {
    async fn search(&self, query: &str, limit: u32) -> Result<skills::SearchResult, HostError> {
        let results = self.library()?.search(query, limit as usize).await?;
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
        verified: match info.verified {
            Verified::Passed => Some(true),
            Verified::Failed => Some(false),
            Verified::Never => None,
        },
    }
}

fn skill(skill: Skill) -> skills::Skill {
    skills::Skill {
        info: skill_info(skill.info),
        source: skill.source,
        examples_json: serde_json::to_string(&skill.examples).unwrap_or_else(|_| "[]".into()),
        verification_json: skill.verification.and_then(|v| serde_json::to_string(&v).ok()),
    }
}

/// The guest's examples: capped in bytes before they are parsed (serde's own
/// nesting limit bounds the parse), then in count, size and depth by the library.
fn parse_examples(json: &str) -> Result<Vec<SkillExample>, HostError> {
    if json.len() > MAX_EXAMPLES_JSON {
        return Err(HostError::new(
            ErrorKind::InvalidInput,
            format!("the examples are {} bytes of JSON; at most {MAX_EXAMPLES_JSON} are accepted", json.len()),
        ));
    }
    serde_json::from_str(json).map_err(|e| {
        HostError::new(
            ErrorKind::InvalidInput,
            format!("examples must be a list of {{\"args\": {{...}}, \"expect\": value}}: {e}"),
        )
    })
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
