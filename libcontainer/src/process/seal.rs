//! The runtime's own executable, out of reach for writing
//! (CVE-2019-5736).
//!
//! Every process corral makes that enters a container — the init, an
//! exec'd process, a hook runner, the helper of a multi-threaded embedder
//! — is a clone of the running runtime, so its `/proc/PID/exe` is the
//! runtime's executable until it execs the user's program. A program that
//! is (or whose `#!` chain ends in) `/proc/self/exe`, a hook that is a file
//! of the image, or a co-tenant holding `CAP_SYS_PTRACE` can open that link
//! and, once no runtime process runs, reopen it for writing: the host's
//! binary.
//!
//! So the runtime never runs from a writable file. [`seal_self`], called
//! first thing in `main` (the `corral` CLI, the shim, and every helper via
//! [`crate::helper::run_if_helper`]), re-executes the process once from an
//! image that cannot be written through any path a container can reach:
//!
//! - a **read-only detached bind** of the executable's directory
//!   (`open_tree(CLONE)` + `mount_setattr(RDONLY)`), executed by the file
//!   in it: attached in no mount namespace, and `/proc/PID/exe` names a
//!   file under the mount's root, through which the kernel lets nobody
//!   change the mount (`EINVAL`); every open for writing through
//!   `/proc/PID/exe`, `/proc/PID/fd/N` or `/proc/PID/map_files` meets
//!   `EROFS`. No copy, no memory: it needs `CAP_SYS_ADMIN` over the
//!   caller's mount namespace and Linux 5.12 (`mount_setattr`). The
//!   mount's fd stays open across the re-exec and is closed by
//!   [`release_mount_fd`] while a child works, since the unmount that
//!   closing it makes waits out an RCU grace period;
//! - otherwise a **sealed memfd** copy (`F_SEAL_WRITE | F_SEAL_GROW |
//!   F_SEAL_SHRINK | F_SEAL_SEAL`): any user, any kernel since 3.17; it costs
//!   a copy of the binary per process that seals itself.
//!
//! An executable that already is on a read-only mount (an immutable `/usr`,
//! a read-only image) or a sealed memfd needs nothing: [`current`] reads
//! the property off the running image itself, so the check cannot be fooled
//! by an environment variable. [`require_sealed`] is what the library's
//! clone sites call: nothing enters a container from an unsealed image.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::rootfs::attr;
use crate::sys;

/// Set in the environment of the re-executed process, so that a seal that
/// did not take (a kernel that reports it differently) fails instead of
/// re-executing forever. Removed again at once.
pub const SEALED_ENV: &str = "_LIBCONTAINER_SEALED";

/// In a debug build, makes [`seal_self`] take the memfd copy even where a
/// read-only bind could be made (for the tests of that fallback).
pub const FORCE_MEMFD_ENV: &str = "_LIBCONTAINER_SEAL_MEMFD";

/// How the running executable is kept from being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seal {
    /// It is on a read-only mount (ours, detached, or the host's own).
    ReadOnlyMount,
    /// It is a memfd sealed against writing, growing and shrinking.
    Memfd,
}

impl std::fmt::Display for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Seal::ReadOnlyMount => "read-only mount",
            Seal::Memfd => "sealed memfd",
        })
    }
}

/// How this process's executable is protected, or `None` when it is a
/// file that could be reopened for writing.
pub fn current() -> Option<Seal> {
    let fd = sys::open_self_exe().ok()?;
    classify(fd.as_raw_fd())
}

/// Whether the executable open on `fd` is sealed, and how.
fn classify(fd: RawFd) -> Option<Seal> {
    const WRITE_SEALS: i32 = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;
    if let Ok(seals) = sys::get_seals(fd) {
        if seals & WRITE_SEALS == WRITE_SEALS && seals & libc::F_SEAL_SEAL != 0 {
            return Some(Seal::Memfd);
        }
    }
    match sys::statvfs_flags(fd) {
        Ok(flags) if flags & libc::ST_RDONLY != 0 => Some(Seal::ReadOnlyMount),
        _ => None,
    }
}

/// Makes sure this process runs from a sealed executable: returns how it is
/// sealed when it already does, and otherwise re-executes it (same argv,
/// same environment, same fds) from a sealed image, so it returns only in
/// the re-executed process. Call it first thing in `main`, before any
/// thread is started.
pub fn seal_self() -> Result<Seal> {
    let passed = std::env::var_os(SEALED_ENV);
    let retried = passed.is_some();
    if retried {
        std::env::remove_var(SEALED_ENV);
    }
    if let Some(s) = current() {
        if let Some(v) = passed {
            adopt_mount_fd(&v);
        }
        return Ok(s);
    }
    if retried {
        return Err(Error::Other(
            "the runtime re-executed itself from a sealed image, yet its executable is still writable"
                .into(),
        ));
    }
    let (image, tree) = sealed_image()?;
    let argv: Vec<CString> = std::env::args_os().map(c_string).collect::<Result<_>>()?;
    let mut envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            c_string(kv)
        })
        .collect::<Result<_>>()?;
    // The detached mount's fd goes along, open across the exec (see
    // `MOUNT_FD`); its number is the marker's value.
    let marker = match &tree {
        Some(t) if sys::clear_cloexec(t.as_raw_fd()).is_ok() => t.as_raw_fd().to_string(),
        _ => "-".into(),
    };
    envp.push(c_string(OsString::from(format!("{SEALED_ENV}={marker}")))?);
    let e = sys::execveat_empty(image.as_raw_fd(), &argv, &envp);
    Err(Error::sys(
        "re-execute the runtime from its sealed image",
        e,
    ))
}

/// Fails unless this process runs from a sealed executable: the library's
/// check before it clones anything that enters a container.
pub fn require_sealed() -> Result<Seal> {
    // The image cannot change short of an exec, which starts this process
    // afresh: checked once per process, not per create.
    static CHECKED: std::sync::OnceLock<Option<Seal>> = std::sync::OnceLock::new();
    CHECKED.get_or_init(current).ok_or_else(|| {
        Error::Other(
            "the runtime's executable is writable (CVE-2019-5736): call \
             libcontainer::process::seal::seal_self() first thing in main"
                .into(),
        )
    })
}

/// The fd of the detached read-only mount this process runs from, kept
/// open from the re-exec until [`release_mount_fd`].
///
/// Closing the last fd of a detached mount unmounts it, and the kernel
/// waits out an RCU grace period in that `close` (about 0.1 ms here). Had
/// the re-exec closed it, every create, run and exec would wait for it
/// before doing anything; kept open, it is closed where the runtime waits
/// for a child anyway. The image itself does not need the fd: the mapped
/// executable holds the mount.
static MOUNT_FD: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// Takes the detached mount's fd passed across the re-exec (the marker's
/// value), once it is checked to be the mount the executable is on.
fn adopt_mount_fd(marker: &std::ffi::OsStr) {
    let Some(fd) = marker.to_str().and_then(|v| v.parse::<RawFd>().ok()) else {
        return;
    };
    let Ok(exe) = sys::open_self_exe() else {
        return;
    };
    // Not ours unless it is a directory on the very mount we run from
    // (the marker came through the environment): left alone then.
    let st = sys::fstat(fd);
    let ours = st.is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        && matches!(
            (sys::mount_id(fd), sys::mount_id(exe.as_raw_fd())),
            (Ok(a), Ok(b)) if a == b
        );
    if ours {
        // Left to this process by the re-exec, which nothing owns yet.
        if let Ok(owned) = sys::adopt_inherited_fd(fd) {
            *MOUNT_FD.lock().unwrap_or_else(|e| e.into_inner()) = Some(owned);
        }
    }
}

/// Closes this process's fd of the detached mount it runs from, if it
/// still holds one. The library calls it in each child it clones, first
/// thing (so the child is never the last holder), and in the parent while
/// it waits for that child: there the grace period of the unmount passes
/// while the child works. An embedder may call it at any time.
pub fn release_mount_fd() {
    drop(MOUNT_FD.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// Moves the detached mount's fd, if this process holds it, to a number at
/// or above `range.end` when it lies in `range` (fds to be handed to the
/// container: see [`crate::process::preserved_fds`]).
pub(crate) fn move_mount_fd_from(range: std::ops::Range<RawFd>) -> Result<()> {
    let mut held = MOUNT_FD.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fd) = held.as_ref() else {
        return Ok(());
    };
    if !range.contains(&fd.as_raw_fd()) {
        return Ok(());
    }
    let moved = sys::dup_cloexec_from(fd.as_raw_fd(), range.end)
        .map_err(|e| Error::sys("move the runtime image's mount fd", e))?;
    // Not the last fd of the mount (`moved` is): no grace period here.
    *held = Some(moved);
    Ok(())
}

/// An fd of a sealed image of our executable — a read-only detached bind
/// where we may make one (with the fd of its mount), else a sealed memfd
/// copy.
fn sealed_image() -> Result<(OwnedFd, Option<OwnedFd>)> {
    // Debug builds only: the tests take the fallback on this host too.
    if cfg!(debug_assertions) && std::env::var_os(FORCE_MEMFD_ENV).is_some() {
        return Ok((sealed_memfd()?, None));
    }
    match readonly_bind() {
        Ok((fd, tree)) => Ok((fd, Some(tree))),
        // EPERM: no CAP_SYS_ADMIN over our mount namespace (rootless, a
        // container); ENOSYS/EINVAL: a kernel without the new mount API.
        Err(_) => Ok((sealed_memfd()?, None)),
    }
}

fn readonly_bind() -> std::result::Result<(OwnedFd, OwnedFd), Errno> {
    // The binary's directory, not the file alone: the root of a detached
    // mount can have its attributes changed by anyone holding
    // CAP_SYS_ADMIN over their own mount namespace (mount_setattr checks
    // no namespace for an anonymous mount's root), and /proc/PID/exe must
    // never name such a root. The file inside is not one, so the kernel
    // refuses (EINVAL) to change the mount through it. It also makes
    // /proc/PID/exe read `/corral` for ps and its kin.
    let path = std::fs::read_link("/proc/self/exe").map_err(|_| Errno::ENOENT)?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Errno::ENOENT);
    };
    // A binary replaced under us reads "… (deleted)": no such name in the
    // directory, and the memfd copy is taken instead.
    let tree = readonly_bind_of(dir)?;
    let fd = sys::openat_path(tree.as_raw_fd(), std::path::Path::new(name))?;
    if classify(fd.as_raw_fd()) == Some(Seal::ReadOnlyMount) && same_file(&fd) {
        Ok((fd, tree))
    } else {
        Err(Errno::ESTALE)
    }
}

/// Whether `fd` is the file we run (device and inode).
fn same_file(fd: &OwnedFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        sys::fstat(fd.as_raw_fd()),
        std::fs::metadata("/proc/self/exe"),
    ) {
        (Ok(a), Ok(m)) => (a.st_dev, a.st_ino) == (m.dev(), m.ino()),
        _ => false,
    }
}

/// A read-only detached bind of the directory (or, in the tests, the
/// file) at `path`, checked to be so.
fn readonly_bind_of(path: &std::path::Path) -> std::result::Result<OwnedFd, Errno> {
    let tree = sys::open_tree_clone(path, false)?;
    let attr = sys::MountAttr {
        attr_set: attr::RDONLY | attr::NOSUID | attr::NODEV,
        ..Default::default()
    };
    sys::mount_setattr(tree.as_raw_fd(), false, &attr)?;
    // The seal must be there before we trust it.
    match classify(tree.as_raw_fd()) {
        Some(Seal::ReadOnlyMount) => Ok(tree),
        _ => Err(Errno::EROFS),
    }
}

/// The name of the sealed memfd copy a process runs from where the new
/// mount API is missing: its `/proc/PID/exe` reads `/memfd:<this> (deleted)`.
pub const SEALED_MEMFD_NAME: &str = "corral-sealed";

fn sealed_memfd() -> Result<OwnedFd> {
    let src = sys::open_self_exe().map_err(|e| Error::sys("open /proc/self/exe", e))?;
    let mfd = sys::memfd_exec(SEALED_MEMFD_NAME).map_err(|e| Error::sys("memfd_create", e))?;
    let len = sys::fstat(src.as_raw_fd())
        .map_err(|e| Error::sys("fstat /proc/self/exe", e))?
        .st_size as u64;
    sys::copy_all(src.as_raw_fd(), mfd.as_raw_fd(), len)
        .map_err(|e| Error::sys("copy the runtime's executable into a memfd", e))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // F_SEAL_WRITE is EBUSY while a page of the file still has a reference
    // beyond the page cache's: the kernel waits about 70 ms for such pins
    // (the copy's pages in transit) before it gives up, which a loaded
    // machine can outlast (seen once in CI's older-kernels tier). Nothing
    // else maps this fresh memfd, so a pin is always transient: try again,
    // a bounded number of times.
    let mut tries = 0;
    loop {
        match sys::add_seals(mfd.as_raw_fd(), seals) {
            Ok(()) => return Ok(mfd),
            Err(Errno::EBUSY) if tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(Error::sys("seal the runtime's memfd", e)),
        }
    }
}

fn c_string(s: OsString) -> Result<CString> {
    CString::new(s.into_vec()).map_err(|_| Error::Other("NUL byte in an argument".into()))
}

#[cfg(test)]
fn classify_fd(fd: &OwnedFd) -> Option<Seal> {
    classify(fd.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_plain_file_is_not_sealed_and_a_sealed_memfd_is() {
        let p = std::env::temp_dir().join(format!("corral-seal-{}", std::process::id()));
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(b"x"))
            .expect("write");
        let f: OwnedFd = std::fs::File::open(&p).expect("open").into();
        assert_eq!(classify_fd(&f), None, "a file on a writable fs");
        std::fs::remove_file(&p).expect("rm");

        let m = sys::memfd_exec("t").expect("memfd");
        assert_eq!(classify_fd(&m), None, "an unsealed memfd");
        sys::add_seals(
            m.as_raw_fd(),
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE,
        )
        .expect("seal");
        assert_eq!(classify_fd(&m), Some(Seal::Memfd));
        // SAFETY: a plain write on an fd we own.
        let r = unsafe { libc::write(m.as_raw_fd(), b"y".as_ptr().cast(), 1) };
        assert_eq!(r, -1, "a sealed memfd takes no write");
    }

    #[test]
    fn the_memfd_copy_is_our_executable_and_sealed() {
        let m = sealed_memfd().expect("sealed memfd");
        assert_eq!(classify_fd(&m), Some(Seal::Memfd));
        let ours = std::fs::read("/proc/self/exe").expect("read exe");
        let copy = std::fs::read(format!("/proc/self/fd/{}", m.as_raw_fd())).expect("read copy");
        assert!(ours == copy, "the copy differs from the executable");
        // Reopened for writing through /proc, as an attacker would.
        let w = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", m.as_raw_fd()));
        if let Ok(mut w) = w {
            assert!(
                w.write_all(b"PWNED").is_err(),
                "write through a reopened fd"
            );
        }
    }

    #[test]
    fn a_readonly_bind_refuses_a_reopen_for_writing() {
        // A file nobody executes (ours would answer ETXTBSY first).
        let p = std::env::temp_dir().join(format!("corral-seal-ro-{}", std::process::id()));
        std::fs::write(&p, b"x").expect("write");
        let r = readonly_bind_of(&p);
        let Ok(fd) = r else {
            std::fs::remove_file(&p).expect("rm");
            // Not root, or a kernel without mount_setattr: the memfd is
            // the path there, tested above.
            assert!(matches!(r, Err(Errno::EPERM | Errno::ENOSYS)), "{r:?}");
            return;
        };
        assert_eq!(classify_fd(&fd), Some(Seal::ReadOnlyMount));
        let e = std::fs::OpenOptions::new()
            .append(true)
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .expect_err("a reopen for writing");
        std::fs::remove_file(&p).expect("rm");
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    }
}
