//! The systemd back end (`--systemd-cgroup`, the shim's `SystemdCgroup`):
//! the container's cgroup is a transient scope systemd made for it, as
//! runc's and crun's systemd drivers do.
//!
//! - placement ([`plan`]): `linux.cgroupsPath` in systemd's
//!   `slice:prefix:name` form (runc's defaults when empty), recorded in
//!   the [`CgroupState`] with the unit's name, so every later command picks
//!   this back end again from `state.json`;
//! - `create`: `StartTransientUnit` with `Delegate=yes` and, as the
//!   scope's first process, a worker of corral's own ([`bus::Worker`]):
//!   the init is then cloned straight into the scope's cgroup like any
//!   other (`Entry`), and the worker goes ([`Manager::joined`]). On v1
//!   hierarchies systemd does not manage (cpuset, freezer, hugetlb,
//!   net_cls, net_prio, perf_event, rdma, misc), corral makes the
//!   directories itself, at the same path, as runc does;
//! - resources and devices: unit properties (`props`), then every file
//!   through the v1 or v2 back end, which also writes what systemd cannot
//!   express; `update` the same way (`SetUnitProperties`);
//! - freeze, stats, pids, signals: the v1 or v2 back end, on the scope's
//!   directories;
//! - `remove`: the scope stopped, a failed one (an OOM kill) reset, and
//!   the directories corral made removed.
//!
//! systemd is reached only by a container that uses this back end: the
//! D-Bus client's code is never paged in for the others.

mod bus;
mod props;
mod unit;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxResources};
use serde::{Deserialize, Serialize};

use super::devices::device_policy;
use super::layout::{mode, Hierarchy, Mode};
use super::manager::Manager;
use super::plan::{make_dirs, push_missing, CgroupState};
use super::stats::Stats;
use super::{removal, v1, v2};
use crate::error::{Error, Result};

/// The systemd unit holding a container's cgroups, as its record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemdUnit {
    /// The transient scope, e.g. `docker-ID.scope`.
    pub unit: String,
    /// Its slice, e.g. `system.slice`.
    pub slice: String,
}

/// Whether systemd makes (and removes) the container's directory in the
/// hierarchy `key`: the unified one, its own `name=systemd`, and the v1
/// controllers it delegates. corral makes the rest.
fn systemd_manages(key: &str) -> bool {
    key == "unified"
        || key == "name=systemd"
        || key.split(',').all(|c| {
            matches!(
                c,
                "cpu" | "cpuacct" | "blkio" | "memory" | "devices" | "pids"
            )
        })
}

/// The container's cgroups under systemd for `linux.cgroupsPath`: the
/// scope's directory in every hierarchy, and among them the ones corral
/// itself will make (hierarchies systemd does not manage).
pub(crate) fn plan(hs: &[Hierarchy], cgroups_path: Option<&Path>, id: &str) -> Result<CgroupState> {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        return Err(Error::unsupported(
            "--systemd-cgroup",
            "the systemd cgroup driver for a caller that is not root (the user's own systemd) is not supported yet",
        ));
    }
    let text = cgroups_path.map(|p| {
        p.to_str()
            .ok_or_else(|| Error::spec("linux.cgroupsPath", format!("{p:?} is not UTF-8")))
    });
    let text = text.transpose()?;
    let place = unit::parse(text, id, root)?;
    let mut paths = BTreeMap::new();
    let mut created = Vec::new();
    for h in hs {
        let inside = Path::new(&place.cgroup);
        let below = inside.strip_prefix(&h.root).unwrap_or(inside);
        let dir = h.mountpoint.join(below.strip_prefix("/").unwrap_or(below));
        if !systemd_manages(&h.key) {
            push_missing(&h.mountpoint, &dir, &mut created);
        }
        paths.insert(h.key.clone(), dir);
    }
    Ok(CgroupState {
        paths,
        created,
        v2: mode(hs) == Mode::Unified,
        systemd: Some(SystemdUnit {
            unit: place.unit,
            slice: place.slice,
        }),
    })
}

/// The systemd back end of one container (see the module's comment).
pub struct SystemdManager<'a> {
    st: &'a CgroupState,
    unit: &'a SystemdUnit,
    /// The files: the v2 or v1 back end on the same directories.
    files: Box<dyn Manager + 'a>,
    /// The scope's first process, until the init is in.
    worker: RefCell<Option<bus::Worker>>,
}

impl<'a> SystemdManager<'a> {
    /// The systemd manager of the container whose cgroups are `st` (a
    /// record whose `systemd` is set).
    pub fn new(st: &'a CgroupState, unit: &'a SystemdUnit) -> Self {
        let files: Box<dyn Manager + 'a> = if st.v2 {
            Box::new(v2::V2Manager::new(st))
        } else {
            Box::new(v1::V1Manager::new(st))
        };
        SystemdManager {
            st,
            unit,
            files,
            worker: RefCell::new(None),
        }
    }

    /// The scope's cgroup path below systemd's root, as planned.
    fn planned_cgroup(&self) -> Option<PathBuf> {
        let hs = super::hierarchies().ok()?;
        let h = hs.iter().find(|h| systemd_manages(&h.key))?;
        let dir = self.st.paths.get(&h.key)?;
        let rel = dir.strip_prefix(&h.mountpoint).ok()?;
        Some(h.root.join(rel))
    }
}

impl Manager for SystemdManager<'_> {
    fn state(&self) -> &CgroupState {
        self.st
    }

    fn unified(&self) -> bool {
        self.st.v2
    }

    /// Starts the scope (refusing a unit that is already running: another
    /// container's), with a worker of corral's as its first process, then
    /// makes the directories systemd does not.
    fn create(&self) -> Result<()> {
        let unit = self.unit.unit.clone();
        let slice = self.unit.slice.clone();
        let v2 = self.st.v2;
        let want = self.planned_cgroup();
        let worker = bus::run("start the container's scope", true, |b, pid| {
            match b.active_state(&unit)?.as_deref() {
                None | Some("inactive") => {}
                Some("failed") => b.stop_and_forget(&unit)?,
                Some(s) => {
                    return Err(Error::spec(
                        "linux.cgroupsPath",
                        format!(
                            "the systemd unit {unit} exists already ({s}): another container's"
                        ),
                    ))
                }
            }
            b.start_scope(&unit, props::scope(&unit, &slice, pid, v2))?;
            let got = b.control_group(&unit)?;
            match &want {
                Some(w) if Path::new(&got) != w => Err(Error::Other(format!(
                    "systemd put {unit} in {got}, not in {} where corral looks for it \
                     (is corral in a cgroup namespace other than systemd's?)",
                    w.display()
                ))),
                _ => Ok(()),
            }
        });
        let worker = match worker {
            Ok(w) => w,
            Err(e) => {
                // The scope may have started before a later step failed.
                let _ = self.remove();
                return Err(e);
            }
        };
        *self.worker.borrow_mut() = worker;
        if let Err(e) = make_dirs(self.st, &mut |_| Ok(())) {
            let _ = self.remove();
            return Err(e);
        }
        Ok(())
    }

    fn joined(&self) {
        if let Some(mut w) = self.worker.borrow_mut().take() {
            w.release();
        }
    }

    /// The scope is the container's own: create refused a running one.
    fn check_joinable(&self) -> Result<()> {
        Ok(())
    }

    fn apply_resources(&self, res: Option<&LinuxResources>, update: bool) -> Result<()> {
        if let Some(r) = res {
            let p = props::resources(r, self.st.v2);
            if !p.is_empty() {
                let unit = &self.unit.unit;
                bus::run("set the scope's resources", false, |b, _| {
                    b.set_properties(unit, p)
                })?;
            }
        }
        self.files.apply_resources(res, update)
    }

    fn apply_devices(&self, rules: &[LinuxDeviceCgroup], nodes: &[LinuxDevice]) -> Result<()> {
        let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
        let p = props::devices(&device_policy(rules, nodes), &proc_devices);
        let unit = &self.unit.unit;
        bus::run("set the scope's device policy", false, |b, _| {
            b.set_properties(unit, p)
        })?;
        self.files.apply_devices(rules, nodes)
    }

    /// systemd writes its own view of the unit to the files again when it
    /// takes device properties (memory.oom.group back to 0, for one).
    fn rewrites_files_on_devices(&self) -> bool {
        true
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        self.files.freeze(frozen)
    }

    fn is_frozen(&self) -> bool {
        self.files.is_frozen()
    }

    fn stats(&self) -> Stats {
        self.files.stats()
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.files.pids()
    }

    fn signal_all(&self, sig: i32) -> Result<()> {
        self.files.signal_all(sig)
    }

    /// Kills what is left, stops the scope (resetting a failed one) and
    /// removes the directories corral made. The directories go even when
    /// systemd cannot be reached; its error is then returned.
    fn remove(&self) -> Result<()> {
        self.joined();
        let _ = self.files.signal_all(libc::SIGKILL);
        let unit = &self.unit.unit;
        let stopped = bus::run("stop the container's scope", false, |b, _| {
            b.stop_and_forget(unit)
        });
        let files = removal::remove(self.st);
        stopped.map(drop).and(files)
    }
}
