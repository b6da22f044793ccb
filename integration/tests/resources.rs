//! Resource limits on this host's cgroups, shown to be enforced: a memory
//! hog is OOM-killed and counted, a fork bomb stops at pids.max, cpuset pins,
//! a denied device cannot be opened, a frozen container makes no progress,
//! cpu quota throttles, net_cls/net_prio are set, hugetlb stops an
//! allocation. Where the host cannot show an effect, the test name says it
//! checks the write only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration::{assert_nothing_left, out, Env};
use libcontainer::{cgroups, Container};
use serde_json::json;

/// An env whose container sees the test's scratch dir at /out.
fn env_with_out(script: &str) -> Env {
    let mut env = Env::new(&["sh", "-c", script]);
    let host = env.scratch.to_str().expect("utf8").to_string();
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": "/out", "type": "bind", "source": host, "options": ["bind"]}),
        );
    });
    env
}

fn wait_file(p: &Path, secs: u64) -> String {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if let Ok(s) = std::fs::read_to_string(p) {
            if !s.is_empty() {
                return s;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{p:?} never written");
}

fn start(env: &mut Env) -> (String, String) {
    let id = env.create();
    let o = env.corral(&["start", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    (id, pid)
}

/// Whether this host is unified cgroup v2 (the VM tier) rather than v1 or
/// hybrid.
fn v2() -> bool {
    integration::unified_cgroup()
}

/// `v1` on a v1/hybrid host, `v2` on a unified one.
fn pick<'a>(v1: &'a str, v2name: &'a str) -> &'a str {
    if v2() {
        v2name
    } else {
        v1
    }
}

fn cg_dir(pid: &str, ctrl: &str) -> PathBuf {
    integration::cgroup_dir(pid, ctrl)
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{p:?}: {e}"))
        .trim()
        .to_string()
}

fn stats(env: &Env, id: &str) -> cgroups::Stats {
    Container::load(&env.root, id)
        .expect("load")
        .stats()
        .expect("stats")
}

#[test]
fn memory_hog_is_oom_killed_at_the_limit_and_counted() {
    let mut env = env_with_out("tail /dev/zero > /dev/null; echo rc=$? > /out/rc; exec sleep 1000");
    env.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432}));
    let (id, pid) = start(&mut env);
    assert_eq!(
        read(cg_dir(&pid, "memory").join(pick("memory.limit_in_bytes", "memory.max"))),
        "33554432"
    );
    let rc = wait_file(&env.scratch.join("rc"), 60);
    assert_eq!(rc.trim(), "rc=137", "tail must be killed by SIGKILL");
    let s = stats(&env, &id);
    assert!(s.memory.oom_kills >= 1, "{:?}", s.memory);
    assert_eq!(s.memory.limit, 33_554_432);
    if !v2() || s.memory.max_usage > 0 {
        assert!(s.memory.max_usage <= 33_554_432 + 4096, "{:?}", s.memory);
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// `memory.oom.group` through `unified`, as the kubelet sets it on cgroup
/// v2: an OOM kill takes every process of the container at once, the init
/// too, where without it (the test above) only the hog dies and the shell
/// goes on. v1 and hybrid hosts refuse `unified` by name.
#[test]
fn oom_group_kills_the_whole_container() {
    let mut env = env_with_out(
        "sleep 1000 & echo started > /out/started; while [ ! -e /out/go ]; do sleep 0.05; done; tail /dev/zero > /dev/null; echo survived > /out/rc; exec sleep 1000",
    );
    env.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
        c["linux"]["resources"]["unified"] = json!({"memory.oom.group": "1"});
    });
    if !v2() {
        env.create_fails(&["linux.resources.unified", "cgroup v2"]);
        return;
    }
    let (id, pid) = start(&mut env);
    // The hog waits for /out/go: the cgroup is read while the container
    // still lives.
    let dir = cg_dir(&pid, "memory");
    assert_eq!(read(dir.join("memory.oom.group")), "1");
    wait_file(&env.scratch.join("started"), 60);
    std::fs::write(env.scratch.join("go"), b"go").expect("go");
    let t = Instant::now();
    while env.state(&id)["status"] != "stopped" {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the init outlived the OOM kill"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !env.scratch.join("rc").exists(),
        "the shell went on after the OOM kill"
    );
    let events = read(dir.join("memory.events"));
    let group_kills = events
        .lines()
        .find_map(|l| l.strip_prefix("oom_group_kill "))
        .and_then(|v| v.parse::<u64>().ok());
    // memory.events has oom_group_kill from Linux 5.17; before, oom_kill
    // counts each process of the group.
    match group_kills {
        Some(n) => assert!(n >= 1, "{events}"),
        None => assert!(
            events
                .lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|n| n >= 2),
            "{events}"
        ),
    }
    assert!(env.corral(&["delete", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn fork_bomb_stops_at_pids_max() {
    // ash exits when a fork fails, so the bomb runs in an inner shell; the
    // outer one (pid 1) then writes "done" and execs, which needs no fork.
    let mut env = env_with_out(
        "sh -c 'i=0; while [ $i -lt 30 ]; do sleep 1000 & i=$((i+1)); done' 2>/out/err; echo done > /out/done; exec sleep 1000",
    );
    env.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 8}));
    let (id, pid) = start(&mut env);
    wait_file(&env.scratch.join("done"), 30);
    let d = cg_dir(&pid, "pids");
    // At the limit: the outer shell, the inner one and six sleeps; then the
    // inner shell died of the failed fork.
    let procs = read(d.join("cgroup.procs"));
    assert_eq!(procs.lines().count(), 7, "{procs}");
    assert!(
        read(d.join("pids.events")).starts_with("max "),
        "the limit was hit"
    );
    assert_ne!(read(d.join("pids.events")), "max 0");
    let s = stats(&env, &id);
    assert_eq!((s.pids.current, s.pids.limit), (7, 8));
    let err = std::fs::read_to_string(env.scratch.join("err")).expect("err");
    assert!(err.contains("fork"), "{err}");
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn cpuset_pins_the_container() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "grep Cpus_allowed_list /proc/self/status; nproc",
    ]);
    env.edit(|c| c["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"}));
    let o = env.run_ok();
    assert_eq!(
        o.lines().collect::<Vec<_>>(),
        ["Cpus_allowed_list:\t0", "1"],
        "{o}"
    );
    env.edit(|c| c["linux"]["resources"]["cpu"] = json!({"cpus": "1"}));
    let o = env.run_ok();
    assert!(o.starts_with("Cpus_allowed_list:\t1\n"), "{o}");
}

#[test]
fn cpu_quota_throttles() {
    let mut env = Env::new(&["sh", "-c", "while :; do :; done"]);
    env.edit(|c| {
        c["linux"]["resources"]["cpu"] = json!({"quota": 10000, "period": 100000, "shares": 512})
    });
    let (id, pid) = start(&mut env);
    let d = cg_dir(&pid, "cpu");
    if v2() {
        assert_eq!(read(d.join("cpu.max")), "10000 100000");
        assert_eq!(read(d.join("cpu.weight")), "20");
    } else {
        assert_eq!(read(d.join("cpu.cfs_quota_us")), "10000");
        assert_eq!(read(d.join("cpu.shares")), "512");
    }
    let t0 = stats(&env, &id).cpu.usage_total;
    std::thread::sleep(Duration::from_millis(1500));
    let s = stats(&env, &id);
    assert!(s.cpu.throttled_periods > 0, "{:?}", s.cpu);
    assert!(s.cpu.throttled_time > 0);
    let used = s.cpu.usage_total - t0;
    // 10% of one CPU over 1.5 s is 150 ms; allow generous slack.
    assert!(
        used < 400_000_000,
        "used {used} ns of CPU in 1.5 s at a 10% quota"
    );
    assert!(used > 0);
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn denied_device_cannot_be_opened_allowed_one_can() {
    for (allow, want_eperm) in [(false, true), (true, false)] {
        let mut env = Env::new(&["sh", "-c", "head -c 1 /dev/loopx 2>&1 >/dev/null; true"]);
        env.edit(|c| {
            c["linux"]["devices"] = json!([{"path": "/dev/loopx", "type": "b", "major": 7, "minor": 0, "fileMode": 432}]);
            let mut rules = vec![json!({"allow": false, "access": "rwm"})];
            if allow {
                rules.push(json!({"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rwm"}));
            }
            c["linux"]["resources"]["devices"] = json!(rules);
        });
        let o = env.run_ok();
        assert_eq!(
            o.contains("Operation not permitted"),
            want_eperm,
            "allow={allow}: {o}"
        );
    }
}

#[test]
fn frozen_container_makes_no_progress() {
    let mut env = env_with_out(
        "i=0; while :; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; done",
    );
    let (id, pid) = start(&mut env);
    wait_file(&env.scratch.join("n"), 10);
    let o = env.corral(&["pause", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(env.state(&id)["status"], "paused");
    assert_eq!(
        read(cg_dir(&pid, "freezer").join(pick("freezer.state", "cgroup.freeze"))),
        pick("FROZEN", "1")
    );
    let a = read(env.scratch.join("n"));
    std::thread::sleep(Duration::from_millis(300));
    let b = read(env.scratch.join("n"));
    assert_eq!(a, b, "a frozen container must make no progress");
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let state = st
        .rsplit(')')
        .next()
        .expect("fields")
        .split_whitespace()
        .next()
        .expect("state")
        .to_string();
    if v2() {
        // The v2 freezer parks tasks in a signal-delivery stop.
        assert!(state == "S" || state == "D", "{state}");
        assert!(read(cg_dir(&pid, "unified").join("cgroup.events")).contains("frozen 1"));
    } else {
        assert_eq!(state, "D", "frozen tasks sleep uninterruptibly");
    }
    let o = env.corral(&["pause", &id]);
    assert!(
        !o.status.success(),
        "pausing a paused container is an error"
    );
    let o = env.corral(&["resume", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(env.state(&id)["status"], "running");
    std::thread::sleep(Duration::from_millis(300));
    let c: u64 = read(env.scratch.join("n")).parse().expect("n");
    assert!(c > b.parse::<u64>().expect("n"), "no progress after resume");
    assert!(
        !env.corral(&["resume", &id]).status.success(),
        "resuming a running container is an error"
    );
    // A paused container can be force-deleted.
    assert!(env.corral(&["pause", &id]).status.success());
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn net_cls_classid_and_net_prio_map() {
    if v2() {
        // cgroup v2 has neither controller: a clear error naming the field.
        let mut env = Env::new(&["true"]);
        env.edit(|c| c["linux"]["resources"]["network"] = json!({"classID": 1048577}));
        env.create_fails(&["linux.resources.network"]);
        return;
    }
    let mut env = Env::new(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/net_cls/net_cls.classid; sleep 1000",
    ]);
    env.edit(|c| {
        c["linux"]["resources"]["network"] =
            json!({"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]});
    });
    let (id, pid) = start(&mut env);
    assert_eq!(
        read(cg_dir(&pid, "net_cls").join("net_cls.classid")),
        "1048577"
    );
    let map = read(cg_dir(&pid, "net_prio").join("net_prio.ifpriomap"));
    assert!(map.lines().any(|l| l == "lo 5"), "{map}");
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// Reserves huge pages for the test and gives the old count back on drop.
struct HugePages(String);

impl HugePages {
    fn reserve(n: u32) -> HugePages {
        let p = "/proc/sys/vm/nr_hugepages";
        let old = std::fs::read_to_string(p).expect("nr_hugepages");
        std::fs::write(p, n.to_string()).expect("reserve huge pages");
        HugePages(old)
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/vm/nr_hugepages", self.0.trim());
    }
}

#[test]
fn hugetlb_limit_stops_an_allocation() {
    let _pages = HugePages::reserve(4);
    let mut env = env_with_out(
        "fallocate -l 2097152 /mnt/huge/a && echo one-ok; fallocate -l 2097152 /mnt/huge/b 2>&1 || echo two-refused; echo end > /out/end; exec sleep 1000",
    );
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!(
            {"destination": "/mnt/huge", "type": "hugetlbfs", "source": "none", "options": ["pagesize=2M"]}
        ));
        c["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 2097152}]);
    });
    let id = env.id();
    let log = env.scratch.join("stdout");
    let f = std::fs::File::create(&log).expect("log");
    assert!(env
        .corral_cmd(&[
            "create",
            "--bundle",
            env.bundle.to_str().expect("utf8"),
            &id
        ])
        .stdout(f)
        .status()
        .expect("create")
        .success());
    assert!(env.corral(&["start", &id]).status.success());
    wait_file(&env.scratch.join("end"), 20);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("one-ok"), "{text}");
    assert!(text.contains("two-refused"), "{text}");
    let s = stats(&env, &id);
    assert_eq!(s.hugetlb["2MB"].usage, 2_097_152, "{:?}", s.hugetlb);
    if !v2() {
        assert!(s.hugetlb["2MB"].failcnt >= 1, "{:?}", s.hugetlb);
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// The major:minor of a block device this machine has, if any.
fn some_block_device() -> Option<(u64, u64)> {
    let mut devs: Vec<String> = std::fs::read_dir("/sys/dev/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    devs.sort();
    let d = devs.into_iter().find(|d| !d.starts_with("7:"))?;
    let (a, b) = d.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[test]
fn blkio_throttle_write_only_check() {
    // No effect of a throttle on a busybox read can be shown on this VM's
    // disk: the test checks the control files the kernel accepted.
    let Some((maj, min)) = some_block_device() else {
        eprintln!("no block device on this machine: nothing to throttle");
        return;
    };
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| {
        c["linux"]["resources"]["blockIO"] = json!({
            "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 50}]
        });
    });
    let (id, pid) = start(&mut env);
    let d = cg_dir(&pid, "blkio");
    if v2() {
        let max = read(d.join("io.max"));
        assert!(
            max.contains(&format!("{maj}:{min} rbps=1048576")) && max.contains("wiops=50"),
            "{max}"
        );
    } else {
        assert_eq!(
            read(d.join("blkio.throttle.read_bps_device")),
            format!("{maj}:{min} 1048576")
        );
        assert_eq!(
            read(d.join("blkio.throttle.write_iops_device")),
            format!("{maj}:{min} 50")
        );
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
}

#[test]
fn blkio_weight_write_only_check() {
    // The disk's scheduler (mq-deadline) does not act on BFQ weights, so no
    // effect can be shown: the test reads the weight file back. Where no
    // weight file exists (no BFQ), the error must say so.
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| c["linux"]["resources"]["blockIO"] = json!({"weight": 500}));
    let id = env.id();
    let o = env.corral(&[
        "create",
        "--bundle",
        env.bundle.to_str().expect("utf8"),
        &id,
    ]);
    if !o.status.success() {
        let err = out(&o.stderr);
        assert!(
            err.contains("linux.resources.blockIO.weight") && err.contains("weight file"),
            "{err}"
        );
        assert_nothing_left(&env, &id);
        return;
    }
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let d = cg_dir(&pid, "blkio");
    let files = [
        "blkio.weight",
        "blkio.bfq.weight",
        "io.weight",
        "io.bfq.weight",
    ];
    let f = files
        .into_iter()
        .find(|f| d.join(f).exists())
        .expect("a weight file");
    // cgroup v2's io.weight is 1-10000: blkio's 500 is 4950 there, as runc
    // and crun convert it; the other files take blkio's range as it is.
    let want = if f == "io.weight" {
        "default 4950"
    } else {
        "500"
    };
    assert!(read(d.join(f)).contains(want), "{f}: {}", read(d.join(f)));
    assert!(env.corral(&["delete", "-f", &id]).status.success());
}

#[test]
fn blkio_leaf_weight_without_the_file_is_a_clear_error() {
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["resources"]["blockIO"] = json!({"leafWeight": 500}));
    let id = env.id();
    let o = env.corral(&[
        "create",
        "--bundle",
        env.bundle.to_str().expect("utf8"),
        &id,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = out(&o.stderr);
    assert!(
        err.contains("linux.resources.blockIO.leafWeight")
            && err.contains(pick("blkio.leaf_weight", "no leaf weights")),
        "{err}"
    );
    assert_nothing_left(&env, &id);
}

#[test]
fn perf_event_and_cpuacct_are_joined() {
    let mut env = Env::new(&["sh", "-c", "while :; do :; done"]);
    let (id, pid) = start(&mut env);
    let ctrls: &[&str] = if v2() {
        &["unified"]
    } else {
        &["perf_event", "cpuacct"]
    };
    for ctrl in ctrls {
        let d = cg_dir(&pid, ctrl);
        assert!(d.ends_with(&id), "{ctrl}: {d:?}");
        assert!(
            read(d.join("cgroup.procs")).lines().any(|l| l == pid),
            "{ctrl}"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let s = stats(&env, &id);
    assert!(s.cpu.usage_total > 0, "{:?}", s.cpu);
    // Per-CPU usage exists in v1's cpuacct only.
    assert!(v2() || !s.cpu.per_cpu.is_empty(), "{:?}", s.cpu);
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn update_changes_a_running_container() {
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 67108864}));
    let (id, pid) = start(&mut env);
    let d = cg_dir(&pid, "memory");
    assert_eq!(
        read(d.join(pick("memory.limit_in_bytes", "memory.max"))),
        "67108864"
    );
    let mut c = Container::load(&env.root, &id).expect("load");
    let res: oci_spec::runtime::LinuxResources =
        serde_json::from_value(json!({"memory": {"limit": 134217728}, "pids": {"limit": 50}}))
            .expect("res");
    c.update(&res).expect("update");
    assert_eq!(
        read(d.join(pick("memory.limit_in_bytes", "memory.max"))),
        "134217728"
    );
    assert_eq!(read(cg_dir(&pid, "pids").join("pids.max")), "50");
    // The update is remembered with the container.
    let again = Container::load(&env.root, &id).expect("load");
    let stored = again
        .spec()
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .expect("resources");
    assert_eq!(
        stored.memory().as_ref().and_then(|m| m.limit()),
        Some(134217728)
    );
    assert!(stored.devices().is_some(), "sections not updated are kept");
    // checkBeforeUpdate refuses a limit below the usage.
    let low: oci_spec::runtime::LinuxResources =
        serde_json::from_value(json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}}))
            .expect("res");
    let e = c.update(&low).expect_err("below usage");
    assert!(e.to_string().contains("checkBeforeUpdate"), "{e}");
    assert!(env.corral(&["delete", "-f", &id]).status.success());
}

/// `update --memory` below what the container uses and cannot give back
/// (20 MB in its /dev/shm, with no swap): v1 refuses it (EBUSY after
/// reclaim fails) and corral fails as runc does, naming the field, with the
/// limit and the stored config unchanged; v2 applies it (the kernel then
/// OOM-kills the cgroup's processes), as runc does.
#[test]
fn memory_decrease_below_usage() {
    let mut env = env_with_out(
        "dd if=/dev/zero of=/dev/shm/held bs=1M count=20 2>/dev/null && echo held > /out/held; exec sleep 1000",
    );
    env.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 201326592}));
    let (id, pid) = start(&mut env);
    wait_file(&env.scratch.join("held"), 60);
    let d = cg_dir(&pid, "memory");
    let limit_file = d.join(pick("memory.limit_in_bytes", "memory.max"));
    let o = env.corral(&["update", "--memory", "8m", &id]);
    let stored = || {
        Container::load(&env.root, &id)
            .expect("load")
            .spec()
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .and_then(|r| r.memory().as_ref().and_then(|m| m.limit()))
    };
    if v2() {
        assert!(o.status.success(), "{}", out(&o.stderr));
        assert_eq!(read(limit_file), "8388608");
        assert_eq!(stored(), Some(8_388_608));
        let t = Instant::now();
        while env.state(&id)["status"] != "stopped" {
            assert!(t.elapsed() < Duration::from_secs(60), "no OOM kill");
            std::thread::sleep(Duration::from_millis(50));
        }
    } else {
        assert_eq!(o.status.code(), Some(1), "{}", out(&o.stderr));
        let msg = integration::error_message(&out(&o.stderr));
        assert!(
            msg.contains("linux.resources.memory.limit") && msg.contains("busy"),
            "{msg}"
        );
        assert_eq!(read(limit_file), "201326592");
        assert_eq!(stored(), Some(201_326_592));
        assert_eq!(env.state(&id)["status"], "running");
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn ebpf_device_program_denies_and_allows() {
    // The cgroup v2 device filter, shown on this hybrid host's unified
    // hierarchy: the same program corral attaches on a v2 host.
    use libcontainer::cgroups::devices_bpf::{self, Rule};
    for (rules, want_eperm) in [
        (vec![(false, "a *:* rwm"), (true, "c 1:3 rwm")], true),
        (
            vec![
                (false, "a *:* rwm"),
                (true, "c 1:3 rwm"),
                (true, "b 7:0 rwm"),
            ],
            false,
        ),
    ] {
        let mut env = env_with_out(
            "while [ ! -e /out/go ]; do sleep 0.05; done; head -c 1 /dev/loopx 2>/out/err >/dev/null; echo end > /out/done; exec sleep 1000",
        );
        env.edit(|c| {
            c["linux"]["devices"] = json!([{"path": "/dev/loopx", "type": "b", "major": 7, "minor": 0, "fileMode": 432}]);
            // The v1 device list allows the device: only the program decides.
            c["linux"]["resources"]["devices"] = json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rwm"},
            ]);
        });
        let (id, pid) = start(&mut env);
        let unified = cg_dir(&pid, "unified");
        let list: Vec<Rule> = rules
            .iter()
            .map(|(a, r)| Rule::from_v1(*a, r).expect("rule"))
            .collect();
        devices_bpf::apply(&unified, &list).expect("attach");
        // Attaching again (an update) replaces the program.
        devices_bpf::apply(&unified, &list).expect("replace");
        std::fs::write(env.scratch.join("go"), "").expect("go");
        wait_file(&env.scratch.join("done"), 10);
        let err = std::fs::read_to_string(env.scratch.join("err")).unwrap_or_default();
        assert_eq!(
            err.contains("Operation not permitted"),
            want_eperm,
            "{rules:?}: {err:?}"
        );
        assert!(env.corral(&["delete", "-f", &id]).status.success());
        assert_nothing_left(&env, &id);
    }
}

/// rdma: the controller is not mounted on the hybrid host (a clear error
/// naming the field); on the v2 VM it is, but there is no RDMA device, so
/// the kernel refuses the limit and the error names the file and device.
#[test]
fn rdma_limits_reach_the_controller_or_fail_clearly() {
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["linux"]["resources"] = json!({"rdma": {"mlx5_9": {"hcaHandles": 3, "hcaObjects": 100}}})
    });
    let v2_has_rdma = v2()
        && std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == "rdma");
    if v2_has_rdma {
        env.create_fails(&["rdma.max", "mlx5_9 hca_handle=3 hca_object=100"]);
    } else {
        env.create_fails(&["linux.resources.rdma", "rdma cgroup controller"]);
    }
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["resources"] = json!({"rdma": {"mlx5_9": {}}}));
    env.create_fails(&["linux.resources.rdma.mlx5_9", "hcaHandles"]);
    // misc (v2 only, through `unified`): the key reaches the misc
    // controller, which corral enables; the VM has no misc resource (SEV…),
    // so the kernel refuses the value.
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["resources"] = json!({"unified": {"misc.max": "sev 1"}}));
    if v2() {
        env.create_fails(&["misc.max", "sev 1"]);
    } else {
        env.create_fails(&["linux.resources.unified", "cgroup v2"]);
    }
}

/// What a container with `CAP_MKNOD` can do with device nodes: for each
/// probe, `ok` or the error (`EPERM` for the device cgroup's refusal,
/// `other` for anything else, such as a driver's ENXIO). `mk:` probes are
/// mknod, the others open the node for reading.
const DEVICE_PROBE: &str = r#"
o() { if ( exec 3<"$2" ) 2>/dev/probe-err; then echo "$1 ok"; elif grep -q 'not permitted' /dev/probe-err; then echo "$1 EPERM"; else echo "$1 other"; fi; }
m() { if mknod "$2" "$3" "$4" "$5" 2>/dev/probe-err; then echo "mk:$1 ok"; else echo "mk:$1 EPERM-or-other"; fi; }
m loop1 /dev/probe-loop1 b 7 1; o loop1 /dev/probe-loop1
m mem /dev/probe-mem c 1 1; o mem /dev/probe-mem
m console /dev/probe-console c 5 1; o console /dev/probe-console
m tun /dev/probe-tun c 10 200; o tun /dev/probe-tun
for d in null zero full random urandom tty ptmx pts/ptmx loopx; do o "$d" "/dev/$d"; done
"#;

/// The probe's answers, name → result.
fn probe_results(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An env running [`DEVICE_PROBE`] as root with `CAP_MKNOD`, a
/// `linux.devices` node `/dev/loopx` (7:0), and `rules` as
/// `linux.resources.devices` (`None`: no `resources` at all).
fn device_probe_env(rules: Option<serde_json::Value>) -> Env {
    let mut env = Env::new(&["sh", "-c", DEVICE_PROBE]);
    env.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .expect("caps")
                .push(json!("CAP_MKNOD"));
        }
        c["linux"]["devices"] =
            json!([{"path": "/dev/loopx", "type": "b", "major": 7, "minor": 0, "fileMode": 432}]);
        match rules {
            Some(r) => c["linux"]["resources"] = json!({ "devices": r }),
            None => {
                c["linux"]
                    .as_object_mut()
                    .expect("linux")
                    .remove("resources");
            }
        }
    });
    env
}

/// A device policy applies even when the config lists no device rules
/// (issue 17 item 3), and with rules it is runc's: deny all first, the
/// rules, then runc's allowed devices. A process with `CAP_MKNOD` may make
/// any node but open only the allowed ones. runc runs the same bundle and
/// must agree, except on the config's own `linux.devices` node when the
/// config lists no rules (corral allows it, runc does not).
#[test]
fn host_devices_stay_closed_with_or_without_device_rules_like_runc() {
    let expect_common = [
        ("mk:loop1", "ok"),
        ("loop1", "EPERM"),
        ("mk:mem", "ok"),
        ("mem", "EPERM"),
        ("mk:console", "ok"),
        ("console", "EPERM"),
        ("mk:tun", "ok"),
        ("null", "ok"),
        ("zero", "ok"),
        ("full", "ok"),
        ("random", "ok"),
        ("urandom", "ok"),
        ("ptmx", "ok"),
        ("pts/ptmx", "ok"),
    ];
    // Whether /dev/loopx (7:0, in linux.devices) may be opened, by corral
    // and by runc (allowed: not EPERM; the loop driver may be absent).
    let cases: [(&str, Option<serde_json::Value>, bool, bool); 3] = [
        ("no rules", None, true, false),
        (
            "allow rules only",
            Some(json!([{"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}])),
            true,
            true,
        ),
        (
            "deny all",
            Some(json!([{"allow": false, "access": "rwm"}])),
            false,
            false,
        ),
    ];
    for (name, rules, loopx_corral, loopx_runc) in cases {
        let mut env = device_probe_env(rules);
        let ours = probe_results(&env.run_ok());
        let o = env.runc_run();
        assert!(o.status.success(), "runc {name}: {}", out(&o.stderr));
        let theirs = probe_results(&out(&o.stdout));
        for (who, got, loopx) in [
            ("corral", &ours, loopx_corral),
            ("runc", &theirs, loopx_runc),
        ] {
            for (k, want) in expect_common {
                assert_eq!(
                    got.get(k).map(String::as_str),
                    Some(want),
                    "{who}, {name}: {k}: {got:?}"
                );
            }
            let loopx_got = got.get("loopx").map(String::as_str);
            assert!(
                loopx_got.is_some(),
                "{who}, {name}: no loopx probe: {got:?}"
            );
            assert_eq!(
                loopx_got != Some("EPERM"),
                loopx,
                "{who}, {name}: loopx allowed should be {loopx}: {got:?}"
            );
            // No controlling terminal: the tty driver's ENXIO, not the
            // cgroup's EPERM; tun is allowed (the driver may be absent).
            for k in ["tty", "tun"] {
                assert_ne!(
                    got.get(k).map(String::as_str),
                    Some("EPERM"),
                    "{who}, {name}: {k}: {got:?}"
                );
            }
        }
    }
}
