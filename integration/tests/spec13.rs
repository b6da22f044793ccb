//! Fields of runtime-spec 1.1 to 1.3, each shown from inside the container
//! (or refused with an error naming it).

use integration::{out, Env};
use serde_json::json;

/// Fields of /proc/self/stat after the command name: (priority, nice,
/// rt_priority, policy) as the kernel numbers them (18, 19, 40, 41).
fn sched_fields(stat: &str) -> (i64, i64, i64, i64) {
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<i64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // `rest` starts at field 3.
    (f[18 - 3], f[19 - 3], f[40 - 3], f[41 - 3])
}

#[test]
fn scheduler_policies_take_effect() {
    // SCHED_BATCH with a nice value.
    let mut env = Env::new(&["cat", "/proc/self/stat"]);
    env.edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7}));
    let (_, nice, _, policy) = sched_fields(&env.run_ok());
    assert_eq!((nice, policy), (7, 3));
    // SCHED_RR with a priority: the container's cgroup needs RT time on
    // this kernel (RT group scheduling), given by the cpu resources.
    let mut env = Env::new(&["cat", "/proc/self/stat"]);
    env.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_RR", "priority": 5});
        c["linux"]["resources"] =
            json!({"cpu": {"realtimeRuntime": 10000, "realtimePeriod": 1000000}});
    });
    let (prio, _, rt_prio, policy) = sched_fields(&env.run_ok());
    assert_eq!((prio, rt_prio, policy), (-6, 5, 2));
    // Without RT time the kernel refuses, and the error names the field.
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 5});
        c["linux"]["resources"] = json!({"cpu": {"realtimeRuntime": 0}});
    });
    env.create_fails(&["process.scheduler", "sched_setattr"]);
    // Validation: a priority out of range.
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 100}));
    env.create_fails(&["process.scheduler.priority", "100"]);
}

#[test]
fn io_priority_takes_effect() {
    for (class, prio, want) in [
        ("IOPRIO_CLASS_IDLE", 0, "idle"),
        ("IOPRIO_CLASS_BE", 6, "best-effort: prio 6"),
    ] {
        let mut env = Env::new(&["sh", "-c", "ionice -p $$"]);
        env.edit(|c| c["process"]["ioPriority"] = json!({"class": class, "priority": prio}));
        assert_eq!(env.run_ok().trim(), want, "{class}");
    }
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8}));
    env.create_fails(&["process.ioPriority.priority", "8"]);
}

#[test]
fn personality_domain_and_flags() {
    let mut env = Env::new(&["sh", "-c", "uname -m; cat /proc/self/personality"]);
    env.edit(|c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]})
    });
    let o = env.run_ok();
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines, ["i686", "00040008"], "{o}");
    // LINUX is the default domain.
    let mut env = Env::new(&["uname", "-m"]);
    env.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX"}));
    assert_eq!(env.run_ok().trim(), "x86_64");
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["NO_SUCH"]}));
    env.create_fails(&["linux.personality.flags[0]", "NO_SUCH"]);
}

#[test]
fn memory_policy_takes_effect() {
    for (mode, want) in [("MPOL_BIND", "bind:0"), ("MPOL_INTERLEAVE", "interleave:0")] {
        let mut env = Env::new(&["head", "-n", "1", "/proc/self/numa_maps"]);
        env.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": mode, "nodes": "0"}));
        let o = env.run_ok();
        assert!(o.contains(want), "{mode}: {o}");
    }
    // A node this host does not have: the kernel refuses, the error names
    // the field.
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "63"}));
    env.create_fails(&["linux.memoryPolicy", "set_mempolicy"]);
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND"}));
    env.create_fails(&["linux.memoryPolicy.nodes", "needs at least one node"]);
}

#[test]
fn exec_cpu_affinity_final_and_initial() {
    let mut env = Env::new(&["sleep", "100"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let mut process = env.config["process"].clone();
    process["args"] = json!(["grep", "Cpus_allowed_list", "/proc/self/status"]);
    for (affinity, want) in [
        (json!({"final": "1"}), "1"),
        (json!({"initial": "0", "final": "0"}), "0"),
    ] {
        process["execCPUAffinity"] = affinity.clone();
        let pf = env.scratch.join("process.json");
        std::fs::write(&pf, process.to_string()).expect("process.json");
        let o = env.corral(&["exec", "--process", pf.to_str().expect("utf8"), &id]);
        assert!(o.status.success(), "{}", out(&o.stderr));
        let got = out(&o.stdout);
        assert_eq!(
            got.split(':').nth(1).map(str::trim),
            Some(want),
            "{affinity}: {got}"
        );
    }
    process["execCPUAffinity"] = json!({"final": "2-1"});
    let pf = env.scratch.join("process.json");
    std::fs::write(&pf, process.to_string()).expect("process.json");
    let o = env.corral(&["exec", "--process", pf.to_str().expect("utf8"), &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o.stderr).contains("process.execCPUAffinity.final"),
        "{}",
        out(&o.stderr)
    );
}
