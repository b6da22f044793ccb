//! cgroup v2: every OCI resource written to the unified hierarchy's files.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxResources, LinuxThrottleDevice};

use super::devices::device_policy;
use super::devices_bpf::{self, Rule};
use super::files::{pids_max, read_trim, write};
use super::layout::hierarchies;
use super::manager::{signal_each, Manager};
use super::plan::{make_dirs, CgroupState};
use super::resources::{rdma_lines, unset_zeros};
use super::stats::{self, Stats};
use crate::error::{Error, Result};

/// Fails for what cgroup v2 has no file for, naming the field.
pub(crate) fn check(res: &LinuxResources) -> Result<()> {
    let no = |field: &str, why: &str| Err(Error::unsupported(field, why.to_string()));
    if let Some(n) = res.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return no(
                "linux.resources.network",
                "net_cls and net_prio do not exist in cgroup v2",
            );
        }
    }
    if let Some(c) = res.cpu() {
        if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
            return no(
                "linux.resources.cpu.realtimeRuntime",
                "cgroup v2 has no realtime cpu limits",
            );
        }
    }
    if let Some(m) = res.memory() {
        // memory.kernel and kernelTCP are ignored with a warning
        // (`validate::warnings`), as runc does.
        if m.swappiness().is_some() {
            return no(
                "linux.resources.memory.swappiness",
                "cgroup v2 has no per-cgroup swappiness",
            );
        }
        if m.disable_oom_killer() == Some(true) {
            return no(
                "linux.resources.memory.disableOOMKiller",
                "cgroup v2 cannot disable the OOM killer",
            );
        }
    }
    if let Some(b) = res.block_io() {
        if b.leaf_weight().is_some()
            || b.weight_device()
                .iter()
                .flatten()
                .any(|w| w.leaf_weight().is_some())
        {
            return no(
                "linux.resources.blockIO.leafWeight",
                "cgroup v2 has no leaf weights",
            );
        }
    }
    Ok(())
}

/// The v2 controllers `res` needs.
pub(crate) fn needed(res: &LinuxResources) -> Vec<&'static str> {
    let mut v = Vec::new();
    if let Some(c) = res.cpu() {
        if c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.idle().is_some()
        {
            v.push("cpu");
        }
        if c.cpus().is_some() || c.mems().is_some() {
            v.push("cpuset");
        }
    }
    if res.memory().is_some() {
        v.push("memory");
    }
    if res.pids().is_some() {
        v.push("pids");
    }
    if res.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        v.push("rdma");
    }
    if res.block_io().is_some() {
        v.push("io");
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        v.push("hugetlb");
    }
    const V2: [&str; 8] = [
        "cpu", "cpuset", "memory", "pids", "io", "hugetlb", "rdma", "misc",
    ];
    for k in res.unified().iter().flat_map(|u| u.keys()) {
        if let Some(c) = V2.into_iter().find(|c| k.starts_with(&format!("{c}."))) {
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }
    v
}

/// Enables `controllers` in the `cgroup.subtree_control` of every ancestor
/// of `dir` from the hierarchy's root down, so that `dir` has their files.
/// A controller the host lacks is an error naming it.
pub(crate) fn enable_controllers(
    mountpoint: &Path,
    dir: &Path,
    controllers: &[&str],
) -> Result<()> {
    if controllers.is_empty() {
        return Ok(());
    }
    let rel = dir.strip_prefix(mountpoint).unwrap_or(Path::new(""));
    let mut cur = mountpoint.to_path_buf();
    for comp in rel.components() {
        let avail = read_trim(&cur.join("cgroup.controllers")).unwrap_or_default();
        let enabled = read_trim(&cur.join("cgroup.subtree_control")).unwrap_or_default();
        for c in controllers {
            if !avail.split_whitespace().any(|a| a == *c) {
                return Err(Error::unsupported(
                    "linux.resources",
                    format!("the {c} controller is not available in {cur:?}"),
                ));
            }
            if !enabled.split_whitespace().any(|a| a == *c) {
                write(&cur.join("cgroup.subtree_control"), &format!("+{c}"))?;
            }
        }
        cur.push(comp);
    }
    Ok(())
}

/// cgroup v1 cpu.shares to v2 cpu.weight, as runc and crun convert.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// An OCI (cgroup v1 blkio) weight, 10-1000, to cgroup v2's io.weight,
/// 1-10000, as runc and crun convert (`1 + (w - 10) * 9999 / 990`; 0
/// stays 0, "unset").
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// Attaches a device policy (`devices::device_policy`) as the eBPF device
/// program of the cgroup `d` (fifo rules name no device and are left out).
pub(crate) fn devices(d: &Path, policy: &[(bool, String)]) -> Result<()> {
    let list: Vec<Rule> = policy
        .iter()
        .filter_map(|(allow, r)| Rule::from_v1(*allow, r))
        .collect();
    devices_bpf::apply(d, &list)
}

/// Applies every resource of `res` to the container's cgroup `d`.
pub(crate) fn apply(d: &Path, res: &LinuxResources, update: bool) -> Result<()> {
    check(res)?;
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares() {
            write(&d.join("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        if c.quota().is_some() || c.period().is_some() {
            let period = c.period().unwrap_or(100_000);
            let quota = match c.quota() {
                Some(q) if q > 0 => q.to_string(),
                Some(_) => "max".into(),
                None => read_trim(&d.join("cpu.max"))?
                    .split_whitespace()
                    .next()
                    .unwrap_or("max")
                    .to_string(),
            };
            write(&d.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(b) = c.burst() {
            write(&d.join("cpu.max.burst"), &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            write(&d.join("cpu.idle"), &i.to_string())?;
        }
        if let Some(cpus) = c.cpus() {
            write(&d.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = c.mems() {
            write(&d.join("cpuset.mems"), mems)?;
        }
    }
    if let Some(m) = res.memory() {
        if update && m.check_before_update().unwrap_or(false) {
            if let Some(l) = m.limit().filter(|l| *l > 0) {
                let usage: i64 = read_trim(&d.join("memory.current"))?.parse().unwrap_or(0);
                if l < usage {
                    return Err(Error::spec(
                        "linux.resources.memory.limit",
                        format!("{l} is below the current usage {usage} (checkBeforeUpdate)"),
                    ));
                }
            }
        }
        if let Some(sw) = m.swap() {
            // OCI swap is memory+swap; v2's swap.max is swap alone.
            let v = match (sw, m.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                _ => {
                    return Err(Error::spec(
                        "linux.resources.memory.swap",
                        "a swap limit needs a memory limit on cgroup v2",
                    ))
                }
            };
            write(&d.join("memory.swap.max"), &v)?;
        }
        if let Some(l) = m.limit() {
            write(&d.join("memory.max"), &max_or(l))?;
        }
        if let Some(r) = m.reservation() {
            write(&d.join("memory.low"), &max_or(r))?;
        }
    }
    for line in rdma_lines(res)? {
        write(&d.join("rdma.max"), &line)?;
    }
    if let Some(p) = res.pids() {
        write(&d.join("pids.max"), &pids_max(p.limit()))?;
    }
    if let Some(b) = res.block_io() {
        let wfile = if d.join("io.weight").exists() {
            "io.weight"
        } else {
            "io.bfq.weight"
        };
        // io.weight is 1-10000 (default 100), the OCI weight blkio's
        // 10-1000 (default 500): converted as runc and crun convert, so
        // that 500 lands near the middle and 10 and 1000 at the ends.
        // BFQ's io.bfq.weight has blkio's range and takes the weight as it is.
        let conv = |w: u16| -> u64 {
            if wfile == "io.weight" {
                blkio_to_io_weight(w)
            } else {
                u64::from(w)
            }
        };
        if let Some(w) = b.weight() {
            write(&d.join(wfile), &format!("default {}", conv(w)))?;
        }
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight() {
                write(
                    &d.join(wfile),
                    &format!("{}:{} {}", wd.major(), wd.minor(), conv(w)),
                )?;
            }
        }
        let max = |key: &str, list: &Option<Vec<LinuxThrottleDevice>>| -> Result<()> {
            for t in list.iter().flatten() {
                write(
                    &d.join("io.max"),
                    &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
                )?;
            }
            Ok(())
        };
        max("rbps", b.throttle_read_bps_device())?;
        max("wbps", b.throttle_write_bps_device())?;
        max("riops", b.throttle_read_iops_device())?;
        max("wiops", b.throttle_write_iops_device())?;
    }
    for h in res.hugepage_limits().iter().flatten() {
        let size = h.page_size();
        let f = d.join(format!("hugetlb.{size}.max"));
        if !f.exists() {
            return Err(Error::unsupported(
                "linux.resources.hugepageLimits",
                format!("page size {size:?} is not one this host has"),
            ));
        }
        write(&f, &h.limit().to_string())?;
        let rsvd = d.join(format!("hugetlb.{size}.rsvd.max"));
        if rsvd.exists() {
            write(&rsvd, &h.limit().to_string())?;
        }
    }
    if let Some(rules) = res.devices().as_ref().filter(|r| !r.is_empty()) {
        devices(d, &device_policy(rules, &[]))?;
    }
    if let Some(u) = res.unified() {
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            let f = d.join(k);
            if k.contains('/') || k.starts_with('.') || !f.is_file() {
                return Err(Error::spec(
                    format!("linux.resources.unified.{k}"),
                    format!("{k:?} is not a control file of this cgroup"),
                ));
            }
            write(&f, &u[k])?;
        }
    }
    Ok(())
}

/// Freezes or thaws through cgroup.freeze, waiting for cgroup.events.
pub(crate) fn freeze(d: &Path, frozen: bool) -> Result<()> {
    write(&d.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    for _ in 0..5000 {
        if read_trim(&d.join("cgroup.events"))?
            .lines()
            .any(|l| l == want)
        {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(Error::Other(format!("cgroup.events never said {want:?}")))
}

/// Whether cgroup.events says frozen.
pub(crate) fn is_frozen(d: &Path) -> bool {
    read_trim(&d.join("cgroup.events")).is_ok_and(|t| t.lines().any(|l| l == "frozen 1"))
}

/// The v2 back end (unified hosts): every resource in the container's
/// directory of the one hierarchy, the device policy as its eBPF program.
#[derive(Debug)]
pub struct V2Manager<'a> {
    st: &'a CgroupState,
}

impl<'a> V2Manager<'a> {
    /// The v2 manager of the container whose cgroups are `st`.
    pub fn new(st: &'a CgroupState) -> Self {
        V2Manager { st }
    }

    /// The container's cgroup2 directory, which a record of a unified host
    /// always has.
    fn dir(&self) -> Option<&Path> {
        self.st.paths.get("unified").map(PathBuf::as_path)
    }

    fn need_dir(&self) -> Result<&Path> {
        self.dir()
            .ok_or_else(|| Error::Other("no unified cgroup for this container".into()))
    }
}

impl Manager for V2Manager<'_> {
    fn state(&self) -> &CgroupState {
        self.st
    }

    fn unified(&self) -> bool {
        true
    }

    fn create(&self) -> Result<()> {
        let r = make_dirs(self.st, &mut |_| Ok(()));
        if r.is_err() {
            let _ = self.remove();
        }
        r
    }

    /// Enables the controllers `res` needs down the directory's path, then
    /// writes its files.
    fn apply_resources(&self, res: Option<&LinuxResources>, update: bool) -> Result<()> {
        let Some(res) = res else { return Ok(()) };
        let res = &unset_zeros(res);
        let d = self.need_dir()?;
        let hs = hierarchies()?;
        let mnt = hs
            .iter()
            .find(|h| h.v2)
            .map(|h| h.mountpoint.clone())
            .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
        enable_controllers(&mnt, d, &needed(res))?;
        apply(d, res, update)
    }

    /// On v2 the policy is the eBPF device program of the cgroup.
    fn apply_devices(&self, rules: &[LinuxDeviceCgroup], nodes: &[LinuxDevice]) -> Result<()> {
        if rules.is_empty() && !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        let policy = device_policy(rules, nodes);
        devices(self.need_dir()?, &policy)
    }

    // A record of a unified host always names its cgroup2 directory;
    // without one there is nothing to freeze and nothing to read.
    fn freeze(&self, frozen: bool) -> Result<()> {
        freeze(self.need_dir()?, frozen)
    }

    fn is_frozen(&self) -> bool {
        self.dir().is_some_and(is_frozen)
    }

    fn stats(&self) -> Stats {
        self.dir().map(stats::read_v2).unwrap_or_default()
    }

    /// SIGKILL through `cgroup.kill` where the kernel has it (Linux 5.14),
    /// every pid one by one otherwise.
    fn signal_all(&self, sig: i32) -> Result<()> {
        if sig == libc::SIGKILL {
            if let Some(k) = self
                .dir()
                .map(|d| d.join("cgroup.kill"))
                .filter(|k| k.exists())
            {
                return write(&k, "1");
            }
        }
        signal_each(self, sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake(files: &[&str]) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "corral-v2-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("mkdir");
        for f in files {
            fs::write(d.join(f), "").expect("touch");
        }
        d
    }

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).expect("resources json")
    }

    fn read(d: &Path, f: &str) -> String {
        fs::read_to_string(d.join(f))
            .expect("read")
            .trim()
            .to_string()
    }

    #[test]
    fn every_resource_lands_in_its_file() {
        let d = fake(&[
            "cpu.weight",
            "cpu.max",
            "cpu.max.burst",
            "cpu.idle",
            "cpuset.cpus",
            "cpuset.mems",
            "memory.max",
            "memory.low",
            "memory.swap.max",
            "memory.high",
            "pids.max",
            "io.weight",
            "io.max",
            "hugetlb.2MB.max",
            "hugetlb.2MB.rsvd.max",
            "memory.current",
            "rdma.max",
        ]);
        let r = res(r#"{
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10, "idle": 0, "cpus": "0", "mems": "0"},
            "memory": {"limit": 1048576, "reservation": 4096, "swap": 2097152},
            "pids": {"limit": 42},
            "blockIO": {"weight": 100, "throttleWriteBpsDevice": [{"major": 254, "minor": 0, "rate": 1000}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
            "unified": {"memory.high": "900000"},
            "rdma": {"rxe3": {"hcaObjects": 10000}}
        }"#);
        apply(&d, &r, false).expect("apply");
        assert_eq!(read(&d, "rdma.max"), "rxe3 hca_object=10000");
        assert_eq!(read(&d, "cpu.weight"), "39");
        assert_eq!(read(&d, "cpu.max"), "50000 100000");
        assert_eq!(read(&d, "cpu.max.burst"), "10");
        assert_eq!(read(&d, "cpuset.cpus"), "0");
        assert_eq!(read(&d, "memory.max"), "1048576");
        assert_eq!(read(&d, "memory.low"), "4096");
        assert_eq!(
            read(&d, "memory.swap.max"),
            "1048576",
            "OCI swap is memory+swap"
        );
        assert_eq!(read(&d, "pids.max"), "42");
        assert_eq!(
            read(&d, "io.weight"),
            "default 910",
            "blkio 100 as runc converts it"
        );
        assert_eq!(
            (
                blkio_to_io_weight(10),
                blkio_to_io_weight(500),
                blkio_to_io_weight(1000)
            ),
            (1, 4950, 10000)
        );
        assert_eq!(read(&d, "io.max"), "254:0 wbps=1000");
        assert_eq!(read(&d, "hugetlb.2MB.max"), "2097152");
        assert_eq!(read(&d, "hugetlb.2MB.rsvd.max"), "2097152");
        assert_eq!(read(&d, "memory.high"), "900000");
        apply(
            &d,
            &res(r#"{"cpu": {"quota": -1}, "memory": {"limit": -1, "swap": -1}}"#),
            false,
        )
        .expect("unlimited");
        assert_eq!(read(&d, "cpu.max"), "max 100000");
        assert_eq!(read(&d, "memory.max"), "max");
        assert_eq!(read(&d, "memory.swap.max"), "max");
        let e =
            apply(&d, &res(r#"{"unified": {"memory.bogus": "1"}}"#), false).expect_err("bogus key");
        assert!(
            e.to_string()
                .contains("linux.resources.unified.memory.bogus"),
            "{e}"
        );
        let e = apply(&d, &res(r#"{"unified": {"../x": "1"}}"#), false).expect_err("path key");
        assert!(e.to_string().contains("not a control file"), "{e}");
        fs::remove_dir_all(d).expect("cleanup");
    }

    #[test]
    fn what_v2_cannot_do_is_refused() {
        for (json, field) in [
            (r#"{"network": {"classID": 1}}"#, "linux.resources.network"),
            (r#"{"cpu": {"realtimeRuntime": 1}}"#, "realtimeRuntime"),
            (r#"{"memory": {"swappiness": 1}}"#, "swappiness"),
            (
                r#"{"memory": {"disableOOMKiller": true}}"#,
                "disableOOMKiller",
            ),
            (r#"{"blockIO": {"leafWeight": 1}}"#, "leafWeight"),
        ] {
            let e = check(&res(json)).expect_err(json);
            assert!(e.to_string().contains(field), "{e}");
        }
        check(&res(
            r#"{"memory": {"disableOOMKiller": false}, "cpu": {"shares": 2}}"#,
        ))
        .expect("fine");
    }

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 0);
    }

    #[test]
    fn controllers_enabled_down_the_path() {
        let root = fake(&[]);
        fs::write(root.join("cgroup.controllers"), "cpu memory pids io").expect("w");
        fs::write(root.join("cgroup.subtree_control"), "").expect("w");
        fs::create_dir_all(root.join("a/c")).expect("mkdir");
        fs::write(root.join("a/cgroup.controllers"), "cpu memory pids").expect("w");
        fs::write(root.join("a/cgroup.subtree_control"), "").expect("w");
        enable_controllers(&root, &root.join("a/c"), &["memory"]).expect("enable");
        assert_eq!(read(&root, "cgroup.subtree_control"), "+memory");
        assert_eq!(read(&root.join("a"), "cgroup.subtree_control"), "+memory");
        let e = enable_controllers(&root, &root.join("a/c"), &["io"])
            .expect_err("io missing below the root");
        assert!(e.to_string().contains("io controller"), "{e}");
        fs::remove_dir_all(root).expect("cleanup");
    }
}
