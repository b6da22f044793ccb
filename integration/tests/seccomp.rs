//! seccomp in real containers: Docker's default profile, every action,
//! every operator, the filter flags and notify — each case run with corral
//! and with runc, whose results must agree (the table is printed).

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

use integration::{out, Env};
use serde_json::{json, Value};

const DOCKER: &str = include_str!("../../fixtures/docker-default-seccomp.json");

/// Runs `script` under `seccomp` with corral and with runc; returns
/// (corral's output, runc's output), stdout and stderr merged.
fn both(script: &str, seccomp: Value, edit: impl Fn(&mut Value)) -> (String, String) {
    let mut env = Env::new(&["sh", "-c", &format!("exec 2>&1; {script}")]);
    env.edit(|c| {
        c["linux"]["seccomp"] = seccomp.clone();
        edit(c);
    });
    let (code, ours, err) = env.run();
    assert!(code == 0 || !ours.is_empty(), "corral: {code} {err}");
    (ours, out(&env.runc_run().stdout))
}

fn table(rows: &[(&str, &str, &str)]) {
    eprintln!("{:<44} | {:<28} | runc", "case", "corral");
    for (case, ours, theirs) in rows {
        eprintln!("{case:<44} | {:<28} | {}", ours.trim(), theirs.trim());
    }
}

#[test]
fn docker_default_profile_matches_runc() {
    let profile: Value = serde_json::from_str(DOCKER).expect("docker profile");
    let script = "echo seccomp=$(grep Seccomp: /proc/self/status | cut -f2); \
                  ls / >/dev/null && echo ls=ok; \
                  unshare -U true || echo unshare=denied; \
                  mount -t tmpfs none /mnt || echo mount=denied; \
                  linux32 true && echo personality8=ok";
    // CAP_SYS_ADMIN granted: only seccomp stands between the process and
    // unshare/mount.
    let grant = |c: &mut Value| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .expect("caps")
                .push(json!("CAP_SYS_ADMIN"));
        }
        c["process"]["noNewPrivileges"] = json!(true);
    };
    let (ours, theirs) = both(script, profile, grant);
    for want in [
        "seccomp=2",
        "ls=ok",
        "unshare=denied",
        "mount=denied",
        "personality8=ok",
    ] {
        assert!(ours.contains(want), "corral: {want} missing in {ours}");
    }
    assert!(ours.contains("Operation not permitted"), "{ours}");
    // Without the profile the same container may mount: the denial above
    // is seccomp's.
    let mut env = Env::new(&["sh", "-c", "mount -t tmpfs none /mnt && echo mount=ok"]);
    env.edit(grant);
    assert!(env.run_ok().contains("mount=ok"));
    let norm = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("Operation not permitted"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    table(&[("docker default profile", &norm(&ours), &norm(&theirs))]);
    assert_eq!(norm(&ours), norm(&theirs));
}

#[test]
fn every_action_matches_runc() {
    // mkdir(2)/mkdirat(2) are what `mkdir` calls; each case gives them
    // another action.
    let cases: &[(&str, Value, &str)] = &[
        (
            "SCMP_ACT_ALLOW",
            json!({"action": "SCMP_ACT_ALLOW"}),
            "rc=0",
        ),
        (
            "SCMP_ACT_ERRNO errnoRet 122",
            json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 122}),
            "quota",
        ),
        (
            "SCMP_ACT_ERRNO (EPERM)",
            json!({"action": "SCMP_ACT_ERRNO"}),
            "not permitted",
        ),
        (
            "SCMP_ACT_KILL",
            json!({"action": "SCMP_ACT_KILL"}),
            "rc=159",
        ),
        (
            "SCMP_ACT_KILL_THREAD",
            json!({"action": "SCMP_ACT_KILL_THREAD"}),
            "rc=159",
        ),
        (
            "SCMP_ACT_KILL_PROCESS",
            json!({"action": "SCMP_ACT_KILL_PROCESS"}),
            "rc=159",
        ),
        (
            "SCMP_ACT_TRAP",
            json!({"action": "SCMP_ACT_TRAP"}),
            "rc=159",
        ),
        (
            "SCMP_ACT_TRACE (no tracer: ENOSYS)",
            json!({"action": "SCMP_ACT_TRACE"}),
            "not implemented",
        ),
        ("SCMP_ACT_LOG", json!({"action": "SCMP_ACT_LOG"}), "rc=0"),
    ];
    let mut rows = Vec::new();
    for (name, rule, want) in cases {
        let mut r = rule.clone();
        r["names"] = json!(["mkdir", "mkdirat"]);
        let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [r]});
        let (ours, theirs) = both("mkdir /dev/shm/d; echo rc=$?", profile, |_| {});
        assert!(ours.contains(want), "{name}: {ours}");
        assert_eq!(
            ours.contains(want),
            theirs.contains(want),
            "{name}: corral {ours:?} runc {theirs:?}"
        );
        rows.push((
            name.to_string(),
            want.to_string(),
            if theirs.contains(want) {
                want.to_string()
            } else {
                theirs
            },
        ));
    }
    // The default action with defaultErrnoRet: docker's profile, whose
    // default is ERRNO, does not list unshare for a container without
    // CAP_SYS_ADMIN.
    let mut profile: Value = serde_json::from_str(DOCKER).expect("docker profile");
    profile["defaultErrnoRet"] = json!(122);
    let (ours, theirs) = both("unshare -U true; echo rc=$?", profile, |_| {});
    assert!(
        ours.contains("quota") && theirs.contains("quota"),
        "corral {ours:?} runc {theirs:?}"
    );
    rows.push((
        "defaultAction ERRNO, defaultErrnoRet 122".into(),
        "quota".into(),
        "quota".into(),
    ));
    table(
        &rows
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect::<Vec<_>>(),
    );
}

#[test]
fn every_operator() {
    // linux32 calls personality(8), linux64 personality(0): each operator
    // on argument 0 decides which of them fails with EDQUOT (122).
    let one = |op: &str, v: u64, v2: Option<u64>| {
        let mut arg = json!({"index": 0, "value": v, "op": op});
        if let Some(v2) = v2 {
            arg["valueTwo"] = json!(v2);
        }
        json!([arg])
    };
    let cases: Vec<(&str, serde_json::Value, bool, bool)> = vec![
        // (case, args, linux32 denied, linux64 denied)
        ("SCMP_CMP_EQ", one("SCMP_CMP_EQ", 8, None), true, false),
        ("SCMP_CMP_NE", one("SCMP_CMP_NE", 8, None), false, true),
        ("SCMP_CMP_LT", one("SCMP_CMP_LT", 8, None), false, true),
        ("SCMP_CMP_LE", one("SCMP_CMP_LE", 8, None), true, true),
        ("SCMP_CMP_GT", one("SCMP_CMP_GT", 0, None), true, false),
        ("SCMP_CMP_GE", one("SCMP_CMP_GE", 8, None), true, false),
        (
            "SCMP_CMP_MASKED_EQ",
            one("SCMP_CMP_MASKED_EQ", 0xc, Some(8)),
            true,
            false,
        ),
        (
            "MASKED_EQ, valueTwo has bits outside the mask",
            one("SCMP_CMP_MASKED_EQ", 0xc, Some(0x18)),
            true,
            false,
        ),
        (
            "EQ 0 and EQ 8 on one argument (two rules)",
            json!([{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]),
            true,
            true,
        ),
        (
            "EQ 8 on arg 0 and an arg 1 never passed (one rule)",
            json!([{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 0xdead_0000_0000u64, "op": "SCMP_CMP_EQ"}]),
            false,
            false,
        ),
    ];
    let mut rows = Vec::new();
    for (op, args, d32, d64) in &cases {
        let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 122, "args": args}
        ]});
        let (ours, theirs) =
            both("linux32 true && echo linux32=ok || echo linux32=denied; linux64 true && echo linux64=ok || echo linux64=denied", profile, |_| {});
        let want32 = if *d32 { "linux32=denied" } else { "linux32=ok" };
        let want64 = if *d64 { "linux64=denied" } else { "linux64=ok" };
        assert!(
            ours.contains(want32) && ours.contains(want64),
            "{op}: {ours}"
        );
        assert!(
            theirs.contains(want32) && theirs.contains(want64),
            "{op} with runc: {theirs}"
        );
        rows.push((
            op.to_string(),
            format!("{want32} {want64}"),
            format!("{want32} {want64}"),
        ));
    }
    table(
        &rows
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect::<Vec<_>>(),
    );
}

#[test]
fn filter_flags_are_accepted_by_the_kernel() {
    let mut env = Env::new(&["grep", "Seccomp:", "/proc/self/status"]);
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]});
    });
    assert!(env.run_ok().contains("2"));
}

#[test]
fn notify_sends_the_listener_to_the_agent_which_answers() {
    // Without flags, and with WAIT_KILLABLE_RECV (a flag oci-spec has no
    // variant for: corral reads it itself).
    notify_case(json!([]));
    notify_case(json!(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]));
    // That flag without a notify rule is refused by name.
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]});
    });
    env.create_fails(&["linux.seccomp.flags", "WAIT_KILLABLE_RECV"]);
}

fn notify_case(flags: Value) {
    let mut env = Env::new(&["sh", "-c", "mkdir /dev/shm/notified 2>&1; echo rc=$?"]);
    let sock = env.scratch.join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock, "listenerMetadata": "corral-test", "flags": flags,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]});
    });
    // The agent: receive the state and the listener fd, answer every
    // notification with EDQUOT.
    let agent = std::thread::spawn(move || -> (Value, u32) {
        let (conn, _) = listener.accept().expect("accept");
        let (fd, msg) = libcontainer::tty::recv_fd(conn.as_raw_fd()).expect("listener fd");
        let state: Value = serde_json::from_str(&msg).expect("state json");
        #[repr(C)]
        struct Notif {
            id: u64,
            pid: u32,
            flags: u32,
            nr: i32,
            arch: u32,
            ip: u64,
            args: [u64; 6],
        }
        #[repr(C)]
        struct Resp {
            id: u64,
            val: i64,
            error: i32,
            flags: u32,
        }
        const RECV: libc::c_ulong = 0xc050_2100;
        const SEND: libc::c_ulong = 0xc018_2101;
        // SAFETY: Notif is plain data; zeroed is what the kernel wants.
        let mut n: Notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills a struct seccomp_notif, which Notif mirrors.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), RECV, &mut n) };
        assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        let resp = Resp {
            id: n.id,
            val: 0,
            error: -122,
            flags: 0,
        };
        // SAFETY: SEND reads a struct seccomp_notif_resp, which Resp mirrors.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), SEND, &resp) };
        assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
        (state, n.nr as u32)
    });
    let text = env.run_ok();
    let (state, nr) = agent.join().expect("agent");
    assert!(
        text.contains("quota"),
        "the agent's answer reached the process: {text}"
    );
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "corral-test");
    assert!(state["pid"].as_i64().expect("pid") > 0);
    assert!(state["state"]["id"].is_string(), "{state}");
    // aarch64 and riscv64 have mkdirat only.
    #[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
    let mkdir = [libc::SYS_mkdir as u32, libc::SYS_mkdirat as u32];
    #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
    let mkdir = [libc::SYS_mkdirat as u32];
    assert!(mkdir.contains(&nr), "{nr}");
}
