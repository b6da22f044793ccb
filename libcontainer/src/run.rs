//! What a foreground `run` needs beyond create and start: being the
//! subreaper of the container, forwarding signals to it and waiting for it.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result, SysContext};
use crate::sys;

/// Makes the caller the subreaper of its descendants, so that an init forked
/// by an intermediate process is still its child to wait for.
pub fn become_subreaper() -> Result<()> {
    sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        .map(drop)
        .ctx(|| "become child subreaper".to_string())
}

fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for s in Signal::iterator() {
        if !matches!(
            s,
            Signal::SIGKILL
                | Signal::SIGSTOP
                | Signal::SIGSEGV
                | Signal::SIGBUS
                | Signal::SIGILL
                | Signal::SIGFPE
                | Signal::SIGABRT
                | Signal::SIGTRAP
                | Signal::SIGSYS
        ) {
            set.add(s);
        }
    }
    set
}

/// Blocks the signals the caller will forward (call before `start`, so that
/// none is lost), and returns a handle that forwards them.
pub struct Forwarder {
    sfd: SignalFd,
}

impl Forwarder {
    /// Blocks every forwardable signal and SIGCHLD in the calling thread.
    pub fn new() -> Result<Forwarder> {
        let set = forwarded();
        set.thread_block().ctx(|| "block signals".to_string())?;
        let sfd =
            SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).ctx(|| "signalfd".to_string())?;
        Ok(Forwarder { sfd })
    }

    /// Forwards every signal to `pid` until it exits; reaps orphans on the
    /// way. Returns the exit code, or 128+N when killed by signal N.
    pub fn wait(self, pid: i32) -> Result<i32> {
        loop {
            if let Some(code) = reap(pid)? {
                let _ = forwarded().thread_unblock();
                return Ok(code);
            }
            match self.sfd.read_signal() {
                Ok(Some(si)) => {
                    let sig = si.ssi_signo as i32;
                    if sig != libc::SIGCHLD {
                        if let Ok(s) = Signal::try_from(sig) {
                            let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
                        }
                    }
                }
                Ok(None) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::sys("read signalfd", e)),
            }
        }
    }
}

/// Reaps every exited child; the exit code of `pid` if it was among them.
fn reap(pid: i32) -> Result<Option<i32>> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => return Ok(Some(c)),
            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => {
                return Ok(Some(128 + s as i32))
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => {
                return Err(Error::Other(format!(
                    "container init {pid} is not a child of this process"
                )))
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("waitpid", e)),
        }
    }
}
