//! A byte and entry quota on a data session's writable `/tmp`.
//!
//! wasmtime-wasi has no quota hook and its preopens are host directories, so the
//! WASI preview1 functions that can make `/tmp` grow are linked over the stock ones
//! (the same names, shadowing them): each checks what the call would add against the
//! session's quota, answers `ENOSPC` when it does not fit (the guest sees an
//! `OSError`, the session goes on), and otherwise runs the stock function.
//!
//! What is charged: every name in the tree (files, directories, symbolic links) as
//! one entry; every distinct inode's size in bytes (a hard link adds a name, not
//! bytes; a symbolic link is charged its target's length; a sparse file its full
//! length, as the host may fill it); and the size of every file the session removed
//! but still holds open (unlinking an open file frees nothing on the host).
//! Growth is checked before it happens and counted exactly after; removals and
//! truncations recount the tree, whose size the entry cap bounds.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::{self, Errno};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};
use wiggle::{GuestMemory, GuestPtr};

/// The module the shadowed functions live in.
const MODULE: &str = "wasi_snapshot_preview1";
/// `ENOSPC` as WASI numbers it (the guest's libc maps it to its `errno.ENOSPC`).
const NOSPC: i32 = Errno::Nospc as i32;
/// `path_open`'s `oflags` bits (WASI preview1).
const O_CREAT: i32 = 1;
const O_TRUNC: i32 = 8;

/// How much a session's `/tmp` may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuotaCaps {
    /// Bytes, over all files, links and removed-but-open files.
    pub bytes: u64,
    /// Names: files, directories and links.
    pub entries: u64,
}

impl QuotaCaps {
    /// `bytes` (the session's `Limits::tmp_bytes`) and 1024 names: enough for
    /// matplotlib's font cache and a data cell's files, and a bound on the walk that
    /// recounts the tree.
    pub(crate) fn with_bytes(bytes: u64) -> Self {
        Self { bytes, entries: 1024 }
    }
}

/// One session's account of its `/tmp`.
pub(crate) struct Quota {
    /// The host directory behind `/tmp`.
    root: PathBuf,
    caps: QuotaCaps,
    bytes: u64,
    entries: u64,
    /// The guest's descriptors for `/tmp` and what it opened under it (only these
    /// can write there: the other preopens are read-only).
    fds: HashSet<u32>,
}

impl Quota {
    /// The account of the (empty) directory `root`, which the guest sees as its
    /// preopen `fd`.
    pub(crate) fn new(root: &Path, fd: u32, caps: QuotaCaps) -> Self {
        Self { root: root.to_owned(), caps, bytes: 0, entries: 0, fds: HashSet::from([fd]) }
    }

    fn fits(&self, bytes: u64, entries: u64) -> bool {
        self.bytes.saturating_add(bytes) <= self.caps.bytes && self.entries.saturating_add(entries) <= self.caps.entries
    }

    /// Counts the tree again (after something in it shrank or went), then adds the
    /// removed files the guest still holds open.
    async fn recount(&mut self, wasi: &mut WasiP1Ctx, mem: &mut GuestMemory<'_>) {
        // Off the runtime's threads: a deep tree takes a while to walk.
        let (root, stop) = (self.root.clone(), self.caps.entries.saturating_mul(2));
        let (mut bytes, entries) = tokio::task::spawn_blocking(move || tree_usage(&root, stop))
            .await
            .unwrap_or((self.caps.bytes, self.caps.entries));
        for &fd in &self.fds {
            if let Ok(stat) = wasi.fd_filestat_get(mem, fd.into()).await
                && stat.filetype == types::Filetype::RegularFile
                && stat.nlink == 0
            {
                bytes = bytes.saturating_add(stat.size);
            }
        }
        self.bytes = bytes;
        self.entries = entries;
    }
}

/// Bytes (each inode once) and names under `root`, not following links; stops
/// counting names past `stop` (the caller refuses growth well before).
fn tree_usage(root: &Path, stop: u64) -> (u64, u64) {
    let (mut bytes, mut entries) = (0u64, 0u64);
    let mut seen = HashSet::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(list) = std::fs::read_dir(&dir) else { continue };
        for entry in list.flatten() {
            entries += 1;
            if entries > stop {
                return (bytes, entries);
            }
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else { continue };
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if inode(&meta).is_none_or(|id| seen.insert(id)) {
                bytes = bytes.saturating_add(meta.len());
            }
        }
    }
    (bytes, entries)
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// A store's data that holds a WASI context and its `/tmp`'s quota.
pub(crate) trait WithQuota: Send + 'static {
    /// Both, borrowed together.
    fn parts(&mut self) -> (&mut WasiP1Ctx, &mut Quota);
}

/// The guest's memory, its WASI context and its quota, as the stock functions'
/// prologue takes them.
fn split<'a, T: WithQuota>(
    caller: &'a mut Caller<'_, T>,
) -> wasmtime::Result<(GuestMemory<'a>, &'a mut WasiP1Ctx, &'a mut Quota)> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let (mem, data) = memory.data_and_store_mut(caller);
    let (wasi, quota) = data.parts();
    wasi.set_hostcall_fuel(fuel);
    Ok((GuestMemory::Unshared(mem), wasi, quota))
}

/// The length `fd_write`/`fd_pwrite` would write: the stock functions write the
/// first non-empty buffer only. `None` when the vector is out of bounds (the stock
/// function then answers its own error).
fn first_buffer_len(mem: &GuestMemory<'_>, iovs: i32, count: i32) -> Option<u64> {
    let GuestMemory::Unshared(bytes) = mem else { return None };
    let (at, count) = (iovs as u32 as usize, count as u32 as usize);
    let table = bytes.get(at..at.checked_add(count.checked_mul(8)?)?)?;
    let len = table
        .chunks_exact(8)
        .map(|iov| u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]))
        .find(|&len| len > 0)
        .unwrap_or(0);
    Some(u64::from(len))
}

/// A file's size now, for growth checks; `Err` is the errno to answer.
async fn file_size(wasi: &mut WasiP1Ctx, mem: &mut GuestMemory<'_>, fd: i32) -> Result<Option<u64>, i32> {
    match wasi.fd_filestat_get(mem, (fd as u32).into()).await {
        Ok(stat) if stat.filetype == types::Filetype::RegularFile => Ok(Some(stat.size)),
        Ok(_) => Ok(None),
        Err(err) => Err(errno(err)),
    }
}

/// The errno of a failed query (a trap while querying is answered as `EIO`: the
/// stock function the guest called has not run).
fn errno(err: types::Error) -> i32 {
    err.downcast().map_or(Errno::Io as i32, |errno| errno as i32)
}

/// Where a write to `fd` starts: `at` for `fd_pwrite`, else the descriptor's
/// position, or the end for a file opened to append.
async fn write_start(
    wasi: &mut WasiP1Ctx,
    mem: &mut GuestMemory<'_>,
    fd: i32,
    size: u64,
    at: Option<u64>,
) -> Result<u64, i32> {
    let fd: types::Fd = (fd as u32).into();
    let stat = wasi.fd_fdstat_get(mem, fd).await.map_err(errno)?;
    if stat.fs_flags.contains(types::Fdflags::APPEND) {
        return Ok(size);
    }
    match at {
        Some(at) => Ok(at),
        None => wasi.fd_tell(mem, fd).map_err(errno),
    }
}

/// Runs `call`, which adds one name (and `bytes`) under `dir`, if that fits; then
/// charges it.
async fn add_name(
    quota: &mut Quota,
    dir: i32,
    bytes: u64,
    call: impl Future<Output = wasmtime::Result<i32>>,
) -> wasmtime::Result<i32> {
    let tracked = quota.fds.contains(&(dir as u32));
    if tracked && !quota.fits(bytes, 1) {
        return Ok(NOSPC);
    }
    let answer = call.await?;
    if tracked && answer == 0 {
        quota.bytes = quota.bytes.saturating_add(bytes);
        quota.entries += 1;
    }
    Ok(answer)
}

/// Runs a write or resize of `fd` that would leave the file `end` bytes long (when
/// longer), if the growth fits; then charges what it grew by.
macro_rules! grow {
    ($wasi:ident, $mem:ident, $quota:ident, $fd:expr, $end:expr, $call:expr) => {{
        let size = match file_size($wasi, &mut $mem, $fd).await {
            Ok(Some(size)) => size,
            Ok(None) => return $call,
            Err(errno) => return Ok(errno),
        };
        let end: Result<u64, i32> = $end(size).await;
        let end = match end {
            Ok(end) => end,
            Err(errno) => return Ok(errno),
        };
        if !$quota.fits(end.saturating_sub(size), 0) {
            return Ok(NOSPC);
        }
        let answer = $call?;
        if let Ok(Some(after)) = file_size($wasi, &mut $mem, $fd).await {
            $quota.bytes = $quota.bytes.saturating_add(after.saturating_sub(size));
            if after < size {
                $quota.recount($wasi, &mut $mem).await;
            }
        }
        Ok(answer)
    }};
}

/// Links the stock WASI preview1 functions, then the quota's over those that can
/// grow or shrink `/tmp` or hand out descriptors into it.
pub(crate) fn add_to_linker<T: WithQuota>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker, |data: &mut T| data.parts().0)?;
    linker.allow_shadowing(true);

    linker.func_wrap_async(
        MODULE,
        "fd_write",
        move |mut caller: Caller<'_, T>, (fd, iovs, count, out): (i32, i32, i32, i32)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                if !quota.fds.contains(&(fd as u32)) {
                    return p1::fd_write(wasi, &mut mem, fd, iovs, count, out).await;
                }
                let Some(len) = first_buffer_len(&mem, iovs, count) else {
                    return p1::fd_write(wasi, &mut mem, fd, iovs, count, out).await;
                };
                grow!(
                    wasi,
                    mem,
                    quota,
                    fd,
                    async |size| Ok(write_start(wasi, &mut mem, fd, size, None).await?.saturating_add(len)),
                    p1::fd_write(wasi, &mut mem, fd, iovs, count, out).await
                )
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_pwrite",
        move |mut caller: Caller<'_, T>, (fd, iovs, count, at, out): (i32, i32, i32, i64, i32)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                let len = first_buffer_len(&mem, iovs, count);
                let (true, Some(len)) = (quota.fds.contains(&(fd as u32)), len) else {
                    return p1::fd_pwrite(wasi, &mut mem, fd, iovs, count, at, out).await;
                };
                grow!(
                    wasi,
                    mem,
                    quota,
                    fd,
                    async |size| Ok(write_start(wasi, &mut mem, fd, size, Some(at as u64)).await?.saturating_add(len)),
                    p1::fd_pwrite(wasi, &mut mem, fd, iovs, count, at, out).await
                )
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_filestat_set_size",
        move |mut caller: Caller<'_, T>, (fd, to): (i32, i64)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                if !quota.fds.contains(&(fd as u32)) {
                    return p1::fd_filestat_set_size(wasi, &mut mem, fd, to).await;
                }
                grow!(
                    wasi,
                    mem,
                    quota,
                    fd,
                    async |_| Ok(to as u64),
                    p1::fd_filestat_set_size(wasi, &mut mem, fd, to).await
                )
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_open",
        move |mut caller: Caller<'_, T>,
              (dir, lookup, path, path_len, oflags, base, inheriting, fdflags, out): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i64,
            i64,
            i32,
            i32,
        )| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                let open = async |wasi: &mut WasiP1Ctx, mem: &mut GuestMemory<'_>| {
                    p1::path_open(wasi, mem, dir, lookup, path, path_len, oflags, base, inheriting, fdflags, out).await
                };
                if !quota.fds.contains(&(dir as u32)) {
                    return open(wasi, &mut mem).await;
                }
                let existed = if oflags & (O_CREAT | O_TRUNC) != 0 {
                    let flags = types::Lookupflags::from_bits_truncate(lookup as u32);
                    let at = GuestPtr::<str>::new((path as u32, path_len as u32));
                    wasi.path_filestat_get(&mut mem, (dir as u32).into(), flags, at).await.is_ok()
                } else {
                    true
                };
                let creates = oflags & O_CREAT != 0 && !existed;
                if creates && !quota.fits(0, 1) {
                    return Ok(NOSPC);
                }
                let answer = open(wasi, &mut mem).await?;
                if answer != 0 {
                    return Ok(answer);
                }
                let opened = mem.read(GuestPtr::<u32>::new(out as u32)).ok();
                if let Some(opened) = opened {
                    quota.fds.insert(opened);
                }
                if creates {
                    quota.entries += 1;
                } else if oflags & O_TRUNC != 0 {
                    quota.recount(wasi, &mut mem).await;
                }
                Ok(answer)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_create_directory",
        move |mut caller: Caller<'_, T>, (dir, path, len): (i32, i32, i32)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                add_name(quota, dir, 0, p1::path_create_directory(wasi, &mut mem, dir, path, len)).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_symlink",
        move |mut caller: Caller<'_, T>, (target, target_len, dir, path, len): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                // As the tree walk counts a link: its own length.
                let bytes = u64::from(target_len as u32);
                add_name(quota, dir, bytes, p1::path_symlink(wasi, &mut mem, target, target_len, dir, path, len)).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_link",
        move |mut caller: Caller<'_, T>,
              (from_dir, flags, from, from_len, dir, path, len): (i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                let link = p1::path_link(wasi, &mut mem, from_dir, flags, from, from_len, dir, path, len);
                add_name(quota, dir, 0, link).await
            })
        },
    )?;
    // What can only shrink the tree. Removing a name is exact when what it named
    // held no bytes of its own (an empty file, a link, a directory, which must be
    // empty); otherwise the tree is counted again after it ran (the file may have
    // other names, or be held open).
    linker.func_wrap_async(
        MODULE,
        "path_unlink_file",
        move |mut caller: Caller<'_, T>, (dir, path, len): (i32, i32, i32)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                if !quota.fds.contains(&(dir as u32)) {
                    return p1::path_unlink_file(wasi, &mut mem, dir, path, len).await;
                }
                let at = GuestPtr::<str>::new((path as u32, len as u32));
                let named =
                    wasi.path_filestat_get(&mut mem, (dir as u32).into(), types::Lookupflags::empty(), at).await;
                let answer = p1::path_unlink_file(wasi, &mut mem, dir, path, len).await?;
                if answer == 0 {
                    match named {
                        Ok(stat) if stat.filetype == types::Filetype::SymbolicLink || stat.size == 0 => {
                            quota.entries = quota.entries.saturating_sub(1);
                            if stat.filetype == types::Filetype::SymbolicLink {
                                quota.bytes = quota.bytes.saturating_sub(stat.size);
                            }
                        }
                        _ => quota.recount(wasi, &mut mem).await,
                    }
                }
                Ok(answer)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_remove_directory",
        move |mut caller: Caller<'_, T>, (dir, path, len): (i32, i32, i32)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                let answer = p1::path_remove_directory(wasi, &mut mem, dir, path, len).await?;
                if quota.fds.contains(&(dir as u32)) && answer == 0 {
                    quota.entries = quota.entries.saturating_sub(1);
                }
                Ok(answer)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_rename",
        move |mut caller: Caller<'_, T>, (from_dir, from, from_len, dir, path, len): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (mut mem, wasi, quota) = split(&mut caller)?;
                let answer = p1::path_rename(wasi, &mut mem, from_dir, from, from_len, dir, path, len).await?;
                let tracked = quota.fds.contains(&(dir as u32)) || quota.fds.contains(&(from_dir as u32));
                if tracked && answer == 0 {
                    quota.recount(wasi, &mut mem).await;
                }
                Ok(answer)
            })
        },
    )?;
    // Descriptors: a closed one is forgotten (and, if it held a removed file, the
    // tree is counted again); a renumbered one moves.
    linker.func_wrap_async(MODULE, "fd_close", move |mut caller: Caller<'_, T>, (fd,): (i32,)| {
        Box::new(async move {
            let (mut mem, wasi, quota) = split(&mut caller)?;
            let orphan = quota.fds.contains(&(fd as u32))
                && wasi.fd_filestat_get(&mut mem, (fd as u32).into()).await.is_ok_and(|stat| stat.nlink == 0);
            let answer = p1::fd_close(wasi, &mut mem, fd).await?;
            if answer == 0 && quota.fds.remove(&(fd as u32)) && orphan {
                quota.recount(wasi, &mut mem).await;
            }
            Ok(answer)
        })
    })?;
    linker.func_wrap_async(MODULE, "fd_renumber", move |mut caller: Caller<'_, T>, (from, to): (i32, i32)| {
        Box::new(async move {
            let (mut mem, wasi, quota) = split(&mut caller)?;
            let answer = p1::fd_renumber(wasi, &mut mem, from, to).await?;
            if answer == 0 {
                let moved = quota.fds.remove(&(from as u32));
                if quota.fds.remove(&(to as u32)) || moved {
                    if moved {
                        quota.fds.insert(to as u32);
                    }
                    quota.recount(wasi, &mut mem).await;
                }
            }
            Ok(answer)
        })
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
