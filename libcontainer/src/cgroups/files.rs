//! Reading and writing control files, with errors that name the config
//! field a file is written from; the values both versions write alike.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

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
pub(crate) fn read_trim(p: &Path) -> Result<String> {
    fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io("read", p, e))
}
