//! `corral update`: runc's resource flags, or a whole `--resources` JSON.

use std::io::Read;
use std::path::Path;

use std::path::PathBuf;

use clap::Args;
use libcontainer::Container;
use serde_json::{json, Map, Value};

/// Flags of `update`, as runc's.
#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    /// Path to a file with the resources to update (JSON, as linux.resources); "-" reads stdin.
    #[arg(long, short = 'r')]
    resources: Option<PathBuf>,
    /// Specifies per cgroup weight, range is from 10 to 1000.
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU CFS period to be used for hardcapping (in usecs).
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for burst in a given period.
    #[arg(long = "cpu-burst")]
    cpu_burst: Option<u64>,
    /// CPU shares (relative weight vs. other containers).
    #[arg(long = "cpu-share")]
    cpu_share: Option<u64>,
    /// CPU realtime period to be used for hardcapping (in usecs).
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// CPU realtime hardcap limit (in usecs).
    #[arg(long = "cpu-rt-runtime")]
    cpu_rt_runtime: Option<i64>,
    /// CPU(s) to use.
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory node(s) to use.
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Kernel memory limit (refused: kernels since 5.16 ignore it).
    #[arg(long = "kernel-memory")]
    kernel_memory: Option<String>,
    /// Kernel memory limit for TCP buffers (in bytes).
    #[arg(long = "kernel-memory-tcp")]
    kernel_memory_tcp: Option<String>,
    /// Memory limit (in bytes, or with k, m, g).
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes).
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); -1 for unlimited swap.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container.
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// The string of Intel RDT/CAT L3 cache schema (refused: no RDT support).
    #[arg(long = "l3-cache-schema")]
    l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema (refused: no RDT support).
    #[arg(long = "mem-bw-schema")]
    mem_bw_schema: Option<String>,
    /// Container id.
    id: String,
}

/// Parses `100`, `64k`, `512m`, `1g` (powers of 1024, as runc's
/// RAMInBytes); `-1` for unlimited.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    if n < 0.0 {
        return Err(format!("invalid size {s:?}"));
    }
    Ok((n * mult as f64) as i64)
}

fn resources_from_flags(a: &UpdateArgs) -> Result<Value, String> {
    if a.kernel_memory.is_some() {
        return Err(
            "--kernel-memory: kernel memory limits are ignored by kernels since 5.16".into(),
        );
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        return Err("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported by this version of corral".into());
    }
    let mut r = Map::new();
    let mut mem = Map::new();
    if let Some(v) = &a.memory {
        let flag = "--memory";
        mem.insert(
            "limit".into(),
            json!(parse_bytes(v).map_err(|e| format!("{flag}: {e}"))?),
        );
    }
    if let Some(v) = &a.memory_reservation {
        let flag = "--memory-reservation";
        mem.insert(
            "reservation".into(),
            json!(parse_bytes(v).map_err(|e| format!("{flag}: {e}"))?),
        );
    }
    if let Some(v) = &a.memory_swap {
        let flag = "--memory-swap";
        mem.insert(
            "swap".into(),
            json!(parse_bytes(v).map_err(|e| format!("{flag}: {e}"))?),
        );
    }
    if let Some(v) = &a.kernel_memory_tcp {
        let flag = "--kernel-memory-tcp";
        mem.insert(
            "kernelTCP".into(),
            json!(parse_bytes(v).map_err(|e| format!("{flag}: {e}"))?),
        );
    }
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = Map::new();
    for (k, v) in [
        ("shares", a.cpu_share.map(|x| json!(x))),
        ("quota", a.cpu_quota.map(|x| json!(x))),
        ("period", a.cpu_period.map(|x| json!(x))),
        ("burst", a.cpu_burst.map(|x| json!(x))),
        ("realtimeRuntime", a.cpu_rt_runtime.map(|x| json!(x))),
        ("realtimePeriod", a.cpu_rt_period.map(|x| json!(x))),
        ("cpus", a.cpuset_cpus.clone().map(Value::String)),
        ("mems", a.cpuset_mems.clone().map(Value::String)),
    ] {
        if let Some(v) = v {
            cpu.insert(k.into(), v);
        }
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(w) = a.blkio_weight {
        r.insert("blockIO".into(), json!({"weight": w}));
    }
    if let Some(p) = a.pids_limit {
        r.insert("pids".into(), json!({"limit": p}));
    }
    Ok(Value::Object(r))
}

/// Runs `corral update`.
pub fn run(root: &Path, a: &UpdateArgs) -> Result<i32, String> {
    let mut c = Container::load(root, &a.id).map_err(|e| e.to_string())?;
    let value = match &a.resources {
        Some(f) => {
            let mut text = Vec::new();
            if f.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut text)
                    .map_err(|e| format!("read stdin: {e}"))?;
            } else {
                text = std::fs::read(f).map_err(|e| format!("read {f:?}: {e}"))?;
            }
            serde_json::from_slice(&text).map_err(|e| format!("--resources: {e}"))?
        }
        None => resources_from_flags(a)?,
    };
    let de = value.clone();
    let res: oci_spec::runtime::LinuxResources = serde_path_to_error::deserialize(de)
        .map_err(|e| format!("linux.resources.{}: {}", e.path(), e.inner()))?;
    c.update(&res).map_err(|e| e.to_string())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("64k"), Ok(65536));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("1gb"), Ok(1 << 30));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("lots").is_err());
    }
}
