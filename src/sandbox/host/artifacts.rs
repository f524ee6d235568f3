//! `artifacts`: the session's [`Artifacts`], if it has storage.

use super::configured;
use crate::artifacts::{ArtifactInfo, Artifacts, DataKind};
use crate::error_kind::ErrorKind;
use crate::sandbox::bindings::artifacts::{self, Host};
use crate::sandbox::bindings::types::HostError;
use crate::sandbox::journal::Tape;

/// The state behind the `artifacts` interface.
pub(crate) struct ArtifactsCtx {
    pub(super) store: Option<Artifacts>,
    pub(super) tape: Tape,
}

impl ArtifactsCtx {
    fn store(&self) -> Result<&Artifacts, HostError> {
        configured(&self.store, "artifacts")
    }
}

impl Host for ArtifactsCtx {
    async fn save_artifact(
        &mut self,
        name: String,
        data: Vec<u8>,
        kind: artifacts::DataKind,
        description: String,
        metadata_json: String,
    ) -> Result<artifacts::ArtifactInfo, HostError> {
        let key = self.tape.key("artifacts.save-artifact", &(&name, &data, kind, &description, &metadata_json));
        self.tape.call_keyed(key, self.save(&name, data, kind, &description, &metadata_json)).await
    }

    async fn load_artifact(&mut self, name: String) -> Result<artifacts::Artifact, HostError> {
        self.tape
            .call("artifacts.load-artifact", &name, async {
                let artifact = self.store()?.load(&name).await?;
                Ok(artifacts::Artifact { info: artifact_info(artifact.info), data: artifact.data })
            })
            .await
    }

    async fn get_artifact_info(&mut self, name: String) -> Result<Option<artifacts::ArtifactInfo>, HostError> {
        self.tape
            .call("artifacts.get-artifact-info", &name, async {
                Ok(self.store()?.info(&name).await?.map(artifact_info))
            })
            .await
    }

    async fn list_artifacts(&mut self) -> Result<Vec<artifacts::ArtifactInfo>, HostError> {
        self.tape
            .call("artifacts.list-artifacts", &(), async {
                Ok(self.store()?.list().await?.into_iter().map(artifact_info).collect())
            })
            .await
    }

    async fn delete_artifact(&mut self, name: String) -> Result<bool, HostError> {
        self.tape.call("artifacts.delete-artifact", &name, async { Ok(self.store()?.delete(&name).await?) }).await
    }
}

impl ArtifactsCtx {
    async fn save(
        &self,
        name: &str,
        data: Vec<u8>,
        kind: artifacts::DataKind,
        description: &str,
        metadata_json: &str,
    ) -> Result<artifacts::ArtifactInfo, HostError> {
        let store = self.store()?;
        // Sized before it is parsed: parsed JSON takes many times its size.
        store.check_metadata(metadata_json)?;
        let metadata = match serde_json::from_str::<serde_json::Value>(metadata_json) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(HostError::new(ErrorKind::InvalidInput, "metadata must be a JSON object (a dict)")),
        };
        let kind = match kind {
            artifacts::DataKind::Json => DataKind::Json,
            artifacts::DataKind::Text => DataKind::Text,
            artifacts::DataKind::Bytes => DataKind::Bytes,
        };
        Ok(artifact_info(store.save(name, data, kind, description, metadata).await?))
    }
}

fn artifact_info(info: ArtifactInfo) -> artifacts::ArtifactInfo {
    artifacts::ArtifactInfo {
        name: info.name,
        description: info.description,
        kind: match info.kind {
            DataKind::Json => artifacts::DataKind::Json,
            DataKind::Text => artifacts::DataKind::Text,
            DataKind::Bytes => artifacts::DataKind::Bytes,
        },
        size: info.size,
        created_at: info.created_at,
        metadata_json: serde_json::Value::Object(info.metadata).to_string(),
    }
}
