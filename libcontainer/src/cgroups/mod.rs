//! cgroups: detecting the host's layout (v1, hybrid, unified), placing the
//! container in its cgroup in every hierarchy, applying and updating its
//! resources, freezing, statistics, killing every process of a container,
//! and removing what create made.
//!
//! The rest of the library goes through one seam, [`Manager`], whose back
//! ends are peers: `v1` on legacy and hybrid hosts, `v2` on unified
//! ones, and `systemd` (a transient scope per container) on either.
//! [`manager`] picks the back end from a container's [`CgroupState`];
//! `plan_with` makes that state for the layout [`mode`] detected.
//!
//! | file | owns |
//! | --- | --- |
//! | `layout.rs` | the mounted hierarchies, a process's cgroups, the [`Mode`] |
//! | `plan.rs` | the container's directories for `linux.cgroupsPath`, the record of them |
//! | `manager.rs` | the [`Manager`] trait, what every back end does alike |
//! | `v1.rs`, `v2.rs` | the back ends: each OCI resource written to its files |
//! | `systemd/` | the systemd back end: placement, the scope over D-Bus, unit properties |
//! | `validate.rs` | checking `linux.resources` against the host, warnings |
//! | `resources.rs` | `linux.resources` in the form the back ends apply |
//! | `devices.rs` | the device policy; `devices_bpf.rs`: its v2 eBPF program |
//! | `entry.rs` | how a new process enters its cgroups ([`Entry`]) |
//! | `sub.rs` | `exec --cgroup`: a process placed below the container's cgroup |
//! | `stats.rs` | resource usage ([`Stats`]) |
//! | `files.rs` | writing and reading control files, errors naming the field |
//! | `removal.rs` | removing what create made |

mod devices;
pub mod devices_bpf;
mod entry;
mod files;
mod layout;
mod manager;
mod plan;
mod removal;
mod resources;
pub mod stats;
pub mod sub;
mod systemd;
mod v1;
mod v2;
mod validate;

pub use entry::Entry;
pub use layout::{hierarchies, mode, parse_proc_cgroup, Hierarchy, Mode};
pub use manager::Manager;
pub(crate) use plan::plan_with;
pub use plan::CgroupState;
pub(crate) use resources::split_devices;
pub use stats::Stats;
pub(crate) use systemd::plan as plan_systemd;
pub use systemd::SystemdUnit;
pub(crate) use validate::{check_supported_resources, check_supported_resources_with, warnings};

/// The back end for a container's cgroups: systemd's where its record
/// names a unit, else v2 where it says the host is unified, v1 (legacy
/// and hybrid hosts) otherwise.
pub fn manager(st: &CgroupState) -> Box<dyn Manager + '_> {
    if let Some(unit) = &st.systemd {
        Box::new(systemd::SystemdManager::new(st, unit))
    } else if st.v2 {
        Box::new(v2::V2Manager::new(st))
    } else {
        Box::new(v1::V1Manager::new(st))
    }
}
