//! `Container`, its state and its lifecycle: create, start, kill, delete.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, SysContext};
use crate::faults;
use crate::process::create::{self, CreateOptions};
use crate::process::helper::client as helper;
use crate::store::{self, StateDir, StoredState};
use crate::{cgroups, hooks};

pub use crate::store::OCI_VERSION;

/// A container's status, as the OCI state reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created.
    Creating,
    /// Created, waiting for start.
    Created,
    /// The user's process runs.
    Running,
    /// Frozen.
    Paused,
    /// The process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The OCI state plus runc's extra fields (rootfs, created, owner), in
/// runc's field order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Runtime-spec version of this document.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init (0 once stopped).
    pub pid: i32,
    /// Status.
    pub status: Status,
    /// Bundle path.
    pub bundle: PathBuf,
    /// Rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Creator's user name.
    pub owner: String,
    /// Annotations of the config.
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

/// Builds and creates a container. Stdio defaults to the caller's 0, 1, 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerBuilder {
    #[serde(flatten)]
    o: CreateOptions,
    #[serde(skip)]
    helper: Option<PathBuf>,
}

impl ContainerBuilder {
    /// A container `id` whose state lives under `root`, from bundle `.`.
    pub fn new(id: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        ContainerBuilder {
            o: CreateOptions {
                id: id.into(),
                root: root.into(),
                bundle: PathBuf::from("."),
                pid_file: None,
                console_socket: None,
                no_pivot: false,
                no_new_keyring: false,
                preserve_fds: 0,
                stdio: None,
                console_to_caller: false,
                systemd_cgroup: false,
            },
            helper: None,
        }
    }
    /// The bundle directory.
    pub fn bundle(mut self, p: impl Into<PathBuf>) -> Self {
        self.o.bundle = p.into();
        self
    }
    /// Writes the init's pid here once created.
    pub fn pid_file(mut self, p: Option<PathBuf>) -> Self {
        self.o.pid_file = p;
        self
    }
    /// Sends the pty master to this socket (`process.terminal`).
    pub fn console_socket(mut self, p: Option<PathBuf>) -> Self {
        self.o.console_socket = p;
        self
    }
    /// Uses MS_MOVE and chroot instead of pivot_root.
    pub fn no_pivot(mut self, v: bool) -> Self {
        self.o.no_pivot = v;
        self
    }
    /// Keeps the caller's session keyring.
    pub fn no_new_keyring(mut self, v: bool) -> Self {
        self.o.no_new_keyring = v;
        self
    }
    /// Passes fds 3..3+n to the container process.
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.o.preserve_fds = n;
        self
    }
    /// Stdin, stdout and stderr of the container process.
    pub fn stdio(mut self, fds: [RawFd; 3]) -> Self {
        self.o.stdio = Some(fds);
        self
    }
    /// Places the container's cgroups with the systemd cgroup driver (a
    /// transient scope per container, `linux.cgroupsPath` in systemd's
    /// `slice:prefix:name` form), as `runc --systemd-cgroup`.
    pub fn systemd_cgroup(mut self, v: bool) -> Self {
        self.o.systemd_cgroup = v;
        self
    }
    /// The helper binary a multi-threaded caller clones through (it must
    /// call [`crate::helper::run_if_helper`] first thing in `main`). Default: the
    /// caller's own executable.
    pub fn helper(mut self, p: impl Into<PathBuf>) -> Self {
        self.helper = Some(p.into());
        self
    }

    /// Creates the container: on return its init waits for `start`. On
    /// error nothing is left behind: no state dir, cgroup or process.
    pub fn create(self) -> Result<Container> {
        store::validate_id(&self.o.id)?;
        if helper::is_multithreaded() {
            let helper = self
                .helper
                .clone()
                .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
            helper::create(&helper, &self.o)?;
            return Container::load(&self.o.root, &self.o.id);
        }
        self.create_here().map(|(c, _)| c)
    }

    /// Creates the container and, when its process has a terminal and no
    /// console socket was given, hands the pty master to the caller (as
    /// `runc run` does for a foreground container). The caller must be
    /// single-threaded.
    pub fn create_with_console(mut self) -> Result<(Container, Option<OwnedFd>)> {
        store::validate_id(&self.o.id)?;
        if helper::is_multithreaded() {
            return Err(Error::Other(
                "create_with_console needs a single-threaded caller".into(),
            ));
        }
        self.o.console_to_caller = self.o.console_socket.is_none();
        self.create_here()
    }

    /// Creates in this (single-threaded) process (`process::create`).
    fn create_here(&self) -> Result<(Container, Option<OwnedFd>)> {
        let c = create::create(&self.o)?;
        Ok((
            Container {
                dir: c.dir,
                st: c.st,
                interrupted: false,
                warnings: c.warnings,
            },
            c.console,
        ))
    }
}

/// `old` with every resource section `new` sets replaced.
fn merge_resources(
    mut old: oci_spec::runtime::LinuxResources,
    new: &oci_spec::runtime::LinuxResources,
) -> oci_spec::runtime::LinuxResources {
    if new.devices().is_some() {
        old.set_devices(new.devices().clone());
    }
    if new.memory().is_some() {
        old.set_memory(*new.memory());
    }
    if new.cpu().is_some() {
        old.set_cpu(new.cpu().clone());
    }
    if new.pids().is_some() {
        old.set_pids(*new.pids());
    }
    if new.block_io().is_some() {
        old.set_block_io(new.block_io().clone());
    }
    if new.hugepage_limits().is_some() {
        old.set_hugepage_limits(new.hugepage_limits().clone());
    }
    if new.network().is_some() {
        old.set_network(new.network().clone());
    }
    if new.unified().is_some() {
        old.set_unified(new.unified().clone());
    }
    old
}

/// A created container.
#[derive(Debug, Clone)]
pub struct Container {
    dir: StateDir,
    st: StoredState,
    /// A creation whose creator died (see [`Container::load`]).
    interrupted: bool,
    /// What the create accepted from the config without applying it (not
    /// kept with the state: only the creator reports them).
    warnings: Vec<String>,
}

/// Warnings from a delete that succeeded (a failing poststop hook).
#[derive(Debug, Default)]
pub struct DeleteReport {
    /// One line per warning.
    pub warnings: Vec<String>,
}

impl Container {
    /// The warnings of the create that made this value: fields of the
    /// config corral accepted without applying them (an unknown capability
    /// name, kernel memory limits), one line each, for the caller to log as
    /// runc does. Empty for a container [`load`](Self::load)ed later.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Loads container `id` from `root`.
    ///
    /// A record that still says "creating" while nobody holds the
    /// container's lock is a creation whose `create` was killed: its init,
    /// if one is left waiting for start, is killed here (nobody else ever
    /// will), and the container is stopped; `delete` removes the rest.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let dir = StateDir::open(root, id)?;
        let st = dir.load()?;
        let mut c = Container {
            dir,
            st,
            interrupted: false,
            warnings: Vec::new(),
        };
        if c.st.creating {
            if let Some(_lock) = c.dir.try_lock()? {
                // Re-read under the lock: the creation may just have ended.
                c.st = c.dir.load()?;
                if c.st.creating {
                    c.interrupted = true;
                    let _ = c.signal(libc::SIGKILL, false);
                    let _ = c.wait_gone(Duration::from_secs(5));
                }
            }
        }
        Ok(c)
    }

    /// Every container under `root`.
    pub fn list(root: &Path) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for id in store::list_ids(root)? {
            if let Ok(c) = Container::load(root, &id) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Whether this is a creation whose `create` was killed (see
    /// [`Container::load`]).
    pub fn creation_interrupted(&self) -> bool {
        self.interrupted
    }

    /// Publishes the container's network namespace as
    /// /var/run/netns/ID for `ip netns` (see [`crate::netns`]); removed at
    /// delete.
    pub fn publish_netns(&self) -> Result<PathBuf> {
        match self.status() {
            Status::Created | Status::Running | Status::Paused => {
                crate::netns::publish(self.root(), &self.st.id, self.st.pid)
            }
            Status::Creating => {
                Err(self.bad_state(Status::Creating, "container is still being created"))
            }
            Status::Stopped => Err(Error::NotRunning),
        }
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.st.id
    }

    /// The init's host pid, while it lives.
    pub fn pid(&self) -> Option<i32> {
        (self.status() != Status::Stopped).then_some(self.st.pid)
    }

    /// The container's cgroups.
    pub fn cgroups(&self) -> &cgroups::CgroupState {
        &self.st.cgroup
    }

    /// The back end of the container's cgroups (v1 or v2, as its record
    /// says): listing, signalling, reading what they hold.
    pub fn cgroup_manager(&self) -> Box<dyn cgroups::Manager + '_> {
        cgroups::manager(&self.st.cgroup)
    }

    /// The state root this container lives under.
    pub fn root(&self) -> &Path {
        self.dir.path.parent().unwrap_or(Path::new("/"))
    }

    /// The config the container was created from.
    pub fn spec(&self) -> &Spec {
        &self.st.config
    }

    /// Seccomp flags of the config beyond oci-spec's (see `spec::Extras`).
    pub(crate) fn extra_seccomp_flags(&self) -> u32 {
        self.st.extra_seccomp_flags
    }

    /// The current status, read from the kernel.
    pub fn status(&self) -> Status {
        if self.st.creating {
            return if self.interrupted {
                Status::Stopped
            } else {
                Status::Creating
            };
        }
        if !store::same_process_alive(self.st.pid, self.st.pid_start) {
            Status::Stopped
        } else if self.cgroup_manager().is_frozen() {
            Status::Paused
        } else if !self.st.started && self.dir.fifo().exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The OCI state (with runc's rootfs, created and owner).
    pub fn state(&self) -> State {
        let status = self.status();
        State {
            oci_version: OCI_VERSION.to_string(),
            id: self.st.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.st.pid
            },
            status,
            bundle: self.st.bundle.clone(),
            rootfs: self.st.rootfs.clone(),
            created: self.st.created.clone(),
            owner: self.st.owner.clone(),
            annotations: self.st.annotations.clone(),
        }
    }

    fn bad_state(&self, status: Status, msg: &str) -> Error {
        Error::BadState {
            id: self.st.id.clone(),
            status: status.to_string(),
            msg: msg.to_string(),
        }
    }

    /// Starts the user's process of a created container, then runs the
    /// poststart hooks; a failing poststart hook kills the container and
    /// fails the start.
    pub fn start(&mut self) -> Result<()> {
        let _lock = self.dir.lock()?;
        self.st = self.dir.load()?;
        match self.status() {
            Status::Created => {}
            Status::Stopped => {
                return Err(
                    self.bad_state(Status::Stopped, "cannot start a container that has stopped")
                )
            }
            Status::Creating => {
                return Err(self.bad_state(Status::Creating, "container is still being created"))
            }
            s => return Err(self.bad_state(s, "cannot start an already running container")),
        }
        let fifo = self.dir.fifo();
        let f = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ctx(|| format!("open {fifo:?}"))?;
        let got = wait_fifo_byte(&f, self.st.pid, self.st.pid_start);
        let _ = std::fs::remove_file(&fifo);
        match got {
            Ok(true) => {}
            Ok(false) => return Err(Error::Init("the container init exited before start".into())),
            Err(e) => {
                // The init reported an error and is exiting: report it once
                // it is gone, so that the state says stopped.
                let _ = self.wait_gone(Duration::from_secs(5));
                return Err(e);
            }
        }
        self.st.started = true;
        self.dir.save(&self.st)?;
        let json = self.st.hook_state_json("running", self.st.pid);
        if let Err(e) = hooks::run(self.st.config.hooks(), "poststart", &json) {
            let _ = self.signal(libc::SIGKILL, true);
            return Err(e);
        }
        Ok(())
    }

    /// Freezes every process of a created or running container.
    pub fn pause(&self) -> Result<()> {
        let _lock = self.dir.lock()?;
        match self.status() {
            Status::Created | Status::Running => self.cgroup_manager().freeze(true),
            Status::Paused => Err(self.bad_state(Status::Paused, "container is already paused")),
            _ => Err(Error::NotRunning),
        }
    }

    /// Thaws a paused container.
    pub fn resume(&self) -> Result<()> {
        let _lock = self.dir.lock()?;
        match self.status() {
            Status::Paused => self.cgroup_manager().freeze(false),
            s => Err(self.bad_state(s, "container not paused")),
        }
    }

    /// The container's resource usage from its cgroups.
    pub fn stats(&self) -> Result<cgroups::Stats> {
        match self.status() {
            Status::Stopped => Err(Error::NotRunning),
            _ => Ok(self.cgroup_manager().stats()),
        }
    }

    /// Changes the resources of a live container. The fields given replace
    /// the stored ones; the rest stay as they are.
    pub fn update(&mut self, res: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let _lock = self.dir.lock()?;
        self.st = self.dir.load()?;
        match self.status() {
            Status::Stopped => return Err(Error::NotRunning),
            Status::Creating => {
                return Err(self.bad_state(Status::Creating, "container is still being created"))
            }
            _ => {}
        }
        cgroups::check_supported_resources(res)?;
        self.cgroup_manager().apply_resources(Some(res), true)?;
        let mut linux = self.st.config.linux().clone().unwrap_or_default();
        let merged = merge_resources(linux.resources().clone().unwrap_or_default(), res);
        linux.set_resources(Some(merged));
        self.st.config.set_linux(Some(linux));
        self.dir.save(&self.st)
    }

    /// Sends `sig` to the init, or with `all` to every process of the
    /// container's cgroup.
    pub fn kill(&self, sig: i32, all: bool) -> Result<()> {
        // Without a PID namespace of its own the init's death kills nobody
        // else: SIGKILL goes to every process of the container, as runc
        // does (its `--all` semantics).
        let all = all || (sig == libc::SIGKILL && !self.has_pid_namespace());
        match self.status() {
            Status::Stopped => Err(Error::NotRunning),
            _ => self.signal(sig, all),
        }
    }

    /// Whether the config gives the container a PID namespace (new or
    /// joined by path) rather than the runtime's.
    fn has_pid_namespace(&self) -> bool {
        self.spec()
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|v| {
                v.iter()
                    .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid)
            })
    }

    fn signal(&self, sig: i32, all: bool) -> Result<()> {
        if all {
            return self.cgroup_manager().signal_all(sig);
        }
        // A pidfd pins the process, or (without one) the start time is
        // checked again right before the signal (process::pidref).
        let init = crate::process::pidref::PidRef::open(self.st.pid, Some(self.st.pid_start))
            .map_err(|_| Error::NotRunning)?;
        match init.signal(sig) {
            Err(nix::errno::Errno::ESRCH) => Err(Error::NotRunning),
            r => r.ctx(|| format!("send signal {sig} to {}", self.st.pid)),
        }
    }

    /// Deletes the container: a created one is killed; a running or paused
    /// one only with `force`. Removes its cgroups and state, then runs the
    /// poststop hooks, whose failures come back as warnings.
    pub fn delete(mut self, force: bool) -> Result<DeleteReport> {
        let _lock = self.dir.lock()?;
        // What another command did while we waited for the lock counts.
        self.st = self.dir.load()?;
        if self.st.creating {
            // We hold the lock, so its creator is gone.
            self.interrupted = true;
            let _ = self.signal(libc::SIGKILL, false);
        }
        let status = self.status();
        match status {
            Status::Stopped | Status::Created => {}
            s if !force => {
                return Err(Error::BadState {
                    id: self.st.id.clone(),
                    status: s.to_string(),
                    msg: format!(
                        "cannot delete container {} that is not stopped: {s}",
                        self.st.id
                    ),
                })
            }
            _ => {}
        }
        if status != Status::Stopped {
            let _ = self.signal(libc::SIGKILL, false);
            let _ = self.cgroup_manager().signal_all(libc::SIGKILL);
            self.wait_gone(Duration::from_secs(10))?;
        }
        // Any process left in the cgroup (the init's children) goes too.
        for _ in 0..100 {
            if self.cgroup_manager().pids()?.is_empty() {
                break;
            }
            self.cgroup_manager().signal_all(libc::SIGKILL)?;
            std::thread::sleep(Duration::from_millis(10));
        }
        self.cgroup_manager().remove()?;
        // The record goes before the published netns: a delete killed in
        // between leaves an entry without a container, which the next
        // corral command sweeps (netns::sweep).
        self.dir.remove()?;
        faults::crash_point("delete-netns");
        crate::netns::unpublish(self.root(), &self.st.id)?;
        let mut report = DeleteReport::default();
        let json = self.st.hook_state_json("stopped", 0);
        for (i, h) in hooks::list(self.st.config.hooks(), "poststop")
            .into_iter()
            .enumerate()
        {
            if let Err(e) = hooks::run_one("poststop", i, h, &json) {
                report.warnings.push(e.to_string());
            }
        }
        Ok(report)
    }

    fn wait_gone(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while store::same_process_alive(self.st.pid, self.st.pid_start) {
            // Our own child (run, tests): reap it so it stops being a zombie.
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(self.st.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            if Instant::now() > deadline {
                return Err(Error::Other(format!(
                    "container init {} did not die after SIGKILL",
                    self.st.pid
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

/// Waits for the init to write its byte to the exec fifo, then for the
/// fifo's EOF, which comes when the init execs (the fifo is close-on-exec)
/// or dies. Returns `Ok(false)` if the init died before writing; an error
/// the init wrote after its byte (a failing startContainer hook, a failed
/// exec) comes back as [`Error::Init`].
fn wait_fifo_byte(f: &OwnedFd, pid: i32, start: u64) -> Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut got = Vec::new();
    loop {
        let mut b = [0u8; 4096];
        match nix::unistd::read(f, &mut b) {
            Ok(0) => {
                // No writer: before the init opened the fifo, or after it
                // exec'd or died.
                if !got.is_empty() {
                    break;
                }
                if !store::same_process_alive(pid, start) {
                    return Ok(false);
                }
            }
            Ok(n) => {
                got.extend_from_slice(&b[..n]);
                continue;
            }
            Err(nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(Error::sys("read exec fifo", e)),
        }
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u16));
        if got.is_empty()
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP))
        {
            // POLLHUP without a writer ever: do not spin.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    match got.split_first() {
        Some((b'0', [])) => Ok(true),
        Some((b'0', rest)) => Err(Error::Init(
            String::from_utf8_lossy(rest.strip_prefix(b"E").unwrap_or(rest)).into_owned(),
        )),
        _ => Err(Error::Other(format!(
            "unexpected exec fifo content {got:?}"
        ))),
    }
}
