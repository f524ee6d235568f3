//! Artifacts as MCP resources: `codemode://artifacts/<name>`, the name's
//! `/`-separated parts percent-encoded. JSON and text artifacts are read as text,
//! bytes as a base64 blob.

use rmcp::model::{ErrorData, ReadResourceResult, Resource, ResourceContents};
use serde_json::Value;

use crate::model::ops::{Named, Operations, Request, Response};
use crate::model::{ArtifactInfo, DataKind};
use crate::names::ArtifactName;
use crate::session::Session;

/// Where every artifact's URI starts.
pub const URI_PREFIX: &str = "codemode://artifacts/";

/// Artifacts listed per `resources/list` page.
pub const PAGE: usize = 200;

/// Longest URI read (the longest artifact name, percent-encoded, fits).
const MAX_URI: usize = URI_PREFIX.len() + 3 * 1024;

/// The URI of artifact `name`.
pub fn uri(name: &str) -> String {
    let encoded: Vec<String> = name.split('/').map(crate::text::encode_segment).collect();
    format!("{URI_PREFIX}{}", encoded.join("/"))
}

/// The artifact name in `uri`, validated; the error says why it is not one.
pub fn name_of(uri: &str) -> Result<ArtifactName, String> {
    if uri.len() > MAX_URI {
        return Err(format!("the URI is longer than {MAX_URI} bytes"));
    }
    let Some(path) = uri.strip_prefix(URI_PREFIX) else {
        return Err(format!("not an artifact URI: {:?} (they start with {URI_PREFIX})", crate::text::shown(uri)));
    };
    let name = percent_decode(path).ok_or_else(|| "the URI has a bad percent escape or is not UTF-8".to_owned())?;
    ArtifactName::new(&name).map_err(|e| e.to_string())
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn mime(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Json => "application/json",
        DataKind::Text => "text/plain",
        DataKind::Bytes => "application/octet-stream",
    }
}

/// One page of the artifacts as resources, and the cursor of the next page.
pub fn page(artifacts: &[ArtifactInfo], cursor: Option<&str>) -> Result<(Vec<Resource>, Option<String>), ErrorData> {
    let start = match cursor {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|start| *start <= artifacts.len())
            .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))?,
    };
    let end = (start + PAGE).min(artifacts.len());
    let resources = artifacts[start..end]
        .iter()
        .map(|info| {
            let mut resource =
                Resource::new(uri(&info.name), info.name.clone()).with_mime_type(mime(info.kind)).with_size(info.size);
            if !info.description.is_empty() {
                resource = resource.with_description(info.description.clone());
            }
            resource
        })
        .collect();
    Ok((resources, (end < artifacts.len()).then(|| end.to_string())))
}

/// Reads the artifact `uri` names, refusing one larger than `max_bytes` before
/// loading it when the store can say its size.
pub async fn read(session: &Session, requested: &str, max_bytes: u64) -> Result<ReadResourceResult, ErrorData> {
    let name =
        name_of(requested).map_err(|why| ErrorData::invalid_params(format!("invalid resource URI: {why}"), None))?;
    let not_found = || ErrorData::resource_not_found(format!("no artifact named {:?}", name.as_str()), None);
    let too_large = |size: u64| {
        ErrorData::invalid_params(
            format!(
                "artifact {:?} is {size} bytes, more than the {max_bytes} a resource may be: load it in run_code \
                 (artifacts.load) and read it in parts",
                name.as_str()
            ),
            None,
        )
    };
    // A local store says the size without reading the data; a remote one is capped by its server.
    if let Ok(artifacts) = session.artifacts() {
        match artifacts.info(name.as_str()).await {
            Ok(Some(info)) if info.size > max_bytes => return Err(too_large(info.size)),
            Ok(Some(_)) => {}
            Ok(None) => return Err(not_found()),
            Err(e) => return Err(ErrorData::internal_error(e.to_string(), None)),
        }
    }
    let request = Request::LoadArtifact(Named { name: name.as_str().to_owned() });
    let (info, data) = match session.call(request).await {
        Ok(Response::Artifact { info, data }) => (info, data),
        Ok(_) => return Err(ErrorData::internal_error("the store answered out of turn", None)),
        Err(e) => return Err(ErrorData::internal_error(e.to_string(), None)),
    };
    if info.size > max_bytes {
        return Err(too_large(info.size));
    }
    let uri = uri(&info.name);
    let contents = match (info.kind, data) {
        (DataKind::Bytes, Value::String(base64)) => ResourceContents::blob(base64, uri),
        (_, Value::String(text)) => ResourceContents::text(text, uri),
        (_, json) => ResourceContents::text(json.to_string(), uri),
    };
    Ok(ReadResourceResult::new(vec![contents.with_mime_type(mime(info.kind))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_and_refuse_escapes() {
        for name in ["report", "scans/nmap 1.json", "ü/100%"] {
            let uri = uri(name);
            assert!(!uri[URI_PREFIX.len()..].contains(' '), "{uri}");
            assert_eq!(name_of(&uri).unwrap().as_str(), name);
        }
        for bad in [
            "codemode://artifacts/../secret",
            "codemode://artifacts/a/%2e%2e/b",
            "codemode://artifacts/%2Fetc%2Fpasswd",
            "codemode://artifacts/a%00b",
            "codemode://artifacts/%ff",
            "codemode://artifacts/%4",
            "codemode://artifacts/",
            "file:///etc/passwd",
            "codemode://skills/x",
        ] {
            assert!(name_of(bad).is_err(), "{bad}");
        }
        assert!(name_of(&format!("{URI_PREFIX}{}", "a".repeat(10_000))).is_err());
    }
}
