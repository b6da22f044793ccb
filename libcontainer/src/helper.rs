//! Creating a container from a multi-threaded caller.
//!
//! Cloning the container's init from a multi-threaded process is unsafe:
//! another thread may hold the allocator's lock at the clone. So when the
//! caller has more than one thread, [`ContainerBuilder::create`] runs the
//! create in a single-threaded helper process: the helper binary (by default
//! the caller's own executable, `/proc/self/exe`; see
//! [`ContainerBuilder::helper`]) is started with the environment variable
//! [`HELPER_ENV`] naming an fd, reads the request from it, creates the
//! container and writes the result back. A binary that embeds libcontainer
//! and may be multi-threaded calls [`run_if_helper`] first thing in `main`.
//! The `corral` binary does, so it can serve as the helper of any embedder.

use std::io::{Read, Write};

use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::container::{Container, ContainerBuilder};
use crate::error::{Error, Result};
use crate::exec::ExecOptions;

/// Environment variable that marks a helper process; its value is the fd of
/// the request channel.
pub const HELPER_ENV: &str = "_LIBCONTAINER_HELPER_FD";

/// Whether the calling process has more than one thread.
pub fn is_multithreaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() > 1)
        .unwrap_or(true)
}

/// What a helper is asked to do.
#[derive(Serialize, Deserialize)]
enum Request {
    /// Create a container.
    Create(ContainerBuilder),
    /// Start a process in container `id` under `root`.
    Exec {
        root: std::path::PathBuf,
        id: String,
        opts: Box<ExecOptions>,
    },
}

#[derive(Serialize, Deserialize)]
enum Reply {
    Ok,
    /// An exec'd process's host pid.
    Pid(i32),
    Err(WireError),
}

/// [`Error`] as it crosses the helper boundary: one variant per kind, so
/// the caller gets back the variant the helper had (the shim maps them to
/// NotFound, FailedPrecondition, AlreadyExists…). The matches below have
/// no wildcard arm: a new kind of [`Error`] does not compile until it is
/// carried here.
#[derive(Debug, Serialize, Deserialize)]
enum WireError {
    Spec {
        path: String,
        msg: String,
    },
    Unsupported {
        path: String,
        msg: String,
    },
    NotExist(String),
    Exists(String),
    InvalidId(String),
    BadState {
        id: String,
        status: String,
        msg: String,
    },
    NotRunning,
    Sys {
        op: String,
        errno: i32,
    },
    /// An I/O error: by its errno when it has one, else by its message.
    Io {
        op: String,
        path: std::path::PathBuf,
        errno: Option<i32>,
        msg: String,
    },
    Init(String),
    Hook {
        kind: String,
        index: usize,
        path: std::path::PathBuf,
        msg: String,
    },
    Other(String),
}

fn to_wire(e: &Error) -> WireError {
    match e {
        Error::Spec { path, msg } => WireError::Spec {
            path: path.clone(),
            msg: msg.clone(),
        },
        Error::Unsupported { path, msg } => WireError::Unsupported {
            path: path.clone(),
            msg: msg.clone(),
        },
        Error::NotExist(id) => WireError::NotExist(id.clone()),
        Error::Exists(id) => WireError::Exists(id.clone()),
        Error::InvalidId(id) => WireError::InvalidId(id.clone()),
        Error::BadState { id, status, msg } => WireError::BadState {
            id: id.clone(),
            status: status.clone(),
            msg: msg.clone(),
        },
        Error::NotRunning => WireError::NotRunning,
        Error::Sys { op, errno } => WireError::Sys {
            op: op.clone(),
            errno: *errno as i32,
        },
        Error::Io { op, path, source } => WireError::Io {
            op: op.to_string(),
            path: path.clone(),
            errno: source.raw_os_error(),
            msg: source.to_string(),
        },
        Error::Init(m) => WireError::Init(m.clone()),
        Error::Hook {
            kind,
            index,
            path,
            msg,
        } => WireError::Hook {
            kind: kind.clone(),
            index: *index,
            path: path.clone(),
            msg: msg.clone(),
        },
        Error::Other(m) => WireError::Other(m.clone()),
    }
}

fn from_wire(w: WireError) -> Error {
    match w {
        WireError::Spec { path, msg } => Error::Spec { path, msg },
        WireError::Unsupported { path, msg } => Error::Unsupported { path, msg },
        WireError::NotExist(id) => Error::NotExist(id),
        WireError::Exists(id) => Error::Exists(id),
        WireError::InvalidId(id) => Error::InvalidId(id),
        WireError::BadState { id, status, msg } => Error::BadState { id, status, msg },
        WireError::NotRunning => Error::NotRunning,
        WireError::Sys { op, errno } => Error::Sys {
            op,
            errno: nix::errno::Errno::from_raw(errno),
        },
        WireError::Io {
            op,
            path,
            errno,
            msg,
        } => Error::Io {
            op: op.into(),
            path,
            source: match errno {
                Some(n) => std::io::Error::from_raw_os_error(n),
                None => std::io::Error::other(msg),
            },
        },
        WireError::Init(m) => Error::Init(m),
        WireError::Hook {
            kind,
            index,
            path,
            msg,
        } => Error::Hook {
            kind,
            index,
            path,
            msg,
        },
        WireError::Other(m) => Error::Other(m),
    }
}

fn to_reply(e: &Error) -> Reply {
    Reply::Err(to_wire(e))
}

/// If this process was started as a libcontainer helper, serves the request
/// and exits; otherwise returns at once. Call it first thing in `main`.
pub fn run_if_helper() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    // The helper clones what enters containers: it runs from a sealed
    // image of its executable (this re-executes it once when it does not;
    // the request fd survives the exec).
    if let Err(e) = crate::process::seal::seal_self() {
        eprintln!("libcontainer helper: {e}");
        std::process::exit(2);
    }
    let Ok(v) = std::env::var(HELPER_ENV) else {
        return;
    };
    std::env::remove_var(HELPER_ENV);
    let code = match v.parse::<RawFd>() {
        Ok(fd) if fd > 2 => serve(fd),
        _ => 2,
    };
    std::process::exit(code);
}

/// The request channel of this helper process, which the container's init
/// (a clone of the helper) must close so that the caller sees it close.
pub(crate) static HELPER_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

fn serve(fd: RawFd) -> i32 {
    HELPER_FD.store(fd, std::sync::atomic::Ordering::SeqCst);
    // SAFETY: the parent passed this fd for us alone, named in HELPER_ENV.
    let mut sock = unsafe { UnixStream::from_raw_fd(fd) };
    let _ = crate::sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    let mut req = Vec::new();
    if sock.read_to_end(&mut req).is_err() {
        return 2;
    }
    let reply = match serde_json::from_slice::<Request>(&req) {
        Ok(Request::Create(b)) => match b.create_here().map(|(c, _)| c) {
            Ok(_) => Reply::Ok,
            Err(e) => to_reply(&e),
        },
        // The process outlives this helper: it is reparented to the
        // caller, its subreaper.
        Ok(Request::Exec { root, id, opts }) => {
            match Container::load(&root, &id).and_then(|c| c.exec(*opts)) {
                Ok(x) => Reply::Pid(x.pid),
                Err(e) => to_reply(&e),
            }
        }
        Err(e) => to_reply(&Error::Other(format!("bad helper request: {e}"))),
    };
    let ok = matches!(reply, Reply::Ok | Reply::Pid(_));
    let _ = serde_json::to_writer(&mut sock, &reply);
    let _ = sock.flush();
    if ok {
        0
    } else {
        1
    }
}

/// Runs `b.create_here()` in a single-threaded helper process started from
/// `helper`.
pub(crate) fn create_via_helper(helper: &Path, b: &ContainerBuilder) -> Result<()> {
    call(
        helper,
        &Request::Create(b.for_helper()),
        b.stdio_fds(),
        b.preserved_fds(),
    )
    .map(drop)
}

/// Runs `Container::exec` of container `id` in a single-threaded helper
/// process started from `helper`; the exec'd process's stdio are `stdio`.
/// Returns its host pid.
pub(crate) fn exec_via_helper(
    helper: &Path,
    root: &Path,
    id: &str,
    opts: &ExecOptions,
    stdio: Option<[RawFd; 3]>,
) -> Result<i32> {
    let req = Request::Exec {
        root: root.to_path_buf(),
        id: id.to_string(),
        opts: Box::new(opts.clone()),
    };
    match call(helper, &req, stdio, opts.preserve_fds)? {
        Some(pid) => Ok(pid),
        None => Err(Error::Other("the helper answered no pid".into())),
    }
}

/// Starts `helper` with the request channel, `stdio` as its stdio and fds
/// 3..3+`preserve` kept open; sends `req`, returns the pid of a `Pid` reply.
fn call(
    helper: &Path,
    req: &Request,
    stdio: Option<[RawFd; 3]>,
    preserve: u32,
) -> Result<Option<i32>> {
    let (mine, theirs) =
        UnixStream::pair().map_err(|e| Error::Other(format!("socketpair: {e}")))?;
    let their_fd = theirs.as_raw_fd();
    let mut cmd = Command::new(helper);
    cmd.env(HELPER_ENV, their_fd.to_string());
    if let Some([i, o, e]) = stdio {
        let dup = |fd: RawFd| -> Result<Stdio> {
            let f = nix::unistd::dup(unsafe_borrow(fd)).map_err(|e| Error::sys("dup stdio", e))?;
            Ok(Stdio::from(f))
        };
        cmd.stdin(dup(i)?).stdout(dup(o)?).stderr(dup(e)?);
    }
    // SAFETY: the closure runs between fork and exec in the child and only
    // calls fcntl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for fd in std::iter::once(their_fd).chain(3..3 + preserve as RawFd) {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 && fd == their_fd {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Other(format!("start libcontainer helper {helper:?}: {e}")))?;
    drop(theirs);
    let mut body = serde_json::to_vec(req).map_err(|e| Error::Other(e.to_string()))?;
    body.push(b'\n');
    let mut sock = mine;
    let sent = sock
        .write_all(&body)
        .and_then(|_| sock.shutdown(std::net::Shutdown::Write));
    let mut reply = Vec::new();
    let _ = sock.read_to_end(&mut reply);
    let status = child
        .wait()
        .map_err(|e| Error::Other(format!("wait for helper: {e}")))?;
    sent.map_err(|e| Error::Other(format!("send request to helper: {e}")))?;
    match serde_json::from_slice::<Reply>(&reply) {
        Ok(Reply::Ok) => Ok(None),
        Ok(Reply::Pid(p)) => Ok(Some(p)),
        Ok(Reply::Err(w)) => Err(from_wire(w)),
        Err(_) => Err(Error::Other(format!(
            "libcontainer helper {helper:?} gave no answer ({status}); does it call libcontainer::helper::run_if_helper() first in main?"
        ))),
    }
}

fn unsafe_borrow(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: the caller's stdio fds stay open for the duration of create,
    // which is as long as this borrow is used.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of error, as the helper would send it.
    fn every_kind() -> Vec<Error> {
        vec![
            Error::spec("process.cwd", "\"relative\" is not an absolute path"),
            Error::unsupported("linux.timeOffsets", "no time namespace"),
            Error::NotExist("c1".into()),
            Error::Exists("c2".into()),
            Error::InvalidId("../x".into()),
            Error::BadState {
                id: "c3".into(),
                status: "paused".into(),
                msg: "cannot exec in a paused container".into(),
            },
            Error::NotRunning,
            Error::sys("setns", nix::errno::Errno::EPERM),
            Error::io(
                "open",
                "/run/x",
                std::io::Error::from_raw_os_error(libc::ENOENT),
            ),
            Error::io("read", "/run/y", std::io::Error::other("short read")),
            Error::Init("mount /proc: EPERM".into()),
            Error::Hook {
                kind: "prestart".into(),
                index: 2,
                path: "/bin/hook".into(),
                msg: "exit status: 3".into(),
            },
            Error::Other("something else".into()),
        ]
    }

    #[test]
    fn every_error_kind_survives_the_helper_reply() {
        for e in every_kind() {
            let text = serde_json::to_vec(&to_reply(&e)).expect("serialize");
            let back = match serde_json::from_slice::<Reply>(&text).expect("deserialize") {
                Reply::Err(w) => from_wire(w),
                _ => panic!("not an error reply"),
            };
            // Same variant, same fields, same message.
            assert_eq!(format!("{back:?}"), format!("{e:?}"));
            assert_eq!(back.to_string(), e.to_string());
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&e),
                "{e:?}"
            );
        }
    }
}
