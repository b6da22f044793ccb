//! The userspace resolver: `openat2(2)`'s `RESOLVE_*` rules kept where
//! openat2 is missing (Linux < 5.6) or refused (a seccomp profile that
//! predates it answers ENOSYS or EPERM).
//!
//! The path is walked one component at a time, each opened with
//! `O_PATH | O_NOFOLLOW` relative to the directory fd before it, so the
//! kernel never follows a symlink for us: symlinks are read
//! (`readlinkat(fd, "")`) and their text resolved again from the root
//! (absolute) or the directory that holds them (relative), within a budget
//! of 40, as the kernel's. What openat2 guarantees is kept:
//!
//! - `RESOLVE_IN_ROOT`: an absolute path or symlink starts again at the
//!   root, and `..` at the root stays there. `RESOLVE_BENEATH`: either
//!   gives `EXDEV`.
//! - After every `..`, containment is checked again: each directory the
//!   walk holds, from the current one up, must still have the one before it
//!   (and finally the root, by device and inode) as its `..`. A directory
//!   moved out from under the walk by a racing rename fails that check; the
//!   walk starts over (at most 32 times, then `EAGAIN`, as openat2 answers
//!   a lookup that keeps racing).
//! - The last component is opened with the caller's flags and `O_NOFOLLOW`
//!   added, then checked to be the inode the walk found (device and inode),
//!   so a swap between the walk and the open is a retry, never a file
//!   outside the root. With `O_PATH` the walk's own fd is returned. A
//!   missing last component with `O_CREAT` is created in the directory fd
//!   that was resolved, never following a symlink.
//! - `RESOLVE_NO_SYMLINKS`: any symlink met is `ELOOP` (a trailing one with
//!   `O_NOFOLLOW` is not followed, so, as openat2, it is not an error).
//! - `RESOLVE_NO_MAGICLINKS`: a procfs magic link (`/proc/PID/root`,
//!   `fd/N`, `exe`, `ns/*`… — a symlink on procfs that is not in its top
//!   directory) is `ELOOP`. Without the flag it is `EXDEV`: a magic link
//!   jumps to an object, not to its text, so a scoped walk cannot follow
//!   one, which is what openat2 does for a jump out of the root.
//! - `RESOLVE_NO_XDEV`: every component must be on the root's mount (mount
//!   id: `statx(STATX_MNT_ID)`, else `/proc/self/fdinfo`), else `EXDEV`.
//!
//! What differs from openat2: the walk is not atomic with respect to
//! renames *below* a directory it already holds (no more than openat2 is:
//! a directory moved outside the root by someone who can write there is
//! followed by both), and a walk that keeps losing races fails with
//! `EAGAIN` after 32 tries rather than 1000. `RESOLVE_CACHED` and an
//! unscoped walk (neither `IN_ROOT` nor `BENEATH`) are `EINVAL`: corral
//! never asks for them.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::errno::Errno;

const UNKNOWN: u8 = 0;
const MISSING: u8 = 1;

/// What this process knows of openat2: nothing yet, or missing.
static OPENAT2: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether openat2 is known to be missing or refused here, so that
/// `openat_resolve` goes straight to [`openat_resolved`]. Only what an
/// earlier answer taught: the first call of a process tries openat2
/// itself. (The tests force the resolver with a seccomp filter that
/// denies openat2, `CORRAL_TEST_DENY_ONLY`, or call it directly.)
pub fn openat2_missing() -> bool {
    OPENAT2.load(Ordering::Relaxed) == MISSING
}

/// Whether openat2's error `e` means "no openat2 here": ENOSYS always (an
/// older kernel); EPERM only when a probe of openat2 that no file
/// permission, LSM or mount can refuse (`O_PATH` of `/`) is refused too —
/// a seccomp filter, possibly loaded after an earlier call worked. Marks
/// the process so that later calls skip openat2.
pub fn openat2_refused(e: Errno) -> bool {
    let missing = match e {
        Errno::ENOSYS => true,
        Errno::EPERM => matches!(
            super::openat2_raw(
                libc::AT_FDCWD,
                c"/",
                (libc::O_PATH | libc::O_CLOEXEC) as u64,
                0,
                0
            ),
            Err(Errno::ENOSYS | Errno::EPERM)
        ),
        _ => false,
    };
    if missing {
        OPENAT2.store(MISSING, Ordering::Relaxed);
    }
    missing
}

/// Whether this process uses openat2 (`true`) or the userspace resolver
/// (`false`) for scoped opens, probing openat2 once if nothing called it
/// yet.
pub fn openat2_in_use() -> bool {
    if openat2_missing() {
        return false;
    }
    match super::openat2_raw(
        libc::AT_FDCWD,
        c"/",
        (libc::O_PATH | libc::O_CLOEXEC) as u64,
        0,
        0,
    ) {
        Ok(_) => true,
        Err(e) => !openat2_refused(e),
    }
}

/// The kernel's `MAXSYMLINKS`: symlinks one walk may follow.
const MAX_SYMLINKS: u32 = 40;
/// Walks that lost a race started over before `EAGAIN`.
const RETRIES: u32 = 32;
/// `PROC_SUPER_MAGIC`.
const PROC_MAGIC: i64 = 0x9fa0;
/// The inode number of a procfs's top directory (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;

const KNOWN: u64 = libc::RESOLVE_NO_XDEV
    | libc::RESOLVE_NO_MAGICLINKS
    | libc::RESOLVE_NO_SYMLINKS
    | libc::RESOLVE_BENEATH
    | libc::RESOLVE_IN_ROOT;

/// Why a walk stopped: an answer for the caller, or a race that makes the
/// walk start over.
enum Stop {
    Errno(Errno),
    Race,
}

impl From<Errno> for Stop {
    fn from(e: Errno) -> Self {
        Stop::Errno(e)
    }
}

type Walk<T> = Result<T, Stop>;

/// Device and inode: what names a directory across fds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Id(u64, u64);

fn id_of(fd: RawFd) -> Result<(Id, libc::mode_t), Errno> {
    let st = super::fstat(fd)?;
    Ok((Id(st.st_dev, st.st_ino), st.st_mode & libc::S_IFMT))
}

fn openat(dirfd: RawFd, name: &OsStr, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    let c = CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `c` is a valid C string for the duration of the call; the
    // mode is passed as the variadic third argument open(2) expects.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The text of the symlink `fd` (an `O_PATH | O_NOFOLLOW` fd) holds.
fn readlink(fd: RawFd) -> Result<OsString, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: "" is a valid C string; `buf` is writable for its length.
    let n = unsafe {
        libc::readlinkat(
            fd,
            c"".as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
        )
    };
    let n = Errno::result(n)? as usize;
    if n >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    buf.truncate(n);
    Ok(OsString::from_vec(buf))
}

/// Whether the symlink `link`, found in directory `dir`, is a procfs magic
/// link: on procfs, and not in the top directory of one (where `self`,
/// `thread-self`, `mounts` and `net` are ordinary symlinks).
fn is_magic(link: RawFd, dir: RawFd) -> Result<bool, Errno> {
    if super::fs_magic(link)? != PROC_MAGIC {
        return Ok(false);
    }
    let top = super::fs_magic(dir)? == PROC_MAGIC && super::fstat(dir)?.st_ino == PROC_ROOT_INO;
    Ok(!top)
}

/// The names of `path` in order: `..` kept, `.` and empty ones dropped.
fn names(path: &[u8]) -> impl Iterator<Item = OsString> + '_ {
    path.split(|&b| b == b'/')
        .filter(|n| !n.is_empty() && *n != b".")
        .map(|n| OsString::from_vec(n.to_vec()))
}

/// `openat2(dirfd, path, {flags, mode, resolve})` without openat2: see the
/// module's documentation for what is kept. Close-on-exec always.
pub fn openat_resolved(
    dirfd: RawFd,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let in_root = resolve & libc::RESOLVE_IN_ROOT != 0;
    let beneath = resolve & libc::RESOLVE_BENEATH != 0;
    if resolve & !KNOWN != 0 || in_root == beneath {
        return Err(Errno::EINVAL);
    }
    if path.as_os_str().is_empty() {
        return Err(Errno::ENOENT);
    }
    // The kernel's bound on a path (with its NUL): a longer one is
    // ENAMETOOLONG there, and must not cost a walk here.
    if path.as_os_str().len() >= libc::PATH_MAX as usize {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut tries = 0;
    loop {
        match walk(dirfd, path.as_os_str().as_bytes(), flags, mode, resolve) {
            Ok(fd) => return Ok(fd),
            Err(Stop::Errno(e)) => return Err(e),
            Err(Stop::Race) if tries < RETRIES => tries += 1,
            Err(Stop::Race) => return Err(Errno::EAGAIN),
        }
    }
}

/// One directory the walk holds, below the root.
struct Held {
    fd: OwnedFd,
    id: Id,
}

fn walk(root: RawFd, path: &[u8], flags: i32, mode: u32, resolve: u64) -> Walk<OwnedFd> {
    let in_root = resolve & libc::RESOLVE_IN_ROOT != 0;
    let no_symlinks = resolve & libc::RESOLVE_NO_SYMLINKS != 0;
    let no_magic = resolve & libc::RESOLVE_NO_MAGICLINKS != 0;
    let root_mnt = if resolve & libc::RESOLVE_NO_XDEV != 0 {
        Some(super::mount_id(root)?)
    } else {
        None
    };
    let (root_id, _) = id_of(root)?;
    if path.first() == Some(&b'/') && !in_root {
        return Err(Errno::EXDEV.into());
    }
    // A trailing "/" asks for a directory, as in open(2).
    let flags = if path.last() == Some(&b'/') {
        flags | libc::O_DIRECTORY
    } else {
        flags
    };
    let mut pending: VecDeque<OsString> = names(path).collect();
    let mut held: Vec<Held> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        let last = pending.is_empty();
        let cur = held.last().map_or(root, |h| h.fd.as_raw_fd());
        if name == ".." {
            if held.is_empty() {
                if in_root {
                    continue;
                }
                return Err(Errno::EXDEV.into());
            }
            // The directory the walk came from: never an opened "..", so
            // no rename can lead the walk out. Whether the held chain is
            // still under the root (a rename may have moved a directory of
            // it out) is checked once, before the walk returns or creates
            // anything: a check per ".." made an image's long ".." chains
            // quadratic.
            held.pop();
            continue;
        }
        let fd = match openat(cur, &name, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if last && flags & libc::O_CREAT != 0 => {
                still_under_root(&held, root_id)?;
                return create(cur, &name, flags, mode);
            }
            Err(e) => return Err(e.into()),
        };
        let (id, kind) = id_of(fd.as_raw_fd())?;
        if let Some(m) = root_mnt {
            if super::mount_id(fd.as_raw_fd())? != m {
                return Err(Errno::EXDEV.into());
            }
        }
        match kind {
            libc::S_IFLNK if last && flags & libc::O_NOFOLLOW != 0 => {
                // The link itself, as open(2) gives it: an O_PATH fd of it,
                // or ELOOP for anything else.
                if flags & libc::O_CREAT != 0 && flags & libc::O_EXCL != 0 {
                    return Err(Errno::EEXIST.into());
                }
                if flags & libc::O_DIRECTORY != 0 {
                    return Err(Errno::ENOTDIR.into());
                }
                if flags & libc::O_PATH != 0 {
                    still_under_root(&held, root_id)?;
                    return Ok(fd);
                }
                return Err(Errno::ELOOP.into());
            }
            libc::S_IFLNK => {
                if last && flags & libc::O_CREAT != 0 && flags & libc::O_EXCL != 0 {
                    return Err(Errno::EEXIST.into());
                }
                if no_symlinks {
                    return Err(Errno::ELOOP.into());
                }
                if is_magic(fd.as_raw_fd(), cur)? {
                    return Err(if no_magic { Errno::ELOOP } else { Errno::EXDEV }.into());
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP.into());
                }
                let target = readlink(fd.as_raw_fd())?;
                let t = target.as_bytes();
                if t.is_empty() {
                    return Err(Errno::ENOENT.into());
                }
                if t[0] == b'/' {
                    if !in_root {
                        return Err(Errno::EXDEV.into());
                    }
                    held.clear();
                }
                let mut expanded: VecDeque<OsString> = names(t).collect();
                expanded.extend(pending);
                pending = expanded;
            }
            libc::S_IFDIR if !last => held.push(Held { fd, id }),
            _ if !last => return Err(Errno::ENOTDIR.into()),
            _ => {
                still_under_root(&held, root_id)?;
                return finish(cur, &name, fd, id, kind, flags);
            }
        }
    }
    still_under_root(&held, root_id)?;
    finish_dir(held.last().map_or(root, |h| h.fd.as_raw_fd()), flags)
}

/// Checks, before the walk returns or creates, that every directory held
/// is still the child of the one before it and the first still a child of
/// the root (as openat2 checks at the end that no rename moved the walk
/// out): else the walk starts over.
fn still_under_root(held: &[Held], root: Id) -> Walk<()> {
    for (i, h) in held.iter().enumerate().rev() {
        let up = openat(
            h.fd.as_raw_fd(),
            OsStr::new(".."),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        let (up, _) = id_of(up.as_raw_fd())?;
        let want = if i == 0 { root } else { held[i - 1].id };
        if up != want {
            return Err(Stop::Race);
        }
    }
    Ok(())
}

/// Opens the last component `name` of directory `dir`, found by the walk as
/// `found` (an `O_PATH | O_NOFOLLOW` fd of inode `id`), with the caller's
/// flags.
fn finish(
    dir: RawFd,
    name: &OsStr,
    found: OwnedFd,
    id: Id,
    kind: libc::mode_t,
    flags: i32,
) -> Walk<OwnedFd> {
    if flags & libc::O_DIRECTORY != 0 && kind != libc::S_IFDIR {
        return Err(Errno::ENOTDIR.into());
    }
    if flags & libc::O_CREAT != 0 && kind == libc::S_IFDIR {
        return Err(Errno::EISDIR.into());
    }
    if flags & libc::O_PATH != 0 {
        return Ok(found);
    }
    if flags & libc::O_CREAT != 0 && flags & libc::O_EXCL != 0 {
        return Err(Errno::EEXIST.into());
    }
    let fd = match openat(dir, name, (flags & !libc::O_CREAT) | libc::O_NOFOLLOW, 0) {
        Ok(fd) => fd,
        // A symlink or nothing where the walk found a file: swapped.
        Err(Errno::ELOOP | Errno::ENOENT) => return Err(Stop::Race),
        Err(e) => return Err(e.into()),
    };
    if id_of(fd.as_raw_fd())?.0 != id {
        return Err(Stop::Race);
    }
    Ok(fd)
}

/// The walk ended on a directory it holds (the root, after `..`, or a link
/// that names one): that directory, opened with the caller's flags.
fn finish_dir(dir: RawFd, flags: i32) -> Walk<OwnedFd> {
    if flags & libc::O_CREAT != 0 {
        return Err(Errno::EISDIR.into());
    }
    Ok(openat(dir, OsStr::new("."), flags, 0)?)
}

/// Creates the missing last component `name` in the resolved directory
/// `dir`, following nothing.
fn create(dir: RawFd, name: &OsStr, flags: i32, mode: u32) -> Walk<OwnedFd> {
    match openat(dir, name, flags | libc::O_NOFOLLOW, mode) {
        Ok(fd) => Ok(fd),
        // Something appeared there since the walk looked: look again.
        Err(Errno::EEXIST) if flags & libc::O_EXCL == 0 => Err(Stop::Race),
        Err(Errno::ELOOP) => Err(Stop::Race),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
