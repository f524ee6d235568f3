//! codemode: a Python code-execution session for AI agents.
//!
//! Agent code runs in CPython compiled to WASI, inside wasmtime, in this process:
//! no Docker, no host interpreter, millisecond sessions and hard limits (wall clock,
//! fuel, memory, output). A [`Session`] keeps one live interpreter whose globals
//! persist across runs, with `tools`, `skills`, `artifacts` and `deps` predefined.
//!
//! ```no_run
//! # async fn demo() -> Result<(), codemode::SessionError> {
//! let session = codemode::Session::builder().build().await?;
//! session.run("x = 40").await?;
//! let result = session.run("x + 2").await?;
//! assert_eq!(result.value.unwrap().repr, "42");
//! # Ok(()) }
//! ```

pub mod artifacts;
mod cache_dir;
pub mod deps;
pub mod embed;
pub mod error_kind;
pub mod input;
pub mod mcp_server;
pub mod model;
pub mod names;
pub mod sandbox;
pub mod server;
pub mod session;
pub mod skills;
pub mod storage;
mod text;
pub mod tools;

pub use cache_dir::default_cache_dir;
pub use error_kind::ErrorKind;
pub use input::InputLimits;
pub use model::{CellError, LimitKind, Param, RunResult, SkillSignature, Value};
pub use sandbox::{CompileEvent, Limits, Metering, Sandbox, SandboxBuilder, SandboxError};
pub use session::{Session, SessionBuilder, SessionError, SessionFactory, remote};
pub use skills::InspectError;
