//! Plain data shared by every layer: what the API lists, stores and returns.
//!
//! Nothing here does anything; each record is defined once and serialised the same
//! way on every surface (the Rust API, HTTP, MCP, storage).

pub mod allow;
mod artifact;
pub mod describe;
pub(crate) mod literal;
pub mod ops;
mod run;
mod skill;
mod tool;

pub use self::allow::{Allow, InvalidAllow};
pub use self::artifact::{Artifact, ArtifactInfo, DataKind};
pub use self::ops::{Operations, Request, Response, UnexpectedResponse};
pub use self::run::{CellError, CellState, LimitKind, RunResult, ToolCallRecord, Value};
pub use self::skill::{
    INJECTED_NAMES, InvalidExamples, MAX_EXAMPLE_BYTES, MAX_EXAMPLE_DEPTH, MAX_EXAMPLES, MAX_NEEDS, Needs, Param,
    SearchMode, SearchResults, Skill, SkillExample, SkillInfo, SkillMatch, SkillSignature, SkillTest, SkillVersion,
    TestReport, Verification, Verified,
};
pub use self::tool::{CallableInfo, ParamInfo, ToolInfo};
