//! containerd-shim-corral-v2 spoken to directly over ttrpc, as containerd
//! 2.x does (task v3 method names; containerd 1.6's v2 names are covered
//! end to end by integration/e2e/shim.sh): start, Create with a file://
//! stdout, Start, Update, Stats, Exec, Kill, Wait, Delete, Checkpoint
//! (unimplemented), Shutdown, and nothing left behind.

use std::path::PathBuf;
use std::process::Command;

use containerd_shim_protos::api;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::TaskClient;
use integration::{assert_nothing_left, out, workspace, Env};
use serde_json::json;

fn shim_bin() -> PathBuf {
    workspace().join("target/debug/containerd-shim-corral-v2")
}

fn ctx() -> ttrpc::context::Context {
    ttrpc::context::with_timeout(20_000_000_000)
}

fn any_json(type_url: &str, v: &serde_json::Value) -> Any {
    let mut a = Any::new();
    a.type_url = type_url.into();
    a.value = serde_json::to_vec(v).expect("json");
    a
}

/// Cleans up after a failed test: the shim's own `delete` (kills and
/// removes the container, removes the socket), then the daemon.
struct ShimGuard {
    ns: String,
    id: String,
    bundle: PathBuf,
}

impl Drop for ShimGuard {
    fn drop(&mut self) {
        let _ = Command::new(shim_bin())
            .args(["-namespace", &self.ns, "-id", &self.id, "-address", ADDRESS])
            .arg("-bundle")
            .arg(&self.bundle)
            .arg("delete")
            .output();
        for pid in integration::processes_naming(&format!("-id {}", self.id)) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

/// containerd's address as the shim is told it (no containerd runs here).
const ADDRESS: &str = "/run/corral-it-no-containerd.sock";

#[test]
fn shim_serves_the_task_api_over_ttrpc() {
    let mut env = Env::new(&["sh", "-c", "echo started; sleep 100"]);
    let id = env.id();
    let ns = "corral-it-shim";
    let _guard = ShimGuard {
        ns: ns.into(),
        id: id.clone(),
        bundle: env.bundle.clone(),
    };
    // No containerd here: the shim's event forwarding fails quietly.
    let start = Command::new(shim_bin())
        .args(["-namespace", ns, "-id", &id, "-address", ADDRESS, "start"])
        .current_dir(&env.bundle)
        .output()
        .expect("shim start");
    assert!(start.status.success(), "{}", out(&start.stderr));
    assert!(
        start.stderr.is_empty(),
        "nothing on stderr during start: {}",
        out(&start.stderr)
    );
    let address = out(&start.stdout);
    assert!(
        address.starts_with("unix:///run/containerd/s/"),
        "{address}"
    );
    assert_eq!(
        std::fs::read_to_string(env.bundle.join("address")).expect("address file"),
        address
    );
    let client = TaskClient::new(ttrpc::Client::connect(&address).expect("connect"));

    let log = env.scratch.join("stdout.log");
    let mut create = api::CreateTaskRequest::new();
    create.id = id.clone();
    create.bundle = env.bundle.to_string_lossy().into_owned();
    create.stdout = format!("file://{}", log.display());
    create.stderr = format!("file://{}", log.display());
    let pid = client.create(ctx(), &create).expect("Create").pid;
    assert!(pid > 0);
    let mut start = api::StartRequest::new();
    start.id = id.clone();
    assert_eq!(client.start(ctx(), &start).expect("Start").pid, pid);

    // Update reaches the cgroup.
    let mut update = api::UpdateTaskRequest::new();
    update.id = id.clone();
    update.resources = MessageField::some(any_json(
        "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
        &json!({"pids": {"limit": 42}}),
    ));
    client.update(ctx(), &update).expect("Update");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let pids_max = if let Some(l) = cg.lines().find(|l| l.split(':').nth(1) == Some("pids")) {
        format!(
            "/sys/fs/cgroup/pids{}/pids.max",
            l.split(':').nth(2).unwrap_or("")
        )
    } else {
        let rel = cg.lines().find(|l| l.starts_with("0::")).expect("v2 line");
        format!("/sys/fs/cgroup{}/pids.max", &rel[3..])
    };
    assert_eq!(
        std::fs::read_to_string(&pids_max).expect("pids.max").trim(),
        "42"
    );

    // Stats: the metrics of this host's kind, with the pids limit.
    let mut stats = api::StatsRequest::new();
    stats.id = id.clone();
    let s = client.stats(ctx(), &stats).expect("Stats");
    let metrics = s.stats.into_option().expect("stats");
    if metrics.type_url == "io.containerd.cgroups.v1.Metrics" {
        let m = containerd_shim_protos::cgroups::metrics::Metrics::parse_from_bytes(&metrics.value)
            .expect("v1 metrics");
        assert_eq!(m.pids.limit, 42);
    } else {
        assert_eq!(metrics.type_url, "io.containerd.cgroups.v2.Metrics");
        let m =
            containerd_shim_protos::cgroups_v2::metrics::Metrics::parse_from_bytes(&metrics.value)
                .expect("v2 metrics");
        assert_eq!(m.pids.limit, 42);
    }

    // Exec with its own exit status.
    let mut exec = api::ExecProcessRequest::new();
    exec.id = id.clone();
    exec.exec_id = "e1".into();
    let mut process = env.config["process"].clone();
    process["args"] = json!(["sh", "-c", "exit 7"]);
    exec.spec = MessageField::some(any_json(
        "types.containerd.io/opencontainers/runtime-spec/1/Process",
        &process,
    ));
    client.exec(ctx(), &exec).expect("Exec");
    let mut start_exec = api::StartRequest::new();
    start_exec.id = id.clone();
    start_exec.exec_id = "e1".into();
    client.start(ctx(), &start_exec).expect("Start exec");
    let mut wait_exec = api::WaitRequest::new();
    wait_exec.id = id.clone();
    wait_exec.exec_id = "e1".into();
    assert_eq!(
        client
            .wait(ctx(), &wait_exec)
            .expect("Wait exec")
            .exit_status,
        7
    );
    let mut delete_exec = api::DeleteRequest::new();
    delete_exec.id = id.clone();
    delete_exec.exec_id = "e1".into();
    assert_eq!(
        client
            .delete(ctx(), &delete_exec)
            .expect("Delete exec")
            .exit_status,
        7
    );

    // Checkpoint is refused as unimplemented.
    let mut cp = api::CheckpointTaskRequest::new();
    cp.id = id.clone();
    let e = client.checkpoint(ctx(), &cp).expect_err("checkpoint");
    assert!(format!("{e:?}").contains("UNIMPLEMENTED"), "{e:?}");

    // Kill, Wait (137), Delete, Shutdown.
    let mut kill = api::KillRequest::new();
    kill.id = id.clone();
    kill.signal = 9;
    client.kill(ctx(), &kill).expect("Kill");
    let mut wait = api::WaitRequest::new();
    wait.id = id.clone();
    assert_eq!(client.wait(ctx(), &wait).expect("Wait").exit_status, 137);
    let mut delete = api::DeleteRequest::new();
    delete.id = id.clone();
    let d = client.delete(ctx(), &delete).expect("Delete");
    assert_eq!((d.pid, d.exit_status), (pid, 137));
    assert_eq!(std::fs::read_to_string(&log).expect("log"), "started\n");
    let mut shutdown = api::ShutdownRequest::new();
    shutdown.id = id.clone();
    client.shutdown(ctx(), &shutdown).expect("Shutdown");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let socket = address.trim_start_matches("unix://");
    assert!(
        !std::path::Path::new(socket).exists(),
        "socket left: {socket}"
    );
    let shims = integration::processes_naming(&format!("-id {id}"));
    assert!(shims.is_empty(), "shim left: {shims:?}");
    let root = PathBuf::from("/run/containerd/corral").join(ns);
    assert!(!root.join(&id).exists(), "state left");
    assert_nothing_left(&env, &id);
    let _ = std::fs::remove_dir(&root);
}
