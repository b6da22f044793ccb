//! Speaking to systemd's Manager over D-Bus (zbus's blocking API): on the
//! system bus, or on systemd's private socket where root has no bus
//! daemon. Every call is bounded.
//!
//! zbus runs threads of its own (its executor, async-io's reactor), and a
//! process that creates containers must stay single-threaded: the init is
//! a raw clone of it, and the kernel hands a process-directed SIGCHLD to
//! any thread that does not block it (a foreground `run` waits for the
//! init's on a signalfd). So a single-threaded caller talks to systemd
//! from a child process of its own ([`run`]), which also holds a new
//! scope open until the container's init is in it ([`Worker`]); a caller
//! that is multi-threaded already (the shim's `update`) talks in-process,
//! with every signal blocked while the connection starts its threads.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use zbus::blocking::connection::Builder;
use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use super::props::Props;
use crate::error::{Error, Result};

const DESTINATION: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PRIVATE_SOCKET: &str = "/run/systemd/private";

/// Bound on one D-Bus method call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a whole conversation in the child (connect, calls, waiting for
/// a job): systemd under load, or in an emulated VM, takes seconds.
const CONVERSATION_TIMEOUT: Duration = Duration::from_secs(90);

fn other(msg: impl Into<String>) -> Error {
    Error::Other(msg.into())
}

/// Blocks every signal for as long as it lives (threads started meanwhile
/// keep the full mask), then restores the caller's mask.
struct SignalsBlocked(SigSet);

impl SignalsBlocked {
    fn new() -> SignalsBlocked {
        let mut old = SigSet::empty();
        let _ = nix::sys::signal::pthread_sigmask(
            SigmaskHow::SIG_BLOCK,
            Some(&SigSet::all()),
            Some(&mut old),
        );
        SignalsBlocked(old)
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None);
    }
}

/// A connection to systemd's Manager.
pub(crate) struct Bus {
    conn: Connection,
    /// On the private socket there is no bus: no destination, no Hello.
    p2p: bool,
}

impl Bus {
    /// Connects: the system bus first (as runc does), then systemd's
    /// private socket. Fails clearly where the client's threads cannot
    /// start (a seccomp profile refusing clone3 with EPERM: glibc's
    /// pthread_create falls back to clone only on ENOSYS).
    pub(crate) fn connect() -> Result<Bus> {
        std::thread::Builder::new()
            .name("corral-probe".into())
            .spawn(|| ())
            .and_then(|t| t.join().map_err(|_| std::io::Error::other("probe thread panicked")))
            .map_err(|e| {
                other(format!(
                    "the systemd cgroup driver's D-Bus client needs a thread, and this process cannot start one: {e} \
                     (is clone3 refused here with EPERM by a seccomp profile?)"
                ))
            })?;
        let _blocked = SignalsBlocked::new();
        let system = Builder::system().and_then(|b| b.method_timeout(CALL_TIMEOUT).build());
        let e1 = match system {
            Ok(conn) => return Ok(Bus { conn, p2p: false }),
            Err(e) => e,
        };
        let private = Builder::address(format!("unix:path={PRIVATE_SOCKET}").as_str())
            .and_then(|b| b.p2p().method_timeout(CALL_TIMEOUT).build());
        match private {
            Ok(conn) => Ok(Bus { conn, p2p: true }),
            Err(e2) => Err(other(format!(
                "--systemd-cgroup: cannot reach systemd: the system bus: {e1}; systemd's private socket {PRIVATE_SOCKET}: {e2} \
                 (is systemd the init here?)"
            ))),
        }
    }

    fn call<B>(
        &self,
        path: &str,
        iface: &str,
        method: &str,
        body: &B,
    ) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let _blocked = SignalsBlocked::new();
        let dest = if self.p2p { None } else { Some(DESTINATION) };
        self.conn.call_method(dest, path, Some(iface), method, body)
    }

    fn manager<B>(&self, method: &str, body: &B) -> Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.call(MANAGER_PATH, MANAGER, method, body)
            .map_err(|e| other(format!("systemd {method}: {e}")))
    }

    /// The unit's D-Bus object, if systemd has it loaded.
    fn unit_path(&self, unit: &str) -> Result<Option<OwnedObjectPath>> {
        match self.call(MANAGER_PATH, MANAGER, "GetUnit", &(unit,)) {
            Ok(m) => m
                .body()
                .deserialize::<OwnedObjectPath>()
                .map(Some)
                .map_err(|e| other(format!("systemd GetUnit {unit}: {e}"))),
            Err(zbus::Error::MethodError(name, _, _)) if name.as_str().ends_with(".NoSuchUnit") => {
                Ok(None)
            }
            Err(e) => Err(other(format!("systemd GetUnit {unit}: {e}"))),
        }
    }

    fn property(&self, path: &OwnedObjectPath, iface: &str, name: &str) -> Result<OwnedValue> {
        let m = self
            .call(
                path.as_str(),
                "org.freedesktop.DBus.Properties",
                "Get",
                &(iface, name),
            )
            .map_err(|e| other(format!("systemd: read {name} of {}: {e}", path.as_str())))?;
        m.body()
            .deserialize::<OwnedValue>()
            .map_err(|e| other(format!("systemd: read {name}: {e}")))
    }

    /// The unit's ActiveState (`active`, `failed`, ...), None when systemd
    /// does not have it loaded.
    pub(crate) fn active_state(&self, unit: &str) -> Result<Option<String>> {
        let Some(path) = self.unit_path(unit)? else {
            return Ok(None);
        };
        let v = self.property(&path, "org.freedesktop.systemd1.Unit", "ActiveState")?;
        String::try_from(v)
            .map(Some)
            .map_err(|e| other(format!("systemd: ActiveState of {unit}: {e}")))
    }

    /// The cgroup systemd gave a scope, below its own root.
    pub(crate) fn control_group(&self, unit: &str) -> Result<String> {
        let path = self
            .unit_path(unit)?
            .ok_or_else(|| other(format!("systemd: no unit {unit}")))?;
        let v = self.property(&path, "org.freedesktop.systemd1.Scope", "ControlGroup")?;
        String::try_from(v).map_err(|e| other(format!("systemd: ControlGroup of {unit}: {e}")))
    }

    /// Starts a transient scope with `props` and waits until it is active.
    pub(crate) fn start_scope(&self, unit: &str, props: Props) -> Result<()> {
        let aux: Vec<(&str, Vec<(&str, Value<'_>)>)> = Vec::new();
        self.manager("StartTransientUnit", &(unit, "fail", props, aux))?;
        self.wait_for(unit, "start", |s| match s {
            Some("active") => Some(Ok(())),
            Some("failed") => Some(Err(format!("systemd failed to start {unit}"))),
            _ => None,
        })
    }

    /// Sets properties of a running unit (for its lifetime only, as runc:
    /// nothing is written to /etc).
    pub(crate) fn set_properties(&self, unit: &str, props: Props) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.manager("SetUnitProperties", &(unit, true, props))
            .map(drop)
    }

    /// Stops the unit (a scope systemd stopped itself already, once its
    /// last process was gone, is fine), resets it when it failed (an OOM
    /// kill leaves a failed scope), and waits until systemd lets it go.
    pub(crate) fn stop_and_forget(&self, unit: &str) -> Result<()> {
        match self.active_state(unit)? {
            None => return Ok(()),
            Some(s) if s == "active" || s == "activating" || s == "reloading" => {
                match self.call(MANAGER_PATH, MANAGER, "StopUnit", &(unit, "replace")) {
                    Ok(_) => {}
                    Err(zbus::Error::MethodError(n, _, _))
                        if n.as_str().ends_with(".NoSuchUnit") =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(other(format!("systemd StopUnit {unit}: {e}"))),
                }
            }
            Some(_) => {}
        }
        self.wait_for(unit, "stop", |s| match s {
            None | Some("inactive") | Some("failed") => Some(Ok(())),
            _ => None,
        })?;
        if self.active_state(unit)?.as_deref() == Some("failed") {
            self.manager("ResetFailedUnit", &(unit,))?;
        }
        Ok(())
    }

    /// Polls the unit's ActiveState until `done` says so, bounded.
    fn wait_for(
        &self,
        unit: &str,
        what: &str,
        done: impl Fn(Option<&str>) -> Option<std::result::Result<(), String>>,
    ) -> Result<()> {
        let end = Instant::now() + CONVERSATION_TIMEOUT;
        let mut pause = Duration::from_millis(2);
        loop {
            let s = self.active_state(unit)?;
            if let Some(r) = done(s.as_deref()) {
                return r.map_err(other);
            }
            if Instant::now() > end {
                return Err(other(format!(
                    "systemd did not {what} {unit} within {} s (ActiveState {s:?})",
                    CONVERSATION_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// A child process that talked to systemd for a caller and now keeps what
/// it made alive: a new scope needs a process in it, and the container's
/// init is not cloned yet. [`Worker::release`] (or drop) ends it. It is
/// killed rather than told to go: the init, a clone of the caller, would
/// keep any pipe to it open until its exec.
#[derive(Debug)]
pub(crate) struct Worker {
    pid: Option<Pid>,
}

impl Worker {
    /// Kills the worker and reaps it.
    pub(crate) fn release(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            reap(pid, Duration::from_secs(5));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.release();
    }
}

/// Waits for `pid` to exit for at most `limit`, then kills it.
fn reap(pid: Pid, limit: Duration) -> Option<WaitStatus> {
    let end = Instant::now() + limit;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(s) => return Some(s),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
        if Instant::now() > end {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            return waitpid(pid, None).ok();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `f` with a connection to systemd: in a child process of this one
/// when this process is single-threaded (see the module's comment), with
/// the child's pid as the second argument; with `hold`, the child then
/// stays (in whatever scope `f` put it) until the returned [`Worker`] is
/// released; the answer is complete when the child closes its end. In a multi-threaded process, in-process (`hold` is refused:
/// a create is always single-threaded). Bounded by
/// `CONVERSATION_TIMEOUT`.
pub(crate) fn run(
    what: &str,
    hold: bool,
    f: impl FnOnce(&Bus, u32) -> Result<()>,
) -> Result<Option<Worker>> {
    if crate::process::helper::is_multithreaded() {
        if hold {
            return Err(other(format!("{what}: needs a single-threaded caller")));
        }
        let bus = Bus::connect()?;
        f(&bus, std::process::id())?;
        return Ok(None);
    }
    let (mut r, w) = pipe()?;
    let parent = nix::unistd::getpid();
    // SAFETY: this process is single-threaded (checked above), so the
    // child may run any code; it ends with _exit and never returns.
    match unsafe { nix::unistd::fork() }.map_err(|e| other(format!("{what}: fork: {e}")))? {
        ForkResult::Child => {
            drop(r);
            child(parent, w, hold, f)
        }
        ForkResult::Parent { child } => {
            drop(w);
            let answer = read_bounded(&mut r, CONVERSATION_TIMEOUT + Duration::from_secs(5));
            let done = |why: String| -> Result<Option<Worker>> {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                Err(other(format!("{what}: {why}")))
            };
            match answer {
                Ok(text) if text == "ok" => {
                    if hold {
                        Ok(Some(Worker { pid: Some(child) }))
                    } else {
                        reap(child, Duration::from_secs(5));
                        Ok(None)
                    }
                }
                Ok(text) if text.starts_with("error: ") => {
                    reap(child, Duration::from_secs(5));
                    Err(other(text["error: ".len()..].to_string()))
                }
                Ok(_) => {
                    let status = reap(child, Duration::from_secs(5));
                    done(format!(
                        "the D-Bus worker ended without an answer ({status:?})"
                    ))
                }
                Err(e) => done(e),
            }
        }
    }
}

/// The worker's side of [`run`].
fn child(
    parent: Pid,
    mut w: std::fs::File,
    hold: bool,
    f: impl FnOnce(&Bus, u32) -> Result<()>,
) -> ! {
    // Dies with its caller; signals stay blocked, so zbus's threads never
    // take one.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    std::mem::forget(SignalsBlocked::new());
    if nix::unistd::getppid() != parent {
        // SAFETY: ends this child at once.
        unsafe { libc::_exit(1) };
    }
    let result = Bus::connect().and_then(|bus| f(&bus, std::process::id()).map(|()| bus));
    let (text, bus) = match result {
        Ok(bus) => ("ok".to_string(), Some(bus)),
        Err(e) => (format!("error: {e}"), None),
    };
    let _ = w.write_all(text.as_bytes());
    drop(w);
    if hold && bus.is_some() {
        // Until the caller kills it (or dies: PDEATHSIG). Every signal
        // is blocked: only SIGKILL ends the wait.
        loop {
            // SAFETY: pause has no arguments.
            unsafe { libc::pause() };
        }
    }
    drop(bus);
    // SAFETY: ends the child without running the caller's exit handlers.
    unsafe { libc::_exit(0) }
}

fn pipe() -> Result<(std::fs::File, std::fs::File)> {
    let (a, b) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| other(format!("pipe: {e}")))?;
    Ok((std::fs::File::from(a), std::fs::File::from(b)))
}

/// Reads the worker's whole answer, waiting at most `limit`.
fn read_bounded(r: &mut std::fs::File, limit: Duration) -> std::result::Result<String, String> {
    let end = Instant::now() + limit;
    let mut buf = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "systemd did not answer within {} s",
                limit.as_secs()
            ));
        }
        let mut fds = [nix::poll::PollFd::new(
            // SAFETY-free: the fd outlives the poll.
            std::os::fd::AsFd::as_fd(r),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        let mut chunk = [0u8; 4096];
        match r.read(&mut chunk) {
            Ok(0) => return Ok(String::from_utf8_lossy(&buf).into_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read the worker's answer: {e}")),
        }
    }
}
