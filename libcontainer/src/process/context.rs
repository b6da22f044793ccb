//! The process context that the container's init and every exec'd process
//! share: the go-ahead from the parent, rlimits, scheduler,
//! LSM labels, no_new_privs, seccomp, user and capabilities, the working
//! directory, and the program with its argv and environment.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, SysContext};
use crate::process::channel::{Channel, Msg};
use crate::{lsm, security};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Waits for the parent's go-ahead, then receives our pid as the host sees
/// it (for the seccomp listener's state).
pub(crate) fn recv_go(ch: &mut Channel) -> Result<i32> {
    ch.expect(&Msg::Go)?;
    match ch.recv()? {
        Some(Msg::Pid(p)) => Ok(p),
        other => Err(Error::Other(format!(
            "expected our host pid, got {other:?}"
        ))),
    }
}

/// The container's seccomp filter, when it is still to be loaded: with
/// no_new_privs, [`enter_process_context`] leaves it for the caller to
/// load as the very last step before `execve` ([`LateSeccomp::load`]), so
/// that nothing corral still does (the fd sweep, the exec fifo, the
/// startContainer hooks) runs under a filter that may deny it.
#[must_use = "the filter must be loaded right before execve"]
pub(crate) struct LateSeccomp<'a> {
    filter: Option<(&'a crate::seccomp::Prepared, i32, String)>,
}

impl LateSeccomp<'_> {
    /// Loads the filter, if one was left; call right before `execve`.
    pub(crate) fn load(self) -> Result<()> {
        match self.filter {
            Some((sc, pid, state)) => sc.load(pid, &state),
            None => Ok(()),
        }
    }
}

/// The process's security context, in runc's order: rlimits,
/// LSM labels, no_new_privs, then seccomp and the switch to
/// the process's user and capabilities. With no_new_privs the filter is
/// loaded last of all, right before `execve`, by the caller
/// ([`LateSeccomp`]). Without it, loading needs CAP_SYS_ADMIN, so, as
/// runc does, the filter is loaded before the switch to the process's user
/// and capabilities; what corral does after that runs under it and is made
/// of calls every profile that lets a container start allows (setresuid,
/// capset, chdir, open, write, fork, poll, fcntl, getdents64, execve) or
/// falls back from a denial (close_range → the `/proc/self/fd` walk,
/// pidfd_open → polling, clone3 → glibc's fork).
pub(crate) fn enter_process_context<'a>(
    p: &oci_spec::runtime::Process,
    linux: Option<&oci_spec::runtime::Linux>,
    seccomp: Option<&'a crate::seccomp::Prepared>,
    host_pid: i32,
    state: &str,
) -> Result<LateSeccomp<'a>> {
    if let Some(rl) = p.rlimits() {
        security::set_rlimits(rl)?;
    }
    // process.oomScoreAdj is written by the parent (security::set_oom_score_adj).
    // While every capability is held (RT and deadline policies need
    // CAP_SYS_NICE) and before seccomp (which may deny personality(2)).
    if let Some(s) = p.scheduler() {
        crate::procattr::apply_scheduler(s)?;
    }
    if let Some(io) = p.io_priority() {
        crate::procattr::apply_ioprio(io)?;
    }
    if let Some(per) = linux.and_then(|l| l.personality().as_ref()) {
        crate::procattr::apply_personality(per)?;
    }
    if let Some(m) = linux.and_then(|l| l.memory_policy().as_ref()) {
        crate::procattr::apply_mempolicy(m)?;
    }
    if let Some(prof) = p.apparmor_profile().as_ref().filter(|x| !x.is_empty()) {
        lsm::apply_apparmor(prof)?;
    }
    if let Some(l) = p.selinux_label().as_ref().filter(|x| !x.is_empty()) {
        lsm::apply_selinux(l)?;
    }
    let nnp = p.no_new_privileges().unwrap_or(false);
    if nnp {
        security::set_no_new_privs()?;
    }
    if !nnp {
        if let Some(sc) = seccomp {
            sc.load(host_pid, state)?;
        }
    }
    security::set_user_and_caps(p)?;
    Ok(LateSeccomp {
        filter: match seccomp {
            Some(sc) if nnp => Some((sc, host_pid, state.to_string())),
            _ => None,
        },
    })
}

/// The program to exec (found in the process's PATH) and its argv and
/// envp as C strings. A program that is, or whose `#!` chain ends in, the
/// runtime's own executable runs its sealed image (see
/// [`crate::process::seal`]): nothing to refuse.
pub(crate) fn exec_args(
    p: &oci_spec::runtime::Process,
) -> Result<(CString, Vec<CString>, Vec<CString>)> {
    // HOME from the container's /etc/passwd when the config has none (or
    // an empty one), as runc; read here, inside the container's root.
    let env = crate::passwd::with_home(p.env().clone().unwrap_or_default(), p.user().uid(), || {
        crate::passwd::read(Path::new("/etc/passwd"))
    });
    let args: Vec<String> = p.args().clone().unwrap_or_default();
    let first = args
        .first()
        .ok_or_else(|| Error::spec("process.args", "empty: nothing to execute"))?;
    let exe = find_executable(first, &env)?;
    let to_c = |v: &[String]| -> Result<Vec<CString>> {
        v.iter()
            .map(|s| {
                CString::new(s.as_bytes()).map_err(|_| Error::Other(format!("NUL byte in {s:?}")))
            })
            .collect()
    };
    let exe_c =
        CString::new(exe.as_os_str().as_bytes()).map_err(|_| Error::Other("NUL in path".into()))?;
    Ok((exe_c, to_c(&args)?, to_c(&env)?))
}

/// The first try at the working directory, as runc makes it: with the
/// runtime's privileges, before the switch to the process's user, so that
/// a cwd the user cannot search but root can still works. Returns whether
/// it is entered; `false` where it is refused (`EACCES`, `EPERM`: a
/// directory only the process's user may enter, such as one on a
/// root-squashed share), and [`chdir_inside`] tries again once the user is
/// switched.
pub(crate) fn chdir_before_user(cwd: &Path) -> Result<bool> {
    match nix::unistd::chdir(cwd) {
        Ok(()) => check_inside(cwd).map(|()| true),
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => Ok(false),
        Err(e) => Err(Error::sys(format!("process.cwd: chdir to {cwd:?}"), e)),
    }
}

/// chdir to `cwd` and check that it is inside the container: a cwd that
/// resolves through a leaked fd to a host directory (CVE-2024-21626,
/// `/proc/self/fd/N`) is refused.
pub(crate) fn chdir_inside(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).ctx(|| format!("process.cwd: chdir to {cwd:?}"))?;
    check_inside(cwd)
}

/// Checks that the working directory just entered for `cwd` is inside the
/// container.
fn check_inside(cwd: &Path) -> Result<()> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() && !p.starts_with("(unreachable)") => Ok(()),
        Ok(p) => Err(Error::spec(
            "process.cwd",
            format!("{cwd:?} resolves to {p:?}, outside the container"),
        )),
        Err(e) => Err(Error::spec(
            "process.cwd",
            format!("{cwd:?} is outside the container ({e})"),
        )),
    }
}

/// Finds `name` as `execve` would after a `PATH` search in the container's
/// environment, as runc's LookPath does.
pub fn find_executable(name: &str, env: &[String]) -> Result<PathBuf> {
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if is_exec(&p) {
            Ok(p)
        } else {
            Err(Error::Other(format!(
                "process.args[0]: exec {name:?}: no such executable file"
            )))
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(name);
        if is_exec(&p) {
            return Ok(p);
        }
    }
    Err(Error::Other(format!(
        "process.args[0]: exec {name:?}: executable file not found in $PATH"
    )))
}
