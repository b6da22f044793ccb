//! What this host or version cannot honour: one clear error line naming
//! the field, exit status 1, and nothing left behind. (Invalid input in
//! general: bad_input.rs.)

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
        |c| {
            c["linux"]["seccomp"] =
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_MIPS64"]})
        },
        &["linux.seccomp.architectures[0]", "SCMP_ARCH_MIPS64"],
    );
    expect_error(
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_ISO"}),
        &["process.scheduler.policy", "SCHED_ISO"],
    );
}
