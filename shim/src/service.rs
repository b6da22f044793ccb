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

/// What the shim knows of one task (the container's init).
struct TaskInfo {
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
}

/// The Task service.
pub struct Service {
    root: PathBuf,
    /// The shim's socket, removed when it shuts down.
    socket: PathBuf,
    publisher: Publisher,
    tasks: Mutex<HashMap<String, TaskInfo>>,
    exited: Condvar,
}

fn err(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
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

/// Opens one of containerd's stdio fifos for the container: empty means
/// /dev/null. Opened O_RDWR so the open never blocks on the other end;
/// the shim closes its copy once the container has it.
fn open_stdio(path: &str, write: bool) -> std::io::Result<File> {
    if path.is_empty() {
        return OpenOptions::new()
            .read(!write)
            .write(write)
            .open("/dev/null");
    }
    let p = path.strip_prefix("file://").unwrap_or(path);
    if p.contains("://") {
        return Err(std::io::Error::other(format!(
            "unsupported stdio URI {path:?}"
        )));
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(p)
}

/// Copies `from` to `to` until EOF or an error, on its own thread.
fn pump(mut from: File, mut to: File) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
    });
}

impl Service {
    /// A service keeping container state under `root`.
    pub fn new(root: PathBuf, socket: PathBuf, publisher: Publisher) -> Service {
        Service {
            root,
            socket,
            publisher,
            tasks: Mutex::new(HashMap::new()),
            exited: Condvar::new(),
        }
    }

    fn load(&self, id: &str) -> ttrpc::Result<Container> {
        Container::load(&self.root, id).map_err(lib_err)
    }

    /// Reaps `pid` when it exits, records the exit and tells containerd.
    fn watch(self: &Arc<Self>, id: String, pid: u32) {
        let me = self.clone();
        std::thread::spawn(move || {
            let status = libcontainer::run::wait_exit(pid as i32).unwrap_or(255) as u32;
            let at = now();
            {
                let mut tasks = me.tasks.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(t) = tasks.get_mut(&id) {
                    t.exit = Some((status, at.clone()));
                }
            }
            me.exited.notify_all();
            me.publisher.publish(Event::exit(&id, "", pid, status, at));
        });
    }

    fn wait_exit(&self, id: &str, limit: Option<Duration>) -> ttrpc::Result<(u32, Timestamp)> {
        let deadline = limit.map(|d| std::time::Instant::now() + d);
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match tasks.get(id) {
                None => return Err(err(Code::NOT_FOUND, format!("task {id} not found"))),
                Some(TaskInfo { exit: Some(e), .. }) => return Ok(e.clone()),
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
        let result = self.create_container(req, &bundle);
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
            req.id.clone(),
            TaskInfo {
                bundle: bundle.clone(),
                pid,
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                exit: None,
                console,
                mounted,
            },
        );
        self.watch(req.id.clone(), pid);
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
        let builder = ContainerBuilder::new(&req.id, &self.root).bundle(bundle);
        if !req.terminal {
            let stdin = open_stdio(&req.stdin, false).map_err(io)?;
            let stdout = open_stdio(&req.stdout, true).map_err(io)?;
            let stderr = open_stdio(&req.stderr, true).map_err(io)?;
            let c = builder
                .stdio([stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()])
                .create()
                .map_err(lib_err)?;
            return Ok((c.pid().unwrap_or(0) as u32, None));
        }
        // A terminal: the init sends the pty master to a console socket.
        let sock = std::env::temp_dir().join(format!(
            "corral-shim-{}-{}.sock",
            std::process::id(),
            req.id.len() ^ (now().nanos as usize)
        ));
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).map_err(io)?;
        let accept = std::thread::spawn(move || -> std::io::Result<OwnedFd> {
            let (conn, _) = listener.accept()?;
            libcontainer::tty::recv_fd(conn.as_raw_fd())
                .map(|(fd, _)| fd)
                .map_err(|e| std::io::Error::other(e.to_string()))
        });
        let created = builder.console_socket(Some(sock.clone())).create();
        let _ = std::fs::remove_file(&sock);
        let c = match created {
            Ok(c) => c,
            Err(e) => {
                // Unblock the accept so its thread ends.
                let _ = std::os::unix::net::UnixStream::connect(&sock);
                return Err(lib_err(e));
            }
        };
        let master = accept
            .join()
            .map_err(|_| err(Code::INTERNAL, "console thread"))?
            .map_err(io)?;
        let master = File::from(master);
        let out = open_stdio(&req.stdout, true).map_err(io)?;
        pump(master.try_clone().map_err(io)?, out);
        if !req.stdin.is_empty() {
            let input = open_stdio(&req.stdin, false).map_err(io)?;
            pump(input, master.try_clone().map_err(io)?);
        }
        Ok((c.pid().unwrap_or(0) as u32, Some(Arc::new(master))))
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
        if !req.exec_id.is_empty() {
            return Err(err(
                Code::UNIMPLEMENTED,
                "exec is not implemented by this shim yet",
            ));
        }
        let mut c = self.0.load(&req.id)?;
        c.start().map_err(lib_err)?;
        let pid = c.pid().unwrap_or(0) as u32;
        self.0.publisher.publish(Event::start(&req.id, pid));
        let mut r = api::StartResponse::new();
        r.pid = pid;
        Ok(r)
    }

    fn delete(
        &self,
        _: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> ttrpc::Result<api::DeleteResponse> {
        if !req.exec_id.is_empty() {
            return Err(err(
                Code::NOT_FOUND,
                format!("exec {} not found", req.exec_id),
            ));
        }
        let c = self.0.load(&req.id)?;
        let pid = c.pid().unwrap_or(0) as u32;
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
            .wait_exit(&req.id, Some(Duration::from_secs(10)))
            .unwrap_or((255, now()));
        let info = self
            .0
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&req.id);
        if let Some(t) = info.filter(|t| t.mounted) {
            let _ = libcontainer::rootfs::unmount_all(&t.bundle.join("rootfs"));
        }
        self.0
            .publisher
            .publish(Event::delete(&req.id, pid, status, at.clone()));
        let mut r = api::DeleteResponse::new();
        r.pid = pid;
        r.exit_status = status;
        r.exited_at = MessageField::some(at);
        Ok(r)
    }

    fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> ttrpc::Result<api::StateResponse> {
        let c = self.0.load(&req.id)?;
        let tasks = self.0.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let t = tasks
            .get(&req.id)
            .ok_or_else(|| err(Code::NOT_FOUND, format!("task {} not found", req.id)))?;
        let mut r = api::StateResponse::new();
        r.id = req.id.clone();
        r.bundle = t.bundle.to_string_lossy().into_owned();
        r.pid = t.pid;
        r.status = EnumOrUnknown::new(if t.exit.is_some() {
            api::Status::STOPPED
        } else {
            status_of(&c)
        });
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
        let pids = libcontainer::cgroups::pids(c.cgroups()).map_err(lib_err)?;
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
        if !req.exec_id.is_empty() {
            return Err(err(
                Code::NOT_FOUND,
                format!("exec {} not found", req.exec_id),
            ));
        }
        let c = self.0.load(&req.id)?;
        c.kill(req.signal as i32, req.all).map_err(lib_err)?;
        Ok(Empty::new())
    }

    fn resize_pty(&self, _: &TtrpcContext, req: api::ResizePtyRequest) -> ttrpc::Result<Empty> {
        let tasks = self.0.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let t = tasks
            .get(&req.id)
            .ok_or_else(|| err(Code::NOT_FOUND, format!("task {} not found", req.id)))?;
        let Some(console) = &t.console else {
            return Err(err(Code::FAILED_PRECONDITION, "the task has no terminal"));
        };
        libcontainer::tty::set_size(console.as_raw_fd(), req.height as u16, req.width as u16)
            .map_err(lib_err)?;
        Ok(Empty::new())
    }

    fn wait(&self, _: &TtrpcContext, req: api::WaitRequest) -> ttrpc::Result<api::WaitResponse> {
        if !req.exec_id.is_empty() {
            return Err(err(
                Code::NOT_FOUND,
                format!("exec {} not found", req.exec_id),
            ));
        }
        let (status, at) = self.0.wait_exit(&req.id, None)?;
        let mut r = api::WaitResponse::new();
        r.exit_status = status;
        r.exited_at = MessageField::some(at);
        Ok(r)
    }

    fn connect(
        &self,
        _: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> ttrpc::Result<api::ConnectResponse> {
        let mut r = api::ConnectResponse::new();
        r.shim_pid = std::process::id();
        r.task_pid = self
            .0
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&req.id)
            .map(|t| t.pid)
            .unwrap_or(0);
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
