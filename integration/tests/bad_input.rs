//! Bad input, table-driven: every invalid bundle and flag below gives one
//! error line naming the field (or flag) and the value, exit status 1, and
//! leaves nothing on the host (state dir, cgroup, mount, process; the
//! `Env` leak check runs after each case too).
//!
//! `CORRAL_SHOW_ERRORS=1` prints every case's error line.

use integration::{assert_nothing_left, base_bundle, out, Env};
use serde_json::{json, Value};

/// What a case feeds corral.
enum Input {
    /// The fixture's config, edited.
    Config(fn(&mut Value)),
    /// config.json replaced by this text.
    Raw(&'static str),
    /// A rootfs copy prepared by the function (given its path), then the
    /// config edited.
    Rootfs(fn(&std::path::Path), fn(&mut Value)),
    /// The fixture's config, edited, written, then its text with the first
    /// string replaced by the second (for numbers serde_json cannot hold).
    Text(fn(&mut Value), &'static str, &'static str),
    /// `corral` with these arguments (`ID` a fresh id, `BUNDLE` the bundle).
    Flags(&'static [&'static str]),
    /// The same after the config is edited.
    FlagsEdited(fn(&mut Value), &'static [&'static str]),
    /// The same on a created container named `ID`.
    FlagsOnContainer(&'static [&'static str]),
}

struct Case {
    input: Input,
    /// Strings the error line must contain: the field and the value.
    want: &'static [&'static str],
}

fn ns_push(c: &mut Value, v: Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .push(v);
}

fn mount_push(c: &mut Value, v: Value) {
    c["mounts"].as_array_mut().expect("mounts").push(v);
}

fn userns(c: &mut Value) {
    ns_push(c, json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

fn seccomp(c: &mut Value, sc: Value) {
    c["linux"]["seccomp"] = sc;
}

fn res(c: &mut Value, key: &str, v: Value) {
    c["linux"]["resources"][key] = v;
}

fn cases() -> Vec<Case> {
    use Input::*;
    let c = |input, want| Case { input, want };
    vec![
        // Malformed JSON and wrong types.
        c(
            Raw("{\"ociVersion\": \"1.0.2\", \"process\": "),
            &["config.json", "EOF"],
        ),
        c(Raw(""), &["config.json", "EOF"]),
        c(Raw("[1, 2]"), &["config.json", "invalid type"]),
        c(Raw("{\"ociVersion\": 1.0}"), &["ociVersion", "1.0"]),
        c(
            Config(|c| c["process"]["user"]["uid"] = json!("root")),
            &["process.user.uid", "root"],
        ),
        c(
            Config(|c| c["process"]["args"] = json!("true")),
            &["process.args", "true"],
        ),
        c(
            Config(|c| c["process"]["terminal"] = json!("yes")),
            &["process.terminal", "yes"],
        ),
        c(
            Config(|c| c["linux"]["namespaces"] = json!({"type": "pid"})),
            &["linux.namespaces", "map"],
        ),
        c(
            Config(|c| c["mounts"][0]["destination"] = json!(42)),
            &["mounts[0].destination", "42"],
        ),
        c(
            Config(|c| res(c, "memory", json!({"limit": "lots"}))),
            &["linux.resources.memory.limit", "lots"],
        ),
        c(
            Config(|c| c["process"]["rlimits"][0]["hard"] = json!(-1)),
            &["process.rlimits[0].hard", "-1"],
        ),
        // Unknown names.
        c(
            Config(|c| c["linux"]["namespaces"][2]["type"] = json!("bogus")),
            &["linux.namespaces[2].type", "bogus"],
        ),
        // An unknown capability *name* is a warning (config.md), see
        // process.rs; a value that is not a name is an error.
        c(
            Config(|c| c["process"]["capabilities"]["bounding"] = json!([7])),
            &["process.capabilities.bounding"],
        ),
        c(
            Config(|c| c["process"]["rlimits"][0]["type"] = json!("RLIMIT_BOGUS")),
            &["process.rlimits[0].type", "RLIMIT_BOGUS"],
        ),
        c(
            Config(|c| c["linux"]["rootfsPropagation"] = json!("sideways")),
            &["linux.rootfsPropagation", "sideways"],
        ),
        c(
            Config(|c| seccomp(c, json!({"defaultAction": "SCMP_ACT_BOGUS"}))),
            &["linux.seccomp.defaultAction", "SCMP_ACT_BOGUS"],
        ),
        c(
            Config(|c| {
                seccomp(
                    c,
                    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]}),
                )
            }),
            &["linux.seccomp.syscalls[0].names", "no_such_syscall"],
        ),
        c(
            Config(|c| {
                seccomp(
                    c,
                    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]}),
                )
            }),
            &["linux.seccomp.architectures[0]", "SCMP_ARCH_BOGUS"],
        ),
        c(
            Config(|c| {
                seccomp(
                    c,
                    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]}),
                )
            }),
            &["linux.seccomp.syscalls[0].args[0].op", "SCMP_CMP_BOGUS"],
        ),
        c(
            Config(|c| {
                seccomp(
                    c,
                    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
                )
            }),
            &["linux.seccomp.syscalls[0].args[0].index", "6"],
        ),
        c(
            Config(|c| {
                seccomp(
                    c,
                    json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}),
                )
            }),
            &["linux.seccomp.flags", "SECCOMP_FILTER_FLAG_BOGUS"],
        ),
        c(
            Config(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_ISO"})),
            &["process.scheduler.policy", "SCHED_ISO"],
        ),
        c(
            Config(|c| {
                c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BOGUS", "priority": 1})
            }),
            &["process.ioPriority.class", "IOPRIO_CLASS_BOGUS"],
        ),
        c(
            Config(|c| c["linux"]["personality"] = json!({"domain": "LINUX99"})),
            &["linux.personality.domain", "LINUX99"],
        ),
        c(
            Config(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BOGUS"})),
            &["linux.memoryPolicy.mode", "MPOL_BOGUS"],
        ),
        c(
            Config(|c| {
                c["linux"]["devices"] =
                    json!([{"path": "/dev/foo", "type": "x", "major": 1, "minor": 3}])
            }),
            &["linux.devices[0].type", "x"],
        ),
        c(
            Config(|c| c["linux"]["sysctl"] = json!({"kernel.no_such_key": "1"})),
            &["linux.sysctl.kernel.no_such_key", "kernel.no_such_key"],
        ),
        c(
            Config(|c| c["linux"]["sysctl"] = json!({"vm.swappiness": "10"})),
            &["linux.sysctl.vm.swappiness", "vm.swappiness"],
        ),
        c(
            Config(|c| {
                c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}]);
                c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"})
            }),
            &["linux.sysctl.net.ipv4.ip_forward", "net"],
        ),
        // Relative paths where absolute ones are needed, missing files.
        c(
            Config(|c| c["process"]["cwd"] = json!("tmp")),
            &["process.cwd", "tmp"],
        ),
        c(
            Config(|c| c["process"]["cwd"] = json!("/no/such/dir")),
            &["process.cwd", "/no/such/dir"],
        ),
        c(
            Config(|c| c["root"]["path"] = json!("/nonexistent/rootfs")),
            &["root.path", "/nonexistent/rootfs"],
        ),
        c(
            Config(|c| c["root"]["path"] = json!("/etc/hostname")),
            &["root.path", "/etc/hostname", "not a directory"],
        ),
        c(
            Config(|c| c["linux"]["namespaces"][1]["path"] = json!("proc/1/ns/net")),
            &["linux.namespaces[1].path", "proc/1/ns/net"],
        ),
        c(
            Config(|c| c["mounts"][0]["destination"] = json!("/proc/../../etc")),
            &["mounts[0].destination", "/proc/../../etc"],
        ),
        c(
            Config(|c| {
                mount_push(
                    c,
                    json!({"destination": "/mnt/x", "type": "bind", "source": "/no/such/source", "options": ["bind"]}),
                )
            }),
            &["mounts[7]", "/no/such/source"],
        ),
        c(
            Config(|c| {
                mount_push(
                    c,
                    json!({"destination": "/mnt/x", "type": "nosuchfs", "source": "none"}),
                )
            }),
            &["mounts[7]", "nosuchfs"],
        ),
        c(
            Config(|c| {
                mount_push(
                    c,
                    json!({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs", "options": ["nosuchoption=1"]}),
                )
            }),
            &["mounts[7]", "nosuchoption=1"],
        ),
        c(
            Config(|c| c["linux"]["maskedPaths"] = json!(["proc/kcore"])),
            &["linux.maskedPaths[0]", "proc/kcore"],
        ),
        c(
            Config(|c| c["linux"]["readonlyPaths"] = json!(["proc/sys"])),
            &["linux.readonlyPaths[0]", "proc/sys"],
        ),
        c(
            Config(|c| {
                c["linux"]["devices"] =
                    json!([{"path": "dev/foo", "type": "c", "major": 1, "minor": 3}])
            }),
            &["linux.devices[0].path", "dev/foo"],
        ),
        c(
            Config(|c| c["hooks"] = json!({"poststart": [{"path": "relative/hook"}]})),
            &["hooks.poststart[0].path", "relative/hook"],
        ),
        c(
            Config(|c| c["hooks"] = json!({"prestart": [{"path": "/no/such/hook"}]})),
            &["hooks.prestart[0]", "/no/such/hook"],
        ),
        c(
            Config(|c| {
                c["hooks"] = json!({"createRuntime": [{"path": "/bin/true", "timeout": 0}]})
            }),
            &["hooks.createRuntime[0].timeout", "0"],
        ),
        c(
            Config(|c| c["process"]["args"] = json!(["/no/such/program"])),
            &["process.args[0]", "/no/such/program"],
        ),
        c(
            Config(|c| c["process"]["args"] = json!(["nosuchprogram"])),
            &["nosuchprogram", "not found in $PATH"],
        ),
        c(
            Config(|c| c["process"]["args"] = json!([])),
            &["process.args", "empty"],
        ),
        // A destination reached through a symlink of the image that
        // leaves the rootfs for a host path: refused by name.
        c(
            Rootfs(
                |r| {
                    std::os::unix::fs::symlink("/proc/self/root/tmp", r.join("mnt/esc"))
                        .expect("symlink")
                },
                |c| {
                    mount_push(
                        c,
                        json!({"destination": "/mnt/esc/x", "type": "tmpfs", "source": "tmpfs"}),
                    )
                },
            ),
            &["mounts[7]", "/mnt/esc/x"],
        ),
        // Impossible resource values.
        c(
            Config(|c| res(c, "memory", json!({"limit": -2}))),
            &["linux.resources.memory.limit", "-2"],
        ),
        c(
            Config(|c| res(c, "memory", json!({"limit": 9_223_372_036_854_775_808u64}))),
            &["linux.resources.memory.limit", "9223372036854775808"],
        ),
        c(
            Config(|c| res(c, "memory", json!({"limit": 4194304, "swap": 2097152}))),
            &["linux.resources.memory.swap", "2097152"],
        ),
        c(
            Config(|c| res(c, "memory", json!({"swappiness": 101}))),
            &["linux.resources.memory.swappiness", "101"],
        ),
        c(
            Config(|c| res(c, "cpu", json!({"quota": 500}))),
            &["linux.resources.cpu.quota", "500"],
        ),
        c(
            Config(|c| res(c, "cpu", json!({"period": 2_000_000}))),
            &["linux.resources.cpu.period", "2000000"],
        ),
        c(
            Text(
                |c| res(c, "cpu", json!({"shares": 424242})),
                "424242",
                "18446744073709551616",
            ),
            &["linux.resources.cpu.shares", "1.8446744073709552e"],
        ),
        c(
            Config(|c| res(c, "cpu", json!({"cpus": "0-999"}))),
            &["linux.resources.cpu.cpus", "0-999"],
        ),
        c(
            Config(|c| res(c, "cpu", json!({"mems": "bogus"}))),
            &["linux.resources.cpu.mems", "bogus"],
        ),
        c(
            Config(|c| res(c, "devices", json!([{"allow": true, "access": "rwz"}]))),
            &["linux.resources.devices[0].access", "rwz"],
        ),
        c(
            Config(|c| res(c, "blockIO", json!({"weight": 1001}))),
            &["linux.resources.blockIO.weight", "1001"],
        ),
        c(
            Config(|c| {
                res(
                    c,
                    "hugepageLimits",
                    json!([{"pageSize": "64KB", "limit": 1}]),
                )
            }),
            &["linux.resources.hugepageLimits", "64KB"],
        ),
        c(
            Config(|c| c["process"]["oomScoreAdj"] = json!(1001)),
            &["process.oomScoreAdj", "1001"],
        ),
        c(
            Config(|c| {
                c["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}])
            }),
            &["process.rlimits[0]", "RLIMIT_NOFILE", "2048"],
        ),
        c(
            Config(|c| {
                c["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1_099_511_627_776u64}])
            }),
            &["process.rlimits[0]", "RLIMIT_NOFILE", "1099511627776"],
        ),
        // Namespaces and id maps.
        c(
            Config(|c| ns_push(c, json!({"type": "pid"}))),
            &["linux.namespaces[6]", "pid", "twice"],
        ),
        c(
            Config(|c| {
                c["hostname"] = Value::Null;
                c["linux"]["namespaces"] = json!([{"type": "pid"}])
            }),
            &["linux.namespaces", "mount"],
        ),
        c(
            Config(|c| c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "pid"}])),
            &["hostname", "UTS namespace"],
        ),
        c(
            Config(|c| c["linux"]["namespaces"][1]["path"] = json!("/proc/999999999/ns/net")),
            &["linux.namespaces[1].path", "/proc/999999999/ns/net"],
        ),
        c(
            Config(|c| c["linux"]["namespaces"][1]["path"] = json!("/etc/hostname")),
            &["linux.namespaces[1].path", "/etc/hostname"],
        ),
        c(
            Config(|c| {
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            }),
            &["linux.uidMappings", "no user namespace"],
        ),
        c(
            Config(|c| {
                userns(c);
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}, {"containerID": 500, "hostID": 200000, "size": 1000}])
            }),
            &["linux.uidMappings[1]", "overlap"],
        ),
        c(
            Config(|c| {
                userns(c);
                c["linux"]["gidMappings"][0]["size"] = json!(0)
            }),
            &["linux.gidMappings[0].size", "0"],
        ),
        c(
            Config(|c| {
                userns(c);
                c["linux"]["uidMappings"][0]["hostID"] = json!(4_294_967_000u64)
            }),
            &["linux.uidMappings[0]", "4294967000"],
        ),
        c(
            Config(|c| c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1}})),
            &["linux.timeOffsets", "time namespace"],
        ),
        c(
            Config(|c| c["process"]["terminal"] = json!(true)),
            &["process.terminal", "console socket"],
        ),
        // Flags.
        c(Flags(&["create", "--bundle", "BUNDLE", "a/b"]), &["a/b"]),
        c(Flags(&["create", "--bundle", "BUNDLE", ".."]), &["\"..\""]),
        c(
            Flags(&["create", "--bundle", "/nonexistent/bundle", "ID"]),
            &["/nonexistent/bundle"],
        ),
        c(
            FlagsEdited(
                |c| c["process"]["terminal"] = json!(true),
                &[
                    "create",
                    "--bundle",
                    "BUNDLE",
                    "--console-socket",
                    "/no/such.sock",
                    "ID",
                ],
            ),
            &["/no/such.sock"],
        ),
        c(
            Flags(&[
                "create",
                "--bundle",
                "BUNDLE",
                "--preserve-fds",
                "many",
                "ID",
            ]),
            &["--preserve-fds", "many"],
        ),
        c(Flags(&["create", "--bogus-flag", "ID"]), &["--bogus-flag"]),
        c(
            Flags(&["state", "no-such-container-x"]),
            &["no-such-container-x", "does not exist"],
        ),
        c(FlagsOnContainer(&["kill", "ID", "SIGBOGUS"]), &["SIGBOGUS"]),
        c(FlagsOnContainer(&["kill", "ID", "99"]), &["99"]),
        c(
            FlagsOnContainer(&["update", "--memory", "lots", "ID"]),
            &["--memory", "lots"],
        ),
        c(
            FlagsOnContainer(&["update", "--cpuset-cpus", "0-999", "ID"]),
            &["linux.resources.cpu.cpus", "0-999"],
        ),
        c(
            FlagsOnContainer(&["exec", "--cwd", "relative", "ID", "true"]),
            &["cwd", "relative"],
        ),
        c(
            FlagsOnContainer(&["exec", "--process", "/no/such/process.json", "ID"]),
            &["/no/such/process.json"],
        ),
        c(
            FlagsOnContainer(&["create", "--bundle", "BUNDLE", "ID"]),
            &["ID", "exists"],
        ),
    ]
}

/// Runs one case; returns the error line, or why the case failed.
fn run(case: &Case) -> Result<String, String> {
    let mut env = Env::new(&["true"]);
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let subst = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| match *a {
                "ID" => id.clone(),
                "BUNDLE" => b.clone(),
                a => a.to_string(),
            })
            .collect()
    };
    let create = vec![
        "create".to_string(),
        "--bundle".into(),
        b.clone(),
        id.clone(),
    ];
    let (args, made_here) = match &case.input {
        Input::Config(f) => {
            env.edit(f);
            (create, true)
        }
        Input::Raw(text) => {
            std::fs::write(env.bundle.join("config.json"), text).expect("write");
            (create, true)
        }
        Input::Rootfs(prepare, f) => {
            let r = env.private_rootfs();
            prepare(&r);
            env.edit(f);
            (create, true)
        }
        Input::Text(f, from, to) => {
            env.edit(f);
            let p = env.bundle.join("config.json");
            let text = std::fs::read_to_string(&p).expect("config");
            std::fs::write(&p, text.replacen(from, to, 1)).expect("write");
            (create, true)
        }
        Input::Flags(a) => (subst(a), true),
        Input::FlagsEdited(f, a) => {
            env.edit(f);
            (subst(a), true)
        }
        Input::FlagsOnContainer(a) => {
            let o = env.corral(&["create", "--bundle", &b, &id]);
            if !o.status.success() {
                return Err(format!("set-up create: {}", out(&o.stderr)));
            }
            (subst(a), false)
        }
    };
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = env.corral(&argv);
    let err = out(&o.stderr);
    // exec fails with 255 before its process runs, as runc's.
    let want_code = if argv.first() == Some(&"exec") {
        255
    } else {
        1
    };
    if o.status.code() != Some(want_code) {
        return Err(format!(
            "{argv:?}: exit {:?}, stderr {err:?}",
            o.status.code()
        ));
    }
    // One error line (warnings about the config, such as the fixture's
    // ambient capabilities runc's old default lists, come on lines of
    // their own).
    let errors = err
        .trim_end()
        .lines()
        .filter(|l| !l.contains("level=warning"))
        .count();
    if errors != 1 {
        return Err(format!("{argv:?}: not one error line: {err:?}"));
    }
    let msg = integration::error_message(&err);
    for w in case.want {
        let w = if *w == "ID" { id.as_str() } else { w };
        if !msg.contains(w) {
            return Err(format!("{argv:?}: {w:?} missing in {err:?}"));
        }
    }
    if made_here {
        assert_nothing_left(&env, &id);
    }
    Ok(err.trim_end().to_string())
}

#[test]
fn sixty_and_more_bad_inputs() {
    let _ = base_bundle();
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let show = std::env::var_os("CORRAL_SHOW_ERRORS").is_some();
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                match run(case) {
                    Ok(line) if show => eprintln!("case {i}: {line}"),
                    Ok(_) => {}
                    Err(e) => failures
                        .lock()
                        .expect("failures")
                        .push(format!("case {i}: {e}")),
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("failures");
    failures.sort();
    eprintln!(
        "bad input: {} cases, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
