//! The rest of the runc CLI: exec (with its flags, tty, detach, exit
//! status), ps, events, update, features, help.

use std::io::Write;

use integration::{assert_nothing_left, out, Env};
use serde_json::{json, Value};

fn running(env: &mut Env) -> (String, String) {
    let id = env.create();
    let o = env.corral(&["start", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let pid = env.state(&id)["pid"].as_i64().expect("pid").to_string();
    (id, pid)
}

#[test]
fn exec_joins_the_container() {
    let mut env = Env::new(&["sleep", "1000"]);
    let (id, pid) = running(&mut env);
    let o = env.corral(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo $$; hostname; readlink /proc/1/exe; cat /proc/self/cgroup | grep -c ':/$'",
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let text = out(&o.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_ne!(lines[0], "1", "a new process, not the init");
    assert!(
        lines[0].parse::<u32>().expect("pid") < 100,
        "a pid of the container's namespace: {text}"
    );
    assert_eq!(lines[1], "corral");
    assert_eq!(lines[2], "/bin/busybox", "it sees the container's root");
    let n = std::fs::read_to_string("/proc/self/cgroup")
        .expect("cgroup")
        .lines()
        .count();
    assert_eq!(
        lines[3].parse::<usize>().expect("count"),
        n,
        "in the container's cgroups (and cgroupns)"
    );
    for ns in ["mnt", "uts", "ipc", "net", "pid", "cgroup"] {
        let _ = integration::ns_link(&pid, ns);
    }
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn exec_flags_and_exit_status() {
    let mut env = Env::new(&["sleep", "1000"]);
    let (id, _) = running(&mut env);
    let o = env.corral(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    let o = env.corral(&[
        "exec",
        "--user",
        "1000:1001",
        "--additional-gids",
        "5",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--no-new-privs",
        "--cap",
        "CAP_NET_RAW",
        &id,
        "sh",
        "-c",
        "grep -E '^(Uid|Gid|Groups|NoNewPrivs|CapBnd)' /proc/self/status; echo $FOO; pwd",
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let t = out(&o.stdout);
    assert!(t.contains("Uid:\t1000\t1000\t1000\t1000"), "{t}");
    assert!(t.contains("Gid:\t1001\t1001\t1001\t1001"), "{t}");
    assert!(t.contains("Groups:\t5"), "{t}");
    assert!(t.contains("NoNewPrivs:\t1"), "{t}");
    assert!(
        t.contains("CapBnd:\t0000000020002420"),
        "CAP_NET_RAW added: {t}"
    );
    assert!(t.ends_with("bar\n/tmp\n"), "{t}");
    // A process that never ran: 255, as runc's exec.
    let o = env.corral(&["exec", &id, "nosuchprogram"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(
        out(&o.stderr).contains("not found in $PATH"),
        "{}",
        out(&o.stderr)
    );
    // --process with a process.json.
    let pj = env.scratch.join("process.json");
    std::fs::write(
        &pj,
        serde_json::to_vec(&json!({"args": ["sh", "-c", "echo from-json $X"], "cwd": "/", "env": ["X=y"], "user": {"uid": 0, "gid": 0}}))
            .expect("json"),
    )
    .expect("write");
    let o = env.corral(&["exec", "--process", pj.to_str().expect("utf8"), &id]);
    assert_eq!(out(&o.stdout), "from-json y\n", "{}", out(&o.stderr));
    std::fs::write(&pj, r#"{"args": ["true"], "cwd": 5}"#).expect("write");
    let o = env.corral(&["exec", "--process", pj.to_str().expect("utf8"), &id]);
    assert_eq!(o.status.code(), Some(255));
    assert!(out(&o.stderr).contains("cwd"), "{}", out(&o.stderr));
    assert!(env.corral(&["delete", "-f", &id]).status.success());
}

#[test]
fn exec_detach_pid_file_and_tty() {
    let mut env = Env::new(&["sleep", "1000"]);
    let (id, _) = running(&mut env);
    let pf = env.scratch.join("exec.pid");
    let o = env.corral(&[
        "exec",
        "-d",
        "--pid-file",
        pf.to_str().expect("utf8"),
        &id,
        "sleep",
        "999",
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let pid: i32 = std::fs::read_to_string(&pf)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "sleep");
    let o = env.corral(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&o.stdout).expect("json");
    assert!(pids.contains(&pid), "{pids:?}");
    assert_eq!(pids.len(), 2);
    let o = env.corral(&["ps", &id]);
    let t = out(&o.stdout);
    assert!(t.lines().next().expect("header").contains("PID"));
    assert_eq!(t.lines().count(), 3, "{t}");
    // A tty relayed to our stdio.
    let mut child = env
        .corral_cmd(&["exec", "-t", &id, "sh", "-c", "tty; read x; echo got $x"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"abc\n")
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    let t = out(&o.stdout);
    // The pty echoes what was typed, possibly before the program runs.
    assert!(t.contains("/dev/pts/") && t.contains("got abc"), "{t:?}");
    let o = env.corral(&["exec", "-d", "-t", &id, "true"]);
    assert_eq!(
        o.status.code(),
        Some(255),
        "detach with a tty needs a console socket"
    );
    assert!(env.corral(&["delete", "-f", &id]).status.success());
    assert_nothing_left(&env, &id);
}

#[test]
fn exec_into_paused_and_stopped_containers() {
    let mut env = Env::new(&["sleep", "1000"]);
    let (id, _) = running(&mut env);
    assert!(env.corral(&["pause", &id]).status.success());
    let o = env.corral(&["exec", &id, "true"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(out(&o.stderr).contains("paused"), "{}", out(&o.stderr));
    assert!(env.corral(&["resume", &id]).status.success());
    assert!(env.corral(&["kill", &id, "KILL"]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let o = env.corral(&["exec", &id, "true"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(out(&o.stderr).contains("not running"), "{}", out(&o.stderr));
}

#[test]
fn events_stats_and_update() {
    let mut env = Env::new(&["sleep", "1000"]);
    let (id, _) = running(&mut env);
    let o = env.corral(&[
        "update",
        "--memory",
        "100m",
        "--memory-swap",
        "200m",
        "--cpu-share",
        "300",
        "--pids-limit",
        "20",
        &id,
    ]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let o = env.corral(&["events", "--stats", &id]);
    let ev: Value = serde_json::from_slice(&o.stdout).expect("event json");
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 104_857_600);
    assert_eq!(ev["data"]["pids"]["limit"], 20);
    assert_eq!(ev["data"]["pids"]["current"], 1);
    assert!(ev["data"]["cpu"]["usage"]["total"].as_u64().is_some());
    let res = env.scratch.join("res.json");
    std::fs::write(&res, r#"{"pids": {"limit": 33}}"#).expect("write");
    assert!(env
        .corral(&["update", "--resources", res.to_str().expect("utf8"), &id])
        .status
        .success());
    let o = env.corral(&["events", "--stats", &id]);
    let ev: Value = serde_json::from_slice(&o.stdout).expect("event json");
    assert_eq!(ev["data"]["pids"]["limit"], 33);
    let o = env.corral(&["update", "--kernel-memory", "1m", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o.stderr).contains("kernel-memory"));
    std::fs::write(&res, r#"{"memory": {"limit": "lots"}}"#).expect("write");
    let o = env.corral(&["update", "-r", res.to_str().expect("utf8"), &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o.stderr).contains("linux.resources.memory.limit"),
        "{}",
        out(&o.stderr)
    );
    // Streaming events: stats every interval until the container stops.
    let child = env
        .corral_cmd(&["events", "--interval", "100ms", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("events");
    std::thread::sleep(std::time::Duration::from_millis(450));
    assert!(env.corral(&["kill", &id, "KILL"]).status.success());
    let o = child.wait_with_output().expect("wait");
    let lines: Vec<Value> = out(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["type"] == "stats"));
    assert!(env.corral(&["delete", &id]).status.success());
}

#[test]
fn features_document_has_the_oci_shape() {
    let env = Env::new(&["true"]);
    let o = env.corral(&["features"]);
    assert!(o.status.success());
    let doc: Value = serde_json::from_slice(&o.stdout).expect("json");
    // The oci-spec crate's Features type is the schema's Rust twin.
    let typed: oci_spec::runtime::Features =
        serde_json::from_value(doc.clone()).expect("features schema");
    assert_eq!(typed.oci_version_min(), "1.0.0");
    for k in [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
        "annotations",
    ] {
        assert!(doc.get(k).is_some(), "{k} missing");
    }
    let ns = doc["linux"]["namespaces"].as_array().expect("namespaces");
    assert_eq!(ns.len(), 8);
    assert!(doc["linux"]["capabilities"]
        .as_array()
        .expect("caps")
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
    assert_eq!(doc["linux"]["seccomp"]["enabled"], true);
    assert_eq!(
        doc["linux"]["seccomp"]["operators"]
            .as_array()
            .expect("operators")
            .len(),
        7
    );
}

#[test]
fn help_lists_runc_subcommands() {
    let env = Env::new(&["true"]);
    let o = env.corral(&["--help"]);
    let t = out(&o.stdout);
    for c in [
        "create", "start", "state", "kill", "delete", "run", "exec", "list", "ps", "pause",
        "resume", "events", "update", "features", "spec",
    ] {
        assert!(
            t.contains(&format!("  {c} ")) || t.contains(&format!("  {c}\n")),
            "{c} missing in help:\n{t}"
        );
    }
    for (sub, flag) in [
        ("exec", "--console-socket"),
        ("update", "--memory-swap"),
        ("run", "--detach"),
        ("ps", "--format"),
    ] {
        let o = env.corral(&[sub, "--help"]);
        assert!(out(&o.stdout).contains(flag), "{sub} --help lacks {flag}");
    }
}

#[test]
fn run_no_subreaper_rootless_and_criu_flags() {
    let mut env = Env::new(&["sh", "-c", "exit 9"]);
    let id = env.id();
    let o = env.corral(&[
        "run",
        "--no-subreaper",
        "--bundle",
        env.bundle.to_str().expect("utf8"),
        &id,
    ]);
    assert_eq!(o.status.code(), Some(9), "{}", out(&o.stderr));
    let o = env.corral(&["--rootless", "auto", "list"]);
    assert!(o.status.success(), "auto as root is not rootless");
    let o = env.corral(&["--rootless", "true", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o.stderr).contains("rootless"));
    let o = env.corral(&["--criu", "/usr/sbin/criu", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o.stderr).contains("checkpoint"));
}
