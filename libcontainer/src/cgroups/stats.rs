//! Resource usage of a container, read from its cgroups (v1 or v2) into one
//! typed struct, for `events --stats` and the shim's Stats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::controller_dir;

/// CPU usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time, nanoseconds.
    pub usage_total: u64,
    /// User CPU time, nanoseconds.
    pub usage_user: u64,
    /// Kernel CPU time, nanoseconds.
    pub usage_kernel: u64,
    /// Per-CPU time, nanoseconds (v1 only).
    pub per_cpu: Vec<u64>,
    /// Enforcement periods.
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Time throttled, nanoseconds.
    pub throttled_time: u64,
    /// CPU pressure (v2 `cpu.pressure`; `None` where the kernel has no PSI).
    #[serde(default)]
    pub psi: Option<Psi>,
}

/// One line of a pressure file: the share of time some (or all) of the
/// cgroup's tasks stalled over the last 10, 60 and 300 s, in percent, and
/// the total stall time in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiData {
    /// Percent over the last 10 s.
    pub avg10: f64,
    /// Percent over the last 60 s.
    pub avg60: f64,
    /// Percent over the last 300 s.
    pub avg300: f64,
    /// Total stall time, microseconds.
    pub total: u64,
}

/// Pressure stall information of one resource (`cpu.pressure`,
/// `memory.pressure`, `io.pressure`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Psi {
    /// Time at least one task stalled.
    pub some: PsiData,
    /// Time every task stalled at once (zero where the kernel gives no
    /// `full` line, as for a root cgroup's CPU before Linux 5.13).
    pub full: PsiData,
}

/// Memory usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage, bytes.
    pub usage: u64,
    /// Peak usage, bytes (where the kernel keeps it).
    pub max_usage: u64,
    /// The limit, bytes (`u64::MAX` for none).
    pub limit: u64,
    /// Page cache, bytes.
    pub cache: u64,
    /// Anonymous memory, bytes.
    pub rss: u64,
    /// Swap usage, bytes (v1: memory+swap).
    pub swap_usage: u64,
    /// Swap limit, bytes.
    pub swap_limit: u64,
    /// Times the limit was hit (v1 failcnt, v2 `max` events).
    pub failcnt: u64,
    /// OOM situations.
    pub oom_events: u64,
    /// Processes killed by the OOM killer.
    pub oom_kills: u64,
    /// The whole memory.stat, by key.
    pub raw: BTreeMap<String, u64>,
    /// Memory pressure (v2 `memory.pressure`).
    #[serde(default)]
    pub psi: Option<Psi>,
}

/// Process counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Processes now.
    pub current: u64,
    /// The limit (0 for none).
    pub limit: u64,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major.
    pub major: u64,
    /// Device minor.
    pub minor: u64,
    /// Read, Write, Sync, Async, Discard, Total (v1) or rbytes, wbytes, rios, wios (v2).
    pub op: String,
    /// The counter.
    pub value: u64,
}

/// Block I/O.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioStats {
    /// Bytes per device and op.
    pub io_service_bytes: Vec<BlkioEntry>,
    /// Operations per device and op.
    pub io_serviced: Vec<BlkioEntry>,
    /// I/O pressure (v2 `io.pressure`).
    #[serde(default)]
    pub psi: Option<Psi>,
}

/// Huge pages of one size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HugetlbStats {
    /// Bytes in use.
    pub usage: u64,
    /// Peak bytes (v1).
    pub max_usage: u64,
    /// Allocations refused by the limit (v1: the limit's and the
    /// reservation limit's failcnt together; v2: `max` events).
    pub failcnt: u64,
}

/// Every statistic corral reads for a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU.
    pub cpu: CpuStats,
    /// Memory.
    pub memory: MemoryStats,
    /// Pids.
    pub pids: PidsStats,
    /// Block I/O.
    pub blkio: BlkioStats,
    /// Huge pages by page size (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

fn num(p: &Path) -> u64 {
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| {
            let t = s.trim();
            if t == "max" {
                Some(u64::MAX)
            } else {
                t.parse().ok()
            }
        })
        .unwrap_or(0)
}

/// A pressure file (`some avg10=0.12 avg60=0.05 avg300=0.01 total=1234`
/// and a `full` line); `None` when it is missing (no PSI in the kernel, or
/// `psi=0` on its command line, where reading it fails with EOPNOTSUPP) or
/// has no `some` line.
pub(crate) fn psi(p: &Path) -> Option<Psi> {
    let text = std::fs::read_to_string(p).ok()?;
    let mut out = Psi::default();
    let mut some = false;
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let slot = match it.next() {
            Some("some") => {
                some = true;
                &mut out.some
            }
            Some("full") => &mut out.full,
            _ => continue,
        };
        for kvp in it {
            let Some((k, v)) = kvp.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => slot.avg10 = v.parse().unwrap_or(0.0),
                "avg60" => slot.avg60 = v.parse().unwrap_or(0.0),
                "avg300" => slot.avg300 = v.parse().unwrap_or(0.0),
                "total" => slot.total = v.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    some.then_some(out)
}

/// `key value` lines (memory.stat, cpu.stat, memory.events).
pub(crate) fn kv(p: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn page_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_prefix("hugetlb.")?
                        .strip_suffix(suffix)
                        .map(String::from)
                })
                .filter(|s| !s.contains('.'))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Reads v1 statistics from the container's hierarchies.
pub(crate) fn read_v1(paths: &BTreeMap<String, PathBuf>) -> Stats {
    let mut s = Stats::default();
    if let Some(d) = controller_dir(paths, "cpuacct") {
        s.cpu.usage_total = num(&d.join("cpuacct.usage"));
        s.cpu.per_cpu = std::fs::read_to_string(d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        // cpuacct.stat is in USER_HZ ticks.
        let ticks = kv(&d.join("cpuacct.stat"));
        let hz = 100u64;
        s.cpu.usage_user = ticks.get("user").copied().unwrap_or(0) * 1_000_000_000 / hz;
        s.cpu.usage_kernel = ticks.get("system").copied().unwrap_or(0) * 1_000_000_000 / hz;
    }
    if let Some(d) = controller_dir(paths, "cpu") {
        let st = kv(&d.join("cpu.stat"));
        s.cpu.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = controller_dir(paths, "memory") {
        let m = &mut s.memory;
        m.usage = num(&d.join("memory.usage_in_bytes"));
        m.max_usage = num(&d.join("memory.max_usage_in_bytes"));
        m.limit = num(&d.join("memory.limit_in_bytes"));
        m.failcnt = num(&d.join("memory.failcnt"));
        m.swap_usage = num(&d.join("memory.memsw.usage_in_bytes"));
        m.swap_limit = num(&d.join("memory.memsw.limit_in_bytes"));
        m.raw = kv(&d.join("memory.stat"));
        m.cache = m
            .raw
            .get("total_cache")
            .or(m.raw.get("cache"))
            .copied()
            .unwrap_or(0);
        m.rss = m
            .raw
            .get("total_rss")
            .or(m.raw.get("rss"))
            .copied()
            .unwrap_or(0);
        let oom = kv(&d.join("memory.oom_control"));
        m.oom_kills = oom.get("oom_kill").copied().unwrap_or(0);
        // v1 counts no separate OOM events: every kill is one.
        m.oom_events = m.oom_kills;
    }
    if let Some(d) = controller_dir(paths, "pids") {
        s.pids.current = num(&d.join("pids.current"));
        s.pids.limit = match num(&d.join("pids.max")) {
            u64::MAX => 0,
            n => n,
        };
    }
    if let Some(d) = controller_dir(paths, "blkio") {
        s.blkio.io_service_bytes = blkio_v1(&d.join("blkio.throttle.io_service_bytes"));
        s.blkio.io_serviced = blkio_v1(&d.join("blkio.throttle.io_serviced"));
    }
    if let Some(d) = controller_dir(paths, "hugetlb") {
        for size in page_sizes(d, ".usage_in_bytes") {
            s.hugetlb.insert(
                size.clone(),
                HugetlbStats {
                    usage: num(&d.join(format!("hugetlb.{size}.usage_in_bytes"))),
                    max_usage: num(&d.join(format!("hugetlb.{size}.max_usage_in_bytes"))),
                    // A refusal is counted by the limit or, for a
                    // reservation (fallocate, mmap), by the rsvd limit.
                    failcnt: num(&d.join(format!("hugetlb.{size}.failcnt")))
                        + num(&d.join(format!("hugetlb.{size}.rsvd.failcnt"))),
                },
            );
        }
    }
    s
}

/// Parses v1 `blkio.*io_service*` files: `MAJ:MIN Op value` lines.
pub(crate) fn blkio_v1(p: &Path) -> Vec<BlkioEntry> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (dev, op, v) = (it.next()?, it.next()?, it.next()?);
            let (maj, min) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: op.to_string(),
                value: v.parse().ok()?,
            })
        })
        .collect()
}

/// Reads v2 statistics from the container's cgroup.
pub(crate) fn read_v2(d: &Path) -> Stats {
    let mut s = Stats::default();
    let cpu = kv(&d.join("cpu.stat"));
    let g = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    s.cpu.usage_total = g(&cpu, "usage_usec") * 1000;
    s.cpu.usage_user = g(&cpu, "user_usec") * 1000;
    s.cpu.usage_kernel = g(&cpu, "system_usec") * 1000;
    s.cpu.periods = g(&cpu, "nr_periods");
    s.cpu.throttled_periods = g(&cpu, "nr_throttled");
    s.cpu.throttled_time = g(&cpu, "throttled_usec") * 1000;
    s.cpu.psi = psi(&d.join("cpu.pressure"));
    s.blkio.psi = psi(&d.join("io.pressure"));
    let m = &mut s.memory;
    m.psi = psi(&d.join("memory.pressure"));
    m.usage = num(&d.join("memory.current"));
    m.max_usage = num(&d.join("memory.peak"));
    m.limit = num(&d.join("memory.max"));
    m.swap_usage = num(&d.join("memory.swap.current"));
    m.swap_limit = num(&d.join("memory.swap.max"));
    m.raw = kv(&d.join("memory.stat"));
    m.cache = g(&m.raw, "file");
    m.rss = g(&m.raw, "anon");
    let ev = kv(&d.join("memory.events"));
    m.failcnt = g(&ev, "max");
    m.oom_events = g(&ev, "oom");
    m.oom_kills = g(&ev, "oom_kill");
    s.pids.current = num(&d.join("pids.current"));
    s.pids.limit = match num(&d.join("pids.max")) {
        u64::MAX => 0,
        n => n,
    };
    for l in std::fs::read_to_string(d.join("io.stat"))
        .unwrap_or_default()
        .lines()
    {
        let mut it = l.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kvp in it {
            let Some((k, v)) = kvp.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let e = BlkioEntry {
                major,
                minor,
                op: k.to_string(),
                value,
            };
            match k {
                "rbytes" | "wbytes" | "dbytes" => s.blkio.io_service_bytes.push(e),
                "rios" | "wios" | "dios" => s.blkio.io_serviced.push(e),
                _ => {}
            }
        }
    }
    for size in page_sizes(d, ".current") {
        let events = kv(&d.join(format!("hugetlb.{size}.events")));
        s.hugetlb.insert(
            size.clone(),
            HugetlbStats {
                usage: num(&d.join(format!("hugetlb.{size}.current"))),
                max_usage: 0,
                failcnt: g(&events, "max"),
            },
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("corral-stats-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn v1_files_parse() {
        let base = dir("v1");
        let mut paths = BTreeMap::new();
        for (c, files) in [
            (
                "cpuacct",
                vec![
                    ("cpuacct.usage", "5000"),
                    ("cpuacct.usage_percpu", "2000 3000 "),
                    ("cpuacct.stat", "user 2\nsystem 1\n"),
                ],
            ),
            (
                "cpu",
                vec![(
                    "cpu.stat",
                    "nr_periods 10\nnr_throttled 4\nthrottled_time 999\n",
                )],
            ),
            (
                "memory",
                vec![
                    ("memory.usage_in_bytes", "100"),
                    ("memory.max_usage_in_bytes", "200"),
                    ("memory.limit_in_bytes", "300"),
                    ("memory.failcnt", "7"),
                    (
                        "memory.stat",
                        "cache 11\nrss 22\ntotal_cache 33\ntotal_rss 44\n",
                    ),
                    (
                        "memory.oom_control",
                        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
                    ),
                ],
            ),
            ("pids", vec![("pids.current", "5"), ("pids.max", "max")]),
            (
                "blkio",
                vec![(
                    "blkio.throttle.io_service_bytes",
                    "254:0 Read 4096\n254:0 Write 0\nTotal 4096\n",
                )],
            ),
            (
                "hugetlb",
                vec![
                    ("hugetlb.2MB.usage_in_bytes", "2097152"),
                    ("hugetlb.2MB.max_usage_in_bytes", "4194304"),
                    ("hugetlb.2MB.failcnt", "1"),
                ],
            ),
        ] {
            let d = base.join(c);
            fs::create_dir_all(&d).expect("mkdir");
            for (f, v) in files {
                fs::write(d.join(f), v).expect("write");
            }
            paths.insert(c.to_string(), d);
        }
        let s = read_v1(&paths);
        assert_eq!(s.cpu.usage_total, 5000);
        assert_eq!(s.cpu.per_cpu, [2000, 3000]);
        assert_eq!(s.cpu.usage_user, 20_000_000);
        assert_eq!(s.cpu.throttled_periods, 4);
        assert_eq!(
            (s.memory.usage, s.memory.max_usage, s.memory.limit),
            (100, 200, 300)
        );
        assert_eq!((s.memory.cache, s.memory.rss), (33, 44));
        assert_eq!((s.memory.oom_kills, s.memory.failcnt), (3, 7));
        assert_eq!((s.pids.current, s.pids.limit), (5, 0));
        assert_eq!(s.blkio.io_service_bytes.len(), 2);
        assert_eq!(s.blkio.io_service_bytes[0].value, 4096);
        assert_eq!(
            s.hugetlb["2MB"],
            HugetlbStats {
                usage: 2097152,
                max_usage: 4194304,
                failcnt: 1
            }
        );
        fs::remove_dir_all(base).expect("cleanup");
    }

    #[test]
    fn v2_files_parse() {
        let d = dir("v2");
        for (f, v) in [
            ("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 2\nthrottled_usec 1\n"),
            ("memory.current", "100"), ("memory.peak", "150"), ("memory.max", "max"),
            ("memory.stat", "anon 40\nfile 60\n"), ("memory.events", "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n"),
            ("pids.current", "3"), ("pids.max", "10"),
            ("io.stat", "254:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("hugetlb.2MB.current", "0"), ("hugetlb.2MB.events", "max 4\n"),
        ] {
            fs::write(d.join(f), v).expect("write");
        }
        let s = read_v2(&d);
        assert_eq!(
            (s.cpu.usage_total, s.cpu.usage_user, s.cpu.throttled_time),
            (10_000, 6_000, 1_000)
        );
        assert_eq!(
            (s.memory.usage, s.memory.max_usage, s.memory.limit),
            (100, 150, u64::MAX)
        );
        assert_eq!(
            (s.memory.rss, s.memory.cache, s.memory.failcnt),
            (40, 60, 9)
        );
        assert_eq!((s.memory.oom_events, s.memory.oom_kills), (2, 1));
        assert_eq!((s.pids.current, s.pids.limit), (3, 10));
        assert_eq!(s.blkio.io_service_bytes.len(), 3);
        assert_eq!(s.blkio.io_serviced.len(), 3);
        assert_eq!(s.hugetlb["2MB"].failcnt, 4);
        // No pressure files: no PSI (a kernel without it).
        assert_eq!(
            (&s.cpu.psi, &s.memory.psi, &s.blkio.psi),
            (&None, &None, &None)
        );
        fs::write(
            d.join("memory.pressure"),
            "some avg10=1.50 avg60=0.25 avg300=0.05 total=123456\nfull avg10=0.75 avg60=0.00 avg300=0.00 total=789\n",
        )
        .expect("write");
        fs::write(
            d.join("cpu.pressure"),
            "some avg10=2.00 avg60=1.00 avg300=0.50 total=42\n",
        )
        .expect("write");
        let s = read_v2(&d);
        let m = s.memory.psi.expect("memory psi");
        assert_eq!(
            (m.some.avg10, m.some.avg60, m.some.total),
            (1.5, 0.25, 123_456)
        );
        assert_eq!((m.full.avg10, m.full.total), (0.75, 789));
        let c = s.cpu.psi.expect("cpu psi");
        assert_eq!((c.some.avg300, c.some.total, c.full.total), (0.5, 42, 0));
        assert_eq!(s.blkio.psi, None);
        fs::remove_dir_all(d).expect("cleanup");
    }
}
