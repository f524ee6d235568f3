//! Rust bindings generated from `wit/sandbox.wit`, the single source of truth of the
//! guest/host contract.
//!
//! Imports are async: a host call suspends only the calling guest's fiber while tokio
//! keeps running other sessions. The WIT package is `code-mode:sandbox` rather than
//! `codemode:sandbox` so the generated `code_mode` module cannot be confused with this
//! crate's own name (rustdoc links the crate into itself when testing examples).

wasmtime::component::bindgen!({
    path: "wit",
    world: "sandbox",
    imports: { default: async },
    exports: { default: async },
    // The session journal records every value an import hands the guest, and the
    // cells it ran, as serde data (see `sandbox::journal`); the data profile's door
    // carries the same records as JSON.
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use code_mode::sandbox::{artifacts, deps, skills, tools, types};
pub use exports::code_mode::sandbox::runner;
