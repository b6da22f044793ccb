//! containerd-shim-corral-v2 spoken to directly over ttrpc, as containerd
//! 2.x does (task v3 method names; containerd 1.6's v2 names are covered
//! end to end by integration/e2e/shim.sh): start, Create with a file://
//! stdout, Start, Update, Stats, Exec, Kill, Wait, Delete, Checkpoint
//! (unimplemented), Shutdown, and nothing left behind.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
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

/// The shim, under `deny-newer` in the older-kernels tier (scripts/test.sh):
/// its daemon and the corral it runs inherit the filter.
fn shim_command() -> Command {
    integration::command_of(&shim_bin())
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
        let _ = shim_command()
            .args(["-namespace", &self.ns, "-id", &self.id, "-address", ADDRESS])
            .arg("-bundle")
            .arg(&self.bundle)
            .arg("delete")
            .output();
        for pid in shim_pids(&self.id) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

/// containerd's address as the shim is told it (no containerd runs here).
const ADDRESS: &str = "/run/corral-it-no-containerd.sock";

/// A shim daemon started for `id` the way containerd starts one, with
/// its client; dropping it runs the shim's `delete` and kills it.
struct Shim {
    client: TaskClient,
    address: String,
    _guard: ShimGuard,
}

impl Shim {
    /// `containerd-shim-corral-v2 … start` in `bundle`; `crash` arms a
    /// crash point in the daemon (see libcontainer's `faults`).
    fn start(ns: &str, id: &str, bundle: &Path, crash: Option<&str>) -> Shim {
        let guard = ShimGuard {
            ns: ns.into(),
            id: id.into(),
            bundle: bundle.to_path_buf(),
        };
        // No containerd here: the shim's event forwarding fails quietly.
        let mut cmd = shim_command();
        cmd.args(["-namespace", ns, "-id", id, "-address", ADDRESS, "start"])
            .current_dir(bundle);
        if let Some(stage) = crash {
            cmd.env(libcontainer::faults::CRASH_ENV, stage);
        }
        let start = cmd.output().expect("shim start");
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
            std::fs::read_to_string(bundle.join("address")).expect("address file"),
            address
        );
        let client = TaskClient::new(ttrpc::Client::connect(&address).expect("connect"));
        Shim {
            client,
            address,
            _guard: guard,
        }
    }
}

/// Pids of the shim daemons started for `id` (processes of the shim binary
/// naming it).
fn shim_pids(id: &str) -> Vec<i32> {
    // The shim runs from a sealed image of its binary: its exe link names
    // the binary's file (or a memfd), not its host path.
    let bin = shim_bin();
    let name = bin.file_name().expect("shim binary name");
    integration::processes_naming(id)
        .into_iter()
        .filter(|p| {
            let Ok(exe) = std::fs::read_link(format!("/proc/{p}/exe")) else {
                return false;
            };
            // Sealed by a detached mount (the exe names the binary's
            // file) or, where the new mount API is missing, by a sealed
            // memfd (the exe is the memfd; argv[0] still names the shim).
            let memfd = format!("/memfd:{}", libcontainer::process::seal::SEALED_MEMFD_NAME);
            exe.file_name() == Some(name)
                || (exe.as_os_str().as_bytes().starts_with(memfd.as_bytes())
                    && std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| {
                        let argv0 = c.split(|b| *b == 0).next().unwrap_or_default();
                        Path::new(std::ffi::OsStr::from_bytes(argv0)).file_name() == Some(name)
                    }))
        })
        .collect()
}

fn create_request(id: &str, bundle: &Path, log: &Path) -> api::CreateTaskRequest {
    let mut create = api::CreateTaskRequest::new();
    create.id = id.into();
    create.bundle = bundle.to_string_lossy().into_owned();
    create.stdout = format!("file://{}", log.display());
    create.stderr = format!("file://{}", log.display());
    create
}

#[test]
fn shim_serves_the_task_api_over_ttrpc() {
    let mut env = Env::new(&["sh", "-c", "echo started; sleep 100"]);
    let id = env.id();
    let ns = "corral-it-shim";
    let shim = Shim::start(ns, &id, &env.bundle, None);
    let (client, address) = (&shim.client, shim.address.clone());

    let log = env.scratch.join("stdout.log");
    let create = create_request(&id, &env.bundle, &log);
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

/// A terminal task: the shim's console socket is in a private directory
/// of its own, so paths planted in advance at the old, predictable
/// `/tmp/corral-shim-PID-N.sock` (a directory there made every terminal
/// Create fail; a file or symlink was removed and replaced) are neither
/// used nor touched, and the directory is gone once the pty master came.
#[test]
fn terminal_task_ignores_planted_console_socket_paths() {
    struct Planted(Vec<PathBuf>);
    impl Drop for Planted {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
                let _ = std::fs::remove_dir(p);
            }
        }
    }
    let mut env = Env::new(&["sh", "-c", "tty; sleep 100"]);
    env.edit(|c| c["process"]["terminal"] = json!(true));
    let id = env.id();
    let ns = "corral-it-shim-tty";
    let shim = Shim::start(ns, &id, &env.bundle, None);
    let client = &shim.client;
    let daemons = shim_pids(&id);
    assert_eq!(daemons.len(), 1, "{daemons:?}");
    let daemon = daemons[0];
    let target = env.scratch.join("planted-target");
    let mut planted = Planted(Vec::new());
    for n in 0..4 {
        let p = PathBuf::from(format!("/tmp/corral-shim-{daemon}-{n}.sock"));
        if n == 0 {
            std::fs::create_dir(&p).expect("plant a directory");
        } else {
            std::os::unix::fs::symlink(&target, &p).expect("plant a symlink");
        }
        planted.0.push(p);
    }

    let log = env.scratch.join("tty.log");
    let mut create = create_request(&id, &env.bundle, &log);
    create.terminal = true;
    let pid = client
        .create(ctx(), &create)
        .expect("Create with a terminal")
        .pid;
    let mut start = api::StartRequest::new();
    start.id = id.clone();
    client.start(ctx(), &start).expect("Start");
    let t = std::time::Instant::now();
    let mut text = String::new();
    while t.elapsed() < std::time::Duration::from_secs(10) && !text.contains("/dev/") {
        std::thread::sleep(std::time::Duration::from_millis(50));
        text = std::fs::read_to_string(&log).unwrap_or_default();
    }
    assert!(
        text.contains("/dev/"),
        "no tty name through the pty: {text:?}"
    );

    for (n, p) in planted.0.iter().enumerate() {
        let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{p:?} removed: {e}"));
        if n == 0 {
            assert!(m.is_dir(), "{p:?} replaced");
        } else {
            assert!(m.file_type().is_symlink(), "{p:?} replaced");
        }
    }
    assert!(!target.exists(), "a planted symlink was followed");
    let prefix = format!("{daemon}-");
    let left: Vec<_> = std::fs::read_dir("/run/corral-shim")
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "console directories left: {left:?}");

    let mut kill = api::KillRequest::new();
    kill.id = id.clone();
    kill.signal = 9;
    client.kill(ctx(), &kill).expect("Kill");
    let mut wait = api::WaitRequest::new();
    wait.id = id.clone();
    assert_eq!(client.wait(ctx(), &wait).expect("Wait").exit_status, 137);
    let mut delete = api::DeleteRequest::new();
    delete.id = id.clone();
    assert_eq!(client.delete(ctx(), &delete).expect("Delete").pid, pid);
    let mut shutdown = api::ShutdownRequest::new();
    shutdown.id = id.clone();
    client.shutdown(ctx(), &shutdown).expect("Shutdown");
    drop(shim);
    let t = std::time::Instant::now();
    while !shim_pids(&id).is_empty() && t.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_nothing_left(&env, &id);
    let _ = std::fs::remove_dir(PathBuf::from("/run/containerd/corral").join(ns));
}

/// The shim killed mid-Create — after mounting the rootfs containerd
/// gave it, and after the container is made but before the reply —
/// then cleaned up the way containerd does it (the shim binary's
/// `delete`): no mount, state, cgroup, process or socket is left.
#[test]
fn shim_killed_mid_create_is_cleaned_up_by_delete() {
    for stage in ["shim-rootfs", "shim-created"] {
        let mut env = Env::new(&["sleep", "100"]);
        env.edit(|c| c["root"]["path"] = json!("rootfs"));
        let id = env.id();
        let ns = "corral-it-shim-crash";
        let shim = Shim::start(ns, &id, &env.bundle, Some(stage));
        let log = env.scratch.join("stdout.log");
        let mut create = create_request(&id, &env.bundle, &log);
        let mut m = containerd_shim_protos::types::mount::Mount::new();
        m.type_ = "bind".into();
        m.source = integration::base_bundle()
            .join("rootfs")
            .to_string_lossy()
            .into_owned();
        m.options = vec!["rbind".into(), "ro".into()];
        create.rootfs = vec![m];
        let r = shim.client.create(ctx(), &create);
        assert!(r.is_err(), "{stage}: the shim answered {r:?}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !shim_pids(&id).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{stage}: the shim lives"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let rootfs = env.bundle.join("rootfs");
        let mounted = || {
            std::fs::read_to_string("/proc/self/mountinfo")
                .expect("mountinfo")
                .contains(&format!(" {} ", rootfs.display()))
        };
        assert!(mounted(), "{stage}: the crash came after the rootfs mount");
        let state = PathBuf::from("/run/containerd/corral").join(ns).join(&id);
        if stage == "shim-created" {
            assert!(state.join("state.json").exists(), "{stage}: {state:?}");
        }
        // containerd's clean-up of a dead shim.
        let d = shim_command()
            .args(["-namespace", ns, "-id", &id, "-address", ADDRESS])
            .arg("-bundle")
            .arg(&env.bundle)
            .arg("delete")
            .current_dir(&env.bundle)
            .output()
            .expect("shim delete");
        assert!(d.status.success(), "{stage}: {}", out(&d.stderr));
        let resp = api::DeleteResponse::parse_from_bytes(&d.stdout).expect("DeleteResponse");
        assert_eq!(resp.exit_status, 137, "{stage}");
        assert!(!mounted(), "{stage}: rootfs still mounted");
        assert!(!state.exists(), "{stage}: state left {state:?}");
        let socket = shim.address.trim_start_matches("unix://").to_string();
        assert!(!Path::new(&socket).exists(), "{stage}: socket left");
        assert_nothing_left(&env, &id);
        let _ = std::fs::remove_dir(state.parent().expect("ns dir"));
    }
}

/// Open fds, resident memory (kB) and threads of process `pid`.
fn fds_and_rss(pid: i32) -> (usize, u64, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS");
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads");
    (fds, rss, threads)
}

/// Load through one shim: `integration::load_size()` containers (100 in
/// CI, `CORRAL_LOAD=500` for the full run) created, started, waited for and
/// deleted, 8 at a time. Every one is accounted for; the shim's open fds
/// do not grow and its resident memory comes back within 10% of where it
/// stood after a first round of 8; nothing is left.
#[test]
fn shim_load() {
    let n = integration::load_size();
    let env = Env::new(&["true"]);
    let id = integration::unique("shimload");
    let ns = "corral-it-shim-load";
    let shim = Shim::start(ns, &id, &env.bundle, None);
    let pids = shim_pids(&id);
    assert_eq!(pids.len(), 1, "one shim daemon: {pids:?}");
    let pid = pids[0];
    let fresh = fds_and_rss(pid);
    let log = env.scratch.join("out.log");
    let run = |ids: Vec<String>| -> usize {
        let ids = std::sync::Mutex::new(ids);
        let done = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| loop {
                    let Some(cid) = ids.lock().expect("ids").pop() else {
                        break;
                    };
                    let c = &shim.client;
                    c.create(ctx(), &create_request(&cid, &env.bundle, &log))
                        .unwrap_or_else(|e| panic!("Create {cid}: {e:?}"));
                    let mut start = api::StartRequest::new();
                    start.id = cid.clone();
                    c.start(ctx(), &start).expect("Start");
                    let mut wait = api::WaitRequest::new();
                    wait.id = cid.clone();
                    assert_eq!(c.wait(ctx(), &wait).expect("Wait").exit_status, 0);
                    let mut delete = api::DeleteRequest::new();
                    delete.id = cid.clone();
                    c.delete(ctx(), &delete).expect("Delete");
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
        });
        done.into_inner()
    };
    let name = |k: usize| format!("{id}-{k}");
    // Two warm-up rounds: after one, the shim's worker threads and heap
    // are not always at their working size yet (warm RSS 15.4 MB once,
    // 16.5-17.0 MB otherwise, with 17.2 MB after 100 or 400 containers).
    assert_eq!(run((0..8).map(name).collect()), 8);
    assert_eq!(run((8..16).map(name).collect()), 8);
    let warm = fds_and_rss(pid);
    let t = std::time::Instant::now();
    let ids: Vec<String> = (16..16 + n).map(name).collect();
    assert_eq!(run(ids.clone()), n, "every container accounted for");
    let per_hundred = t.elapsed().as_secs_f64() * 100.0 / n as f64;
    // Each container's OOM watch ends within half a second of its delete.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while fds_and_rss(pid).2 > warm.2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let after = fds_and_rss(pid);
    eprintln!(
        "shim load: {n} containers, {per_hundred:.2} s per hundred; fds {} fresh, {} warm, {} after; \
         RSS {} kB fresh, {} kB warm, {} kB after; threads {} fresh, {} warm, {} after",
        fresh.0, warm.0, after.0, fresh.1, warm.1, after.1, fresh.2, warm.2, after.2
    );
    assert!(
        after.0 <= warm.0,
        "the shim's fds grew: {warm:?} → {after:?}"
    );
    assert!(
        after.1 * 10 <= warm.1 * 11,
        "the shim's RSS grew over 10%: {warm:?} → {after:?}"
    );
    let root = PathBuf::from("/run/containerd/corral").join(ns);
    let found = integration::leaks(&root, &ids, &[]);
    assert!(found.is_empty(), "{found:?}");
    let mut shutdown = api::ShutdownRequest::new();
    shutdown.id = id.clone();
    let _ = shim.client.shutdown(ctx(), &shutdown);
}
