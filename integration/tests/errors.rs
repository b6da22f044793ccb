//! Bad input: one clear error line naming the JSON path and the value,
//! exit status 1, and nothing left behind (state dir, cgroup, mount,
//! process).

use integration::{assert_nothing_left, out, Env};
use serde_json::{json, Value};

/// Creates with the edited config and checks the error.
fn expect_error(edit: impl FnOnce(&mut Value), want: &[&str]) {
    let mut env = Env::new(&["true"]);
    env.edit(edit);
    check(&mut env, want);
}

fn check(env: &mut Env, want: &[&str]) {
    let id = env.id();
    let o = env.corral(&[
        "create",
        "--bundle",
        env.bundle.to_str().expect("utf8"),
        &id,
    ]);
    let err = out(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one error line: {err:?}");
    for w in want {
        assert!(err.contains(w), "{w:?} missing in {err:?}");
    }
    assert_nothing_left(env, &id);
}

#[test]
fn malformed_json() {
    let mut env = Env::new(&["true"]);
    std::fs::write(
        env.bundle.join("config.json"),
        "{\"ociVersion\": \"1.0.2\", \"process\": ",
    )
    .expect("write");
    check(&mut env, &["config.json", "EOF"]);
}

#[test]
fn wrong_types_and_unknown_values_name_the_path() {
    expect_error(
        |c| c["linux"]["namespaces"][2]["type"] = json!("bogus"),
        &["linux.namespaces[2].type", "bogus"],
    );
    expect_error(
        |c| c["process"]["user"]["uid"] = json!("root"),
        &["process.user.uid", "root"],
    );
    expect_error(
        |c| c["process"]["capabilities"]["bounding"] = json!(["CAP_NOPE"]),
        &["process.capabilities.bounding", "CAP_NOPE"],
    );
    expect_error(
        |c| c["process"]["rlimits"][0]["type"] = json!("RLIMIT_BOGUS"),
        &["process.rlimits[0].type", "RLIMIT_BOGUS"],
    );
}

#[test]
fn missing_rootfs() {
    expect_error(
        |c| c["root"]["path"] = json!("/nonexistent/rootfs"),
        &["root.path", "/nonexistent/rootfs"],
    );
}

#[test]
fn semantic_errors_name_the_field() {
    expect_error(
        |c| c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "pid"}]),
        &["hostname", "UTS namespace"],
    );
    expect_error(
        |c| c["linux"]["sysctl"] = json!({"vm.swappiness": "10"}),
        &["linux.sysctl.vm.swappiness", "vm.swappiness"],
    );
    expect_error(
        |c| {
            c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}]);
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        },
        &["linux.sysctl.net.ipv4.ip_forward", "net"],
    );
    expect_error(
        |c| c["mounts"][0]["destination"] = json!("/proc/../../etc"),
        &["mounts[0].destination", "/proc/../../etc"],
    );
    expect_error(
        |c| c["process"]["cwd"] = json!("tmp"),
        &["process.cwd", "tmp"],
    );
    expect_error(|c| c["process"]["args"] = json!([]), &["process.args"]);
    expect_error(
        |c| c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]),
        &["linux.uidMappings", "no user namespace"],
    );
    expect_error(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .expect("ns")
                .push(json!({"type": "pid"}))
        },
        &["linux.namespaces[", "twice"],
    );
    expect_error(
        |c| c["linux"]["rootfsPropagation"] = json!("sideways"),
        &["linux.rootfsPropagation", "sideways"],
    );
    expect_error(
        |c| c["hooks"] = json!({"poststart": [{"path": "relative/hook"}]}),
        &["hooks.poststart[0].path", "relative/hook"],
    );
}

#[test]
fn what_this_version_cannot_honour_is_refused() {
    let hs = libcontainer::cgroups::hierarchies().expect("hierarchies");
    if libcontainer::cgroups::mode(&hs) == libcontainer::cgroups::Mode::Unified {
        // On v2 a unified key must be a real control file.
        expect_error(
            |c| c["linux"]["resources"]["unified"] = json!({"memory.bogus": "1"}),
            &["linux.resources.unified.memory.bogus"],
        );
    } else {
        expect_error(
            |c| c["linux"]["resources"]["unified"] = json!({"memory.high": "1000000"}),
            &["linux.resources.unified", "cgroup v2"],
        );
    }
    expect_error(
        |c| c["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "64KB", "limit": 1}]),
        &["linux.resources.hugepageLimits", "64KB"],
    );
    expect_error(
        |c| c["linux"]["resources"]["memory"] = json!({"kernel": 1048576}),
        &["linux.resources.memory.kernel", "5.16"],
    );
    expect_error(
        |c| {
            c["linux"]["seccomp"] =
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PPC64LE"]})
        },
        &[
            "linux.seccomp.architectures[0]",
            "cannot run on this x86_64 host",
        ],
    );
    expect_error(
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_ISO"}),
        &["process.scheduler.policy", "SCHED_ISO"],
    );
}

#[test]
fn failures_inside_the_init_leave_nothing() {
    // A program that is not there: found at create, as runc does.
    expect_error(
        |c| c["process"]["args"] = json!(["/no/such/program"]),
        &["/no/such/program"],
    );
    expect_error(
        |c| c["process"]["args"] = json!(["nosuchprogram"]),
        &["nosuchprogram", "not found in $PATH"],
    );
    // A mount the kernel refuses.
    expect_error(
        |c| {
            c["mounts"].as_array_mut().expect("mounts").push(json!(
                {"destination": "/mnt/x", "type": "nosuchfs", "source": "none"}
            ))
        },
        &["mounts[7]", "nosuchfs"],
    );
    // A cwd that is not there.
    expect_error(
        |c| c["process"]["cwd"] = json!("/no/such/dir"),
        &["process.cwd", "/no/such/dir"],
    );
}

#[test]
fn missing_bundle() {
    let mut env = Env::new(&["true"]);
    let id = env.id();
    let o = env.corral(&["create", "--bundle", "/nonexistent/bundle", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o.stderr).contains("/nonexistent/bundle"),
        "{}",
        out(&o.stderr)
    );
    assert_nothing_left(&env, &id);
}
