//! Escape classes of issue 17, each attacked the way the advisory describes:
//!
//! - a read-only bind whose target a co-tenant swaps for a symlink while
//!   the container is set up (the read-only flag must land on the bind);
//! - writes to /proc redirected by an over-mount of another procfs file
//!   (CVE-2025-52881's class): no config mount lands inside /proc;
//! - /dev entries swapped for symlinks during set-up (runc CVE-2026-41579),
//!   terminal set-up in an image-controlled /dev (crun CVE-2026-88264) and
//!   `/dev/null` reopened through an image symlink (CVE-2026-88265);
//! - `--no-pivot` leaving a fully visible procfs behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration::{assert_nothing_left, out, Env, Swapper};
use serde_json::json;

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
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if env.state(id)["status"] == "stopped" {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("container {id} did not stop within 30 s");
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

/// The new mount API's system calls: open_tree, move_mount, fsopen,
/// fsconfig, fsmount, fspick, mount_setattr, open_tree_attr (the same on
/// every architecture).
const NEW_MOUNT_API: [u32; 8] = [428, 429, 430, 431, 432, 433, 442, 467];

/// A seccomp program that answers ENOSYS to the new mount API, as on a
/// kernel older than 5.2 (the older-kernels tier's way).
fn deny_new_mount_api() -> Vec<libc::sock_filter> {
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let n = NEW_MOUNT_API.len() as u8;
    let mut prog = vec![
        stmt((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 4),
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 1,
            jf: 0,
            // This build's AUDIT_ARCH (the numbers are every ABI's).
            k: libcontainer::seccomp::native_audit_arch().expect("a seccomp architecture"),
        },
        stmt(
            (libc::BPF_RET | libc::BPF_K) as u16,
            libc::SECCOMP_RET_ALLOW,
        ),
        stmt((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, 0),
    ];
    for (i, nr) in NEW_MOUNT_API.iter().enumerate() {
        prog.push(libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: n - i as u8,
            jf: 0,
            k: *nr,
        });
    }
    prog.push(stmt(
        (libc::BPF_RET | libc::BPF_K) as u16,
        libc::SECCOMP_RET_ALLOW,
    ));
    prog.push(stmt(
        (libc::BPF_RET | libc::BPF_K) as u16,
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    ));
    prog
}

/// `corral --root ROOT args…` like [`Env::corral`], with the new mount API
/// denied (ENOSYS) when `old_api`: the fallbacks must keep the guarantees.
fn corral_with(env: &Env, args: &[&str], old_api: bool) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    if !old_api {
        return env.corral(args);
    }
    let err = env
        .scratch
        .join(format!(".err-old-{}", integration::unique("e")));
    let mut cmd = env.corral_cmd(args);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    let prog = deny_new_mount_api();
    // SAFETY: between fork and exec the closure makes two prctl calls on
    // data built before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &fprog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().expect("run corral");
    let stderr = std::fs::read(&err).unwrap_or_default();
    let _ = std::fs::remove_file(&err);
    std::process::Output {
        status,
        stdout: Vec::new(),
        stderr,
    }
}

/// Item 2: "ro" binds of host volumes stay read-only while a co-tenant
/// flips their targets in the rootfs between the directory and a symlink
/// to a writable mount (a tmpfs at /rw) in a tight loop. Old code bound the
/// volume, then looked the target up again to remount it read-only: when
/// the lookup met the symlink the tmpfs became read-only and the volume
/// stayed writable. After every create: every mount of the volume in the
/// container is "ro", the container's `touch` into it fails, and the host
/// volume stays empty.
#[test]
fn ro_bind_stays_readonly_while_its_target_is_swapped() {
    ro_bind_race(false);
}

/// The same race with the new mount API denied (ENOSYS): the staged bind
/// of the fallback keeps the guarantee.
#[test]
fn ro_bind_stays_readonly_while_its_target_is_swapped_without_the_new_mount_api() {
    ro_bind_race(true);
}

fn ro_bind_race(old_api: bool) {
    // Eight "ro" volumes, each target swapped: eight chances per create for
    // the vulnerable code to lose.
    const N: usize = 8;
    let mut env = Env::new(&[
        "sh",
        "-c",
        "for d in /vol* /rw; do touch $d/written 2>/dev/null; done; true",
    ]);
    let rootfs = env.private_rootfs();
    let vols: Vec<PathBuf> = (0..N)
        .map(|i| env.scratch.join(format!("vol{i}")))
        .collect();
    for (i, vol) in vols.iter().enumerate() {
        std::fs::create_dir(vol).expect("vol");
        std::fs::create_dir(rootfs.join(format!("vol{i}"))).expect("vol target");
        std::os::unix::fs::symlink("/rw", rootfs.join(format!("vol{i}-evil"))).expect("symlink");
    }
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(json!({"destination": "/rw", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
        for (i, vol) in vols.iter().enumerate() {
            m.push(json!({"destination": format!("/vol{i}"), "type": "bind", "source": vol, "options": ["bind", "ro"]}));
        }
    });
    let swapper = Swapper::start(
        (0..N)
            .map(|i| {
                (
                    rootfs.join(format!("vol{i}")),
                    rootfs.join(format!("vol{i}-evil")),
                )
            })
            .collect(),
    );
    let (mut made, mut refused, mut tries) = (0, Vec::new(), 0);
    let end = Instant::now() + Duration::from_secs(10);
    while tries < 80 && Instant::now() < end {
        tries += 1;
        let id = env.id();
        let b = env.bundle.clone();
        let o = corral_with(
            &env,
            &["create", "--bundle", b.to_str().expect("utf8"), &id],
            old_api,
        );
        if !o.status.success() {
            refused.push(out(&o.stderr));
            assert_nothing_left(&env, &id);
            continue;
        }
        made += 1;
        let pid = env.state(&id)["pid"].to_string();
        let info = mountinfo(&pid);
        for vol in &vols {
            let vol_s = vol.display().to_string();
            let name = format!("/{}", vol.file_name().expect("name").to_string_lossy());
            let mounts: Vec<&Vec<String>> = info
                .iter()
                .filter(|f| f.len() > 5 && f[3].ends_with(&name) && vol_s.ends_with(&f[3]))
                .collect();
            assert!(!mounts.is_empty(), "create {tries}: {vol_s} is not mounted");
            for f in mounts {
                assert!(
                    f[5].split(',').any(|o| o == "ro"),
                    "create {tries}: the \"ro\" volume {vol_s} is mounted writable at {}: {f:?}",
                    f[4]
                );
            }
        }
        assert!(env.corral(&["start", &id]).status.success());
        wait_stopped(&env, &id);
        assert!(env.corral(&["delete", "--force", &id]).status.success());
        assert_nothing_left(&env, &id);
        for vol in &vols {
            assert!(
                entries(vol).is_empty(),
                "create {tries}: the container wrote into the read-only volume {vol:?}: {:?}",
                entries(vol)
            );
        }
    }
    let swaps = swapper.finish();
    println!(
        "old_api {old_api}: {tries} creates under {swaps} swaps of {N} ro binds' targets: {made} made, {} refused",
        refused.len()
    );
    for e in refused.iter().take(3) {
        println!("  refused: {}", e.trim());
    }
    // A create refused by name is a right answer under the race; some must
    // still succeed, or the mounts under attack were never checked.
    assert!(made >= 5, "only {made} creates succeeded: {refused:?}");
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

/// Item 5 (CVE-2025-52881's class) closed at the config: a mount of the
/// config over a file under /proc redirects what corral writes there — a
/// host procfs file bound over a sysctl (`kernel.hostname` over
/// `kernel.domainname`, with `linux.sysctl` setting the domain: the old
/// check wrote the domain into the hostname), over `oom_score_adj` (the old
/// code named the init "123"), or a directory bound over the init's
/// `fdinfo` (which the mount-id check reads on kernels without
/// `statx(STATX_MNT_ID)`, so the fallback could be fed any answer). As
/// runc's checkProcMount does, nothing is mounted inside /proc but the
/// files lxcfs emulates: each is refused by field and path before anything
/// is made, with and without a user namespace, with and without the new
/// mount API. What still reaches the procfs write path (an over-mount made
/// some other way) is refused by procfile's own check, unit-tested there.
#[test]
fn a_config_mount_inside_proc_is_refused() {
    for (userns, old_api) in [(false, false), (true, false), (false, true), (true, true)] {
        for dest in [
            "/proc/sys/kernel/domainname",
            "/proc/self/oom_score_adj",
            "/proc/self/fdinfo",
        ] {
            let args = ["sleep", "100"];
            let mut env = if userns {
                Env::userns(&args)
            } else {
                Env::new(&args)
            };
            let fake = env.scratch.join("fake-fdinfo");
            std::fs::create_dir_all(&fake).expect("mkdir");
            let source = match dest {
                "/proc/self/fdinfo" => fake.to_string_lossy().into_owned(),
                "/proc/self/oom_score_adj" => "/proc/self/comm".into(),
                _ => "/proc/sys/kernel/hostname".into(),
            };
            env.edit(|c| {
                c["linux"]["sysctl"] = json!({"kernel.domainname": "written-domain"});
                c["process"]["oomScoreAdj"] = json!(123);
                let m = c["mounts"].as_array_mut().expect("mounts");
                m.push(json!({
                    "destination": dest, "type": "bind", "source": source, "options": ["bind"]
                }));
            });
            let n = env.config["mounts"].as_array().expect("mounts").len() - 1;
            let id = env.id();
            let b = env.bundle.clone();
            let o = corral_with(
                &env,
                &["create", "--bundle", b.to_str().expect("utf8"), &id],
                old_api,
            );
            let err = integration::error_message(&out(&o.stderr));
            let what = format!("userns {userns} old_api {old_api} {dest}");
            assert_eq!(o.status.code(), Some(1), "{what}: {err}");
            assert!(
                err.contains(&format!("mounts[{n}].destination"))
                    && err.contains(dest)
                    && err.contains("inside /proc"),
                "{what}: refused for another reason: {err}"
            );
            assert_nothing_left(&env, &id);
        }
    }
}

/// A cgroup mount of the config at a path an image symlink sends into
/// `/proc` (`/cg` → `/proc/sys/kernel`): the outside review of 2026-12-02
/// put a tmpfs with every host hierarchy over `/proc/sys/kernel` this way,
/// the cgroup mount having skipped the mount-time check. Refused, for v1's
/// tmpfs of hierarchies and for cgroup2.
#[test]
fn a_cgroup_mount_through_an_image_symlink_into_proc_is_refused() {
    for typ in ["cgroup", "cgroup2"] {
        let mut env = Env::new(&["sleep", "100"]);
        let rootfs = env.private_rootfs();
        std::os::unix::fs::symlink("/proc/sys/kernel", rootfs.join("cg")).expect("symlink");
        env.edit(|c| {
            let m = c["mounts"].as_array_mut().expect("mounts");
            m.push(json!({
                "destination": "/cg",
                "type": typ,
                "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            }));
        });
        let id = env.id();
        let b = env.bundle.clone();
        let o = env.corral(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
        let err = integration::error_message(&out(&o.stderr));
        assert_eq!(o.status.code(), Some(1), "{typ}: {err}");
        assert!(
            err.contains("\"/cg\"") && err.contains("resolves into the container's /proc"),
            "{typ}: refused for another reason: {err}"
        );
        assert_nothing_left(&env, &id);
    }
}

/// The same mount reached through the image: a symlink of the image
/// (`/etc/kern` → `/proc/sys/kernel`) makes `/etc/kern/domainname`, a
/// destination outside /proc by name, resolve into the container's procfs.
/// It is refused when it is mounted, by where it resolved.
#[test]
fn an_image_symlink_into_proc_is_refused_when_mounting() {
    for old_api in [false, true] {
        let mut env = Env::new(&["sleep", "100"]);
        let rootfs = env.private_rootfs();
        std::os::unix::fs::symlink("/proc/sys/kernel", rootfs.join("etc/kern")).expect("symlink");
        env.edit(|c| {
            c["hostname"] = json!("good-host");
            c["linux"]["sysctl"] = json!({"kernel.domainname": "written-domain"});
            let m = c["mounts"].as_array_mut().expect("mounts");
            m.push(json!({
                "destination": "/etc/kern/domainname",
                "type": "bind",
                "source": "/proc/sys/kernel/hostname",
                "options": ["bind"]
            }));
        });
        let id = env.id();
        let b = env.bundle.clone();
        let o = corral_with(
            &env,
            &["create", "--bundle", b.to_str().expect("utf8"), &id],
            old_api,
        );
        let err = integration::error_message(&out(&o.stderr));
        assert_eq!(o.status.code(), Some(1), "old_api {old_api}: {err}");
        assert!(
            err.contains("/etc/kern/domainname")
                && err.contains("resolves into the container's /proc"),
            "old_api {old_api}: refused for another reason: {err}"
        );
        assert_nothing_left(&env, &id);
    }
}

/// What lxcfs does still works: a file bound over `/proc/meminfo` (one of
/// the files runc also allows) is what the container reads there.
#[test]
fn an_lxcfs_file_may_be_mounted_over_proc_meminfo() {
    let mut env = Env::new(&["cat", "/proc/meminfo"]);
    let fake = env.scratch.join("meminfo");
    std::fs::write(&fake, "MemTotal:       12345 kB\n").expect("write");
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(json!({
            "destination": "/proc/meminfo",
            "type": "bind",
            "source": fake,
            "options": ["bind", "ro"]
        }));
    });
    let stdout = env.run_ok();
    assert_eq!(stdout, "MemTotal:       12345 kB\n");
}

/// Item 8, runc CVE-2026-41579's class: `/dev` swapped for a symlink to a
/// host volume (a co-tenant's directory bound into the container) while
/// corral mounts /dev/pts, /dev/shm, /dev/mqueue and creates the device
/// nodes and the /dev symlinks. The old code looked `/dev` up again for
/// each of them after mounting the /dev tmpfs, so whenever the lookup met
/// the symlink they went into the host volume: device nodes, root-owned
/// and mode 0666, in a directory an unprivileged host user controls. Now
/// everything under /dev is resolved from the /dev tmpfs's own fd. After
/// every create the host volume is empty.
#[test]
fn dev_swapped_for_a_symlink_to_a_host_volume_during_creates() {
    dev_race(false);
}

/// The same race with the new mount API denied (ENOSYS): new file systems
/// are mounted with mount(2) and reopened, and must still not land in the
/// host volume.
#[test]
fn dev_swapped_for_a_symlink_to_a_host_volume_without_the_new_mount_api() {
    dev_race(true);
}

fn dev_race(old_api: bool) {
    let mut env = Env::new(&["true"]);
    let rootfs = env.private_rootfs();
    let vol = env.scratch.join("vol");
    std::fs::create_dir(&vol).expect("vol");
    std::fs::create_dir(rootfs.join("vol")).expect("vol target");
    std::fs::create_dir_all(rootfs.join("dev")).expect("dev");
    std::os::unix::fs::symlink("/vol", rootfs.join("dev-evil")).expect("symlink");
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.insert(
            0,
            json!({"destination": "/vol", "type": "bind", "source": vol, "options": ["rbind"]}),
        );
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}
        ]);
    });
    let swapper = Swapper::start(vec![(rootfs.join("dev"), rootfs.join("dev-evil"))]);
    let (mut made, mut refused, mut tries) = (0, Vec::new(), 0);
    // Until two creates got through the race (the swaps refuse most), at
    // most 60 tries or 30 s: how many win depends on the machine's load.
    let end = Instant::now() + Duration::from_secs(30);
    while tries < 60 && Instant::now() < end && !(made >= 2 && tries >= 18) {
        tries += 1;
        let id = env.id();
        let b = env.bundle.clone();
        let o = corral_with(
            &env,
            &["create", "--bundle", b.to_str().expect("utf8"), &id],
            old_api,
        );
        if o.status.success() {
            made += 1;
            assert!(env.corral(&["delete", "--force", &id]).status.success());
        } else {
            refused.push(out(&o.stderr));
        }
        assert_nothing_left(&env, &id);
        assert!(
            entries(&vol).is_empty(),
            "create {tries}: /dev set-up wrote into the host volume: {:?}",
            entries(&vol)
        );
    }
    let swaps = swapper.finish();
    println!(
        "old_api {old_api}: {tries} creates under {swaps} swaps of /dev: {made} made, {} refused",
        refused.len()
    );
    for e in refused.iter().take(3) {
        println!("  refused: {}", e.trim());
    }
    // Under the race most creates are refused by name (the masks find no
    // /dev/null); some must succeed, or the set-up was never attacked.
    assert!(made >= 1, "no create succeeded: {refused:?}");
    assert!(swaps > 1000, "only {swaps} swaps");
    // With the swapper stopped, the same bundle creates: the refusals above
    // were the race's, not the config's.
    let id = env.id();
    let b = env.bundle.clone();
    let o = corral_with(
        &env,
        &["create", "--bundle", b.to_str().expect("utf8"), &id],
        old_api,
    );
    assert!(
        o.status.success(),
        "create without the race: {}",
        out(&o.stderr)
    );
    assert!(env.corral(&["delete", "--force", &id]).status.success());
    assert_nothing_left(&env, &id);
    assert!(entries(&vol).is_empty(), "{:?}", entries(&vol));
}

/// The config's `/dev` mount removed: the image's own `/dev` is used.
fn without_dev_mount(c: &mut serde_json::Value) {
    let m = c["mounts"].as_array_mut().expect("mounts");
    m.retain(|m| m["destination"] != "/dev");
}

/// Item 8, crun CVE-2026-88264's class: no `/dev` mount in the config, a
/// terminal, and the image's `/dev/pts` a symlink to a host volume bound
/// into the container — with a writable and with a read-only root (the
/// case where a runtime falls back to another place for its terminal
/// files). The terminal set-up must not land in the volume: corral refuses
/// devpts on a symlinked target (the old code mounted the container's
/// devpts over the volume and allocated the console's pty there), and
/// nothing is created in the volume either way.
#[test]
fn terminal_setup_in_an_image_dev_stays_off_a_host_volume() {
    use std::os::fd::AsRawFd;
    for readonly in [false, true] {
        let mut env = Env::new(&["true"]);
        let rootfs = env.private_rootfs();
        let vol = env.scratch.join("hostpts");
        std::fs::create_dir(&vol).expect("vol");
        std::fs::create_dir(rootfs.join("hostpts")).expect("vol target");
        let pts = rootfs.join("dev/pts");
        std::fs::create_dir_all(rootfs.join("dev")).expect("dev");
        let _ = std::fs::remove_dir(&pts);
        let _ = std::fs::remove_file(&pts);
        std::os::unix::fs::symlink("/hostpts", &pts).expect("symlink");
        let _ = std::fs::remove_file(rootfs.join("dev/console"));
        env.edit(|c| {
            without_dev_mount(c);
            c["process"]["terminal"] = json!(true);
            c["root"]["readonly"] = json!(readonly);
            let m = c["mounts"].as_array_mut().expect("mounts");
            m.insert(
                0,
                json!({"destination": "/hostpts", "type": "bind", "source": vol, "options": ["rbind"]}),
            );
        });
        let sock = env.scratch.join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
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
        let err = out(&o.stderr);
        if o.status.success() {
            let (conn, _) = listener.accept().expect("console socket");
            let (_master, _) =
                libcontainer::tty::recv_fd(conn.as_raw_fd()).expect("receive pty master");
            let pid = env.state(&id)["pid"].to_string();
            let over_vol: Vec<Vec<String>> = mountinfo(&pid)
                .into_iter()
                .filter(|f| f.len() > 4 && f[4] == "/hostpts")
                .filter(|f| {
                    f.iter().skip_while(|x| *x != "-").nth(1) == Some(&"devpts".to_string())
                })
                .collect();
            assert!(env.corral(&["delete", "--force", &id]).status.success());
            assert!(
                over_vol.is_empty(),
                "readonly {readonly}: the terminal's devpts was mounted over the host volume: {over_vol:?}"
            );
        } else {
            println!("readonly {readonly}: refused: {}", err.trim());
            assert!(err.contains("is a symlink"), "readonly {readonly}: {err}");
        }
        assert_nothing_left(&env, &id);
        assert!(
            entries(&vol).is_empty(),
            "readonly {readonly}: terminal set-up wrote into the host volume: {:?}",
            entries(&vol)
        );
    }
}

/// Item 8, CVE-2026-88265's class: the image's `/dev/null` is a symlink to a
/// host file bound into the container (root's, 0644), with the image's own
/// `/dev` and with a `/dev` bound from a host directory, and the process
/// runs as uid 1000. A runtime that reopens `/dev/null` for stdio after
/// pivot_root and hands it to the user (fchown) would give the host file
/// to uid 1000. corral never reopens it for stdio (the stdio are the
/// caller's fds); the masks' /dev/null is opened with no symlink followed
/// and checked to be 1:3. The host file keeps its owner, mode and content.
#[test]
fn dev_null_symlink_to_a_host_file_is_never_chowned() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for bound_dev in [false, true] {
        let mut env = Env::new(&["sh", "-c", "echo x > /dev/null; ls -l /dev/null"]);
        let rootfs = env.private_rootfs();
        let host = env.scratch.join("hostfile");
        std::fs::write(&host, "host").expect("host file");
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::write(rootfs.join("hostfile"), "").expect("bind target");
        let dev = if bound_dev {
            let d = env.scratch.join("dev");
            std::fs::create_dir(&d).expect("dev");
            d
        } else {
            rootfs.join("dev")
        };
        let _ = std::fs::remove_file(dev.join("null"));
        std::os::unix::fs::symlink("/hostfile", dev.join("null")).expect("symlink");
        env.edit(|c| {
            without_dev_mount(c);
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            let m = c["mounts"].as_array_mut().expect("mounts");
            m.insert(
                0,
                json!({"destination": "/hostfile", "type": "bind", "source": host, "options": ["bind"]}),
            );
            if bound_dev {
                m.retain(|m| !m["destination"].as_str().unwrap_or("").starts_with("/dev/"));
                m.push(json!({"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]}));
            }
        });
        let (code, o, e) = env.run();
        println!(
            "bound /dev {bound_dev}: exit {code}: {} {}",
            o.trim(),
            e.trim()
        );
        let md = std::fs::metadata(&host).expect("host file");
        assert_eq!(
            (md.uid(), md.gid(), md.mode() & 0o7777),
            (0, 0, 0o644),
            "bound /dev {bound_dev}: the host file behind /dev/null changed owner or mode"
        );
        assert_eq!(std::fs::read_to_string(&host).expect("host file"), "host");
        if code == 0 {
            // The container's /dev/null was the null device, not the file.
            assert!(o.starts_with("crw"), "bound /dev {bound_dev}: {o}");
        } else {
            assert!(e.contains("/dev/null"), "bound /dev {bound_dev}: {e}");
        }
    }
}

/// Item 8, terminal set-up under a racing co-tenant: `/dev` (the image's
/// directory that corral's /dev tmpfs goes on) and `/vol` (the directory a
/// host volume is bound on) exchanged in a tight loop during terminal
/// creates. /dev/console and the pty must come from corral's own /dev and
/// devpts: nothing of the terminal set-up is created in the host volume.
#[test]
fn terminal_setup_while_dev_is_exchanged_with_a_volume() {
    use std::os::fd::AsRawFd;
    let mut env = Env::new(&["true"]);
    let rootfs = env.private_rootfs();
    let vol = env.scratch.join("vol");
    std::fs::create_dir(&vol).expect("vol");
    std::fs::create_dir(rootfs.join("vol")).expect("vol target");
    std::fs::create_dir_all(rootfs.join("dev")).expect("dev");
    env.edit(|c| {
        c["process"]["terminal"] = json!(true);
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.insert(
            0,
            json!({"destination": "/vol", "type": "bind", "source": vol, "options": ["rbind"]}),
        );
    });
    let sock = env.scratch.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let swapper = Swapper::start(vec![(rootfs.join("dev"), rootfs.join("vol"))]);
    let (mut made, mut refused, mut tries) = (0, Vec::new(), 0);
    // Until two creates got through the race (the swaps refuse most), at
    // most 60 tries or 30 s: how many win depends on the machine's load.
    let end = Instant::now() + Duration::from_secs(30);
    while tries < 60 && Instant::now() < end && !(made >= 2 && tries >= 18) {
        tries += 1;
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
        if o.status.success() {
            made += 1;
            let (conn, _) = listener.accept().expect("console socket");
            let (_master, _) =
                libcontainer::tty::recv_fd(conn.as_raw_fd()).expect("receive pty master");
            assert!(env.corral(&["delete", "--force", &id]).status.success());
        } else {
            refused.push(out(&o.stderr));
            while listener.accept().is_ok() {}
        }
        assert_nothing_left(&env, &id);
        assert!(
            entries(&vol).is_empty(),
            "create {tries}: terminal or /dev set-up wrote into the host volume: {:?}",
            entries(&vol)
        );
    }
    let swaps = swapper.finish();
    println!(
        "{tries} terminal creates under {swaps} exchanges of /dev and /vol: {made} made, {} refused",
        refused.len()
    );
    for e in refused.iter().take(3) {
        println!("  refused: {}", e.trim());
    }
    assert!(made >= 2, "only {made} creates succeeded: {refused:?}");
    assert!(swaps > 1000, "only {swaps} swaps");
}
