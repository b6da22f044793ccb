//! Placing a container: its directory in every hierarchy for
//! `linux.cgroupsPath` ([`plan_with`]), the record of them kept in its state
//! ([`CgroupState`]), and making the directories that do not exist yet.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::{mode, parse_proc_cgroup, Hierarchy, Mode};
use crate::error::{Error, Result};

/// The cgroups of one container, as remembered in its state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CgroupState {
    /// Hierarchy key (`memory`, `cpu,cpuacct`, `name=systemd`, `unified`) →
    /// the container's directory in it.
    pub paths: BTreeMap<String, PathBuf>,
    /// Directories corral created, parents before children; only these are
    /// removed at delete.
    pub created: Vec<PathBuf>,
    /// Whether the host is unified cgroup v2 (resources go to `unified`).
    #[serde(default)]
    pub v2: bool,
    /// The systemd unit holding the container's cgroups, when the systemd
    /// driver placed it (`--systemd-cgroup`); its back end is then
    /// systemd's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<super::systemd::SystemdUnit>,
}

fn key_matches(mount_key: &str, proc_key: &str) -> bool {
    let mut a: Vec<&str> = mount_key.split(',').collect();
    let mut b: Vec<&str> = proc_key.split(',').collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// Works out the container's directory in each hierarchy for
/// `linux.cgroupsPath`: an absolute path from each hierarchy's root; a
/// relative one (and `<id>` when absent) under the caller's own cgroup.
pub(crate) fn plan_paths(
    hs: &[Hierarchy],
    own: &BTreeMap<String, PathBuf>,
    cgroups_path: Option<&Path>,
    id: &str,
) -> BTreeMap<String, PathBuf> {
    let rel_default = PathBuf::from(id);
    let p = cgroups_path.unwrap_or(&rel_default);
    let mut out = BTreeMap::new();
    for h in hs {
        let inside = if p.is_absolute() {
            p.to_path_buf()
        } else {
            let mine = own
                .iter()
                .find(|(k, _)| key_matches(&h.key, k))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| PathBuf::from("/"));
            mine.join(p)
        };
        // A mount whose root is not the hierarchy's root (a cgroup
        // namespace, a bind mount) shows only what lies below that root.
        let below = inside.strip_prefix(&h.root).unwrap_or(&inside);
        let rel = below.strip_prefix("/").unwrap_or(below);
        out.insert(h.key.clone(), h.mountpoint.join(rel));
    }
    out
}

/// The container's cgroup directories in the hierarchies `hs`, and among
/// them the ones that do not exist yet, which the back end's
/// `Manager::create` will create and
/// `Manager::remove` will remove: a record of
/// them can be written before anything is made, so that a creation killed
/// halfway leaves nothing that its record does not name.
pub(crate) fn plan_with(
    hs: &[Hierarchy],
    cgroups_path: Option<&Path>,
    id: &str,
) -> Result<CgroupState> {
    let own_text = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::io("read", "/proc/self/cgroup", e))?;
    let own = parse_proc_cgroup(&own_text);
    let paths = plan_paths(hs, &own, cgroups_path, id);
    let mut created = Vec::new();
    for h in hs {
        push_missing(&h.mountpoint, &paths[&h.key], &mut created);
    }
    Ok(CgroupState {
        paths,
        created,
        v2: mode(hs) == Mode::Unified,
        systemd: None,
    })
}

/// Appends to `out` each directory from `mountpoint` down to `dir` that
/// does not exist yet, parents first: what create will make.
pub(crate) fn push_missing(mountpoint: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let rel = dir.strip_prefix(mountpoint).unwrap_or(Path::new(""));
    let mut cur = mountpoint.to_path_buf();
    for comp in rel.components() {
        cur.push(comp);
        if !cur.exists() {
            out.push(cur.clone());
        }
    }
}

/// Creates the directories of `st` that [`plan_with`] found missing (one
/// made meanwhile by someone else is taken as it is), calling `made` with
/// each one this call created, parents first.
pub(crate) fn make_dirs(st: &CgroupState, made: &mut dyn FnMut(&Path) -> Result<()>) -> Result<()> {
    for dir in &st.created {
        match fs::create_dir(dir) {
            Ok(()) => made(dir)?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create cgroup", dir, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::layout::parse_mountinfo;

    const MOUNTINFO: &str = crate::cgroups::layout::TEST_MOUNTINFO;

    #[test]
    fn relative_paths_nest_under_own_cgroup() {
        let hs = parse_mountinfo(MOUNTINFO);
        let own = parse_proc_cgroup("4:memory:/sup/x\n1:cpu:/\n0::/\n2:cpu,cpuacct:/a\n");
        let p = plan_paths(&hs, &own, None, "c1");
        assert_eq!(p["memory"], Path::new("/sys/fs/cgroup/memory/sup/x/c1"));
        assert_eq!(p["cpu"], Path::new("/sys/fs/cgroup/cpu/c1"));
        assert_eq!(p["unified"], Path::new("/sys/fs/cgroup/unified/c1"));
        assert_eq!(
            p["cpuacct,cpu"],
            Path::new("/sys/fs/cgroup/cpu,cpuacct/a/c1")
        );
        let abs = plan_paths(&hs, &own, Some(Path::new("/t/c2")), "c1");
        assert_eq!(abs["memory"], Path::new("/sys/fs/cgroup/memory/t/c2"));
    }
}
