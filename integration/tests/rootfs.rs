//! The root file system: each mount type and option, propagation, readonly
//! root, devices, masked and readonly paths, sysctl, hostname, --no-pivot,
//! and symlinks in the image that try to send a mount outside the rootfs.

use integration::{out, Env};
use serde_json::{json, Value};

fn add_mounts(env: &mut Env, mounts: Value) {
    env.edit(|c| {
        let list = c["mounts"].as_array_mut().expect("mounts");
        list.extend(mounts.as_array().expect("array").iter().cloned());
    });
}

/// The mount options of `dest` in the container's /proc/self/mounts output.
fn opts_of<'a>(mounts: &'a str, dest: &str) -> &'a str {
    mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(dest))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap_or_else(|| panic!("{dest} not mounted in:\n{mounts}"))
}

#[test]
fn mount_types_and_options() {
    let mut env = Env::new(&["cat", "/proc/self/mounts"]);
    let src = env.scratch.join("src");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    std::fs::write(src.join("file"), "data").expect("write");
    let file = env.scratch.join("single");
    std::fs::write(&file, "one file").expect("write");
    add_mounts(
        &mut env,
        json!([
            {"destination": "/mnt/bind", "type": "bind", "source": src, "options": ["bind", "ro", "nosuid"]},
            {"destination": "/mnt/rbind", "type": "none", "source": src, "options": ["rbind", "rw", "noexec"]},
            {"destination": "/mnt/file", "type": "bind", "source": file, "options": ["bind", "ro"]},
            {"destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "noatime", "size=1m", "mode=700"]},
            {"destination": "/mnt/sync", "type": "tmpfs", "source": "tmpfs", "options": ["sync", "dirsync"]},
        ]),
    );
    let m = env.run_ok();
    let bind = opts_of(&m, "/mnt/bind");
    assert!(bind.starts_with("ro,") && bind.contains("nosuid"), "{bind}");
    let rbind = opts_of(&m, "/mnt/rbind");
    assert!(
        rbind.starts_with("rw,") && rbind.contains("noexec"),
        "{rbind}"
    );
    assert!(opts_of(&m, "/mnt/file").starts_with("ro,"));
    let t = opts_of(&m, "/mnt/tmp");
    for o in ["nodev", "noatime", "size=1024k", "mode=700"] {
        assert!(t.contains(o), "{o} missing in {t}");
    }
    let s = opts_of(&m, "/mnt/sync");
    assert!(s.contains("sync") && s.contains("dirsync"), "{s}");
    // The fixture's own mounts.
    assert!(opts_of(&m, "/proc").starts_with("rw"));
    assert!(opts_of(&m, "/sys").starts_with("ro,"));
    assert!(opts_of(&m, "/dev/pts").contains("ptmxmode=666"));
    assert!(opts_of(&m, "/dev/shm").contains("size=65536k"));
    assert!(opts_of(&m, "/dev/mqueue").contains("nodev"));
    assert!(opts_of(&m, "/sys/fs/cgroup").starts_with("ro,"));
}

#[test]
fn mount_options_are_enforced() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "cat /mnt/file; echo x > /mnt/bind/new && echo wrote-ro; echo y > /mnt/rw/new && echo wrote-rw; \
         cp /bin/busybox /mnt/noexec/bb && /mnt/noexec/bb true && echo exec-ok; ls /mnt/rbind/sub",
    ]);
    let src = env.scratch.join("src");
    std::fs::create_dir_all(src.join("inner")).expect("mkdir");
    let rw = env.scratch.join("rw");
    std::fs::create_dir_all(&rw).expect("mkdir");
    let file = env.scratch.join("single");
    std::fs::write(&file, "one file\n").expect("write");
    // A mount under the rbind source shows up only through rbind.
    let sub = env.scratch.join("src/sub");
    std::fs::create_dir_all(&sub).expect("mkdir");
    add_mounts(
        &mut env,
        json!([
            {"destination": "/mnt/bind", "type": "bind", "source": src, "options": ["bind", "ro"]},
            {"destination": "/mnt/rw", "type": "bind", "source": rw, "options": ["bind"]},
            {"destination": "/mnt/file", "type": "bind", "source": file, "options": ["rbind", "ro"]},
            {"destination": "/mnt/noexec", "type": "tmpfs", "source": "tmpfs", "options": ["noexec"]},
            {"destination": "/mnt/rbind", "type": "bind", "source": src, "options": ["rbind"]},
        ]),
    );
    let (_, o, e) = env.run();
    assert!(o.contains("one file"), "{o} {e}");
    assert!(!o.contains("wrote-ro"), "wrote through a ro bind: {o}");
    assert!(e.contains("Read-only file system"), "{e}");
    assert!(o.contains("wrote-rw"), "{o}");
    assert_eq!(
        std::fs::read_to_string(rw.join("new")).expect("host sees write"),
        "y\n"
    );
    assert!(!o.contains("exec-ok"), "exec on noexec: {o}");
    assert!(e.contains("Permission denied"), "{e}");
}

#[test]
fn propagation_flags() {
    let mut env = Env::new(&["cat", "/proc/self/mountinfo"]);
    let src = env.scratch.join("p");
    std::fs::create_dir_all(&src).expect("mkdir");
    add_mounts(
        &mut env,
        json!([
            {"destination": "/mnt/shared", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]},
            {"destination": "/mnt/private", "type": "tmpfs", "source": "tmpfs", "options": ["rprivate"]},
            {"destination": "/mnt/unbindable", "type": "tmpfs", "source": "tmpfs", "options": ["unbindable"]},
        ]),
    );
    let m = env.run_ok();
    let line = |dest: &str| {
        m.lines()
            .find(|l| l.split_whitespace().nth(4) == Some(dest))
            .unwrap_or_else(|| panic!("{dest} missing:\n{m}"))
            .to_string()
    };
    assert!(
        line("/mnt/shared").contains(" shared:"),
        "{}",
        line("/mnt/shared")
    );
    let p = line("/mnt/private");
    assert!(!p.contains("shared:") && !p.contains("master:"), "{p}");
    assert!(
        line("/mnt/unbindable").contains("unbindable"),
        "{}",
        line("/mnt/unbindable")
    );
}

#[test]
fn rootfs_propagation_and_readonly_root() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "awk '$5 == \"/\"' /proc/self/mountinfo; touch /probe 2>&1 || echo ro-ok",
    ]);
    env.edit(|c| c["linux"]["rootfsPropagation"] = json!("rshared"));
    let o = env.run_ok();
    assert!(o.contains("shared:"), "{o}");
    assert!(o.contains("ro-ok"), "{o}");
    assert!(
        o.split_whitespace()
            .nth(5)
            .is_some_and(|opts| opts.starts_with("ro")),
        "{o}"
    );
}

#[test]
fn writable_root_when_not_readonly() {
    let probe = format!("probe-{}", integration::unique("w"));
    let mut env = Env::new(&["sh", "-c", &format!("touch /tmp/{probe} && echo rw-ok")]);
    env.edit(|c| c["root"]["readonly"] = json!(false));
    let o = env.run_ok();
    assert!(o.contains("rw-ok"));
    let host = std::path::Path::new(env.config["root"]["path"].as_str().expect("path"))
        .join("tmp")
        .join(&probe);
    assert!(host.exists());
    std::fs::remove_file(host).expect("cleanup");
}

#[test]
fn dev_has_default_and_configured_devices() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "ls -ln /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/fuse /dev/net/tun | \
         awk '{print $1, $3, $4, $5, $6, $NF}'; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; \
         echo hi > /dev/null && head -c 4 /dev/zero | wc -c; ls /dev/pts; ls -d /dev/shm /dev/mqueue",
    ]);
    env.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384, "uid": 1, "gid": 2},
            {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 438, "uid": 0, "gid": 0},
        ]);
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        ]);
    });
    let o = env.run_ok();
    for want in [
        "crw-rw-rw- 0 0 1, 3 /dev/null",
        "crw-rw-rw- 0 0 1, 5 /dev/zero",
        "crw-rw-rw- 0 0 1, 7 /dev/full",
        "crw-rw-rw- 0 0 1, 8 /dev/random",
        "crw-rw-rw- 0 0 1, 9 /dev/urandom",
        "crw-rw-rw- 0 0 5, 0 /dev/tty",
        "crw------- 1 2 10, 229 /dev/fuse",
        "crw-rw-rw- 0 0 10, 200 /dev/net/tun",
        "/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\npts/ptmx",
        "/dev/shm",
        "/dev/mqueue",
    ] {
        assert!(o.contains(want), "missing {want:?} in:\n{o}");
    }
    assert!(o.contains("\n4\n"), "{o}");
}

#[test]
fn device_cgroup_denies_what_is_not_allowed() {
    // /dev/sda-like block device node made, but the cgroup denies access.
    let mut env = Env::new(&[
        "sh",
        "-c",
        "head -c 1 /dev/loopx > /dev/null 2>&1 && echo read-ok || echo denied",
    ]);
    env.edit(|c| {
        c["linux"]["devices"] =
            json!([{"path": "/dev/loopx", "type": "b", "major": 7, "minor": 0, "fileMode": 432}]);
    });
    assert_eq!(env.run_ok().trim(), "denied");
}

#[test]
fn masked_and_readonly_paths() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/vm/drop_caches 2>&1 || echo sys-ro; \
         cat /proc/self/mounts | grep -c ' /proc/sys proc ro'",
    ]);
    env.edit(|c| {
        let mp = c["linux"]["maskedPaths"].as_array_mut().expect("masked");
        mp.push(json!("/etc/hostname"));
        mp.push(json!("/does/not/exist"));
    });
    env.edit(|c| {
        c["process"]["args"][2] = json!(format!(
            "{}; cat /etc/hostname | wc -c",
            c["process"]["args"][2].as_str().expect("s")
        ))
    });
    let o = env.run_ok();
    let lines: Vec<&str> = o.lines().collect();
    assert!(
        std::fs::metadata("/proc/timer_list").is_ok() && std::fs::read_dir("/sys/firmware").is_ok()
    );
    assert_eq!(
        lines[0].trim(),
        "0",
        "masked /proc/timer_list must read empty: {o}"
    );
    assert_eq!(
        lines[1].trim(),
        "0",
        "masked /sys/firmware must be empty: {o}"
    );
    assert!(o.contains("sys-ro"), "{o}");
    assert_eq!(lines[3].trim(), "1", "{o}");
    assert_eq!(lines[4].trim(), "0", "masked file reads empty: {o}");
}

#[test]
fn sysctl_hostname_domainname() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni; hostname; cat /proc/sys/kernel/domainname",
    ]);
    env.edit(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
        c["hostname"] = json!("box1");
        c["domainname"] = json!("example.test");
        // /proc/sys must be writable for sysctl: runc writes before it is made readonly.
    });
    let o = env.run_ok();
    assert_eq!(
        o.lines().collect::<Vec<_>>(),
        ["1", "1234", "box1", "example.test"],
        "{o}"
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/shmmni").expect("host");
    assert_ne!(host.trim(), "1234", "the host's value must not change");
}

#[test]
fn no_pivot() {
    let mut env = Env::new(&[
        "sh",
        "-c",
        "ls / | grep -c busybox; cat /proc/self/mounts | wc -l",
    ]);
    let id = env.id();
    let b = env.bundle.to_str().expect("utf8").to_string();
    let o = env.corral(&["run", "--no-pivot", "--bundle", &b, &id]);
    assert!(o.status.success(), "{}", out(&o.stderr));
    let text = out(&o.stdout);
    assert_eq!(text.lines().next(), Some("0"), "{text}");
}

#[test]
fn symlinks_in_the_image_cannot_escape() {
    let env0 = Env::new(&["true"]);
    let rootfs = std::path::PathBuf::from(env0.config["root"]["path"].as_str().expect("path"));
    let name = integration::unique("evil");
    let host_target = std::path::PathBuf::from("/tmp").join(format!("{name}-host"));
    let _ = std::fs::remove_dir_all(&host_target);
    // Absolute and relative symlinks that point outside the rootfs.
    std::os::unix::fs::symlink(&host_target, rootfs.join(&name)).expect("symlink");
    std::os::unix::fs::symlink("../../../../../../..", rootfs.join(format!("{name}-up")))
        .expect("symlink");
    let mut env = Env::new(&[
        "sh",
        "-c",
        &format!("grep {name} /proc/self/mounts | awk '{{print $2}}'"),
    ]);
    add_mounts(
        &mut env,
        json!([
            {"destination": format!("/{name}/sub"), "type": "tmpfs", "source": "tmpfs"},
            {"destination": format!("/{name}-up/tmp/{name}-up-host"), "type": "tmpfs", "source": "tmpfs"},
        ]),
    );
    let (code, o, e) = env.run();
    let _ = std::fs::remove_file(rootfs.join(&name));
    let _ = std::fs::remove_file(rootfs.join(format!("{name}-up")));
    let inside = rootfs.join(host_target.strip_prefix("/").expect("abs"));
    let _ = std::fs::remove_dir_all(&inside);
    let _ = std::fs::remove_dir_all(rootfs.join("tmp").join(format!("{name}-up-host")));
    assert_eq!(code, 0, "{o} {e}");
    assert!(
        !host_target.exists(),
        "a mount target was created on the host: {host_target:?}"
    );
    assert!(!std::path::Path::new(&format!("/tmp/{name}-up-host")).exists());
    assert_eq!(
        o.lines().count(),
        2,
        "both mounts land inside the rootfs: {o}"
    );
}

/// Without mount_setattr (Linux < 5.12, or a seccomp profile that denies
/// it, alone or with the rest of the new mount API), an idmapped mount and
/// a recursive attribute are refused by the field and value that ask for
/// them, in ENOSYS and EPERM alike, and nothing is left behind.
#[test]
fn idmapped_and_recursive_attrs_refused_by_name_without_mount_setattr() {
    let mount_api = "open_tree,move_mount,fsopen,fsconfig,fsmount,fspick,mount_setattr";
    for errno in ["ENOSYS", "EPERM"] {
        for calls in ["mount_setattr", mount_api] {
            let env = Env::new(&["true"]);
            let src = env.scratch.join("src");
            std::fs::create_dir_all(&src).expect("src");
            let n = env.config["mounts"].as_array().map_or(0, |m| m.len());
            let cases = [
                (
                    json!({"destination": "/idm", "type": "bind", "source": src, "options": ["bind", "idmap"],
                           "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                           "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 1}]}),
                    vec![
                        format!("mounts[{n}].uidMappings"),
                        "idmapped mounts need open_tree and mount_setattr".to_string(),
                    ],
                ),
                (
                    json!({"destination": "/r", "type": "bind", "source": src, "options": ["rbind", "rro"]}),
                    vec![
                        format!("mounts[{n}]"),
                        "[\"rro\"]".to_string(),
                        "recursive mount attributes need mount_setattr".to_string(),
                    ],
                ),
            ];
            for (m, want) in cases {
                let mut env = Env::new(&["true"]);
                env.edit(|c| c["mounts"].as_array_mut().expect("mounts").push(m.clone()));
                let id = env.id();
                let b = env.bundle.clone();
                let o = integration::corral_command_denying(errno, calls)
                    .arg("--root")
                    .arg(&env.root)
                    .args(["create", "--bundle", b.to_str().expect("utf8"), &id])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .expect("run corral");
                let err = integration::error_message(&integration::out(&o.stderr));
                assert_eq!(o.status.code(), Some(1), "{errno} {calls}: {err}");
                for w in &want {
                    assert!(
                        err.contains(w.as_str()),
                        "{errno} {calls}: {w:?} missing in {err:?}"
                    );
                }
                integration::assert_nothing_left(&env, &id);
            }
        }
    }
}

#[test]
fn masked_paths_once_each_and_masked_directories_share_one_tmpfs() {
    // A path listed twice is masked once; every masked directory is the
    // same read-only tmpfs (one superblock), as runc 1.5. The masks are
    // the ones this kernel has (the container sees its procfs and sysfs).
    let here = |v: &[&'static str]| -> Vec<&'static str> {
        v.iter()
            .copied()
            .filter(|p| std::path::Path::new(p).exists())
            .collect()
    };
    let dirs = here(&["/proc/acpi", "/proc/scsi", "/proc/asound", "/sys/firmware"]);
    let files = here(&["/proc/keys", "/proc/timer_list", "/proc/kcore"]);
    assert!(dirs.len() >= 2 && !files.is_empty(), "{dirs:?} {files:?}");
    let once: Vec<&str> = dirs.iter().chain(&files).copied().collect();
    let twice: Vec<&str> = once.iter().chain(&once).copied().collect();
    let mut env = Env::new(&["cat", "/proc/self/mountinfo"]);
    env.edit(|c| c["linux"]["maskedPaths"] = json!(twice));
    let (code, stdout, stderr) = env.run();
    assert_eq!(code, 0, "{stderr}");
    let at = |dest: &str| -> Vec<Vec<String>> {
        stdout
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .filter(|f| f.get(4).map(String::as_str) == Some(dest))
            .collect()
    };
    for d in &once {
        assert_eq!(at(d).len(), 1, "{d} masked {} times: {stdout}", at(d).len());
    }
    let devs: Vec<String> = dirs
        .iter()
        .map(|d| {
            let m = at(d);
            let f = m.first().expect("a mask");
            // "... - tmpfs SOURCE ro,..." after the separator.
            let sep = f.iter().position(|x| x == "-").expect("separator");
            assert_eq!(f[sep + 1], "tmpfs", "{d}: {f:?}");
            assert!(
                f[5].split(',').any(|o| o == "ro"),
                "{d} not read-only: {f:?}"
            );
            f[2].clone()
        })
        .collect();
    assert!(
        devs.windows(2).all(|w| w[0] == w[1]),
        "one tmpfs for all: {devs:?}"
    );
}

#[test]
fn a_tmpfs_without_mode_takes_the_mode_of_the_directory_it_covers() {
    let mut env = Env::new(&["stat", "-c", "%a", "/mnt", "/tmp"]);
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().expect("mounts");
        m.push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700"]}));
    });
    let (code, stdout, stderr) = env.run();
    assert_eq!(code, 0, "{stderr}");
    // /mnt is 755 in the image; an explicit mode= wins.
    assert_eq!(stdout, "755\n700\n");
}

/// The mount-API fallback keeps what read-only means (found by an outside
/// review): a readonly path covers the mounts below it, and a read-only
/// source bound with other options stays read-only. Both with the new
/// mount API (the control) and without it (ENOSYS and EPERM).
#[test]
fn read_only_holds_on_the_mount_fallback() {
    let calls = "open_tree,move_mount,fsopen,fsconfig,fsmount,fspick,mount_setattr";
    let host = std::env::temp_dir().join(integration::unique("corral-ro"));
    let (a, b, ro_src, ro) = (
        host.join("a"),
        host.join("b"),
        host.join("src"),
        host.join("ro"),
    );
    for d in [&a, &b, &ro_src, &ro] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    // A read-only bind on the host, as a read-only volume is.
    let sh = |c: &str| {
        let st = std::process::Command::new("sh")
            .args(["-c", c])
            .status()
            .expect("sh");
        assert!(st.success(), "{c}");
    };
    sh(&format!(
        "mount --bind {0} {1} && mount -o remount,bind,ro {1}",
        ro_src.display(),
        ro.display()
    ));
    // Unmounted and removed even when an assertion fails.
    struct Cleanup(std::path::PathBuf, std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.1, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(host.clone(), ro.clone());
    let script = "for f in /data/f /data/sub/f /rov/f; do echo x > $f 2>/dev/null && echo wrote $f; done; echo done";
    for mode in [None, Some("ENOSYS"), Some("EPERM")] {
        let mut env = Env::new(&["sh", "-c", script]);
        // Its own copy: the mountpoints made for /data and /rov must not
        // appear in the shared fixture other tests copy.
        env.private_rootfs();
        env.edit(|c| {
            let m = c["mounts"].as_array_mut().expect("mounts");
            m.push(json!({"destination": "/data", "type": "bind", "source": a, "options": ["rbind"]}));
            m.push(json!({"destination": "/data/sub", "type": "bind", "source": b, "options": ["rbind"]}));
            m.push(json!({"destination": "/rov", "type": "bind", "source": ro, "options": ["bind", "nosuid", "nodev"]}));
            c["linux"]["readonlyPaths"].as_array_mut().expect("ro").push(json!("/data"));
        });
        env.write_config();
        let id = env.id();
        let mut cmd = match mode {
            Some(errno) => integration::corral_command_denying(errno, calls),
            None => integration::corral_command(),
        };
        let o = cmd
            .arg("--root")
            .arg(&env.root)
            .args(["run", "--bundle"])
            .arg(&env.bundle)
            .arg(&id)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run");
        let text = integration::out(&o.stdout);
        assert!(
            o.status.success(),
            "{mode:?}: {}",
            integration::out(&o.stderr)
        );
        assert_eq!(text, "done\n", "{mode:?}: a read-only place was written");
    }
    for f in [a.join("f"), b.join("f"), ro_src.join("f")] {
        assert!(!f.exists(), "{f:?} written on the host");
    }
}

/// An image's FIFO where a tmpcopyup tmpfs goes is refused at once, not
/// waited on (found by an outside review: create hung forever).
#[test]
fn tmpcopyup_onto_a_fifo_fails_without_waiting() {
    let mut env = Env::new(&["true"]);
    let rootfs = env.private_rootfs();
    nix::unistd::mkfifo(
        &rootfs.join("tmp/cp"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
    env.edit(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(
            json!({"destination": "/tmp/cp", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}),
        )
    });
    env.write_config();
    let id = env.id();
    let b = env.bundle.to_string_lossy().to_string();
    let mut child = env
        .corral_cmd(&["create", "--bundle", &b, &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("create");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let st = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let st = st.expect("create waited 20 s on the image's FIFO");
    assert!(!st.success(), "tmpcopyup onto a FIFO succeeded");
}
