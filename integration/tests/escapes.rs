//! Escape classes that hit runc, each attacked from inside a container or
//! with a crafted bundle: corral must resist.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use integration::{assert_nothing_left, corral_bin, out, Env};
use serde_json::json;

fn sha(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).expect("read binary")
}

/// CVE-2019-5736 / CVE-2016-9962: while `corral exec` runs inside the
/// container's namespaces, container processes cannot open its
/// /proc/PID/exe (non-dumpable).
#[test]
fn exec_process_is_not_reachable_through_proc() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "end=$(( $(date +%s) + 4 )); while [ $(date +%s) -lt $end ]; do \
           for p in /proc/[0-9]*; do \
             case $(readlink $p/exe 2>/dev/null) in *corral*) echo reached $p; (: >> $p/exe) 2>/dev/null && echo WROTE;; esac; \
           done; \
         done; echo done",
    ]);
    let (id, log) = env.create_logged();
    assert!(env.corral(&["start", &id]).status.success());
    let before = sha(&corral_bin());
    for _ in 0..40 {
        let _ = env.corral(&["exec", &id, "true"]);
    }
    std::thread::sleep(std::time::Duration::from_secs(4));
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        !text.contains("reached"),
        "a container process resolved corral's /proc/PID/exe: {text}"
    );
    assert!(!text.contains("WROTE"), "{text}");
    assert_eq!(before, sha(&corral_bin()));
    let _ = env.corral(&["delete", "-f", &id]);
}

/// CVE-2024-21626: fds leaked into the runtime do not reach the container,
/// and a cwd of /proc/self/fd/N (a host directory) is refused.
#[test]
fn leaked_fds_and_proc_self_fd_cwd() {
    let host_dir = std::fs::File::open("/tmp").expect("open /tmp");
    let raw = host_dir.as_raw_fd();
    let leak = move |cmd: &mut std::process::Command| {
        // SAFETY: dup2 and fcntl are async-signal-safe; fd 7 is ours to set.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(raw, 7) < 0 || libc::fcntl(7, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    // Inside: only 0-2 (and the fd ls itself opens).
    let mut env = Env::new(&["ls", "/proc/self/fd"]);
    let id = env.id();
    let mut cmd = env.corral_cmd(&["run", "--bundle", env.bundle.to_str().expect("utf8"), &id]);
    leak(&mut cmd);
    let o = cmd.output().expect("run");
    assert_eq!(
        out(&o.stdout).lines().collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "{}",
        out(&o.stderr)
    );
    // A cwd through the leaked fd.
    let mut env = Env::new(&["pwd"]);
    env.edit(|c| c["process"]["cwd"] = json!("/proc/self/fd/7"));
    let id = env.id();
    let mut cmd = env.corral_cmd(&["run", "--bundle", env.bundle.to_str().expect("utf8"), &id]);
    leak(&mut cmd);
    let o = cmd.output().expect("run");
    assert_eq!(o.status.code(), Some(1), "stdout {}", out(&o.stdout));
    assert!(out(&o.stderr).contains("process.cwd"), "{}", out(&o.stderr));
    assert_nothing_left(&env, &id);
    // And through exec --cwd.
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let mut cmd = env.corral_cmd(&["exec", "--cwd", "/proc/self/fd/7", &id, "pwd"]);
    leak(&mut cmd);
    let o = cmd.output().expect("exec");
    assert_eq!(o.status.code(), Some(255), "stdout {}", out(&o.stdout));
    assert!(out(&o.stderr).contains("process.cwd"), "{}", out(&o.stderr));
    // The exec'd process gets only 0-2 too.
    let mut cmd = env.corral_cmd(&["exec", &id, "ls", "/proc/self/fd"]);
    leak(&mut cmd);
    let o = cmd.output().expect("exec");
    assert_eq!(
        out(&o.stdout).lines().collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "{}",
        out(&o.stderr)
    );
    let _ = env.corral(&["delete", "-f", &id]);
    drop(host_dir);
}

/// corral keeps the fd of the detached read-only mount it runs from open
/// past its re-exec (libcontainer::process::seal, to close it while a
/// child works): the init never holds it, from its clone to its exec.
#[test]
fn the_init_holds_no_fd_of_the_runtimes_own_mount() {
    use std::os::unix::fs::MetadataExt;
    let bin_dir = integration::corral_bin()
        .parent()
        .expect("dir")
        .metadata()
        .expect("stat the binary's dir");
    let mut env = Env::new(&["true"]);
    let id = env.create();
    let pid = env.state(&id)["pid"].to_string();
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds of the init")
        .flatten()
        .collect();
    assert!(!fds.is_empty());
    for fd in fds {
        let Ok(m) = std::fs::metadata(fd.path()) else {
            continue;
        };
        assert!(
            (m.dev(), m.ino()) != (bin_dir.dev(), bin_dir.ino()),
            "the init holds fd {:?} of the runtime's directory",
            fd.file_name()
        );
    }
    let _ = env.corral(&["delete", "-f", &id]);
    assert_nothing_left(&env, &id);
}

/// CVE-2022-29162: inheritable and ambient capabilities are empty unless
/// the config asks for them.
#[test]
fn inheritable_and_ambient_are_empty_unless_configured() {
    let mut env = Env::new(&["grep", "-E", "^Cap(Inh|Amb)", "/proc/self/status"]);
    let o = env.run_ok();
    assert_eq!(o, "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\n");
    env.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    let o = env.run_ok();
    assert_eq!(o, "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\n");
}

/// CVE-2016-9962: the init is non-dumpable until it execs the user's
/// program: in a user namespace its /proc files belong to the host's root,
/// not to the container's.
#[test]
fn init_is_non_dumpable_until_exec() {
    use std::os::unix::fs::MetadataExt;
    let mut env = Env::userns(&["sleep", "1000"]);
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid");
    let owner = std::fs::metadata(format!("/proc/{pid}/environ"))
        .expect("stat")
        .uid();
    assert_eq!(
        owner, 0,
        "a created init's /proc files must not belong to the container's root"
    );
    assert!(env.corral(&["start", &id]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let owner = std::fs::metadata(format!("/proc/{pid}/environ"))
        .expect("stat")
        .uid();
    assert_eq!(owner, 100_000, "after exec the process is the container's");
    let _ = env.corral(&["delete", "-f", &id]);
}

/// A read-only rootfs stays read-only, and /sys/fs/cgroup is read-only
/// inside.
#[test]
fn readonly_root_and_cgroupfs() {
    let mut env = Env::new(&["sh", "-c", "touch /x 2>&1; mkdir /sys/fs/cgroup/pids/escape 2>&1; awk '$2 == \"/\" {print $4}' /proc/self/mounts"]);
    let o = env.run_ok();
    assert!(o.contains("touch: /x: Read-only file system"), "{o}");
    assert!(
        o.contains("Read-only file system")
            && o.lines().filter(|l| l.contains("Read-only")).count() == 2,
        "{o}"
    );
    assert!(o.lines().last().is_some_and(|l| l.starts_with("ro")), "{o}");
}

/// CVE-2025-31133: a /dev/null that is a symlink (or a regular file) could
/// redirect a mask onto a host file. corral checks that what it binds over
/// a masked path is the null device and refuses otherwise; with the image's
/// own /dev it puts a real null device there first, as runc does.
#[test]
fn masks_hold_when_the_image_plays_with_dev_null() {
    let host = std::fs::read_to_string("/etc/hostname").expect("host hostname");
    // A /dev bind-mounted from a directory whose null is a symlink to a host
    // file, then a regular file: refused.
    for what in ["symlink", "regular file"] {
        let mut env = Env::new(&["sh", "-c", "cat /proc/timer_list | wc -c"]);
        let dev = env.scratch.join("dev");
        std::fs::create_dir(&dev).expect("dev");
        if what == "symlink" {
            std::os::unix::fs::symlink("/etc/hostname", dev.join("null")).expect(what);
        } else {
            std::fs::write(dev.join("null"), "x").expect(what);
        }
        env.edit(|c| {
            let m = c["mounts"].as_array_mut().expect("mounts");
            m.retain(|m| {
                m["destination"] != "/dev"
                    && !m["destination"].as_str().unwrap_or("").starts_with("/dev/")
            });
            m.push(
                json!({"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]}),
            );
        });
        let (code, o, e) = env.run();
        assert_eq!(code, 1, "{what}: {o} {e}");
        assert!(e.contains("not the null device"), "{what}: {e}");
    }
    // The image's own /dev (no /dev mount) with a symlinked null: replaced
    // by the null device, and the mask holds.
    let mut env = Env::new(&["sh", "-c", "cat /proc/timer_list | wc -c"]);
    let rootfs = env.private_rootfs();
    let null = rootfs.join("dev/null");
    let _ = std::fs::remove_file(&null);
    std::os::unix::fs::symlink("/etc/hostname", &null).expect("symlink");
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.retain(|m| m["destination"] != "/dev");
    });
    let o = env.run_ok();
    assert_eq!(o.trim(), "0", "/proc/timer_list is masked");
    assert_eq!(
        std::fs::read_to_string("/etc/hostname").expect("host hostname"),
        host,
        "the host file is untouched"
    );
}

/// CVE-2019-16884, CVE-2019-19921: a bundle whose /proc is a symlink is
/// refused, and nothing is left behind.
#[test]
fn symlinked_proc_is_refused() {
    let base = std::path::PathBuf::from("/tmp/corral-it").join(integration::unique("procsym"));
    let rootfs = base.join("rootfs");
    std::fs::create_dir_all(&base).expect("mkdir");
    let fixture = integration::base_bundle().join("rootfs");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(&rootfs)
        .status()
        .expect("cp");
    assert!(st.success());
    std::fs::remove_dir(rootfs.join("proc")).expect("rmdir proc");
    std::os::unix::fs::symlink("/tmp", rootfs.join("proc")).expect("symlink");
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["root"]["path"] = json!(rootfs));
    let id = env.id();
    let o = env.corral(&[
        "create",
        "--bundle",
        env.bundle.to_str().expect("utf8"),
        &id,
    ]);
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o.stderr).contains("is a symlink"),
        "{}",
        out(&o.stderr)
    );
    assert_nothing_left(&env, &id);
}

/// `corral spec` has runc's hardened defaults: capabilities, masked and
/// readonly paths, noNewPrivileges, the device list.
#[test]
fn spec_defaults_match_runcs_hardened_ones() {
    let env = Env::new(&["true"]);
    let ours_dir = env.scratch.join("ours");
    let runc_dir = env.scratch.join("runc");
    std::fs::create_dir_all(&ours_dir).expect("mkdir");
    std::fs::create_dir_all(&runc_dir).expect("mkdir");
    assert!(env
        .corral(&["spec", "--bundle", ours_dir.to_str().expect("utf8")])
        .status
        .success());
    let st = std::process::Command::new("runc")
        .args(["spec", "--bundle", runc_dir.to_str().expect("utf8")])
        .status()
        .expect("runc spec");
    assert!(st.success());
    let read = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("config.json")).expect("read")).expect("json")
    };
    let (ours, theirs) = (read(&ours_dir), read(&runc_dir));
    // corral writes runc 1.2's defaults (specconv.Example, checked field
    // by field in runtime-bin's spec tests): an older runc (Debian's 1.1)
    // also adds the three capabilities as ambient and masks one directory
    // fewer, so those two are compared as "the same or what 1.2 changed".
    for set in ["bounding", "effective", "permitted"] {
        let ptr = format!("/process/capabilities/{set}");
        assert_eq!(ours.pointer(&ptr), theirs.pointer(&ptr), "{ptr} differs");
    }
    assert_eq!(ours.pointer("/process/capabilities/ambient"), None);
    let masked = |v: &serde_json::Value| -> Vec<String> {
        v.pointer("/linux/maskedPaths")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(String::from))
            .collect()
    };
    let mut want = masked(&theirs);
    if !want.iter().any(|p| p == "/sys/devices/virtual/tpm") {
        want.push("/sys/devices/virtual/tpm".into());
    }
    assert_eq!(masked(&ours), want, "maskedPaths");
    for ptr in [
        "/process/noNewPrivileges",
        "/process/rlimits",
        "/linux/readonlyPaths",
        "/linux/resources/devices",
        "/root/readonly",
        "/mounts",
    ] {
        assert_eq!(
            ours.pointer(ptr),
            theirs.pointer(ptr),
            "{ptr} differs from runc's"
        );
    }
}

/// `--preserve-fds N` with fewer fds passed than N: the numbers the caller
/// left closed are /dev/null in the container, never one of corral's own
/// fds (the outside review of 2026-12-02 got the namespace fds, a
/// signalfd and the channel on exec, and the host's exec fifo on create).
#[test]
fn preserve_fds_beyond_what_was_passed_hands_over_nothing_of_corrals() {
    let check = |what: &str, o: std::process::Output| {
        assert!(o.status.success(), "{what}: {}", out(&o.stderr));
        let listing = out(&o.stdout);
        for line in listing.lines() {
            let Some((fd, target)) = line.split_once(" -> ") else {
                continue;
            };
            let fd: i32 = fd.trim().parse().unwrap_or(-1);
            if (3..6).contains(&fd) {
                assert_eq!(target.trim(), "/dev/null", "{what}: fd {fd}: {listing}");
            }
        }
    };
    let script = "for f in /proc/self/fd/*; do n=${f##*/}; echo \"$n -> $(readlink $f)\"; done";
    let mut env = Env::new(&["sh", "-c", script]);
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    check(
        "run",
        env.corral(&["run", "--preserve-fds", "3", "--bundle", &b, &id]),
    );
    assert_nothing_left(&env, &id);
    env.edit(|c| c["process"]["args"] = json!(["sleep", "100"]));
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    check(
        "exec",
        env.corral(&["exec", "--preserve-fds", "3", &id, "sh", "-c", script]),
    );
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}
