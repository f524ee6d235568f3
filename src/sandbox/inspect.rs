//! Reading a skill's `run` signature with the guest's own CPython (`ast`), on a
//! dedicated instance so it works even while a session's interpreter is busy (for
//! example inside the very cell that calls `skills.create`).

use super::bindings::types::DefaultValue;
use super::instance::{Instance, Outcome};
use super::{Limits, MemoryShare, Metering, Sandbox, SandboxError};
use crate::model::{Needs, Param, SkillSignature};
use crate::skills::{InspectError, Inspector};

impl From<SandboxError> for InspectError {
    fn from(err: SandboxError) -> Self {
        InspectError::Unavailable(Box::new(err))
    }
}

#[async_trait::async_trait]
impl Inspector for Sandbox {
    async fn inspect(&self, source: &str) -> Result<SkillSignature, InspectError> {
        self.inspect_skill(source).await
    }
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
                // The process's one inspector: a share of its own, under the default cap.
                let (limits, tape) = (Limits::default(), super::journal::Tape::off());
                Instance::new(prepared, &limits, Default::default(), &tape, MemoryShare::new()).await?
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
                    needs: Some(Needs::new(signature.needs_tools, signature.needs_skills)),
                })
            }
            // The instance is gone; the next inspection starts a fresh one.
            Outcome::Stopped { detail, .. } => Err(SandboxError::Setup(detail).into()),
        }
    }
}
