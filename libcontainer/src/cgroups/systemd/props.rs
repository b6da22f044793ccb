//! The OCI resources as systemd unit properties, as runc's systemd driver
//! sets them. Whatever systemd cannot express (swappiness, realtime
//! periods, hugetlb, rdma, per-device throttles, `unified`) the cgroupfs
//! back end then writes to the files, as it also writes everything set
//! here: systemd's view and the files agree.

use oci_spec::runtime::LinuxResources;
use zbus::zvariant::Value;

use crate::cgroups::resources::unset_zeros;
use crate::cgroups::v2::{blkio_to_io_weight, shares_to_weight};

/// Unit properties, as `StartTransientUnit` and `SetUnitProperties` take
/// them (`a(sv)`).
pub(crate) type Props = Vec<(&'static str, Value<'static>)>;

/// systemd's "infinity" for limits in bytes, tasks and CPU time.
const INFINITY: u64 = u64::MAX;

/// The properties of a new scope: its slice and description, the first
/// process in it, `Delegate=yes` (the container may make cgroups below its
/// own; systemd leaves them alone) and accounting for every controller
/// the container's limits use.
pub(crate) fn scope(id: &str, slice: &str, pid: u32, v2: bool) -> Props {
    let mut p: Props = vec![
        ("Description", Value::from(format!("corral container {id}"))),
        ("Slice", Value::from(slice.to_string())),
        ("PIDs", Value::from(vec![pid])),
        ("Delegate", Value::from(true)),
        // A scope ordered after nothing (runc sets this too): starting it
        // waits for no other unit.
        ("DefaultDependencies", Value::from(false)),
        ("MemoryAccounting", Value::from(true)),
        ("CPUAccounting", Value::from(true)),
        ("TasksAccounting", Value::from(true)),
    ];
    p.push(if v2 {
        ("IOAccounting", Value::from(true))
    } else {
        ("BlockIOAccounting", Value::from(true))
    });
    p
}

/// CPU quota per second of wall time, in µs, as systemd takes it
/// (`CPUQuotaPerSecUSec`): quota/period, rounded up to whole 10 ms, as
/// runc rounds it (systemd keeps percent, 10 ms steps); a quota of -1 or
/// none with a period is infinity.
pub(crate) fn quota_per_sec(quota: Option<i64>, period: Option<u64>) -> u64 {
    let period = period.filter(|p| *p > 0).unwrap_or(100_000);
    match quota {
        Some(q) if q > 0 => {
            let per_sec = (q as u64).saturating_mul(1_000_000) / period;
            if !per_sec.is_multiple_of(10_000) {
                (per_sec / 10_000 + 1) * 10_000
            } else {
                per_sec
            }
        }
        _ => INFINITY,
    }
}

/// A cpuset list (`0-3,8`) as systemd's CPU/NUMA mask property (`ay`:
/// byte i holds CPUs 8i..8i+7, lowest bit first). None for a list that
/// does not parse (the cgroup file's write then names the field).
pub(crate) fn cpuset_mask(list: &str) -> Option<Vec<u8>> {
    let mut mask: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().ok()?,
                b.trim().parse::<usize>().ok()?,
            ),
            None => {
                let n = part.parse::<usize>().ok()?;
                (n, n)
            }
        };
        // The kernel's own bound on CPUs (NR_CPUS is at most 8192).
        if lo > hi || hi >= 8192 {
            return None;
        }
        if mask.len() <= hi / 8 {
            mask.resize(hi / 8 + 1, 0);
        }
        for c in lo..=hi {
            mask[c / 8] |= 1 << (c % 8);
        }
    }
    Some(mask)
}

/// The properties for `res` (zeros that mean "unset" left out, as the
/// files read them), on a unified (`v2`) or a v1 host.
pub(crate) fn resources(res: &LinuxResources, v2: bool) -> Props {
    let res = unset_zeros(res);
    let mut p = Props::new();
    let bytes = |v: i64| if v < 0 { INFINITY } else { v as u64 };
    if let Some(m) = res.memory() {
        if let Some(l) = m.limit() {
            p.push((
                if v2 { "MemoryMax" } else { "MemoryLimit" },
                Value::from(bytes(l)),
            ));
        }
        if v2 {
            if let Some(r) = m.reservation() {
                p.push(("MemoryLow", Value::from(bytes(r))));
            }
            // OCI swap is memory+swap; systemd's MemorySwapMax is swap
            // alone, as cgroup v2's memory.swap.max.
            if let Some(s) = m.swap() {
                let swap = match (s, m.limit()) {
                    (s, _) if s < 0 => INFINITY,
                    (s, Some(l)) if l >= 0 => (s - l).max(0) as u64,
                    (s, _) => s as u64,
                };
                p.push(("MemorySwapMax", Value::from(swap)));
            }
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares() {
            if v2 {
                p.push(("CPUWeight", Value::from(shares_to_weight(s))));
            } else {
                p.push(("CPUShares", Value::from(s)));
            }
        }
        if let Some(period) = c.period() {
            p.push(("CPUQuotaPeriodUSec", Value::from(period)));
        }
        if c.quota().is_some() || c.period().is_some() {
            p.push((
                "CPUQuotaPerSecUSec",
                Value::from(quota_per_sec(c.quota(), c.period())),
            ));
        }
        if v2 {
            if let Some(mask) = c.cpus().as_deref().and_then(cpuset_mask) {
                p.push(("AllowedCPUs", Value::from(mask)));
            }
            if let Some(mask) = c.mems().as_deref().and_then(cpuset_mask) {
                p.push(("AllowedMemoryNodes", Value::from(mask)));
            }
        }
    }
    if let Some(pids) = res.pids() {
        // 0 is left to the file (a limit of 0 tasks; systemd reads
        // TasksMax=0 as its default).
        match pids.limit() {
            l if l < 0 => p.push(("TasksMax", Value::from(INFINITY))),
            l if l > 0 => p.push(("TasksMax", Value::from(l as u64))),
            _ => {}
        }
    }
    if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()) {
        if v2 {
            p.push(("IOWeight", Value::from(blkio_to_io_weight(w))));
        } else {
            p.push(("BlockIOWeight", Value::from(u64::from(w))));
        }
    }
    p
}

/// A device rule of the policy (`devices::device_policy`, v1 syntax) as a
/// `DeviceAllow` entry: `/dev/char/M:m` for one device, `char-*` or
/// `block-*` for every major, the /proc/devices group (`char-pts`) for
/// every minor of one major.
fn device_allow(rule: &str, groups: &str) -> Option<(String, String)> {
    let mut it = rule.split_whitespace();
    let (t, nums, access) = (it.next()?, it.next()?, it.next()?);
    let kind = match t {
        "c" => "char",
        "b" => "block",
        _ => return None,
    };
    let (major, minor) = nums.split_once(':')?;
    let path = match (major, minor) {
        ("*", _) => format!("{kind}-*"),
        (maj, "*") => format!("{kind}-{}", device_group(groups, kind, maj.parse().ok()?)?),
        (maj, min) => format!("/dev/{kind}/{maj}:{min}"),
    };
    Some((path, access.to_string()))
}

/// The name /proc/devices gives major `major` of `kind` ("char" or
/// "block").
fn device_group(proc_devices: &str, kind: &str, major: u32) -> Option<String> {
    let header = if kind == "char" {
        "Character devices:"
    } else {
        "Block devices:"
    };
    let mut inside = false;
    for line in proc_devices.lines() {
        let l = line.trim();
        if l.ends_with("devices:") {
            inside = l == header;
            continue;
        }
        if inside {
            let mut f = l.split_whitespace();
            if f.next().and_then(|n| n.parse::<u32>().ok()) == Some(major) {
                return f.next().map(str::to_string);
            }
        }
    }
    None
}

/// The device policy as `DevicePolicy` and `DeviceAllow`. An allow-list
/// (the policy starts by denying everything and allows after, the shape
/// `device_policy` builds) is `strict` with its entries; a rule systemd
/// cannot express (a deny after an allow, a major /proc/devices does not
/// name) or an allow-all makes it `auto` with no entries, and the
/// container's own device program (or v1 devices files), which enforce
/// the whole policy whatever systemd does, decide alone. runc instead
/// makes systemd deny everything for a deny rule, which on cgroup v2
/// denies what the policy allows.
pub(crate) fn devices(policy: &[(bool, String)], proc_devices: &str) -> Props {
    let auto = || {
        vec![
            ("DevicePolicy", Value::from("auto".to_string())),
            ("DeviceAllow", Value::from(Vec::<(String, String)>::new())),
        ]
    };
    let Some(((false, first), rest)) = policy.split_first().map(|(f, r)| (f.clone(), r)) else {
        return auto();
    };
    if first != "a *:* rwm" {
        return auto();
    }
    let mut allow = Vec::new();
    for (ok, rule) in rest {
        match (ok, rule.starts_with("a ")) {
            // Deny everything again (the runtime-spec's usual first rule):
            // the list starts over.
            (false, true) if rule.ends_with(" rwm") => {
                allow.clear();
                continue;
            }
            // A deny of what nothing allows yet changes nothing.
            (false, false) if allow.is_empty() => continue,
            // Allow-all, a partial deny-all, a deny after allows.
            (false, _) | (true, true) => return auto(),
            (true, false) => {}
        }
        match device_allow(rule, proc_devices) {
            Some(e) => allow.push(e),
            None => return auto(),
        }
    }
    vec![
        ("DevicePolicy", Value::from("strict".to_string())),
        ("DeviceAllow", Value::from(allow)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::device_policy;
    use oci_spec::runtime::LinuxDeviceCgroup;

    fn get<'a>(p: &'a Props, k: &str) -> Option<&'a Value<'static>> {
        p.iter().find(|(n, _)| *n == k).map(|(_, v)| v)
    }

    #[test]
    fn resources_become_runcs_properties() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 67108864, "reservation": 1048576, "swap": 134217728},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-2,9", "mems": "0"},
                "pids": {"limit": 42}, "blockIO": {"weight": 500}}"#,
        )
        .expect("json");
        let p = resources(&r, true);
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::from(67_108_864u64)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::from(1_048_576u64)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::from(67_108_864u64)));
        // runc: 512 shares are CPUWeight 20; 50000/100000 is 500 ms a second.
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::from(20u64)));
        assert_eq!(
            get(&p, "CPUQuotaPerSecUSec"),
            Some(&Value::from(500_000u64))
        );
        assert_eq!(
            get(&p, "CPUQuotaPeriodUSec"),
            Some(&Value::from(100_000u64))
        );
        assert_eq!(
            get(&p, "AllowedCPUs"),
            Some(&Value::from(vec![0b0000_0111u8, 0b10]))
        );
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&Value::from(vec![1u8])));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::from(42u64)));
        assert_eq!(get(&p, "IOWeight"), Some(&Value::from(4950u64)));

        let v1 = resources(&r, false);
        assert_eq!(get(&v1, "MemoryLimit"), Some(&Value::from(67_108_864u64)));
        assert_eq!(get(&v1, "CPUShares"), Some(&Value::from(512u64)));
        assert_eq!(get(&v1, "BlockIOWeight"), Some(&Value::from(500u64)));
        assert!(get(&v1, "MemorySwapMax").is_none() && get(&v1, "AllowedCPUs").is_none());

        let unlimited: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": -1, "swap": -1}, "cpu": {"quota": -1, "period": 100000}, "pids": {"limit": -1}}"#,
        )
        .expect("json");
        let u = resources(&unlimited, true);
        for k in [
            "MemoryMax",
            "MemorySwapMax",
            "CPUQuotaPerSecUSec",
            "TasksMax",
        ] {
            assert_eq!(get(&u, k), Some(&Value::from(u64::MAX)), "{k}");
        }
        // Docker's zeros are unset; pids 0 is left to the file.
        let zeros: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 0}, "cpu": {"shares": 0}, "pids": {"limit": 0}}"#,
        )
        .expect("json");
        assert!(resources(&zeros, true).is_empty());
    }

    #[test]
    fn quota_rounds_up_to_ten_ms_as_runc() {
        assert_eq!(quota_per_sec(Some(50_000), Some(100_000)), 500_000);
        assert_eq!(quota_per_sec(Some(12_345), Some(100_000)), 130_000);
        assert_eq!(quota_per_sec(Some(20_000), None), 200_000);
        assert_eq!(quota_per_sec(None, Some(100_000)), u64::MAX);
    }

    #[test]
    fn cpuset_masks() {
        assert_eq!(cpuset_mask("0"), Some(vec![1]));
        assert_eq!(cpuset_mask("8-9"), Some(vec![0, 3]));
        assert_eq!(cpuset_mask(""), Some(vec![]));
        assert_eq!(cpuset_mask("3-1"), None);
        assert_eq!(cpuset_mask("x"), None);
        assert_eq!(cpuset_mask("9000"), None);
    }

    const PROC_DEVICES: &str =
        "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  7 loop\n  8 sd\n";

    #[test]
    fn device_policy_becomes_strict_with_entries() {
        let p = devices(&device_policy(&[], &[]), PROC_DEVICES);
        assert_eq!(
            get(&p, "DevicePolicy"),
            Some(&Value::from("strict".to_string()))
        );
        let Some(Value::Array(a)) = get(&p, "DeviceAllow") else {
            panic!("no DeviceAllow: {p:?}")
        };
        let entries: Vec<String> = a.iter().map(|v| format!("{v}")).collect();
        let text = entries.join(" ");
        for want in [
            "char-*",
            "block-*",
            "/dev/char/1:3",
            "char-pts",
            "/dev/char/10:200",
        ] {
            assert!(text.contains(want), "{want} not in {text}");
        }
        // The runtime-spec's usual deny-all rule first, then a deny of
        // what nothing allows yet: still an allow-list.
        let spec_first: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},{"allow":false,"type":"b","major":8,"minor":0,"access":"rwm"}]"#,
        )
        .expect("json");
        let p = devices(&device_policy(&spec_first, &[]), PROC_DEVICES);
        assert_eq!(
            get(&p, "DevicePolicy"),
            Some(&Value::from("strict".to_string()))
        );
        // A deny after allows cannot be said to systemd: auto, and the
        // container's own program decides.
        let mut deny = device_policy(&[], &[]);
        deny.push((false, "c 1:3 rwm".into()));
        let p = devices(&deny, PROC_DEVICES);
        assert_eq!(
            get(&p, "DevicePolicy"),
            Some(&Value::from("auto".to_string()))
        );
        // A major /proc/devices does not know: auto too.
        let odd = vec![
            (false, "a *:* rwm".to_string()),
            (true, "c 250:* rwm".to_string()),
        ];
        assert_eq!(
            get(&devices(&odd, PROC_DEVICES), "DevicePolicy"),
            Some(&Value::from("auto".to_string()))
        );
        assert_eq!(
            device_group(PROC_DEVICES, "block", 8).as_deref(),
            Some("sd")
        );
        assert_eq!(device_group(PROC_DEVICES, "char", 8), None);
    }
}
