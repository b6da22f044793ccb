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
