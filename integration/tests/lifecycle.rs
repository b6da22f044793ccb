//! The lifecycle through the CLI: create, state, start, kill, delete, run,
//! list, spec, version, and runc's shapes for all of them.

use integration::{assert_nothing_left, have, out, Env};
use serde_json::Value;

fn status(env: &Env, id: &str) -> String {
    env.state(id)["status"]
        .as_str()
        .expect("status")
        .to_string()
}

fn wait_status(env: &Env, id: &str, want: &str) {
    for _ in 0..500 {
        let o = env.corral(&["state", id]);
        if o.status.success() && out(&o.stdout).contains(&format!("\"status\": \"{want}\"")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{id} never became {want}");
}

#[test]
fn create_start_kill_delete() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    let st = env.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().expect("pid");
    assert!(pid > 0);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(st["bundle"], env.bundle.to_str().expect("utf8"));
    assert!(st["rootfs"].as_str().expect("rootfs").ends_with("rootfs"));
    assert!(st["created"].as_str().expect("created").ends_with('Z'));
    assert_eq!(st["owner"], "", "runc's state leaves owner empty");

    let o = env.corral(&["start", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(status(&env, &id), "running");
    assert_eq!(env.state(&id)["pid"].as_i64(), Some(pid));
    // The init now runs the user's program.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "sleep");

    let o = env.corral(&["start", &id]);
    assert!(!o.status.success(), "a second start must fail");

    let o = env.corral(&["kill", &id, "KILL"]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    wait_status(&env, &id, "stopped");
    assert_eq!(env.state(&id)["pid"], 0);

    let o = env.corral(&["kill", &id, "TERM"]);
    assert!(!o.status.success());
    assert!(
        out(&o.stderr).contains("container not running"),
        "{}",
        out(&o.stderr)
    );

    let o = env.corral(&["delete", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_nothing_left(&env, &id);
    let o = env.corral(&["state", &id]);
    assert!(!o.status.success());
    assert!(
        out(&o.stderr).contains("does not exist"),
        "{}",
        out(&o.stderr)
    );
}

#[test]
fn state_has_runc_shape() {
    if !have("runc") {
        panic!("runc is not installed: apt-get install runc");
    }
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| {
        c["annotations"] = serde_json::json!({"org.example/key": "v"});
    });
    let id = env.create();
    let ours = env.state(&id);
    let runc_root = env.scratch.join("runc");
    let rid = format!("{id}-runc");
    let o = std::process::Command::new("runc")
        .arg("--root")
        .arg(&runc_root)
        .args([
            "create",
            "--bundle",
            env.bundle.to_str().expect("utf8"),
            &rid,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("runc");
    assert!(o.success(), "runc create failed");
    let ro = std::process::Command::new("runc")
        .arg("--root")
        .arg(&runc_root)
        .args(["state", &rid])
        .output()
        .expect("runc state");
    let _ = std::process::Command::new("runc")
        .arg("--root")
        .arg(&runc_root)
        .args(["delete", "-f", &rid])
        .status();
    let theirs: Value = serde_json::from_slice(&ro.stdout).expect("runc state json");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours), keys(&theirs), "ours {ours} runc {theirs}");
    assert_eq!(ours["status"], theirs["status"]);
    assert_eq!(ours["annotations"], theirs["annotations"]);
    assert_eq!(ours["owner"], theirs["owner"]);
    // Same layout: two-space indentation, one field per line.
    let text = out(&env.corral(&["state", &id]).stdout);
    assert!(text.starts_with("{\n  \"ociVersion\""), "{text}");
}

#[test]
fn run_passes_exit_status_through() {
    let mut env = Env::new(&["sh", "-c", "exit 7"]);
    assert_eq!(env.run().0, 7);
    // Killed by a signal (from outside: pid 1 of a PID namespace ignores
    // SIGKILL from inside): 128+N.
    env.edit(|c| c["process"]["args"] = serde_json::json!(["sleep", "1000"]));
    let id = env.id();
    let mut child = env
        .corral_cmd(&["run", "--bundle", env.bundle.to_str().expect("utf8"), &id])
        .spawn()
        .expect("spawn");
    wait_status(&env, &id, "running");
    assert!(env.corral(&["kill", &id, "KILL"]).status.success());
    assert_eq!(child.wait().expect("wait").code(), Some(128 + 9));
    env.edit(|c| c["process"]["args"] = serde_json::json!(["true"]));
    let (code, _, _) = env.run();
    assert_eq!(code, 0);
    // run deletes the container when it exits.
    let o = env.corral(&["list", "-q"]);
    assert_eq!(out(&o.stdout), "");
}

#[test]
fn run_forwards_signals() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "trap 'exit 42' TERM; while true; do sleep 0.1; done",
    ]);
    let id = env.id();
    let mut child = env
        .corral_cmd(&["run", "--bundle", env.bundle.to_str().expect("utf8"), &id])
        .spawn()
        .expect("spawn");
    let mut running = false;
    for _ in 0..500 {
        let o = env.corral(&["state", &id]);
        if o.status.success() && out(&o.stdout).contains("running") {
            running = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(running);
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill");
    let st = child.wait().expect("wait");
    assert_eq!(st.code(), Some(42));
}

#[test]
fn run_detach_and_kill_all() {
    let mut env = Env::new(&["sh", "-c", "sleep 1000 & sleep 1000"]);
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let pidfile = env.scratch.join("pid");
    let o = env.corral(&[
        "run",
        "-d",
        "--pid-file",
        pidfile.to_str().expect("utf8"),
        "--bundle",
        &b,
        &id,
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let pid: i64 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(env.state(&id)["pid"].as_i64(), Some(pid));
    assert_eq!(status(&env, &id), "running");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let o = env.corral(&["kill", "--all", &id, "9"]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    wait_status(&env, &id, "stopped");
    let o = env.corral(&["delete", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_nothing_left(&env, &id);
}

#[test]
fn delete_in_every_state() {
    let mut env = Env::new(&["sleep", "1000"]);
    // created: delete kills the init.
    let id = env.create();
    let pid = env.state(&id)["pid"].as_i64().expect("pid");
    let o = env.corral(&["delete", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/stat")).exists() || {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            s.contains(") Z")
        }
    );
    assert_nothing_left(&env, &id);

    // running: refused without --force, done with it.
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let o = env.corral(&["delete", &id]);
    assert!(!o.status.success());
    assert!(out(&o.stderr).contains("not stopped"), "{}", out(&o.stderr));
    assert_eq!(status(&env, &id), "running");
    let o = env.corral(&["delete", "--force", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_nothing_left(&env, &id);

    // missing: an error, but not with --force.
    let o = env.corral(&["delete", "nosuchcontainer"]);
    assert!(!o.status.success());
    assert!(out(&o.stderr).contains("does not exist"));
    assert!(env
        .corral(&["delete", "-f", "nosuchcontainer"])
        .status
        .success());
}

#[test]
fn kill_a_created_container() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    let o = env.corral(&["kill", &id, "SIGKILL"]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    wait_status(&env, &id, "stopped");
    let o = env.corral(&["start", &id]);
    assert!(
        !o.status.success(),
        "start of a stopped container must fail"
    );
    assert!(env.corral(&["delete", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn duplicate_and_invalid_ids_are_refused() {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let o = env.corral(&["create", "--bundle", &b, &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o.stderr).contains("already exists"),
        "{}",
        out(&o.stderr)
    );
    assert_eq!(
        status(&env, &id),
        "created",
        "the first container is untouched"
    );
    for bad in ["../escape", "a/b", "with space", ".."] {
        let o = env.corral(&["create", "--bundle", &b, bad]);
        assert_eq!(o.status.code(), Some(1), "{bad}");
        assert!(
            out(&o.stderr).contains("invalid container id"),
            "{}",
            out(&o.stderr)
        );
    }
}

#[test]
fn list_table_json_quiet() {
    let mut env = Env::new(&["sleep", "1000"]);
    let o = env.corral(&["list", "--format", "json"]);
    assert_eq!(
        out(&o.stdout).trim(),
        "null",
        "runc prints null for no containers"
    );
    let a = env.create();
    let b = env.create();
    assert!(env.corral(&["start", &b]).status.success());
    let o = env.corral(&["list"]);
    let text = out(&o.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ID "), "{text}");
    for h in ["PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(lines[0].contains(h));
    }
    assert_eq!(lines.len(), 3);
    assert!(text.contains(&a) && text.contains("created") && text.contains("running"));
    assert!(
        lines[1].trim_end().ends_with("root"),
        "list shows the owner: {text}"
    );
    let o = env.corral(&["list", "-f", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 2);
    assert!(arr
        .iter()
        .any(|s| s["id"] == a.as_str() && s["status"] == "created"));
    let o = env.corral(&["list", "-q"]);
    let mut ids: Vec<String> = out(&o.stdout).lines().map(String::from).collect();
    ids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn spec_writes_a_config_that_runs() {
    let env = Env::new(&["true"]);
    let dir = env.scratch.join("spec");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let o = env.corral(&["spec", "--bundle", dir.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("read"))
        .expect("json");
    assert_eq!(v["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(v["root"]["path"], "rootfs");
    let o = env.corral(&["spec", "--bundle", dir.to_str().expect("utf8")]);
    assert!(
        !o.status.success(),
        "an existing config.json is not overwritten"
    );
    let rl = env.scratch.join("rootless");
    std::fs::create_dir_all(&rl).expect("mkdir");
    assert!(env
        .corral(&["spec", "--rootless", "-b", rl.to_str().expect("utf8")])
        .status
        .success());
    let v: Value = serde_json::from_slice(&std::fs::read(rl.join("config.json")).expect("read"))
        .expect("json");
    assert!(v["linux"]["uidMappings"].is_array());
    assert!(v["linux"]["namespaces"]
        .as_array()
        .expect("ns")
        .iter()
        .any(|n| n["type"] == "user"));

    // The default config runs the fixture once terminal and args are changed.
    let mut env2 = Env::new(&["true"]);
    let mut spec: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("read"))
            .expect("json");
    spec["root"]["path"] = env2.config["root"]["path"].clone();
    spec["process"]["terminal"] = Value::Bool(false);
    spec["process"]["args"] = serde_json::json!(["sh", "-c", "hostname"]);
    env2.edit(|c| *c = spec);
    assert_eq!(env2.run_ok().trim(), "corral");
}

#[test]
fn version_and_global_flags() {
    let env = Env::new(&["true"]);
    let o = env.corral(&["--version"]);
    let text = out(&o.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("corral version "), "{text}");
    assert!(lines[1].starts_with("commit: "), "{text}");
    assert!(lines[2].starts_with("spec: 1."), "{text}");
    // --systemd-cgroup is global: commands that place no cgroup take it.
    let o = env.corral(&["--systemd-cgroup", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o.stderr));
}

/// Where systemd is not the init (this host, and the older-kernels tier,
/// where the driver cannot start its D-Bus client's thread), a
/// `--systemd-cgroup` create fails at once, naming systemd, and leaves
/// nothing: no record, no cgroup, no process.
#[test]
fn systemd_cgroup_without_systemd_fails_clearly() {
    if std::path::Path::new("/run/systemd/system").exists() {
        return; // a systemd host: the systemd tier covers it
    }
    let mut env = Env::new(&["true"]);
    let id = env.id();
    let b = env.bundle.clone();
    let t = std::time::Instant::now();
    let o = env.corral(&[
        "--systemd-cgroup",
        "run",
        "--bundle",
        b.to_str().expect("utf8"),
        &id,
    ]);
    let err = out(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("systemd"), "{err}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    assert_nothing_left(&env, &id);
    // A cgroupsPath in cgroupfs form is refused by name before anything.
    env.edit(|c| c["linux"]["cgroupsPath"] = "/corral-test/x".into());
    let id = env.id();
    let o = env.corral(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        b.to_str().expect("utf8"),
        &id,
    ]);
    let err = out(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("linux.cgroupsPath") && err.contains("slice:prefix:name"),
        "{err}"
    );
    assert_nothing_left(&env, &id);
}

#[test]
fn json_log_lines_carry_level_msg_time() {
    let env = Env::new(&["true"]);
    let log = env.scratch.join("log.json");
    let o = env.corral(&[
        "--log",
        log.to_str().expect("utf8"),
        "--log-format",
        "json",
        "state",
        "nosuch",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).expect("log");
    let line: Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("json line");
    assert_eq!(line["level"], "error");
    assert!(line["msg"]
        .as_str()
        .expect("msg")
        .contains("does not exist"));
    assert!(line["time"].as_str().expect("time").ends_with('Z'));
    assert!(
        !text.contains("\"debug\""),
        "no debug lines without --debug: {text}"
    );
    let dl = env.scratch.join("debug.json");
    let _ = env.corral(&[
        "--debug",
        "--log",
        dl.to_str().expect("utf8"),
        "--log-format",
        "json",
        "list",
    ]);
    let text = std::fs::read_to_string(&dl).expect("debug log");
    let line: Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("json line");
    assert_eq!(line["level"], "debug");
    assert!(
        line["msg"].as_str().expect("msg").contains("List"),
        "{text}"
    );
    let tl = env.scratch.join("log.txt");
    let _ = env.corral(&["--log", tl.to_str().expect("utf8"), "state", "nosuch"]);
    let text = std::fs::read_to_string(&tl).expect("log");
    assert!(
        text.contains("level=error") && text.contains("msg="),
        "{text}"
    );
}

#[test]
fn kill_of_a_container_in_the_hosts_pid_namespace_kills_all_of_it() {
    // runc: with no PID namespace of its own, SIGKILL goes to every
    // process of the container (the init's death would kill nobody else).
    let mut env = Env::new(&["sh", "-c", "sleep 1000 & echo $! > /out/bg; wait"]);
    let outdir = env.scratch.join("out");
    std::fs::create_dir_all(&outdir).expect("mkdir out");
    env.edit(|c| {
        let ns: Vec<serde_json::Value> = c["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .filter(|n| n["type"] != "pid")
            .cloned()
            .collect();
        c["linux"]["namespaces"] = serde_json::Value::Array(ns);
        c["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(serde_json::json!({
                "destination": "/out", "type": "bind", "source": outdir, "options": ["rbind", "rw"]
            }));
    });
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let bg = outdir.join("bg");
    // The shell creates the file before it writes the pid: wait for a
    // whole line.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pid: i32 = loop {
        let text = std::fs::read_to_string(&bg).unwrap_or_default();
        if let Some(Ok(p)) = text.strip_suffix('\n').map(|t| t.trim().parse()) {
            break p;
        }
        assert!(
            std::time::Instant::now() < end,
            "no pid in {bg:?}: {text:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let o = env.corral(&["kill", &id, "KILL"]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()
                    .map(|r| r.trim_start().starts_with(['S', 'R', 'D']))
            })
            .unwrap_or(false)
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(pid) && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!alive(pid), "the init's child {pid} survived kill KILL");
    let _ = env.corral(&["delete", "-f", &id]);
}
