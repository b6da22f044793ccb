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

/// With no_new_privs the filter is the last thing corral loads: a profile
/// that denies what corral does between loading it and exec'ing (chdir,
/// umask, the fd sweep, forking the startContainer hook) but that the
/// program itself does not need (a shell's builtins only) still runs, and
/// execs into. Until the load moved to just before execve this failed at
/// the first of them.
#[test]
fn with_no_new_privs_nothing_of_corrals_runs_under_the_filter() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["chdir", "fchdir", "umask", "close_range", "clone", "clone3",
                      "fork", "vfork", "pidfd_open", "pidfd_send_signal"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1
        }]
    });
    let script = "read x < /dev/shm/hooked; echo $x; echo ran";
    let mut env = Env::new(&["sh", "-c", &format!("{script}; exec sleep 1000")]);
    env.edit(|c| {
        c["linux"]["seccomp"] = profile.clone();
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["cwd"] = json!("/tmp");
        c["hooks"] = json!({"startContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", "echo hooked > /dev/shm/hooked"]
        }]});
    });
    let id = env.create();
    let o = env.corral(&["start", &id]);
    assert!(o.status.success(), "start: {}", out(&o.stderr));
    let o = env.corral(&["exec", "--cwd", "/tmp", &id, "sh", "-c", script]);
    assert!(o.status.success(), "exec: {}", out(&o.stderr));
    assert_eq!(out(&o.stdout), "hooked\nran\n");
    let o = env.corral(&["delete", "-f", &id]);
    assert!(o.status.success(), "delete: {}", out(&o.stderr));
}

/// What Docker's profile (moby 20.10, `profiles/seccomp/default.go`) adds
/// for a container that holds CAP_SYS_ADMIN.
const SYS_ADMIN_ALLOWS: &[&str] = &[
    "bpf",
    "clone",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "lookup_dcookie",
    "mount",
    "move_mount",
    "name_to_handle_at",
    "open_tree",
    "perf_event_open",
    "quotactl",
    "setdomainname",
    "sethostname",
    "setns",
    "syslog",
    "umount",
    "umount2",
    "unshare",
];

/// Docker's default profile resolved, as dockerd resolves it, for a
/// container with Docker's default capabilities plus CAP_SYS_ADMIN (what
/// nesting needs): the fixture is dockerd's rendering for the default
/// capabilities, so the rules that exclude CAP_SYS_ADMIN go (the clone
/// rule that forbids namespace flags, and clone3's ENOSYS — clone3 then
/// meets the default action, EPERM, the case glibc does not fall back
/// from) and the CAP_SYS_ADMIN rule comes in.
fn docker_profile_with_sys_admin() -> Value {
    let mut p: Value = serde_json::from_str(DOCKER).expect("docker profile");
    let rules = p["syscalls"].as_array_mut().expect("syscalls");
    let names = |r: &Value| -> Vec<String> {
        r["names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = rules.len();
    rules.retain(|r| {
        let n = names(r);
        let clone_without_ns = n == ["clone"] && r.get("args").is_some_and(|a| !a.is_null());
        let clone3_enosys = n == ["clone3"] && r["action"] == "SCMP_ACT_ERRNO";
        !(clone_without_ns || clone3_enosys)
    });
    assert_eq!(
        before - rules.len(),
        2,
        "the fixture no longer has Docker's clone and clone3 rules for default capabilities"
    );
    rules.push(json!({"names": SYS_ADMIN_ALLOWS, "action": "SCMP_ACT_ALLOW"}));
    p
}

/// A prerequisite of the nested test: in CI (`CI=true`) its absence fails
/// the test; elsewhere the test says why it skips.
fn require(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nested test: {what} (CI must have it)"
        );
        eprintln!("skipped: {what}");
    }
    ok
}

/// `corral run` inside a corral container that has Docker's default
/// seccomp profile (resolved for CAP_SYS_ADMIN, so clone3 answers EPERM —
/// the inner `corral check` must say so —
/// keyctl and pivot_root are denied): the outer container sees the host's
/// /usr and the corral binary read-only, the inner bundle's rootfs
/// read-only, and runs the inner container with `--no-pivot` and
/// `--no-new-keyring` (pivot_root and keyctl are not in Docker's profile;
/// runc nested the same way needs the same two flags).
#[test]
fn corral_runs_inside_a_container_with_dockers_profile() {
    let corral = integration::corral_bin();
    let fixture_rootfs = integration::base_bundle().join("rootfs");
    if !require(
        corral.exists(),
        "target/debug/corral missing (cargo build -p corral)",
    ) || !require(
        std::path::Path::new("/usr/lib64").is_dir() && std::path::Path::new("/usr/bin/sh").exists(),
        "a merged-/usr host (/usr/lib64, /usr/bin/sh) to lend the outer container",
    ) {
        return;
    }
    let mut env = Env::new(&["true"]);
    // The outer container's root: mount points over an empty directory,
    // /bin, /lib, /lib64 and /sbin into the host's /usr as on the host.
    let root = env.scratch.join("outer-root");
    for d in [
        "usr",
        "etc",
        "proc",
        "dev",
        "sys",
        "run",
        "tmp",
        "corral",
        "inner",
        "inner-rootfs",
    ] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    for l in ["bin", "lib", "lib64", "sbin"] {
        std::os::unix::fs::symlink(format!("usr/{l}"), root.join(l)).expect("symlink");
    }
    // The inner bundle: the fixture's config, its rootfs where the outer
    // container mounts it.
    let inner = env.scratch.join("inner");
    std::fs::create_dir_all(&inner).expect("mkdir");
    let mut inner_config = env.config.clone();
    inner_config["root"] = json!({"path": "/inner-rootfs", "readonly": true});
    inner_config["process"]["args"] = json!(["sh", "-c", "echo nested-ok"]);
    std::fs::write(
        inner.join("config.json"),
        serde_json::to_vec_pretty(&inner_config).expect("json"),
    )
    .expect("inner config");
    let bin_dir = corral.parent().expect("corral's directory").to_path_buf();
    let profile = docker_profile_with_sys_admin();
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
        "CAP_SYS_ADMIN"
    ]);
    env.edit(|c| {
        c["root"] = json!({"path": root, "readonly": true});
        c["process"]["args"] = json!([
            "/bin/sh",
            "-c",
            "/corral/corral check | grep -x '  clone3: no — clone + cgroup.procs'; \
             exec /corral/corral --root /run/corral run --no-pivot --no-new-keyring --bundle /inner inner"
        ]);
        c["process"]["env"] = json!(["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
        c["process"]["noNewPrivileges"] = json!(false);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = caps.clone();
        }
        c["process"]["capabilities"]["ambient"] = json!([]);
        c["linux"]["seccomp"] = profile.clone();
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys/fs/cgroup" {
                // The inner corral makes its cgroup under the outer one.
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
            }
        }
        let bind = |src: &std::path::Path, dst: &str| {
            json!({"destination": dst, "type": "bind", "source": src, "options": ["rbind", "ro"]})
        };
        mounts.push(bind(std::path::Path::new("/usr"), "/usr"));
        mounts.push(bind(std::path::Path::new("/etc"), "/etc"));
        mounts.push(bind(&bin_dir, "/corral"));
        mounts.push(bind(&inner, "/inner"));
        mounts.push(bind(&fixture_rootfs, "/inner-rootfs"));
        for t in ["/run", "/tmp"] {
            mounts.push(json!({"destination": t, "type": "tmpfs", "source": "tmpfs",
                               "options": ["nosuid", "nodev", "mode=755"]}));
        }
    });
    let (code, stdout, stderr) = env.run();
    assert_eq!(
        (code, stdout.as_str()),
        (0, "  clone3: no — clone + cgroup.procs\nnested-ok\n"),
        "corral in corral under Docker's profile: stderr {stderr}"
    );
}
