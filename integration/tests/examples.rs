//! libcontainer's examples (libcontainer/examples/), run against the
//! fixture bundle: each does what its doc says and leaves nothing.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use integration::{out, Env};

fn example(name: &str) -> PathBuf {
    let bin = integration::corral_bin()
        .parent()
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        bin.exists(),
        "{bin:?}: cargo build --workspace --all-targets"
    );
    bin
}

/// Runs example `name` with `args`; output through files (a container
/// inherits stdio).
fn run(env: &Env, name: &str, args: &[&str]) -> Output {
    let (o, e) = (env.scratch.join("ex.out"), env.scratch.join("ex.err"));
    let status = Command::new(example(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).expect("out"))
        .stderr(std::fs::File::create(&e).expect("err"))
        .status()
        .expect("run example");
    Output {
        status,
        stdout: std::fs::read(o).unwrap_or_default(),
        stderr: std::fs::read(e).unwrap_or_default(),
    }
}

fn nothing_left(env: &Env) {
    let left: Vec<_> = std::fs::read_dir(&env.root)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state left: {left:?}");
    assert!(integration::processes_naming(&env.root.display().to_string()).is_empty());
}

#[test]
fn run_example_waits_and_passes_the_exit_status() {
    let env = Env::new(&["sh", "-c", "echo hello from the container; exit 3"]);
    let root = env.root.to_str().expect("utf8");
    let o = run(&env, "run", &[env.bundle.to_str().expect("utf8"), root]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o.stderr));
    let text = out(&o.stdout);
    assert!(
        text.contains("hello from the container") && text.contains("status 3"),
        "{text}"
    );
    nothing_left(&env);
}

#[test]
fn exec_example_runs_a_process_in_the_container() {
    let env = Env::new(&["sleep", "100"]);
    let root = env.root.to_str().expect("utf8");
    let o = run(
        &env,
        "exec",
        &[
            env.bundle.to_str().expect("utf8"),
            root,
            "sh",
            "-c",
            "echo exec ok in $(hostname); exit 4",
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", out(&o.stderr));
    let text = out(&o.stdout);
    let hostname = env.config["hostname"].as_str().unwrap_or("");
    assert!(text.contains(&format!("exec ok in {hostname}")), "{text}");
    nothing_left(&env);
}

#[test]
fn stats_example_prints_the_cgroup_statistics() {
    let env = Env::new(&["sleep", "100"]);
    let root = env.root.to_str().expect("utf8");
    let o = run(&env, "stats", &[env.bundle.to_str().expect("utf8"), root]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stats json");
    assert!(v["pids"]["current"].as_u64().expect("pids") >= 1, "{v:#}");
    assert!(v["memory"]["usage"].as_u64().expect("memory") > 0, "{v:#}");
    nothing_left(&env);
}

#[test]
fn events_example_streams_statistics() {
    let env = Env::new(&["sleep", "100"]);
    let root = env.root.to_str().expect("utf8");
    let o = run(
        &env,
        "events",
        &[env.bundle.to_str().expect("utf8"), root, "3"],
    );
    assert!(o.status.success(), "{}", out(&o.stderr));
    let text = out(&o.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines.iter().all(|l| l.starts_with("stats: pids 1,")),
        "{text}"
    );
    nothing_left(&env);
}
