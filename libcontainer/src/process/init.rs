//! The container's init: what runs in the cloned child, from the clone to the
//! exec of the user's program.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType as NS, Spec};

use crate::cgroups::CgroupState;
use crate::error::{Error, Result, SysContext};
use crate::namespaces::Plan;
use crate::process::channel::{Channel, Msg};
use crate::process::context::{
    chdir_before_user, chdir_inside, enter_process_context, exec_args, recv_go,
};
use crate::process::helper::request_fd;
use crate::{hooks, rootfs, security, sys, tty};

/// Everything the init needs; a copy of the parent's memory at clone time.
pub(crate) struct InitArgs<'a> {
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
pub(crate) fn child_main(
    mut ch: Channel,
    a: &InitArgs,
    cg: crate::cgroups::Entry,
    fast: bool,
) -> ! {
    // Non-dumpable from the first instruction (CVE-2016-9962,
    // CVE-2019-5736): while this process runs corral's binary, nobody —
    // a process of a joined PID namespace included — may ptrace it or open
    // its /proc/PID/exe or fds. fork keeps the flag; the exec of the
    // user's program resets it.
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    // The helper's request channel is the helper's, not the container's.
    if let Some(hfd) = request_fd::get() {
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
    let in_cwd = chdir_before_user(process.cwd())?;
    let late_seccomp = enter_process_context(
        process,
        spec.linux().as_ref(),
        a.seccomp,
        host_pid,
        &(a.state_json)("creating", host_pid),
    )?;
    if !in_cwd {
        chdir_inside(process.cwd())?;
    }
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
