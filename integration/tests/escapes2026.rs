//! Escape classes of issue 17, each attacked the way the advisory describes:
//!
//! - a read-only bind whose target a co-tenant swaps for a symlink while
//!   the container is set up (the read-only flag must land on the bind);
//! - writes to /proc redirected by an over-mount of another procfs file
//!   (CVE-2025-52881's class);
//! - /dev entries swapped for symlinks during set-up (runc CVE-2026-41579),
//!   terminal set-up in an image-controlled /dev (crun CVE-2026-88264) and
//!   `/dev/null` reopened through an image symlink (CVE-2026-88265);
//! - `--no-pivot` leaving a fully visible procfs behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use integration::{assert_nothing_left, out, Env};
use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
use serde_json::json;

/// A thread that exchanges each pair of paths (RENAME_EXCHANGE, atomic)
/// there and back in a tight loop until finished or dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Swapper {
    fn start(pairs: Vec<(PathBuf, PathBuf)>) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                for (a, b) in &pairs {
                    for _ in 0..2 {
                        renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE)
                            .expect("exchange");
                        n += 1;
                    }
                }
            }
            n
        });
        Swapper {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread; the number of exchanges it made.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().expect("swapper"))
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The mountinfo lines of `pid`, split into fields.
fn mountinfo(pid: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .expect("mountinfo")
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// Waits (bounded) until container `id` has stopped.
fn wait_stopped(env: &Env, id: &str) {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if env.state(id)["status"] == "stopped" {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("container {id} did not stop within 5 s");
}

/// Entries of a directory (for "nothing was written on the host").
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Item 2: a "ro" bind of a host volume stays read-only while a co-tenant
/// flips its target in the rootfs between the directory and a symlink to a
/// writable mount (a tmpfs at /rw) in a tight loop. Old code bound the
/// volume, then looked the target up again to remount it read-only: when
/// the lookup met the symlink the tmpfs became read-only and the volume
/// stayed writable. After every create: every mount of the volume in the
/// container is "ro", the container's `touch` into it fails, and the host
/// volume stays empty.
#[test]
fn ro_bind_stays_readonly_while_its_target_is_swapped() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "for d in /vol /vol-evil /rw; do touch $d/written 2>/dev/null; done; true",
    ]);
    let rootfs = env.private_rootfs();
    let vol = env.scratch.join("vol");
    std::fs::create_dir(&vol).expect("vol");
    std::fs::create_dir(rootfs.join("vol")).expect("vol target");
    std::os::unix::fs::symlink("/rw", rootfs.join("vol-evil")).expect("symlink");
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(json!({"destination": "/rw", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
        m.push(json!({"destination": "/vol", "type": "bind", "source": vol, "options": ["bind", "ro"]}));
    });
    let vol_s = vol.display().to_string();
    let swapper = Swapper::start(vec![(rootfs.join("vol"), rootfs.join("vol-evil"))]);
    let (mut made, mut refused, mut tries) = (0, Vec::new(), 0);
    let end = Instant::now() + Duration::from_secs(10);
    while tries < 80 && Instant::now() < end {
        tries += 1;
        let id = env.id();
        let b = env.bundle.clone();
        let o = env.corral(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
        if !o.status.success() {
            refused.push(out(&o.stderr));
            assert_nothing_left(&env, &id);
            continue;
        }
        made += 1;
        let pid = env.state(&id)["pid"].to_string();
        let vol_mounts: Vec<Vec<String>> = mountinfo(&pid)
            .into_iter()
            .filter(|f| f.len() > 5 && f[3].ends_with("/scratch/vol") && vol_s.ends_with(&f[3]))
            .collect();
        assert!(
            !vol_mounts.is_empty(),
            "create {tries}: the volume is not mounted"
        );
        for f in &vol_mounts {
            assert!(
                f[5].split(',').any(|o| o == "ro"),
                "create {tries}: the \"ro\" volume is mounted writable at {}: {f:?}",
                f[4]
            );
        }
        assert!(env.corral(&["start", &id]).status.success());
        wait_stopped(&env, &id);
        assert!(env.corral(&["delete", "--force", &id]).status.success());
        assert_nothing_left(&env, &id);
        assert!(
            entries(&vol).is_empty(),
            "create {tries}: the container wrote into the read-only volume: {:?}",
            entries(&vol)
        );
    }
    let swaps = swapper.finish();
    println!(
        "{tries} creates under {swaps} swaps of the ro bind's target: {made} made, {} refused",
        refused.len()
    );
    for e in refused.iter().take(3) {
        println!("  refused: {}", e.trim());
    }
    assert!(made >= 10, "only {made} creates succeeded: {refused:?}");
    assert!(swaps > 1000, "only {swaps} swaps");
}

/// The container's attempt, as an unprivileged user, from a user, PID and
/// mount namespace of its own, to mount a fresh procfs: the kernel allows
/// it only when a fully visible procfs is in the mount namespace already.
/// The tmpfs mount is the control (the namespaces work); `UNMASKED` means
/// the attack worked (an unmasked procfs, /proc/sysrq-trigger and all).
const FRESH_PROC: &str = "mkdir -p /dev/shm/p; \
    unshare -Urpmf sh -c 'mount -t tmpfs t /dev/shm/p && echo CONTROL; umount /dev/shm/p; \
      mount -t proc proc /dev/shm/p 2>&1 && echo UNMASKED'; \
    echo end";

/// Item 9: with `--no-pivot` the old root's mounts stayed under the new
/// root, the host's fully visible /proc among them, so a container
/// process could mount an unmasked procfs of its own (and write
/// /proc/sysrq-trigger from it). They are detached before the MS_MOVE now,
/// as runc does; runc --no-pivot is run beside corral for comparison.
#[test]
fn no_pivot_leaves_no_fully_visible_procfs() {
    let mut env = Env::new(&["sh", "-c", FRESH_PROC]);
    // An unprivileged user may map its own uid in a user namespace of its
    // own (root of the container may not: that needs CAP_SETFCAP).
    env.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    let check = |who: &str, text: &str| {
        assert!(
            text.contains("CONTROL"),
            "{who}: the namespaces did not work: {text}"
        );
        assert!(text.contains("end"), "{who}: {text}");
        assert!(
            !text.contains("UNMASKED"),
            "{who}: the container mounted an unmasked procfs: {text}"
        );
    };
    let b = env.bundle.to_str().expect("utf8").to_string();
    for no_pivot in [false, true] {
        let id = env.id();
        let mut args = vec!["run"];
        if no_pivot {
            args.push("--no-pivot");
        }
        args.extend(["--bundle", &b, &id]);
        let o = env.corral(&args);
        assert!(o.status.success(), "{}", out(&o.stderr));
        check(&format!("corral (no_pivot {no_pivot})"), &out(&o.stdout));
        assert_nothing_left(&env, &id);
    }
    if integration::have("runc") {
        let o = std::process::Command::new("runc")
            .arg("--root")
            .arg(env.scratch.join("runc"))
            .args(["run", "--no-pivot", "--bundle", &b])
            .arg(integration::unique("runc"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run runc");
        println!("runc --no-pivot: {}", out(&o.stdout).trim());
        check("runc --no-pivot", &out(&o.stdout));
    }
}
