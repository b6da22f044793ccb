//! Which mechanism this host gives each feature corral has a fallback
//! for, as `corral check` reports it: the newer system call, or the older
//! way that keeps the same guarantee. Each answer comes from what the
//! kernel (and any seccomp filter on this process) answers, never from the
//! kernel's version.

use std::fmt;

use crate::sys;

/// One feature and the mechanism this process uses for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mechanism {
    /// The feature, named for the newer system calls.
    pub feature: &'static str,
    /// Whether the newer system calls are there and answer.
    pub newer: bool,
    /// What corral uses here.
    pub uses: &'static str,
}

impl Mechanism {
    fn new(feature: &'static str, newer: bool, with: &'static str, without: &'static str) -> Self {
        Mechanism {
            feature,
            newer,
            uses: if newer { with } else { without },
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = if self.newer { "yes" } else { "no" };
        write!(f, "{}: {yes} — {}", self.feature, self.uses)
    }
}

/// Path resolution in the rootfs and in procfs: `openat2(RESOLVE_*)`, or
/// the userspace resolver that walks one component at a time.
pub fn path_resolution() -> Mechanism {
    let newer = sys::resolve::openat2_in_use();
    Mechanism {
        feature: "openat2",
        newer,
        uses: if newer {
            "openat2 with RESOLVE_IN_ROOT"
        } else {
            "userspace resolver (O_PATH|O_NOFOLLOW walk)"
        },
    }
}

/// Whether a new mount API call answers here: any error but ENOSYS and
/// EPERM (the arguments are invalid on purpose) means it exists.
fn answers(nr: libc::c_long) -> bool {
    sys::syscall_usable(nr)
}

/// Mounts: detached ones (`open_tree`, `move_mount`, `fsopen`/`fsmount`),
/// or classic mount(2) onto the target's fd through `/proc/self/fd`.
pub fn mount_api() -> Mechanism {
    let newer = [
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
    ]
    .into_iter()
    .all(answers);
    Mechanism {
        feature: "new mount API",
        newer,
        uses: if newer {
            "detached mounts (open_tree, fsopen, move_mount)"
        } else {
            "mount(2) through /proc/self/fd, remounted and checked by fd"
        },
    }
}

/// Mount attributes: `mount_setattr` on a detached tree (idmapped and
/// recursive attributes), or a remount through the new mount's fd, with
/// idmapped mounts and recursive attributes refused.
pub fn mount_setattr() -> Mechanism {
    let newer = answers(libc::SYS_mount_setattr);
    Mechanism {
        feature: "mount_setattr",
        newer,
        uses: if newer {
            "mount_setattr (idmapped mounts, recursive attributes)"
        } else {
            "remount through the mount's fd; idmapped mounts and rro/rnosuid… refused"
        },
    }
}

/// Processes: `clone3` (placing the child in its cgroup2 directory), or
/// `clone(2)` and the child joining by `cgroup.procs` ([`crate::newer`]).
pub fn clone3() -> Mechanism {
    Mechanism::new(
        "clone3",
        crate::newer::clone3(),
        "clone3 (with CLONE_INTO_CGROUP where a cgroup2 directory is joined)",
        "clone + cgroup.procs",
    )
}

/// Pinning a process: a pidfd, or its pid and start time, checked again
/// right before each signal.
pub fn pidfd() -> Mechanism {
    Mechanism::new(
        "pidfd",
        crate::newer::pidfd(),
        "pidfd_open, pidfd_send_signal, waitid(P_PIDFD)",
        "pid + start time (/proc/PID/stat), checked again right before each signal",
    )
}

/// The fd sweep before exec: `close_range(CLOSE_RANGE_CLOEXEC)`, or a walk
/// of `/proc/self/fd`.
pub fn close_range() -> Mechanism {
    Mechanism::new(
        "close_range",
        crate::newer::close_range(),
        "close_range(CLOSE_RANGE_CLOEXEC)",
        "/proc/self/fd walk",
    )
}

/// Every feature above, in the order `corral check` lists them.
pub fn all() -> Vec<Mechanism> {
    vec![
        clone3(),
        pidfd(),
        close_range(),
        path_resolution(),
        mount_api(),
        mount_setattr(),
    ]
}

#[cfg(test)]
mod line_tests {
    use super::Mechanism;

    #[test]
    fn a_line_names_the_feature_and_the_way() {
        let m = Mechanism::new("clone3", false, "clone3", "clone + cgroup.procs");
        assert_eq!(m.to_string(), "clone3: no — clone + cgroup.procs");
        let m = Mechanism::new("pidfd", true, "pidfd_open", "pid + start time");
        assert_eq!(m.to_string(), "pidfd: yes — pidfd_open");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mechanism_names_its_feature_and_how() {
        for m in all() {
            let s = m.to_string();
            assert!(s.starts_with(m.feature), "{s}");
            assert!(
                s.contains(if m.newer { ": yes — " } else { ": no — " }),
                "{s}"
            );
            assert!(s.ends_with(m.uses), "{s}");
        }
    }

    /// The answer of each probe in a child under a seccomp filter that
    /// gives `errno` for openat2, open_tree and mount_setattr: a bit per
    /// feature that still reads as "newer" (0 when all read as missing).
    fn probed_under_denial(errno: u32) -> i32 {
        let deny = libc::SECCOMP_RET_ERRNO | errno;
        let ins = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        };
        let mut prog = vec![ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0)];
        for nr in [
            libc::SYS_openat2,
            libc::SYS_open_tree,
            libc::SYS_mount_setattr,
        ] {
            prog.push(ins(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                0,
                1,
                nr as u32,
            ));
            prog.push(ins(libc::BPF_RET | libc::BPF_K, 0, 0, deny));
        }
        prog.push(ins(
            libc::BPF_RET | libc::BPF_K,
            0,
            0,
            libc::SECCOMP_RET_ALLOW,
        ));
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_mut_ptr(),
        };
        // SAFETY: the child makes only system calls (prctl, the probes,
        // _exit) and allocates nothing: the probes return static strings.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: `fprog` points at `prog`, alive in the child's copy.
            let ok = unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                    && libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        &fprog as *const libc::sock_fprog,
                    ) == 0
            };
            let code = if !ok {
                64
            } else {
                (path_resolution().newer as i32)
                    | (mount_api().newer as i32) << 1
                    | (mount_setattr().newer as i32) << 2
            };
            // SAFETY: ends the child without running the parent's atexit.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        libc::WEXITSTATUS(status)
    }

    /// Each probe reads a seccomp denial (ENOSYS as an old kernel, EPERM
    /// as a profile) as "missing", so the fallback is what check reports.
    #[test]
    fn a_denied_call_reads_as_the_fallback() {
        for errno in [libc::ENOSYS, libc::EPERM] {
            assert_eq!(probed_under_denial(errno as u32), 0, "errno {errno}");
        }
        // Unfiltered, a kernel that has mount_setattr (5.12) has the
        // others too, and every probe says so.
        if sys::has_syscall(libc::SYS_mount_setattr) {
            assert!(all().iter().all(|m| m.newer), "{:?}", all());
        }
    }
}
