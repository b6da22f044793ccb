//! corral where the newer system calls are missing or refused: under the
//! container's own seccomp profile (one that denies the calls newer than
//! Linux 4.18, one that predates them with a default of EPERM), and inside
//! a container that has Docker's default seccomp profile (corral run in
//! corral). The lifecycle and exec tests run under the older-kernels tier
//! too (`CORRAL_TEST_DENY_NEWER`, scripts/test.sh); these are the cases
//! that tier cannot make by itself.

use integration::{out, Env};
use serde_json::{json, Value};

const DOCKER: &str = include_str!("../../fixtures/docker-default-seccomp.json");

/// The calls of Docker's profile newer than Linux 4.18 (x86_64 numbers
/// from 424 on, plus rseq, 4.18's own newest, left in): an allow-list
/// without them is one written before they existed.
const NEWER: &[&str] = &[
    "close_range",
    "clone3",
    "epoll_pwait2",
    "faccessat2",
    "futex_waitv",
    "io_pgetevents_time64",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "memfd_secret",
    "openat2",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "process_madvise",
    "process_mrelease",
];

/// A profile that allows everything but the calls corral falls back from,
/// which it answers with EPERM.
fn denies_newer() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["close_range", "clone3", "pidfd_open", "pidfd_send_signal",
                      "pidfd_getfd", "openat2", "faccessat2", "epoll_pwait2"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1
        }]
    })
}

/// Docker's default profile as it would have been written before Linux
/// 5.1: its allow rules without [`NEWER`], everything else EPERM (the
/// shape of the profile a standard OCI validation suite generates).
fn predates_newer() -> Value {
    let mut p: Value = serde_json::from_str(DOCKER).expect("docker profile");
    let rules = p["syscalls"].as_array_mut().expect("syscalls");
    rules.retain(|r| r["action"] == "SCMP_ACT_ALLOW");
    for r in rules.iter_mut() {
        if let Some(names) = r["names"].as_array_mut() {
            names.retain(|n| !NEWER.contains(&n.as_str().unwrap_or("")));
        }
    }
    rules.retain(|r| r["names"].as_array().is_some_and(|n| !n.is_empty()));
    p
}

/// Runs, then execs into, a container under `profile` with and without
/// no_new_privs, a startContainer hook running in it: every step corral
/// takes after loading the filter (the hook, the exec fifo, the fd sweep)
/// must work under it.
fn runs_and_execs_under(profile: Value) {
    for nnp in [true, false] {
        let mut env = Env::new(&[
            "sh",
            "-c",
            "cat /dev/shm/hooked; exec 3>/dev/shm/fd3; echo ran; exec sleep 1000",
        ]);
        env.edit(|c| {
            c["linux"]["seccomp"] = profile.clone();
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["hooks"] = json!({"startContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "echo hooked > /dev/shm/hooked"]
            }]});
        });
        let id = env.create();
        let o = env.corral(&["start", &id]);
        assert!(o.status.success(), "nnp {nnp}: start: {}", out(&o.stderr));
        let o = env.corral(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /dev/shm/hooked; ls /proc/self/fd",
        ]);
        assert!(o.status.success(), "nnp {nnp}: exec: {}", out(&o.stderr));
        let text = out(&o.stdout);
        assert!(text.starts_with("hooked\n"), "nnp {nnp}: {text}");
        // stdio and the fd ls opens to list: nothing of corral's leaked.
        let fds: Vec<&str> = text.lines().skip(1).collect();
        assert!(
            fds.len() <= 4,
            "nnp {nnp}: fds leaked into the exec: {fds:?}"
        );
        let o = env.corral(&["delete", "-f", &id]);
        assert!(o.status.success(), "nnp {nnp}: delete: {}", out(&o.stderr));
        // And a plain run to the end, its output checked.
        env.edit(|c| c["process"]["args"] = json!(["sh", "-c", "cat /dev/shm/hooked; echo ran"]));
        let got = env.run_ok();
        assert_eq!(got, "hooked\nran\n", "nnp {nnp}");
    }
}

#[test]
fn container_profile_denying_the_newer_calls() {
    runs_and_execs_under(denies_newer());
}

#[test]
fn container_profile_that_predates_the_newer_calls() {
    let p = predates_newer();
    let text = p.to_string();
    assert!(!text.contains("\"close_range\"") && text.contains("\"openat\""));
    runs_and_execs_under(p);
}
