//! The exec'd process: the child of `exec` that enters a running
//! container (its cgroups, namespaces and root), forks once more when it
//! joins a PID namespace, sets up the process context and execs.

use std::os::fd::{AsRawFd, OwnedFd};

use oci_spec::runtime::{LinuxNamespaceType as NS, Process};

use crate::error::{Error, Result, SysContext};
use crate::process::channel::{Channel, Msg};
use crate::process::context::{
    chdir_before_user, chdir_inside, enter_process_context, exec_args, recv_go,
};
use crate::{cgroups, namespaces, rootfs, security, sys, tty};

/// What the exec'd process takes from the container and from its options.
pub(crate) struct ChildContext<'a> {
    /// The process to run: args, env, cwd, user, capabilities, rlimits…
    pub process: &'a Process,
    /// Fds 3..3+N stay open in the process.
    pub preserve_fds: u32,
    /// The pty master is relayed to the caller's stdio (not the console
    /// socket's owner): the terminal keeps "\n" as "\n".
    pub console_to_caller: bool,
    /// The init's namespaces to join, user first, opened by `pin_init`.
    pub join: &'a [(NS, OwnedFd)],
    /// The init's root directory.
    pub root: &'a std::fs::File,
    /// The console socket, for a terminal.
    pub console: Option<i32>,
    /// Whether a PID namespace is joined (one more fork).
    pub pidns_join: bool,
    /// The container's seccomp filter.
    pub seccomp: Option<&'a crate::seccomp::Prepared>,
    /// The container's `linux` section (personality, memory policy).
    pub linux: Option<&'a oci_spec::runtime::Linux>,
}

/// In the forked child: enter the container, then (after a second fork when
/// the PID namespace is joined) set up and exec the process.
pub(crate) fn exec_child(
    ch: &mut Channel,
    cx: &ChildContext,
    cgroups: cgroups::Entry,
) -> Result<()> {
    let ChildContext {
        process: p,
        preserve_fds,
        console_to_caller,
        join,
        root,
        console,
        pidns_join,
        seccomp,
        linux,
    } = *cx;
    sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0).ctx(|| "set non-dumpable".to_string())?;
    let affinity = p.exec_cpu_affinity().as_ref();
    if let Some(cpus) = affinity.and_then(|a| a.initial().as_ref()) {
        // Before the move into the container's cgroup.
        crate::procattr::apply_affinity("process.execCPUAffinity.initial", cpus)?;
    }
    // Into the container's cgroups while single-threaded and before any
    // namespace is joined; a process forked into the PID namespace
    // inherits them.
    cgroups.join_self()?;
    for (t, fd) in join {
        sys::setns(fd.as_raw_fd(), namespaces::flag(*t))
            .ctx(|| format!("join the container's {} namespace", namespaces::name(*t)))?;
    }
    // The root the init sees, whether it pivoted or chrooted (--no-pivot).
    nix::unistd::fchdir(root).ctx(|| "enter the container's root".to_string())?;
    nix::unistd::chroot(".").ctx(|| "chroot into the container's root".to_string())?;
    if pidns_join {
        match sys::fork().ctx(|| "fork into the PID namespace".to_string())? {
            sys::Forked::Child => {}
            sys::Forked::Parent(pid) => {
                ch.send(&Msg::Pid(pid))?;
                sys::exit_now(0);
            }
        }
    }
    let host_pid = recv_go(ch)?;
    if let Some(cpus) = affinity.and_then(|a| a.cpu_affinity_final().as_ref()) {
        // In the container's cgroup now (a cpuset move resets affinity).
        crate::procattr::apply_affinity("process.execCPUAffinity.final", cpus)?;
    }
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .ctx(|| "reset the signal mask".to_string())?;
    if p.terminal().unwrap_or(false) {
        nix::unistd::setsid().ctx(|| "setsid".to_string())?;
        let slash: OwnedFd = std::fs::File::open("/")
            .map_err(|e| Error::io("open", "/", e))?
            .into();
        let (master, slave) = rootfs::open_pty(&slash)?;
        if console_to_caller {
            // Relayed to the caller's stdio: "\n" stays "\n", as runc's.
            tty::clear_onlcr(slave.as_raw_fd())?;
        }
        if let Some(cs) = p.console_size() {
            sys::set_winsize(master.as_raw_fd(), cs.height() as u16, cs.width() as u16)
                .ctx(|| "process.consoleSize: set window size".to_string())?;
        }
        let sock =
            console.ok_or_else(|| Error::Other("terminal without a console socket".into()))?;
        tty::send_fd(sock, "/dev/ptmx", master.as_raw_fd())?;
        tty::give_to(&slave, p.user().uid())?;
        tty::become_terminal(&slave)?;
    }
    let in_cwd = chdir_before_user(p.cwd())?;
    let late_seccomp = enter_process_context(p, linux, seccomp, host_pid, "null")?;
    if !in_cwd {
        chdir_inside(p.cwd())?;
    }
    let (exe_c, argv, envp) = exec_args(p)?;
    security::set_umask(p);
    sys::cloexec_all_from(3 + preserve_fds).ctx(|| "mark fds close-on-exec".to_string())?;
    for fd in 3..3 + preserve_fds {
        let _ = sys::clear_cloexec(fd as i32);
    }
    late_seccomp.load()?;
    let e = sys::execve(&exe_c, &argv, &envp);
    Err(Error::sys(format!("exec {exe_c:?}"), e))
}
