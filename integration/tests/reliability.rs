//! Races and faults from outside: the host stays clean and the state tells
//! the truth.

use std::path::Path;
use std::process::{Command, Stdio};

use integration::{assert_nothing_left, corral_bin, out, processes_naming, Env};

/// The same id created by 10 processes at once: exactly one wins, the
/// others fail with a clear error, the winner is intact.
#[test]
fn same_id_created_by_ten_processes_at_once() {
    let mut env = Env::new(&["sleep", "100"]);
    let id = env.id();
    // stderr to files, not pipes: the winner's init inherits it.
    let children: Vec<_> = (0..10)
        .map(|i| {
            let err = env.scratch.join(format!("create{i}.err"));
            let child = env
                .corral_cmd(&[
                    "create",
                    "--bundle",
                    env.bundle.to_str().expect("utf8"),
                    &id,
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&err).expect("err file"))
                .spawn()
                .expect("spawn");
            (child, err)
        })
        .collect();
    let results: Vec<_> = children
        .into_iter()
        .map(|(mut c, err)| {
            let st = c.wait().expect("wait");
            (st, std::fs::read_to_string(err).unwrap_or_default())
        })
        .collect();
    let won = results.iter().filter(|(st, _)| st.success()).count();
    assert_eq!(won, 1, "exactly one create wins: {results:?}");
    for (st, e) in results.iter().filter(|(st, _)| !st.success()) {
        assert_eq!(st.code(), Some(1), "{e}");
        assert!(e.contains(&id) && e.contains("exists"), "{e}");
    }
    let st = env.state(&id);
    assert_eq!(st["status"], "created");
    assert!(env.corral(&["start", &id]).status.success());
    assert_eq!(env.state(&id)["status"], "running");
    assert!(env.corral(&["delete", "--force", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// `delete --force` while `start` runs: whichever order they take, the
/// container is gone afterwards and nothing is left.
#[test]
fn delete_force_while_starting() {
    for _ in 0..10 {
        let mut env = Env::new(&["true"]);
        let id = env.create();
        let start = env
            .corral_cmd(&["start", &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start");
        let delete = env.corral(&["delete", "--force", &id]);
        let _ = start.wait_with_output();
        if !delete.status.success() {
            // delete lost the race to a start that was still running it:
            // one more delete must succeed.
            let again = env.corral(&["delete", "--force", &id]);
            assert!(again.status.success(), "{}", out(&again.stderr));
        }
        assert_nothing_left(&env, &id);
    }
}

/// A full disk on the state root: a clear error, nothing left.
#[test]
fn full_state_root_is_a_clear_error() {
    let mut env = Env::new(&["true"]);
    let root = env.scratch.join("full-root");
    std::fs::create_dir_all(&root).expect("root");
    nix::mount::mount(
        Some("tmpfs"),
        &root,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=64k"),
    )
    .expect("tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _guard = Unmount(&root);
    // Fill it.
    let _ = std::fs::write(root.join("filler"), vec![0u8; 1 << 20]);
    let id = env.id();
    let o = Command::new(corral_bin())
        .arg("--root")
        .arg(&root)
        .args([
            "create",
            "--bundle",
            env.bundle.to_str().expect("utf8"),
            &id,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("create");
    let e = out(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("No space left on device"), "{e}");
    assert!(!root.join(&id).exists(), "a state dir was left");
    assert!(integration::cgroup_dirs_named(&id).is_empty());
    assert!(processes_naming(&id).is_empty());
}

/// A read-only state root (in a private mount namespace, never this
/// machine's /run): a clear error, nothing left.
#[test]
fn read_only_state_root_is_a_clear_error() {
    let mut env = Env::new(&["true"]);
    let root = env.scratch.join("ro-root");
    std::fs::create_dir_all(&root).expect("root");
    let id = env.id();
    let script = format!(
        "mount --bind {r} {r} && mount -o remount,bind,ro {r} && exec {corral} --root {r} create --bundle {b} {id}",
        r = root.display(),
        corral = corral_bin().display(),
        b = env.bundle.display(),
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("unshare");
    let e = out(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("Read-only file system"), "{e}");
    assert!(!root.join(&id).exists());
    assert!(integration::cgroup_dirs_named(&id).is_empty());
    assert!(processes_naming(&id).is_empty());
}

/// The container's init killed from outside: state says stopped, delete
/// cleans up.
#[test]
fn init_killed_from_outside() {
    let mut env = Env::new(&["sleep", "100"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let pid = env.state(&id)["pid"].as_i64().expect("pid") as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL)
        .expect("kill");
    for _ in 0..50 {
        if env.state(&id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(env.state(&id)["status"], "stopped");
    let o = env.corral(&["kill", &id, "TERM"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o.stderr).contains("not running"), "{}", out(&o.stderr));
    assert!(env.corral(&["delete", &id]).status.success());
    assert_nothing_left(&env, &id);
}

/// The container's cgroup removed by someone else (after its processes
/// left it): state, kill and delete still answer clearly, delete cleans up.
#[test]
fn cgroup_removed_by_someone_else() {
    let mut env = Env::new(&["true"]);
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid") as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL)
        .expect("kill");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let dirs = integration::cgroup_dirs_named(&id);
    assert!(!dirs.is_empty());
    for d in &dirs {
        std::fs::remove_dir(d).unwrap_or_else(|e| panic!("rmdir {d:?}: {e}"));
    }
    assert_eq!(env.state(&id)["status"], "stopped");
    let o = env.corral(&["delete", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_nothing_left(&env, &id);
}

/// The state dir removed under a running container: commands say the
/// container does not exist (no corrupted state is read), and the caller
/// can still clean up its process.
#[test]
fn state_dir_removed_under_a_running_container() {
    let mut env = Env::new(&["sleep", "100"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let pid = env.state(&id)["pid"].as_i64().expect("pid") as i32;
    std::fs::remove_dir_all(env.root.join(&id)).expect("rm state dir");
    for cmd in [vec!["state", id.as_str()], vec!["kill", id.as_str()]] {
        let o = env.corral(&cmd);
        let e = out(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}: {e}");
        assert!(e.contains("does not exist"), "{cmd:?}: {e}");
    }
    // As runc: delete --force of a container that does not exist succeeds.
    assert!(env.corral(&["delete", "--force", &id]).status.success());
    let list = out(&env.corral(&["list", "-q"]).stdout);
    assert!(!list.contains(&id), "{list}");
    // The process is the caller's to clean up now.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    std::thread::sleep(std::time::Duration::from_millis(300));
    for d in integration::cgroup_dirs_named(&id) {
        let _ = std::fs::remove_dir(d);
    }
}

/// `kill`, `delete`, `state`, `pause`/`resume` and `exec` run at once on
/// one container for a minute (`CORRAL_RACE_SECS` to change), while a
/// creator makes it anew whenever it is gone. Every command ends with
/// exit status 0 or a one-line error and status 1 (an exec'd process
/// killed with its container: 137); every state is well-formed JSON with a
/// known status; afterwards the container works and nothing is left.
#[test]
fn concurrent_commands_for_a_minute() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    let secs: u64 = std::env::var("CORRAL_RACE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let stop = AtomicBool::new(false);
    let ops = AtomicUsize::new(0);
    let lives = AtomicUsize::new(0);
    let bad = std::sync::Mutex::new(Vec::<String>::new());
    // Checks one command's outcome; returns its stdout when it succeeded.
    let check = |args: &[&str], ok: &[i32]| -> Option<Vec<u8>> {
        let o = env.corral(args);
        ops.fetch_add(1, Ordering::Relaxed);
        let code = o.status.code().unwrap_or(-1);
        let err = out(&o.stderr);
        // A failure is 1, or 255 for an exec whose process never ran.
        if code == 1 || (code == 255 && args.first() == Some(&"exec")) {
            if err.trim().is_empty() || err.trim_end().lines().count() != 1 {
                bad.lock()
                    .expect("bad")
                    .push(format!("{args:?}: not one error line: {err:?}"));
            }
        } else if !ok.contains(&code) {
            bad.lock()
                .expect("bad")
                .push(format!("{args:?}: exit {code}: {err}"));
        }
        (code == 0).then_some(o.stdout)
    };
    let t0 = Instant::now();
    let until = |f: &dyn Fn()| {
        while !stop.load(Ordering::Relaxed) {
            f();
        }
    };
    let (until, check, id, b, lives, bad) = (&until, &check, id.as_str(), b.as_str(), &lives, &bad);
    std::thread::scope(|s| {
        s.spawn(move || {
            until(&|| {
                if check(&["create", "--bundle", b, id], &[0]).is_some() {
                    lives.fetch_add(1, Ordering::Relaxed);
                    check(&["start", id], &[0]);
                }
            })
        });
        s.spawn(move || {
            until(&|| {
                if let Some(o) = check(&["state", id], &[0]) {
                    match serde_json::from_slice::<serde_json::Value>(&o) {
                        Ok(v)
                            if ["creating", "created", "running", "paused", "stopped"]
                                .contains(&v["status"].as_str().unwrap_or("")) => {}
                        other => bad.lock().expect("bad").push(format!("state: {other:?}")),
                    }
                }
            })
        });
        s.spawn(move || {
            until(&|| {
                check(&["pause", id], &[0]);
                check(&["resume", id], &[0]);
            })
        });
        s.spawn(move || until(&|| drop(check(&["exec", id, "true"], &[0, 137]))));
        s.spawn(move || {
            until(&|| {
                std::thread::sleep(Duration::from_millis(300));
                check(&["kill", id, "KILL"], &[0]);
            })
        });
        s.spawn(move || until(&|| drop(check(&["delete", id], &[0]))));
        while t0.elapsed() < Duration::from_secs(secs) {
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let (ops, lives) = (ops.into_inner(), lives.load(Ordering::Relaxed));
    eprintln!("concurrent commands: {secs} s, {ops} commands, {lives} containers made");
    let bad = bad.lock().expect("bad").clone();
    assert!(
        bad.is_empty(),
        "{} bad outcomes: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
    assert!(
        lives > 1,
        "the container was killed, deleted and made again"
    );
    // Nothing is corrupted: the id still works from a clean slate.
    let _ = env.corral(&["delete", "--force", id]);
    assert_nothing_left(&env, id);
    assert!(env.corral(&["create", "--bundle", b, id]).status.success());
    assert!(env.corral(&["start", id]).status.success());
    assert_eq!(env.state(id)["status"], "running");
    assert!(env.corral(&["delete", "--force", id]).status.success());
    assert_nothing_left(&env, id);
}
