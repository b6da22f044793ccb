//! The OCI features document (`corral features`): what this runtime
//! implements on this host, in runtime-spec's features.md shape.

use serde_json::{json, Value};

use crate::{cgroups, lsm};

/// Every mount option `config.json` may use (see `rootfs::MountOptions`).
pub const MOUNT_OPTIONS: [&str; 38] = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
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
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
];

/// The features document.
pub fn features() -> Value {
    let hs = cgroups::hierarchies().unwrap_or_default();
    let mode = cgroups::mode(&hs);
    let caps: Vec<String> = {
        let mut v: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    };
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
                "rdma": false
            },
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": lsm::apparmor_enabled()},
            "selinux": {"enabled": lsm::selinux_enabled()},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features": "corral",
            "io.github.corral.version": env!("CARGO_PKG_VERSION")
        }
    })
}
