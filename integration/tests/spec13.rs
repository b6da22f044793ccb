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
    assert_eq!(o.status.code(), Some(255));
    assert!(
        out(&o.stderr).contains("process.execCPUAffinity.final"),
        "{}",
        out(&o.stderr)
    );
}

/// A tmpfs the test mounts on the host, unmounted on drop.
struct HostTmpfs(std::path::PathBuf);

impl HostTmpfs {
    fn new(at: &std::path::Path) -> HostTmpfs {
        std::fs::create_dir_all(at).expect("mkdir");
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .expect("mount tmpfs");
        HostTmpfs(at.to_path_buf())
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn recursive_mount_attributes_and_nosymfollow() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "touch /plain/sub/a && echo plain-sub-rw; \
         touch /rro/sub/b 2>/dev/null || echo rro-sub-ro; \
         touch /rro/c 2>/dev/null || echo rro-top-ro; \
         cat /rsym/sub/link 2>/dev/null || echo rsym-blocked; \
         cat /sym/link 2>/dev/null || echo sym-blocked; \
         cat /plain/sub/link >/dev/null && echo plain-follows; \
         grep ' /ratime/sub ' /proc/self/mountinfo | grep -q noatime && echo sub-noatime",
    ]);
    let src = env.scratch.join("src");
    std::fs::create_dir_all(&src).expect("src");
    let _sub = HostTmpfs::new(&src.join("sub"));
    std::fs::write(src.join("sub/target"), "t").expect("target");
    std::os::unix::fs::symlink("target", src.join("sub/link")).expect("symlink");
    std::os::unix::fs::symlink("sub/target", src.join("link")).expect("symlink");
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        for (dest, opts) in [
            ("/plain", json!(["rbind", "ro"])),
            ("/rro", json!(["rbind", "rro"])),
            ("/rsym", json!(["rbind", "rnosymfollow"])),
            ("/sym", json!(["rbind", "nosymfollow"])),
            ("/ratime", json!(["rbind", "rnoatime"])),
        ] {
            m.push(json!({"destination": dest, "type": "bind", "source": src, "options": opts}));
        }
    });
    let o = env.run_ok();
    for want in [
        "plain-sub-rw",
        "rro-sub-ro",
        "rro-top-ro",
        "rsym-blocked",
        "sym-blocked",
        "plain-follows",
        "sub-noatime",
    ] {
        assert!(o.contains(want), "{want} missing in {o}");
    }
}

#[test]
fn tmpcopyup_and_relative_destinations() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "cat /etc/hostname; stat -f -c %T /etc; echo new > /etc/added; stat -f -c %T /rel",
    ]);
    let image_hostname = std::fs::read_to_string(
        std::path::PathBuf::from(env.config["root"]["path"].as_str().expect("root"))
            .join("etc/hostname"),
    )
    .expect("image hostname");
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}));
        m.push(json!({"destination": "rel", "type": "tmpfs", "source": "tmpfs"}));
    });
    let o = env.run_ok();
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], image_hostname.trim(), "{o}");
    assert_eq!(&lines[1..], ["tmpfs", "tmpfs"], "{o}");
    let root = std::path::PathBuf::from(env.config["root"]["path"].as_str().expect("root"));
    assert!(!root.join("etc/added").exists(), "the image was written");
    // tmpcopyup on anything but tmpfs is refused.
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": "/mnt", "type": "proc", "source": "proc", "options": ["tmpcopyup"]}),
        )
    });
    env.create_fails(&["mounts[", "tmpcopyup is for tmpfs"]);
}

#[test]
fn idmapped_mounts() {
    // Without a user namespace: the mount's own mapping shows on-disk 0:0
    // as 1000:2000.
    let mut env = Env::new(&["stat", "-c", "%u:%g", "/idm/f"]);
    let src = env.scratch.join("idm");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("f"), "x").expect("f");
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/idm", "type": "bind", "source": src, "options": ["bind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 1}]
        }))
    });
    assert_eq!(env.run_ok().trim(), "1000:2000");
    // In a user namespace (0 → 100000): without idmap the host's root
    // files belong to nobody; with `idmap` and no mappings on the mount the
    // container's own mapping applies and they belong to its root.
    for (opts, want) in [
        (json!(["rbind"]), "65534:65534"),
        (json!(["rbind", "ridmap"]), "0:0"),
    ] {
        let mut env = Env::userns(&["stat", "-c", "%u:%g", "/idm/f"]);
        env.edit(|c| {
            c["mounts"].as_array_mut().expect("mounts").push(
                json!({"destination": "/idm", "type": "bind", "source": src, "options": opts}),
            )
        });
        assert_eq!(env.run_ok().trim(), want, "{opts}");
    }
    // idmap on a tmpfs, and idmap with no mapping anywhere: refused.
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": "/idm", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
        )
    });
    env.create_fails(&["mounts[", "needs the container's user namespace mappings"]);
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
        )
    });
    env.create_fails(&["mounts[", "for bind mounts"]);
}

/// A veth pair the test makes, deleted on drop (deleting one end takes the
/// other).
struct Veth(String);

impl Veth {
    fn new(a: &str, b: &str) -> Veth {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", a])
            .stderr(std::process::Stdio::null())
            .status();
        let st = std::process::Command::new("ip")
            .args(["link", "add", a, "type", "veth", "peer", "name", b])
            .status()
            .expect("ip");
        assert!(st.success(), "ip link add");
        Veth(a.to_string())
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn host_has_link(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

#[test]
fn net_devices_move_into_the_container_renamed() {
    let tag = std::process::id() % 100_000;
    let (a, b) = (format!("cvh{tag}"), format!("cvp{tag}"));
    let _veth = Veth::new(&a, &b);
    let mut env = Env::new(&["sleep", "100"]);
    env.edit(|c| c["linux"]["netDevices"] = json!({ a.clone(): {"name": "eth7"} }));
    let id = env.create();
    // Gone from the host, there in the container as eth7.
    assert!(!host_has_link(&a));
    assert!(host_has_link(&b));
    let o = env.corral(&["exec", &id, "cat", "/sys/class/net/eth7/ifindex"]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    // When the container's network namespace goes, the veth end dies and
    // takes its peer with it.
    assert!(env.corral(&["delete", "--force", &id]).status.success());
    for _ in 0..50 {
        if !host_has_link(&b) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!host_has_link(&a) && !host_has_link(&b));
    // Errors name the field: a missing device, a bad name, no netns.
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["netDevices"] = json!({"nosuchdev0": {}}));
    env.create_fails(&["linux.netDevices.nosuchdev0", "no network interface"]);
    let _veth = Veth::new(&a, &b);
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["netDevices"] = json!({ a.clone(): {"name": "bad/name"} }));
    env.create_fails(&[&format!("linux.netDevices.{a}.name"), "bad/name"]);
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["linux"]["netDevices"] = json!({ a.clone(): {} });
        let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.retain(|n| n["type"] != "network");
    });
    env.create_fails(&["linux.netDevices", "network namespace"]);
    assert!(host_has_link(&a), "a refused create moved nothing");
}

#[test]
fn intel_rdt_and_mount_label_are_refused_on_this_host() {
    // No resctrl mounted here, and SELinux is not enabled.
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["linux"]["intelRdt"] = json!({"closID": "guaranteed", "l3CacheSchema": "L3:0=7f0"})
    });
    env.create_fails(&["linux.intelRdt", "resctrl"]);
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0"));
    env.create_fails(&["linux.mountLabel", "SELinux is not enabled"]);
}

/// Every claim of `corral features` is used: each mount option on a mount,
/// each namespace and capability in a container, each seccomp action
/// (NOTIFY and the WAIT_KILLABLE_RECV flag are exercised with an agent in
/// seccomp.rs), operator, arch and flag in one profile, each memory policy
/// mode and flag.
#[test]
fn features_claims_hold_when_used() {
    let env = Env::new(&["true"]);
    let o = env.corral(&["features"]);
    assert!(o.status.success());
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).expect("features json");
    let list = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_str().expect("str").to_string())
            .collect()
    };
    // Mount options: one mount per option under /o.
    let mut env = Env::userns(&["true"]);
    let src = env.scratch.join("src");
    std::fs::create_dir_all(&src).expect("src");
    let mut mounts = Vec::new();
    for opt in list(&f["mountOptions"]) {
        let dest = format!("/o/{opt}");
        let m = match opt.as_str() {
            "bind" | "rbind" => {
                json!({"destination": dest, "type": "bind", "source": src, "options": [opt]})
            }
            "idmap" | "ridmap" => {
                json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", opt]})
            }
            "remount" => {
                mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
                json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]})
            }
            _ => json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [opt]}),
        };
        mounts.push(m);
    }
    env.edit(|c| c["mounts"].as_array_mut().expect("mounts").extend(mounts));
    env.run_ok();
    // Namespaces: the user-namespace fixture makes every kind; each link
    // differs from the host's.
    let claimed = list(&f["linux"]["namespaces"]);
    let mut env = Env::userns(&["sleep", "100"]);
    let id = env.create();
    let pid = env.state(&id)["pid"].to_string();
    for ns in &claimed {
        let file = match ns.as_str() {
            "network" => "net",
            "mount" => "mnt",
            other => other,
        };
        assert_ne!(
            integration::ns_link(&pid, file),
            integration::ns_link("self", file),
            "{ns}"
        );
    }
    // Capabilities: all in the bounding set, and in the others all that
    // this test process holds itself (this machine withholds
    // CAP_SYS_RESOURCE from everyone).
    let caps = list(&f["linux"]["capabilities"]);
    let held: Vec<&String> = caps
        .iter()
        .filter(|c| {
            c.parse::<caps::Capability>()
                .is_ok_and(|cap| caps::has_cap(None, caps::CapSet::Permitted, cap).unwrap_or(false))
        })
        .collect();
    let mut env = Env::new(&["grep", "CapBnd", "/proc/self/status"]);
    env.edit(|c| {
        c["process"]["capabilities"]["bounding"] = json!(caps);
        for set in ["effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(held);
        }
    });
    // Bounding can only shrink: the container's is exactly ours.
    let ours = std::fs::read_to_string("/proc/self/status").expect("status");
    let our_bnd = ours
        .lines()
        .find(|l| l.starts_with("CapBnd"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("CapBnd")
        .to_string();
    assert_eq!(
        env.run_ok().split_whitespace().nth(1),
        Some(our_bnd.as_str())
    );
    assert!(caps.len() >= 41, "{caps:?}");
    // seccomp: every action but NOTIFY on its own syscall, every operator,
    // every arch and flag.
    let sc = &f["linux"]["seccomp"];
    let victims = [
        "acct",
        "swapon",
        "swapoff",
        "reboot",
        "kexec_load",
        "pivot_root",
        "quotactl",
        "nfsservctl",
    ];
    let mut rules: Vec<serde_json::Value> = list(&sc["actions"])
        .into_iter()
        .filter(|a| a != "SCMP_ACT_NOTIFY")
        .zip(victims)
        .map(|(a, n)| json!({"names": [n], "action": a}))
        .collect();
    for op in list(&sc["operators"]) {
        rules.push(json!({"names": ["personality"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "op": op, "value": 0x4242_4242u64, "valueTwo": 1}]}));
    }
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": list(&sc["archs"]),
            // WAIT_KILLABLE_RECV needs a notify rule: it is used with an
            // agent in seccomp.rs.
            "flags": list(&sc["supportedFlags"])
                .into_iter()
                .filter(|f| f != "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
                .collect::<Vec<_>>(),
            "syscalls": rules,
        })
    });
    env.run_ok();
    // Memory policy: every mode and flag.
    let mp = &f["linux"]["memoryPolicy"];
    for mode in list(&mp["modes"]) {
        let mut env = Env::new(&["true"]);
        let nodes = !matches!(mode.as_str(), "MPOL_DEFAULT" | "MPOL_LOCAL");
        env.edit(|c| {
            c["linux"]["memoryPolicy"] = if nodes {
                json!({"mode": mode, "nodes": "0"})
            } else {
                json!({"mode": mode})
            }
        });
        env.run_ok();
    }
    for flag in list(&mp["flags"]) {
        let mut env = Env::new(&["true"]);
        env.edit(|c| {
            c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]})
        });
        env.run_ok();
    }
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(f["linux"]["netDevices"]["enabled"], true);
}
