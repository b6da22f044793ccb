//! `exec`: a new process in a running container — its namespaces, its root,
//! its cgroups, and the security context of the given process spec.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType as NS, Process};

use crate::channel::{Channel, Msg};
use crate::container::{write_pid_file, Container, Status};
use crate::error::{Error, Result, SysContext};
use crate::{cgroups, helper, init, namespaces, rootfs, security, sys, tty};

/// How to run a process in a container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExecOptions {
    /// The process: args, env, cwd, user, capabilities, rlimits, terminal…
    pub process: Process,
    /// Where the pty master goes when `process.terminal` is set.
    pub console_socket: Option<PathBuf>,
    /// With a terminal and no console socket: hand the pty master back.
    pub console_to_caller: bool,
    /// Write the new process's host pid here.
    pub pid_file: Option<PathBuf>,
    /// Fds 3..3+N stay open in the process.
    pub preserve_fds: u32,
    /// Exec even into a paused container.
    pub ignore_paused: bool,
    /// From a multi-threaded caller (which execs through a helper process):
    /// the process's stdin, stdout and stderr. A single-threaded caller's
    /// process inherits the caller's own.
    #[serde(skip)]
    pub stdio: Option<[RawFd; 3]>,
    /// The helper binary for a multi-threaded caller (default
    /// `/proc/self/exe`; see [`crate::helper`]).
    #[serde(skip)]
    pub helper: Option<PathBuf>,
}

impl ExecOptions {
    /// Options for `process`, everything else off.
    pub fn new(process: Process) -> ExecOptions {
        ExecOptions {
            process,
            console_socket: None,
            console_to_caller: false,
            pid_file: None,
            preserve_fds: 0,
            ignore_paused: false,
            stdio: None,
            helper: None,
        }
    }
}

/// The started process.
#[derive(Debug)]
pub struct Exec {
    /// Its host pid.
    pub pid: i32,
    /// The pty master, when asked for with `console_to_caller`.
    pub console: Option<OwnedFd>,
}

const NS_ORDER: [NS; 8] = [
    NS::User,
    NS::Ipc,
    NS::Uts,
    NS::Network,
    NS::Pid,
    NS::Cgroup,
    NS::Time,
    NS::Mount,
];

impl Container {
    /// Starts `opts.process` in this container and returns once it has
    /// exec'd (or failed, with the reason). The caller must be
    /// single-threaded (the `corral` CLI is); it waits for the process
    /// itself, as its parent or, when a PID namespace needs an extra fork,
    /// as a subreaper.
    pub fn exec(&self, opts: ExecOptions) -> Result<Exec> {
        if helper::is_multithreaded() {
            // Forking here is unsafe: a single-threaded helper does it, and
            // the process is reparented to the caller (make it a subreaper
            // to wait for it).
            if opts.console_to_caller {
                return Err(Error::Other(
                    "a multi-threaded caller gets an exec's terminal through a console socket"
                        .into(),
                ));
            }
            let helper = opts
                .helper
                .clone()
                .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
            let pid = helper::exec_via_helper(&helper, self.root(), self.id(), &opts, opts.stdio)?;
            return Ok(Exec { pid, console: None });
        }
        // The process is a clone of this one: never of a writable image.
        crate::process::seal::require_sealed()?;
        match self.status() {
            Status::Stopped => return Err(Error::NotRunning),
            // Its init may not have entered its root yet.
            Status::Creating => {
                return Err(Error::BadState {
                    id: self.id().to_string(),
                    status: "creating".into(),
                    msg: "cannot exec in a container that is being created".into(),
                })
            }
            Status::Paused if !opts.ignore_paused => {
                return Err(Error::BadState {
                    id: self.id().to_string(),
                    status: "paused".into(),
                    msg: "cannot exec in a paused container (use --ignore-paused)".into(),
                })
            }
            _ => {}
        }
        let p = &opts.process;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::spec("process.args", "empty: nothing to execute"));
        }
        if !p.cwd().is_absolute() {
            return Err(Error::spec(
                "process.cwd",
                format!("{:?} is not an absolute path", p.cwd()),
            ));
        }
        let terminal = p.terminal().unwrap_or(false);
        if terminal && opts.console_socket.is_none() && !opts.console_to_caller {
            return Err(Error::spec(
                "process.terminal",
                "true, but no console socket was given",
            ));
        }
        let init_pid = self.pid().ok_or(Error::NotRunning)?;
        stall_point("exec-loaded");
        // Every namespace of the container and its root, opened now and
        // known to be the init's (see `pin_init`): the child joins these
        // fds, never a /proc path a reused pid could redirect.
        let spec = self.spec();
        let kinds: Vec<NS> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default()
            .iter()
            .map(|n| n.typ())
            .collect();
        let Pinned { join, root } = self.pin_init(init_pid, &kinds)?;
        let (console, to_caller) = match &opts.console_socket {
            Some(path) if terminal => (Some(tty::connect(path)?), None),
            None if terminal => {
                let (ours, theirs) =
                    UnixStream::pair().map_err(|e| Error::Other(format!("socketpair: {e}")))?;
                (Some(theirs), Some(ours))
            }
            _ => (None, None),
        };
        // The container's seccomp profile applies to exec'd processes too.
        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(sc) => Some(crate::seccomp::Prepared::new(
                sc,
                self.extra_seccomp_flags(),
            )?),
            None => None,
        };
        let (mut parent, child) = Channel::pair()?;
        let pidns_join = kinds.contains(&NS::Pid);
        // The process enters the container's cgroups itself, as the init
        // does (cgroups::Entry: no RCU grace period, which an exec after a
        // quiet spell paid in full). execCPUAffinity.initial applies before
        // the move: then the clone cannot place it in cgroup2 itself.
        let initial_affinity = opts
            .process
            .exec_cpu_affinity()
            .as_ref()
            .is_some_and(|a| a.initial().is_some());
        let mut entry = cgroups::Entry::open(self.cgroups())?;
        if initial_affinity {
            entry.without_clone_into()?;
        }
        let first =
            match crate::process::clone::into_cgroups(&mut entry, 0, "fork the exec process")? {
                sys::Forked::Child => {
                    drop(parent);
                    let mut ch = child;
                    let r = exec_child(
                        &mut ch,
                        &opts,
                        &ChildContext {
                            join: &join,
                            root: &root,
                            console: console.as_ref().map(|c| c.as_raw_fd()),
                            pidns_join,
                            seccomp: seccomp.as_ref(),
                            linux: spec.linux().as_ref(),
                        },
                        entry,
                    );
                    if let Err(e) = r {
                        let _ = ch.send(&Msg::Error(e.to_string()));
                        sys::exit_now(1);
                    }
                    sys::exit_now(0)
                }
                sys::Forked::Parent(pid) => pid,
            };
        drop(entry);
        drop(child);
        drop(console);
        crate::faults::crash_point("exec-forked");
        let result = (|| -> Result<i32> {
            let pid = if pidns_join {
                match parent.recv()? {
                    Some(Msg::Pid(p)) => {
                        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(first), None);
                        p
                    }
                    Some(Msg::Error(e)) => return Err(Error::Init(e)),
                    other => return Err(Error::Init(format!("unexpected {other:?} from exec"))),
                }
            } else {
                first
            };
            crate::faults::crash_point("exec-cgroup");
            parent.send(&Msg::Go)?;
            parent.send(&Msg::Pid(pid))?;
            // The process's end of the channel is close-on-exec: EOF means
            // it exec'd; an error comes as a message.
            match parent.recv()? {
                None => Ok(pid),
                Some(Msg::Error(e)) => Err(Error::Init(e)),
                Some(m) => Err(Error::Init(format!("unexpected {m:?} from exec"))),
            }
        })();
        let pid = match result {
            Ok(pid) => pid,
            Err(e) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(first),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(first), None);
                return Err(e);
            }
        };
        crate::faults::crash_point("exec-started");
        let console = match to_caller {
            Some(sock) => Some(tty::recv_fd(sock.as_raw_fd())?.0),
            None => None,
        };
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, pid)?;
        }
        Ok(Exec { pid, console })
    }
}

/// The container init's namespaces (in [`NS_ORDER`]) and root directory.
struct Pinned {
    join: Vec<(NS, OwnedFd)>,
    root: std::fs::File,
}

impl Container {
    /// Opens the namespaces `kinds` and the root of the init, `pid`, so
    /// that they are known to be the init's and not those of a process
    /// that got its pid after it died: a pidfd is taken first, then the
    /// start time checked (so the pidfd is the init's), then the
    /// `/proc/PID` files opened, then the pidfd asked whether the init
    /// still exists (not reaped: its pid was not reused while they were
    /// opened). Without pidfd_open (Linux < 5.3, or denied) the start time
    /// is checked again after the opening instead, which leaves only a
    /// pid reused within the same clock tick undetected. A dead init is
    /// [`Error::NotRunning`].
    fn pin_init(&self, pid: i32, kinds: &[NS]) -> Result<Pinned> {
        let alive = || self.status() != Status::Stopped;
        let pidfd = match crate::newer::pidfd().then(|| sys::pidfd_open(pid)) {
            None => None,
            Some(r) => match r {
                Ok(fd) => Some(fd),
                Err(nix::errno::Errno::ESRCH) => return Err(Error::NotRunning),
                Err(nix::errno::Errno::ENOSYS | nix::errno::Errno::EPERM) => None,
                Err(e) => {
                    return Err(Error::sys(
                        format!("pidfd_open the container's init (pid {pid})"),
                        e,
                    ))
                }
            },
        };
        if !alive() {
            return Err(Error::NotRunning);
        }
        stall_point("exec-pinned");
        let open = |what: &str| {
            let path = PathBuf::from(format!("/proc/{pid}/{what}"));
            std::fs::File::open(&path).map_err(|e| Error::io("open the container init's", path, e))
        };
        let opened = (|| -> Result<Pinned> {
            let mut join = Vec::new();
            for t in NS_ORDER {
                if kinds.contains(&t) {
                    join.push((t, open(&format!("ns/{}", namespaces::name(t)))?.into()));
                }
            }
            Ok(Pinned {
                join,
                root: open("root")?,
            })
        })();
        let same = pidfd
            .as_ref()
            .is_none_or(|fd| sys::pidfd_send_signal(fd.as_raw_fd(), 0).is_ok());
        if !same || !alive() {
            return Err(Error::NotRunning);
        }
        opened
    }
}

/// Debug builds: with `CORRAL_TEST_EXEC_STALL=<stage>:<dir>` in the
/// environment, exec stops at `<stage>` — `exec-loaded` (the container
/// seen running, nothing of its init opened yet) or `exec-pinned` (the
/// init's pidfd taken, its namespaces not yet opened) — creates
/// `<dir>/stalled` and waits, 30 s at most, for `<dir>/go`: the tests
/// kill the init there and give its pid to another process.
#[cfg(debug_assertions)]
fn stall_point(stage: &str) {
    let Some(v) = std::env::var_os("CORRAL_TEST_EXEC_STALL") else {
        return;
    };
    let v = v.to_string_lossy();
    let Some((at, dir)) = v.split_once(':') else {
        return;
    };
    if at != stage {
        return;
    }
    let dir = std::path::Path::new(dir);
    if std::fs::write(dir.join("stalled"), stage).is_err() {
        return;
    }
    let t = std::time::Instant::now();
    while !dir.join("go").exists() && t.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Release builds have no stall points.
#[cfg(not(debug_assertions))]
#[inline(always)]
fn stall_point(_stage: &str) {}

/// What the exec'd process takes from the container.
struct ChildContext<'a> {
    /// The init's namespaces to join, user first, opened by `pin_init`.
    join: &'a [(NS, OwnedFd)],
    /// The init's root directory.
    root: &'a std::fs::File,
    /// The console socket, for a terminal.
    console: Option<i32>,
    /// Whether a PID namespace is joined (one more fork).
    pidns_join: bool,
    /// The container's seccomp filter.
    seccomp: Option<&'a crate::seccomp::Prepared>,
    /// The container's `linux` section (personality, memory policy).
    linux: Option<&'a oci_spec::runtime::Linux>,
}

/// In the forked child: enter the container, then (after a second fork when
/// the PID namespace is joined) set up and exec the process.
fn exec_child(
    ch: &mut Channel,
    opts: &ExecOptions,
    cx: &ChildContext,
    cgroups: cgroups::Entry,
) -> Result<()> {
    let ChildContext {
        join,
        root,
        console,
        pidns_join,
        seccomp,
        linux,
    } = *cx;
    sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0).ctx(|| "set non-dumpable".to_string())?;
    let affinity = opts.process.exec_cpu_affinity().as_ref();
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
    let host_pid = init::recv_go(ch)?;
    if let Some(cpus) = affinity.and_then(|a| a.cpu_affinity_final().as_ref()) {
        // In the container's cgroup now (a cpuset move resets affinity).
        crate::procattr::apply_affinity("process.execCPUAffinity.final", cpus)?;
    }
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .ctx(|| "reset the signal mask".to_string())?;
    let p = &opts.process;
    if p.terminal().unwrap_or(false) {
        nix::unistd::setsid().ctx(|| "setsid".to_string())?;
        let slash: OwnedFd = std::fs::File::open("/")
            .map_err(|e| Error::io("open", "/", e))?
            .into();
        let (master, slave) = rootfs::open_pty(&slash)?;
        if opts.console_to_caller {
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
    let late_seccomp = init::enter_process_context(p, linux, seccomp, host_pid, "null")?;
    init::chdir_inside(p.cwd())?;
    let (exe_c, argv, envp) = init::exec_args(p)?;
    security::set_umask(p);
    sys::cloexec_all_from(3 + opts.preserve_fds).ctx(|| "mark fds close-on-exec".to_string())?;
    for fd in 3..3 + opts.preserve_fds {
        let _ = sys::clear_cloexec(fd as i32);
    }
    late_seccomp.load()?;
    let e = sys::execve(&exe_c, &argv, &envp);
    Err(Error::sys(format!("exec {exe_c:?}"), e))
}
