//! Which entries of `mounts` may land in the container's `/proc`.
//!
//! A mount over a file under `/proc` redirects what is written there: a
//! host procfs file bound over a sysctl or `oom_score_adj` sends corral's
//! own writes into it (CVE-2025-52881's class), and a directory bound over
//! `/proc/PID/fdinfo` could feed the mount-id check of the older-kernel
//! fallback (`procfile`, without `statx(STATX_MNT_ID)`) whatever it wants.
//! So, as runc's `checkProcMount` does, nothing of the config is mounted
//! inside `/proc` but the files lxcfs emulates; `/proc` itself takes a
//! procfs only (a `proc` mount, or a bind of a procfs's root).
//!
//! The destination is checked twice: by its path when the config is read
//! ([`check_destination`], before anything is made), and by where it
//! resolved in the rootfs when it is mounted ([`check_target`]): a
//! destination elsewhere that an image symlink sends into the container's
//! procfs is refused as well.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path};

use crate::procfile::PROC_SUPER_MAGIC;
use crate::sys;

/// The files under `/proc` a config may mount over: those lxcfs emulates
/// (and runc allows), each of which the runtime never writes.
pub const ALLOWED: [&str; 11] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// Where a destination is, seen from `/proc`.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// Outside `/proc`.
    Outside,
    /// `/proc` itself.
    Proc,
    /// Inside `/proc`.
    Inside,
}

fn place(dest: &Path) -> Place {
    let mut c = dest
        .components()
        .filter(|c| !matches!(c, Component::CurDir));
    if c.next() != Some(Component::RootDir) || c.next() != Some(Component::Normal("proc".as_ref()))
    {
        return Place::Outside;
    }
    match c.next() {
        None => Place::Proc,
        Some(_) => Place::Inside,
    }
}

/// Whether `dest` (absolute, without `..`) is one of [`ALLOWED`].
fn allowed(dest: &Path) -> bool {
    ALLOWED.iter().any(|a| Path::new(a) == dest)
}

/// The config-time check of one mount: `dest` is its absolute destination,
/// `typ` its type, `bind` whether it is a bind and `source` its source.
/// Returns why it is refused.
pub fn check_destination(
    dest: &Path,
    typ: &str,
    bind: bool,
    source: Option<&Path>,
) -> Result<(), String> {
    match place(dest) {
        Place::Outside => Ok(()),
        Place::Proc if typ == "proc" && !bind => Ok(()),
        Place::Proc if bind && source.is_some_and(is_procfs_root) => Ok(()),
        Place::Proc => Err(format!(
            "{dest:?} cannot be mounted: /proc takes a proc mount or a bind of a procfs root only"
        )),
        Place::Inside if allowed(dest) => Ok(()),
        Place::Inside => Err(format!(
            "{dest:?} cannot be mounted: it is inside /proc, where only the files lxcfs emulates may be mounted ({})",
            ALLOWED.join(", ")
        )),
    }
}

/// The mount-time check: `target` is the destination as it resolved in the
/// rootfs. A target on procfs (the container's `/proc` mounted earlier) is
/// refused unless the destination is `/proc` or one of [`ALLOWED`] by name.
pub fn check_target(dest: &Path, target: &OwnedFd) -> Result<(), String> {
    let on_proc =
        sys::fs_magic(target.as_raw_fd()).map_err(|e| format!("statfs: {e}"))? == PROC_SUPER_MAGIC;
    if !on_proc || place(dest) == Place::Proc || allowed(dest) {
        return Ok(());
    }
    Err(format!(
        "{dest:?} resolves into the container's /proc, where only the files lxcfs emulates may be mounted: refused"
    ))
}

/// Whether `p` is the root directory of a procfs (inode 1), not a
/// directory inside one such as `/proc/sys`.
fn is_procfs_root(p: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    // O_PATH: a FIFO or a device as the source is looked at, never opened.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(p)
        .ok()
        .is_some_and(|f| {
            sys::fs_magic(f.as_raw_fd()).ok() == Some(PROC_SUPER_MAGIC)
                && sys::fstat(f.as_raw_fd()).is_ok_and(|st| st.st_ino == 1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places() {
        assert_eq!(place(Path::new("/proc")), Place::Proc);
        assert_eq!(place(Path::new("/proc/")), Place::Proc);
        assert_eq!(place(Path::new("/proc/./")), Place::Proc);
        assert_eq!(place(Path::new("/proc/sys/kernel")), Place::Inside);
        assert_eq!(place(Path::new("/procfs")), Place::Outside);
        assert_eq!(place(Path::new("/etc/proc")), Place::Outside);
    }

    #[test]
    fn only_lxcfs_files_go_inside_proc() {
        let d = |p: &str| check_destination(Path::new(p), "bind", true, Some(Path::new("/etc")));
        assert!(d("/proc/meminfo").is_ok());
        assert!(d("/proc/net/dev").is_ok());
        assert!(d("/mnt/proc").is_ok());
        let e = d("/proc/sys/kernel/domainname").expect_err("a sysctl");
        assert!(e.contains("inside /proc"), "{e}");
        assert!(d("/proc/self/oom_score_adj").is_err());
        assert!(d("/proc/1/fdinfo").is_err());
        assert!(d("/proc/meminfo/x").is_err());
    }

    #[test]
    fn proc_itself_takes_procfs_only() {
        let p = Path::new("/proc");
        assert!(check_destination(p, "proc", false, Some(Path::new("proc"))).is_ok());
        assert!(check_destination(p, "bind", true, Some(Path::new("/proc"))).is_ok());
        let e = check_destination(p, "bind", true, Some(Path::new("/etc"))).expect_err("etc");
        assert!(e.contains("procfs root only"), "{e}");
        let e = check_destination(p, "bind", true, Some(Path::new("/proc/sys"))).expect_err("sys");
        assert!(e.contains("procfs root only"), "{e}");
        assert!(check_destination(p, "tmpfs", false, Some(Path::new("tmpfs"))).is_err());
    }

    #[test]
    fn a_target_on_procfs_needs_an_allowed_name() {
        let fd: OwnedFd = std::fs::File::open("/proc/sys/kernel")
            .expect("open")
            .into();
        let e = check_target(Path::new("/etc/k"), &fd).expect_err("on procfs");
        assert!(e.contains("resolves into the container's /proc"), "{e}");
        assert!(check_target(Path::new("/proc"), &fd).is_ok());
        assert!(check_target(Path::new("/proc/meminfo"), &fd).is_ok());
        let etc: OwnedFd = std::fs::File::open("/etc").expect("open").into();
        assert!(check_target(Path::new("/etc"), &etc).is_ok());
    }
}
