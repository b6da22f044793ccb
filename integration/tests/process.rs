//! The container process: args, env, cwd, user and groups, umask,
//! capabilities (beside runc), rlimits, no_new_privs, oom_score_adj,
//! terminals through a console socket, preserved and leaked fds, LSM labels.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;

use integration::{assert_nothing_left, out, Env};
use serde_json::json;

fn status_field(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
        .unwrap_or_else(|| panic!("{key} missing in {text}"))
}

#[test]
fn args_env_cwd() {
    let mut env = Env::new(&["sh", "-c", "echo \"$FOO|$BAR\"; pwd; echo $0"]);
    env.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "FOO=foo value", "BAR=b=c"]);
        c["process"]["cwd"] = json!("/tmp");
    });
    assert_eq!(env.run_ok(), "foo value|b=c\n/tmp\nsh\n");
}

#[test]
fn user_groups_umask() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "grep -E '^(Uid|Gid|Groups):' /proc/self/status; umask",
    ]);
    env.edit(|c| {
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 63});
    });
    let o = env.run_ok();
    assert_eq!(
        status_field(&o, "Uid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["1000"; 4]
    );
    assert_eq!(
        status_field(&o, "Gid:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["1001"; 4]
    );
    assert_eq!(status_field(&o, "Groups:"), "10 20");
    assert!(o.trim_end().ends_with("0077"), "{o}");
}

fn caps_of(env: &mut Env) -> Vec<String> {
    let o = env.run_ok();
    ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"]
        .iter()
        .map(|k| status_field(&o, k))
        .collect()
}

#[test]
fn capabilities_as_configured_and_as_runc() {
    let mut env = Env::new(&["grep", "^Cap", "/proc/self/status"]);
    env.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"],
        });
    });
    let ours = caps_of(&mut env);
    // A non-root user keeps across exec exactly its ambient set.
    assert_eq!(
        ours,
        [
            "0000000000000020",
            "0000000000000020",
            "0000000000000020",
            "0000000000002021",
            "0000000000000020"
        ]
    );
    let o = env.runc_run();
    let theirs: Vec<String> = ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"]
        .iter()
        .map(|k| status_field(&out(&o.stdout), k))
        .collect();
    assert_eq!(ours, theirs, "corral and runc disagree");

    // Root with the fixture's default set: same as runc too.
    let mut env2 = Env::new(&["grep", "^Cap", "/proc/self/status"]);
    let ours = caps_of(&mut env2);
    assert_eq!(ours[3], "0000000020000420");
    assert_eq!(
        ours[1], ours[3],
        "root's permitted set is its bounding set after exec"
    );
}

#[test]
fn rlimits_nnp_oom_score_adj() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; ulimit -c; grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj",
    ]);
    env.edit(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        ]);
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["oomScoreAdj"] = json!(500);
    });
    let o = env.run_ok();
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "512");
    assert_eq!(lines[1], "1000");
    assert_eq!(lines[2], "0");
    assert_eq!(lines[3].split_whitespace().last(), Some("1"));
    assert_eq!(lines[4], "500");
    env.edit(|c| c["process"]["noNewPrivileges"] = json!(false));
    let o = env.run_ok();
    assert_eq!(
        o.lines().nth(3).and_then(|l| l.split_whitespace().last()),
        Some("0")
    );
}

#[test]
fn rlimit_above_hard_limit_fails_clearly() {
    // Without CAP_SYS_RESOURCE a hard limit above the current one fails for
    // every runtime; corral says which limit.
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1, "hard": u64::MAX}])
    });
    let (code, _, err) = env.run();
    if code == 0 {
        return; // this machine has CAP_SYS_RESOURCE after all
    }
    assert_eq!(code, 1);
    assert!(
        err.contains("process.rlimits[0]") && err.contains("RLIMIT_NOFILE"),
        "{err}"
    );
}

#[test]
fn only_stdio_and_preserved_fds_reach_the_process() {
    let mut env = Env::new(&["sh", "-c", "ls /proc/self/fd; echo to-fd-3 >&3"]);
    let id = env.id();
    let file = env.scratch.join("fd3");
    let f = std::fs::File::create(&file).expect("fd3 file");
    let o_path = env.scratch.join("stdout");
    let stdout = std::fs::File::create(&o_path).expect("stdout");
    let raw = f.as_raw_fd();
    let mut cmd = env.corral_cmd(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        env.bundle.to_str().expect("utf8"),
        &id,
    ]);
    cmd.stdout(stdout);
    // SAFETY: dup2 and fcntl are async-signal-safe; fd 3 is ours to set in the child.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps FD_CLOEXEC: clear it explicitly.
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    assert!(cmd.status().expect("run").success());
    let listing = std::fs::read_to_string(&o_path).expect("stdout");
    let fds: Vec<&str> = listing.lines().collect();
    // 0-2, the preserved 3, and the fd ls opened for the directory.
    assert_eq!(fds, ["0", "1", "2", "3", "4"], "{listing}");
    assert_eq!(std::fs::read_to_string(&file).expect("fd3"), "to-fd-3\n");
}

#[test]
fn terminal_through_console_socket() {
    let mut env = Env::new(&["sh", "-c", "tty; stty size; echo done"]);
    env.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    let sock = env.scratch.join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    let id = env.id();
    let o = env.corral(&[
        "create",
        "--console-socket",
        sock.to_str().expect("utf8"),
        "--bundle",
        env.bundle.to_str().expect("utf8"),
        &id,
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let (conn, _) = listener.accept().expect("accept");
    let (master, name) = libcontainer::tty::recv_fd(conn.as_raw_fd()).expect("receive pty master");
    assert_eq!(name, "/dev/ptmx");
    assert!(env.corral(&["start", &id]).status.success());
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    // Read until the slave side closes (EIO).
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if text.contains("done") {
            break;
        }
    }
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{text:?}");
    assert_eq!(lines[1], "33 101", "{text:?}");
}

#[test]
fn terminal_without_console_socket_is_an_error() {
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["process"]["terminal"] = json!(true));
    env.create_fails(&["process.terminal"]);
}

#[test]
fn lsm_labels_fail_clearly_where_the_lsm_is_absent() {
    for (field, value) in [
        ("apparmorProfile", "corral-test"),
        ("selinuxLabel", "system_u:system_r:container_t:s0"),
    ] {
        let enabled = if field == "apparmorProfile" {
            libcontainer::lsm::apparmor_enabled()
        } else {
            libcontainer::lsm::selinux_enabled()
        };
        if enabled {
            continue;
        }
        let mut env = Env::new(&["true"]);
        env.edit(|c| c["process"][field] = json!(value));
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
            err.contains(&format!("process.{field}")) && err.contains("not enabled"),
            "{err}"
        );
        assert_nothing_left(&env, &id);
    }
}

#[test]
fn run_relays_the_terminal_without_a_console_socket() {
    use std::io::Write;
    let mut env = Env::new(&["sh", "-c", "tty; read x; echo got $x; stty size"]);
    env.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 20, "width": 70});
    });
    let id = env.id();
    let mut child = env
        .corral_cmd(&["run", "--bundle", env.bundle.to_str().expect("utf8"), &id])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello\n")
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    let text = out(&o.stdout);
    assert!(o.status.success(), "{text}");
    // The pty echoes what was typed, possibly before the program runs.
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("got hello"), "{text:?}");
    assert!(text.contains("20 70"), "{text:?}");
    assert_nothing_left(&env, &id);
}

/// AppArmor confines the process to `process.apparmorProfile`, from exec
/// on. This host has AppArmor off (the error is tested above); the cgroup
/// v2 VM tier boots Debian's kernel, where it is on, and sets
/// CORRAL_EXPECT_APPARMOR=1 so this test cannot pass there by skipping.
#[test]
fn apparmor_profile_confines_the_process() {
    if !libcontainer::lsm::apparmor_enabled() {
        assert!(
            std::env::var_os("CORRAL_EXPECT_APPARMOR").is_none(),
            "AppArmor was expected on this kernel"
        );
        println!("AppArmor is not enabled here: the VM tier runs this test");
        return;
    }
    let name = format!("corral-test-{}", std::process::id());
    let mut env = Env::new(&[
        "sh",
        "-c",
        "cat /proc/self/attr/current; cat /etc/hostname >/dev/null 2>&1 || echo hostname-denied",
    ]);
    let file = env.scratch.join("profile");
    std::fs::write(
        &file,
        format!(
            "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  network,\n  unix,\n  signal,\n  mount,\n  umount,\n  pivot_root,\n  deny /etc/hostname r,\n}}\n"
        ),
    )
    .expect("profile");
    let load = std::process::Command::new("apparmor_parser")
        .args(["-r", "-K"])
        .arg(&file)
        .status()
        .expect("apparmor_parser");
    assert!(load.success(), "apparmor_parser -r");
    env.edit(|c| c["process"]["apparmorProfile"] = json!(name));
    let o = env.run_ok();
    let _ = std::process::Command::new("apparmor_parser")
        .args(["-R", "-K"])
        .arg(&file)
        .status();
    assert!(o.contains(&format!("{name} (enforce)")), "{o}");
    assert!(o.contains("hostname-denied"), "{o}");
}
