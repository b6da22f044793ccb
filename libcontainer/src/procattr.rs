//! Per-process kernel attributes of runtime-spec 1.1+: the scheduler
//! (`process.scheduler`), the I/O priority (`process.ioPriority`), the CPU
//! affinity of exec'd processes (`process.execCPUAffinity`), the execution
//! domain (`linux.personality`) and the NUMA memory policy
//! (`linux.memoryPolicy`).
//!
//! `check` validates without side effects and names the field; the
//! `apply_*` functions run in the container process while it still has its
//! capabilities (an RT or deadline policy needs CAP_SYS_NICE).

use nix::sched::CpuSet;
use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxPersonality,
    LinuxPersonalityDomain, LinuxSchedulerFlag as Flag, LinuxSchedulerPolicy as Policy,
    MemoryPolicyFlagType, MemoryPolicyModeType as Mode, Scheduler, Spec,
};

use crate::error::{Error, Result};
use crate::sys;

/// Validates every attribute of this module that `spec` sets.
pub fn check(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        if let Some(s) = p.scheduler() {
            sched_attr(s)?;
        }
        if let Some(io) = p.io_priority() {
            ioprio(io)?;
        }
        if let Some(a) = p.exec_cpu_affinity() {
            check_affinity(a)?;
        }
    }
    if let Some(l) = spec.linux() {
        if let Some(p) = l.personality() {
            personality(p)?;
        }
        if let Some(m) = l.memory_policy() {
            mempolicy(m)?;
        }
    }
    Ok(())
}

/// `process.scheduler` as a `sched_attr`.
fn sched_attr(s: &Scheduler) -> Result<sys::SchedAttr> {
    let field = "process.scheduler";
    let policy = match s.policy() {
        Policy::SchedOther => 0,
        Policy::SchedFifo => 1,
        Policy::SchedRr => 2,
        Policy::SchedBatch => 3,
        Policy::SchedIso => {
            return Err(Error::unsupported(
                format!("{field}.policy"),
                "SCHED_ISO is not implemented by the Linux kernel",
            ))
        }
        Policy::SchedIdle => 5,
        Policy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            Flag::SchedResetOnFork => 0x01,
            Flag::SchedFlagReclaim => 0x02,
            Flag::SchedFlagDLOverrun => 0x04,
            Flag::SchedFlagKeepPolicy => 0x08,
            Flag::SchedFlagKeepParams => 0x10,
            Flag::SchedFlagUtilClampMin => 0x20,
            Flag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::spec(
            format!("{field}.nice"),
            format!("{nice} is outside -20..19"),
        ));
    }
    let priority = s.priority().unwrap_or(0);
    let rt = matches!(policy, 1 | 2);
    if rt && !(1..=99).contains(&priority) {
        return Err(Error::spec(
            format!("{field}.priority"),
            format!("{priority}: SCHED_FIFO and SCHED_RR need a priority in 1..99"),
        ));
    }
    if !rt && priority != 0 {
        return Err(Error::spec(
            format!("{field}.priority"),
            format!("{priority}: only SCHED_FIFO and SCHED_RR take a priority (0 here)"),
        ));
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if policy == 6 {
        // The kernel's rule: 0 < runtime <= deadline <= period (0 = deadline).
        let period_eff = if period == 0 { deadline } else { period };
        if runtime == 0 || runtime > deadline || deadline > period_eff {
            return Err(Error::spec(
                field,
                format!("SCHED_DEADLINE needs 0 < runtime ({runtime}) <= deadline ({deadline}) <= period ({period})"),
            ));
        }
    } else if runtime != 0 || deadline != 0 || period != 0 {
        return Err(Error::spec(
            field,
            "runtime, deadline and period are for SCHED_DEADLINE only",
        ));
    }
    Ok(sys::SchedAttr {
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline,
        period,
        ..Default::default()
    })
}

/// Sets `process.scheduler` on the calling process.
pub fn apply_scheduler(s: &Scheduler) -> Result<()> {
    let attr = sched_attr(s)?;
    sys::sched_setattr(&attr).map_err(|e| {
        Error::sys(
            format!("process.scheduler: sched_setattr {:?}", s.policy()),
            e,
        )
    })
}

/// `process.ioPriority` as an ioprio value.
fn ioprio(io: &LinuxIOPriority) -> Result<i32> {
    let class = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let prio = io.priority();
    if !(0..=7).contains(&prio) {
        return Err(Error::spec(
            "process.ioPriority.priority",
            format!("{prio} is outside 0..7"),
        ));
    }
    Ok((class << 13) | prio as i32)
}

/// Sets `process.ioPriority` on the calling process.
pub fn apply_ioprio(io: &LinuxIOPriority) -> Result<()> {
    sys::ioprio_set(ioprio(io)?).map_err(|e| Error::sys("process.ioPriority: ioprio_set", e))
}

/// Parses a CPU list (`0-3,7`) as the kernel writes them.
pub fn parse_cpu_list(field: &str, list: &str) -> Result<CpuSet> {
    let mut set = CpuSet::new();
    let bad = |why: String| Error::spec(field, format!("{list:?}: {why}"));
    for part in list.trim().split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let n = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("{s:?} is not a CPU number")))
        };
        let (a, b) = (n(a)?, n(b)?);
        if a > b {
            return Err(bad(format!("range {a}-{b} runs backwards")));
        }
        for cpu in a..=b {
            set.set(cpu)
                .map_err(|_| bad(format!("CPU {cpu} is over {}", CpuSet::count() - 1)))?;
        }
    }
    Ok(set)
}

fn check_affinity(a: &ExecCPUAffinity) -> Result<()> {
    if let Some(i) = a.initial() {
        parse_cpu_list("process.execCPUAffinity.initial", i)?;
    }
    if let Some(f) = a.cpu_affinity_final() {
        parse_cpu_list("process.execCPUAffinity.final", f)?;
    }
    Ok(())
}

/// Sets the calling process's CPU affinity to `list` (one of
/// `process.execCPUAffinity`'s, named by `field`).
pub fn apply_affinity(field: &str, list: &str) -> Result<()> {
    let set = parse_cpu_list(field, list)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| Error::sys(format!("{field}: sched_setaffinity {list:?}"), e))
}

/// `linux.personality` as a personality(2) value.
fn personality(p: &LinuxPersonality) -> Result<u64> {
    let domain = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0u64,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    let mut v = domain;
    for (i, f) in p.flags().iter().flatten().enumerate() {
        v |= match f.as_str() {
            "UNAME26" => 0x0020000,
            "ADDR_NO_RANDOMIZE" => 0x0040000,
            "FDPIC_FUNCPTRS" => 0x0080000,
            "MMAP_PAGE_ZERO" => 0x0100000,
            "ADDR_COMPAT_LAYOUT" => 0x0200000,
            "READ_IMPLIES_EXEC" => 0x0400000,
            "ADDR_LIMIT_32BIT" => 0x0800000,
            "SHORT_INODE" => 0x1000000,
            "WHOLE_SECONDS" => 0x2000000,
            "STICKY_TIMEOUTS" => 0x4000000,
            "ADDR_LIMIT_3GB" => 0x8000000,
            other => {
                return Err(Error::spec(
                    format!("linux.personality.flags[{i}]"),
                    format!("unknown personality flag {other:?}"),
                ))
            }
        };
    }
    Ok(v)
}

/// Sets `linux.personality` on the calling process.
pub fn apply_personality(p: &LinuxPersonality) -> Result<()> {
    let v = personality(p)?;
    nix::sys::personality::set(nix::sys::personality::Persona::from_bits_retain(v as i32))
        .map(drop)
        .map_err(|e| Error::sys("linux.personality: personality", e))
}

/// `linux.memoryPolicy` as (mode with flags, node mask).
fn mempolicy(m: &LinuxMemoryPolicy) -> Result<(i32, Vec<u64>)> {
    let field = "linux.memoryPolicy";
    let (mode, needs_nodes) = match m.mode() {
        Mode::MpolDefault => (0, Some(false)),
        Mode::MpolPreferred => (1, None),
        Mode::MpolBind => (2, Some(true)),
        Mode::MpolInterleave => (3, Some(true)),
        Mode::MpolLocal => (4, Some(false)),
        Mode::MpolPreferredMany => (5, Some(true)),
        Mode::MpolWeightedInterleave => (6, Some(true)),
    };
    let mut flags = 0;
    for f in m.flags().iter().flatten() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        };
    }
    let mut mask: Vec<u64> = Vec::new();
    if let Some(nodes) = m.nodes().as_ref().filter(|n| !n.trim().is_empty()) {
        let set = parse_cpu_list(&format!("{field}.nodes"), nodes)?;
        for n in 0..CpuSet::count() {
            if set.is_set(n).unwrap_or(false) {
                if mask.len() <= n / 64 {
                    mask.resize(n / 64 + 1, 0);
                }
                mask[n / 64] |= 1 << (n % 64);
            }
        }
    }
    match needs_nodes {
        Some(true) if mask.is_empty() => Err(Error::spec(
            format!("{field}.nodes"),
            format!("{:?} needs at least one node", m.mode()),
        )),
        Some(false) if !mask.is_empty() => Err(Error::spec(
            format!("{field}.nodes"),
            format!("{:?} takes no nodes", m.mode()),
        )),
        _ => Ok((mode | flags, mask)),
    }
}

/// Sets `linux.memoryPolicy` on the calling process.
pub fn apply_mempolicy(m: &LinuxMemoryPolicy) -> Result<()> {
    let (mode, mask) = mempolicy(m)?;
    sys::set_mempolicy(mode, &mask).map_err(|e| {
        Error::sys(
            format!(
                "linux.memoryPolicy: set_mempolicy {:?} nodes {:?}",
                m.mode(),
                m.nodes().clone().unwrap_or_default()
            ),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        let s = parse_cpu_list("f", "0-2,5").expect("list");
        let on: Vec<usize> = (0..8).filter(|c| s.is_set(*c).unwrap_or(false)).collect();
        assert_eq!(on, [0, 1, 2, 5]);
        for bad in ["", "a", "3-1", "0-", "99999"] {
            let e = parse_cpu_list("process.execCPUAffinity.final", bad).expect_err(bad);
            assert!(
                e.to_string().contains("process.execCPUAffinity.final"),
                "{e}"
            );
        }
    }

    fn spec(process: &str, linux: &str) -> Spec {
        let text = format!(
            r#"{{"ociVersion": "1.3.0", "process": {{"cwd": "/", "args": ["true"], "user": {{"uid": 0, "gid": 0}} {process}}}, "linux": {{ {linux} }} }}"#
        );
        serde_json::from_str(&text).expect(&text)
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (
                r#", "scheduler": {"policy": "SCHED_FIFO"}"#,
                "",
                "process.scheduler.priority",
            ),
            (
                r#", "scheduler": {"policy": "SCHED_OTHER", "nice": 40}"#,
                "",
                "process.scheduler.nice",
            ),
            (
                r#", "scheduler": {"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 5, "period": 20}"#,
                "",
                "process.scheduler",
            ),
            (
                r#", "scheduler": {"policy": "SCHED_BATCH", "runtime": 10}"#,
                "",
                "process.scheduler",
            ),
            (
                r#", "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 9}"#,
                "",
                "process.ioPriority.priority",
            ),
            (
                r#", "execCPUAffinity": {"final": "1-0"}"#,
                "",
                "process.execCPUAffinity.final",
            ),
            (
                "",
                r#""personality": {"domain": "LINUX", "flags": ["NOPE"]}"#,
                "linux.personality.flags[0]",
            ),
            (
                "",
                r#""memoryPolicy": {"mode": "MPOL_BIND"}"#,
                "linux.memoryPolicy.nodes",
            ),
            (
                "",
                r#""memoryPolicy": {"mode": "MPOL_LOCAL", "nodes": "0"}"#,
                "linux.memoryPolicy.nodes",
            ),
        ];
        for (p, l, field) in cases {
            let e = check(&spec(p, l)).expect_err(field);
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
        check(&spec(
            r#", "scheduler": {"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20, "period": 30}, "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}"#,
            r#""personality": {"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}, "memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}"#,
        ))
        .expect("valid");
        assert_eq!(
            personality(
                &serde_json::from_str(r#"{"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}"#)
                    .expect("p")
            )
            .expect("p"),
            0x0040008
        );
    }
}
