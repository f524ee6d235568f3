//! Reading a skill's `run` signature with the guest's own CPython (`ast`), on a
//! dedicated instance so it works even while a session's interpreter is busy (for
//! example inside the very cell that calls `skills.create`).

use serde::{Deserialize, Serialize};

use super::bindings::types::DefaultValue;
use super::instance::{Instance, Outcome};
use super::{Limits, Metering, Sandbox, SandboxError};

/// One parameter of a skill's `run` entry point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// The name; `*args` and `**kwargs` keep their stars.
    pub name: String,
    /// The annotation as written, e.g. `int` or `list[str]`.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Whether a caller must pass it.
    pub required: bool,
    /// The default as Python source, e.g. `10` or `'utf-8'`.
    pub default: Option<String>,
}

/// How a skill's `run` is declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillSignature {
    /// `async def run` rather than `def run`.
    pub is_async: bool,
    /// Parameters in declaration order.
    pub params: Vec<Param>,
    /// The module docstring, else `run`'s docstring, else empty.
    pub docstring: String,
}

/// Why a source could not be described.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The source is not a valid skill.
    #[error("invalid skill{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        /// What is wrong.
        message: String,
        /// The offending line, when known.
        line: Option<u32>,
    },
    /// The sandbox could not run the inspection.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

impl Sandbox {
    /// Parses a skill's source in the sandbox's CPython (nothing in it runs) and
    /// describes its `run` entry point.
    pub async fn inspect_skill(&self, source: &str) -> Result<SkillSignature, InspectError> {
        let mut slot = self.inner.inspector.lock().await;
        let mut instance = match slot.take() {
            Some(instance) => instance,
            None => {
                let prepared = self.prepared(Metering::Off).await?;
                Instance::new(prepared, &Limits::default(), Default::default()).await?
            }
        };
        match instance.inspect_skill(source).await {
            Outcome::Returned(answer) => {
                *slot = Some(instance);
                let signature = answer.map_err(|e| InspectError::Invalid { message: e.message, line: e.line })?;
                Ok(SkillSignature {
                    is_async: signature.is_async,
                    params: signature
                        .params
                        .into_iter()
                        .map(|p| Param {
                            name: p.name,
                            type_name: p.type_name,
                            required: p.required,
                            // The inspector reports `source`; JSON text, were it sent, is kept as is.
                            default: p.default.map(|d| match d {
                                DefaultValue::Source(text) | DefaultValue::Json(text) => text,
                            }),
                        })
                        .collect(),
                    docstring: signature.docstring,
                })
            }
            // The instance is gone; the next inspection starts a fresh one.
            Outcome::Stopped { detail, .. } => Err(InspectError::Sandbox(SandboxError::Setup(detail))),
        }
    }
}
