//! Escape classes that need a race: a process swaps parts of the rootfs
//! for symlinks while corral creates containers from it.
//!
//! - Mount targets swapped for symlinks (CVE-2021-30465, crun
//!   CVE-2019-18837) and racing directory creation (CVE-2024-45310): 100
//!   creates while `/data` flips between a directory and symlinks to host
//!   paths; no file or directory appears on the host outside the rootfs,
//!   and every mount lands inside it.
//! - `/dev/console` swapped for a symlink (CVE-2025-52565): creates with a
//!   terminal either bind the real pty on `/dev/console` or fail with an
//!   error naming it; the host file the symlink names is never touched.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use integration::{assert_nothing_left, out, Env, Swapper};
use serde_json::json;

/// Every path under `dir` (relative), sorted, skipping `skip`.
fn listing(dir: &Path, skip: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p == skip
                || p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".out"))
            {
                continue;
            }
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".err"))
            {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.push(p.strip_prefix(dir).map(Path::to_path_buf).unwrap_or(p));
        }
    }
    out.sort();
    out
}

/// (mount point, fs type) in `pid`'s mount namespace, as it sees them.
fn mount_points(pid: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dash = f.iter().position(|x| *x == "-")?;
            Some((f[4].to_string(), f.get(dash + 1).unwrap_or(&"").to_string()))
        })
        .collect()
}

#[test]
fn mount_targets_swapped_for_symlinks_during_100_creates() {
    let mut env = Env::new(&["true"]);
    let rootfs = env.private_rootfs();
    // Host paths the symlinks aim at: one that exists (must stay empty) and
    // one that does not (must not come to exist).
    let outside = env.scratch.join("outside");
    std::fs::create_dir(&outside).expect("outside");
    let ghost = PathBuf::from(format!("/tmp/{}", integration::unique("corral-race-ghost")));
    let src = env.scratch.join("src");
    std::fs::create_dir(&src).expect("src");
    std::fs::write(src.join("marker"), "m").expect("marker");
    std::fs::create_dir_all(rootfs.join("data")).expect("data");
    std::os::unix::fs::symlink(&outside, rootfs.join("data-abs")).expect("symlink");
    let up = "../".repeat(20);
    let rel = format!(
        "{up}{}",
        ghost.display().to_string().trim_start_matches('/')
    );
    std::os::unix::fs::symlink(&rel, rootfs.join("data-rel")).expect("symlink");
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(json!({"destination": "/data/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=123k"]}));
        m.push(json!({"destination": "/data/b/c/d", "type": "bind", "source": src, "options": ["rbind"]}));
        m.push(json!({"destination": "/data/f", "type": "bind", "source": src.join("marker"), "options": ["bind"]}));
    });
    let host_before = listing(&env.scratch, &rootfs);
    let slash_before = listing(Path::new("/"), Path::new("/proc"))
        .into_iter()
        .filter(|p| p.components().count() == 1)
        .collect::<Vec<_>>();
    let swapper = Swapper::start(vec![
        (rootfs.join("data"), rootfs.join("data-abs")),
        (rootfs.join("data"), rootfs.join("data-rel")),
    ]);
    let (mut made, mut refused) = (0, Vec::new());
    for _ in 0..100 {
        let id = env.id();
        let b = env.bundle.clone();
        let o = env.corral(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
        if o.status.success() {
            made += 1;
            let pid = env.state(&id)["pid"].to_string();
            let points = mount_points(&pid);
            // Both mounts are in the container's table: they landed inside
            // its root (a mount made outside it went with the old root).
            assert!(
                points
                    .iter()
                    .any(|(p, fs)| p.ends_with("/t") && fs == "tmpfs"),
                "{points:?}"
            );
            assert!(points.iter().any(|(p, _)| p.ends_with("/d")), "{points:?}");
            assert!(env.corral(&["delete", "--force", &id]).status.success());
        } else {
            refused.push(out(&o.stderr));
        }
        assert_nothing_left(&env, &id);
        assert_eq!(std::fs::read_dir(&outside).expect("outside").count(), 0);
        assert!(
            !ghost.exists(),
            "{} was created on the host",
            ghost.display()
        );
    }
    let swaps = swapper.finish();
    println!(
        "100 creates under {swaps} symlink swaps: {made} made, {} refused",
        refused.len()
    );
    for e in refused.iter().take(3) {
        println!("  refused: {}", e.trim());
    }
    assert_eq!(
        listing(&env.scratch, &rootfs),
        host_before,
        "new files on the host"
    );
    let slash_after = listing(Path::new("/"), Path::new("/proc"))
        .into_iter()
        .filter(|p| p.components().count() == 1)
        .collect::<Vec<_>>();
    assert_eq!(slash_after, slash_before);
    // The race was run: creates went through while the swaps happened.
    assert!(made >= 10, "only {made} creates succeeded: {refused:?}");
    assert!(swaps > 1000, "only {swaps} swaps");
}

/// Creates with a terminal; each one's console socket gets the master.
fn create_with_console(env: &mut Env, sock: &Path) -> (String, std::process::Output) {
    let id = env.id();
    let b = env.bundle.clone();
    let o = env.corral(&[
        "create",
        "--console-socket",
        sock.to_str().expect("utf8"),
        "--bundle",
        b.to_str().expect("utf8"),
        &id,
    ]);
    (id, o)
}

/// The config's `/dev` tmpfs removed: the image's own `/dev` is used, as a
/// malicious image would want.
fn image_dev(env: &mut Env) {
    env.edit(|c| {
        c["process"]["terminal"] = json!(true);
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.retain(|m| m["destination"] != "/dev");
    });
}

#[test]
fn dev_console_symlink_is_refused() {
    let mut env = Env::new(&["true"]);
    let rootfs = env.private_rootfs();
    image_dev(&mut env);
    let host_file = env.scratch.join("host-console");
    std::fs::write(&host_file, "host").expect("host file");
    std::fs::create_dir_all(rootfs.join("dev")).expect("dev");
    let _ = std::fs::remove_file(rootfs.join("dev/console"));
    std::os::unix::fs::symlink(&host_file, rootfs.join("dev/console")).expect("symlink");
    let sock = env.scratch.join("console.sock");
    let _listener = UnixListener::bind(&sock).expect("bind");
    let (id, o) = create_with_console(&mut env, &sock);
    let err = out(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/dev/console in the rootfs is a symlink"),
        "{err}"
    );
    assert_nothing_left(&env, &id);
    assert_eq!(
        std::fs::read_to_string(&host_file).expect("host file"),
        "host"
    );
    // And the same symlink aimed at procfs inside the container.
    std::fs::remove_file(rootfs.join("dev/console")).expect("rm");
    std::os::unix::fs::symlink("/proc/sysrq-trigger", rootfs.join("dev/console")).expect("symlink");
    let (id, o) = create_with_console(&mut env, &sock);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o.stderr));
    assert_nothing_left(&env, &id);
}

#[test]
fn dev_console_swapped_for_a_symlink_during_creates() {
    let mut env = Env::new(&["true"]);
    let rootfs = env.private_rootfs();
    image_dev(&mut env);
    let host_file = env.scratch.join("host-console");
    std::fs::write(&host_file, "host").expect("host file");
    let dev = rootfs.join("dev");
    std::fs::create_dir_all(&dev).expect("dev");
    let _ = std::fs::remove_file(dev.join("console"));
    std::fs::write(dev.join("console"), "").expect("console file");
    std::os::unix::fs::symlink(&host_file, dev.join("console-evil")).expect("symlink");
    let sock = env.scratch.join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let swapper = Swapper::start(vec![(dev.join("console"), dev.join("console-evil"))]);
    let (mut made, mut refused) = (0, 0);
    for _ in 0..50 {
        let (id, o) = create_with_console(&mut env, &sock);
        if o.status.success() {
            made += 1;
            let (conn, _) = listener.accept().expect("console socket");
            let (_master, name) =
                libcontainer::tty::recv_fd(conn.as_raw_fd()).expect("receive pty master");
            assert_eq!(name, "/dev/ptmx");
            let pid = env.state(&id)["pid"].to_string();
            let points = mount_points(&pid);
            // The pty is bound on the console file. (The swapper may have
            // renamed that file since: the mount moves with it.)
            assert!(
                points
                    .iter()
                    .any(|(p, fs)| p.starts_with("/dev/console") && fs == "devpts"),
                "{points:?}"
            );
            assert!(
                !points.iter().any(|(p, _)| p.contains("host-console")),
                "{points:?}"
            );
            assert!(env.corral(&["delete", "--force", &id]).status.success());
        } else {
            let err = out(&o.stderr);
            assert!(err.contains("/dev/console in the rootfs is"), "{err}");
            refused += 1;
            // The refused create had connected already: drop its connection.
            while listener.accept().is_ok() {}
        }
        assert_nothing_left(&env, &id);
        assert_eq!(
            std::fs::read_to_string(&host_file).expect("host file"),
            "host"
        );
    }
    let swaps = swapper.finish();
    println!(
        "50 terminal creates under {swaps} swaps of /dev/console: {made} made, {refused} refused"
    );
    // The race was run both ways.
    assert!(made > 0 && swaps > 100, "made {made}, swaps {swaps}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(host_file.to_str().expect("utf8")));
}
