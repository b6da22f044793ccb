//! cgroups: detecting the host's layout (v1, hybrid, unified), placing the
//! container in its cgroup in every hierarchy, applying and updating its
//! resources (one manager per mode: [`v1`] on legacy and hybrid hosts,
//! [`v2`] on unified ones), freezing, statistics, killing every process of a
//! container, and removing what create made.

pub mod devices_bpf;
pub mod stats;
pub mod v1;
pub mod v2;

pub use stats::Stats;

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use serde::{Deserialize, Serialize};

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
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Key as in `/proc/self/cgroup`: the controllers joined by commas,
    /// `name=…`, or `unified` for cgroup2.
    pub key: String,
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The mount's root inside the hierarchy.
    pub root: PathBuf,
    /// Whether this is a cgroup2 mount.
    pub v2: bool,
}

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 hierarchies and a cgroup2 mount without controllers.
    Hybrid,
    /// cgroup2 only.
    Unified,
}

/// Generic mount options that are not controller names.
const NON_CONTROLLER_OPTS: [&str; 6] = [
    "rw",
    "ro",
    "xattr",
    "noprefix",
    "clone_children",
    "cpuset_v2_mode",
];

/// Parses `/proc/self/mountinfo` text into the cgroup hierarchies, the first
/// mount of each only.
///
/// Hand-written rather than the procfs crate's `MountInfos`, which every
/// create reads through here: the crate's parse measured 59-60 µs against
/// 54-55 µs (median of 5000 interleaved reads of this VM's 25-line
/// mountinfo, release build), it keeps the super options in a `HashMap`,
/// which loses the kernel's order of a co-mounted hierarchy's controllers
/// (`cpu,cpuacct`, the key `/proc/PID/cgroup` names it by), and it leaves
/// the octal escapes (`\040`) of the paths undone.
pub fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let (fstype, super_opts) = (post[0], post[2]);
        let key = match fstype {
            "cgroup2" => "unified".to_string(),
            "cgroup" => {
                let names: Vec<&str> = super_opts
                    .split(',')
                    .filter(|o| {
                        !NON_CONTROLLER_OPTS.contains(o) && !o.starts_with("release_agent=")
                    })
                    .collect();
                names.join(",")
            }
            _ => continue,
        };
        if out.iter().any(|h| h.key == key) {
            continue;
        }
        out.push(Hierarchy {
            key,
            mountpoint: PathBuf::from(unescape(pre[4])),
            root: PathBuf::from(unescape(pre[3])),
            v2: fstype == "cgroup2",
        });
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Parses `/proc/PID/cgroup` text: hierarchy key → cgroup path.
pub fn parse_proc_cgroup(text: &str) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrl), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let key = if ctrl.is_empty() {
            "unified".to_string()
        } else {
            ctrl.to_string()
        };
        out.insert(key, PathBuf::from(path));
    }
    out
}

/// The hierarchies mounted on this host.
pub fn hierarchies() -> Result<Vec<Hierarchy>> {
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    Ok(parse_mountinfo(&text))
}

/// The host's layout, from its hierarchies.
pub fn mode(hs: &[Hierarchy]) -> Mode {
    let v1 = hs.iter().any(|h| !h.v2);
    let v2 = hs.iter().any(|h| h.v2);
    match (v1, v2) {
        (true, true) => Mode::Hybrid,
        (false, true) => Mode::Unified,
        _ => Mode::Legacy,
    }
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
pub fn plan_paths(
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

/// Creates the container's cgroup directories, recording the ones made. On
/// error, removes what it made.
pub fn create(cgroups_path: Option<&Path>, id: &str) -> Result<CgroupState> {
    let st = plan(cgroups_path, id)?;
    make(&st)?;
    Ok(st)
}

/// The container's cgroup directories, and among them the ones that do not
/// exist yet, which [`make`] will create and [`remove`] will remove: a
/// record of them can be written before anything is made, so that a
/// creation killed halfway leaves nothing that its record does not name.
pub fn plan(cgroups_path: Option<&Path>, id: &str) -> Result<CgroupState> {
    plan_with(&hierarchies()?, cgroups_path, id)
}

/// [`plan`] in the given hierarchies.
pub fn plan_with(hs: &[Hierarchy], cgroups_path: Option<&Path>, id: &str) -> Result<CgroupState> {
    let own_text = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::io("read", "/proc/self/cgroup", e))?;
    let own = parse_proc_cgroup(&own_text);
    let paths = plan_paths(hs, &own, cgroups_path, id);
    let mut created = Vec::new();
    for h in hs {
        let dir = &paths[&h.key];
        let rel = dir.strip_prefix(&h.mountpoint).unwrap_or(Path::new(""));
        let mut cur = h.mountpoint.clone();
        for comp in rel.components() {
            cur.push(comp);
            if !cur.exists() {
                created.push(cur.clone());
            }
        }
    }
    Ok(CgroupState {
        paths,
        created,
        v2: mode(hs) == Mode::Unified,
    })
}

/// Creates the directories [`plan`] found missing (one made meanwhile by
/// someone else is taken as it is). On error, removes what it planned.
pub fn make(st: &CgroupState) -> Result<()> {
    let r = (|| {
        for dir in &st.created {
            match fs::create_dir(dir) {
                Ok(()) => {
                    // A directory on the way to the v1 cpuset cgroup.
                    let cpuset = st
                        .paths
                        .iter()
                        .any(|(k, p)| k.split(',').any(|c| c == "cpuset") && p.starts_with(dir));
                    if cpuset {
                        if let Some(parent) = dir.parent() {
                            inherit_cpuset(parent, dir)?;
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("create cgroup", dir, e)),
            }
        }
        // A cpuset cgroup that existed (joined by cgroupsPath) may be empty.
        if !st.v2 {
            let hs = hierarchies()?;
            for (key, path) in &st.paths {
                if key.split(',').any(|c| c == "cpuset") {
                    if let Some(h) = hs.iter().find(|h| &h.key == key) {
                        fill_empty_cpusets(&h.mountpoint, path)?;
                    }
                }
            }
        }
        Ok(())
    })();
    if r.is_err() {
        let _ = remove(st);
    }
    r
}

/// The config's fields corral accepts but does not apply on this host, one
/// warning each, as runc warns and runs (config-linux.md: kernel memory
/// limits are not supported by the kernels since 5.16, which ignore them).
pub fn warnings(res: &LinuxResources) -> Vec<String> {
    let mut w = Vec::new();
    let Some(m) = res.memory() else { return w };
    if let Some(k) = m.kernel().filter(|k| *k != 0) {
        w.push(format!(
            "linux.resources.memory.kernel: {k} ignored: kernel memory limits are not supported (kernels since 5.16 ignore them)"
        ));
    }
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        let hs = hierarchies().unwrap_or_default();
        let v1_file = hs
            .iter()
            .find(|h| !h.v2 && h.key.split(',').any(|c| c == "memory"))
            .is_some_and(|h| h.mountpoint.join("memory.kmem.tcp.limit_in_bytes").exists());
        if mode(&hs) == Mode::Unified || !v1_file {
            w.push(format!(
                "linux.resources.memory.kernelTCP: {k} ignored: this host's memory controller has no kernel TCP limit"
            ));
        }
    }
    w
}

/// Refuses to put a container into a cgroup that is not its own to take:
/// one that already has processes (runc 1.2: "container's cgroup is not
/// empty"; two containers in one cgroup share limits and kill each other
/// at delete) or one that is frozen (the init would freeze on joining and
/// `create` would wait for it forever; runc: "container's cgroup
/// unexpectedly frozen"). Directories corral just made pass.
pub fn check_joinable(st: &CgroupState) -> Result<()> {
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
    if is_frozen(st) {
        return Err(Error::Other(
            "linux.cgroupsPath: container's cgroup unexpectedly frozen (thaw it first)".into(),
        ));
    }
    Ok(())
}

/// A v1 cpuset cgroup with no cpus or no mems (a new one, or one made by
/// someone else and left so) refuses every process with ENOSPC: each
/// level from the hierarchy's top down to `target` that is empty gets its
/// parent's values, as runc does.
fn fill_empty_cpusets(mountpoint: &Path, target: &Path) -> Result<()> {
    let Ok(rel) = target.strip_prefix(mountpoint) else {
        return Ok(());
    };
    let mut dir = mountpoint.to_path_buf();
    for part in rel.components() {
        let parent = dir.clone();
        dir.push(part);
        if dir.is_dir() {
            inherit_cpuset(&parent, &dir)?;
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with no cpus and no mems; give it its
/// parent's so that a process can join.
fn inherit_cpuset(parent: &Path, child: &Path) -> Result<()> {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let v =
            fs::read_to_string(parent.join(f)).map_err(|e| Error::io("read", parent.join(f), e))?;
        let cur = fs::read_to_string(child.join(f)).unwrap_or_default();
        if cur.trim().is_empty() {
            write(&child.join(f), v.trim())?;
        }
    }
    Ok(())
}

/// `pids.max` for `linux.resources.pids.limit`: a negative limit is
/// unlimited; 0 is a real limit of no new task (config-linux.md's "0 ...
/// SHOULD be treated as such"; runc 1.4 writes 1 because systemd cannot
/// say 0, but the cgroupfs file takes 0 and corral writes what was asked).
pub(crate) fn pids_max(limit: i64) -> String {
    if limit < 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        match field_of(file) {
            Some(field) => Error::Other(format!(
                "{field}: the kernel refused {value:?} in {path:?}: {e}"
            )),
            None => Error::Other(format!("write {value:?} to {path:?}: {e}")),
        }
    })
}

/// The config field a control file of v1 or v2 is written from, for
/// errors that name it.
fn field_of(file: &str) -> Option<&'static str> {
    let r = |s| Some(s);
    match file {
        "memory.limit_in_bytes" | "memory.max" => r("linux.resources.memory.limit"),
        "memory.memsw.limit_in_bytes" | "memory.swap.max" => r("linux.resources.memory.swap"),
        "memory.soft_limit_in_bytes" | "memory.low" => r("linux.resources.memory.reservation"),
        "memory.kmem.tcp.limit_in_bytes" => r("linux.resources.memory.kernelTCP"),
        "memory.swappiness" => r("linux.resources.memory.swappiness"),
        "cpu.shares" | "cpu.weight" => r("linux.resources.cpu.shares"),
        "cpu.cfs_period_us" => r("linux.resources.cpu.period"),
        "cpu.cfs_quota_us" => r("linux.resources.cpu.quota"),
        "cpu.max" => r("linux.resources.cpu.quota/period"),
        "cpu.rt_runtime_us" => r("linux.resources.cpu.realtimeRuntime"),
        "cpu.rt_period_us" => r("linux.resources.cpu.realtimePeriod"),
        "cpu.idle" => r("linux.resources.cpu.idle"),
        "cpuset.cpus" => r("linux.resources.cpu.cpus"),
        "cpuset.mems" => r("linux.resources.cpu.mems"),
        "pids.max" => r("linux.resources.pids.limit"),
        "blkio.weight" | "blkio.bfq.weight" | "io.weight" | "io.bfq.weight" => {
            r("linux.resources.blockIO.weight")
        }
        "blkio.weight_device" => r("linux.resources.blockIO.weightDevice"),
        "blkio.leaf_weight" => r("linux.resources.blockIO.leafWeight"),
        "blkio.throttle.read_bps_device" => r("linux.resources.blockIO.throttleReadBpsDevice"),
        "blkio.throttle.write_bps_device" => r("linux.resources.blockIO.throttleWriteBpsDevice"),
        "blkio.throttle.read_iops_device" => r("linux.resources.blockIO.throttleReadIOPSDevice"),
        "blkio.throttle.write_iops_device" => r("linux.resources.blockIO.throttleWriteIOPSDevice"),
        "io.max" => r("linux.resources.blockIO (io.max)"),
        "net_cls.classid" => r("linux.resources.network.classID"),
        "net_prio.ifpriomap" => r("linux.resources.network.priorities"),
        "rdma.max" => r("linux.resources.rdma"),
        f if f.starts_with("hugetlb.") => r("linux.resources.hugepageLimits"),
        _ => None,
    }
}

/// Checks that this host can honour `res`: every controller it needs is
/// mounted (v1), or every field has a v2 file. Errors name the field and the
/// controller.
pub fn check_supported_resources(res: &LinuxResources) -> Result<()> {
    check_supported_resources_with(&hierarchies()?, res)
}

/// [`check_supported_resources`] against given hierarchies.
pub fn check_supported_resources_with(hs: &[Hierarchy], res: &LinuxResources) -> Result<()> {
    check_values(res)?;
    rdma_lines(res)?;
    check_with(hs, res)
}

/// Values no cgroup version takes, refused the same on v1 and v2 (where
/// corral converts values, the kernel would not see them as given).
pub fn check_values(res: &LinuxResources) -> Result<()> {
    if let Some(m) = res.memory() {
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
            ("kernelTCP", m.kernel_tcp()),
        ] {
            if let Some(v) = v.filter(|v| *v < -1) {
                return Err(Error::spec(
                    format!("linux.resources.memory.{name}"),
                    format!("{v}: -1 (unlimited) or a size in bytes"),
                ));
            }
        }
        if let (Some(l), Some(sw)) = (m.limit(), m.swap()) {
            if l > 0 && sw > 0 && sw < l {
                return Err(Error::spec(
                    "linux.resources.memory.swap",
                    format!("{sw} is below memory.limit {l} (swap is memory plus swap)"),
                ));
            }
        }
        if let Some(s) = m.swappiness().filter(|s| *s > 100) {
            return Err(Error::spec(
                "linux.resources.memory.swappiness",
                format!("{s} is outside 0..100"),
            ));
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(p) = c
            .period()
            .filter(|p| *p != 0 && !(1000..=1_000_000).contains(p))
        {
            return Err(Error::spec(
                "linux.resources.cpu.period",
                format!("{p}: the period is 1000 to 1000000 microseconds"),
            ));
        }
        if let Some(q) = c.quota().filter(|q| *q > 0 && *q < 1000) {
            return Err(Error::spec(
                "linux.resources.cpu.quota",
                format!("{q}: a quota is at least 1000 microseconds (or -1)"),
            ));
        }
    }
    if let Some(b) = res.block_io() {
        for (name, w) in [("weight", b.weight()), ("leafWeight", b.leaf_weight())] {
            if let Some(w) = w.filter(|w| *w != 0 && !(10..=1000).contains(w)) {
                return Err(Error::spec(
                    format!("linux.resources.blockIO.{name}"),
                    format!("{w} is outside 10..1000"),
                ));
            }
        }
    }
    Ok(())
}

/// `linux.resources.rdma` as `rdma.max` lines (`mlx5_1 hca_handle=3
/// hca_object=10000`), one per device, the same in v1 and v2.
pub(crate) fn rdma_lines(res: &LinuxResources) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let Some(rdma) = res.rdma().as_ref() else {
        return Ok(out);
    };
    let mut devs: Vec<&String> = rdma.keys().collect();
    devs.sort();
    for dev in devs {
        let field = format!("linux.resources.rdma.{dev}");
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(Error::spec(&field, format!("{dev:?} is not a device name")));
        }
        let r = &rdma[dev];
        let mut line = dev.clone();
        if let Some(h) = r.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = r.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if r.hca_handles().is_none() && r.hca_objects().is_none() {
            return Err(Error::spec(field, "give hcaHandles, hcaObjects or both"));
        }
        out.push(line);
    }
    Ok(out)
}

/// The controller part of [`check_supported_resources_with`]: every field of `res` has a mounted controller (v1) or a v2 file.
pub fn check_with(hs: &[Hierarchy], res: &LinuxResources) -> Result<()> {
    let res = &unset_zeros(res);
    if mode(hs) == Mode::Unified {
        return v2::check(res);
    }
    if res.unified().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(Error::unsupported(
            "linux.resources.unified",
            "this host's controllers are cgroup v1: unified keys need a cgroup v2 host",
        ));
    }
    for (ctrl, field) in v1::required(res) {
        if !hs
            .iter()
            .any(|h| !h.v2 && h.key.split(',').any(|c| c == ctrl))
        {
            return Err(Error::unsupported(
                field,
                format!("needs the {ctrl} cgroup controller, which this host has not mounted"),
            ));
        }
    }
    Ok(())
}

/// Device rules every container gets after the config's own, as runc's
/// `AllowedDevices` (runc 1.1): mknod of any character or block device
/// (creating a node opens nothing), and read, write and mknod of the OCI
/// default devices, /dev/tty, /dev/ptmx, /dev/pts/* and /dev/net/tun. A
/// config's rule cannot take these away. `/dev/console` (5:1) is not among
/// them: the container's console is a pty (136:N) bound on it, and 5:1 is
/// the host's console.
pub(crate) const DEFAULT_ALLOWED: [&str; 11] = [
    "c *:* m",      // mknod of any char device
    "b *:* m",      // mknod of any block device
    "c 1:3 rwm",    // null
    "c 1:5 rwm",    // zero
    "c 1:7 rwm",    // full
    "c 1:8 rwm",    // random
    "c 1:9 rwm",    // urandom
    "c 5:0 rwm",    // tty
    "c 5:2 rwm",    // ptmx
    "c 136:* rwm",  // pts
    "c 10:200 rwm", // tun
];

/// A device-cgroup rule in the kernel's v1 syntax, e.g. `c 1:3 rwm`; a
/// major or minor that is absent or negative (runc's wildcard, -1) is `*`.
pub fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let t = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => "p",
    };
    let n = |v: Option<i64>| {
        v.filter(|x| *x >= 0)
            .map(|x| x.to_string())
            .unwrap_or_else(|| "*".into())
    };
    let access = d.access().clone().unwrap_or_else(|| "rwm".into());
    format!("{t} {}:{} {access}", n(d.major()), n(d.minor()))
}

/// The device policy of a container, as (allow, rule in v1 syntax) in the
/// order the kernel applies them: deny everything, then the config's
/// `linux.resources.devices` in order, then `DEFAULT_ALLOWED`, as runc
/// builds it (its device list starts empty, an allow-list). When the config
/// lists no rules, the nodes of its `linux.devices` are allowed too
/// (`rwm`): a container whose config names no policy still uses the
/// devices it asks for, and no other host device. With rules, the rules
/// alone decide about them, as with runc.
pub fn device_policy(rules: &[LinuxDeviceCgroup], nodes: &[LinuxDevice]) -> Vec<(bool, String)> {
    let mut out = vec![(false, "a *:* rwm".to_string())];
    out.extend(
        rules
            .iter()
            // A fifo rule names no device (the kernel's list has no fifos).
            .filter(|r| r.typ() != Some(LinuxDeviceType::P))
            .map(|r| (r.allow(), device_rule(r))),
    );
    if rules.is_empty() {
        for d in nodes {
            let t = match d.typ() {
                LinuxDeviceType::B => "b",
                LinuxDeviceType::C | LinuxDeviceType::U => "c",
                // A fifo is no device; `a` is no node.
                LinuxDeviceType::P | LinuxDeviceType::A => continue,
            };
            out.push((true, format!("{t} {}:{} rwm", d.major(), d.minor())));
        }
    }
    out.extend(DEFAULT_ALLOWED.iter().map(|r| (true, (*r).to_string())));
    out
}

/// Applies the container's device policy ([`device_policy`]) at create,
/// once its device nodes exist: on v1 to the `devices` hierarchy, on v2 as
/// the eBPF device program of its cgroup. It applies whether or not the
/// config lists rules, so that a process with `CAP_MKNOD` cannot open a
/// host device the policy does not name. Not applied when the config lists
/// no rules and nothing can enforce one: a v1 host without the `devices`
/// hierarchy, or a caller that is not root (rootless: the container is in
/// a user namespace, where the kernel refuses mknod anyway).
pub fn apply_devices(
    st: &CgroupState,
    rules: &[LinuxDeviceCgroup],
    nodes: &[LinuxDevice],
) -> Result<()> {
    if rules.is_empty() && !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let policy = device_policy(rules, nodes);
    if st.v2 {
        let d = st
            .paths
            .get("unified")
            .ok_or_else(|| Error::Other("no unified cgroup for this container".into()))?;
        return v2::devices(d, &policy);
    }
    match st
        .paths
        .iter()
        .find(|(k, _)| k.split(',').any(|c| c == "devices"))
    {
        Some((_, d)) => v1::devices(d, &policy),
        None if rules.is_empty() => Ok(()),
        None => Err(Error::unsupported(
            "linux.resources.devices",
            "needs the devices cgroup controller, which this host has not mounted",
        )),
    }
}

/// Applies the config's resources: at create in two steps (see
/// [`split_devices`]); `update` is a change to a running container.
pub fn apply_resources(st: &CgroupState, res: Option<&LinuxResources>, update: bool) -> Result<()> {
    let Some(res) = res else { return Ok(()) };
    let res = &unset_zeros(res);
    if st.v2 {
        let d = st
            .paths
            .get("unified")
            .ok_or_else(|| Error::Other("no unified cgroup for this container".into()))?;
        let hs = hierarchies()?;
        let mnt = hs
            .iter()
            .find(|h| h.v2)
            .map(|h| h.mountpoint.clone())
            .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
        v2::enable_controllers(&mnt, d, &v2::needed(res))?;
        v2::apply(d, res, update)
    } else {
        v1::apply(&st.paths, res, update)
    }
}

/// `res` split for create: (everything but the device list, the device
/// list alone). The first applies before the init is released, so limits
/// hold while it sets up (and a realtime scheduler finds RT time); the
/// second once the device nodes exist, as runc orders it.
pub fn split_devices(res: &LinuxResources) -> (LinuxResources, LinuxResources) {
    let mut rest = res.clone();
    rest.set_devices(None);
    let mut devices = LinuxResources::default();
    devices.set_devices(res.devices().clone());
    (rest, devices)
}

/// `res` with the zero values that mean "not set" removed, as runc reads
/// them (dockerd writes `"weight": 0`, `"shares": 0`, `"limit": 0` for
/// what the user did not ask for).
pub fn unset_zeros(res: &LinuxResources) -> LinuxResources {
    let mut r = res.clone();
    let nz_i = |v: Option<i64>| v.filter(|x| *x != 0);
    let nz_u = |v: Option<u64>| v.filter(|x| *x != 0);
    if let Some(mut m) = *r.memory() {
        m.set_limit(nz_i(m.limit()));
        m.set_reservation(nz_i(m.reservation()));
        m.set_swap(nz_i(m.swap()));
        m.set_kernel(nz_i(m.kernel()));
        m.set_kernel_tcp(nz_i(m.kernel_tcp()));
        r.set_memory(Some(m));
    }
    if let Some(mut c) = r.cpu().clone() {
        c.set_shares(nz_u(c.shares()));
        c.set_quota(nz_i(c.quota()));
        c.set_period(nz_u(c.period()));
        c.set_realtime_runtime(nz_i(c.realtime_runtime()));
        c.set_realtime_period(nz_u(c.realtime_period()));
        c.set_cpus(c.cpus().clone().filter(|s| !s.is_empty()));
        c.set_mems(c.mems().clone().filter(|s| !s.is_empty()));
        r.set_cpu(Some(c));
    }
    if let Some(mut b) = r.block_io().clone() {
        b.set_weight(b.weight().filter(|w| *w != 0));
        b.set_leaf_weight(b.leaf_weight().filter(|w| *w != 0));
        r.set_block_io(Some(b));
    }
    // pids.limit 0 is kept: a real limit (see `pids_max`). Docker writes
    // -1, not 0, for no limit.
    r
}

/// Freezes (`true`) or thaws every process of the container.
pub fn freeze(st: &CgroupState, frozen: bool) -> Result<()> {
    match (st.v2, st.paths.get("unified")) {
        (true, Some(d)) => v2::freeze(d, frozen),
        _ => v1::freeze(&st.paths, frozen),
    }
}

/// Whether the container is frozen.
pub fn is_frozen(st: &CgroupState) -> bool {
    match (st.v2, st.paths.get("unified")) {
        (true, Some(d)) => v2::is_frozen(d),
        _ => v1::is_frozen(&st.paths),
    }
}

/// The container's resource usage.
pub fn stats(st: &CgroupState) -> Stats {
    match (st.v2, st.paths.get("unified")) {
        (true, Some(d)) => stats::read_v2(d),
        _ => stats::read_v1(&st.paths),
    }
}

pub(crate) fn read_trim(p: &Path) -> Result<String> {
    fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io("read", p, e))
}

/// How a new process enters the container's cgroups without the cost of
/// moving it from outside.
///
/// Writing another process's pid to `cgroup.procs` write-locks the kernel's
/// global threadgroup rwsem, which waits for an RCU grace period (8-15 ms on
/// the development VM: the largest single cost of a `run`). A
/// single-threaded process that moves itself, by writing `0` to a v1
/// hierarchy's `tasks` file, skips that lock (Linux 6.0, "cgroup: Optimize
/// single thread migration"); a cgroup2 directory is entered by the clone
/// itself (`CLONE_INTO_CGROUP`, Linux 5.7), which takes no write lock
/// either. The files are opened here, by the creator: the kernel checks the
/// opener's credentials, so a process already in a new user namespace may
/// still write them. The clone that uses them is the process module's
/// (`process::clone`): this type only holds the fds and paths.
#[derive(Debug, Default)]
pub struct Entry {
    /// The cgroup2 directory, for `CLONE_INTO_CGROUP`.
    into: Option<(PathBuf, std::os::fd::OwnedFd)>,
    /// Files the new process writes `0` to (v1 `tasks`; a cgroup2
    /// `cgroup.procs` where the clone could not place it), with their paths.
    own: Vec<(PathBuf, std::os::fd::OwnedFd)>,
}

impl Entry {
    /// Opens what a process needs to enter every cgroup of `st`.
    pub fn open(st: &CgroupState) -> Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut e = Entry::default();
        for (key, dir) in &st.paths {
            if key == "unified" {
                let d = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .open(dir)
                    .map_err(|err| Error::io("open the cgroup", dir, err))?;
                e.into = Some((dir.clone(), d.into()));
            } else {
                e.own_file(dir.join("tasks"))?;
            }
        }
        Ok(e)
    }

    /// Opens `f` for the new process to write `0` to.
    fn own_file(&mut self, f: PathBuf) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let fd = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&f)
            .map_err(|err| Error::io("open", &f, err))?;
        self.own.push((f, fd.into()));
        Ok(())
    }

    /// The cgroup2 directory fd for `clone3` with `CLONE_INTO_CGROUP`, if
    /// the clone is to place the process there (see
    /// `process::clone::into_cgroups`, which clones).
    pub fn clone_into(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.into.as_ref().map(|(_, d)| d.as_raw_fd())
    }

    /// For a kernel without `CLONE_INTO_CGROUP`: the process joins the
    /// cgroup2 directory by `cgroup.procs` too (with the slow lock).
    pub fn without_clone_into(&mut self) -> Result<()> {
        match self.into.take() {
            Some((dir, _)) => self.own_file(dir.join("cgroup.procs")),
            None => Ok(()),
        }
    }

    /// The cgroup2 directory the clone places the process in, if any.
    pub fn clone_into_dir(&self) -> Option<&Path> {
        self.into.as_ref().map(|(p, _)| p.as_path())
    }

    /// In the new, still single-threaded process: moves it into the v1
    /// hierarchies (and cgroup2 where the clone did not), then closes the
    /// files (dropping `self`) so that nothing of them reaches the container.
    pub fn join_self(self) -> Result<()> {
        for (path, fd) in &self.own {
            nix::unistd::write(fd, b"0").map_err(|e| {
                Error::io(
                    "join the cgroup (write 0 to)",
                    path,
                    std::io::Error::from(e),
                )
            })?;
        }
        Ok(())
    }
}

/// Every pid in the container's cgroup (from the first hierarchy that has
/// one).
pub fn pids(st: &CgroupState) -> Result<Vec<i32>> {
    for dir in st.paths.values() {
        if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
            return Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect());
        }
    }
    Ok(Vec::new())
}

/// Sends `sig` to every process in the container's cgroup (SIGKILL on v2
/// through `cgroup.kill` where the kernel has it).
pub fn signal_all(st: &CgroupState, sig: i32) -> Result<()> {
    if sig == libc::SIGKILL && st.v2 {
        if let Some(k) = st
            .paths
            .get("unified")
            .map(|d| d.join("cgroup.kill"))
            .filter(|k| k.exists())
        {
            return write(&k, "1");
        }
    }
    // A frozen process gets the signal only once thawed.
    let frozen = is_frozen(st);
    for pid in pids(st)? {
        // SAFETY-free: nix's kill. A process that exited meanwhile is fine.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::try_from(sig).ok(),
        );
    }
    if frozen && sig == libc::SIGKILL {
        freeze(st, false)?;
    }
    Ok(())
}

/// Removes the directories create made, children first, retrying while the
/// last processes finish exiting.
pub fn remove(st: &CgroupState) -> Result<()> {
    let mut first_err = None;
    for dir in st.created.iter().rev() {
        // A parent corral made may now hold another container's cgroup
        // (two containers under /pod/a and /pod/b): it stays, as with runc.
        if has_child_cgroups(dir) {
            continue;
        }
        let mut tries = 0;
        loop {
            match fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) if tries < 100 && e.raw_os_error() == Some(libc::EBUSY) => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    // Keep going: the other hierarchies are removed anyway.
                    first_err.get_or_insert(Error::io("remove cgroup", dir, e));
                    break;
                }
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn has_child_cgroups(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 23 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu
";

    #[test]
    fn parses_hybrid_layout() {
        let hs = parse_mountinfo(MOUNTINFO);
        let keys: Vec<&str> = hs.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(
            keys,
            ["cpu", "memory", "name=systemd", "unified", "cpuacct,cpu"]
        );
        assert_eq!(mode(&hs), Mode::Hybrid);
        assert_eq!(mode(&hs[3..4]), Mode::Unified);
        assert_eq!(mode(&hs[0..1]), Mode::Legacy);
    }

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

    #[test]
    fn device_rules_render_like_the_kernel() {
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"access":"rw"}"#)
                .expect("json");
        assert_eq!(device_rule(&d), "c 1:* rw");
        let all: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow":false}"#).expect("json");
        assert_eq!(device_rule(&all), "a *:* rwm");
    }

    #[test]
    fn device_policy_denies_first_and_allows_runcs_defaults_last() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":true,"type":"b","major":7,"minor":0,"access":"r"},
                {"allow":true,"type":"p","access":"rwm"},
                {"allow":false,"type":"c","major":-1,"minor":-1,"access":"w"}]"#,
        )
        .expect("json");
        let nodes: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/loopx","type":"b","major":7,"minor":1},
                {"path":"/dev/fifo","type":"p"}]"#,
        )
        .expect("json");
        let p = device_policy(&rules, &nodes);
        let want_head = [(false, "a *:* rwm"), (true, "b 7:0 r"), (false, "c *:* w")];
        let head: Vec<(bool, &str)> = p[..3].iter().map(|(a, r)| (*a, r.as_str())).collect();
        assert_eq!(head, want_head, "{p:?}");
        // With rules, the nodes of linux.devices get no rule of their own.
        let tail: Vec<&str> = p[3..].iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(tail, DEFAULT_ALLOWED, "{p:?}");
        assert!(p[3..].iter().all(|(a, _)| *a));

        // No rules: deny all, the config's device nodes, runc's defaults.
        let p = device_policy(&[], &nodes);
        assert_eq!(p[0], (false, "a *:* rwm".to_string()));
        assert_eq!(p[1], (true, "b 7:1 rwm".to_string()));
        let tail: Vec<&str> = p[2..].iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(tail, DEFAULT_ALLOWED, "{p:?}");
        for host in ["b 8:0", "c 1:1", "c 5:1", "b 254:0"] {
            assert!(
                !p.iter().any(|(a, r)| *a && r.starts_with(host)),
                "{host} allowed: {p:?}"
            );
        }
    }

    /// A temporary directory removed on drop, also when a test fails.
    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn apply_devices_writes_the_policy_to_the_v1_devices_cgroup() {
        let tmp = TempDir(
            std::env::temp_dir().join(format!("corral-devpolicy-test-{}", std::process::id())),
        );
        let d = tmp.0.join("devices");
        fs::create_dir_all(&d).expect("mkdir");
        for f in ["devices.allow", "devices.deny"] {
            fs::write(d.join(f), "").expect("control file");
        }
        let mut paths = BTreeMap::new();
        paths.insert("devices".to_string(), d.clone());
        let st = CgroupState {
            paths,
            created: Vec::new(),
            v2: false,
        };
        // A fake control file keeps the last write only.
        apply_devices(&st, &[], &[]).expect("apply");
        let last = |f: &str| fs::read_to_string(d.join(f)).expect("read");
        assert_eq!(last("devices.deny"), "a *:* rwm");
        assert_eq!(
            last("devices.allow"),
            DEFAULT_ALLOWED[DEFAULT_ALLOWED.len() - 1]
        );
        // No devices hierarchy: nothing enforces a default, but a config's
        // rules are refused with the field named.
        let none = CgroupState::default();
        apply_devices(&none, &[], &[]).expect("no hierarchy, no rules");
        let rules: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"access":"rwm"}]"#).expect("json");
        let e = apply_devices(&none, &rules, &[]).expect_err("rules without devices");
        assert!(e.to_string().contains("linux.resources.devices"), "{e}");
    }

    #[test]
    fn entry_writes_zero_to_each_v1_tasks_file_and_clones_into_cgroup2() {
        let root = std::env::temp_dir().join(format!("corral-entry-test-{}", std::process::id()));
        let mut paths = BTreeMap::new();
        for key in ["cpu", "memory", "name=systemd"] {
            let d = root.join(key);
            fs::create_dir_all(&d).expect("mkdir");
            fs::write(d.join("tasks"), "").expect("tasks");
            paths.insert(key.to_string(), d);
        }
        let unified = root.join("unified");
        fs::create_dir_all(&unified).expect("mkdir");
        fs::write(unified.join("cgroup.procs"), "").expect("procs");
        paths.insert("unified".to_string(), unified.clone());
        let st = CgroupState {
            paths,
            created: Vec::new(),
            v2: false,
        };

        let e = Entry::open(&st).expect("open");
        assert_eq!(e.clone_into_dir(), Some(unified.as_path()));
        assert!(e.clone_into().is_some());
        e.join_self().expect("join");
        for key in ["cpu", "memory", "name=systemd"] {
            assert_eq!(
                fs::read_to_string(root.join(key).join("tasks")).expect("read"),
                "0"
            );
        }
        // cgroup2 is the clone's: nothing written there.
        assert_eq!(
            fs::read_to_string(unified.join("cgroup.procs")).expect("read"),
            ""
        );

        // Without CLONE_INTO_CGROUP the process writes cgroup.procs itself.
        let mut e = Entry::open(&st).expect("open");
        e.without_clone_into().expect("fallback");
        assert!(e.clone_into().is_none());
        e.join_self().expect("join");
        assert_eq!(
            fs::read_to_string(unified.join("cgroup.procs")).expect("read"),
            "0"
        );

        // A hierarchy without its control file is an error naming it.
        fs::remove_file(root.join("memory").join("tasks")).expect("rm");
        let err = Entry::open(&st).expect_err("missing tasks").to_string();
        assert!(err.contains("memory/tasks"), "{err}");
        fs::remove_dir_all(&root).expect("cleanup");
    }
}

#[cfg(test)]
mod zero_tests {
    use super::*;

    #[test]
    fn dockers_zeros_mean_unset() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 0, "reservation": 0, "swap": 0, "kernelTCP": 0},
                "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0, "cpus": "", "mems": ""},
                "blockIO": {"weight": 0}, "pids": {"limit": 0}}"#,
        )
        .expect("json");
        let n = unset_zeros(&r);
        let req: Vec<&str> = v1::required(&n).into_iter().map(|(c, _)| c).collect();
        assert!(!req.contains(&"cpu") && !req.contains(&"cpuset"), "{req:?}");
        let b = n.block_io().as_ref().expect("blockIO");
        assert_eq!(b.weight(), None);
        let m = n.memory().expect("memory");
        assert_eq!((m.limit(), m.swap()), (None, None));
        assert_eq!(n.pids().map(|p| p.limit()), Some(0), "0 pids is a limit");
        let keep: LinuxResources =
            serde_json::from_str(r#"{"pids": {"limit": -1}, "cpu": {"shares": 2}}"#).expect("json");
        let k = unset_zeros(&keep);
        assert_eq!(k.pids().expect("pids").limit(), -1);
        assert_eq!(k.cpu().as_ref().and_then(|c| c.shares()), Some(2));
    }
}
