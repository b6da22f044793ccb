//! The command line where tools and conformance suites read it as runc's:
//! exit statuses, the error line's shape, signal names, JSON field order,
//! `list --root`, `update --cpu-burst`. runc (Debian's) is the comparison
//! where its behaviour is the contract.

use std::time::{Duration, Instant};

use integration::{out, Env};
use serde_json::Value;

fn running(env: &mut Env) -> String {
    let id = env.create();
    let o = env.corral(&["start", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    id
}

/// logrus's text line, as runc writes a failure on stderr without --log.
fn is_logrus_error(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("time=\"") else {
        return false;
    };
    let Some((_, rest)) = rest.split_once("\" level=error msg=") else {
        return false;
    };
    !rest.is_empty()
}

fn wait_status(env: &Env, id: &str, want: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if env.state(id)["status"] == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn exec_that_cannot_start_exits_255_with_runcs_message() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = running(&mut env);
    for args in [
        vec!["exec", id.as_str(), "/no/such/program"],
        vec!["exec", "no-such-container", "true"],
    ] {
        let o = env.corral(&args);
        assert_eq!(o.status.code(), Some(255), "{args:?}: {}", out(&o.stderr));
        let err = out(&o.stderr);
        let line = err.lines().last().unwrap_or_default();
        assert!(is_logrus_error(line), "{args:?}: {err}");
        assert!(line.contains("msg=\"exec failed: "), "{args:?}: {err}");
    }
    // The process's own status is still passed through.
    let o = env.corral(&["exec", &id, "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn failures_are_logrus_lines_on_stderr_and_plain_with_a_log_file() {
    let env = Env::new(&["true"]);
    let o = env.corral(&["state", "no-such-container"]);
    assert_eq!(o.status.code(), Some(1));
    let err = out(&o.stderr);
    assert!(
        err.lines().any(is_logrus_error),
        "corral's error line is not runc's shape: {err}"
    );
    assert!(
        err.contains(r#"msg="container \"no-such-container\" does not exist""#),
        "{err}"
    );
    // runc's own line has the same shape (the contract, checked).
    let r = std::process::Command::new("runc")
        .arg("--root")
        .arg(env.scratch.join("runc-root"))
        .args(["state", "no-such-container"])
        .output()
        .expect("run runc");
    assert!(
        out(&r.stderr).lines().any(is_logrus_error),
        "runc: {}",
        out(&r.stderr)
    );
    // With --log: the line in the file, the bare message on stderr.
    let log = env.scratch.join("log");
    let o = env.corral(&["--log", log.to_str().expect("utf-8"), "state", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out(&o.stderr).trim(), r#"container "nope" does not exist"#);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.lines().any(is_logrus_error), "{text}");
    // JSON log format on stderr.
    let o = env.corral(&["--log-format", "json", "state", "nope"]);
    let v: Value = serde_json::from_str(out(&o.stderr).trim()).expect("a JSON line");
    assert_eq!(v["level"], "error");
    assert_eq!(v["msg"], r#"container "nope" does not exist"#);
}

#[test]
fn kill_takes_signal_zero_and_sys() {
    // The init is pid 1 of its namespace: only a handled signal reaches it.
    let mut env = Env::new(&[
        "sh",
        "-c",
        "trap 'exit 3' SYS; while :; do sleep 0.05; done",
    ]);
    let id = running(&mut env);
    let o = env.corral(&["kill", &id, "0"]);
    assert!(o.status.success(), "kill 0: {}", out(&o.stderr));
    assert_eq!(env.state(&id)["status"], "running", "signal 0 is no signal");
    let o = env.corral(&["kill", &id, "SYS"]);
    assert!(o.status.success(), "kill SYS: {}", out(&o.stderr));
    assert!(
        wait_status(&env, &id, "stopped"),
        "SIGSYS did not reach the trap"
    );
    let o = env.corral(&["kill", &id, "0"]);
    assert!(
        !o.status.success(),
        "kill 0 of a stopped container must fail"
    );
    for bad in ["-1", "65", "NOSUCH"] {
        let o = env.corral(&["kill", &id, bad]);
        assert_eq!(o.status.code(), Some(1), "{bad}");
    }
}

#[test]
fn list_of_a_missing_root_fails() {
    let env = Env::new(&["true"]);
    let missing = env.scratch.join("no-such-root");
    let o = integration::corral_command()
        .arg("--root")
        .arg(&missing)
        .args(["list"])
        .output()
        .expect("run corral");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o.stdout));
    assert!(
        out(&o.stderr).contains("no-such-root"),
        "{}",
        out(&o.stderr)
    );
    assert!(!missing.exists(), "list made the root");
    // An existing, empty root lists nothing.
    let o = env.corral(&["list", "-q"]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(out(&o.stdout), "");
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// `b`'s keys that are also `a`'s, in `b`'s order.
fn common_in_order(a: &[String], b: &[String]) -> Vec<String> {
    b.iter().filter(|k| a.contains(k)).cloned().collect()
}

#[test]
fn json_fields_come_in_runcs_order() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = running(&mut env);
    let want = [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ];
    let o = env.corral(&["list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("list json");
    assert_eq!(keys(&v[0]), want, "list --format json");
    let o = env.corral(&["state", &id]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("state json");
    assert_eq!(keys(&v), want, "state");
    // features: the fields runc's document has, in runc's order.
    let ours: Value = serde_json::from_slice(&env.corral(&["features"]).stdout).expect("features");
    let r = std::process::Command::new("runc")
        .arg("features")
        .output()
        .expect("run runc features");
    let runc: Value = serde_json::from_slice(&r.stdout).expect("runc features");
    for (a, b, what) in [
        (&ours, &runc, "features"),
        (&ours["linux"], &runc["linux"], "features.linux"),
        (
            &ours["linux"]["seccomp"],
            &runc["linux"]["seccomp"],
            "features.linux.seccomp",
        ),
        (
            &ours["linux"]["cgroup"],
            &runc["linux"]["cgroup"],
            "features.linux.cgroup",
        ),
    ] {
        let (ka, kb) = (keys(a), keys(b));
        assert!(!kb.is_empty(), "runc has no {what}");
        assert_eq!(
            common_in_order(&kb, &ka),
            common_in_order(&ka, &kb),
            "{what}: corral {ka:?}, runc {kb:?}"
        );
    }
}

#[test]
fn update_sets_the_cpu_burst() {
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| {
        c["linux"]["resources"]["cpu"] = serde_json::json!({"quota": 50000, "period": 100000})
    });
    let id = running(&mut env);
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    let o = env.corral(&["update", "--cpu-burst", "20000", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let d = integration::cgroup_dir(&pid, "cpu");
    let (file, want) = if integration::unified_cgroup() {
        ("cpu.max.burst", "20000")
    } else {
        ("cpu.cfs_burst_us", "20000")
    };
    let got = std::fs::read_to_string(d.join(file)).expect("burst file");
    assert_eq!(got.trim(), want);
}

#[test]
fn exec_process_file_without_user_runs_as_the_containers_user() {
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| {
        c["process"]["user"] = serde_json::json!({"uid": 1, "gid": 1, "additionalGids": [5]})
    });
    let id = running(&mut env);
    let pj = env.scratch.join("process.json");
    std::fs::write(
        &pj,
        r#"{"args": ["sh", "-c", "id -u; id -g; id -G"], "cwd": "/", "env": ["PATH=/bin"]}"#,
    )
    .expect("write");
    let o = env.corral(&["exec", "--process", pj.to_str().expect("utf-8"), &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let text = out(&o.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["1", "1"], "{text}");
    assert!(lines[2].split_whitespace().any(|g| g == "5"), "{text}");
    // A file that names a user gets that one.
    std::fs::write(
        &pj,
        r#"{"args": ["id", "-u"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#,
    )
    .expect("write");
    let o = env.corral(&["exec", "--process", pj.to_str().expect("utf-8"), &id]);
    assert_eq!(out(&o.stdout), "0\n", "{}", out(&o.stderr));
}

#[test]
fn a_relayed_terminal_keeps_newlines_as_runc_does() {
    // run -t and exec -t in the foreground relay the pty to corral's
    // stdio with ONLCR cleared: "\n" arrives as "\n", not "\r\n".
    let mut env = Env::new(&["sh", "-c", "printf 'a\\nb\\n'"]);
    env.edit(|c| c["process"]["terminal"] = serde_json::json!(true));
    let (code, stdout, stderr) = env.run();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "a\nb\n", "run -t");
    let mut env = Env::new(&["sleep", "1000"]);
    let id = running(&mut env);
    let o = env.corral(&["exec", "-t", &id, "sh", "-c", "printf 'x\\ny\\n'"]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(out(&o.stdout), "x\ny\n", "exec -t");
}

#[test]
fn the_terminal_belongs_to_the_process_user_and_the_tty_group() {
    // runc's tty.bats "tty owner": uid of the process, group tty (5).
    for (uid, gid, want) in [(0, 0, "0:5"), (1000, 100, "1000:5")] {
        let mut env = Env::new(&["sh", "-c", "stat -c %u:%g $(tty)"]);
        env.edit(|c| {
            c["process"]["terminal"] = serde_json::json!(true);
            c["process"]["user"] = serde_json::json!({"uid": uid, "gid": gid});
        });
        let (code, stdout, stderr) = env.run();
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout.trim(), want, "run -t as {uid}:{gid}");
    }
    let mut env = Env::new(&["sleep", "1000"]);
    let id = running(&mut env);
    let o = env.corral(&[
        "exec",
        "-t",
        "-u",
        "1000:100",
        &id,
        "sh",
        "-c",
        "stat -c %u:%g $(tty)",
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(out(&o.stdout).trim(), "1000:5", "exec -t");
}
