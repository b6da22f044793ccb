//! The helper's side: a process started with [`HELPER_ENV`] reads one
//! request, creates the container or starts the exec'd process, writes the
//! reply and exits.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::container::Container;
use crate::error::Error;
use crate::process::create;
use crate::process::helper::request_fd;
use crate::process::helper::wire::{Reply, Request, WireError, HELPER_ENV};

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

fn serve(fd: RawFd) -> i32 {
    request_fd::set(fd);
    // SAFETY: the parent passed this fd for us alone, named in HELPER_ENV.
    let mut sock = unsafe { UnixStream::from_raw_fd(fd) };
    let _ = crate::sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    let mut req = Vec::new();
    if sock.read_to_end(&mut req).is_err() {
        return 2;
    }
    let reply = match serde_json::from_slice::<Request>(&req) {
        Ok(Request::Create(o)) => match create::create(&o) {
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

fn to_reply(e: &Error) -> Reply {
    Reply::Err(WireError::from(e))
}
