//! The caller's side of the helper: starts the helper binary with the
//! request channel and the container's stdio, sends the request and turns
//! the reply back into a result.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::process::create::CreateOptions;
use crate::process::exec::ExecOptions;
use crate::process::helper::wire::{Reply, Request, HELPER_ENV};

/// Whether the calling process has more than one thread.
pub fn is_multithreaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() > 1)
        .unwrap_or(true)
}

/// Runs the create of `o` in a single-threaded helper process started
/// from `helper` (`process::create` there); the container's stdio are
/// `o.stdio`.
pub(crate) fn create(helper: &Path, o: &CreateOptions) -> Result<()> {
    call(helper, &Request::Create(o.clone()), o.stdio, o.preserve_fds).map(drop)
}

/// Runs `Container::exec` of container `id` in a single-threaded helper
/// process started from `helper`; the exec'd process's stdio are `stdio`.
/// Returns its host pid.
pub(crate) fn exec(
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
        Ok(Reply::Err(w)) => Err(Error::from(w)),
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
