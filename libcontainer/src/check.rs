//! `corral check`: what this host gives a container runtime — the kernel
//! and the features corral uses on it, the cgroup layout and every
//! controller's place in it, the namespaces and the LSMs — read from the
//! kernel, with what corral cannot do without marked as required.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cgroups::{self, Mode};
use crate::sys;

/// The cgroup controllers a runtime may be asked to use.
pub const CONTROLLERS: [&str; 14] = [
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
    "misc",
];

/// The namespaces, by their /proc/self/ns names.
pub const NAMESPACES: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/// The whole diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `uname -r`.
    pub kernel: String,
    /// Kernel features, each present or not.
    pub features: Vec<Feature>,
    /// `legacy` (v1 only), `hybrid` (v1 and a cgroup2 mount) or `unified`.
    pub cgroup_layout: String,
    /// Every controller of [`CONTROLLERS`].
    pub controllers: Vec<Controller>,
    /// Every namespace of [`NAMESPACES`].
    pub namespaces: Vec<Feature>,
    /// The enabled LSMs, in the kernel's order (empty when unknown).
    pub lsms: Vec<String>,
    /// How the LSM list was read.
    pub lsm_source: String,
    /// Which way corral takes for each newer system call (the same probes
    /// create and exec use: what the kernel, or a seccomp filter on corral,
    /// answers, not the kernel's version).
    pub mechanisms: Vec<crate::mechanisms::Mechanism>,
    /// Whether everything corral needs is there.
    pub ok: bool,
}

/// One feature or namespace.
#[derive(Debug, Clone, Serialize)]
pub struct Feature {
    /// Its name.
    pub name: String,
    /// Whether this host has it.
    pub present: bool,
    /// Whether corral cannot work without it.
    pub required: bool,
    /// What was found (a version, a value, where it comes from).
    pub detail: String,
}

/// Where one cgroup controller is.
#[derive(Debug, Clone, Serialize)]
pub struct Controller {
    /// Its name.
    pub name: String,
    /// `mounted` (usable), `builtin` (on cgroup v2, part of every cgroup:
    /// cpuacct, devices, freezer), `not-mounted` (in the kernel, on no
    /// hierarchy) or `absent` (not in this kernel).
    pub state: String,
    /// `v1` or `v2` when mounted.
    pub mode: Option<String>,
    /// The hierarchy's mount point when mounted.
    pub path: Option<PathBuf>,
    /// For a controller that is not mounted: the command that mounts it.
    pub hint: Option<String>,
}

/// Parses `uname -r`'s leading `MAJOR.MINOR`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

fn feature(name: &str, present: bool, required: bool, detail: impl Into<String>) -> Feature {
    Feature {
        name: name.into(),
        present,
        required,
        detail: detail.into(),
    }
}

fn read(p: &str) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Controllers the kernel has, from /proc/cgroups (`name → hierarchy id`,
/// enabled ones only).
fn kernel_controllers() -> Vec<(String, u32)> {
    read("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] == "1").then(|| (f[0].to_string(), f[1].parse().unwrap_or(0)))
        })
        .collect()
}

fn controllers(hs: &[cgroups::Hierarchy]) -> Vec<Controller> {
    let in_kernel = kernel_controllers();
    let v2 = hs.iter().find(|h| h.v2);
    let v2_controllers: Vec<String> = v2
        .and_then(|h| std::fs::read_to_string(h.mountpoint.join("cgroup.controllers")).ok())
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    CONTROLLERS
        .iter()
        .map(|&name| {
            let v1 = hs
                .iter()
                .find(|h| !h.v2 && h.key.split(',').any(|c| c == name));
            if let Some(h) = v1 {
                return Controller {
                    name: name.into(),
                    state: "mounted".into(),
                    mode: Some("v1".into()),
                    path: Some(h.mountpoint.clone()),
                    hint: None,
                };
            }
            if let Some(h) = v2.filter(|_| v2_controllers.iter().any(|c| c == name)) {
                return Controller {
                    name: name.into(),
                    state: "mounted".into(),
                    mode: Some("v2".into()),
                    path: Some(h.mountpoint.clone()),
                    hint: None,
                };
            }
            // On a cgroup v2 host these are not controllers but part of
            // every cgroup: cpuacct's figures are in cpu.stat, devices are
            // eBPF programs, freezing is cgroup.freeze.
            let unified = v2.is_some() && hs.iter().all(|h| h.v2);
            let builtin = match name {
                "cpuacct" => Some("cpu.stat of every cgroup"),
                "devices" => Some("eBPF device programs"),
                "freezer" => Some("cgroup.freeze of every cgroup"),
                _ => None,
            };
            if let (true, Some(how), Some(h)) = (unified, builtin, v2) {
                return Controller {
                    name: name.into(),
                    state: "builtin".into(),
                    mode: Some("v2".into()),
                    path: Some(h.mountpoint.clone()),
                    hint: Some(how.into()),
                };
            }
            if in_kernel.iter().any(|(c, _)| c == name) {
                let hint = if v2.is_some() && hs.iter().all(|h| h.v2) {
                    format!("echo +{name} > /sys/fs/cgroup/cgroup.subtree_control")
                } else {
                    format!(
                        "mkdir -p /sys/fs/cgroup/{name} && mount -t cgroup -o {name} cgroup /sys/fs/cgroup/{name}"
                    )
                };
                return Controller {
                    name: name.into(),
                    state: "not-mounted".into(),
                    mode: None,
                    path: None,
                    hint: Some(hint),
                };
            }
            Controller {
                name: name.into(),
                state: "absent".into(),
                mode: None,
                path: None,
                hint: None,
            }
        })
        .collect()
}

fn lsms() -> (Vec<String>, String) {
    if let Some(list) = read("/sys/kernel/security/lsm") {
        let v = list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return (v, "/sys/kernel/security/lsm".into());
    }
    // securityfs not mounted: the two LSMs corral labels processes for.
    let mut v = Vec::new();
    if read("/sys/module/apparmor/parameters/enabled").as_deref() == Some("Y") {
        v.push("apparmor".to_string());
    }
    if Path::new("/sys/fs/selinux/enforce").exists() {
        v.push("selinux".to_string());
    }
    (
        v,
        "AppArmor and SELinux checked; securityfs is not mounted \
         (mount -t securityfs securityfs /sys/kernel/security lists all)"
            .into(),
    )
}

/// Examines this host.
pub fn check() -> Report {
    let kernel = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    let version = kernel_version(&kernel);
    let at_least = |maj: u32, min: u32| version.is_some_and(|v| v >= (maj, min));
    let mut features = vec![feature(
        "kernel >= 3.10",
        at_least(3, 10),
        true,
        kernel.clone(),
    )];
    // clone3 and pidfd_open have fallbacks (see `mechanisms`): listed,
    // not required.
    features.push(feature(
        "clone3",
        crate::newer::clone3(),
        false,
        "since Linux 5.3",
    ));
    features.push(feature(
        "pidfd_open",
        crate::newer::pidfd(),
        false,
        "since Linux 5.3",
    ));
    for (name, nr, required, since) in [
        // The userspace resolver stands in for openat2 (see
        // `crate::mechanisms`): listed, not required.
        ("openat2", libc::SYS_openat2, false, "5.6"),
        (
            "new mount API (open_tree, move_mount, fsopen)",
            libc::SYS_open_tree,
            false,
            "5.2",
        ),
        (
            "idmapped mounts (mount_setattr)",
            libc::SYS_mount_setattr,
            false,
            "5.12",
        ),
    ] {
        let present = sys::has_syscall(nr)
            && (nr != libc::SYS_open_tree
                || (sys::has_syscall(libc::SYS_move_mount) && sys::has_syscall(libc::SYS_fsopen)));
        features.push(feature(
            name,
            present,
            required,
            format!("since Linux {since}"),
        ));
    }
    let actions = read("/proc/sys/kernel/seccomp/actions_avail");
    features.push(feature(
        "seccomp filters",
        actions.is_some(),
        true,
        actions
            .clone()
            .map(|a| format!("actions: {a}"))
            .unwrap_or_else(|| "no /proc/sys/kernel/seccomp (CONFIG_SECCOMP_FILTER off)".into()),
    ));
    if let Some(a) = &actions {
        features.push(feature(
            "seccomp user notification",
            a.split_whitespace().any(|x| x == "user_notif"),
            false,
            "SCMP_ACT_NOTIFY",
        ));
    }
    let max_userns = read("/proc/sys/user/max_user_namespaces");
    let unpriv = read("/proc/sys/kernel/unprivileged_userns_clone");
    features.push(feature(
        "user namespaces",
        max_userns.as_deref().is_some_and(|v| v != "0"),
        false,
        format!(
            "max_user_namespaces {}{}",
            max_userns.as_deref().unwrap_or("?"),
            unpriv
                .map(|u| format!(", unprivileged_userns_clone {u}"))
                .unwrap_or_default()
        ),
    ));
    let filesystems = read("/proc/filesystems").unwrap_or_default();
    let overlay_loaded = filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    let overlay_module = Path::new("/lib/modules")
        .join(&kernel)
        .join("kernel/fs/overlayfs")
        .exists();
    features.push(feature(
        "overlayfs",
        overlay_loaded || overlay_module,
        false,
        if overlay_loaded {
            "in /proc/filesystems"
        } else if overlay_module {
            "a module, not loaded (modprobe overlay)"
        } else {
            "not in this kernel"
        },
    ));
    let hs = cgroups::hierarchies().unwrap_or_default();
    let layout = if hs.is_empty() {
        "none"
    } else {
        match cgroups::mode(&hs) {
            Mode::Legacy => "legacy",
            Mode::Hybrid => "hybrid",
            Mode::Unified => "unified",
        }
    };
    features.push(feature(
        "cgroups mounted",
        !hs.is_empty(),
        true,
        format!("{layout}, {} hierarchies", hs.len()),
    ));
    let namespaces: Vec<Feature> = NAMESPACES
        .iter()
        .map(|&ns| {
            let present = Path::new("/proc/self/ns").join(ns).exists();
            let required = matches!(ns, "ipc" | "mnt" | "net" | "pid" | "uts");
            feature(ns, present, required, "")
        })
        .collect();
    let (lsms, lsm_source) = lsms();
    let ok = features
        .iter()
        .chain(&namespaces)
        .all(|f| f.present || !f.required);
    Report {
        kernel,
        features,
        cgroup_layout: layout.into(),
        controllers: controllers(&hs),
        namespaces,
        lsms,
        lsm_source,
        mechanisms: crate::mechanisms::all(),
        ok,
    }
}

impl Report {
    /// The readable table `corral check` prints.
    pub fn table(&self) -> String {
        let mark = |f: &Feature| match (f.present, f.required) {
            (true, _) => "yes",
            (false, true) => "MISSING (required)",
            (false, false) => "no",
        };
        let w = self
            .features
            .iter()
            .map(|f| f.name.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let mut t = format!(
            "Kernel {}\n\n{:w$}  {:7}  DETAIL\n",
            self.kernel, "FEATURE", "PRESENT"
        );
        for f in &self.features {
            t.push_str(&format!("{:w$}  {:7}  {}\n", f.name, mark(f), f.detail));
        }
        t.push_str("\nNewer system calls (yes: used; no: the fallback used instead):\n");
        for m in &self.mechanisms {
            t.push_str(&format!("  {m}\n"));
        }
        t.push_str(&format!(
            "\nCgroups: {} layout\nCONTROLLER  STATE        MODE  WHERE / HOW\n",
            self.cgroup_layout
        ));
        for c in &self.controllers {
            let place = match (&c.path, &c.hint) {
                (Some(p), Some(h)) => format!("{} ({h})", p.display()),
                (Some(p), None) => p.display().to_string(),
                (None, Some(h)) => h.clone(),
                (None, None) => "not in this kernel".into(),
            };
            t.push_str(&format!(
                "{:10}  {:11}  {:4}  {}\n",
                c.name,
                c.state,
                c.mode.as_deref().unwrap_or("-"),
                place
            ));
        }
        t.push_str("\nNamespaces: ");
        let ns: Vec<String> = self
            .namespaces
            .iter()
            .map(|n| format!("{} {}", n.name, mark(n)))
            .collect();
        t.push_str(&ns.join(", "));
        t.push_str(&format!(
            "\nLSMs: {} ({})\n\n{}\n",
            if self.lsms.is_empty() {
                "none".to_string()
            } else {
                self.lsms.join(", ")
            },
            self.lsm_source,
            if self.ok {
                "corral can run containers on this host."
            } else {
                "Something corral needs is missing (see MISSING above)."
            }
        ));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(kernel_version("3.10.0-1160.el7.x86_64"), Some((3, 10)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn this_host_has_what_the_tests_use() {
        let r = check();
        let has = |n: &str| r.features.iter().any(|f| f.name == n && f.present);
        assert!(
            has("clone3") && has("openat2") && has("pidfd_open"),
            "{r:?}"
        );
        assert!(r.table().contains("CONTROLLER"));
        for line in [
            "clone3: yes — clone3",
            "openat2: yes — openat2 with RESOLVE_IN_ROOT",
            "new mount API: yes",
        ] {
            assert!(r.table().contains(line), "{line}: {}", r.table());
        }
    }
}
