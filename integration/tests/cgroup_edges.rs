//! cgroup edge cases where runc's behaviour (or the spec's sentence) is
//! the contract: a cgroup that already has processes or is frozen is
//! refused (never a hang), an empty joined cpuset is filled from its
//! parent, `pids.limit: 0` is a limit, kernel memory is a warning, an
//! unlimited memory takes memory+swap with it, and the realtime period and
//! runtime are written in the order the kernel accepts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration::{out, Env};
use serde_json::json;

/// A cgroup directory this test made in one v1 hierarchy (or cgroup2),
/// with whatever it put in it; emptied (processes killed, thawed) and
/// removed on drop, deepest first.
struct OwnCgroup {
    dirs: Vec<PathBuf>,
    kids: Vec<std::process::Child>,
}

impl OwnCgroup {
    fn make(mount: &str, rel: &Path) -> OwnCgroup {
        let mut dirs = Vec::new();
        let mut d = PathBuf::from(mount);
        for part in rel.components() {
            d.push(part);
            std::fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {d:?}: {e}"));
            dirs.push(d.clone());
        }
        OwnCgroup {
            dirs,
            kids: Vec::new(),
        }
    }

    fn leaf(&self) -> &Path {
        self.dirs.last().expect("a directory")
    }

    /// A sleeping process placed in the leaf.
    fn add_process(&mut self) {
        let kid = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep");
        std::fs::write(self.leaf().join("cgroup.procs"), kid.id().to_string())
            .expect("move the sleeper");
        self.kids.push(kid);
    }
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.leaf().join("freezer.state"), "THAWED");
        for k in &mut self.kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn v1() -> bool {
    !integration::unified_cgroup()
}

#[test]
fn a_cgroup_with_processes_is_refused() {
    let mut env = Env::new(&["true"]);
    let top = PathBuf::from(integration::unique("corral-busy"));
    let mount = if v1() {
        "/sys/fs/cgroup/pids"
    } else {
        "/sys/fs/cgroup"
    };
    let mut cg = OwnCgroup::make(mount, &top);
    cg.add_process();
    env.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{}", top.display())));
    env.create_fails(&["linux.cgroupsPath", "not empty", "1 process"]);
    // The cgroup is still there, with its process: nothing of it was touched.
    assert!(cg.leaf().is_dir());
    let procs = std::fs::read_to_string(cg.leaf().join("cgroup.procs")).expect("procs");
    assert_eq!(procs.lines().count(), 1, "{procs}");
}

#[test]
fn a_frozen_cgroup_is_refused_not_waited_for() {
    if !v1() {
        // On cgroup v2 the freezer is cgroup.freeze (the VM tier).
        let _ = std::fs::metadata("/sys/fs/cgroup/cgroup.controllers").expect("cgroup2");
    }
    let mut env = Env::new(&["true"]);
    let top = PathBuf::from(integration::unique("corral-frozen"));
    let (mount, file, frozen) = if v1() {
        ("/sys/fs/cgroup/freezer", "freezer.state", "FROZEN")
    } else {
        ("/sys/fs/cgroup", "cgroup.freeze", "1")
    };
    let cg = OwnCgroup::make(mount, &top);
    std::fs::write(cg.leaf().join(file), frozen).expect("freeze");
    env.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{}", top.display())));
    env.write_config();
    let id = env.id();
    let b = env.bundle.to_string_lossy().to_string();
    let mut child = env
        .corral_cmd(&["create", "--bundle", &b, &id])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("create");
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::write(cg.leaf().join(file), if v1() { "THAWED" } else { "0" });
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = status.expect("create into a frozen cgroup hung for 20 s");
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert!(!status.success(), "create succeeded into a frozen cgroup");
    assert!(err.contains("frozen"), "{err}");
}

#[test]
fn a_joined_empty_cpuset_is_filled_from_its_parent() {
    if !v1() {
        return assert!(integration::unified_cgroup()); // v2 has no empty-cpuset rule
    }
    let mut env = Env::new(&["sh", "-c", "cat /proc/self/status | grep Cpus_allowed_list"]);
    let top = PathBuf::from(integration::unique("corral-cpuset")).join("inner");
    let cg = OwnCgroup::make("/sys/fs/cgroup/cpuset", &top);
    for d in &cg.dirs {
        let cpus = std::fs::read_to_string(d.join("cpuset.cpus")).expect("cpus");
        assert_eq!(cpus.trim(), "", "a new cpuset starts empty: {d:?}");
    }
    env.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{}", top.display())));
    let (code, stdout, stderr) = env.run();
    assert_eq!(code, 0, "{stderr}");
    let parent = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").expect("root cpus");
    assert!(stdout.contains(parent.trim()), "{stdout} vs {parent}");
    assert_eq!(
        std::fs::read_to_string(cg.leaf().join("cpuset.mems"))
            .expect("mems")
            .trim(),
        std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.mems")
            .expect("mems")
            .trim()
    );
}

#[test]
fn pids_limit_zero_is_a_limit() {
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 0}));
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let d = integration::cgroup_dir(&pid, "pids");
    let max = std::fs::read_to_string(d.join("pids.max")).expect("pids.max");
    assert_eq!(max.trim(), "0");
    // And a negative limit is unlimited.
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": -1}));
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let d = integration::cgroup_dir(&pid, "pids");
    let max = std::fs::read_to_string(d.join("pids.max")).expect("pids.max");
    assert_eq!(max.trim(), "max");
}

#[test]
fn kernel_memory_is_a_warning_and_the_container_runs() {
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["resources"]["memory"] = json!({"kernel": 1048576, "limit": 67108864}));
    let (code, _, stderr) = env.run();
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("level=warning"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    let msg = integration::error_message(&line.replace("level=warning", "level=error"));
    assert!(
        msg.starts_with("linux.resources.memory.kernel: 1048576 ignored"),
        "{msg}"
    );
}

#[test]
fn unlimited_memory_takes_swap_with_it_and_a_lone_swap_is_refused() {
    if !v1() || !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        // v2 converts swap itself (v2.rs); a v1 host without swap
        // accounting has no memsw to order.
        return assert!(
            !v1() || !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        );
    }
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 67108864, "swap": 134217728}));
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let d = integration::cgroup_dir(&pid, "memory");
    let o = env.corral(&["update", "--memory", "-1", &id]);
    assert!(
        o.status.success(),
        "memory -1 after a finite memsw: {}",
        out(&o.stderr)
    );
    let read = |f: &str| {
        std::fs::read_to_string(d.join(f))
            .expect(f)
            .trim()
            .to_string()
    };
    assert_eq!(
        read("memory.limit_in_bytes"),
        read("memory.memsw.limit_in_bytes")
    );
    assert_ne!(read("memory.limit_in_bytes"), "67108864");
    // A finite memory+swap over an unlimited memory is refused by name.
    let o = env.corral(&[
        "update",
        "--memory",
        "-1",
        "--memory-swap",
        "134217728",
        &id,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let msg = integration::error_message(&out(&o.stderr));
    assert!(msg.contains("linux.resources.memory.swap"), "{msg}");
}

#[test]
fn realtime_period_and_runtime_go_in_the_order_the_kernel_takes() {
    let mut env = Env::new(&["sleep", "1000"]);
    if !v1() || !Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        return assert!(!v1() || !Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists());
    }
    env.edit(|c| {
        c["linux"]["resources"]["cpu"] = json!({"realtimePeriod": 100000, "realtimeRuntime": 50000})
    });
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let d = integration::cgroup_dir(&pid, "cpu");
    // A period below the current runtime: runtime must go first.
    let o = env.corral(&[
        "update",
        "--cpu-rt-period",
        "40000",
        "--cpu-rt-runtime",
        "20000",
        &id,
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let read = |f: &str| {
        std::fs::read_to_string(d.join(f))
            .expect(f)
            .trim()
            .to_string()
    };
    assert_eq!(read("cpu.rt_period_us"), "40000");
    assert_eq!(read("cpu.rt_runtime_us"), "20000");
    // And back up: period first.
    let o = env.corral(&[
        "update",
        "--cpu-rt-period",
        "200000",
        "--cpu-rt-runtime",
        "150000",
        &id,
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(read("cpu.rt_period_us"), "200000");
    assert_eq!(read("cpu.rt_runtime_us"), "150000");
}
