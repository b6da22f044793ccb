//! `corral check` on this host (and in the cgroup v2 VM): every claim it
//! makes is checked against the system, read here independently.

use std::process::Command;

use integration::{corral_bin, out};
use serde_json::Value;

fn check_json(cmd: &mut Command) -> (i32, Value) {
    let o = cmd.output().expect("corral check");
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", out(&o.stdout), out(&o.stderr)));
    (o.status.code().unwrap_or(-1), v)
}

/// cgroup mounts of this mount namespace: (mount point, fs type, super
/// options).
fn cgroup_mounts(mountinfo: &str) -> Vec<(String, String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let point = pre.split(' ').nth(4)?.to_string();
            let mut f = post.split(' ');
            let fstype = f.next()?.to_string();
            let opts = f.nth(1)?.to_string();
            fstype
                .starts_with("cgroup")
                .then_some((point, fstype, opts))
        })
        .collect()
}

/// Checks the report's claims against `mountinfo` and the kernel's files.
fn verify(v: &Value, mountinfo: &str) {
    let mounts = cgroup_mounts(mountinfo);
    let has_v1 = mounts.iter().any(|m| m.1 == "cgroup");
    let v2 = mounts.iter().find(|m| m.1 == "cgroup2");
    let layout = match (has_v1, v2.is_some()) {
        (true, true) => "hybrid",
        (true, false) => "legacy",
        (false, true) => "unified",
        (false, false) => "none",
    };
    assert_eq!(v["cgroup_layout"], layout, "{v:#}");
    let proc_cgroups = std::fs::read_to_string("/proc/cgroups").expect("/proc/cgroups");
    let enabled: Vec<&str> = proc_cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&"1")).then(|| f[0])
        })
        .collect();
    let v2_controllers = v2
        .map(|m| std::fs::read_to_string(format!("{}/cgroup.controllers", m.0)).unwrap_or_default())
        .unwrap_or_default();
    let controllers = v["controllers"].as_array().expect("controllers");
    assert_eq!(controllers.len(), 14);
    for c in controllers {
        let name = c["name"].as_str().expect("name");
        let on_v1 = mounts
            .iter()
            .find(|m| m.1 == "cgroup" && m.2.split(',').any(|o| o == name));
        match c["state"].as_str().expect("state") {
            "mounted" if c["mode"] == "v1" => {
                let m = on_v1.unwrap_or_else(|| panic!("{name}: no v1 mount carries it"));
                assert_eq!(c["path"], m.0.as_str(), "{name}");
            }
            "mounted" => {
                assert_eq!(c["mode"], "v2", "{name}");
                assert!(on_v1.is_none(), "{name} is on a v1 hierarchy");
                assert!(
                    v2_controllers.split_whitespace().any(|x| x == name),
                    "{name} not in cgroup.controllers"
                );
                assert_eq!(c["path"], v2.expect("v2 mount").0.as_str());
            }
            "builtin" => {
                assert_eq!(layout, "unified", "{name}: builtin on a {layout} host");
                assert!(["cpuacct", "devices", "freezer"].contains(&name), "{name}");
                let root = v2.expect("v2 mount").0.as_str();
                assert_eq!(c["path"], root);
                let file = match name {
                    "cpuacct" => "cpu.stat",
                    "freezer" => "cgroup.freeze",
                    _ => "cgroup.procs",
                };
                // cgroup.freeze is in every cgroup but the root: look in a
                // child made for the purpose.
                let dir =
                    std::path::Path::new(root).join(format!("corral-check-{}", std::process::id()));
                std::fs::create_dir(&dir).expect("mkdir cgroup");
                let there = dir.join(file).exists();
                std::fs::remove_dir(&dir).expect("rmdir cgroup");
                assert!(there, "{name}: no {file} in a cgroup");
            }
            "not-mounted" => {
                assert!(on_v1.is_none(), "{name} is mounted");
                assert!(enabled.contains(&name), "{name} not in /proc/cgroups");
                assert!(
                    c["hint"].as_str().is_some_and(|h| h.contains(name)),
                    "{name}: no hint"
                );
            }
            "absent" => assert!(!enabled.contains(&name), "{name} is in the kernel"),
            s => panic!("{name}: state {s}"),
        }
    }
    // Namespaces: exactly those under /proc/self/ns.
    for n in v["namespaces"].as_array().expect("namespaces") {
        let name = n["name"].as_str().expect("name");
        let there = std::path::Path::new("/proc/self/ns").join(name).exists();
        assert_eq!(n["present"], there, "{name}");
    }
    // LSMs: the kernel's list when securityfs shows it.
    if let Ok(list) = std::fs::read_to_string("/sys/kernel/security/lsm") {
        let want: Vec<&str> = list.trim().split(',').filter(|s| !s.is_empty()).collect();
        assert_eq!(v["lsms"], serde_json::json!(want));
    } else {
        let apparmor = libcontainer::lsm::apparmor_enabled()
            || std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                .is_ok_and(|s| s.trim() == "Y");
        let listed = v["lsms"]
            .as_array()
            .expect("lsms")
            .iter()
            .any(|l| l == "apparmor");
        assert_eq!(listed, apparmor);
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_eq!(v["kernel"], release.trim());
    let features = v["features"].as_array().expect("features");
    let present = |n: &str| {
        features
            .iter()
            .find(|f| f["name"] == n)
            .unwrap_or_else(|| panic!("no {n}"))["present"]
            == true
    };
    // This host runs corral's containers: what they use is there.
    assert!(present("clone3") && present("openat2") && present("pidfd_open"));
    assert_eq!(
        present("seccomp filters"),
        std::path::Path::new("/proc/sys/kernel/seccomp/actions_avail").exists()
    );
    let filesystems = std::fs::read_to_string("/proc/filesystems").expect("filesystems");
    if filesystems.contains("\toverlay\n") {
        assert!(present("overlayfs"));
    }
    assert_eq!(v["ok"], true);
}

#[test]
fn check_claims_hold_on_this_host() {
    let (code, v) = check_json(Command::new(corral_bin()).args(["check", "--format", "json"]));
    assert_eq!(code, 0, "{v:#}");
    verify(
        &v,
        &std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo"),
    );
    // The table says the same, readably.
    let t = Command::new(corral_bin())
        .arg("check")
        .output()
        .expect("check");
    assert!(t.status.success());
    let text = out(&t.stdout);
    assert!(
        text.contains("CONTROLLER") && text.contains(v["cgroup_layout"].as_str().expect("layout"))
    );
}

/// A v1 controller unmounted (in a private mount namespace, never this
/// machine's): reported as in the kernel but not mounted, with the command
/// that mounts it.
#[test]
fn an_unmounted_controller_gets_a_hint() {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let Some((point, _, opts)) = cgroup_mounts(&mountinfo)
        .into_iter()
        .find(|m| m.1 == "cgroup" && m.2.split(',').any(|o| o == "net_prio" || o == "perf_event"))
    else {
        return; // no such v1 hierarchy here (the v2 VM)
    };
    let name = if opts.split(',').any(|o| o == "perf_event") {
        "perf_event"
    } else {
        "net_prio"
    };
    let script = format!(
        "umount {point} && cat /proc/self/mountinfo > /dev/stderr && exec {} check --format json",
        corral_bin().display()
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let c = v["controllers"]
        .as_array()
        .expect("controllers")
        .iter()
        .find(|c| c["name"] == name)
        .expect("controller")
        .clone();
    assert_eq!(c["state"], "not-mounted", "{c:#}");
    assert!(c["hint"]
        .as_str()
        .expect("hint")
        .contains(&format!("-o {name}")));
    verify(&v, &out(&o.stderr));
}

/// Whether this test process may use system call `nr` (the same probe
/// corral makes: arguments the kernel refuses before acting).
fn usable(nr: libc::c_long) -> bool {
    // SAFETY: clone3 with size 0, pidfd_open of pid -1, pidfd_send_signal
    // on fd -1 and close_range with first > last all fail their argument
    // checks before doing anything.
    let r = unsafe { libc::syscall(nr, -1 as libc::c_long, 0, 0, 0, 0) };
    let e = std::io::Error::last_os_error().raw_os_error();
    !(r == -1 && matches!(e, Some(libc::ENOSYS) | Some(libc::EPERM)))
}

/// The mechanisms `corral check` reports are the ones this host gives, and
/// with every newer system call denied (ENOSYS, EPERM) the fallbacks.
#[test]
fn mechanisms_follow_what_the_kernel_answers() {
    let deny = corral_bin().with_file_name("deny-newer");
    assert!(deny.exists(), "{deny:?}: cargo build -p integration");
    let host = [
        ("clone3", usable(libc::SYS_clone3), "clone + cgroup.procs"),
        (
            "pidfd",
            usable(libc::SYS_pidfd_open) && usable(libc::SYS_pidfd_send_signal),
            "pid + start time",
        ),
        (
            "close_range",
            usable(libc::SYS_close_range),
            "/proc/self/fd walk",
        ),
    ];
    for errno in [None, Some("ENOSYS"), Some("EPERM")] {
        let mut cmd = match errno {
            None => Command::new(corral_bin()),
            Some(e) => {
                let mut c = Command::new(&deny);
                c.arg(e).arg(corral_bin());
                c
            }
        };
        let (_, v) = check_json(cmd.args(["check", "--format", "json"]));
        let ms = v["mechanisms"].as_array().expect("mechanisms");
        for (feature, present, fallback) in host {
            let m = ms
                .iter()
                .find(|m| m["feature"] == feature)
                .unwrap_or_else(|| panic!("{feature} missing: {v:#}"));
            let want = present && errno.is_none();
            assert_eq!(m["newer"], want, "{errno:?}: {m}");
            let uses = m["uses"].as_str().expect("uses");
            assert_eq!(uses.starts_with(fallback), !want, "{errno:?}: {m}");
        }
        let mut cmd = match errno {
            None => Command::new(corral_bin()),
            Some(e) => {
                let mut c = Command::new(&deny);
                c.arg(e).arg(corral_bin());
                c
            }
        };
        let table = out(&cmd.arg("check").output().expect("check").stdout);
        let line = if errno.is_some() || !host[0].1 {
            "clone3: no — clone + cgroup.procs"
        } else {
            "clone3: yes — clone3"
        };
        assert!(table.contains(line), "{errno:?}: {table}");
    }
}
