//! The device policy of a container, in the kernel's v1 rule syntax: what
//! the v1 `devices` hierarchy is written and what the v2 eBPF program
//! ([`super::devices_bpf`]) is built from.

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

/// Device rules every container gets after the config's own, as runc's
/// `AllowedDevices` (runc 1.1): mknod of any character or block device
/// (creating a node opens nothing), and read, write and mknod of the OCI
/// default devices, /dev/tty, /dev/ptmx, /dev/pts/* and /dev/net/tun. A
/// config's rule cannot take these away. `/dev/console` (5:1) is not among
/// them: the container's console is a pty (136:N) bound on it, and 5:1 is
/// the host's console.
pub(crate) const DEFAULT_ALLOWED: [&str; 11] = [
    "c *:* m",      // mknod of any char device
    "b *:* m",      // mknod of any block device
    "c 1:3 rwm",    // null
    "c 1:5 rwm",    // zero
    "c 1:7 rwm",    // full
    "c 1:8 rwm",    // random
    "c 1:9 rwm",    // urandom
    "c 5:0 rwm",    // tty
    "c 5:2 rwm",    // ptmx
    "c 136:* rwm",  // pts
    "c 10:200 rwm", // tun
];

/// A device-cgroup rule in the kernel's v1 syntax, e.g. `c 1:3 rwm`; a
/// major or minor that is absent or negative (runc's wildcard, -1) is `*`.
pub(crate) fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let t = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => "p",
    };
    let n = |v: Option<i64>| {
        v.filter(|x| *x >= 0)
            .map(|x| x.to_string())
            .unwrap_or_else(|| "*".into())
    };
    let access = d.access().clone().unwrap_or_else(|| "rwm".into());
    format!("{t} {}:{} {access}", n(d.major()), n(d.minor()))
}

/// The device policy of a container, as (allow, rule in v1 syntax) in the
/// order the kernel applies them: deny everything, then the config's
/// `linux.resources.devices` in order, then `DEFAULT_ALLOWED`, as runc
/// builds it (its device list starts empty, an allow-list). When the config
/// lists no rules, the nodes of its `linux.devices` are allowed too
/// (`rwm`): a container whose config names no policy still uses the
/// devices it asks for, and no other host device. With rules, the rules
/// alone decide about them, as with runc.
pub(crate) fn device_policy(
    rules: &[LinuxDeviceCgroup],
    nodes: &[LinuxDevice],
) -> Vec<(bool, String)> {
    let mut out = vec![(false, "a *:* rwm".to_string())];
    out.extend(
        rules
            .iter()
            // A fifo rule names no device (the kernel's list has no fifos).
            .filter(|r| r.typ() != Some(LinuxDeviceType::P))
            .map(|r| (r.allow(), device_rule(r))),
    );
    if rules.is_empty() {
        for d in nodes {
            let t = match d.typ() {
                LinuxDeviceType::B => "b",
                LinuxDeviceType::C | LinuxDeviceType::U => "c",
                // A fifo is no device; `a` is no node.
                LinuxDeviceType::P | LinuxDeviceType::A => continue,
            };
            out.push((true, format!("{t} {}:{} rwm", d.major(), d.minor())));
        }
    }
    out.extend(DEFAULT_ALLOWED.iter().map(|r| (true, (*r).to_string())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules_render_like_the_kernel() {
        let d: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"access":"rw"}"#)
                .expect("json");
        assert_eq!(device_rule(&d), "c 1:* rw");
        let all: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow":false}"#).expect("json");
        assert_eq!(device_rule(&all), "a *:* rwm");
    }

    #[test]
    fn device_policy_denies_first_and_allows_runcs_defaults_last() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":true,"type":"b","major":7,"minor":0,"access":"r"},
                {"allow":true,"type":"p","access":"rwm"},
                {"allow":false,"type":"c","major":-1,"minor":-1,"access":"w"}]"#,
        )
        .expect("json");
        let nodes: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/loopx","type":"b","major":7,"minor":1},
                {"path":"/dev/fifo","type":"p"}]"#,
        )
        .expect("json");
        let p = device_policy(&rules, &nodes);
        let want_head = [(false, "a *:* rwm"), (true, "b 7:0 r"), (false, "c *:* w")];
        let head: Vec<(bool, &str)> = p[..3].iter().map(|(a, r)| (*a, r.as_str())).collect();
        assert_eq!(head, want_head, "{p:?}");
        // With rules, the nodes of linux.devices get no rule of their own.
        let tail: Vec<&str> = p[3..].iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(tail, DEFAULT_ALLOWED, "{p:?}");
        assert!(p[3..].iter().all(|(a, _)| *a));

        // No rules: deny all, the config's device nodes, runc's defaults.
        let p = device_policy(&[], &nodes);
        assert_eq!(p[0], (false, "a *:* rwm".to_string()));
        assert_eq!(p[1], (true, "b 7:1 rwm".to_string()));
        let tail: Vec<&str> = p[2..].iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(tail, DEFAULT_ALLOWED, "{p:?}");
        for host in ["b 8:0", "c 1:1", "c 5:1", "b 254:0"] {
            assert!(
                !p.iter().any(|(a, r)| *a && r.starts_with(host)),
                "{host} allowed: {p:?}"
            );
        }
    }
}
