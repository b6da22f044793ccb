//! `corral create` and `corral exec` killed with SIGKILL at each stage
//! (the debug builds' crash points, `CORRAL_TEST_CRASH_AT`; see
//! libcontainer's `faults`): afterwards `state` tells the truth, `delete`
//! removes everything, and the leak check finds nothing.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use integration::{assert_nothing_left, leaks, out, processes_naming, Env};

const CREATE_STAGES: [&str; 5] = ["state-dir", "cgroup", "clone", "mounts", "ready"];

/// Runs `corral ARGS` with the crash point `stage` armed; asserts that it
/// died of SIGKILL.
fn crash(env: &Env, stage: &str, args: &[&str]) {
    let st = env
        .corral_cmd(args)
        .env(libcontainer::faults::CRASH_ENV, stage)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run corral");
    assert_eq!(
        st.signal(),
        Some(libc::SIGKILL),
        "corral {args:?} did not crash at {stage}: {st:?}"
    );
}

/// Waits until no live process has `needle` as an argument.
fn gone(needle: &str) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = processes_naming(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn create_killed_at_every_stage() {
    for stage in CREATE_STAGES {
        let mut env = Env::new(&["sleep", "100"]);
        // The fixture's namespaces, network included: a crash must not
        // leave any of them (or the mounts made in them) behind.
        let id = env.id();
        let b = env.bundle.to_str().expect("utf8").to_string();
        crash(&env, stage, &["create", "--bundle", &b, &id]);

        // The record tells the truth: the creation is over and the
        // container can never start. Until the dead creator's init has
        // gone too (it holds the container's lock as long as it lives, a
        // moment on a loaded machine) the creation still reads "creating".
        let t = Instant::now();
        let mut state = env.state(&id);
        while state["status"] == "creating" && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
            state = env.state(&id);
        }
        assert_eq!(state["status"], "stopped", "after a crash at {stage}");
        assert_eq!(state["pid"], 0, "after a crash at {stage}");
        let list = out(&env.corral(&["list", "--format", "json"]).stdout);
        assert!(list.contains(&id), "list after {stage}: {list}");
        let start = env.corral(&["start", &id]);
        assert_eq!(start.status.code(), Some(1), "start after {stage}");
        // The init left waiting for start (crash at "ready") is killed.
        assert!(gone(&id).is_empty(), "init left after a crash at {stage}");

        // A plain delete (no --force: the container is stopped) cleans up.
        let d = env.corral(&["delete", &id]);
        assert!(d.status.success(), "{stage}: {}", out(&d.stderr));
        assert_nothing_left(&env, &id);
        let found = leaks(&env.root, std::slice::from_ref(&id), &[]);
        assert!(found.is_empty(), "{stage}: {found:?}");
        // The id is free again.
        let again = env.corral(&["create", "--bundle", &b, &id]);
        assert!(again.status.success(), "{stage}: {}", out(&again.stderr));
        assert_eq!(env.state(&id)["status"], "created");
    }
}

/// A state dir without its first record (a create killed between the
/// mkdir and the write): state says it does not exist, `delete --force`
/// removes the directory, and the id can be used again.
#[test]
fn state_dir_without_record() {
    let mut env = Env::new(&["true"]);
    let id = env.id();
    std::fs::create_dir_all(env.root.join(&id)).expect("mkdir");
    let s = env.corral(&["state", &id]);
    assert_eq!(s.status.code(), Some(1));
    assert!(
        out(&s.stderr).contains("does not exist"),
        "{}",
        out(&s.stderr)
    );
    assert!(env.corral(&["delete", "--force", &id]).status.success());
    assert!(!env.root.join(&id).exists());
    let b = env.bundle.to_str().expect("utf8").to_string();
    assert!(env
        .corral(&["create", "--bundle", &b, &id])
        .status
        .success());
}

/// A create still in progress is `creating`, not stopped: the crash
/// logic must not take a live creator for a dead one.
#[test]
fn live_creation_is_creating() {
    let mut env = Env::new(&["true"]);
    // A createRuntime hook holds the creation open until the test has seen
    // it (a fixed sleep is not enough on a loaded machine, where the
    // creator may not reach its record before the sleep is over); it gives
    // up by itself after 60 s, so nothing waits forever.
    let release = env.scratch.join("release");
    let script = format!(
        "i=0; while [ ! -e {} ]; do i=$((i+1)); [ $i -gt 1200 ] && exit 1; sleep 0.05; done",
        release.display()
    );
    env.edit(|c| {
        c["hooks"] = serde_json::json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", script]}
        ]})
    });
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let mut creator = env
        .corral_cmd(&["create", "--bundle", &b, &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("create");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while Instant::now() < deadline {
        let o = env.corral(&["state", &id]);
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
            seen = Some(v["status"].clone());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&release, b"").expect("release the hook");
    assert_eq!(seen, Some(serde_json::json!("creating")));
    assert!(creator.wait().expect("wait").success());
    assert_eq!(env.state(&id)["status"], "created");
}

#[test]
fn exec_killed_at_every_stage() {
    let mut env = Env::new(&["sleep", "100"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    for (n, stage) in ["exec-forked", "exec-cgroup", "exec-started"]
        .into_iter()
        .enumerate()
    {
        let marker = format!("{}", 7000 + n);
        crash(&env, stage, &["exec", &id, "sleep", &marker]);
        assert_eq!(env.state(&id)["status"], "running", "after {stage}");
        let ps = out(&env.corral(&["ps", &id, "--format", "json"]).stdout);
        let pids: Vec<i32> = serde_json::from_str(&ps).expect("ps json");
        if stage == "exec-started" {
            // The process was released before corral died: it runs in the
            // container, as with a `corral exec` whose caller went away.
            assert_eq!(pids.len(), 2, "{stage}: {pids:?}");
        } else {
            // Never released: it saw its channel close and exited.
            assert!(gone(&marker).is_empty(), "exec process left after {stage}");
            assert_eq!(pids.len(), 1, "{stage}: {pids:?}");
        }
    }
    assert!(env.corral(&["delete", "--force", &id]).status.success());
    assert_nothing_left(&env, &id);
    assert!(gone("7002").is_empty(), "the released exec survived delete");
}
