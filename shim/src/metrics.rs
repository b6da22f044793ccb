//! libcontainer's statistics in containerd's metrics types: cgroup v1
//! (`io.containerd.cgroups.v1.Metrics`) or v2
//! (`io.containerd.cgroups.v2.Metrics`), as the host's layout is.

use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{Message, MessageField};
use libcontainer::cgroups::Stats;

/// `s` packed as containerd's metrics of the v1 or v2 kind.
pub fn pack(s: &Stats, unified: bool) -> Any {
    let (type_url, value) = if unified {
        (
            "io.containerd.cgroups.v2.Metrics",
            to_v2(s).write_to_bytes(),
        )
    } else {
        (
            "io.containerd.cgroups.v1.Metrics",
            to_v1(s).write_to_bytes(),
        )
    };
    let mut a = Any::new();
    a.type_url = type_url.into();
    a.value = value.unwrap_or_default();
    a
}

fn to_v1(s: &Stats) -> v1::Metrics {
    let mut m = v1::Metrics::new();
    let mut pids = v1::PidsStat::new();
    pids.current = s.pids.current;
    pids.limit = s.pids.limit;
    m.pids = MessageField::some(pids);
    let mut usage = v1::CPUUsage::new();
    usage.total = s.cpu.usage_total;
    usage.user = s.cpu.usage_user;
    usage.kernel = s.cpu.usage_kernel;
    usage.per_cpu = s.cpu.per_cpu.clone();
    let mut thr = v1::Throttle::new();
    thr.periods = s.cpu.periods;
    thr.throttled_periods = s.cpu.throttled_periods;
    thr.throttled_time = s.cpu.throttled_time;
    let mut cpu = v1::CPUStat::new();
    cpu.usage = MessageField::some(usage);
    cpu.throttling = MessageField::some(thr);
    m.cpu = MessageField::some(cpu);
    let mut mem = v1::MemoryStat::new();
    mem.cache = s.memory.cache;
    mem.rss = s.memory.rss;
    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    mem.mapped_file = raw("mapped_file");
    mem.dirty = raw("dirty");
    mem.writeback = raw("writeback");
    mem.pg_fault = raw("pgfault");
    mem.pg_maj_fault = raw("pgmajfault");
    mem.inactive_anon = raw("inactive_anon");
    mem.active_anon = raw("active_anon");
    mem.inactive_file = raw("inactive_file");
    mem.active_file = raw("active_file");
    mem.unevictable = raw("unevictable");
    mem.total_cache = raw("total_cache");
    mem.total_rss = raw("total_rss");
    let mut u = v1::MemoryEntry::new();
    u.usage = s.memory.usage;
    u.max = s.memory.max_usage;
    u.limit = s.memory.limit;
    u.failcnt = s.memory.failcnt;
    mem.usage = MessageField::some(u);
    let mut sw = v1::MemoryEntry::new();
    sw.usage = s.memory.swap_usage;
    sw.limit = s.memory.swap_limit;
    mem.swap = MessageField::some(sw);
    m.memory = MessageField::some(mem);
    for (size, h) in &s.hugetlb {
        let mut e = v1::HugetlbStat::new();
        e.usage = h.usage;
        e.max = h.max_usage;
        e.failcnt = h.failcnt;
        e.pagesize = size.clone();
        m.hugetlb.push(e);
    }
    let mut blk = v1::BlkIOStat::new();
    let entries = |list: &[libcontainer::cgroups::stats::BlkioEntry]| {
        list.iter()
            .map(|b| {
                let mut e = v1::BlkIOEntry::new();
                e.major = b.major;
                e.minor = b.minor;
                e.op = b.op.clone();
                e.value = b.value;
                e
            })
            .collect::<Vec<_>>()
    };
    blk.io_service_bytes_recursive = entries(&s.blkio.io_service_bytes);
    blk.io_serviced_recursive = entries(&s.blkio.io_serviced);
    m.blkio = MessageField::some(blk);
    m
}

fn to_v2(s: &Stats) -> v2::Metrics {
    let mut m = v2::Metrics::new();
    let mut pids = v2::PidsStat::new();
    pids.current = s.pids.current;
    pids.limit = s.pids.limit;
    m.pids = MessageField::some(pids);
    let mut cpu = v2::CPUStat::new();
    // libcontainer counts CPU time in nanoseconds, v2 metrics in µs.
    cpu.usage_usec = s.cpu.usage_total / 1000;
    cpu.user_usec = s.cpu.usage_user / 1000;
    cpu.system_usec = s.cpu.usage_kernel / 1000;
    cpu.nr_periods = s.cpu.periods;
    cpu.nr_throttled = s.cpu.throttled_periods;
    cpu.throttled_usec = s.cpu.throttled_time / 1000;
    m.cpu = MessageField::some(cpu);
    let mut mem = v2::MemoryStat::new();
    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    mem.usage = s.memory.usage;
    mem.usage_limit = s.memory.limit;
    mem.max_usage = s.memory.max_usage;
    mem.swap_usage = s.memory.swap_usage;
    mem.swap_limit = s.memory.swap_limit;
    mem.anon = raw("anon");
    mem.file = raw("file");
    mem.kernel_stack = raw("kernel_stack");
    mem.slab = raw("slab");
    mem.sock = raw("sock");
    mem.shmem = raw("shmem");
    mem.file_mapped = raw("file_mapped");
    mem.file_dirty = raw("file_dirty");
    mem.inactive_anon = raw("inactive_anon");
    mem.active_anon = raw("active_anon");
    mem.inactive_file = raw("inactive_file");
    mem.active_file = raw("active_file");
    m.memory = MessageField::some(mem);
    let mut ev = v2::MemoryEvents::new();
    ev.oom = s.memory.oom_events;
    ev.oom_kill = s.memory.oom_kills;
    m.memory_events = MessageField::some(ev);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_round_trip() {
        let mut s = Stats::default();
        s.memory.usage = 4096;
        s.memory.oom_kills = 2;
        s.cpu.usage_total = 5_000_000;
        s.pids.current = 3;
        let a = pack(&s, false);
        assert_eq!(a.type_url, "io.containerd.cgroups.v1.Metrics");
        let m = v1::Metrics::parse_from_bytes(&a.value).expect("v1");
        assert_eq!(m.memory.usage.usage, 4096);
        assert_eq!(m.pids.current, 3);
        let a = pack(&s, true);
        assert_eq!(a.type_url, "io.containerd.cgroups.v2.Metrics");
        let m = v2::Metrics::parse_from_bytes(&a.value).expect("v2");
        assert_eq!(m.cpu.usage_usec, 5000);
        assert_eq!(m.memory_events.oom_kill, 2);
    }
}
