//! Creating and joining namespaces: mount, uts, ipc, net, pid, user, cgroup
//! and time.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Result, SysContext};
use crate::sys;

/// The name the kernel uses under `/proc/PID/ns/` for a namespace type.
pub fn name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The `CLONE_NEW*` flag of a namespace type.
pub fn flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// Whether this kernel has the namespace type.
pub fn supported(t: LinuxNamespaceType) -> bool {
    Path::new("/proc/self/ns").join(name(t)).exists()
}

/// Checks that `path` is a namespace file of type `t`.
pub fn check_ns_file(path: &Path, t: LinuxNamespaceType) -> std::result::Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{path:?}: {e}"))?;
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let magic = sys::fs_magic(f.as_raw_fd()).map_err(|e| format!("{path:?}: {e}"))?;
    if magic != NSFS_MAGIC {
        return Err(format!("{path:?} is not a namespace file"));
    }
    let ty = sys::ns_type(f.as_raw_fd()).map_err(|e| format!("{path:?}: {e}"))?;
    if ty != flag(t) {
        return Err(format!("{path:?} is not a {} namespace", name(t)));
    }
    Ok(())
}

/// What to do with namespaces for one container.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// `CLONE_NEW*` flags of the namespaces to create.
    pub create: i32,
    /// Namespaces to join, by type and path.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl Plan {
    /// Reads the plan from `linux.namespaces`.
    pub fn from_spec(spec: &Spec) -> Plan {
        let mut plan = Plan::default();
        let list = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
        for ns in list.into_iter().flatten() {
            match ns.path() {
                Some(p) => plan.join.push((ns.typ(), p.clone())),
                None => plan.create |= flag(ns.typ()),
            }
        }
        plan
    }

    /// Whether the namespace of type `t` is created anew.
    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.create & flag(t) != 0
    }

    /// Whether the container gets its own namespace of type `t`, new or joined.
    pub fn owns(&self, t: LinuxNamespaceType) -> bool {
        self.creates(t) || self.join.iter().any(|(j, _)| *j == t)
    }
}

/// Joins every namespace of `join`: the files are opened first (a joined
/// mount namespace would change how later paths resolve), then the user
/// namespace is entered first so that the others are entered with its
/// privileges.
pub fn join_all(join: &[(LinuxNamespaceType, PathBuf)]) -> Result<()> {
    let mut opened: Vec<(LinuxNamespaceType, OwnedFd, &Path)> = Vec::new();
    for (t, p) in join {
        let f = std::fs::File::open(p).map_err(|e| crate::Error::io("open namespace", p, e))?;
        opened.push((*t, f.into(), p));
    }
    opened.sort_by_key(|(t, _, _)| if *t == LinuxNamespaceType::User { 0 } else { 1 });
    for (t, fd, p) in &opened {
        sys::setns(fd.as_raw_fd(), flag(*t))
            .ctx(|| format!("join {} namespace {p:?}", name(*t)))?;
    }
    Ok(())
}
