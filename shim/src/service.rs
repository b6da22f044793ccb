//! The Task service: containerd's requests on libcontainer containers.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use containerd_shim_protos::api;
use containerd_shim_protos::protobuf::well_known_types::empty::Empty;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::{EnumOrUnknown, MessageField};
use containerd_shim_protos::Task;
use libcontainer::{Container, ContainerBuilder, Status};
use ttrpc::{Code, TtrpcContext};

use crate::events::{now, Event, Publisher};

/// What the shim knows of one process: a task's init (exec id "") or a
/// process exec'd into it.
struct Proc {
    bundle: PathBuf,
    pid: u32,
    stdin: String,
    stdout: String,
    stderr: String,
    terminal: bool,
    exit: Option<(u32, Timestamp)>,
    /// The pty master, for ResizePty (terminal tasks).
    console: Option<Arc<File>>,
    /// Whether the shim mounted the rootfs (and unmounts it at delete).
    mounted: bool,
    /// An exec'd process's spec (until it starts: pid 0).
    spec: Option<oci_spec::runtime::Process>,
}

/// (container id, exec id) of a process; "" is the init.
type Key = (String, String);

fn key(id: &str, exec_id: &str) -> Key {
    (id.to_string(), exec_id.to_string())
}

/// The Task service.
pub struct Service {
    root: PathBuf,
    /// The shim's socket, removed when it shuts down.
    socket: PathBuf,
    publisher: Publisher,
    tasks: Mutex<HashMap<Key, Proc>>,
    exited: Condvar,
    /// OOM kills already reported, per container.
    oom_seen: Mutex<HashMap<String, u64>>,
    /// Creates and execs in progress: their new pids are not yet tracked,
    /// so the orphan sweep waits.
    busy: std::sync::atomic::AtomicUsize,
    /// Container id and namespace, for logging binaries.
    namespace: String,
}

/// Counts a create or exec in progress while alive.
struct Busy<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Busy<'a> {
    fn new(n: &'a std::sync::atomic::AtomicUsize) -> Busy<'a> {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Busy(n)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn err(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}

fn not_found(k: &Key) -> ttrpc::Error {
    if k.1.is_empty() {
        err(Code::NOT_FOUND, format!("task {} not found", k.0))
    } else {
        err(
            Code::NOT_FOUND,
            format!("exec {} of task {} not found", k.1, k.0),
        )
    }
}

/// The runtime options' `SystemdCgroup` (containerd's runc options,
/// `containerd.runc.v1.Options`, which the CRI's `SystemdCgroup = true`
/// and `ctr --runc-systemd-cgroup` set): the systemd cgroup driver.
/// Options of another type are not ours to read.
fn systemd_cgroup(
    options: &MessageField<containerd_shim_protos::protobuf::well_known_types::any::Any>,
) -> Result<bool, String> {
    use containerd_shim_protos::protobuf::Message;
    let Some(any) = options.as_ref() else {
        return Ok(false);
    };
    if !any.type_url.ends_with("containerd.runc.v1.Options") {
        return Ok(false);
    }
    containerd_shim_protos::shim::oci::Options::parse_from_bytes(&any.value)
        .map(|o| o.systemd_cgroup)
        .map_err(|e| format!("options ({}): {e}", any.type_url))
}

/// Whether the bundle's `linux.cgroupsPath` is in systemd's
/// `SLICE.slice:prefix:name` form. containerd's CRI writes that form when
/// the pod's cgroup parent is a slice (the kubelet's systemd driver), but
/// passes `SystemdCgroup` only in the runc shim's own options type; for
/// any other shim the form is the only sign, and a cgroupfs path never
/// has it (no `/`, a `.slice` first part).
fn systemd_cgroups_path(bundle: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(bundle.join("config.json")) else {
        return false;
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["linux"]["cgroupsPath"]
        .as_str()
        .is_some_and(is_systemd_form)
}

fn is_systemd_form(p: &str) -> bool {
    let parts: Vec<&str> = p.split(':').collect();
    parts.len() == 3 && parts[0].ends_with(".slice") && !p.contains('/')
}

fn lib_err(e: libcontainer::Error) -> ttrpc::Error {
    use libcontainer::Error as E;
    match e {
        E::NotExist(_) => err(Code::NOT_FOUND, e.to_string()),
        E::NotRunning => err(Code::NOT_FOUND, "process already finished"),
        E::Exists(_) => err(Code::ALREADY_EXISTS, e.to_string()),
        E::Spec { .. } | E::InvalidId(_) => err(Code::INVALID_ARGUMENT, e.to_string()),
        E::Unsupported { .. } => err(Code::FAILED_PRECONDITION, e.to_string()),
        E::BadState { .. } => err(Code::FAILED_PRECONDITION, e.to_string()),
        _ => err(Code::UNKNOWN, e.to_string()),
    }
}

/// Opens one of containerd's stdio targets for a container process: a fifo
/// path (opened O_RDWR so the open never blocks on the other end; the shim
/// closes its copy once the process has it), `file://PATH` (appended to,
/// created 0640), or nothing (/dev/null). `binary://` is set up by
/// [`LogBinary`].
fn open_stdio(path: &str, write: bool) -> std::io::Result<File> {
    if path.is_empty() {
        return OpenOptions::new()
            .read(!write)
            .write(write)
            .open("/dev/null");
    }
    if let Some(p) = path.strip_prefix("file://") {
        if !write {
            return Err(std::io::Error::other("file:// is for stdout and stderr"));
        }
        if let Some(dir) = Path::new(p).parent() {
            std::fs::create_dir_all(dir)?;
        }
        return OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(p);
    }
    if path.contains("://") {
        return Err(std::io::Error::other(format!(
            "unsupported stdio URI {path:?}"
        )));
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// containerd's `binary://` logging: the binary reads the process's stdout
/// on fd 3 and stderr on fd 4, and closes fd 5 once it is ready; it gets
/// CONTAINER_ID and CONTAINER_NAMESPACE, and the URI's query as arguments.
struct LogBinary {
    stdout: File,
    stderr: File,
}

impl LogBinary {
    fn start(uri: &str, id: &str, ns: &str) -> std::io::Result<LogBinary> {
        let rest = uri.trim_start_matches("binary://");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let mut cmd = std::process::Command::new(path);
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            cmd.arg(k);
            if !v.is_empty() {
                cmd.arg(v);
            }
        }
        cmd.env("CONTAINER_ID", id)
            .env("CONTAINER_NAMESPACE", ns)
            .stdin(std::process::Stdio::null());
        let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
        // SAFETY: between fork and exec only dup2 (async-signal-safe) on fds
        // this process owns; the spawn happens in a helper-free path that
        // execs at once.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                for (i, fd) in fds.iter().enumerate() {
                    if libc::dup2(*fd, 3 + i as i32) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        cmd.spawn()?;
        drop((out_r, err_r, ready_w));
        // Wait for the binary to say it is ready (it closes fd 5).
        let mut ready = File::from(ready_r);
        let mut b = [0u8; 1];
        let _ = std::io::Read::read(&mut ready, &mut b);
        Ok(LogBinary {
            stdout: File::from(out_w),
            stderr: File::from(err_w),
        })
    }
}

/// The process's stdout and stderr for containerd's targets.
fn output_targets(stdout: &str, stderr: &str, id: &str, ns: &str) -> std::io::Result<(File, File)> {
    if stdout.starts_with("binary://") {
        let b = LogBinary::start(stdout, id, ns)?;
        return Ok((b.stdout, b.stderr));
    }
    Ok((open_stdio(stdout, true)?, open_stdio(stderr, true)?))
}

/// Where the shim makes the private directories of its console sockets: a
/// directory of root's in /run, not the world-writable /tmp (where
/// `/tmp/corral-shim-PID-N.sock` could be made in advance by anyone).
const CONSOLE_BASE: &str = "/run/corral-shim";

/// A directory only its owner can enter (0700), made by `mkdir` under a
/// name nothing had (mkdir neither follows nor reuses an existing path,
/// symlinks included), removed with what it holds when dropped.
#[derive(Debug)]
struct PrivateDir(PathBuf);

impl PrivateDir {
    /// Makes `base` if it is missing (0700) and checks it: a directory, not
    /// a symlink, of this effective user, writable by no one else. Then
    /// makes the new directory in it, under the first of `names` that does
    /// not exist yet.
    fn new_in(base: &Path, names: impl IntoIterator<Item = String>) -> std::io::Result<PrivateDir> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let refuse = |why: String| {
            std::io::Error::other(format!(
                "console socket directory {}: {why}",
                base.display()
            ))
        };
        match std::fs::DirBuilder::new().mode(0o700).create(base) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(refuse(format!("mkdir: {e}"))),
        }
        let m = std::fs::symlink_metadata(base).map_err(|e| refuse(format!("lstat: {e}")))?;
        let me = nix::unistd::geteuid().as_raw();
        if !m.file_type().is_dir() {
            return Err(refuse(
                "not a directory (a symlink or a file): refused".into(),
            ));
        }
        if m.uid() != me {
            return Err(refuse(format!(
                "owned by uid {}, not {me}: refused",
                m.uid()
            )));
        }
        if m.mode() & 0o022 != 0 {
            return Err(refuse(format!(
                "mode {:o} lets others write in it: refused",
                m.mode() & 0o7777
            )));
        }
        let mut last = None;
        for name in names {
            let dir = base.join(&name);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let d = PrivateDir(dir);
                    // Exactly 0700 whatever the umask; the directory is in
                    // a base nobody else can write, so it is still ours.
                    std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o700))?;
                    return Ok(d);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(dir),
                Err(e) => return Err(refuse(format!("mkdir {name}: {e}"))),
            }
        }
        Err(refuse(format!("every name was taken (last {last:?})")))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // remove_dir_all does not follow symlinks inside.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Names for a console socket's directory: the shim's pid, a counter and
/// the clock, so that a name is not known in advance (and a taken one is
/// skipped).
fn console_dir_names() -> impl Iterator<Item = String> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    (0..64).map(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!(
            "{}-{}-{nanos:08x}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        )
    })
}

/// Removes the console directories of shims that are gone (killed while a
/// socket was open): names `PID-…` whose pid is no running process. A
/// live shim's directory is never touched.
fn sweep_stale(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A unix socket a container process sends its pty master to, in a
/// [`PrivateDir`] of its own; the directory goes when the socket is done
/// ([`ConsoleSocket::finish`]) or dropped.
#[derive(Debug)]
struct ConsoleSocket {
    path: PathBuf,
    accept: std::thread::JoinHandle<std::io::Result<OwnedFd>>,
    dir: PrivateDir,
}

impl ConsoleSocket {
    fn new() -> std::io::Result<ConsoleSocket> {
        ConsoleSocket::new_in(Path::new(CONSOLE_BASE), console_dir_names())
    }

    /// A console socket in a new private directory under `base`.
    fn new_in(
        base: &Path,
        names: impl IntoIterator<Item = String>,
    ) -> std::io::Result<ConsoleSocket> {
        let dir = PrivateDir::new_in(base, names)?;
        sweep_stale(base);
        let path = dir.0.join("console.sock");
        let listener = UnixListener::bind(&path)?;
        let accept = std::thread::spawn(move || -> std::io::Result<OwnedFd> {
            let (conn, _) = listener.accept()?;
            libcontainer::tty::recv_fd(conn.as_raw_fd())
                .map(|(fd, _)| fd)
                .map_err(|e| std::io::Error::other(e.to_string()))
        });
        Ok(ConsoleSocket { path, accept, dir })
    }

    /// The master, once the process sent it; `sent` false: unblock the
    /// accept and return an error. The socket's directory is removed.
    fn finish(self, sent: bool) -> std::io::Result<File> {
        if !sent {
            let _ = std::os::unix::net::UnixStream::connect(&self.path);
        }
        drop(self.dir);
        let fd = self
            .accept
            .join()
            .map_err(|_| std::io::Error::other("console thread"))??;
        Ok(File::from(fd))
    }
}

/// Relays a pty: master → the stdout fifo, the stdin fifo → master.
fn relay(master: File, stdin: &str, stdout: &str) -> std::io::Result<Arc<File>> {
    let out = open_stdio(stdout, true)?;
    pump(master.try_clone()?, out);
    if !stdin.is_empty() {
        let input = open_stdio(stdin, false)?;
        pump(input, master.try_clone()?);
    }
    Ok(Arc::new(master))
}

/// Copies `from` to `to` until EOF or an error, on its own thread.
fn pump(mut from: File, mut to: File) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
    });
}

impl Service {
    /// A service keeping container state under `root`.
    pub fn new(root: PathBuf, socket: PathBuf, namespace: String, publisher: Publisher) -> Service {
        Service {
            busy: std::sync::atomic::AtomicUsize::new(0),
            namespace,
            root,
            socket,
            publisher,
            tasks: Mutex::new(HashMap::new()),
            exited: Condvar::new(),
            oom_seen: Mutex::new(HashMap::new()),
        }
    }

    fn load(&self, id: &str) -> ttrpc::Result<Container> {
        Container::load(&self.root, id).map_err(lib_err)
    }

    /// Reaps `pid` when it exits, records the exit and tells containerd.
    fn watch(self: &Arc<Self>, k: Key, pid: u32) {
        let me = self.clone();
        std::thread::spawn(move || {
            let status = libcontainer::run::wait_exit(pid as i32).unwrap_or(255) as u32;
            let at = now();
            if k.1.is_empty() {
                // An OOM kill of the init is told before its exit.
                me.check_oom(&k.0);
            }
            {
                let mut tasks = me.tasks.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(t) = tasks.get_mut(&k) {
                    t.exit = Some((status, at.clone()));
                }
            }
            me.exited.notify_all();
            me.publisher
                .publish(Event::exit(&k.0, &k.1, pid, status, at));
        });
    }

    fn wait_exit(&self, k: &Key, limit: Option<Duration>) -> ttrpc::Result<(u32, Timestamp)> {
        let deadline = limit.map(|d| std::time::Instant::now() + d);
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match tasks.get(k) {
                None => return Err(not_found(k)),
                Some(Proc { exit: Some(e), .. }) => return Ok(e.clone()),
                Some(_) => {}
            }
            tasks = match deadline {
                None => self.exited.wait(tasks).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(err(Code::DEADLINE_EXCEEDED, "no exit yet"));
                    }
                    self.exited
                        .wait_timeout(tasks, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// Creates the task; called through the trait with an `Arc` to self.
    pub fn create_task(self: &Arc<Self>, req: &api::CreateTaskRequest) -> ttrpc::Result<u32> {
        let _busy = Busy::new(&self.busy);
        if !req.checkpoint.is_empty() {
            return Err(err(
                Code::UNIMPLEMENTED,
                "checkpoint/restore is not implemented",
            ));
        }
        let bundle = PathBuf::from(&req.bundle);
        let rootfs = bundle.join("rootfs");
        let mut mounted = false;
        for m in &req.rootfs {
            std::fs::create_dir_all(&rootfs)
                .map_err(|e| err(Code::INTERNAL, format!("mkdir {rootfs:?}: {e}")))?;
            if let Err(e) =
                libcontainer::rootfs::mount_rootfs_entry(&m.type_, &m.source, &m.options, &rootfs)
            {
                let _ = libcontainer::rootfs::unmount_all(&rootfs);
                return Err(lib_err(e));
            }
            mounted = true;
        }
        libcontainer::faults::crash_point("shim-rootfs");
        let result = self.create_container(req, &bundle);
        libcontainer::faults::crash_point("shim-created");
        let (pid, console) = match result {
            Ok(r) => r,
            Err(e) => {
                if mounted {
                    let _ = libcontainer::rootfs::unmount_all(&rootfs);
                }
                return Err(e);
            }
        };
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).insert(
            key(&req.id, ""),
            Proc {
                bundle: bundle.clone(),
                pid,
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                exit: None,
                console,
                mounted,
                spec: None,
            },
        );
        self.watch(key(&req.id, ""), pid);
        self.watch_oom(&req.id);
        self.publisher
            .publish(Event::create(&req.id, &req.bundle, pid));
        Ok(pid)
    }

    fn create_container(
        &self,
        req: &api::CreateTaskRequest,
        bundle: &Path,
    ) -> ttrpc::Result<(u32, Option<Arc<File>>)> {
        let io = |e: std::io::Error| err(Code::INTERNAL, format!("stdio: {e}"));
        let builder = ContainerBuilder::new(&req.id, &self.root)
            .bundle(bundle)
            .systemd_cgroup(
                systemd_cgroup(&req.options).map_err(|e| err(Code::INVALID_ARGUMENT, e))?
                    || systemd_cgroups_path(bundle),
            );
        if !req.terminal {
            let stdin = open_stdio(&req.stdin, false).map_err(io)?;
            let (stdout, stderr) =
                output_targets(&req.stdout, &req.stderr, &req.id, &self.namespace).map_err(io)?;
            let c = builder
                .stdio([stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()])
                .create()
                .map_err(lib_err)?;
            return Ok((c.pid().unwrap_or(0) as u32, None));
        }
        // A terminal: the init sends the pty master to a console socket.
        let console = ConsoleSocket::new().map_err(io)?;
        let created = builder.console_socket(Some(console.path.clone())).create();
        let master = console.finish(created.is_ok()).map_err(io);
        let c = created.map_err(lib_err)?;
        let master = relay(master?, &req.stdin, &req.stdout).map_err(io)?;
        Ok((c.pid().unwrap_or(0) as u32, Some(master)))
    }

    /// Every second, reaps zombie children that are not a tracked process
    /// (orphans of the containers, reparented to the shim as subreaper).
    pub fn sweep_orphans(self: &Arc<Self>) {
        let me = self.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            if me.busy.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                continue;
            }
            let keep: std::collections::HashSet<i32> = me
                .tasks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .map(|p| p.pid as i32)
                .collect();
            if me.busy.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                libcontainer::run::reap_orphans(&keep);
            }
        });
    }

    /// Tells containerd of OOM kills in container `id` not yet told.
    fn check_oom(&self, id: &str) {
        let Ok(c) = Container::load(&self.root, id) else {
            return;
        };
        // Read from the cgroup itself: it outlives the init until delete.
        let kills = c.cgroup_manager().stats().memory.oom_kills;
        let mut seen = self.oom_seen.lock().unwrap_or_else(|p| p.into_inner());
        let last = seen.entry(id.to_string()).or_insert(0);
        if kills > *last {
            *last = kills;
            self.publisher.publish(Event::oom(id));
        }
    }

    /// Polls the container's OOM kill count while its init lives (a kill
    /// of another process in it is told within half a second).
    fn watch_oom(self: &Arc<Self>, id: &str) {
        let me = self.clone();
        let id = id.to_string();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let alive = me
                .tasks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key(&id, ""))
                .is_some_and(|t| t.exit.is_none());
            if !alive {
                me.oom_seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                return;
            }
            me.check_oom(&id);
        });
    }

    /// Whether no task is left (Shutdown may end the shim).
    pub fn is_empty(&self) -> bool {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }
}

/// The Task service for ttrpc: a handle on the shared [`Service`].
pub struct TaskService(pub Arc<Service>);

fn status_of(c: &Container) -> api::Status {
    match c.status() {
        Status::Creating | Status::Created => api::Status::CREATED,
        Status::Running => api::Status::RUNNING,
        Status::Paused => api::Status::PAUSED,
        Status::Stopped => api::Status::STOPPED,
    }
}

impl TaskService {
    fn proc_field<T>(&self, k: &Key, f: impl FnOnce(&Proc) -> T) -> ttrpc::Result<T> {
        let tasks = self.0.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.get(k).map(f).ok_or_else(|| not_found(k))
    }

    /// Starts exec'd process `k` (its spec was given by Exec).
    fn start_exec(&self, k: &Key) -> ttrpc::Result<u32> {
        let _busy = Busy::new(&self.0.busy);
        let (spec, stdin, stdout, stderr, terminal) = self.proc_field(k, |p| {
            (
                p.spec.clone(),
                p.stdin.clone(),
                p.stdout.clone(),
                p.stderr.clone(),
                p.terminal,
            )
        })?;
        let spec = spec.ok_or_else(|| err(Code::FAILED_PRECONDITION, "already started"))?;
        let c = self.0.load(&k.0)?;
        let io = |e: std::io::Error| err(Code::INTERNAL, format!("stdio: {e}"));
        let mut opts = libcontainer::ExecOptions::new(spec);
        let (pid, console) = if terminal {
            let console = ConsoleSocket::new().map_err(io)?;
            opts.console_socket = Some(console.path.clone());
            let started = c.exec(opts);
            let master = console.finish(started.is_ok()).map_err(io);
            let x = started.map_err(lib_err)?;
            (x.pid, Some(relay(master?, &stdin, &stdout).map_err(io)?))
        } else {
            let i = open_stdio(&stdin, false).map_err(io)?;
            let (o, e) = output_targets(&stdout, &stderr, &k.0, &self.0.namespace).map_err(io)?;
            opts.stdio = Some([i.as_raw_fd(), o.as_raw_fd(), e.as_raw_fd()]);
            (c.exec(opts).map_err(lib_err)?.pid, None)
        };
        let pid = pid as u32;
        {
            let mut tasks = self.0.tasks.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(p) = tasks.get_mut(k) {
                p.pid = pid;
                p.spec = None;
                p.console = console;
            }
        }
        self.0.watch(k.clone(), pid);
        self.0
            .publisher
            .publish(Event::exec_started(&k.0, &k.1, pid));
        Ok(pid)
    }
}

impl Task for TaskService {
    fn create(
        &self,
        _: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> ttrpc::Result<api::CreateTaskResponse> {
        let pid = self.0.create_task(&req)?;
        let mut r = api::CreateTaskResponse::new();
        r.pid = pid;
        Ok(r)
    }

    fn start(&self, _: &TtrpcContext, req: api::StartRequest) -> ttrpc::Result<api::StartResponse> {
        let pid = if req.exec_id.is_empty() {
            let mut c = self.0.load(&req.id)?;
            c.start().map_err(lib_err)?;
            let pid = c.pid().unwrap_or(0) as u32;
            self.0.publisher.publish(Event::start(&req.id, pid));
            pid
        } else {
            self.start_exec(&key(&req.id, &req.exec_id))?
        };
        let mut r = api::StartResponse::new();
        r.pid = pid;
        Ok(r)
    }

    fn delete(
        &self,
        _: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> ttrpc::Result<api::DeleteResponse> {
        let k = key(&req.id, &req.exec_id);
        let mut r = api::DeleteResponse::new();
        if !req.exec_id.is_empty() {
            let (pid, exit) = self.proc_field(&k, |p| (p.pid, p.exit.clone()))?;
            if pid != 0 && exit.is_none() {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("exec {} is still running", req.exec_id),
                ));
            }
            self.0
                .tasks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&k);
            let (status, at) = exit.unwrap_or((0, now()));
            r.pid = pid;
            r.exit_status = status;
            r.exited_at = MessageField::some(at);
            return Ok(r);
        }
        let c = self.0.load(&req.id)?;
        let pid = self.proc_field(&k, |p| p.pid).unwrap_or(0);
        if matches!(c.status(), Status::Running | Status::Paused) {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("task {} is still running", req.id),
            ));
        }
        // A created task is killed by the delete: its exit comes first.
        c.delete(true).map_err(lib_err)?;
        let (status, at) = self
            .0
            .wait_exit(&k, Some(Duration::from_secs(10)))
            .unwrap_or((255, now()));
        let info = {
            let mut tasks = self.0.tasks.lock().unwrap_or_else(|p| p.into_inner());
            tasks.retain(|(id, e), _| id != &req.id || e.is_empty());
            tasks.remove(&k)
        };
        if let Some(t) = info.filter(|t| t.mounted) {
            let _ = libcontainer::rootfs::unmount_all(&t.bundle.join("rootfs"));
        }
        self.0
            .publisher
            .publish(Event::delete(&req.id, pid, status, at.clone()));
        r.pid = pid;
        r.exit_status = status;
        r.exited_at = MessageField::some(at);
        Ok(r)
    }

    fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> ttrpc::Result<api::StateResponse> {
        let k = key(&req.id, &req.exec_id);
        let c = self.0.load(&req.id)?;
        let tasks = self.0.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let t = tasks.get(&k).ok_or_else(|| not_found(&k))?;
        let mut r = api::StateResponse::new();
        r.id = req.id.clone();
        r.exec_id = req.exec_id.clone();
        r.bundle = t.bundle.to_string_lossy().into_owned();
        r.pid = t.pid;
        let status = if t.exit.is_some() {
            api::Status::STOPPED
        } else if req.exec_id.is_empty() {
            status_of(&c)
        } else if t.pid == 0 {
            api::Status::CREATED
        } else {
            api::Status::RUNNING
        };
        r.status = EnumOrUnknown::new(status);
        r.stdin = t.stdin.clone();
        r.stdout = t.stdout.clone();
        r.stderr = t.stderr.clone();
        r.terminal = t.terminal;
        if let Some((s, at)) = &t.exit {
            r.exit_status = *s;
            r.exited_at = MessageField::some(at.clone());
        }
        Ok(r)
    }

    fn pids(&self, _: &TtrpcContext, req: api::PidsRequest) -> ttrpc::Result<api::PidsResponse> {
        let c = self.0.load(&req.id)?;
        let pids = c.cgroup_manager().pids().map_err(lib_err)?;
        let mut r = api::PidsResponse::new();
        for p in pids {
            let mut info = api::ProcessInfo::new();
            info.pid = p as u32;
            r.processes.push(info);
        }
        Ok(r)
    }

    fn pause(&self, _: &TtrpcContext, req: api::PauseRequest) -> ttrpc::Result<Empty> {
        self.0.load(&req.id)?.pause().map_err(lib_err)?;
        self.0.publisher.publish(Event::paused(&req.id));
        Ok(Empty::new())
    }

    fn resume(&self, _: &TtrpcContext, req: api::ResumeRequest) -> ttrpc::Result<Empty> {
        self.0.load(&req.id)?.resume().map_err(lib_err)?;
        self.0.publisher.publish(Event::resumed(&req.id));
        Ok(Empty::new())
    }

    fn kill(&self, _: &TtrpcContext, req: api::KillRequest) -> ttrpc::Result<Empty> {
        if req.exec_id.is_empty() {
            let c = self.0.load(&req.id)?;
            c.kill(req.signal as i32, req.all).map_err(lib_err)?;
            return Ok(Empty::new());
        }
        let k = key(&req.id, &req.exec_id);
        let (pid, exit) = self.proc_field(&k, |p| (p.pid, p.exit.is_some()))?;
        if pid == 0 || exit {
            return Err(err(Code::NOT_FOUND, "process already finished"));
        }
        libcontainer::run::signal(pid as i32, req.signal as i32).map_err(lib_err)?;
        Ok(Empty::new())
    }

    fn exec(&self, _: &TtrpcContext, req: api::ExecProcessRequest) -> ttrpc::Result<Empty> {
        let k = key(&req.id, &req.exec_id);
        let bundle = self.proc_field(&key(&req.id, ""), |p| p.bundle.clone())?;
        if self.proc_field(&k, |_| ()).is_ok() {
            return Err(err(
                Code::ALREADY_EXISTS,
                format!("exec {} exists", req.exec_id),
            ));
        }
        let spec: oci_spec::runtime::Process = serde_json::from_slice(&req.spec.value)
            .map_err(|e| err(Code::INVALID_ARGUMENT, format!("exec process spec: {e}")))?;
        self.0
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                k,
                Proc {
                    bundle,
                    pid: 0,
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                    exit: None,
                    console: None,
                    mounted: false,
                    spec: Some(spec),
                },
            );
        self.0
            .publisher
            .publish(Event::exec_added(&req.id, &req.exec_id));
        Ok(Empty::new())
    }

    fn resize_pty(&self, _: &TtrpcContext, req: api::ResizePtyRequest) -> ttrpc::Result<Empty> {
        let k = key(&req.id, &req.exec_id);
        let console = self.proc_field(&k, |p| p.console.clone())?;
        let Some(console) = console else {
            return Err(err(
                Code::FAILED_PRECONDITION,
                "the process has no terminal",
            ));
        };
        libcontainer::tty::set_size(console.as_raw_fd(), req.height as u16, req.width as u16)
            .map_err(lib_err)?;
        Ok(Empty::new())
    }

    fn close_io(&self, _: &TtrpcContext, req: api::CloseIORequest) -> ttrpc::Result<Empty> {
        // The process holds its stdin fifo itself (the shim keeps no copy):
        // containerd closing its end is the EOF. A terminal's input is
        // relayed, and ends when the fifo does.
        self.proc_field(&key(&req.id, &req.exec_id), |_| ())?;
        Ok(Empty::new())
    }

    fn update(&self, _: &TtrpcContext, req: api::UpdateTaskRequest) -> ttrpc::Result<Empty> {
        let mut c = self.0.load(&req.id)?;
        let res: oci_spec::runtime::LinuxResources =
            serde_json::from_slice(&req.resources.value)
                .map_err(|e| err(Code::INVALID_ARGUMENT, format!("resources: {e}")))?;
        c.update(&res).map_err(lib_err)?;
        Ok(Empty::new())
    }

    fn wait(&self, _: &TtrpcContext, req: api::WaitRequest) -> ttrpc::Result<api::WaitResponse> {
        let (status, at) = self.0.wait_exit(&key(&req.id, &req.exec_id), None)?;
        let mut r = api::WaitResponse::new();
        r.exit_status = status;
        r.exited_at = MessageField::some(at);
        Ok(r)
    }

    fn stats(&self, _: &TtrpcContext, req: api::StatsRequest) -> ttrpc::Result<api::StatsResponse> {
        let c = self.0.load(&req.id)?;
        let s = c.stats().map_err(lib_err)?;
        let mut r = api::StatsResponse::new();
        r.stats = MessageField::some(crate::metrics::pack(&s, c.cgroup_manager().unified()));
        Ok(r)
    }

    fn checkpoint(
        &self,
        _: &TtrpcContext,
        _req: api::CheckpointTaskRequest,
    ) -> ttrpc::Result<Empty> {
        Err(err(
            Code::UNIMPLEMENTED,
            "checkpoint is not implemented by corral",
        ))
    }

    fn connect(
        &self,
        _: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> ttrpc::Result<api::ConnectResponse> {
        let mut r = api::ConnectResponse::new();
        r.shim_pid = std::process::id();
        r.task_pid = self.proc_field(&key(&req.id, ""), |p| p.pid).unwrap_or(0);
        r.version = env!("CARGO_PKG_VERSION").into();
        Ok(r)
    }

    fn shutdown(&self, _: &TtrpcContext, _req: api::ShutdownRequest) -> ttrpc::Result<Empty> {
        if self.0.is_empty() {
            let _ = std::fs::remove_file(&self.0.socket);
            // Answer first, then go.
            std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                std::process::exit(0);
            });
        }
        Ok(Empty::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn the_cris_slice_form_selects_the_systemd_driver() {
        assert!(is_systemd_form(
            "kubepods-besteffort-pod1.slice:cri-containerd:abc"
        ));
        assert!(is_systemd_form("system.slice:docker:abc"));
        for no in [
            "/kubepods/pod1/abc",
            "abc",
            "a.slice:b",
            "x:y:z",
            "/a.slice:b:c",
            "",
        ] {
            assert!(!is_systemd_form(no), "{no}");
        }
    }

    #[test]
    fn systemd_cgroup_comes_from_runcs_options() {
        use containerd_shim_protos::protobuf::well_known_types::any::Any;
        use containerd_shim_protos::protobuf::Message;
        let mut o = containerd_shim_protos::shim::oci::Options::new();
        o.systemd_cgroup = true;
        o.binary_name = "corral".into();
        let mut any = Any::new();
        any.type_url = "containerd.runc.v1.Options".into();
        any.value = o.write_to_bytes().expect("encode");
        assert_eq!(systemd_cgroup(&MessageField::some(any.clone())), Ok(true));
        o.systemd_cgroup = false;
        any.value = o.write_to_bytes().expect("encode");
        assert_eq!(systemd_cgroup(&MessageField::some(any.clone())), Ok(false));
        assert_eq!(systemd_cgroup(&MessageField::none()), Ok(false));
        // Options of another runtime's type are not read.
        any.type_url = "io.example.Other".into();
        any.value = vec![0xff, 0xff];
        assert_eq!(systemd_cgroup(&MessageField::some(any.clone())), Ok(false));
        any.type_url = "type.googleapis.com/containerd.runc.v1.Options".into();
        let e = systemd_cgroup(&MessageField::some(any)).expect_err("garbage");
        assert!(e.contains("containerd.runc.v1.Options"), "{e}");
    }

    /// Paths removed on drop, also when a test fails.
    struct Cleanup(Vec<PathBuf>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("corral-shim-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).expect("scratch dir");
        d
    }

    /// Sends `/dev/null` as the pty master would be sent, and finishes.
    fn send_and_finish(c: ConsoleSocket) -> std::io::Result<File> {
        let peer = std::os::unix::net::UnixStream::connect(&c.path).expect("connect");
        let null = File::open("/dev/null").expect("/dev/null");
        libcontainer::tty::send_fd(peer.as_raw_fd(), "pty", null.as_raw_fd()).expect("send");
        c.finish(true)
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("lstat").mode() & 0o7777
    }

    /// The shim's console socket (the production path): a file and a
    /// symlink made in advance at the old, predictable
    /// `/tmp/corral-shim-PID-N.sock` are neither used nor removed; the
    /// socket is in a 0700 directory of root's in /run, removed once the
    /// socket is done.
    #[test]
    fn console_socket_ignores_precreated_tmp_paths_and_is_private() {
        let s = scratch("precreated");
        let target = s.join("attacker-target");
        let mut cleanup = Cleanup(vec![s.clone()]);
        let mut planted = Vec::new();
        for n in 0..16 {
            let p =
                std::env::temp_dir().join(format!("corral-shim-{}-{n}.sock", std::process::id()));
            let _ = std::fs::remove_file(&p);
            if n % 2 == 0 {
                std::os::unix::fs::symlink(&target, &p).expect("plant symlink");
            } else {
                std::fs::write(&p, "planted").expect("plant file");
            }
            cleanup.0.push(p.clone());
            planted.push(p);
        }
        let c = ConsoleSocket::new().expect("console socket");
        let dir = c.path.parent().expect("socket dir").to_path_buf();
        assert!(
            !planted.contains(&c.path),
            "{:?} is an old-style path",
            c.path
        );
        let m = std::fs::symlink_metadata(&dir).expect("lstat dir");
        assert!(m.file_type().is_dir(), "{dir:?}");
        assert_eq!(mode(&dir), 0o700, "{dir:?}");
        assert_eq!(m.uid(), nix::unistd::geteuid().as_raw(), "{dir:?}");
        let base = dir.parent().expect("base");
        assert_eq!(mode(base) & 0o022, 0, "{base:?} writable by others");
        send_and_finish(c).expect("the master arrives");
        assert!(!dir.exists(), "{dir:?} left after the socket is done");
        for (n, p) in planted.iter().enumerate() {
            let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{p:?} removed: {e}"));
            if n % 2 == 0 {
                assert!(m.file_type().is_symlink(), "{p:?} replaced");
            } else {
                assert_eq!(
                    std::fs::read_to_string(p).expect("read"),
                    "planted",
                    "{p:?}"
                );
            }
        }
        assert!(!target.exists(), "a planted symlink was followed");
    }

    /// A name taken in advance (a symlink to a directory elsewhere) is
    /// skipped, not followed; a made base is 0700; a failed create removes
    /// the directory too.
    #[test]
    fn console_dir_skips_taken_names_and_is_removed_on_failure() {
        let s = scratch("taken");
        let _cleanup = Cleanup(vec![s.clone()]);
        let base = s.join("base");
        let first = ConsoleSocket::new_in(&base, ["a".to_string()]).expect("first");
        assert_eq!(mode(&base), 0o700);
        let elsewhere = s.join("elsewhere");
        std::fs::create_dir(&elsewhere).expect("mkdir");
        std::os::unix::fs::symlink(&elsewhere, base.join("taken")).expect("symlink");
        let c = ConsoleSocket::new_in(&base, ["taken".to_string(), "fresh".to_string()])
            .expect("second");
        assert_eq!(c.path, base.join("fresh").join("console.sock"));
        assert_eq!(mode(&base.join("fresh")), 0o700);
        assert_eq!(std::fs::read_dir(&elsewhere).expect("ls").count(), 0);
        send_and_finish(c).expect("master");
        assert!(!base.join("fresh").exists());
        assert!(
            base.join("taken").is_symlink(),
            "the taken name is left alone"
        );
        // Create failed: no master, an error, the directory removed.
        assert!(first.finish(false).is_err());
        assert!(!base.join("a").exists());
        let e = ConsoleSocket::new_in(&base, ["taken".to_string()]).expect_err("all taken");
        assert!(e.to_string().contains("taken"), "{e}");
    }

    /// A base that is a symlink, or that others may write in, is refused
    /// with its path named.
    #[test]
    fn console_base_others_could_change_is_refused() {
        let s = scratch("base");
        let _cleanup = Cleanup(vec![s.clone()]);
        let real = s.join("real");
        std::fs::create_dir(&real).expect("mkdir");
        let link = s.join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let e = ConsoleSocket::new_in(&link, ["x".to_string()]).expect_err("symlink base");
        assert!(
            e.to_string().contains("not a directory") && e.to_string().contains("link"),
            "{e}"
        );
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = ConsoleSocket::new_in(&real, ["x".to_string()]).expect_err("0777 base");
        assert!(e.to_string().contains("777"), "{e}");
        assert!(!real.join("x").exists());
    }

    /// The directory of a shim that is gone is swept; a live one's is not.
    #[test]
    fn stale_console_dirs_of_dead_shims_are_swept() {
        let s = scratch("stale");
        let _cleanup = Cleanup(vec![s.clone()]);
        let base = s.join("base");
        std::fs::create_dir(&base).expect("mkdir");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        // Above the kernel's pid_max limit (4194304): never a live pid.
        let dead = base.join("999999999-0-0");
        let live = base.join("1-0-0");
        for d in [&dead, &live] {
            std::fs::create_dir(d).expect("mkdir");
        }
        let c = ConsoleSocket::new_in(&base, ["mine".to_string()]).expect("socket");
        assert!(!dead.exists(), "a dead shim's directory stays");
        assert!(live.exists(), "pid 1's directory was removed");
        c.finish(false).expect_err("nothing sent");
    }
}
