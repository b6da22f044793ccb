//! Writes to `/proc` that land on the real procfs file: a container image,
//! or a mount over a file under /proc (CVE-2025-52881's class: another
//! procfs file such as `/proc/sysrq-trigger` bind-mounted over the target),
//! cannot redirect them.
//!
//! Where the kernel allows it the file is opened in a procfs instance of
//! corral's own — `fsopen("proc")` + `fsmount`, detached, so nothing can be
//! mounted over anything in it — with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`. The
//! instance belongs to the calling process's PID namespace and is made
//! anew in each process that writes (a fork, an init in a new PID
//! namespace); sysctls under /proc/sys/net are the writer's network
//! namespace's whatever the instance. Where fsopen is missing or refused
//! (older kernels, a user namespace whose /proc is already masked) the file
//! opened under `/proc` must be on the very mount of the procfs at `/proc`:
//! an over-mounted file is on a mount of its own and is refused.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::sys;

/// The magic number of procfs.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The inode number of a procfs root.
const PROC_ROOT_INO: u64 = 1;

/// corral's own procfs of this process: (pid it was made by, mount fd).
static OWN: Mutex<Option<(u32, OwnedFd)>> = Mutex::new(None);

/// Writes `data` to the procfs file `path` (`/proc/…`) in one `write`,
/// refusing a path that is a symlink, not on procfs, or not the real file.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let f = open_write(path)?;
    (&f).write_all(data)
}

/// Opens the procfs file `path` for writing, verified as the module says.
pub fn open_write(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(rel) = relative(path) {
        if let Some(r) = open_in_own(&rel) {
            return r.map(std::fs::File::from).map_err(|e| {
                std::io::Error::other(format!("open {path:?} (corral's procfs): {e}"))
            });
        }
    }
    open_checked(path)
}

/// `path` relative to a procfs root, with `self` and `thread-self` spelled
/// as the pids they name (no symlink is followed in corral's procfs).
fn relative(path: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix("/proc").ok()?;
    let mut out = PathBuf::new();
    for (i, c) in rest.components().enumerate() {
        let Component::Normal(n) = c else {
            return None;
        };
        match (i, n.to_str()) {
            (0, Some("self")) => out.push(std::process::id().to_string()),
            (0, Some("thread-self")) => {
                out.push(std::process::id().to_string());
                out.push("task");
                out.push(nix::unistd::gettid().to_string());
            }
            _ => out.push(n),
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Opens `rel` for writing in corral's own procfs; None when this process
/// cannot make one.
fn open_in_own(rel: &Path) -> Option<std::result::Result<OwnedFd, nix::errno::Errno>> {
    let mut own = OWN.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if own.as_ref().is_none_or(|(p, _)| *p != pid) {
        let attrs =
            crate::rootfs::attr::NOSUID | crate::rootfs::attr::NODEV | crate::rootfs::attr::NOEXEC;
        *own = Some((pid, sys::fsmount_new("proc", &[], attrs).ok()?));
    }
    let (_, root) = own.as_ref()?;
    Some(sys::openat_resolve(
        root.as_raw_fd(),
        rel,
        libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NOCTTY,
        0,
        libc::RESOLVE_BENEATH
            | libc::RESOLVE_NO_XDEV
            | libc::RESOLVE_NO_SYMLINKS
            | libc::RESOLVE_NO_MAGICLINKS,
    ))
}

/// The fallback: `path` opened `O_NOFOLLOW`, on procfs, and on the same
/// mount as the procfs root at `/proc`.
fn open_checked(path: &Path) -> std::io::Result<std::fs::File> {
    // Checked on an O_PATH fd first, reopened for writing through it after.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let magic = sys::fs_magic(f.as_raw_fd()).map_err(std::io::Error::from)?;
    if magic != PROC_SUPER_MAGIC {
        return Err(std::io::Error::other(format!("{path:?} is not on procfs")));
    }
    let proc: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open("/proc")?
        .into();
    let root_ok = sys::fs_magic(proc.as_raw_fd()).map_err(std::io::Error::from)?
        == PROC_SUPER_MAGIC
        && nix::sys::stat::fstat(&proc)
            .map_err(std::io::Error::from)?
            .st_ino
            == PROC_ROOT_INO;
    let (file_mnt, proc_mnt) = (
        sys::mount_id(f.as_raw_fd()).map_err(std::io::Error::from)?,
        sys::mount_id(proc.as_raw_fd()).map_err(std::io::Error::from)?,
    );
    if !root_ok || file_mnt != proc_mnt {
        return Err(std::io::Error::other(format!(
            "{path:?} is not the file of the procfs mounted at /proc (something is mounted over it): refused"
        )));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn refuses_files_off_procfs() {
        let p = std::env::temp_dir().join(format!("corral-procfile-{}", std::process::id()));
        std::fs::write(&p, "").expect("write");
        let e = super::write(&p, b"1").expect_err("not procfs");
        assert!(e.to_string().contains("not on procfs"));
        std::fs::remove_file(&p).expect("rm");
    }

    #[test]
    fn self_is_spelled_as_the_pid() {
        let pid = std::process::id().to_string();
        assert_eq!(
            super::relative(Path::new("/proc/self/oom_score_adj")),
            Some(Path::new(&pid).join("oom_score_adj"))
        );
        assert_eq!(
            super::relative(Path::new("/proc/sys/net/ipv4/ip_forward")),
            Some("sys/net/ipv4/ip_forward".into())
        );
        assert_eq!(super::relative(Path::new("/proc/sys/../1")), None);
        assert_eq!(super::relative(Path::new("/etc/passwd")), None);
    }

    /// The fallback check, run in a child in a private mount namespace
    /// (`unshare -m`, as root): a procfs file with another procfs file
    /// bind-mounted over it is refused, the plain one is accepted.
    #[test]
    fn fallback_refuses_an_over_mounted_file() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let exe = std::env::current_exe().expect("current_exe");
        let o = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private"])
            .arg(exe)
            .args([
                "--exact",
                "procfile::tests::fallback_inner",
                "--ignored",
                "--nocapture",
            ])
            .env("CORRAL_PROCFILE_INNER", "1")
            .output()
            .expect("unshare");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(text.contains("1 passed"), "{text}");
    }

    #[test]
    #[ignore = "run by fallback_refuses_an_over_mounted_file in its own mount namespace"]
    fn fallback_inner() {
        assert_eq!(std::env::var("CORRAL_PROCFILE_INNER").as_deref(), Ok("1"));
        let target = Path::new("/proc/sys/kernel/domainname");
        super::open_checked(target).expect("the plain file is accepted");
        nix::mount::mount(
            Some("/proc/sys/kernel/hostname"),
            target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind over domainname");
        let e = super::open_checked(target).expect_err("over-mounted");
        assert!(
            e.to_string().contains("something is mounted over it"),
            "{e}"
        );
        super::open_checked(Path::new("/proc/sys/kernel/hostname")).expect("the source itself");
    }
}
