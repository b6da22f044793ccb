//! A process named so that a recycled pid is never mistaken for it: a
//! pidfd where this process may use one ([`crate::newer::pidfd`]), else
//! its pid and its start time (`/proc/PID/stat` field 22), checked when the
//! reference is taken and again right before each signal.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;

use crate::{store, sys};

/// A process, by pidfd or by pid and start time.
pub struct PidRef {
    pid: i32,
    start: u64,
    fd: Option<OwnedFd>,
}

impl PidRef {
    /// The process `pid` that started at `start` (clock ticks since boot),
    /// or, with `None`, whatever process has that pid now. ESRCH when it
    /// is gone, a zombie, or another process (a recycled pid).
    pub fn open(pid: i32, start: Option<u64>) -> Result<PidRef, Errno> {
        if pid <= 0 {
            return Err(Errno::ESRCH);
        }
        let fd = if crate::newer::pidfd() {
            Some(sys::pidfd_open(pid)?)
        } else {
            None
        };
        // With a pidfd, checking after opening it rules out a pid reused
        // in between; without one, this is the first of two checks.
        let (now, dead) = store::proc_start_time(pid).ok_or(Errno::ESRCH)?;
        if dead || start.is_some_and(|s| s != now) {
            return Err(Errno::ESRCH);
        }
        Ok(PidRef {
            pid,
            start: now,
            fd,
        })
    }

    /// The pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` (0: only asks whether it still exists). Without a
    /// pidfd the start time is checked right before `kill(2)`; what remains
    /// is the window between that read and the signal: the process would
    /// have to exit, be reaped, and its pid be handed to a new process in
    /// those few microseconds, a race a pidfd closes and this cannot.
    pub fn signal(&self, sig: i32) -> Result<(), Errno> {
        match &self.fd {
            Some(fd) => sys::pidfd_send_signal(fd.as_raw_fd(), sig),
            None => {
                if !store::same_process_alive(self.pid, self.start) {
                    return Err(Errno::ESRCH);
                }
                // SAFETY: integer arguments.
                Errno::result(unsafe { libc::kill(self.pid, sig) }).map(drop)
            }
        }
    }

    /// Whether it still exists (not reaped; with a pidfd, a zombie counts).
    pub fn alive(&self) -> bool {
        match &self.fd {
            Some(fd) => sys::pidfd_send_signal(fd.as_raw_fd(), 0).is_ok(),
            None => store::same_process_alive(self.pid, self.start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PidRef;

    #[test]
    fn refuses_another_start_time_and_a_dead_pid() {
        let me = std::process::id() as i32;
        let r = PidRef::open(me, None).expect("self");
        assert!(r.alive());
        r.signal(0).expect("signal 0 to self");
        let (start, _) = crate::store::proc_start_time(me).expect("own stat");
        assert!(PidRef::open(me, Some(start)).is_ok());
        assert_eq!(
            PidRef::open(me, Some(start + 1)).err(),
            Some(nix::errno::Errno::ESRCH)
        );
        assert_eq!(PidRef::open(0, None).err(), Some(nix::errno::Errno::ESRCH));
    }

    /// Both mechanisms: the reference signals the process while it lives
    /// and refuses once it is reaped (its pid free for reuse).
    #[test]
    fn signals_the_live_process_only() {
        for pidfd in [true, false] {
            let mut child = std::process::Command::new("sleep")
                .arg("10")
                .spawn()
                .expect("sleep");
            let pid = child.id() as i32;
            let (start, _) = crate::store::proc_start_time(pid).expect("child stat");
            let mut r = PidRef::open(pid, Some(start)).expect("child");
            if !pidfd {
                r.fd = None;
            }
            assert!(r.alive(), "pidfd {pidfd}");
            r.signal(libc::SIGKILL).expect("kill");
            child.wait().expect("wait");
            assert!(!r.alive(), "pidfd {pidfd}: reaped but alive");
            assert!(
                r.signal(0).is_err(),
                "pidfd {pidfd}: signalled a reaped pid"
            );
        }
    }
}
