//! Rust bindings generated from `wit/sandbox.wit`, the single source of truth of the
//! guest/host contract.
//!
//! Imports are async: a host call suspends only the calling guest's fiber while tokio
//! keeps running other sessions.

wasmtime::component::bindgen!({
    path: "wit",
    world: "sandbox",
    imports: { default: async },
    exports: { default: async },
});

pub use codemode::sandbox::{artifacts, deps, skills, tools, types};
pub use exports::codemode::sandbox::runner;
