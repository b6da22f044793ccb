//! cgroup v1: every OCI resource written to the controller it belongs to.
//!
//! All functions take the container's directories by hierarchy key, so unit
//! tests run them against a temp dir of fake control files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxResources, LinuxThrottleDevice};

use super::devices::device_policy;
use super::files::{pids_max, read_trim, write};
use super::layout::{controller_dir, hierarchies, Hierarchy};
use super::manager::Manager;
use super::plan::{make_dirs, CgroupState};
use super::resources::{rdma_lines, unset_zeros};
use super::stats::{self, Stats};
use crate::error::{Error, Result};

/// The controllers `res` needs, each with the JSON path that needs it.
pub(crate) fn required(res: &LinuxResources) -> Vec<(&'static str, &'static str)> {
    let mut need = Vec::new();
    if res.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        need.push(("devices", "linux.resources.devices"));
    }
    if res.memory().is_some() {
        need.push(("memory", "linux.resources.memory"));
    }
    if let Some(cpu) = res.cpu() {
        if cpu.shares().is_some()
            || cpu.quota().is_some()
            || cpu.period().is_some()
            || cpu.burst().is_some()
            || cpu.realtime_runtime().is_some()
            || cpu.realtime_period().is_some()
            || cpu.idle().is_some()
        {
            need.push(("cpu", "linux.resources.cpu"));
        }
        if cpu.cpus().is_some() || cpu.mems().is_some() {
            need.push(("cpuset", "linux.resources.cpu.cpus"));
        }
    }
    if res.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        need.push(("rdma", "linux.resources.rdma"));
    }
    if res.pids().is_some() {
        need.push(("pids", "linux.resources.pids"));
    }
    if res.block_io().is_some() {
        need.push(("blkio", "linux.resources.blockIO"));
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        need.push(("hugetlb", "linux.resources.hugepageLimits"));
    }
    if let Some(n) = res.network() {
        if n.class_id().is_some() {
            need.push(("net_cls", "linux.resources.network.classID"));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            need.push(("net_prio", "linux.resources.network.priorities"));
        }
    }
    need
}

fn ctl<'a>(paths: &'a BTreeMap<String, PathBuf>, name: &str, field: &str) -> Result<&'a PathBuf> {
    controller_dir(paths, name).ok_or_else(|| {
        Error::unsupported(
            field,
            format!("the host has no {name} cgroup controller mounted"),
        )
    })
}

/// Applies every resource of `res`. `update`: this is a change to a
/// running container (checkBeforeUpdate applies).
pub(crate) fn apply(
    paths: &BTreeMap<String, PathBuf>,
    res: &LinuxResources,
    update: bool,
) -> Result<()> {
    if let Some(m) = res.memory() {
        let d = ctl(paths, "memory", "linux.resources.memory")?;
        memory(d, m, update)?;
    }
    if let Some(c) = res.cpu() {
        if let Some(d) = controller_dir(paths, "cpu") {
            cpu(d, c)?;
        }
        if c.cpus().is_some() || c.mems().is_some() {
            let d = ctl(paths, "cpuset", "linux.resources.cpu.cpus")?;
            if let Some(cpus) = c.cpus() {
                write(&d.join("cpuset.cpus"), cpus)?;
            }
            if let Some(mems) = c.mems() {
                write(&d.join("cpuset.mems"), mems)?;
            }
        }
    }
    let rdma = rdma_lines(res)?;
    if !rdma.is_empty() {
        let d = ctl(paths, "rdma", "linux.resources.rdma")?;
        for line in rdma {
            write(&d.join("rdma.max"), &line)?;
        }
    }
    if let Some(p) = res.pids() {
        let d = ctl(paths, "pids", "linux.resources.pids")?;
        write(&d.join("pids.max"), &pids_max(p.limit()))?;
    }
    if let Some(b) = res.block_io() {
        let d = ctl(paths, "blkio", "linux.resources.blockIO")?;
        blkio(d, b)?;
    }
    for h in res.hugepage_limits().iter().flatten() {
        let d = ctl(paths, "hugetlb", "linux.resources.hugepageLimits")?;
        let size = h.page_size();
        let limit = d.join(format!("hugetlb.{size}.limit_in_bytes"));
        if !limit.exists() {
            return Err(Error::unsupported(
                "linux.resources.hugepageLimits",
                format!("page size {size:?} is not one this host has"),
            ));
        }
        write(&limit, &h.limit().to_string())?;
        let rsvd = d.join(format!("hugetlb.{size}.rsvd.limit_in_bytes"));
        if rsvd.exists() {
            write(&rsvd, &h.limit().to_string())?;
        }
    }
    if let Some(n) = res.network() {
        if let Some(id) = n.class_id() {
            let d = ctl(paths, "net_cls", "linux.resources.network.classID")?;
            write(&d.join("net_cls.classid"), &id.to_string())?;
        }
        for p in n.priorities().iter().flatten() {
            let d = ctl(paths, "net_prio", "linux.resources.network.priorities")?;
            write(
                &d.join("net_prio.ifpriomap"),
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    if let Some(rules) = res.devices().as_ref().filter(|r| !r.is_empty()) {
        let d = ctl(paths, "devices", "linux.resources.devices")?;
        devices(d, &device_policy(rules, &[]))?;
    }
    Ok(())
}

fn memory(d: &Path, m: &oci_spec::runtime::LinuxMemory, update: bool) -> Result<()> {
    // memory.kernel is ignored with a warning (`validate::warnings`).
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::spec(
                "linux.resources.memory.swappiness",
                format!("{s} is outside 0..100"),
            ));
        }
    }
    let limit = m.limit();
    if update && m.check_before_update().unwrap_or(false) {
        if let Some(l) = limit.filter(|l| *l > 0) {
            let usage: i64 = read_trim(&d.join("memory.usage_in_bytes"))?
                .parse()
                .unwrap_or(0);
            if l < usage {
                return Err(Error::spec(
                    "linux.resources.memory.limit",
                    format!("{l} is below the current usage {usage} (checkBeforeUpdate)"),
                ));
            }
        }
    }
    let swap_file = d.join("memory.memsw.limit_in_bytes");
    // As runc: an unlimited memory with no swap given is unlimited
    // memory+swap too (a finite memsw left from before would refuse it);
    // a finite memory+swap over an unlimited memory cannot be expressed
    // (memsw must stay >= the memory limit) and is refused by name.
    let swap = match (limit, m.swap()) {
        (Some(-1), None) if swap_file.exists() => Some(-1),
        (Some(-1), Some(s)) if s > 0 => {
            return Err(Error::spec(
                "linux.resources.memory.swap",
                format!(
                    "{s}: a memory+swap limit needs a memory limit (memory.limit is -1, unlimited)"
                ),
            ))
        }
        (_, s) => s,
    };
    if let Some(sw) = swap {
        if !swap_file.exists() {
            return Err(Error::unsupported(
                "linux.resources.memory.swap",
                "the host's memory controller has no swap accounting (memory.memsw.*)",
            ));
        }
        // memsw must stay >= limit at every step: raise it first when the
        // new swap total is above the current one.
        let cur: i64 = read_trim(&swap_file)?.parse().unwrap_or(i64::MAX);
        let v = if sw < 0 { i64::MAX } else { sw };
        if v >= cur {
            write(&swap_file, &sw.to_string())?;
            if let Some(l) = limit {
                write(&d.join("memory.limit_in_bytes"), &l.to_string())?;
            }
        } else {
            if let Some(l) = limit {
                write(&d.join("memory.limit_in_bytes"), &l.to_string())?;
            }
            write(&swap_file, &sw.to_string())?;
        }
    } else if let Some(l) = limit {
        write(&d.join("memory.limit_in_bytes"), &l.to_string())?;
    }
    if let Some(r) = m.reservation() {
        write(&d.join("memory.soft_limit_in_bytes"), &r.to_string())?;
    }
    if let Some(t) = m.kernel_tcp() {
        // Without the file (a kernel that dropped it): ignored with a
        // warning (`validate::warnings`).
        let f = d.join("memory.kmem.tcp.limit_in_bytes");
        if f.exists() {
            write(&f, &t.to_string())?;
        }
    }
    if let Some(s) = m.swappiness() {
        write(&d.join("memory.swappiness"), &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(&d.join("memory.oom_control"), "1")?;
    }
    if let Some(h) = m.use_hierarchy() {
        let cur = read_trim(&d.join("memory.use_hierarchy")).unwrap_or_default();
        let want = if h { "1" } else { "0" };
        if cur != want {
            write(&d.join("memory.use_hierarchy"), want)?;
        }
    }
    Ok(())
}

fn cpu(d: &Path, c: &oci_spec::runtime::LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares() {
        write(&d.join("cpu.shares"), &s.to_string())?;
    }
    // Period before quota: the kernel checks quota against the period.
    if let Some(p) = c.period() {
        write(&d.join("cpu.cfs_period_us"), &p.to_string())?;
    }
    if let Some(q) = c.quota() {
        write(&d.join("cpu.cfs_quota_us"), &q.to_string())?;
    }
    if let Some(b) = c.burst() {
        write_existing(
            d,
            "cpu.cfs_burst_us",
            &b.to_string(),
            "linux.resources.cpu.burst",
        )?;
    }
    // The kernel keeps runtime <= period at every write: period first when
    // it grows (or runtime shrinks), runtime first when the new period is
    // below the current runtime.
    let rt_period = |p: u64| {
        write_existing(
            d,
            "cpu.rt_period_us",
            &p.to_string(),
            "linux.resources.cpu.realtimePeriod",
        )
    };
    let rt_runtime = |r: i64| {
        write_existing(
            d,
            "cpu.rt_runtime_us",
            &r.to_string(),
            "linux.resources.cpu.realtimeRuntime",
        )
    };
    match (c.realtime_period(), c.realtime_runtime()) {
        (Some(p), Some(r)) => {
            let cur: i64 = read_trim(&d.join("cpu.rt_runtime_us"))
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if (p as i64) < cur {
                rt_runtime(r)?;
                rt_period(p)?;
            } else {
                rt_period(p)?;
                rt_runtime(r)?;
            }
        }
        (Some(p), None) => rt_period(p)?,
        (None, Some(r)) => rt_runtime(r)?,
        (None, None) => {}
    }
    if let Some(i) = c.idle() {
        write_existing(d, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
    }
    Ok(())
}

/// Writes a control file that only some kernels have; its absence is an
/// error naming the field.
fn write_existing(d: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    let p = d.join(file);
    if !p.exists() {
        return Err(Error::unsupported(
            field,
            format!("this kernel has no {file}"),
        ));
    }
    write(&p, value)
}

fn throttle(d: &Path, file: &str, list: &Option<Vec<LinuxThrottleDevice>>) -> Result<()> {
    for t in list.iter().flatten() {
        write(
            &d.join(file),
            &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
        )?;
    }
    Ok(())
}

fn blkio(d: &Path, b: &oci_spec::runtime::LinuxBlockIo) -> Result<()> {
    // CFQ had blkio.weight; with BFQ the file is blkio.bfq.weight.
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| d.join(f).exists());
    if let Some(w) = b.weight() {
        let f = weight_file.ok_or_else(|| {
            Error::unsupported(
                "linux.resources.blockIO.weight",
                "this host has no blkio weight file (no CFQ or BFQ I/O scheduler in use)",
            )
        })?;
        write(&d.join(f), &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight() {
        write_existing(
            d,
            "blkio.leaf_weight",
            &w.to_string(),
            "linux.resources.blockIO.leafWeight",
        )?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            // CFQ's per-device file, or BFQ's (blkio.bfq.weight_device, as
            // runc; older BFQ took "MAJ:MIN W" in blkio.bfq.weight only).
            let f = match weight_file {
                Some("blkio.weight") => "blkio.weight_device",
                Some(_) if d.join("blkio.bfq.weight_device").exists() => "blkio.bfq.weight_device",
                Some(other) => other,
                None => {
                    return Err(Error::unsupported(
                        "linux.resources.blockIO.weightDevice",
                        "this host has no blkio weight file (no CFQ or BFQ I/O scheduler in use)",
                    ))
                }
            };
            write(&d.join(f), &format!("{}:{} {w}", wd.major(), wd.minor()))?;
        }
        if let Some(w) = wd.leaf_weight() {
            write_existing(
                d,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", wd.major(), wd.minor()),
                "linux.resources.blockIO.weightDevice.leafWeight",
            )?;
        }
    }
    throttle(
        d,
        "blkio.throttle.read_bps_device",
        b.throttle_read_bps_device(),
    )?;
    throttle(
        d,
        "blkio.throttle.write_bps_device",
        b.throttle_write_bps_device(),
    )?;
    throttle(
        d,
        "blkio.throttle.read_iops_device",
        b.throttle_read_iops_device(),
    )?;
    throttle(
        d,
        "blkio.throttle.write_iops_device",
        b.throttle_write_iops_device(),
    )?;
    Ok(())
}

/// Writes a device policy (`devices::device_policy`) to the v1 `devices`
/// cgroup `d`, rule by rule: `devices.deny` for a deny, `devices.allow` for
/// an allow. The first rule, deny `a`, empties the list (an allow-list
/// from then on).
pub(crate) fn devices(d: &Path, policy: &[(bool, String)]) -> Result<()> {
    for (allow, rule) in policy {
        let file = if *allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(&d.join(file), rule)?;
    }
    Ok(())
}

/// Freezes (`true`) or thaws the container, waiting until the kernel says so.
pub(crate) fn freeze(paths: &BTreeMap<String, PathBuf>, frozen: bool) -> Result<()> {
    let d = controller_dir(paths, "freezer")
        .ok_or_else(|| Error::Other("the host has no freezer cgroup controller mounted".into()))?;
    let want = if frozen { "FROZEN" } else { "THAWED" };
    for _ in 0..1000 {
        write(&d.join("freezer.state"), want)?;
        if read_trim(&d.join("freezer.state"))? == want {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(Error::Other(format!("the freezer did not reach {want}")))
}

/// Whether the container's freezer says FROZEN.
pub(crate) fn is_frozen(paths: &BTreeMap<String, PathBuf>) -> bool {
    controller_dir(paths, "freezer")
        .and_then(|d| read_trim(&d.join("freezer.state")).ok())
        .is_some_and(|s| s == "FROZEN")
}

/// The v1 back end (legacy and hybrid hosts): every resource in the
/// hierarchy of its controller; a hybrid host's cgroup2 directory is
/// joined (the entry) but holds no resources.
#[derive(Debug)]
pub struct V1Manager<'a> {
    st: &'a CgroupState,
}

impl<'a> V1Manager<'a> {
    /// The v1 manager of the container whose cgroups are `st`.
    pub fn new(st: &'a CgroupState) -> Self {
        V1Manager { st }
    }
}

impl Manager for V1Manager<'_> {
    fn state(&self) -> &CgroupState {
        self.st
    }

    fn unified(&self) -> bool {
        false
    }

    fn create(&self) -> Result<()> {
        let st = self.st;
        let r = (|| {
            make_dirs(st, &mut |dir| {
                // A directory on the way to the cpuset cgroup.
                let cpuset = st
                    .paths
                    .iter()
                    .any(|(k, p)| k.split(',').any(|c| c == "cpuset") && p.starts_with(dir));
                match dir.parent() {
                    Some(parent) if cpuset => inherit_cpuset(parent, dir),
                    _ => Ok(()),
                }
            })?;
            // A cpuset cgroup that existed (joined by cgroupsPath) may be empty.
            let hs = hierarchies()?;
            for (key, path) in &st.paths {
                if key.split(',').any(|c| c == "cpuset") {
                    if let Some(h) = hs.iter().find(|h| &h.key == key) {
                        fill_empty_cpusets(&h.mountpoint, path)?;
                    }
                }
            }
            Ok(())
        })();
        if r.is_err() {
            let _ = self.remove();
        }
        r
    }

    fn apply_resources(&self, res: Option<&LinuxResources>, update: bool) -> Result<()> {
        let Some(res) = res else { return Ok(()) };
        apply(&self.st.paths, &unset_zeros(res), update)
    }

    /// On v1 the policy goes to the `devices` hierarchy; without one, a
    /// config's rules are refused with the field named.
    fn apply_devices(&self, rules: &[LinuxDeviceCgroup], nodes: &[LinuxDevice]) -> Result<()> {
        if rules.is_empty() && !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        let policy = device_policy(rules, nodes);
        match controller_dir(&self.st.paths, "devices") {
            Some(d) => devices(d, &policy),
            None if rules.is_empty() => Ok(()),
            None => Err(Error::unsupported(
                "linux.resources.devices",
                "needs the devices cgroup controller, which this host has not mounted",
            )),
        }
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        freeze(&self.st.paths, frozen)
    }

    fn is_frozen(&self) -> bool {
        is_frozen(&self.st.paths)
    }

    fn stats(&self) -> Stats {
        stats::read_v1(&self.st.paths)
    }
}

/// Fails for a field whose controller this host has not mounted (or that
/// only cgroup v2 has), naming the field and the controller.
pub(crate) fn check(hs: &[Hierarchy], res: &LinuxResources) -> Result<()> {
    if res.unified().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(Error::unsupported(
            "linux.resources.unified",
            "this host's controllers are cgroup v1: unified keys need a cgroup v2 host",
        ));
    }
    for (ctrl, field) in required(res) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::DEFAULT_ALLOWED;
    use std::fs;

    /// A fake v1 hierarchy per controller, with empty control files.
    fn fake(files: &[(&str, &[&str])]) -> (PathBuf, BTreeMap<String, PathBuf>) {
        let base = std::env::temp_dir().join(format!(
            "corral-v1-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&base);
        let mut paths = BTreeMap::new();
        for (ctrl, names) in files {
            let d = base.join(ctrl);
            fs::create_dir_all(&d).expect("mkdir");
            for n in *names {
                fs::write(d.join(n), "").expect("touch");
            }
            paths.insert(ctrl.to_string(), d);
        }
        (base, paths)
    }

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).expect("resources json")
    }

    fn read(p: &BTreeMap<String, PathBuf>, ctrl: &str, f: &str) -> String {
        fs::read_to_string(p[ctrl].join(f))
            .expect("read")
            .trim()
            .to_string()
    }

    #[test]
    fn memory_cpu_cpuset_pids() {
        let (base, p) = fake(&[
            (
                "memory",
                &[
                    "memory.limit_in_bytes",
                    "memory.memsw.limit_in_bytes",
                    "memory.soft_limit_in_bytes",
                    "memory.kmem.tcp.limit_in_bytes",
                    "memory.swappiness",
                    "memory.oom_control",
                    "memory.use_hierarchy",
                    "memory.usage_in_bytes",
                ],
            ),
            (
                "cpu,cpuacct",
                &[
                    "cpu.shares",
                    "cpu.cfs_period_us",
                    "cpu.cfs_quota_us",
                    "cpu.cfs_burst_us",
                    "cpu.rt_period_us",
                    "cpu.rt_runtime_us",
                    "cpu.idle",
                ],
            ),
            ("cpuset", &["cpuset.cpus", "cpuset.mems"]),
            ("pids", &["pids.max"]),
        ]);
        let r = res(r#"{
            "memory": {"limit": 1000, "reservation": 500, "swap": 2000, "kernelTCP": 300, "swappiness": 10, "disableOOMKiller": true, "useHierarchy": true},
            "cpu": {"shares": 512, "quota": 20000, "period": 100000, "burst": 1000, "realtimeRuntime": 950, "realtimePeriod": 1000, "idle": 1, "cpus": "0-1", "mems": "0"},
            "pids": {"limit": -1}
        }"#);
        apply(&p, &r, false).expect("apply");
        assert_eq!(read(&p, "memory", "memory.limit_in_bytes"), "1000");
        assert_eq!(read(&p, "memory", "memory.memsw.limit_in_bytes"), "2000");
        assert_eq!(read(&p, "memory", "memory.soft_limit_in_bytes"), "500");
        assert_eq!(read(&p, "memory", "memory.kmem.tcp.limit_in_bytes"), "300");
        assert_eq!(read(&p, "memory", "memory.swappiness"), "10");
        assert_eq!(read(&p, "memory", "memory.oom_control"), "1");
        assert_eq!(read(&p, "memory", "memory.use_hierarchy"), "1");
        assert_eq!(read(&p, "cpu,cpuacct", "cpu.shares"), "512");
        assert_eq!(read(&p, "cpu,cpuacct", "cpu.cfs_quota_us"), "20000");
        assert_eq!(read(&p, "cpu,cpuacct", "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&p, "cpu,cpuacct", "cpu.cfs_burst_us"), "1000");
        assert_eq!(read(&p, "cpu,cpuacct", "cpu.rt_runtime_us"), "950");
        assert_eq!(read(&p, "cpu,cpuacct", "cpu.rt_period_us"), "1000");
        assert_eq!(read(&p, "cpu,cpuacct", "cpu.idle"), "1");
        assert_eq!(read(&p, "cpuset", "cpuset.cpus"), "0-1");
        assert_eq!(read(&p, "cpuset", "cpuset.mems"), "0");
        assert_eq!(read(&p, "pids", "pids.max"), "max");

        // checkBeforeUpdate refuses a limit below the usage.
        fs::write(p["memory"].join("memory.usage_in_bytes"), "5000").expect("usage");
        let e = apply(
            &p,
            &res(r#"{"memory": {"limit": 4000, "checkBeforeUpdate": true}}"#),
            true,
        )
        .expect_err("below usage");
        assert!(e.to_string().contains("checkBeforeUpdate"), "{e}");
        apply(
            &p,
            &res(r#"{"memory": {"limit": 4000, "checkBeforeUpdate": true}}"#),
            false,
        )
        .expect("not an update");
        // Kernel memory is ignored (a warning, `validate::warnings`).
        apply(&p, &res(r#"{"memory": {"kernel": 1}}"#), false).expect("kernel is ignored");
        let e =
            apply(&p, &res(r#"{"memory": {"swappiness": 101}}"#), false).expect_err("swappiness");
        assert!(e.to_string().contains("swappiness"), "{e}");
        fs::remove_dir_all(base).expect("cleanup");
    }

    #[test]
    fn bfq_device_weights_go_to_their_own_file() {
        let (base, p) = fake(&[("blkio", &["blkio.bfq.weight", "blkio.bfq.weight_device"])]);
        let r = res(
            r#"{"blockIO": {"weight": 200, "weightDevice": [{"major": 8, "minor": 0, "weight": 300}]}}"#,
        );
        apply(&p, &r, false).expect("apply");
        assert_eq!(read(&p, "blkio", "blkio.bfq.weight"), "200");
        assert_eq!(read(&p, "blkio", "blkio.bfq.weight_device"), "8:0 300");
        let _ = fs::remove_dir_all(base);
    }

    #[test]
    fn blkio_hugetlb_network_devices() {
        let (base, p) = fake(&[
            (
                "blkio",
                &[
                    "blkio.bfq.weight",
                    "blkio.throttle.read_bps_device",
                    "blkio.throttle.write_iops_device",
                ],
            ),
            (
                "hugetlb",
                &[
                    "hugetlb.2MB.limit_in_bytes",
                    "hugetlb.2MB.rsvd.limit_in_bytes",
                ],
            ),
            ("net_cls", &["net_cls.classid"]),
            ("net_prio", &["net_prio.ifpriomap"]),
            ("devices", &["devices.allow", "devices.deny"]),
            ("rdma", &["rdma.max"]),
        ]);
        let r = res(r#"{
            "blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
            "devices": [{"allow": false, "access": "rwm"}],
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}
        }"#);
        apply(&p, &r, false).expect("apply");
        assert_eq!(
            read(&p, "rdma", "rdma.max"),
            "mlx5_1 hca_handle=3 hca_object=10000"
        );
        assert_eq!(read(&p, "blkio", "blkio.bfq.weight"), "300");
        assert_eq!(
            read(&p, "blkio", "blkio.throttle.read_bps_device"),
            "8:0 1048576"
        );
        assert_eq!(
            read(&p, "blkio", "blkio.throttle.write_iops_device"),
            "8:0 100"
        );
        assert_eq!(read(&p, "hugetlb", "hugetlb.2MB.limit_in_bytes"), "4194304");
        assert_eq!(
            read(&p, "hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes"),
            "4194304"
        );
        assert_eq!(read(&p, "net_cls", "net_cls.classid"), "1048577");
        assert_eq!(read(&p, "net_prio", "net_prio.ifpriomap"), "eth0 5");
        assert_eq!(read(&p, "devices", "devices.deny"), "a *:* rwm");
        assert_eq!(
            read(&p, "devices", "devices.allow"),
            DEFAULT_ALLOWED[DEFAULT_ALLOWED.len() - 1]
        );
        let e = apply(&p, &res(r#"{"blockIO": {"leafWeight": 10}}"#), false).expect_err("leaf");
        assert!(
            e.to_string().contains("leafWeight") && e.to_string().contains("blkio.leaf_weight"),
            "{e}"
        );
        let e = apply(
            &p,
            &res(r#"{"hugepageLimits": [{"pageSize": "1GB", "limit": 1}]}"#),
            false,
        )
        .expect_err("size");
        assert!(e.to_string().contains("1GB"), "{e}");
        let e = apply(&p, &res(r#"{"pids": {"limit": 5}}"#), false).expect_err("no pids");
        assert!(e.to_string().contains("pids cgroup controller"), "{e}");
        fs::remove_dir_all(base).expect("cleanup");
    }

    #[test]
    fn a_missing_controller_is_named() {
        let hs = crate::cgroups::layout::parse_mountinfo(
            "31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
        );
        let e = crate::cgroups::validate::check_with(&hs, &res(r#"{"memory": {"limit": 1}}"#))
            .expect_err("no memory");
        assert!(
            e.to_string().contains("linux.resources.memory")
                && e.to_string().contains("memory cgroup controller"),
            "{e}"
        );
        crate::cgroups::validate::check_with(&hs, &res(r#"{"cpu": {"shares": 2}}"#))
            .expect("cpu is there");
        let e = crate::cgroups::validate::check_with(&hs, &res(r#"{"cpu": {"cpus": "0"}}"#))
            .expect_err("no cpuset");
        assert!(e.to_string().contains("cpuset"), "{e}");
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
            systemd: None,
        };
        // A fake control file keeps the last write only.
        V1Manager::new(&st).apply_devices(&[], &[]).expect("apply");
        let last = |f: &str| fs::read_to_string(d.join(f)).expect("read");
        assert_eq!(last("devices.deny"), "a *:* rwm");
        assert_eq!(
            last("devices.allow"),
            DEFAULT_ALLOWED[DEFAULT_ALLOWED.len() - 1]
        );
        // No devices hierarchy: nothing enforces a default, but a config's
        // rules are refused with the field named.
        let none = CgroupState::default();
        V1Manager::new(&none)
            .apply_devices(&[], &[])
            .expect("no hierarchy, no rules");
        let rules: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"access":"rwm"}]"#).expect("json");
        let e = V1Manager::new(&none)
            .apply_devices(&rules, &[])
            .expect_err("rules without devices");
        assert!(e.to_string().contains("linux.resources.devices"), "{e}");
    }
}
