//! Network namespaces published for `ip netns`: `corral netns ID`, the
//! create annotation, removal at delete (after a kill -9 of the init too),
//! and no stale entry after a crash of corral followed by any command.

use std::path::Path;
use std::process::{Command, Stdio};

use integration::{out, Env};
use serde_json::json;

const ANNOTATION: &str = libcontainer::netns::ANNOTATION;

fn entry(id: &str) -> std::path::PathBuf {
    Path::new("/var/run/netns").join(id)
}

fn sh(cmd: &mut Command) -> String {
    let o = cmd.stdin(Stdio::null()).output().expect("run");
    assert!(o.status.success(), "{cmd:?}: {}", out(&o.stderr));
    out(&o.stdout)
}

/// A veth pair whose first end goes into the container as eth5.
struct Veth(String);

impl Veth {
    fn new() -> Veth {
        let tag = std::process::id() % 100_000;
        let (a, b) = (format!("cnh{tag}"), format!("cnp{tag}"));
        sh(Command::new("ip").args(["link", "add", &a, "type", "veth", "peer", "name", &b]));
        Veth(a)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn netns_command_publishes_for_ip_netns() {
    let veth = Veth::new();
    let mut env = Env::new(&["sleep", "100"]);
    env.edit(|c| c["linux"]["netDevices"] = json!({ veth.0.clone(): {"name": "eth5"} }));
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let o = env.corral(&["netns", &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(out(&o.stdout).trim(), entry(&id).display().to_string());
    assert!(sh(Command::new("ip").args(["netns", "list"])).contains(&id));
    // `ip netns exec ID` is in the container's network namespace: the
    // same namespace, the same interfaces (lo and eth5).
    let pid = env.state(&id)["pid"].as_i64().expect("pid");
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("ns link");
    let via_ip =
        sh(Command::new("ip").args(["netns", "exec", &id, "readlink", "/proc/self/ns/net"]));
    assert_eq!(via_ip.trim(), theirs.display().to_string());
    let links = sh(Command::new("ip").args(["netns", "exec", &id, "ip", "-o", "link"]));
    assert!(
        links.contains(": eth5") && links.contains(": lo:"),
        "{links}"
    );
    let names = |s: &str| -> Vec<String> {
        s.lines()
            .filter_map(|l| {
                l.split(": ")
                    .nth(1)
                    .map(|n| n.split('@').next().unwrap_or(n).to_string())
            })
            .collect()
    };
    let nsenter =
        sh(Command::new("nsenter").args(["-t", &pid.to_string(), "-n", "ip", "-o", "link"]));
    let via_ip = sh(Command::new("ip").args(["netns", "exec", &id, "ip", "-o", "link"]));
    assert_eq!(names(&via_ip), names(&nsenter));
    // Twice is an error naming the entry; delete removes it.
    let again = env.corral(&["netns", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        out(&again.stderr).contains("exists"),
        "{}",
        out(&again.stderr)
    );
    assert!(env.corral(&["delete", "--force", &id]).status.success());
    assert!(!entry(&id).exists(), "entry left after delete");
}

#[test]
fn annotation_publishes_and_delete_after_kill9_removes() {
    let mut env = Env::new(&["sleep", "100"]);
    env.edit(|c| c["annotations"] = json!({ ANNOTATION: "true" }));
    let id = env.create();
    assert!(entry(&id).exists(), "not published at create");
    let pid = env.state(&id)["pid"].as_i64().expect("pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    for _ in 0..100 {
        if env.state(&id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(env.corral(&["delete", &id]).status.success());
    assert!(!entry(&id).exists(), "entry left after delete");
    // A bad value is an error naming the annotation.
    env.edit(|c| c["annotations"] = json!({ ANNOTATION: "yes" }));
    env.create_fails(&[ANNOTATION, "yes"]);
}

/// corral killed after publishing (create at `ready`, delete between its
/// record and the entry): the next corral command, whatever it is, removes
/// the stale entry.
#[test]
fn no_stale_entry_after_a_crash_and_any_command() {
    let mut env = Env::new(&["sleep", "100"]);
    env.edit(|c| c["annotations"] = json!({ ANNOTATION: "true" }));
    let b = env.bundle.to_str().expect("utf8").to_string();
    for (stage, args) in [
        ("ready", vec!["create", "--bundle", b.as_str()]),
        ("delete-netns", vec!["delete", "--force"]),
    ] {
        let id = env.id();
        if stage == "delete-netns" {
            let o = env.corral(&["create", "--bundle", &b, &id]);
            assert!(o.status.success(), "{}", out(&o.stderr));
        }
        let mut argv = args.clone();
        argv.push(&id);
        let st = env
            .corral_cmd(&argv)
            .env(libcontainer::faults::CRASH_ENV, stage)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("corral");
        assert!(!st.success(), "{stage}: corral did not crash");
        assert!(
            entry(&id).exists(),
            "{stage}: the crash came after publishing"
        );
        // Any command: `list`.
        let o = env.corral(&["list"]);
        assert!(o.status.success(), "{}", out(&o.stderr));
        assert!(!entry(&id).exists(), "{stage}: stale /var/run/netns/{id}");
        let _ = env.corral(&["delete", "--force", &id]);
    }
}
