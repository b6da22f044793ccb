//! The parent side of `exec`: a new process in a running container — its
//! namespaces, its root, its cgroups, and the security context of the
//! given process spec.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType as NS, Process};

use crate::error::{Error, Result};
use crate::process::channel::{Channel, Msg};
use crate::process::exec_child::{exec_child, ChildContext};
use crate::process::{clone, pid_file};
use crate::{cgroups, namespaces, sys, tty};

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
    /// Sub-cgroups of the container's to place the process in
    /// (`exec --cgroup`; see [`cgroups::sub::parse`]): controller (`""`
    /// for all) → path below the container's cgroup.
    #[serde(default)]
    pub sub_cgroups: std::collections::BTreeMap<String, PathBuf>,
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
            sub_cgroups: Default::default(),
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

/// What [`run`] needs of the container it execs into.
pub(crate) struct Target<'a> {
    /// The init's host pid.
    pub init_pid: i32,
    /// The container's cgroups.
    pub cgroups: &'a cgroups::CgroupState,
    /// The config the container was created from.
    pub spec: &'a oci_spec::runtime::Spec,
    /// Seccomp flags of the config beyond oci-spec's (see `spec::Extras`).
    pub extra_seccomp_flags: u32,
    /// Whether the container is still alive (not stopped), read from the
    /// kernel each time.
    pub alive: &'a dyn Fn() -> bool,
}

/// The parent side of an exec, once the caller has checked the
/// container's status and the options (`Container::exec`): pins the
/// init's namespaces and root, clones the process into the container's
/// cgroups and returns once it has exec'd (or failed, with the reason).
/// The caller must be single-threaded and run from a sealed image.
pub(crate) fn run(t: &Target, opts: ExecOptions) -> Result<Exec> {
    super::preserved_fds::reserve(opts.preserve_fds)?;
    stall_point("exec-loaded");
    // Every namespace of the container and its root, opened now and
    // known to be the init's (see `pin_init`): the child joins these
    // fds, never a /proc path a reused pid could redirect.
    let spec = t.spec;
    let kinds: Vec<NS> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .iter()
        .map(|n| n.typ())
        .collect();
    let Pinned { join, root } = pin_init(t, &kinds)?;
    let terminal = opts.process.terminal().unwrap_or(false);
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
        Some(sc) => Some(crate::seccomp::Prepared::new(sc, t.extra_seccomp_flags)?),
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
    let mut entry = if opts.sub_cgroups.is_empty() {
        cgroups::manager(t.cgroups).entry()?
    } else {
        cgroups::Entry::open(&cgroups::sub::state(t.cgroups, &opts.sub_cgroups)?)?
    };
    if initial_affinity {
        entry.without_clone_into()?;
    }
    let first = match clone::into_cgroups(&mut entry, 0, "fork the exec process")? {
        sys::Forked::Child => {
            drop(parent);
            super::seal::release_mount_fd();
            let mut ch = child;
            let r = exec_child(
                &mut ch,
                &ChildContext {
                    process: &opts.process,
                    preserve_fds: opts.preserve_fds,
                    console_to_caller: opts.console_to_caller,
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
        if let Some(adj) = opts.process.oom_score_adj() {
            crate::security::set_oom_score_adj(pid, adj)?;
        }
        parent.send(&Msg::Go)?;
        parent.send(&Msg::Pid(pid))?;
        // The process sets itself up and execs now: the unmount of our
        // image's detached mount waits out its grace period meanwhile.
        super::seal::release_mount_fd();
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
        pid_file::write_pid_file(pf, pid)?;
    }
    Ok(Exec { pid, console })
}

/// The container init's namespaces (in [`NS_ORDER`]) and root directory.
struct Pinned {
    join: Vec<(NS, OwnedFd)>,
    root: std::fs::File,
}

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
fn pin_init(t: &Target, kinds: &[NS]) -> Result<Pinned> {
    let pid = t.init_pid;
    let alive = t.alive;
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
