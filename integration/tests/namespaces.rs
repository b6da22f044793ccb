//! Namespaces: each one created (checked from inside and by /proc/PID/ns
//! links), joined by path, user namespaces with id maps, time offsets.

use integration::{ns_link, out, Env};
use serde_json::json;

const ALL: [&str; 8] = ["mnt", "uts", "ipc", "net", "pid", "user", "cgroup", "time"];

fn wait_running(env: &Env, id: &str) -> String {
    let o = env.corral(&["start", id]);
    assert!(o.status.success(), "start: {}", out(&o.stderr));
    env.state(id)["pid"].as_i64().expect("pid").to_string()
}

#[test]
fn all_eight_namespaces_are_new() {
    let mut env = Env::userns(&["sleep", "1000"]);
    let id = env.create();
    let pid = wait_running(&env, &id);
    std::thread::sleep(std::time::Duration::from_millis(50));
    for ns in ALL {
        assert_ne!(
            ns_link(&pid, ns),
            ns_link("self", ns),
            "{ns} namespace is the host's"
        );
    }
}

#[test]
fn inside_view_of_all_eight() {
    let mut env = Env::userns(&[
        "sh",
        "-c",
        "echo host=$(hostname) pid=$$ uptime=$(cut -d. -f1 /proc/uptime); cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g /bin/busybox; cat /proc/self/cgroup | grep -c ':/$'; ip -o link | wc -l",
    ]);
    env.edit(|c| {
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 10000000, "nanosecs": 0}});
        c["hostname"] = json!("nsbox");
    });
    let o = env.run_ok();
    let lines: Vec<&str> = o.lines().collect();
    assert!(lines[0].starts_with("host=nsbox pid=1 uptime="), "{o}");
    let uptime: u64 = lines[0]
        .rsplit('=')
        .next()
        .expect("uptime")
        .parse()
        .expect("number");
    assert!(
        uptime >= 10_000_000,
        "boottime offset not applied: {uptime}"
    );
    let maps: Vec<String> = lines[1..3]
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(maps, ["0 100000 65536", "0 100000 65536"]);
    assert_eq!(
        lines[3], "0:0",
        "files of the mapped range are root's inside"
    );
    // With its own cgroup namespace every hierarchy looks like its root.
    let n_hier: usize = std::fs::read_to_string("/proc/self/cgroup")
        .expect("cgroup")
        .lines()
        .count();
    assert_eq!(
        lines[4].trim().parse::<usize>().expect("count"),
        n_hier,
        "{o}"
    );
    // A new network namespace has only lo.
    assert_eq!(lines[5].trim(), "1", "{o}");
}

#[test]
fn without_namespaces_the_host_ones_are_kept() {
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| {
        c["linux"]["namespaces"] = json!([{"type": "mount"}]);
        c.as_object_mut().expect("obj").remove("hostname");
    });
    let id = env.create();
    let pid = wait_running(&env, &id);
    for ns in ["uts", "ipc", "net", "pid", "user", "cgroup"] {
        assert_eq!(
            ns_link(&pid, ns),
            ns_link("self", ns),
            "{ns} should be the host's"
        );
    }
    assert_ne!(ns_link(&pid, "mnt"), ns_link("self", "mnt"));
}

#[test]
fn joins_namespaces_by_path() {
    let mut a = Env::new(&["sleep", "1000"]);
    let ida = a.create();
    let pida = wait_running(&a, &ida);

    let mut b = Env::new(&["sh", "-c", "echo pid=$$ host=$(hostname); sleep 1000"]);
    let log = b.scratch.join("out");
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "mount"},
            {"type": "network", "path": format!("/proc/{pida}/ns/net")},
            {"type": "uts", "path": format!("/proc/{pida}/ns/uts")},
            {"type": "ipc", "path": format!("/proc/{pida}/ns/ipc")},
            {"type": "pid", "path": format!("/proc/{pida}/ns/pid")},
        ]);
        c.as_object_mut().expect("obj").remove("hostname");
    });
    let idb = b.id();
    let f = std::fs::File::create(&log).expect("log");
    let st = b
        .corral_cmd(&["create", "--bundle", b.bundle.to_str().expect("utf8"), &idb])
        .stdout(f)
        .status()
        .expect("create");
    assert!(st.success());
    let pidb = wait_running(&b, &idb);
    for ns in ["net", "uts", "ipc", "pid"] {
        assert_eq!(ns_link(&pidb, ns), ns_link(&pida, ns), "{ns} not joined");
    }
    assert_ne!(ns_link(&pidb, "mnt"), ns_link(&pida, "mnt"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).expect("log");
    // Joined A's PID namespace, where A's init is pid 1: B is not.
    assert!(text.starts_with("pid="), "{text}");
    assert!(!text.starts_with("pid=1 "), "{text}");
    assert!(text.contains("host=corral"), "uts joined: {text}");
}

#[test]
fn joining_a_file_that_is_not_that_namespace_fails() {
    let mut env = Env::new(&["true"]);
    env.edit(|c| {
        c["linux"]["namespaces"] =
            json!([{"type": "mount"}, {"type": "network", "path": "/proc/self/ns/uts"}]);
        c.as_object_mut().expect("obj").remove("hostname");
    });
    let (code, _, err) = env.run();
    assert_eq!(code, 1);
    assert!(err.contains("linux.namespaces[1].path"), "{err}");
}

#[test]
fn the_demo_bundle_prints_hostname_pid_and_mounts_and_its_exit_status_passes_through() {
    let fixture: serde_json::Value = serde_json::from_slice(
        &std::fs::read(integration::userns_bundle().join("config.json")).expect("fixture config"),
    )
    .expect("json");
    let mut env = Env::userns(&[]);
    env.edit(|c| c["process"]["args"] = fixture["process"]["args"].clone());
    let o = env.run_ok();
    assert!(
        o.starts_with("hostname: corral\npid: 1\nuid_map: 0 100000 65536\nmounts:\n"),
        "{o}"
    );
    let unified_host =
        libcontainer::cgroups::mode(&libcontainer::cgroups::hierarchies().expect("hierarchies"))
            == libcontainer::cgroups::Mode::Unified;
    let cgroup_root = if unified_host {
        "cgroup2 /sys/fs/cgroup cgroup2 ro,"
    } else {
        "tmpfs /sys/fs/cgroup tmpfs ro,"
    };
    for m in [
        " / ",
        "proc /proc proc",
        "tmpfs /dev tmpfs",
        "devpts /dev/pts devpts",
        "shm /dev/shm tmpfs",
        "mqueue /dev/mqueue mqueue",
        "sysfs /sys sysfs ro,",
        cgroup_root,
    ] {
        assert!(o.contains(m), "{m:?} not mounted:\n{o}");
    }
    // Every v1 hierarchy of the host is mounted inside, by its own name.
    if !unified_host {
        for h in libcontainer::cgroups::hierarchies().expect("hierarchies") {
            let name = h
                .mountpoint
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            assert!(
                o.contains(&format!(" /sys/fs/cgroup/{name} ")),
                "{name} missing:\n{o}"
            );
        }
    }
    env.edit(|c| c["process"]["args"] = json!(["sh", "-c", "exit 42"]));
    assert_eq!(env.run().0, 42);
}

#[test]
fn joins_a_user_namespace_by_path() {
    let mut a = Env::userns(&["sleep", "1000"]);
    let ida = a.create();
    let pida = wait_running(&a, &ida);
    let mut b = Env::userns(&["sh", "-c", "cat /proc/self/uid_map; id -u"]);
    b.edit(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().expect("ns");
        list.retain(|n| n["type"] != "user" && n["type"] != "network" && n["type"] != "time");
        list.push(json!({"type": "user", "path": format!("/proc/{pida}/ns/user")}));
        list.push(json!({"type": "network", "path": format!("/proc/{pida}/ns/net")}));
        let l = c["linux"].as_object_mut().expect("linux");
        l.remove("uidMappings");
        l.remove("gidMappings");
        l.remove("timeOffsets");
    });
    let o = b.run_ok();
    let lines: Vec<String> = o
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["0 100000 65536", "0"], "{o}");
}

#[test]
fn an_empty_path_is_a_new_namespace() {
    let mut env = Env::new(&["sleep", "1000"]);
    env.edit(|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "mount", "path": ""},
            {"type": "network", "path": ""},
            {"type": "uts", "path": ""},
            {"type": "pid", "path": ""},
        ])
    });
    let id = env.create();
    let pid = wait_running(&env, &id);
    for ns in ["mnt", "net", "uts", "pid"] {
        assert_ne!(ns_link(&pid, ns), ns_link("self", ns), "{ns}: not new");
    }
}

#[test]
fn a_joined_uts_namespace_gets_the_hostname() {
    // A's UTS namespace, joined by B with a hostname of its own: runc sets
    // it there (A sees it too: it is one namespace).
    let mut a = Env::new(&["sleep", "1000"]);
    let ida = a.create();
    let pida = wait_running(&a, &ida);
    let mut b = Env::new(&["hostname"]);
    b.edit(|c| {
        c["hostname"] = json!("joined-uts");
        c["linux"]["namespaces"] = json!([
            {"type": "mount"},
            {"type": "uts", "path": format!("/proc/{pida}/ns/uts")},
        ]);
    });
    let (code, stdout, stderr) = b.run();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "joined-uts");
    let o = a.corral(&["exec", &ida, "hostname"]);
    assert_eq!(out(&o.stdout).trim(), "joined-uts", "{}", out(&o.stderr));
    // The host's name is untouched.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_ne!(host.trim(), "joined-uts");
}
