//! The container's init: what runs in the cloned child, from the clone to the
//! exec of the user's program.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType as NS, Spec};

use crate::cgroups::CgroupState;
use crate::channel::{Channel, Msg};
use crate::error::{Error, Result, SysContext};
use crate::namespaces::Plan;
use crate::{hooks, lsm, rootfs, security, sys, tty};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the init needs; a copy of the parent's memory at clone time.
pub struct InitArgs<'a> {
    /// Container id.
    pub id: &'a str,
    /// The config.
    pub spec: &'a Spec,
    /// Absolute rootfs path.
    pub rootfs: &'a Path,
    /// Namespaces to create and join.
    pub plan: &'a Plan,
    /// The container's cgroups (already created).
    pub cgroups: &'a CgroupState,
    /// The host's cgroup hierarchies.
    pub hierarchies: &'a [crate::cgroups::Hierarchy],
    /// `O_PATH` fd of the exec fifo.
    pub fifo: RawFd,
    /// Connected console socket, when the process has a terminal.
    pub console: Option<RawFd>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// Fds 3..3+N stay open across exec.
    pub preserve_fds: u32,
    /// Stdio to install on 0, 1, 2 (None: keep the inherited ones).
    pub stdio: Option<[RawFd; 3]>,
    /// The state as JSON, for createContainer and startContainer hooks
    /// (status filled in by the init).
    pub state_json: &'a dyn Fn(&str, i32) -> String,
    /// The seccomp filter to load, compiled by the parent.
    pub seccomp: Option<&'a crate::seccomp::Prepared>,
    /// Idmapped copies of mount sources (index in `mounts`, detached mount
    /// fd), made by the parent.
    pub idmapped: &'a [(usize, RawFd)],
    /// The creator's lock on the state dir: the init closes its copy at
    /// once, or a creator killed mid-create would leave it held.
    pub lock: RawFd,
}

/// Runs in the cloned child and never returns: on error the reason goes to
/// the parent and the child exits 1. `fast`: the namespaces were all created
/// by the clone itself; otherwise this child joins and unshares, then forks
/// the real init.
pub fn child_main(mut ch: Channel, a: &InitArgs, cg: crate::cgroups::Entry, fast: bool) -> ! {
    // Non-dumpable from the first instruction (CVE-2016-9962,
    // CVE-2019-5736): while this process runs corral's binary, nobody —
    // a process of a joined PID namespace included — may ptrace it or open
    // its /proc/PID/exe or fds. fork keeps the flag; the exec of the
    // user's program resets it.
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    // The helper's request channel is the helper's, not the container's.
    let hfd = crate::helper::HELPER_FD.load(std::sync::atomic::Ordering::SeqCst);
    if hfd > 2 {
        let _ = nix::unistd::close(hfd);
    }
    let _ = nix::unistd::close(a.lock);
    // Into the container's cgroups first, while still single-threaded and
    // outside any joined namespace; a forked init inherits them.
    let r = cg.join_self().and_then(|()| {
        if fast {
            init(&mut ch, a)
        } else {
            intermediate(&mut ch, a)
        }
    });
    match r {
        Ok(()) => sys::exit_now(0),
        Err(e) => {
            let _ = ch.send(&Msg::Error(e.to_string()));
            sys::exit_now(1)
        }
    }
}

/// The slow path: join existing namespaces, unshare new ones, then fork the
/// init so that a new or joined PID namespace, and a new time namespace,
/// apply to it. (A time namespace is entered by the children of the process
/// that unshares it; only kernels since 6.3 also switch at exec.)
fn intermediate(ch: &mut Channel, a: &InitArgs) -> Result<()> {
    crate::namespaces::join_all(&a.plan.join)?;
    let flags = a.plan.create & !(libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME);
    sys::unshare(flags).ctx(|| format!("unshare namespaces {flags:#x}"))?;
    if a.plan.creates(NS::User) {
        ch.send(&Msg::NeedMaps(std::process::id() as i32))?;
        ch.expect(&Msg::MapsDone)?;
    }
    if a.plan.creates(NS::Time) {
        // Offsets must be written before any process is in the namespace.
        sys::unshare(libc::CLONE_NEWTIME).ctx(|| "unshare time namespace".to_string())?;
        write_time_offsets(a.spec)?;
    }
    match sys::fork().ctx(|| "fork the container init".to_string())? {
        sys::Forked::Child => {
            let r = init(ch, a);
            match r {
                Ok(()) => sys::exit_now(0),
                Err(e) => {
                    let _ = ch.send(&Msg::Error(e.to_string()));
                    sys::exit_now(1)
                }
            }
        }
        sys::Forked::Parent(pid) => ch.send(&Msg::Pid(pid)),
    }
}

fn init(ch: &mut Channel, a: &InitArgs) -> Result<()> {
    // Nobody may ptrace or read our memory before exec (CVE-2016-9962).
    sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0).ctx(|| "set non-dumpable".to_string())?;
    let host_pid = recv_go(ch)?;
    // Whatever the caller had blocked must not reach the container.
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .ctx(|| "reset the signal mask".to_string())?;
    let spec = a.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::spec("process", "missing"))?;
    if let Some(fds) = a.stdio {
        for (n, fd) in fds.iter().enumerate() {
            sys::dup2(*fd, n as i32).ctx(|| format!("install stdio fd {n}"))?;
        }
    }
    let userns = a.plan.owns(NS::User);
    if userns {
        // Become root of the new user namespace (the maps are written now).
        let root_u = nix::unistd::Uid::from_raw(0);
        let root_g = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(root_g, root_g, root_g)
            .ctx(|| "setresgid 0 in the user namespace".to_string())?;
        nix::unistd::setresuid(root_u, root_u, root_u)
            .ctx(|| "setresuid 0 in the user namespace".to_string())?;
    }
    // A joined UTS namespace gets the hostname too, as runc sets it.
    if a.plan.owns(NS::Uts) {
        if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
            nix::unistd::sethostname(h).ctx(|| format!("hostname: set {h:?}"))?;
        }
        if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
            sys::setdomainname(d).ctx(|| format!("domainname: set {d:?}"))?;
        }
    }
    if !a.no_new_keyring {
        match sys::join_session_keyring(&format!("_ses.{}", a.id)) {
            Ok(()) | Err(nix::errno::Errno::ENOSYS) => {}
            Err(e) => return Err(Error::sys("join a new session keyring", e)),
        }
    }

    let ctx = rootfs::Context {
        rootfs: a.rootfs,
        cgroups: a.cgroups,
        hierarchies: a.hierarchies,
        cgroupns: a.plan.creates(NS::Cgroup),
        userns,
        idmapped: a.idmapped,
    };
    rootfs::prepare_root(a.rootfs)?;
    // The parent applies the resources while we mount. The cgroup
    // namespace is rooted at the cgroup we are in (joined first thing).
    let cgroupns = a.plan.creates(NS::Cgroup);
    let dev = rootfs::mount_all(spec, &ctx, &mut || {
        if cgroupns {
            sys::unshare(libc::CLONE_NEWCGROUP).ctx(|| "unshare cgroup namespace".to_string())?;
        }
        Ok(())
    })?;
    let terminal = process.terminal().unwrap_or(false);
    let mut slave: Option<OwnedFd> = None;
    if terminal {
        let (master, s) = rootfs::open_console(a.rootfs, dev.as_ref())?;
        if let Some(cs) = process.console_size() {
            sys::set_winsize(master.as_raw_fd(), cs.height() as u16, cs.width() as u16)
                .ctx(|| "process.consoleSize: set window size".to_string())?;
        }
        let sock = a
            .console
            .ok_or_else(|| Error::Other("terminal requested without a console socket".into()))?;
        tty::send_fd(sock, "/dev/ptmx", master.as_raw_fd())?;
        slave = Some(s);
    }
    drop(dev);
    ch.send(&Msg::RunHooks)?;
    ch.expect(&Msg::HooksDone)?;
    hooks::run(
        spec.hooks(),
        "createContainer",
        &(a.state_json)("creating", std::process::id() as i32),
    )?;
    rootfs::enter_root(a.rootfs, a.no_pivot)?;
    rootfs::finish(spec)?;

    nix::unistd::setsid().ctx(|| "setsid".to_string())?;
    if let Some(s) = &slave {
        tty::give_to(s, process.user().uid())?;
        tty::become_terminal(s)?;
    }
    drop(slave);
    let late_seccomp = enter_process_context(
        process,
        spec.linux().as_ref(),
        a.seccomp,
        host_pid,
        &(a.state_json)("creating", host_pid),
    )?;
    chdir_inside(process.cwd())?;
    let (exe_c, argv, envp) = exec_args(process)?;
    ch.send(&Msg::Ready)?;
    // Wait for `start`: opening the fifo for writing blocks until it opens
    // it for reading.
    let mut fifo = OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{}", a.fifo))
        .map_err(|e| {
            Error::Other(format!(
                "open exec fifo (is /proc mounted in the container?): {e}"
            ))
        })?;
    fifo.write_all(b"0")
        .map_err(|e| Error::Other(format!("write exec fifo: {e}")))?;
    // The fifo stays open (close-on-exec) until the exec: `start` reads to
    // EOF, so it returns, and runs poststart hooks, only once the user's
    // program runs. A failure from here on is written to the fifo for
    // `start` to report, since create's caller is gone.
    let r = (|| -> Result<()> {
        // Beside the process, with its environment (runc 1.2) where the
        // hook gives none.
        let process_env: Vec<String> = envp
            .iter()
            .map(|kv| kv.to_string_lossy().into_owned())
            .collect();
        hooks::run_with_env(
            spec.hooks(),
            "startContainer",
            &(a.state_json)("created", std::process::id() as i32),
            &process_env,
        )?;
        security::set_umask(process);
        sys::cloexec_all_from(3 + a.preserve_fds).ctx(|| "mark fds close-on-exec".to_string())?;
        for fd in 3..3 + a.preserve_fds {
            let _ = sys::clear_cloexec(fd as i32);
        }
        late_seccomp.load()?;
        let e = sys::execve(&exe_c, &argv, &envp);
        Err(Error::sys(format!("exec {exe_c:?}"), e))
    })();
    if let Err(e) = &r {
        let _ = fifo.write_all(format!("E{e}").as_bytes());
    }
    r
}

/// Runs `f` with the process dumpable: in a user namespace, the files of a
/// non-dumpable process under /proc/self belong to the host's root, and the
/// container's root may not write them.
fn with_dumpable<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    sys::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0).ctx(|| "set dumpable".to_string())?;
    let r = f();
    sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0).ctx(|| "set non-dumpable".to_string())?;
    r
}

fn write_time_offsets(spec: &Spec) -> Result<()> {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in &offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    crate::procfile::write(
        std::path::Path::new("/proc/self/timens_offsets"),
        text.as_bytes(),
    )
    .map_err(|e| Error::Other(format!("linux.timeOffsets: write {text:?}: {e}")))
}

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
/// oom_score_adj, LSM labels, no_new_privs, then seccomp and the switch to
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
    if let Some(adj) = p.oom_score_adj() {
        with_dumpable(|| security::set_oom_score_adj(adj))?;
    }
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

/// chdir to `cwd` and check that it is inside the container: a cwd that
/// resolves through a leaked fd to a host directory (CVE-2024-21626,
/// `/proc/self/fd/N`) is refused.
pub(crate) fn chdir_inside(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).ctx(|| format!("process.cwd: chdir to {cwd:?}"))?;
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
