//! The cgroup manager seam: the operations the rest of the library asks of
//! a container's cgroups, one [`Manager`] per back end (`cgroups::manager`
//! picks the one a container's record names).
//!
//! Why a trait object rather than an enum of back ends: the systemd back
//! end (see `cgroups/systemd/`) keeps its unit's name and the worker
//! holding a new scope, state the cgroupfs back ends have no use for, and
//! is paged in only when a container uses it; a `Box<dyn Manager>` lets it carry
//! that state without widening every other back end, and the one
//! allocation a call costs is nothing beside the control files it writes.
//! What every cgroupfs back end does alike (the entry of a new process,
//! listing and signalling its processes, removal) is the trait's provided
//! methods, which a back end overrides where its kernel interface differs
//! (v2's `cgroup.kill`).

use std::fs;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxResources};

use super::entry::Entry;
use super::plan::CgroupState;
use super::removal;
use super::stats::Stats;
use crate::error::{Error, Result};

/// The cgroups of one container, as one back end (v1, v2, systemd)
/// places, limits, freezes, reads, signals and removes them. A manager
/// works from the container's [`CgroupState`], which is what its record
/// (`state.json`) keeps: any command may make one again from the record.
pub trait Manager {
    /// The container's cgroups as its record keeps them: the directory in
    /// each hierarchy (for `state.json`, the bind mounts of its
    /// `/sys/fs/cgroup`) and the ones corral made.
    fn state(&self) -> &CgroupState;

    /// Whether the container's cgroups are cgroup v2's (the unified
    /// hierarchy holds its resources and [`Stats`] come from its files), as
    /// containerd's metrics types tell apart.
    fn unified(&self) -> bool;

    /// Creates the directories that do not exist yet (taking one made
    /// meanwhile by someone else as it is) and readies them for a process
    /// to join. On error, removes what it planned.
    fn create(&self) -> Result<()>;

    /// Opens what a new process needs to enter the container's cgroups
    /// (see [`Entry`]): the cgroup2 directory for `CLONE_INTO_CGROUP`, the
    /// v1 `tasks` files.
    fn entry(&self) -> Result<Entry> {
        Entry::open(self.state())
    }

    /// The container's first process is in its cgroups: a back end that
    /// held them with a process of its own (systemd's, whose new scope
    /// needs one) lets it go.
    fn joined(&self) {}

    /// Whether applying the device policy makes the cgroup manager write
    /// its own view of the other resources to the files again (systemd),
    /// so that create must write the config's resources once more after it.
    fn rewrites_files_on_devices(&self) -> bool {
        false
    }

    /// Applies the config's resources: at create in two steps (see
    /// `split_devices`; with `update` false), or as a change to a
    /// running container (`update`).
    fn apply_resources(&self, res: Option<&LinuxResources>, update: bool) -> Result<()>;

    /// Applies the container's device policy (`device_policy`) at
    /// create, once its device nodes exist. It applies whether or not the
    /// config lists rules, so that a process with `CAP_MKNOD` cannot open a
    /// host device the policy does not name. Not applied when the config
    /// lists no rules and nothing can enforce one: a host without the
    /// means, or a caller that is not root (rootless: the container is in a
    /// user namespace, where the kernel refuses mknod anyway).
    fn apply_devices(&self, rules: &[LinuxDeviceCgroup], nodes: &[LinuxDevice]) -> Result<()>;

    /// Freezes (`true`) or thaws every process of the container, waiting
    /// until the kernel says so.
    fn freeze(&self, frozen: bool) -> Result<()>;

    /// Whether the container is frozen.
    fn is_frozen(&self) -> bool;

    /// The container's resource usage.
    fn stats(&self) -> Stats;

    /// Every pid in the container's cgroup and in the cgroups below it
    /// (an `exec --cgroup` process, or sub-cgroups the container made in
    /// its cgroup namespace), from the first hierarchy that has one.
    fn pids(&self) -> Result<Vec<i32>> {
        for dir in self.state().paths.values() {
            if dir.join("cgroup.procs").exists() {
                let mut out = Vec::new();
                procs_below(dir, &mut out, 0);
                return Ok(out);
            }
        }
        Ok(Vec::new())
    }

    /// Sends `sig` to every process in the container's cgroup.
    fn signal_all(&self, sig: i32) -> Result<()> {
        signal_each(self, sig)
    }

    /// Refuses to put a container into a cgroup that is not its own to
    /// take: one that already has processes (runc 1.2: "container's cgroup
    /// is not empty"; two containers in one cgroup share limits and kill
    /// each other at delete) or one that is frozen (the init would freeze
    /// on joining and `create` would wait for it forever; runc:
    /// "container's cgroup unexpectedly frozen"). Directories corral just
    /// made pass.
    fn check_joinable(&self) -> Result<()> {
        let st = self.state();
        let found: Vec<&PathBuf> = st
            .paths
            .values()
            .filter(|d| !st.created.contains(d))
            .collect();
        if found.is_empty() {
            return Ok(());
        }
        for dir in &found {
            let procs = dir.join("cgroup.procs");
            if let Ok(text) = fs::read_to_string(&procs) {
                let n = text.lines().filter(|l| !l.trim().is_empty()).count();
                if n > 0 {
                    return Err(Error::Other(format!(
                        "linux.cgroupsPath: container's cgroup is not empty: {n} process(es) found in {}",
                        dir.display()
                    )));
                }
            }
        }
        if self.is_frozen() {
            return Err(Error::Other(
                "linux.cgroupsPath: container's cgroup unexpectedly frozen (thaw it first)".into(),
            ));
        }
        Ok(())
    }

    /// Removes the directories create made, children first, retrying while
    /// the last processes finish exiting.
    fn remove(&self) -> Result<()> {
        removal::remove(self.state())
    }
}

/// Deepest cgroup nesting walked below a container's cgroup (the kernel's
/// own default limit, cgroup.max.depth, is unlimited; this bounds a walk
/// over a tree the container may have made).
pub(crate) const MAX_DEPTH: usize = 64;

/// The pids of `dir`'s cgroup.procs and of every cgroup below it.
fn procs_below(dir: &std::path::Path, out: &mut Vec<i32>, depth: usize) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if depth >= MAX_DEPTH {
        return;
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            procs_below(&e.path(), out, depth + 1);
        }
    }
}

/// Signals every pid of the container one by one (a frozen process gets
/// the signal only once thawed: after SIGKILL the container is thawed).
pub(crate) fn signal_each<M: Manager + ?Sized>(m: &M, sig: i32) -> Result<()> {
    let frozen = m.is_frozen();
    for pid in m.pids()? {
        // SAFETY-free: nix's kill. A process that exited meanwhile is fine.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::try_from(sig).ok(),
        );
    }
    if frozen && sig == libc::SIGKILL {
        m.freeze(false)?;
    }
    Ok(())
}
