//! OCI hooks: order, the state on stdin, env and args, timeouts, and the
//! spec's rules for a failing hook.

use std::time::{Duration, Instant};

use integration::{assert_nothing_left, out, Env};
use serde_json::{json, Value};

fn hook(dir: &str, kind: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > $D/{kind}.json; echo {kind} $1 >> $D/order"), "hookname", "arg1"],
        "env": [format!("D={dir}")],
    })
}

#[test]
fn every_hook_in_order_with_state_on_stdin() {
    let mut env = Env::new(&["true"]);
    let d = env.scratch.join("hooks");
    std::fs::create_dir_all(&d).expect("mkdir");
    let host = d.to_str().expect("utf8").to_string();
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!(
            {"destination": "/hooks", "type": "bind", "source": host, "options": ["bind"]}
        ));
        c["annotations"] = json!({"a": "b"});
        c["hooks"] = json!({
            "prestart": [hook(&host, "prestart")],
            "createRuntime": [hook(&host, "createRuntime")],
            "createContainer": [hook(&host, "createContainer")],
            "startContainer": [hook("/hooks", "startContainer")],
            "poststart": [hook(&host, "poststart")],
            "poststop": [hook(&host, "poststop")],
        });
    });
    let id = env.id();
    let o = env.corral(&["run", "--bundle", env.bundle.to_str().expect("utf8"), &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let order = std::fs::read_to_string(d.join("order")).expect("order");
    assert_eq!(
        order,
        "prestart arg1\ncreateRuntime arg1\ncreateContainer arg1\nstartContainer arg1\npoststart arg1\npoststop arg1\n"
    );
    let state = |k: &str| -> Value {
        serde_json::from_slice(&std::fs::read(d.join(format!("{k}.json"))).expect("state file"))
            .expect("json")
    };
    for (kind, status) in [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let s = state(kind);
        assert_eq!(s["status"], status, "{kind}: {s}");
        assert_eq!(s["id"], id.as_str(), "{kind}");
        assert_eq!(s["bundle"], env.bundle.to_str().expect("utf8"), "{kind}");
        assert_eq!(s["annotations"]["a"], "b", "{kind}");
        assert!(s["ociVersion"].is_string());
        if kind != "poststop" {
            assert!(s["pid"].as_i64().expect("pid") > 0, "{kind}: {s}");
        }
    }
    assert_eq!(state("createRuntime")["pid"], state("poststart")["pid"]);
    assert_nothing_left(&env, &id);
}

fn failing(code: i32) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo hook-output; exit {code}")]})
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let mut env = Env::new(&["true"]);
        env.edit(|c| c["hooks"] = json!({kind: [failing(3)]}));
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
            err.contains(&format!("{kind} hook")) && err.contains("exit status: 3"),
            "{err}"
        );
        assert!(err.contains("hook-output"), "{err}");
        assert_nothing_left(&env, &id);
    }
}

#[test]
fn hook_timeout() {
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}));
    let id = env.id();
    let t = Instant::now();
    let o = env.corral(&[
        "create",
        "--bundle",
        env.bundle.to_str().expect("utf8"),
        &id,
    ]);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o.stderr).contains("timed out after 1s"),
        "{}",
        out(&o.stderr)
    );
    assert_nothing_left(&env, &id);
}

#[test]
fn failing_poststart_fails_start_and_stops_the_container() {
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| c["hooks"] = json!({"poststart": [failing(1)]}));
    let id = env.create();
    let o = env.corral(&["start", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o.stderr).contains("poststart hook"),
        "{}",
        out(&o.stderr)
    );
    for _ in 0..200 {
        if env.state(&id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(env.state(&id)["status"], "stopped");
    assert!(env.corral(&["delete", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn failing_poststop_is_a_warning_and_delete_goes_on() {
    let mut env = Env::new(&["true"]);
    let mark = env.scratch.join("second-ran");
    env.edit(|c| {
        c["hooks"] = json!({"poststop": [
            failing(4),
            {"path": "/bin/touch", "args": ["touch", mark.to_str().expect("utf8")]},
        ]})
    });
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    for _ in 0..200 {
        if env.state(&id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = env.scratch.join("log.json");
    let o = env.corral(&[
        "--log",
        log.to_str().expect("utf8"),
        "--log-format",
        "json",
        "delete",
        &id,
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let text = std::fs::read_to_string(&log).expect("log");
    let line: Value =
        serde_json::from_str(text.lines().next().expect("warning line")).expect("json");
    assert_eq!(line["level"], "warning");
    assert!(
        line["msg"].as_str().expect("msg").contains("poststop hook"),
        "{text}"
    );
    assert!(mark.exists(), "the remaining poststop hooks still run");
    assert_nothing_left(&env, &id);
}

#[test]
fn failing_start_container_hook_fails_start() {
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| c["hooks"] = json!({"startContainer": [failing(5)]}));
    let id = env.create();
    let o = env.corral(&["start", &id]);
    assert_eq!(o.status.code(), Some(1));
    let err = out(&o.stderr);
    assert!(
        err.contains("startContainer hook") && err.contains("exit status: 5"),
        "{err}"
    );
    assert_eq!(env.state(&id)["status"], "stopped");
    assert!(env.corral(&["delete", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// Runs `corral args…` with its output in files and a watchdog: a corral
/// still running after `limit` is killed and the test fails, so a hang
/// shows as a failure, never as a stuck test. Returns (exit code, stderr,
/// how long it took).
fn corral_within(env: &Env, args: &[&str], limit: Duration) -> (i32, String, Duration) {
    let err_path = env
        .scratch
        .join(format!("stderr-{}", integration::unique("w")));
    let ferr = std::fs::File::create(&err_path).expect("stderr file");
    let t = Instant::now();
    let mut child = env
        .corral_cmd(args)
        .stdout(std::process::Stdio::null())
        .stderr(ferr)
        .spawn()
        .expect("spawn corral");
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait corral") {
            break st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "corral {args:?} did not finish within {limit:?}: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    (status.code().unwrap_or(-1), err, t.elapsed())
}

/// Kills, on drop, every process whose command line is `sleep SECS` (the
/// grandchildren the hooks of a test leave), and tells whether any is left.
struct Sleepers(String);

impl Sleepers {
    /// A duration no other test uses, as the marker of this test's sleeps.
    fn new() -> Sleepers {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 100;
        Sleepers(format!(
            "{}",
            500_000 + (std::process::id() % 1000) * 100 + n
        ))
    }

    fn pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            if cmd == format!("sleep\0{}\0", self.0).as_bytes() && !stat.contains(") Z ") {
                out.push(pid);
            }
        }
        out
    }

    /// Waits up to 15 s for them to be gone; returns those still there.
    fn left(&self) -> Vec<i32> {
        let t = Instant::now();
        loop {
            let p = self.pids();
            if p.is_empty() || t.elapsed() > Duration::from_secs(15) {
                return p;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for p in self.pids() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn sh(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

#[test]
fn hooks_printing_a_mebibyte_to_stdout_and_stderr_complete() {
    // (No poststop hook: the cleanup's delete would run it, unguarded by
    // the watchdog, and hang on a corral that does not drain hooks.)
    let mut env = Env::new(&["true"]);
    let mib = sh("head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2");
    env.edit(|c| {
        c["hooks"] = json!({
            "prestart": [mib],
            "createRuntime": [mib],
            "createContainer": [mib],
            "startContainer": [mib],
            "poststart": [mib],
        })
    });
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let (code, err, _) =
        corral_within(&env, &["run", "--bundle", &b, &id], Duration::from_secs(60));
    assert_eq!(code, 0, "{err}");
    assert_nothing_left(&env, &id);
}

#[test]
fn a_failing_hook_reports_the_tail_of_its_output() {
    for kind in ["createRuntime", "createContainer"] {
        let mut env = Env::new(&["true"]);
        let script = "echo HEAD-MARK >&2; head -c 300000 /dev/zero | tr '\\0' x; \
                      head -c 300000 /dev/zero | tr '\\0' y >&2; \
                      echo OUT-TAIL-MARK; echo ERR-TAIL-MARK >&2; exit 7";
        env.edit(|c| c["hooks"] = json!({kind: [sh(script)]}));
        let id = env.id();
        let b = env.bundle.to_str().expect("utf8").to_string();
        let (code, err, _) = corral_within(
            &env,
            &["create", "--bundle", &b, &id],
            Duration::from_secs(30),
        );
        assert_eq!(code, 1, "{kind}: {err}");
        assert!(err.contains(&format!("{kind} hook")), "{kind}: {err}");
        assert!(err.contains("exit status: 7"), "{kind}: {err}");
        assert!(err.contains("OUT-TAIL-MARK"), "{kind}: {err}");
        assert!(err.contains("ERR-TAIL-MARK"), "{kind}: {err}");
        assert!(!err.contains("HEAD-MARK"), "{kind}: only the tail is kept");
        assert!(err.len() < 40 << 10, "{kind}: {} bytes of error", err.len());
        assert_nothing_left(&env, &id);
    }
}

#[test]
fn a_hook_timeout_kills_what_the_hook_forked_too() {
    // The hook never exits; its grandchild holds the pipes as well.
    let sleepers = Sleepers::new();
    let n = &sleepers.0;
    let mut env = Env::new(&["true"]);
    let mut h = sh(&format!("sleep {n} & exec sleep {n}"));
    h["timeout"] = json!(1);
    env.edit(|c| c["hooks"] = json!({"createRuntime": [h]}));
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let (code, err, took) = corral_within(
        &env,
        &["create", "--bundle", &b, &id],
        Duration::from_secs(30),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("timed out after 1s"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let left = sleepers.left();
    assert!(
        left.is_empty(),
        "the hook's processes {left:?} outlived its timeout"
    );
    assert_nothing_left(&env, &id);
}

#[test]
fn a_hook_that_exits_leaving_its_output_held_open_does_not_hang() {
    // Without a timeout: the hook's own exit decides, a second later at
    // most; what it left runs on (and is killed here).
    let sleepers = Sleepers::new();
    let n = &sleepers.0;
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["hooks"] = json!({"createRuntime": [sh(&format!("sleep {n} & echo bye; exit 1"))]})
    });
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let (code, err, took) = corral_within(
        &env,
        &["create", "--bundle", &b, &id],
        Duration::from_secs(30),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exit status: 1") && err.contains("bye"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_nothing_left(&env, &id);
    drop(sleepers);

    // With a timeout: still holding its output at the timeout is a
    // timeout, and what it left is killed.
    let sleepers = Sleepers::new();
    let n = &sleepers.0;
    let mut env = Env::new(&["true"]);
    let mut h = sh(&format!("sleep {n} & exit 0"));
    h["timeout"] = json!(1);
    env.edit(|c| c["hooks"] = json!({"createRuntime": [h]}));
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let (code, err, took) = corral_within(
        &env,
        &["create", "--bundle", &b, &id],
        Duration::from_secs(30),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("timed out after 1s"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let left = sleepers.left();
    assert!(
        left.is_empty(),
        "the hook's processes {left:?} outlived its timeout"
    );
    assert_nothing_left(&env, &id);
}

/// The fd numbers of an `ls -l /proc/self/fd` listing but the one `ls`
/// opened for the directory itself.
fn fds_of(listing: &str) -> Vec<String> {
    let mut fds = Vec::new();
    let mut dir_fds = 0;
    for l in listing.lines() {
        let Some((left, target)) = l.split_once(" -> ") else {
            continue;
        };
        let fd = left.split_whitespace().last().expect("fd").to_string();
        if target.starts_with("/proc/") && target.ends_with("/fd") && dir_fds == 0 {
            dir_fds += 1;
            continue;
        }
        fds.push(format!("{fd} -> {target}"));
    }
    fds
}

#[test]
fn hooks_get_no_fd_but_their_stdio() {
    // Fd 3 is preserved for the container's process: no hook may see it,
    // nor anything else corral or the init holds.
    let mut env = Env::new(&["true"]);
    let d = env.scratch.join("hooks");
    std::fs::create_dir_all(&d).expect("mkdir");
    let host = d.to_str().expect("utf8").to_string();
    let list = |dir: &str, kind: &str| sh(&format!("exec ls -l /proc/self/fd > {dir}/{kind}"));
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!(
            {"destination": "/hooks", "type": "bind", "source": host, "options": ["bind"]}
        ));
        c["hooks"] = json!({
            "createRuntime": [list(&host, "createRuntime")],
            "createContainer": [list(&host, "createContainer")],
            "startContainer": [list("/hooks", "startContainer")],
            "poststart": [list(&host, "poststart")],
        });
    });
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let mut cmd = env.corral_cmd(&["run", "--preserve-fds", "1", "--bundle", &b, &id]);
    let f = std::fs::File::create(env.scratch.join("fd3")).expect("fd3 file");
    let raw = std::os::fd::AsRawFd::as_raw_fd(&f);
    // SAFETY: dup2 and fcntl are async-signal-safe; fd 3 is ours to set in the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let st = cmd
        .stderr(std::process::Stdio::inherit())
        .status()
        .expect("run");
    assert!(st.success());
    for kind in [
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
    ] {
        let listing = std::fs::read_to_string(d.join(kind)).expect("listing");
        let fds = fds_of(&listing);
        let nums: Vec<&str> = fds
            .iter()
            .map(|f| f.split(' ').next().expect("fd"))
            .collect();
        assert_eq!(nums, ["0", "1", "2"], "{kind}: {fds:?}\n{listing}");
    }
    assert_nothing_left(&env, &id);
}

#[test]
fn hooks_get_no_fd_but_their_stdio_when_seccomp_denies_close_range() {
    // startContainer hooks run under the container's seccomp filter: the
    // fds must be shut without close_range (nor pidfd_open, which the
    // hook runner uses to wait when it can).
    for errno in [libc::ENOSYS, libc::EPERM] {
        let mut env = Env::new(&["sh", "-c", "ls /proc/self/fd > /hooks/process"]);
        let d = env.scratch.join("hooks");
        std::fs::create_dir_all(&d).expect("mkdir");
        let host = d.to_str().expect("utf8").to_string();
        env.edit(|c| {
            c["mounts"].as_array_mut().expect("mounts").push(json!(
                {"destination": "/hooks", "type": "bind", "source": host, "options": ["bind"]}
            ));
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["close_range", "pidfd_open"],
                              "action": "SCMP_ACT_ERRNO", "errnoRet": errno}],
            });
            c["hooks"] = json!({
                "startContainer": [sh("exec ls -l /proc/self/fd > /hooks/startContainer")],
            });
        });
        let id = env.id();
        let b = env.bundle.to_str().expect("utf8").to_string();
        // `sh` gives the run a preserved fd 3.
        let corral = integration::corral_bin();
        let root = env.root.to_str().expect("utf8").to_string();
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec \"$@\" 3</dev/null")
            .arg("sh")
            .arg(&corral)
            .args([
                "--root",
                &root,
                "run",
                "--preserve-fds",
                "1",
                "--bundle",
                &b,
                &id,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run");
        assert!(o.status.success(), "errno {errno}: {}", out(&o.stderr));
        let listing = std::fs::read_to_string(d.join("startContainer")).expect("listing");
        let fds = fds_of(&listing);
        let nums: Vec<&str> = fds
            .iter()
            .map(|f| f.split(' ').next().expect("fd"))
            .collect();
        assert_eq!(nums, ["0", "1", "2"], "errno {errno}: {fds:?}\n{listing}");
        // The process itself: stdio, the preserved 3, ls's directory.
        let listing = std::fs::read_to_string(d.join("process")).expect("listing");
        let nums: Vec<&str> = listing.lines().collect();
        assert_eq!(nums, ["0", "1", "2", "3", "4"], "errno {errno}: {listing}");
        assert_nothing_left(&env, &id);
    }
}

#[test]
fn a_start_container_hook_without_env_gets_the_processs_environment() {
    // runc 1.2: it runs in the container, beside the process, with the
    // process's environment; a hook that names its env gets only that.
    let mut env = Env::new(&["true"]);
    let d = env.scratch.join("hooks");
    std::fs::create_dir_all(&d).expect("mkdir");
    let host = d.to_str().expect("utf8").to_string();
    env.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "MARK=from-the-process"]);
        c["mounts"].as_array_mut().expect("mounts").push(json!(
            {"destination": "/hooks", "type": "bind", "source": host, "options": ["bind"]}
        ));
        c["hooks"] = json!({"startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "env > /hooks/bare"]},
            {"path": "/bin/sh", "args": ["sh", "-c", "env > /hooks/own"], "env": ["OWN=yes"]},
        ]});
    });
    let id = env.id();
    let o = env.corral(&["run", "--bundle", env.bundle.to_str().expect("utf8"), &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let bare = std::fs::read_to_string(d.join("bare")).expect("bare");
    assert!(bare.lines().any(|l| l == "MARK=from-the-process"), "{bare}");
    assert!(bare.lines().any(|l| l == "HOME=/root"), "{bare}");
    let own = std::fs::read_to_string(d.join("own")).expect("own");
    assert!(own.lines().any(|l| l == "OWN=yes"), "{own}");
    assert!(!own.contains("MARK="), "{own}");
}
