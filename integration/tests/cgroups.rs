//! cgroup membership: the container joins `linux.cgroupsPath` in every
//! mounted hierarchy (absolute from each root; relative and default under
//! corral's own cgroup), and delete removes only what create made.

use std::path::{Path, PathBuf};

use integration::{assert_nothing_left, cgroup_dirs_named, Env};
use libcontainer::cgroups;
use serde_json::json;

fn own() -> std::collections::BTreeMap<String, PathBuf> {
    cgroups::parse_proc_cgroup(&std::fs::read_to_string("/proc/self/cgroup").expect("cgroup"))
}

fn container_cgroups(pid: &str) -> std::collections::BTreeMap<String, PathBuf> {
    cgroups::parse_proc_cgroup(
        &std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup"),
    )
}

#[test]
fn default_path_nests_under_own_cgroup() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let mine = own();
    let theirs = container_cgroups(&pid);
    assert_eq!(mine.len(), theirs.len());
    for (k, p) in &theirs {
        assert_eq!(p, &mine[k].join(&id), "hierarchy {k}");
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
    // Our own cgroups are untouched.
    for (k, p) in own() {
        assert_eq!(p, mine[&k]);
    }
}

#[test]
fn absolute_and_relative_paths() {
    let mut env = Env::new(&["sleep", "1000"]);
    let top = integration::unique("corral-abs");
    env.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{top}/inner")));
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    for (k, p) in container_cgroups(&pid) {
        assert_eq!(p, Path::new("/").join(&top).join("inner"), "hierarchy {k}");
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert!(
        cgroup_dirs_named(&top).is_empty(),
        "the parents create made are removed too"
    );
    assert_nothing_left(&env, &id);

    let rel = integration::unique("corral-rel");
    env.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("{rel}/x")));
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let mine = own();
    for (k, p) in container_cgroups(&pid) {
        assert_eq!(p, mine[&k].join(&rel).join("x"), "hierarchy {k}");
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert!(cgroup_dirs_named(&rel).is_empty());
}

#[test]
fn an_existing_parent_is_kept() {
    let mut env = Env::new(&["sleep", "1000"]);
    let top = integration::unique("corral-keep");
    // The first hierarchy of the host: cpu on this hybrid host, the
    // unified root on a v2 one.
    let first = cgroups::hierarchies().expect("hierarchies")[0]
        .mountpoint
        .clone();
    let cpu_parent = first.join(&top);
    std::fs::create_dir(&cpu_parent).expect("mkdir parent");
    env.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{top}/c")));
    let id = env.create();
    assert!(cpu_parent.join("c").exists());
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert!(!cpu_parent.join("c").exists());
    assert!(
        cpu_parent.exists(),
        "a cgroup corral did not create is not removed"
    );
    std::fs::remove_dir(&cpu_parent).expect("cleanup");
    for d in cgroup_dirs_named(&top) {
        let _ = std::fs::remove_dir(d);
    }
}

#[test]
fn delete_force_kills_every_process_in_the_cgroup() {
    let mut env = Env::new(&["sh", "-c", "sleep 1000 & sleep 1000 & sleep 1000"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let cg = container_cgroups(&pid);
    let hs = cgroups::hierarchies().expect("hierarchies");
    let h = hs
        .iter()
        .find(|h| h.key == "pids")
        .or_else(|| hs.iter().find(|h| h.v2))
        .expect("a pids or unified hierarchy");
    let procs = h
        .mountpoint
        .join(cg[&h.key].strip_prefix("/").expect("abs"))
        .join("cgroup.procs");
    let n = std::fs::read_to_string(&procs)
        .expect("procs")
        .lines()
        .count();
    // sh execs its last command: the init becomes the third sleep.
    assert_eq!(n, 3, "three sleeps");
    assert!(env.corral(&["delete", "--force", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn a_shared_parent_stays_while_another_container_uses_it() {
    let top = integration::unique("corral-pod");
    let mut a = Env::new(&["sleep", "1000"]);
    a.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{top}/a")));
    let ida = a.create();
    let mut b = Env::new(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{top}/b")));
    let idb = b.create();
    let o = a.corral(&["delete", "-f", &ida]);
    assert!(o.status.success(), "{}", integration::out(&o.stderr));
    let pidb = b.state(&idb)["pid"].as_i64().expect("pid").to_string();
    for (k, p) in container_cgroups(&pidb) {
        assert_eq!(
            p,
            Path::new("/").join(&top).join("b"),
            "hierarchy {k}: b untouched"
        );
    }
    assert!(b.corral(&["delete", "-f", &idb]).status.success());
    // What is left is the parent that a created; remove it for the host.
    for d in cgroup_dirs_named(&top) {
        let _ = std::fs::remove_dir(d);
    }
    assert!(cgroup_dirs_named(&top).is_empty());
}

/// The init moves itself into its cgroups (`0` to each v1 `tasks` file,
/// `CLONE_INTO_CGROUP` for cgroup2): a move the kernel refuses fails create
/// with the cgroup named, and leaves nothing but what was there before.
/// v1: a cpuset cgroup without cpus takes no task. cgroup2: a cgroup whose
/// children have controllers takes no process (no internal processes).
#[test]
fn a_refused_move_into_the_cgroup_fails_create_by_name() {
    let mut env = Env::new(&["sleep", "1000"]);
    let top = integration::unique("corral-refuse");
    let hs = cgroups::hierarchies().expect("hierarchies");
    // v1: a realtime task may not join a cpu cgroup that has no realtime
    // runtime (a new one has 0): the kernel refuses the move (EINVAL), so
    // corral runs as SCHED_FIFO here (chrt) and its init inherits it.
    let rt_cpu = hs.iter().find(|h| {
        !h.v2
            && h.key.split(',').any(|c| c == "cpu")
            && h.mountpoint.join("cpu.rt_runtime_us").exists()
    });
    let (made, want): (Vec<PathBuf>, String) = if let Some(cpu) = rt_cpu {
        (
            vec![],
            format!("{}", cpu.mountpoint.join(&top).join("tasks").display()),
        )
    } else {
        let v2 = hs.iter().find(|h| h.v2).expect("a cgroup2 hierarchy");
        // A domain controller (a threaded one, such as pids, would let the
        // cgroup become a thread root and take the process).
        let root_has = |c: &str| {
            std::fs::read_to_string(v2.mountpoint.join("cgroup.subtree_control"))
                .unwrap_or_default()
                .split_whitespace()
                .any(|x| x == c)
        };
        let ctrl = ["memory", "io"]
            .into_iter()
            .find(|c| root_has(c))
            .unwrap_or_else(|| {
                // The VM tier's fresh host: the root has not delegated memory
                // yet (every systemd host has); enabling it changes no limit.
                std::fs::write(v2.mountpoint.join("cgroup.subtree_control"), "+memory")
                    .expect("enable memory at the root");
                "memory"
            });
        let d = v2.mountpoint.join(&top);
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::create_dir(d.join("child")).expect("mkdir child");
        std::fs::write(d.join("cgroup.subtree_control"), format!("+{ctrl}"))
            .expect("enable a domain controller");
        (
            vec![d.join("child"), d.clone()],
            format!("into cgroup {}", d.display()),
        )
    };
    env.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("/{top}")));
    if rt_cpu.is_some() {
        env.write_config();
        let id = env.id();
        let o = std::process::Command::new("chrt")
            .args(["-f", "1"])
            .arg(integration::corral_bin())
            .arg("--root")
            .arg(&env.root)
            .args(["create", "--bundle"])
            .arg(&env.bundle)
            .arg(&id)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("chrt corral create");
        let err = integration::error_message(&integration::out(&o.stderr));
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(&want), "{want:?} missing in {err:?}");
        integration::assert_nothing_left(&env, &id);
    } else {
        env.create_fails(&[&want]);
    }
    // Only what the test made is there; the dirs corral made in the other
    // hierarchies are gone.
    let mut left = cgroup_dirs_named(&top);
    for d in &made {
        assert!(d.exists(), "{d:?}, made before create, is kept");
        left.retain(|l| l != d);
    }
    for d in &made {
        std::fs::remove_dir(d).expect("cleanup");
    }
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// An exec'd process moves itself into every cgroup of the container, as
/// the init does (and the clone places it in cgroup2).
#[test]
fn an_exec_process_is_in_every_cgroup_of_the_container() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let init = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let pid_file = env.scratch.join("exec.pid");
    let o = env.corral(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().expect("utf8"),
        &id,
        "sleep",
        "1000",
    ]);
    assert!(o.status.success(), "{}", integration::out(&o.stderr));
    let exec_pid = std::fs::read_to_string(&pid_file).expect("pid file");
    let theirs = container_cgroups(exec_pid.trim());
    assert_eq!(theirs, container_cgroups(&init));
    assert!(theirs.len() == own().len(), "every hierarchy");
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// `events --stats` carries pressure stall information as runc 1.2+ gives
/// it (`cpu.psi`, `memory.psi`, `blkio.psi`, each with `some` and `full`)
/// where the container's cgroup2 directory has pressure files, and leaves
/// the keys out where it has none (v1 and hybrid hosts, kernels without
/// PSI). The v2 VM tier boots with `psi=1` and sets CORRAL_EXPECT_PSI=1,
/// so it cannot pass without the files.
#[test]
fn events_stats_carry_pressure_where_the_kernel_has_it() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let dir = integration::cgroup_dir(&pid, "memory");
    let has = integration::unified_cgroup()
        && std::fs::read_to_string(dir.join("memory.pressure")).is_ok();
    if std::env::var("CORRAL_EXPECT_PSI").as_deref() == Ok("1") {
        assert!(has, "no readable pressure files in {}", dir.display());
    }
    let o = env.corral(&["events", "--stats", &id]);
    assert!(o.status.success(), "{}", integration::out(&o.stderr));
    let ev: serde_json::Value = serde_json::from_slice(&o.stdout).expect("event json");
    for key in ["cpu", "memory", "blkio"] {
        let psi = &ev["data"][key]["psi"];
        if !has {
            assert!(psi.is_null(), "{key}.psi without pressure files: {psi}");
            continue;
        }
        for line in ["some", "full"] {
            for avg in ["avg10", "avg60", "avg300"] {
                let v = psi[line][avg].as_f64();
                assert!(
                    v.is_some_and(|v| (0.0..=100.0).contains(&v)),
                    "{key}.psi.{line}.{avg}: {psi}"
                );
            }
            assert!(
                psi[line]["total"].as_u64().is_some(),
                "{key}.psi.{line}: {psi}"
            );
        }
    }
    if has {
        // The figures are the kernel's: the total of the container's
        // cgroup, which only grows, read before and after.
        let file = |f: &str| std::fs::read_to_string(dir.join(f)).expect("pressure");
        let total = |t: &str| -> u64 {
            t.lines()
                .next()
                .and_then(|l| l.rsplit_once("total="))
                .and_then(|(_, v)| v.trim().parse().ok())
                .expect("total")
        };
        let before = total(&file("cpu.pressure"));
        let o = env.corral(&["events", "--stats", &id]);
        let ev: serde_json::Value = serde_json::from_slice(&o.stdout).expect("event json");
        let after = total(&file("cpu.pressure"));
        let got = ev["data"]["cpu"]["psi"]["some"]["total"]
            .as_u64()
            .expect("total");
        assert!(
            (before..=after).contains(&got),
            "{before} <= {got} <= {after}"
        );
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// `exec --cgroup` (runc's): the process goes into an existing sub-cgroup
/// of the container's — `PATH` in every hierarchy, `CONTROLLER:PATH` in
/// that controller's only (v1; a cgroup v2 host takes no prefix) — `ps`
/// and `kill --all` reach it there, delete removes the sub-cgroups with the
/// container's, and a path that leaves the container's cgroup or does not
/// exist is refused by name.
#[test]
fn exec_into_a_sub_cgroup() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let init = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let hs = cgroups::hierarchies().expect("hierarchies");
    let theirs = container_cgroups(&init);
    let mut subs = Vec::new();
    for (key, path) in &theirs {
        let Some(h) = hs.iter().find(|h| &h.key == key) else {
            continue;
        };
        let d = h
            .mountpoint
            .join(path.strip_prefix("/").expect("abs"))
            .join("sub");
        std::fs::create_dir(&d).expect("mkdir sub");
        // A v1 cpuset cgroup takes no task until it has cpus and mems (a
        // cgroup2 one has the files only where the controller is enabled,
        // and is usable empty).
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if !d.join(f).exists() || key == "unified" || key.is_empty() {
                continue;
            }
            if let Ok(v) = std::fs::read_to_string(d.parent().expect("parent").join(f)) {
                std::fs::write(d.join(f), v.trim()).expect("cpuset");
            }
        }
        subs.push((key.clone(), d));
    }
    assert!(!subs.is_empty());
    let exec_d = |flags: &[&str], marker: &str| {
        let pid_file = env.scratch.join(format!("{marker}.pid"));
        let mut args = vec!["exec", "-d", "--pid-file", pid_file.to_str().expect("utf8")];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&id, "sleep", marker]);
        let o = env.corral(&args);
        (o, pid_file)
    };
    let (o, pid_file) = exec_d(&["--cgroup", "sub"], "1001");
    assert!(o.status.success(), "{}", integration::out(&o.stderr));
    let pid = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .to_string();
    let placed = container_cgroups(&pid);
    for (key, _) in &subs {
        assert_eq!(placed[key], theirs[key].join("sub"), "hierarchy {key}");
    }
    // ps lists it (the sub-cgroup is below the container's).
    let ps = integration::out(&env.corral(&["ps", "--format", "json", &id]).stdout);
    let pids: Vec<i32> = serde_json::from_str(&ps).expect("ps json");
    assert!(pids.contains(&pid.parse().expect("pid")), "{pids:?}");
    if !integration::unified_cgroup() {
        // One controller's hierarchy only.
        let (o, pid_file) = exec_d(&["--cgroup", "memory:sub"], "1002");
        assert!(o.status.success(), "{}", integration::out(&o.stderr));
        let pid = std::fs::read_to_string(&pid_file)
            .expect("pid")
            .trim()
            .to_string();
        for (key, path) in container_cgroups(&pid) {
            let want = if key.split(',').any(|c| c == "memory") {
                theirs[&key].join("sub")
            } else {
                theirs[&key].clone()
            };
            assert_eq!(path, want, "hierarchy {key}");
        }
    } else {
        let (o, _) = exec_d(&["--cgroup", "memory:sub"], "1002");
        // runc's exit status for an exec that fails to start.
        assert_eq!(o.status.code(), Some(255));
        let e = integration::error_message(&integration::out(&o.stderr));
        assert!(
            e.contains("--cgroup") && e.contains("no controller prefix"),
            "{e}"
        );
    }
    for (flag, want) in [
        ("../escape", "'..'"),
        ("sub/../../escape", "'..'"),
        ("nope", "must exist"),
        (
            "rdma:sub",
            if integration::unified_cgroup() {
                "no controller prefix"
            } else {
                "no rdma cgroup"
            },
        ),
    ] {
        let (o, _) = exec_d(&["--cgroup", flag], "1003");
        assert_eq!(o.status.code(), Some(255), "--cgroup {flag}");
        let e = integration::error_message(&integration::out(&o.stderr));
        assert!(
            e.contains("--cgroup") && e.contains(want),
            "--cgroup {flag}: {e}"
        );
    }
    assert!(integration::processes_naming("1003").is_empty());
    // kill --all reaches the sub-cgroup's processes.
    assert!(env.corral(&["kill", "--all", &id, "KILL"]).status.success());
    let t = std::time::Instant::now();
    while !integration::processes_naming("1001").is_empty() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "the exec'd process lives"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    for (_, d) in &subs {
        assert!(!d.exists(), "{} is left", d.display());
    }
    assert_nothing_left(&env, &id);
}
