//! The OCI features document (`corral features`): what this runtime
//! implements on this host, in runtime-spec's features.md shape.

use serde_json::{json, Value};

use crate::{cgroups, lsm};

/// Every mount option `config.json` may use (see `rootfs::MountOptions`).
pub const MOUNT_OPTIONS: [&str; 62] = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// The memory policy modes this kernel takes: each is tried with
/// set_mempolicy on node 0 and the caller's policy is reset afterwards.
pub fn memory_policy_modes() -> Vec<&'static str> {
    const MODES: [(&str, i32, bool); 7] = [
        ("MPOL_DEFAULT", 0, false),
        ("MPOL_PREFERRED", 1, true),
        ("MPOL_BIND", 2, true),
        ("MPOL_INTERLEAVE", 3, true),
        ("MPOL_LOCAL", 4, false),
        ("MPOL_PREFERRED_MANY", 5, true),
        ("MPOL_WEIGHTED_INTERLEAVE", 6, true),
    ];
    let node0 = [1u64];
    let out = MODES
        .iter()
        .filter(|(_, mode, nodes)| {
            crate::sys::set_mempolicy(*mode, if *nodes { &node0 } else { &[] }).is_ok()
        })
        .map(|(name, _, _)| *name)
        .collect();
    let _ = crate::sys::set_mempolicy(0, &[]);
    out
}

/// The features document.
pub fn features() -> Value {
    let hs = cgroups::hierarchies().unwrap_or_default();
    let mode = cgroups::mode(&hs);
    let caps: Vec<String> = {
        let mut v: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    };
    // rdma: a v1 hierarchy, or the controller in the v2 root.
    let rdma = hs.iter().any(|h| {
        if h.v2 {
            std::fs::read_to_string(h.mountpoint.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|x| x == "rdma"))
        } else {
            h.key.split(',').any(|c| c == "rdma")
        }
    });
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS.to_vec(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {
                "v1": mode != cgroups::Mode::Unified,
                "v2": mode != cgroups::Mode::Legacy,
                "systemd": false,
                "systemdUser": false,
                "rdma": rdma
            },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": crate::seccomp::architectures(),
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                               "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                   "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
            },
            "apparmor": {"enabled": lsm::apparmor_enabled()},
            "selinux": {"enabled": lsm::selinux_enabled()},
            "intelRdt": {"enabled": false},
            "memoryPolicy": {
                "modes": memory_policy_modes(),
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true}
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features": "corral",
            "io.github.corral.version": env!("CARGO_PKG_VERSION")
        }
    })
}
