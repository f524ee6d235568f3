//! `deps`: the session's [`Deps`], if it has storage.

use super::configured;
use crate::deps::{Deps, Requirement};
use crate::sandbox::bindings::deps::{self, Host};
use crate::sandbox::bindings::types::HostError;
use crate::sandbox::journal::Tape;

/// The state behind the `deps` interface.
pub(crate) struct DepsCtx {
    pub(super) deps: Option<Deps>,
    pub(super) tape: Tape,
}

impl DepsCtx {
    fn deps(&self) -> Result<&Deps, HostError> {
        configured(&self.deps, "deps")
    }
}

impl Host for DepsCtx {
    async fn add_dep(&mut self, spec: String) -> Result<String, HostError> {
        self.tape.call("deps.add-dep", &spec, async { Ok(self.deps()?.add(&spec).await?) }).await
    }

    async fn remove_dep(&mut self, name: String) -> Result<bool, HostError> {
        self.tape.call("deps.remove-dep", &name, async { Ok(self.deps()?.remove(&name).await?) }).await
    }

    async fn list_deps(&mut self) -> Result<Vec<deps::Requirement>, HostError> {
        self.tape.call("deps.list-deps", &(), async { requirements(self.deps()?.list().await?) }).await
    }

    async fn sync_deps(&mut self) -> Result<Vec<deps::Requirement>, HostError> {
        self.tape.call("deps.sync-deps", &(), async { requirements(self.deps()?.sync().await?) }).await
    }
}

/// Recorded specs as records. The storage may be shared with other hosts, so each
/// spec is validated again rather than split on trust.
fn requirements(specs: Vec<String>) -> Result<Vec<deps::Requirement>, HostError> {
    specs
        .iter()
        .map(|spec| {
            let Requirement { name, spec } = Requirement::parse(spec)?;
            Ok(deps::Requirement { name, spec })
        })
        .collect()
}
