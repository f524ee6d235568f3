//! Running a skill's examples: each in a fresh interpreter of its own, with the
//! session's tools and limits, where nothing persists (the skills and artifacts it
//! sees refuse writes, packages cannot be added), thrown away afterwards.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::instance::{Cell, Outcome};
use super::journal::Tape;
use super::{Capabilities, Limits, MemoryShare, Metering, Profile, Sandbox};
use crate::names::SkillName;
use crate::skills::{ExampleRun, Verifier};

/// Why a namespace refuses writes while examples run, as its errors say.
pub const READ_ONLY: &str = "a skill's examples are running, and nothing they write may persist";

/// Runs examples in this process's sandbox.
#[derive(Debug, Clone)]
pub struct SandboxVerifier {
    sandbox: Sandbox,
    limits: Limits,
    capabilities: Capabilities,
    memory: Option<Arc<MemoryShare>>,
}

impl SandboxVerifier {
    /// Examples run with `capabilities` (already read-only: see
    /// [`read_only`](Self::read_only)) under `limits`, each in a fresh interpreter
    /// whose memory counts against `memory`, the share of the session whose cell or
    /// operation is waiting for them; `None` (no session: a server's store routes,
    /// shared by every client) gives each example a share of its own.
    pub fn new(sandbox: Sandbox, limits: Limits, capabilities: Capabilities, memory: Option<Arc<MemoryShare>>) -> Self {
        Self { sandbox, limits, capabilities, memory }
    }

    /// `capabilities` as examples see them: the same tools, skills and artifacts to
    /// read, every write refused, no packages added or removed.
    pub fn read_only(capabilities: &Capabilities) -> Capabilities {
        Capabilities {
            tools: capabilities.tools.clone(),
            skills: capabilities.skills.as_ref().map(|s| s.read_only(READ_ONLY)),
            artifacts: capabilities.artifacts.as_ref().map(|a| a.read_only(READ_ONLY)),
            deps: capabilities.deps.as_ref().map(crate::deps::Deps::locked),
        }
    }
}

#[async_trait::async_trait]
impl Verifier for SandboxVerifier {
    fn budget(&self) -> Duration {
        self.limits.timeout
    }

    async fn run_example(
        &self,
        name: &SkillName,
        source: &str,
        args: &Map<String, Value>,
        within: Duration,
    ) -> Result<ExampleRun, Box<dyn std::error::Error + Send + Sync>> {
        let limits = Limits { timeout: within.min(self.limits.timeout), ..self.limits.clone() };
        let metering = if limits.fuel.is_some() { Metering::Fuel } else { Metering::Off };
        // Not journaled: the interpreter lives for this one example.
        let tape = Tape::off();
        let capabilities = self.capabilities.clone();
        let memory = self.memory.clone().unwrap_or_default();
        let mut interpreter =
            self.sandbox.interpreter(Profile::Default, metering, &limits, capabilities, &tape, memory).await?;
        // The source and arguments travel as JSON string literals (valid Python
        // literals too); the name is an identifier.
        let code = format!(
            "__import__('codemode_guest.namespaces', fromlist=['run_example']).run_example({}, {}, {})",
            Value::String(name.to_string()),
            Value::String(source.to_owned()),
            Value::String(Value::Object(args.clone()).to_string()),
        );
        let (outcome, _) = interpreter.run(&Cell::Code(code), &limits, std::future::pending()).await;
        Ok(match outcome {
            Outcome::Returned(result) => match (result.error, result.value) {
                (Some(error), _) => ExampleRun::Failed { kind: error.kind, message: error.message },
                (None, None) => ExampleRun::Returned { json: Some(Value::Null), repr: "None".into() },
                (None, Some(value)) => ExampleRun::Returned {
                    // Parsed with serde's own nesting limit; the guest capped its size.
                    json: value.json.and_then(|text| serde_json::from_str(&text).ok()),
                    repr: value.repr,
                },
            },
            Outcome::Stopped { cause, detail } => {
                let kind = match cause {
                    super::instance::StopCause::Limit(_) => "LimitExceeded",
                    super::instance::StopCause::Interrupted => "Interrupted",
                    super::instance::StopCause::Exit => "InterpreterExit",
                    super::instance::StopCause::Crash => "InterpreterCrash",
                };
                ExampleRun::Failed { kind: kind.into(), message: detail }
            }
        })
    }
}
