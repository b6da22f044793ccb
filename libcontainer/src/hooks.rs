//! OCI hooks: each run with the container state as JSON on stdin, its own
//! args and env, and a timeout.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::sys;

/// Every hook list of a config, by its JSON name.
#[allow(deprecated)]
pub fn all_lists(h: &Hooks) -> Vec<(&'static str, &Vec<Hook>)> {
    let mut out = Vec::new();
    for (name, list) in [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ] {
        if let Some(l) = list {
            out.push((name, l));
        }
    }
    out
}

/// The hooks of one kind from a config (empty when absent).
pub fn list<'a>(hooks: &'a Option<Hooks>, kind: &str) -> Vec<&'a Hook> {
    hooks
        .as_ref()
        .map(|h| {
            all_lists(h)
                .into_iter()
                .filter(|(k, _)| *k == kind)
                .flat_map(|(_, l)| l.iter())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the hooks of `kind` in order; the first failure stops the list.
pub fn run(hooks: &Option<Hooks>, kind: &str, state_json: &str) -> Result<()> {
    run_with_env(hooks, kind, state_json, &[])
}

/// [`run`], where a hook whose config gives no `env` gets `env` instead:
/// the startContainer hooks, which run in the container beside its
/// process, get the process's environment, as runc 1.2 gives it.
pub fn run_with_env(
    hooks: &Option<Hooks>,
    kind: &str,
    state_json: &str,
    env: &[String],
) -> Result<()> {
    for (i, h) in list(hooks, kind).into_iter().enumerate() {
        run_one_env(kind, i, h, state_json, env)?;
    }
    Ok(())
}

/// How much of each of a hook's output streams is kept for the error
/// message: the last 8 KiB.
pub const OUTPUT_TAIL: usize = 8 << 10;

/// How long a hook's output is read after it exited: a process it left
/// behind may hold the pipes open, and must not hold up the container.
const AFTER_EXIT: Duration = Duration::from_secs(1);

/// The last [`OUTPUT_TAIL`] bytes of one stream.
#[derive(Default)]
struct Tail {
    buf: Vec<u8>,
    dropped: bool,
}

impl Tail {
    fn push(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        if self.buf.len() > 2 * OUTPUT_TAIL {
            let cut = self.buf.len() - OUTPUT_TAIL;
            self.buf.drain(..cut);
            self.dropped = true;
        }
    }

    fn text(&self) -> String {
        let keep = &self.buf[self.buf.len().saturating_sub(OUTPUT_TAIL)..];
        let t = String::from_utf8_lossy(keep);
        let t = t.trim();
        if self.dropped || keep.len() < self.buf.len() {
            format!("…{t}")
        } else {
            t.to_string()
        }
    }
}

/// Runs one hook, the `index`th of its list: `args[0]` is its `argv[0]`,
/// env is exactly `env`, the state is written to stdin, and it gets no
/// other fd than its stdio (every fd ≥ 3 is close-on-exec in the child, by
/// a means that works under any seccomp profile: see
/// `sys::cloexec_all_from`). Its stdout and stderr are drained while it
/// runs (the last [`OUTPUT_TAIL`] bytes of each go into the error of a
/// failing hook). It leads its own process group; at `timeout` seconds the
/// group is killed and the hook fails, whether the hook itself still runs
/// or something it forked holds its output open. Without a timeout, the
/// output is read for at most a second after the hook exited.
pub fn run_one(kind: &str, index: usize, h: &Hook, state_json: &str) -> Result<()> {
    run_one_env(kind, index, h, state_json, &[])
}

/// [`run_one`], with `default_env` for a hook that has no `env` of its own.
fn run_one_env(
    kind: &str,
    index: usize,
    h: &Hook,
    state_json: &str,
    default_env: &[String],
) -> Result<()> {
    let fail = |msg: String| Error::Hook {
        kind: kind.to_string(),
        index,
        path: h.path().clone(),
        msg,
    };
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for kv in h.env().as_deref().unwrap_or(default_env) {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe system calls (setpgid, close_range, open,
    // getdents64, fcntl, getrlimit), allocating nothing.
    unsafe {
        cmd.pre_exec(|| {
            // Best effort: without a group of its own, only the hook is
            // killed at its timeout.
            let _ = sys::setpgid_self();
            sys::cloexec_all_from(3).map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().map_err(|e| fail(format!("start: {e}")))?;
    let pid = child.id() as i32;
    let timeout = h.timeout().map(|t| t.max(0) as u64);
    let r = drain(&mut child, state_json, timeout.map(Duration::from_secs));
    let (timed_out, tails) = match r {
        Ok(x) => x,
        Err(e) => {
            let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(e));
        }
    };
    let output = || {
        let mut s = String::new();
        for (name, t) in [("stderr", &tails[1]), ("stdout", &tails[0])] {
            let text = t.text();
            if !text.is_empty() {
                s.push_str(&format!("; {name}: {text:?}"));
            }
        }
        s
    };
    if timed_out {
        // The group too: what the hook forked must not outlive it. The
        // hook is not reaped yet, so its pid (the group's id) is not reused.
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail(format!(
            "timed out after {}s{}",
            timeout.unwrap_or(0),
            output()
        )));
    }
    let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
    if !status.success() {
        return Err(fail(format!("{status}{}", output())));
    }
    Ok(())
}

/// Feeds `input` to the child's stdin and reads its stdout and stderr until
/// it has exited and both are at EOF (or [`AFTER_EXIT`] after its exit),
/// or `timeout` passes. Returns whether it timed out, and the output tails.
/// The child is not reaped.
fn drain(
    child: &mut std::process::Child,
    input: &str,
    timeout: Option<Duration>,
) -> std::result::Result<(bool, [Tail; 2]), String> {
    let pid = child.id() as i32;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut stdin = child.stdin.take();
    let file = |fd: std::os::fd::OwnedFd| std::fs::File::from(fd);
    let mut pipes = [
        child.stdout.take().map(|o| file(o.into())),
        child.stderr.take().map(|e| file(e.into())),
    ];
    let mut tails = [Tail::default(), Tail::default()];
    let nonblock = |fd: i32| {
        // SAFETY: the fd is one of our pipe ends, open for this call.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let fl = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| format!("fcntl F_GETFL: {e}"))?;
        fcntl(
            fd,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(fl) | OFlag::O_NONBLOCK),
        )
        .map(drop)
        .map_err(|e| format!("fcntl F_SETFL O_NONBLOCK: {e}"))
    };
    if let Some(s) = &stdin {
        nonblock(s.as_raw_fd())?;
    }
    for p in pipes.iter().flatten() {
        nonblock(p.as_raw_fd())?;
    }
    // Wakes the poll when the hook exits; without one (an old kernel, a
    // seccomp profile that denies it) the poll wakes every 10 ms to look.
    let pidfd = sys::pidfd_open(pid).ok();
    let mut written = 0usize;
    let mut exited_at: Option<Instant> = None;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if exited_at.is_none() && sys::child_exited(pid).map_err(|e| format!("wait: {e}"))? {
            exited_at = Some(Instant::now());
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok((true, tails));
        }
        let open = pipes.iter().any(Option::is_some);
        if let Some(t) = exited_at {
            if !open || now >= t + AFTER_EXIT {
                return Ok((false, tails));
            }
        }
        // What to wait for, and until when.
        let mut wait = Duration::from_millis(if pidfd.is_some() { 1000 } else { 10 });
        if let Some(t) = exited_at {
            wait = wait.min((t + AFTER_EXIT).saturating_duration_since(now));
        }
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(4);
        let pfd = |fd: i32, events: i16| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        if let Some(s) = &stdin {
            fds.push(pfd(s.as_raw_fd(), libc::POLLOUT));
        }
        for p in pipes.iter().flatten() {
            fds.push(pfd(p.as_raw_fd(), libc::POLLIN));
        }
        if let (Some(fd), None) = (&pidfd, exited_at) {
            fds.push(pfd(fd.as_raw_fd(), libc::POLLIN));
        }
        sys::poll(&mut fds, wait.as_millis().max(1) as i32).map_err(|e| format!("poll: {e}"))?;
        if let Some(s) = &mut stdin {
            match s.write(&input.as_bytes()[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // EPIPE: a hook that does not read its stdin is not an error.
                Err(_) => written = input.len(),
            }
            if written >= input.len() {
                stdin = None;
            }
        }
        for (p, tail) in pipes.iter_mut().zip(tails.iter_mut()) {
            let Some(r) = p else { continue };
            loop {
                match r.read(&mut buf) {
                    Ok(0) => {
                        *p = None;
                        break;
                    }
                    Ok(n) => tail.push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("read its output: {e}")),
                }
            }
        }
    }
}
