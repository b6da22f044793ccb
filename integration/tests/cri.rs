//! corral as a Kubernetes node's runtime: Debian's containerd with
//! integration/cri/config.toml, spoken to over the CRI as the kubelet does
//! (the `k8s-cri` crate's gRPC client), for each runtime handler: `corral`
//! (corral's shim), `corral-runc-shim` (the stock runc shim driving the
//! corral binary) and `runc` (proves the test). A pod with two containers:
//! they share the sandbox's network and IPC namespaces, limits are in force
//! and can be updated, ExecSync and stats work, and after stop and remove
//! nothing is left (shims, cgroups, mounts, netns).
//!
//! Two knobs for the systemd host (scripts/test-v2-systemd.sh):
//! `CORRAL_CRI_HANDLERS` (comma-separated, default all three) picks the
//! handlers, and `CORRAL_CRI_SYSTEMD=1` runs the runc-type handlers with
//! `SystemdCgroup = true`, puts the pods under the slice `corral_cri.slice`
//! (as the kubelet's systemd driver names a slice for its pods), and checks
//! that each container's scope is active while it runs and gone after
//! RemoveContainer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration::{base_bundle, workspace};
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

const NS: &str = "k8s.io";

/// The handlers to test: `CORRAL_CRI_HANDLERS` or all three.
fn handlers() -> Vec<String> {
    match std::env::var("CORRAL_CRI_HANDLERS") {
        Ok(v) if !v.is_empty() => v.split(',').map(str::to_string).collect(),
        _ => ["runc", "corral", "corral-runc-shim"]
            .map(str::to_string)
            .to_vec(),
    }
}

/// `CORRAL_CRI_SYSTEMD=1`: the systemd cgroup driver (see the module doc).
fn systemd() -> bool {
    std::env::var("CORRAL_CRI_SYSTEMD").as_deref() == Ok("1")
}

/// The slice the pods go under with the systemd driver.
const SLICE: &str = "corral_cri.slice";

/// `systemctl show -p ActiveState --value UNIT`: "active", or "inactive"
/// for a unit systemd does not know.
fn unit_state(unit: &str) -> String {
    let o = Command::new("systemctl")
        .args(["show", "-p", "ActiveState", "--value", unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A private containerd with the CRI configuration, its images, its CNI
/// network; all removed on drop.
struct Node {
    dir: PathBuf,
    sock: PathBuf,
    daemon: Child,
    bridge: String,
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run");
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A docker-archive image of the fixture rootfs with `entrypoint`.
fn image_tar(dir: &Path, name: &str, entrypoint: &[&str]) -> PathBuf {
    let img = dir.join(format!("img-{}", name.replace([':', '/'], "-")));
    let _ = std::fs::remove_dir_all(&img);
    std::fs::create_dir_all(&img).expect("img dir");
    let layer = img.join("layer.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(base_bundle().join("rootfs"))
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    let sha = |p: &Path| {
        run(Command::new("sha256sum").arg(p))
            .split_whitespace()
            .next()
            .expect("sha")
            .to_string()
    };
    let diff = sha(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": entrypoint, "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff}")]}
    });
    let cfg_path = img.join("config.json");
    std::fs::write(&cfg_path, config.to_string()).expect("config");
    let cfg = sha(&cfg_path);
    std::fs::rename(&cfg_path, img.join(format!("{cfg}.json"))).expect("rename");
    std::fs::create_dir(img.join(&diff)).expect("layer dir");
    std::fs::rename(&layer, img.join(&diff).join("layer.tar")).expect("layer");
    let manifest = serde_json::json!([{
        "Config": format!("{cfg}.json"), "RepoTags": [name], "Layers": [format!("{diff}/layer.tar")]
    }]);
    std::fs::write(img.join("manifest.json"), manifest.to_string()).expect("manifest");
    let tar = dir.join(format!("{}.tar", name.replace([':', '/'], "-")));
    run(Command::new("tar")
        .arg("-C")
        .arg(&img)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    tar
}

/// The corral binary for the corral-runc-shim handler; a placeholder when
/// that handler is not tested (the runc-only run of the systemd host needs
/// no corral build).
fn corral_path() -> String {
    if handlers().iter().any(|h| h == "corral-runc-shim") {
        integration::corral_bin().to_string_lossy().into_owned()
    } else {
        "/nonexistent/corral".into()
    }
}

impl Node {
    fn start() -> Node {
        let dir = PathBuf::from(format!("/tmp/corral-it-cri-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("cni")).expect("dir");
        let sock = dir.join("containerd.sock");
        let bridge = format!("ccri{}", std::process::id() % 100_000);
        let cni = serde_json::json!({
            "cniVersion": "0.4.0", "name": "corral-cri-test",
            "plugins": [{"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.77.0/24"}]],
                         "dataDir": dir.join("ipam")}}]
        });
        std::fs::write(dir.join("cni/10-corral.conflist"), cni.to_string()).expect("cni");
        let config = std::fs::read_to_string(workspace().join("integration/cri/config.toml"))
            .expect("config.toml")
            .replace("@ROOT@", &dir.join("root").to_string_lossy())
            .replace("@STATE@", &dir.join("state").to_string_lossy())
            .replace("@SOCK@", &sock.to_string_lossy())
            .replace("@CNI_CONF@", &dir.join("cni").to_string_lossy())
            .replace("@CORRAL@", &corral_path());
        let config = if systemd() {
            // The runc shim's options (containerd's runcoptions): runc is
            // started with --systemd-cgroup.
            config
                .replace(
                    "BinaryName = ",
                    "SystemdCgroup = true\n        BinaryName = ",
                )
                .replace(
                    "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n      runtime_type = \"io.containerd.runc.v2\"",
                    "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n      runtime_type = \"io.containerd.runc.v2\"\n      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n        SystemdCgroup = true",
                )
        } else {
            config
        };
        if systemd() {
            assert!(
                config.matches("SystemdCgroup = true").count() == 2,
                "config.toml changed: SystemdCgroup not set for runc and corral-runc-shim"
            );
        }
        std::fs::write(dir.join("config.toml"), config).expect("config");
        let log = std::fs::File::create(dir.join("containerd.log")).expect("log");
        let path = format!(
            "{}:{}",
            workspace().join("target/debug").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .env("PATH", path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd");
        let node = Node {
            dir,
            sock,
            daemon,
            bridge,
        };
        for _ in 0..100 {
            if node.ctr(&["version"]).status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for (name, entry) in [
            (
                "registry.k8s.io/pause:3.6",
                vec!["/bin/sleep", "2147483647"],
            ),
            ("docker.io/library/corral-cri:latest", vec![]),
        ] {
            let tar = image_tar(&node.dir, name, &entry);
            let o = node.ctr(&["images", "import", tar.to_str().expect("utf8")]);
            assert!(
                o.status.success(),
                "import {name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        node
    }

    fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr")
            .arg("-a")
            .arg(&self.sock)
            .args(["-n", NS])
            .args(args)
            .output()
            .expect("ctr")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        text.lines().rev().take(15).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for t in String::from_utf8_lossy(&self.ctr(&["task", "ls", "-q"]).stdout).lines() {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", t]);
        }
        std::thread::sleep(Duration::from_millis(500));
        for t in String::from_utf8_lossy(&self.ctr(&["task", "ls", "-q"]).stdout).lines() {
            let _ = self.ctr(&["task", "delete", "-f", t]);
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|p| p.starts_with(&dir))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
        for d in integration::cgroup_dirs_named("k8s.io") {
            let _ = std::fs::remove_dir(d);
        }
        if systemd() {
            let _ = Command::new("systemctl")
                .args(["stop", SLICE])
                .stderr(Stdio::null())
                .status();
        }
    }
}

async fn connect(sock: &Path) -> Channel {
    let sock = sock.to_path_buf();
    tonic::transport::Endpoint::try_from("http://[::]:50051")
        .expect("endpoint")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let sock = sock.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(sock).await?,
                ))
            }
        }))
        .await
        .expect("connect to the CRI socket")
}

fn pod_config(handler: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: format!("pod-{handler}"),
            uid: format!("uid-{handler}-{}", std::process::id()),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "corral-pod".into(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: if systemd() {
                SLICE.into()
            } else {
                String::new()
            },
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Pod as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config(name: &str, memory: i64) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: "docker.io/library/corral-cri:latest".into(),
            ..Default::default()
        }),
        command: vec!["/bin/sleep".into(), "1000".into()],
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                memory_limit_in_bytes: memory,
                cpu_shares: 512,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn exec(rt: &mut RuntimeServiceClient<Channel>, id: &str, script: &str) -> String {
    let r = rt
        .exec_sync(cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: vec!["sh".into(), "-c".into(), script.into()],
            timeout: 20,
        })
        .await
        .expect("ExecSync")
        .into_inner();
    assert_eq!(
        r.exit_code,
        0,
        "{script}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    String::from_utf8_lossy(&r.stdout).trim().to_string()
}

/// One pod with two containers through `handler`; returns the time from
/// RunPodSandbox to the first container running.
async fn pod_lifecycle(node: &Node, handler: &str) -> Duration {
    let channel = connect(&node.sock).await;
    let mut rt = RuntimeServiceClient::new(channel.clone());
    let _img = ImageServiceClient::new(channel);
    let config = pod_config(handler);
    let t0 = Instant::now();
    let pod = rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox {handler}: {e}\n{}", node.log_tail()))
        .into_inner()
        .pod_sandbox_id;
    let mut ids = Vec::new();
    let mut first_running = Duration::ZERO;
    for name in ["app", "sidecar"] {
        let id = rt
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(container_config(name, 64 << 20)),
                sandbox_config: Some(config.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("CreateContainer {handler}: {e}\n{}", node.log_tail()))
            .into_inner()
            .container_id;
        rt.start_container(cri::StartContainerRequest {
            container_id: id.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StartContainer {handler}: {e}\n{}", node.log_tail()));
        if ids.is_empty() {
            first_running = t0.elapsed();
        }
        if systemd() {
            let scope = format!("cri-containerd-{id}.scope");
            assert_eq!(unit_state(&scope), "active", "{handler}: {scope}");
        }
        ids.push(id);
    }
    // The containers share the sandbox's network and IPC namespaces: the
    // same as each other's and as the pause process's (the sandbox task).
    let sandbox_pid = String::from_utf8_lossy(&node.ctr(&["task", "ls"]).stdout)
        .lines()
        .find(|l| l.starts_with(&pod))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| panic!("{handler}: no sandbox task"));
    let ns = |which: &str| format!("readlink /proc/self/ns/{which}");
    for which in ["net", "ipc"] {
        let a = exec(&mut rt, &ids[0], &ns(which)).await;
        let b = exec(&mut rt, &ids[1], &ns(which)).await;
        assert_eq!(a, b, "{handler}: {which} namespace shared");
        let sandbox = std::fs::read_link(format!("/proc/{sandbox_pid}/ns/{which}"))
            .expect("sandbox ns")
            .to_string_lossy()
            .into_owned();
        assert_eq!(a, sandbox, "{handler}: the sandbox's {which} namespace");
        assert_ne!(
            a,
            std::fs::read_link(format!("/proc/self/ns/{which}"))
                .expect("host ns")
                .to_string_lossy(),
            "{handler}: not the host's {which} namespace"
        );
    }
    // The pod network: an address from the test's CNI range.
    let addr = exec(&mut rt, &ids[0], "ip -4 addr show eth0").await;
    assert!(addr.contains("10.88.77."), "{handler}: {addr}");
    // Limits in force, and updated.
    let limit = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
    assert_eq!(
        exec(&mut rt, &ids[0], limit).await,
        (64u64 << 20).to_string(),
        "{handler}"
    );
    rt.update_container_resources(cri::UpdateContainerResourcesRequest {
        container_id: ids[0].clone(),
        linux: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 96 << 20,
            cpu_shares: 512,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("UpdateContainerResources {handler}: {e}"));
    assert_eq!(
        exec(&mut rt, &ids[0], limit).await,
        (96u64 << 20).to_string(),
        "{handler}"
    );
    // Stats.
    let stats = rt
        .container_stats(cri::ContainerStatsRequest {
            container_id: ids[0].clone(),
        })
        .await
        .expect("ContainerStats")
        .into_inner()
        .stats
        .expect("stats");
    let mem = stats
        .memory
        .and_then(|m| m.working_set_bytes)
        .map(|v| v.value);
    assert!(mem.is_some_and(|v| v > 0), "{handler}: {mem:?}");
    // Stop and remove everything.
    for id in &ids {
        rt.stop_container(cri::StopContainerRequest {
            container_id: id.clone(),
            timeout: 2,
        })
        .await
        .expect("StopContainer");
        rt.remove_container(cri::RemoveContainerRequest {
            container_id: id.clone(),
        })
        .await
        .expect("RemoveContainer");
    }
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .expect("StopPodSandbox");
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .expect("RemovePodSandbox");
    // Nothing left: no task, no shim, no mount, no netns.
    std::thread::sleep(Duration::from_millis(500));
    let tasks = String::from_utf8_lossy(&node.ctr(&["task", "ls", "-q"]).stdout).into_owned();
    assert!(tasks.trim().is_empty(), "{handler}: tasks left: {tasks}");
    let shims = integration::processes_naming(&node.sock.to_string_lossy());
    assert!(shims.is_empty(), "{handler}: shims left: {shims:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let state = node.dir.join("state");
    assert!(
        !mounts
            .lines()
            .any(|l| l.contains(&*state.to_string_lossy()) && l.contains("rootfs")),
        "{handler}: rootfs mounts left"
    );
    assert!(
        !mounts.contains(&pod),
        "{handler}: a mount names the sandbox"
    );
    for id in ids.iter().chain(std::iter::once(&pod)) {
        let cgs = integration::cgroup_dirs_named(id);
        assert!(cgs.is_empty(), "{handler}: cgroups left: {cgs:?}");
        if systemd() {
            let scope = format!("cri-containerd-{id}.scope");
            let cgs = integration::cgroup_dirs_named(&scope);
            assert!(cgs.is_empty(), "{handler}: cgroups left: {cgs:?}");
            let state = unit_state(&scope);
            assert!(
                state == "inactive" || state.is_empty(),
                "{handler}: {scope} is {state:?} after removal"
            );
        }
    }
    first_running
}

#[test]
fn pods_run_through_the_cri_with_each_handler() {
    let node = Node::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let mut times = Vec::new();
    for handler in handlers() {
        let t = rt.block_on(pod_lifecycle(&node, &handler));
        times.push((handler, t));
    }
    println!("RunPodSandbox → first container running:");
    for (h, t) in &times {
        println!("  {h:18} {:.0} ms", t.as_secs_f64() * 1000.0);
    }
    let netns: Vec<_> = std::fs::read_dir("/var/run/netns")
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !netns
            .iter()
            .any(|n| n.to_string_lossy().starts_with("cni-")),
        "netns left: {netns:?}"
    );
}
