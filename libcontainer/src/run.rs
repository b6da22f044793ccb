//! What a foreground `run` needs beyond create and start: being the
//! subreaper of the container, forwarding signals to it and waiting for it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

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

/// Waits for the child `pid` (this process's child, or an orphan it
/// inherited as subreaper) to exit and reaps it; only that pid, so other
/// waiters in the process keep theirs. Returns the exit status as a shell
/// reports it: the exit code, or 128 + the signal that killed it.
///
/// By `waitid(P_PIDFD)` where pidfds are usable, else (Linux < 5.4, or
/// pidfd_open denied) `waitpid(pid)`: the same guarantee, since a child's
/// pid is not reused before it is reaped, and this reaps it.
pub fn wait_exit(pid: i32) -> Result<i32> {
    let by_pidfd = if crate::newer::pidfd() {
        let fd = sys::pidfd_open(pid).ctx(|| format!("pidfd_open {pid}"))?;
        match sys::waitid_pidfd(fd.as_raw_fd()) {
            // Linux 5.3 has pidfd_open but not P_PIDFD.
            Err(nix::errno::Errno::EINVAL) => None,
            r => Some(r.ctx(|| format!("wait for {pid}"))?),
        }
    } else {
        None
    };
    let st = match by_pidfd {
        Some(st) => st,
        None => loop {
            let mut st = 0;
            // SAFETY: `st` is a valid int on our stack for the call.
            match nix::errno::Errno::result(unsafe { libc::waitpid(pid, &mut st, 0) }) {
                Ok(_) => break st,
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::sys(format!("wait for {pid}"), e)),
            }
        },
    };
    Ok(if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else {
        128 + libc::WTERMSIG(st)
    })
}

/// Sends `sig` to process `pid` (a child of the caller) through a pidfd,
/// or without one through [`crate::process::pidref::PidRef`]: its start
/// time read, then checked again right before `kill(2)`. A child's pid is
/// not reused before the caller reaps it, so the race that remains without
/// a pidfd is only the caller's own: another of its threads reaping the
/// child between the check and the signal.
pub fn signal(pid: i32, sig: i32) -> Result<()> {
    let p = crate::process::pidref::PidRef::open(pid, None)
        .ctx(|| format!("find process {pid} to signal"))?;
    p.signal(sig).ctx(|| format!("signal {sig} to {pid}"))
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
        self.wait_with_console(pid, None)
    }

    /// Like [`Forwarder::wait`], and with a pty master: copies the caller's
    /// stdin to the terminal and the terminal to the caller's stdout (stdin
    /// in raw mode when it is a terminal itself, window size followed on
    /// SIGWINCH).
    pub fn wait_with_console(self, pid: i32, console: Option<OwnedFd>) -> Result<i32> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let raw = console.as_ref().and_then(|_| RawMode::enter());
        if let Some(m) = &console {
            follow_winsize(m);
        }
        let mut stdin_open = console.is_some();
        let mut master_open = console.is_some();
        let code = loop {
            if let Some(code) = reap(pid)? {
                break code;
            }
            let mut fds = vec![PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN)];
            let stdin = std::io::stdin();
            if let (Some(m), true) = (&console, master_open) {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            }
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::sys("poll", e)),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            let mut i = 1;
            if let (Some(m), true) = (&console, master_open) {
                if ready[i] && !copy(m.as_fd(), std::io::stdout().as_fd()) {
                    master_open = false;
                }
                i += 1;
            }
            if stdin_open && ready.get(i).copied().unwrap_or(false) {
                if let Some(m) = &console {
                    if !copy(std::io::stdin().as_fd(), m.as_fd()) {
                        stdin_open = false;
                    }
                }
            }
            if ready[0] {
                match self.sfd.read_signal() {
                    Ok(Some(si)) => {
                        let sig = si.ssi_signo as i32;
                        if sig == libc::SIGWINCH {
                            if let Some(m) = &console {
                                follow_winsize(m);
                            }
                        } else if sig != libc::SIGCHLD {
                            if let Ok(s) = Signal::try_from(sig) {
                                let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
                            }
                        }
                    }
                    Ok(None) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(Error::sys("read signalfd", e)),
                }
            }
        };
        // What the container wrote last is still in the pty.
        if let (Some(m), true) = (&console, master_open) {
            let _ = nix::fcntl::fcntl(
                m,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
            while copy(m.as_fd(), std::io::stdout().as_fd()) {}
        }
        drop(raw);
        let _ = forwarded().thread_unblock();
        Ok(code)
    }
}

/// Copies one read's worth from `from` to `to`; false at EOF or error.
fn copy(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match nix::unistd::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

/// Gives the pty the caller's terminal size, if stdin is a terminal.
fn follow_winsize(master: &OwnedFd) {
    if let Ok((rows, cols)) = sys::get_winsize(0) {
        let _ = sys::set_winsize(master.as_raw_fd(), rows, cols);
    }
}

/// The caller's terminal in raw mode, restored on drop.
struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.0,
        );
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

/// Reaps the zombie children of this process whose pids are not in `keep`
/// (orphans reparented to a subreaper whose exits nobody waits for).
/// Returns how many it reaped.
pub fn reap_orphans(keep: &std::collections::HashSet<i32>) -> usize {
    let me = std::process::id() as i32;
    let mut n = 0;
    let Ok(all) = procfs::process::all_processes() else {
        return 0;
    };
    for p in all.flatten() {
        let pid = p.pid();
        if keep.contains(&pid) {
            continue;
        }
        let Ok(stat) = p.stat() else {
            continue;
        };
        if stat.state == 'Z' && stat.ppid == me {
            let r = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            if matches!(r, Ok(s) if s.pid().is_some()) {
                n += 1;
            }
        }
    }
    n
}
