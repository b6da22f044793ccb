//! `corral spec`: the default config.json, as `runc spec` writes it.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};

use super::Res;

/// Flags of `spec`, as runc's.
#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Path to the root of the bundle directory.
    #[arg(long, short = 'b')]
    bundle: Option<PathBuf>,
    /// Generate a configuration for a rootless container.
    #[arg(long)]
    rootless: bool,
}

/// Runs `corral spec`: config.json in the bundle directory, never over an
/// existing one.
pub fn run(a: &SpecArgs) -> Res {
    let dir = a.bundle.clone().unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    if path.exists() {
        return Err(format!("File {} exists. Remove it first", path.display()));
    }
    let text = render(&default_spec(a.rootless))?;
    std::fs::write(&path, text).map_err(|e| format!("write {path:?}: {e}"))?;
    Ok(0)
}

fn caps() -> Value {
    json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
}

/// The default config, as `runc spec` writes it (runc's `specconv.Example`,
/// in its field order): no ambient capabilities, and a cgroup namespace
/// only on a host with the unified cgroup2 hierarchy. `rootless` converts
/// it as runc's `ToRootless` does: a user namespace mapping the caller's
/// uid and gid to root instead of the network one, /sys bound from the
/// host, no `uid=`/`gid=` mount options and no resources.
pub fn default_spec(rootless: bool) -> Value {
    use libcontainer::cgroups::Mode;
    let unified = Mode::detect().is_ok_and(|m| m == Mode::Unified);
    default_spec_for(rootless, unified)
}

fn default_spec_for(rootless: bool, unified_cgroup: bool) -> Value {
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if unified_cgroup {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let mut spec = json!({
        "ociVersion": libcontainer::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps(), "effective": caps(), "permitted": caps()},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "corral",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                            "/sys/devices/virtual/tpm"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let mut linux = serde_json::Map::new();
        // runc's ToRootless: the mappings come first in its struct order.
        linux.insert(
            "uidMappings".into(),
            json!([{"containerID": 0, "hostID": uid, "size": 1}]),
        );
        linux.insert(
            "gidMappings".into(),
            json!([{"containerID": 0, "hostID": gid, "size": 1}]),
        );
        if let Some(old) = spec["linux"].as_object() {
            for (k, v) in old {
                match k.as_str() {
                    "resources" => {}
                    "namespaces" => {
                        let mut ns: Vec<Value> = v
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|n| n["type"] != "network" && n["type"] != "user")
                            .cloned()
                            .collect();
                        ns.push(json!({"type": "user"}));
                        linux.insert(k.clone(), Value::Array(ns));
                    }
                    _ => {
                        linux.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        spec["linux"] = Value::Object(linux);
        let mounts = spec["mounts"].as_array_mut();
        for m in mounts.into_iter().flatten() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| {
                    o.as_str()
                        .is_none_or(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
                });
            }
        }
    }
    spec
}

/// Renders the config with tabs, as runc does.
pub fn render(spec: &Value) -> Result<Vec<u8>, String> {
    use serde::Serialize;
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    spec.serialize(&mut ser).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `runc spec` of runc 1.2 and later (its specconv.Example), by hand:
    /// what corral writes must be the same document, in the same order,
    /// but for the hostname and the spec version.
    fn runc_example(unified: bool) -> String {
        let cgroupns = if unified {
            ", {\"type\": \"cgroup\"}"
        } else {
            ""
        };
        let caps = r#"["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]"#;
        format!(
            r#"{{"ociVersion": "X", "process": {{"terminal": true, "user": {{"uid": 0, "gid": 0}},
              "args": ["sh"], "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
              "cwd": "/", "capabilities": {{"bounding": {caps}, "effective": {caps}, "permitted": {caps}}},
              "rlimits": [{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}}], "noNewPrivileges": true}},
             "root": {{"path": "rootfs", "readonly": true}}, "hostname": "H",
             "mounts": [{{"destination": "/proc", "type": "proc", "source": "proc"}},
               {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
               {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}},
               {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}},
               {{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}},
               {{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}},
               {{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}}],
             "linux": {{"resources": {{"devices": [{{"allow": false, "access": "rwm"}}]}},
               "namespaces": [{{"type": "pid"}}, {{"type": "network"}}, {{"type": "ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}{cgroupns}],
               "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                 "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi", "/sys/devices/virtual/tpm"],
               "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]}}}}"#
        )
    }

    #[test]
    fn default_spec_is_runc_spec_in_runc_order() {
        for unified in [false, true] {
            let mut ours = default_spec_for(false, unified);
            ours["ociVersion"] = json!("X");
            ours["hostname"] = json!("H");
            let want: Value = serde_json::from_str(&runc_example(unified)).expect("example");
            // Text equality: the same fields in the same order.
            assert_eq!(
                serde_json::to_string(&ours).expect("ours"),
                serde_json::to_string(&want).expect("want"),
                "unified cgroup: {unified}"
            );
        }
    }

    #[test]
    fn rootless_spec_is_runc_to_rootless() {
        let s = default_spec_for(true, true);
        let linux = s["linux"].as_object().expect("linux");
        let keys: Vec<&str> = linux.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "uidMappings",
                "gidMappings",
                "namespaces",
                "maskedPaths",
                "readonlyPaths"
            ]
        );
        let ns: Vec<&str> = linux["namespaces"]
            .as_array()
            .expect("ns")
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "cgroup", "user"]);
        let uid = nix::unistd::geteuid().as_raw();
        assert_eq!(
            linux["uidMappings"],
            json!([{"containerID": 0, "hostID": uid, "size": 1}])
        );
        let text = serde_json::to_string(&s["mounts"]).expect("mounts");
        assert!(!text.contains("gid=") && !text.contains("uid="), "{text}");
        assert!(
            text.contains(r#""source":"/sys","options":["rbind""#),
            "{text}"
        );
    }

    #[test]
    fn default_spec_parses_as_an_oci_config() {
        for rootless in [false, true] {
            let text = render(&default_spec(rootless)).expect("render");
            libcontainer::spec::parse(&text).expect("parse");
        }
    }
}
