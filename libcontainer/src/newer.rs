//! The system calls newer than Linux 4.18 that corral uses and falls back
//! from: whether this process may use each one, probed once per process
//! (the first question asks the kernel; the answer is remembered in an
//! atomic, and inherited by every fork), never by kernel version.
//!
//! A call is usable unless the kernel answers ENOSYS (an older kernel, or
//! a seccomp profile that says so, as Docker's does for `clone3`) or EPERM
//! (a seccomp profile that predates the call and denies what it does not
//! know). Each probe passes arguments the kernel's own checks refuse
//! before the call acts (`sys::syscall_usable`), so probing
//! changes nothing.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::sys;

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

/// One remembered answer.
struct Probe {
    state: AtomicU8,
    nrs: &'static [libc::c_long],
}

impl Probe {
    const fn new(nrs: &'static [libc::c_long]) -> Probe {
        Probe {
            state: AtomicU8::new(UNKNOWN),
            nrs,
        }
    }

    fn get(&self) -> bool {
        match self.state.load(Ordering::Relaxed) {
            YES => true,
            NO => false,
            _ => {
                let ok = self.nrs.iter().all(|&nr| sys::syscall_usable(nr));
                self.state
                    .store(if ok { YES } else { NO }, Ordering::Relaxed);
                ok
            }
        }
    }
}

static CLONE3: Probe = Probe::new(&[libc::SYS_clone3]);
static PIDFD: Probe = Probe::new(&[libc::SYS_pidfd_open, libc::SYS_pidfd_send_signal]);
static CLOSE_RANGE: Probe = Probe::new(&[libc::SYS_close_range]);

/// `clone3` (Linux 5.3): else `clone(2)`, and the cgroup2 move by
/// `cgroup.procs` instead of `CLONE_INTO_CGROUP`.
pub fn clone3() -> bool {
    CLONE3.get()
}

/// `pidfd_open` and `pidfd_send_signal` (Linux 5.3 and 5.1): else a pid
/// with its start time checked before and after.
pub fn pidfd() -> bool {
    PIDFD.get()
}

/// `close_range` (Linux 5.9; `CLOSE_RANGE_CLOEXEC` 5.11): else a walk of
/// `/proc/self/fd`. Only reported: the fd sweep (`sys::cloexec_all_from`) tries it on
/// every call, since the container's seccomp filter may deny it in a
/// process that probed before loading it.
pub fn close_range() -> bool {
    CLOSE_RANGE.get()
}
