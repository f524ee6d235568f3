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
//!
//! # Cargo features
//!
//! Every optional part is one feature, and `default` enables them all. Without
//! default features the crate is the embeddable core: the [`Sandbox`], [`Session`]
//! in process, [`FileStorage`](storage::FileStorage), artifacts, deps, skills with
//! keyword search and CLI tools (`type: cli`).
//!
//! | feature | adds |
//! |---|---|
//! | `redis` | [`RedisStorage`](storage::RedisStorage) |
//! | `embeddings` | semantic skill and tool search (candle); without it both are keyword-only, as when the model is not installed |
//! | `http-tools` | `type: http` tools and `tools::HttpTool` (reqwest); without it such a file is skipped with the reason |
//! | `mcp-tools` | `type: mcp` tools (an rmcp client); without it such a file is skipped with the reason |
//! | `remote` | the `Remote` and `Subprocess` executors (`session::remote`) |
//! | `server` | `server`, the HTTP server behind `codemode serve` (axum) |
//! | `mcp-server` | `mcp_server`, the MCP server behind `codemode mcp` (rmcp); enables `server` |
//! | `cli` | the `codemode` binary; enables every other feature |
//!
//! # Unsafe code
//!
//! The crate denies `unsafe_code` but in three places. Two load precompiled guests
//! (`Component::deserialize*` in `sandbox/compile.rs`, `Module::deserialize_file` in
//! `sandbox/data/mod.rs`), which wasmtime marks unsafe because it trusts the
//! artifact's machine code; each artifact is one this process's engine wrote, keyed by
//! the guest's hash and the engine's compatibility hash. The third is `malloc_trim` in
//! `server/trim.rs` (a foreign call that takes no pointer), which gives closed
//! sessions' freed heap back to the system.

pub mod artifacts;
mod cache_dir;
pub mod deps;
pub mod embed;
pub mod error_kind;
pub mod input;
mod lexical;
#[cfg(feature = "mcp-server")]
pub mod mcp_server;
pub mod model;
pub mod names;
pub mod sandbox;
#[cfg(feature = "server")]
pub mod server;
pub mod session;
pub mod skills;
pub mod storage;
mod text;
pub mod tools;
#[cfg(any(feature = "model-install", feature = "data-profile"))]
pub mod wheel;

pub use cache_dir::default_cache_dir;
pub use error_kind::ErrorKind;
pub use input::InputLimits;
pub use model::{
    CellError, CellState, LimitKind, Operations, Param, Request, Response, RunResult, SkillSignature, Value,
};
pub use sandbox::{CompileEvent, Limits, Metering, Profile, Sandbox, SandboxBuilder, SandboxError};
#[cfg(feature = "remote")]
pub use session::remote;
pub use session::{Session, SessionBuilder, SessionError, SessionFactory};
pub use skills::InspectError;
