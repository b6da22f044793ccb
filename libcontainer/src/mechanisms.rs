//! Which mechanism this host gives each feature corral has a fallback
//! for, as `corral check` reports it: the newer system call, or the older
//! way that keeps the same guarantee. Each answer comes from what the
//! kernel (and any seccomp filter on this process) answers, never from the
//! kernel's version.

use std::fmt;

use crate::sys;

/// One feature and the mechanism this process uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mechanism {
    /// The feature, named for the newer system calls.
    pub feature: &'static str,
    /// Whether the newer system calls are there and answer.
    pub native: bool,
    /// What corral uses here.
    pub how: &'static str,
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = if self.native { "yes" } else { "no" };
        write!(f, "{}: {yes} — {}", self.feature, self.how)
    }
}

/// Path resolution in the rootfs and in procfs: `openat2(RESOLVE_*)`, or
/// the userspace resolver that walks one component at a time.
pub fn path_resolution() -> Mechanism {
    let native = sys::resolve::openat2_in_use();
    Mechanism {
        feature: "openat2",
        native,
        how: if native {
            "openat2 with RESOLVE_IN_ROOT"
        } else {
            "userspace resolver (O_PATH|O_NOFOLLOW walk)"
        },
    }
}

/// Whether a new mount API call answers here: any error but ENOSYS and
/// EPERM (the arguments are invalid on purpose) means it exists.
fn answers(nr: libc::c_long) -> bool {
    sys::syscall_answers(nr)
}

/// Mounts: detached ones (`open_tree`, `move_mount`, `fsopen`/`fsmount`),
/// or classic mount(2) onto the target's fd through `/proc/self/fd`.
pub fn mount_api() -> Mechanism {
    let native = [
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
    ]
    .into_iter()
    .all(answers);
    Mechanism {
        feature: "new mount API",
        native,
        how: if native {
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
    let native = answers(libc::SYS_mount_setattr);
    Mechanism {
        feature: "mount_setattr",
        native,
        how: if native {
            "mount_setattr (idmapped mounts, recursive attributes)"
        } else {
            "remount through the mount's fd; idmapped mounts and rro/rnosuid… refused"
        },
    }
}

/// Every feature above, in the order `corral check` lists them.
pub fn all() -> Vec<Mechanism> {
    vec![path_resolution(), mount_api(), mount_setattr()]
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
                s.contains(if m.native { ": yes — " } else { ": no — " }),
                "{s}"
            );
            assert!(s.ends_with(m.how), "{s}");
        }
        // This host (Linux ≥ 5.12, no filter on the test) has them all.
        if sys::syscall_answers(libc::SYS_mount_setattr) {
            assert!(mount_setattr().native);
        }
    }
}
