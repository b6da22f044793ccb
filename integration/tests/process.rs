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

/// The `Uid:`, `Gid:` and `Groups:` lines of a `/proc/self/status`, each
/// with its fields joined by one space (`Uid: 1 1 1 1`).
fn id_lines(text: &str) -> String {
    text.lines()
        .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("|")
}

/// What [`id_lines`] shows for a process running as exactly these ids.
fn want_ids(uid: u32, gid: u32, groups: &str) -> String {
    let groups = if groups.is_empty() {
        "Groups:".to_string()
    } else {
        format!("Groups: {groups}")
    };
    format!("Uid: {uid} {uid} {uid} {uid}|Gid: {gid} {gid} {gid} {gid}|{groups}")
}

/// A detached runc container of a bundle, deleted on drop (also when the
/// test fails).
struct RuncContainer {
    root: std::path::PathBuf,
    id: String,
}

impl RuncContainer {
    fn run(env: &Env) -> RuncContainer {
        assert!(
            integration::have("runc"),
            "runc is not installed: apt-get install runc"
        );
        let c = RuncContainer {
            root: env.scratch.join("runc"),
            id: integration::unique("runc"),
        };
        let st = std::process::Command::new("runc")
            .arg("--root")
            .arg(&c.root)
            .args([
                "run",
                "-d",
                "--bundle",
                env.bundle.to_str().expect("utf8"),
                &c.id,
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("runc run");
        assert!(st.success(), "runc run -d failed");
        c
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .arg("exec")
            .args(
                args.iter()
                    .map(|a| if *a == "ID" { self.id.as_str() } else { a }),
            )
            .stdin(std::process::Stdio::null())
            .output()
            .expect("runc exec")
    }
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "-f", &self.id])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Every form of `exec --user` and `--additional-gids` gives exactly its
/// ids, with corral and runc side by side; malformed forms are refused with
/// an error naming the flag and the value, never turned into uid 0 (crun's
/// CVE-2026-30892: `exec -u 1` ran as root). runc differs on three
/// malformed forms it takes: `-u ''` (the config's user), `-u 4294967296`
/// (wraps to uid 0) and `-g 4294967296` (gid 0); corral refuses them.
#[test]
fn exec_user_forms_give_exact_ids_like_runc() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let runc = RuncContainer::run(&env);
    let probe = ["grep", "-E", "^(Uid|Gid|Groups):", "/proc/self/status"];
    // (form, additional gids, uid, gid, groups). Without a gid the process
    // keeps the config's (0), as with runc.
    let table: [(&str, &[&str], u32, u32, &str); 8] = [
        ("0", &[], 0, 0, ""),
        ("1", &[], 1, 0, ""),
        ("1:1", &[], 1, 1, ""),
        ("0:1", &[], 0, 1, ""),
        ("65534:65534", &[], 65534, 65534, ""),
        ("01", &[], 1, 0, ""),
        ("1:1", &["5", "100"], 1, 1, "5 100"),
        ("65534:65534", &["0"], 65534, 65534, "0"),
    ];
    for (form, gids, uid, gid, groups) in table {
        let mut args = vec!["-u", form];
        for g in gids {
            args.extend(["-g", g]);
        }
        let want = want_ids(uid, gid, groups);
        let mut ours_args = args.clone();
        ours_args.push(&id);
        ours_args.extend(probe);
        let o = env.corral(&[&["exec"][..], &ours_args].concat());
        assert!(
            o.status.success(),
            "corral -u {form:?} {gids:?}: {}",
            out(&o.stderr)
        );
        assert_eq!(
            id_lines(&out(&o.stdout)),
            want,
            "corral -u {form:?} {gids:?}"
        );
        let mut theirs_args = args.clone();
        theirs_args.push("ID");
        theirs_args.extend(probe);
        let o = runc.exec(&theirs_args);
        assert!(
            o.status.success(),
            "runc -u {form:?} {gids:?}: {}",
            out(&o.stderr)
        );
        assert_eq!(id_lines(&out(&o.stdout)), want, "runc -u {form:?} {gids:?}");
    }
    for form in [
        "4294967295",
        "1:4294967295",
        "",
        "abc",
        "daemon",
        "1:",
        ":1",
        "-1",
        "1:-1",
        "4294967296",
    ] {
        let o = env.corral(&["exec", "-u", form, &id, "sh", "-c", "echo ran as $(id -u)"]);
        let err = integration::error_message(&out(&o.stderr));
        assert!(
            !o.status.success(),
            "-u {form:?} accepted: {}",
            out(&o.stdout)
        );
        assert_eq!(out(&o.stdout), "", "-u {form:?} ran something");
        assert!(
            err.contains("--user") && err.contains(&format!("{form:?}")),
            "-u {form:?}: {err}"
        );
    }
    for g in ["-1", "4294967295", "4294967296", ""] {
        let o = env.corral(&["exec", "-u", "1:1", "-g", g, &id, "sh", "-c", "echo ran"]);
        let err = out(&o.stderr);
        assert!(!o.status.success(), "-g {g:?} accepted: {}", out(&o.stdout));
        assert_eq!(out(&o.stdout), "", "-g {g:?} ran something");
        assert!(
            err.contains("--additional-gids") && err.contains(&format!("'{g}'")),
            "-g {g:?}: {err}"
        );
    }
    drop(runc);
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// `process.user` in the config gives exactly its ids with corral and
/// runc; 4294967295 ((uid_t)-1, which setresuid takes as "unchanged") is
/// refused at create naming the field, as runc refuses it.
#[test]
fn config_user_gives_exact_ids_like_runc_and_no_id_is_refused() {
    for (user, want) in [
        (json!({"uid": 1, "gid": 1}), want_ids(1, 1, "")),
        (json!({"uid": 0, "gid": 1}), want_ids(0, 1, "")),
        (
            json!({"uid": 65534, "gid": 65534, "additionalGids": [5, 100]}),
            want_ids(65534, 65534, "5 100"),
        ),
        (
            json!({"uid": 4294967294_u32, "gid": 1}),
            want_ids(4294967294, 1, ""),
        ),
    ] {
        let mut env = Env::new(&["grep", "-E", "^(Uid|Gid|Groups):", "/proc/self/status"]);
        env.edit(|c| c["process"]["user"] = user.clone());
        assert_eq!(id_lines(&env.run_ok()), want, "corral {user}");
        // runc limits ids to 0..2147483647 (a Go int32), corral to what
        // the kernel holds.
        if user["uid"].as_u64() < Some(1 << 31) {
            let o = env.runc_run();
            assert!(o.status.success(), "runc {user}: {}", out(&o.stderr));
            assert_eq!(id_lines(&out(&o.stdout)), want, "runc {user}");
        }
    }
    for (user, field) in [
        (json!({"uid": 4294967295_u32, "gid": 0}), "process.user.uid"),
        (json!({"uid": 1, "gid": 4294967295_u32}), "process.user.gid"),
        (
            json!({"uid": 1, "gid": 1, "additionalGids": [5, 4294967295_u32]}),
            "process.user.additionalGids[1]",
        ),
    ] {
        let mut env = Env::new(&["true"]);
        env.edit(|c| c["process"]["user"] = user.clone());
        env.create_fails(&[field, "4294967295"]);
        let o = env.runc_run();
        assert!(!o.status.success(), "runc ran {user}");
    }
}

#[test]
fn an_unknown_capability_is_a_warning_and_the_container_runs() {
    let mut env = Env::new(&["sh", "-c", "grep CapBnd /proc/self/status"]);
    env.edit(|c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_NO_SUCH_THING"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL", "CAP_NO_SUCH_THING"]
        })
    });
    let (code, stdout, stderr) = env.run();
    assert_eq!(code, 0, "{stderr}");
    // CAP_KILL alone (bit 5).
    assert!(stdout.contains("CapBnd:\t0000000000000020"), "{stdout}");
    let warned: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("level=warning"))
        .map(|l| integration::error_message(&l.replace("level=warning", "level=error")))
        .collect();
    for set in ["bounding", "permitted"] {
        let want =
            format!("process.capabilities.{set}: unknown capability \"CAP_NO_SUCH_THING\" ignored");
        assert!(warned.contains(&want), "{want:?} not in {warned:?}");
    }
}

#[test]
fn home_comes_from_the_containers_passwd_when_the_config_has_none() {
    // runc: HOME unset or empty is the user's home in the container's
    // /etc/passwd, else "/"; one the config gives is kept.
    for (uid, env, want) in [
        (0, json!(["PATH=/bin"]), "/root"),
        (1, json!(["PATH=/bin", "HOME="]), "/usr/sbin"),
        (4242, json!(["PATH=/bin"]), "/"),
        (0, json!(["PATH=/bin", "HOME=/mine"]), "/mine"),
    ] {
        let mut e = Env::new(&["sh", "-c", "echo \"[$HOME]\"; env | grep -c ^HOME="]);
        e.edit(|c| {
            c["process"]["env"] = env.clone();
            c["process"]["user"] = json!({"uid": uid, "gid": uid});
        });
        let (code, stdout, stderr) = e.run();
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout, format!("[{want}]\n1\n"), "uid {uid}, env {env}");
    }
    // exec gets it the same way.
    let mut e = Env::new(&["sleep", "1000"]);
    e.edit(|c| c["process"]["env"] = json!(["PATH=/bin"]));
    let id = e.create();
    assert!(e.corral(&["start", &id]).status.success());
    let o = e.corral(&["exec", "-u", "1", &id, "sh", "-c", "echo $HOME"]);
    assert_eq!(out(&o.stdout), "/usr/sbin\n", "{}", out(&o.stderr));
}

/// The working directory is entered as runc enters it: first with the
/// runtime's privileges, so a directory the process's user cannot search
/// (root's 0700 here) still is its cwd (runc 1.1+'s order, for volumes
/// whose parents only root may enter); for `run` and for `exec`, and the
/// same as runc.
#[test]
fn cwd_only_root_can_search_is_entered_before_the_user_switch() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = Env::new(&["pwd"]);
    let rootfs = env.private_rootfs();
    let dir = rootfs.join("private");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    env.edit(|c| {
        c["process"]["cwd"] = json!("/private");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    assert_eq!(env.run_ok().trim(), "/private");
    if integration::have("runc") {
        let o = env.runc_run();
        assert_eq!(
            out(&o.stdout).trim(),
            "/private",
            "runc: {}",
            out(&o.stderr)
        );
    }
    env.edit(|c| c["process"]["args"] = json!(["sleep", "100"]));
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let o = env.corral(&[
        "exec",
        "--user",
        "1000:1000",
        "--cwd",
        "/private",
        &id,
        "pwd",
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(out(&o.stdout).trim(), "/private");
    // A cwd that does not exist is still an error naming the field.
    let o = env.corral(&["exec", "--cwd", "/nonexistent", &id, "pwd"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(
        integration::error_message(&out(&o.stderr)).contains("process.cwd"),
        "{}",
        out(&o.stderr)
    );
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// `exec --cap` raises the capability in the ambient set too where the
/// process has an inheritable set (runc 1.2+), so a non-root exec keeps it
/// across its execve; without one it adds to bounding, effective and
/// permitted only. An ambient capability that is not inheritable and
/// permitted is not raised, with a warning naming it (runc warns too), and
/// the container runs.
#[test]
fn exec_cap_raises_ambient_where_runc_does_and_warns_for_the_rest() {
    const KILL: u64 = 1 << 5;
    let amb = |text: &str| u64::from_str_radix(&status_field(text, "CapAmb:"), 16).expect("hex");
    for inheritable in [true, false] {
        let mut env = Env::new(&["sleep", "100"]);
        if inheritable {
            env.edit(|c| c["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]));
        }
        let id = env.create();
        assert!(env.corral(&["start", &id]).status.success());
        let o = env.corral(&[
            "exec",
            "--user",
            "1000:1000",
            "--cap",
            "CAP_KILL",
            &id,
            "cat",
            "/proc/self/status",
        ]);
        assert!(o.status.success(), "{}", out(&o.stderr));
        let text = out(&o.stdout);
        assert_eq!(
            amb(&text) & KILL != 0,
            inheritable,
            "inheritable {inheritable}: CapAmb {}",
            status_field(&text, "CapAmb:")
        );
        assert!(env.corral(&["delete", "-f", &id]).status.success());
        assert_nothing_left(&env, &id);
    }
    let mut env = Env::new(&["cat", "/proc/self/status"]);
    env.edit(|c| c["process"]["capabilities"]["ambient"] = json!(["CAP_KILL"]));
    let (code, stdout, stderr) = env.run();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(amb(&stdout), 0);
    assert!(
        stderr.contains("level=warning")
            && stderr.contains("can't raise ambient capability CAP_KILL: "),
        "{stderr}"
    );
}

/// `process.oomScoreAdj` is written by corral's parent process before the
/// init (or the exec'd process) is let go, so a process in a user
/// namespace never makes itself dumpable for it (which would open its fds
/// to every uid-0 process of the host's user namespace): the score holds
/// with and without a user namespace, for the init and for exec.
#[test]
fn oom_score_adj_with_and_without_a_user_namespace() {
    for userns in [false, true] {
        let args = ["sleep", "100"];
        let mut env = if userns {
            Env::userns(&args)
        } else {
            Env::new(&args)
        };
        env.edit(|c| c["process"]["oomScoreAdj"] = json!(123));
        let id = env.create();
        let pid = env.state(&id)["pid"].to_string();
        let score = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).expect("score");
        assert_eq!(score.trim(), "123", "userns {userns}: init");
        assert!(env.corral(&["start", &id]).status.success());
        let o = env.corral(&["exec", &id, "cat", "/proc/self/oom_score_adj"]);
        assert!(o.status.success(), "{}", out(&o.stderr));
        assert_eq!(out(&o.stdout).trim(), "123", "userns {userns}: exec");
        assert!(env.corral(&["delete", "-f", &id]).status.success());
        assert_nothing_left(&env, &id);
    }
}
