//! Loading a bundle's config.json and checking it against what this runtime
//! and this host support. Every error names the JSON path and the value.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::{lsm, namespaces};

/// A loaded and validated bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    /// Absolute path of the root file system.
    pub rootfs: PathBuf,
    /// The parsed config.json.
    pub spec: Spec,
    /// What oci-spec does not parse (see [`Extras`]).
    pub extras: Extras,
    /// The host's cgroup hierarchies, read once (/proc/self/mountinfo) for
    /// the checks here, the cgroup plan and the init's cgroup mounts.
    pub hierarchies: Vec<crate::cgroups::Hierarchy>,
    /// Fields accepted without being applied, one warning each
    /// ([`parse_with_warnings`], `cgroups::warnings`).
    pub warnings: Vec<String>,
}

/// Fields of runtime-spec 1.2+ that the `oci-spec` crate (0.8) does not
/// parse, read from the same config.json beside its `Spec`: each mount's
/// `uidMappings` and `gidMappings` (oci-spec puts them on the top-level
/// object instead of on the mount), and seccomp flags it has no variant
/// for (`SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Extras {
    /// Per mount, in `mounts` order.
    #[serde(default)]
    pub mounts: Option<Vec<MountExtras>>,
    /// `SECCOMP_FILTER_FLAG_*` bits of `linux.seccomp.flags` beyond
    /// oci-spec's (computed, never read from the config as a key).
    #[serde(skip)]
    pub seccomp_flags: u32,
}

/// See [`Extras`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountExtras {
    /// Id mapping of an idmapped mount (uids).
    #[serde(default)]
    pub uid_mappings: Option<Vec<LinuxIdMapping>>,
    /// Id mapping of an idmapped mount (gids).
    #[serde(default)]
    pub gid_mappings: Option<Vec<LinuxIdMapping>>,
}

impl Extras {
    /// The extras of mount `i`.
    pub fn mount(&self, i: usize) -> Option<&MountExtras> {
        self.mounts.as_ref().and_then(|m| m.get(i))
    }
}

/// Reads `<bundle>/config.json`, parses it (naming the JSON path of any bad
/// field) and validates it.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(bundle).map_err(|e| Error::io("open bundle", bundle, e))?;
    let cfg = dir.join("config.json");
    let text = std::fs::read(&cfg).map_err(|e| Error::io("read", &cfg, e))?;
    let (spec, mut warnings) = parse_with_warnings(&text)?;
    let extras = parse_extras(&text)?;
    let hierarchies = crate::cgroups::hierarchies()?;
    if let Some(res) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        warnings.extend(crate::cgroups::warnings(res));
    }
    warnings.extend(crate::security::ambient_warnings(spec.process().as_ref()));
    let rootfs = validate_with(&spec, &dir, &hierarchies)?;
    crate::idmap::check(&spec, &extras)?;
    Ok(Bundle {
        dir,
        rootfs,
        spec,
        extras,
        hierarchies,
        warnings,
    })
}

/// The parts of config.json [`parse_extras`] reads.
#[derive(Deserialize)]
struct ExtrasDoc {
    #[serde(default)]
    mounts: Option<Vec<MountExtras>>,
    #[serde(default)]
    linux: Option<ExtrasLinux>,
}

#[derive(Deserialize)]
struct ExtrasLinux {
    #[serde(default)]
    seccomp: Option<ExtrasSeccomp>,
}

#[derive(Deserialize)]
struct ExtrasSeccomp {
    #[serde(default)]
    flags: Option<Vec<serde_json::Value>>,
}

/// Parses the [`Extras`] of config.json text; errors name the JSON path.
pub fn parse_extras(text: &[u8]) -> Result<Extras> {
    // One pass over the text; the path-tracking pass only to name an error.
    let doc: ExtrasDoc = match serde_json::from_slice(text) {
        Ok(d) => d,
        Err(_) => {
            let de = &mut serde_json::Deserializer::from_slice(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                Error::spec(path, e.into_inner().to_string())
            })?
        }
    };
    let mut x = Extras {
        mounts: doc.mounts,
        seccomp_flags: 0,
    };
    for f in doc
        .linux
        .and_then(|l| l.seccomp)
        .and_then(|s| s.flags)
        .into_iter()
        .flatten()
    {
        x.seccomp_flags |= f.as_str().and_then(extra_seccomp_flag).unwrap_or(0);
    }
    Ok(x)
}

/// Parses config.json text; a type or value error names its JSON path.
/// Seccomp flags the `oci-spec` crate does not know are taken out first
/// (they are read by [`parse_extras`]); so are capability names it does not
/// know (see [`parse_with_warnings`]).
pub fn parse(text: &[u8]) -> Result<Spec> {
    parse_with_warnings(text).map(|(spec, _)| spec)
}

/// [`parse`], with a warning for each capability name of
/// `process.capabilities` that is not one this build knows: it is
/// dropped and the container runs, as config.md asks ("any value which
/// cannot be mapped to a relevant kernel interface, or cannot be granted
/// otherwise MUST be logged as a warning by the runtime. Runtimes SHOULD
/// NOT fail if the container configuration requests capabilities that
/// cannot be granted").
pub fn parse_with_warnings(text: &[u8]) -> Result<(Spec, Vec<String>)> {
    // The common case in one pass over the text. A config with an error, or
    // with a seccomp flag or capability oci-spec cannot parse, takes the
    // slow path below.
    if let Ok(spec) = serde_json::from_slice::<Spec>(text) {
        return Ok((normalized(spec), Vec::new()));
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| Error::spec("(document)", e.to_string()))?;
    if let Some(flags) = v
        .pointer_mut("/linux/seccomp/flags")
        .and_then(|f| f.as_array_mut())
    {
        flags.retain(|f| f.as_str().is_none_or(|s| extra_seccomp_flag(s).is_none()));
    }
    let mut warnings = Vec::new();
    for set in [
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    ] {
        let ptr = format!("/process/capabilities/{set}");
        if let Some(names) = v.pointer_mut(&ptr).and_then(|n| n.as_array_mut()) {
            names.retain(|n| match n.as_str() {
                Some(name) if !known_capability(name) => {
                    warnings.push(format!(
                        "process.capabilities.{set}: unknown capability {name:?} ignored"
                    ));
                    false
                }
                _ => true,
            });
        }
    }
    let spec = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let path = if path == "." || path.is_empty() {
            "(document)".to_string()
        } else {
            path
        };
        Error::spec(path, inner.to_string())
    })?;
    Ok((normalized(spec), warnings))
}

/// What the spec says in more than one way, said one way: a namespace
/// entry whose `path` is empty asks for a new namespace, as one with no
/// `path` (config-linux.md: "If a path is not specified, the runtime MUST
/// create a new container namespace"; runc and crun read "" so).
fn normalized(mut spec: Spec) -> Spec {
    if let Some(linux) = spec.linux_mut() {
        if let Some(list) = linux.namespaces_mut() {
            for ns in list.iter_mut() {
                if ns.path().as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                    ns.set_path(None);
                }
            }
        }
    }
    spec
}

/// Whether oci-spec (and so corral) knows the capability `name`.
fn known_capability(name: &str) -> bool {
    serde_json::from_value::<oci_spec::runtime::Capability>(serde_json::Value::String(name.into()))
        .is_ok()
}

/// The `SECCOMP_FILTER_FLAG_*` bit of a runtime-spec seccomp flag that the
/// `oci-spec` crate (0.8) has no variant for.
pub fn extra_seccomp_flag(name: &str) -> Option<u32> {
    match name {
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => Some(crate::seccomp::WAIT_KILLABLE_RECV),
        _ => None,
    }
}

/// Whether `p` is absolute and has no `..` component.
fn clean_abs(p: &Path) -> bool {
    p.is_absolute() && !p.components().any(|c| c == Component::ParentDir)
}

/// Checks `spec` against what corral and this host support. Returns the
/// absolute rootfs path.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    validate_with(spec, bundle, &crate::cgroups::hierarchies()?)
}

/// [`validate`] against the given cgroup hierarchies.
pub fn validate_with(
    spec: &Spec,
    bundle: &Path,
    hierarchies: &[crate::cgroups::Hierarchy],
) -> Result<PathBuf> {
    if !spec.version().starts_with("1.") {
        return Err(Error::spec(
            "ociVersion",
            format!(
                "unsupported version {:?}: corral implements 1.x",
                spec.version()
            ),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::spec("root", "missing: a bundle needs root.path"))?;
    let rootfs = bundle.join(root.path());
    let meta = std::fs::metadata(&rootfs).map_err(|e| {
        Error::spec(
            "root.path",
            format!("{:?}: {e}", root.path().display().to_string()),
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::spec(
            "root.path",
            format!("{:?} is not a directory", root.path()),
        ));
    }
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| Error::io("resolve", &rootfs, e))?;

    validate_process(spec)?;
    let owned = validate_namespaces(spec)?;
    validate_linux(spec, &owned, hierarchies)?;
    crate::procattr::check(spec)?;
    validate_mounts(spec)?;
    validate_hooks(spec)?;
    Ok(rootfs)
}

fn validate_process(spec: &Spec) -> Result<()> {
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::spec("process", "missing: create needs a process to run"))?;
    match p.args() {
        Some(a) if !a.is_empty() => {}
        _ => return Err(Error::spec("process.args", "empty: nothing to execute")),
    }
    crate::security::check_user(p.user())?;
    if !p.cwd().is_absolute() {
        return Err(Error::spec(
            "process.cwd",
            format!("{:?} is not an absolute path", p.cwd()),
        ));
    }
    if let Some(env) = p.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') || e.starts_with('=') {
                return Err(Error::spec(
                    format!("process.env[{i}]"),
                    format!("{e:?} is not of the form NAME=value"),
                ));
            }
        }
    }
    if let Some(rl) = p.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rl.iter().enumerate() {
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(Error::spec(
                    format!("process.rlimits[{i}].type"),
                    format!("{:?} given twice", r.typ()),
                ));
            }
            if r.soft() > r.hard() {
                return Err(Error::spec(
                    format!("process.rlimits[{i}]"),
                    format!(
                        "{}: soft limit {} is above hard limit {}",
                        crate::security::rlimit_name(r),
                        r.soft(),
                        r.hard()
                    ),
                ));
            }
        }
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(Error::spec(
                "process.oomScoreAdj",
                format!("{adj} is outside -1000..1000"),
            ));
        }
    }
    if let Some(profile) = p.apparmor_profile() {
        if !profile.is_empty() && !lsm::apparmor_enabled() {
            return Err(Error::unsupported(
                "process.apparmorProfile",
                format!("profile {profile:?} requested but AppArmor is not enabled on this host"),
            ));
        }
    }
    if let Some(label) = p.selinux_label() {
        if !label.is_empty() && !lsm::selinux_enabled() {
            return Err(Error::unsupported(
                "process.selinuxLabel",
                format!("label {label:?} requested but SELinux is not enabled on this host"),
            ));
        }
    }
    Ok(())
}

/// Validates `linux.namespaces` and returns the set of namespace types the
/// container owns (creates or joins).
fn validate_namespaces(spec: &Spec) -> Result<HashSet<LinuxNamespaceType>> {
    let mut owned = HashSet::new();
    let linux = match spec.linux() {
        Some(l) => l,
        None => return Ok(owned),
    };
    let mut has_userns = false;
    let mut creates_time = false;
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !owned.insert(ns.typ()) {
            return Err(Error::spec(
                format!("linux.namespaces[{i}].type"),
                format!("{:?} namespace given twice", namespaces::name(ns.typ())),
            ));
        }
        if let Some(path) = ns.path() {
            namespaces::check_ns_file(path, ns.typ())
                .map_err(|m| Error::spec(format!("linux.namespaces[{i}].path"), m))?;
        } else if ns.typ() == LinuxNamespaceType::Time {
            creates_time = true;
        }
        if ns.typ() == LinuxNamespaceType::User {
            has_userns = true;
            if ns.path().is_none() {
                let nm =
                    |m: &Option<Vec<_>>| m.as_ref().map(|v: &Vec<_>| v.is_empty()).unwrap_or(true);
                if nm(linux.uid_mappings()) || nm(linux.gid_mappings()) {
                    return Err(Error::spec(
                        "linux.uidMappings",
                        "a new user namespace needs both uidMappings and gidMappings",
                    ));
                }
            }
        }
        if !namespaces::supported(ns.typ()) {
            return Err(Error::unsupported(
                format!("linux.namespaces[{i}].type"),
                format!(
                    "the {:?} namespace is not supported by this kernel",
                    namespaces::name(ns.typ())
                ),
            ));
        }
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_maps && !has_userns {
        return Err(Error::spec(
            "linux.uidMappings",
            "id mappings given but no user namespace in linux.namespaces",
        ));
    }
    for (i, d) in linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(a) = d.access() {
            if a.chars().any(|c| !"rwm".contains(c)) {
                return Err(Error::spec(
                    format!("linux.resources.devices[{i}].access"),
                    format!("{a:?}: only r, w and m are device accesses"),
                ));
            }
        }
    }
    for (field, maps) in [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ] {
        check_id_maps(field, maps.as_deref().unwrap_or_default())?;
    }
    if let Some(offsets) = linux.time_offsets() {
        if !offsets.is_empty() && !creates_time {
            return Err(Error::spec(
                "linux.timeOffsets",
                "offsets given but the container does not create a time namespace",
            ));
        }
        for k in offsets.keys() {
            if k != "monotonic" && k != "boottime" {
                return Err(Error::spec(
                    format!("linux.timeOffsets.{k}"),
                    format!(
                        "unknown clock {k:?}: only \"monotonic\" and \"boottime\" have offsets"
                    ),
                ));
            }
        }
    }
    Ok(owned)
}

/// Checks one list of id mappings as the kernel will: a size, ranges
/// within 32 bits, and no range overlapping another on either side.
fn check_id_maps(field: &str, maps: &[oci_spec::runtime::LinuxIdMapping]) -> Result<()> {
    const LIMIT: u64 = 1 << 32;
    for (i, m) in maps.iter().enumerate() {
        let (c, h, n) = (
            u64::from(m.container_id()),
            u64::from(m.host_id()),
            u64::from(m.size()),
        );
        if n == 0 {
            return Err(Error::spec(
                format!("{field}[{i}].size"),
                "0: a mapping needs a size",
            ));
        }
        for (side, start) in [("containerID", c), ("hostID", h)] {
            if start + n > LIMIT {
                return Err(Error::spec(
                    format!("{field}[{i}]"),
                    format!("{side} {start} + size {n} goes past 4294967295"),
                ));
            }
        }
        for (j, o) in maps[..i].iter().enumerate() {
            let (oc, oh, on) = (
                u64::from(o.container_id()),
                u64::from(o.host_id()),
                u64::from(o.size()),
            );
            for (side, a, b) in [("containerID", c, oc), ("hostID", h, oh)] {
                if a < b + on && b < a + n {
                    return Err(Error::spec(
                        format!("{field}[{i}]"),
                        format!("{side} range {a}+{n} overlaps {field}[{j}] ({b}+{on})"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn validate_linux(
    spec: &Spec,
    owned: &HashSet<LinuxNamespaceType>,
    hierarchies: &[crate::cgroups::Hierarchy],
) -> Result<()> {
    // A UTS namespace of the container's own, new or joined by path (runc
    // sets the hostname in a joined one too); never the runtime's.
    let own_uts = owned.contains(&LinuxNamespaceType::Uts);
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !own_uts {
        return Err(Error::spec(
            "hostname",
            "unable to set hostname without a UTS namespace in linux.namespaces",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !own_uts {
        return Err(Error::spec(
            "domainname",
            "unable to set domainname without a UTS namespace in linux.namespaces",
        ));
    }
    let linux = match spec.linux() {
        Some(l) => l,
        None => return Ok(()),
    };
    if let Some(p) = linux.rootfs_propagation() {
        if crate::rootfs::propagation_flag(p).is_none() {
            return Err(Error::spec(
                "linux.rootfsPropagation",
                format!("unknown propagation {p:?}"),
            ));
        }
    }
    for (field, list) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            if !clean_abs(Path::new(p)) {
                return Err(Error::spec(
                    format!("{field}[{i}]"),
                    format!("{p:?} is not an absolute path without \"..\""),
                ));
            }
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        use oci_spec::runtime::LinuxDeviceType as T;
        if !clean_abs(d.path()) || !d.path().starts_with("/dev") {
            return Err(Error::spec(
                format!("linux.devices[{i}].path"),
                format!("{:?} is not an absolute path under /dev", d.path()),
            ));
        }
        if d.typ() == T::A {
            return Err(Error::spec(
                format!("linux.devices[{i}].type"),
                "\"a\" is not a device type (c, b, u or p)",
            ));
        }
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            let field = format!("linux.sysctl.{key}");
            let ns = sysctl_namespace(key).ok_or_else(|| {
                Error::spec(
                    &field,
                    format!("sysctl {key:?} is not in a kernel namespace a container can own"),
                )
            })?;
            if !owned.contains(&ns) {
                return Err(Error::spec(
                    &field,
                    format!(
                        "sysctl {key:?} needs the container's own {:?} namespace",
                        namespaces::name(ns)
                    ),
                ));
            }
            if key.contains("..") || key.starts_with('/') || key.starts_with('.') {
                return Err(Error::spec(&field, format!("invalid sysctl name {key:?}")));
            }
        }
    }
    if let Some(cg) = linux.cgroups_path() {
        if cg.components().any(|c| c == Component::ParentDir) {
            return Err(Error::spec(
                "linux.cgroupsPath",
                format!("{cg:?} may not contain \"..\""),
            ));
        }
    }
    if let Some(res) = linux.resources() {
        crate::cgroups::check_supported_resources_with(hierarchies, res)?;
    }
    if let Some(sc) = linux.seccomp() {
        crate::seccomp::compile(sc)?;
    }
    crate::netdev::check(spec)?;
    if linux.intel_rdt().is_some() {
        let resctrl = procfs::process::Process::myself()
            .and_then(|p| p.mountinfo())
            .is_ok_and(|m| m.0.iter().any(|m| m.fs_type == "resctrl"));
        return Err(Error::unsupported(
            "linux.intelRdt",
            if resctrl {
                "resctrl is mounted, but corral does not drive Intel RDT (no host to test it on)"
            } else {
                "no resctrl file system is mounted on this host (Intel RDT/AMD PQoS needs the CPU feature and `mount -t resctrl resctrl /sys/fs/resctrl`)"
            },
        ));
    }
    if let Some(label) = linux.mount_label().as_ref().filter(|l| !l.is_empty()) {
        if !lsm::selinux_enabled() {
            return Err(Error::unsupported(
                "linux.mountLabel",
                format!("label {label:?} requested but SELinux is not enabled on this host"),
            ));
        }
    }
    Ok(())
}

/// The namespace a namespaced sysctl belongs to, as runc decides it.
pub fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: [&str; 7] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
    ];
    if IPC.contains(&key) || key == "kernel.shm_rmid_forced" || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

fn validate_mounts(spec: &Spec) -> Result<()> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        // A relative destination is taken from `/` (runtime-spec 1.2 allows
        // it, deprecated, as runc does).
        let dest = Path::new("/").join(m.destination());
        if !clean_abs(&dest) {
            return Err(Error::spec(
                format!("mounts[{i}].destination"),
                format!("{:?} is not a path without \"..\"", m.destination()),
            ));
        }
        let opts = m.options().clone().unwrap_or_default();
        let parsed = crate::rootfs::MountOptions::parse(&opts)
            .map_err(|msg| Error::spec(format!("mounts[{i}].options"), msg))?;
        let is_bind = parsed.bind || m.typ().as_deref() == Some("bind");
        crate::proc_mounts::check_destination(
            &dest,
            m.typ().as_deref().unwrap_or(""),
            is_bind,
            m.source().as_deref(),
        )
        .map_err(|msg| Error::spec(format!("mounts[{i}].destination"), msg))?;
        if is_bind {
            let src = m.source().as_ref().ok_or_else(|| {
                Error::spec(format!("mounts[{i}].source"), "missing for a bind mount")
            })?;
            if src.is_absolute() && std::fs::symlink_metadata(src).is_err() {
                return Err(Error::spec(
                    format!("mounts[{i}].source"),
                    format!("{src:?} does not exist"),
                ));
            }
        } else if m.typ().as_deref().is_none_or(str::is_empty) {
            return Err(Error::spec(
                format!("mounts[{i}].type"),
                "missing: only bind mounts may omit the type",
            ));
        }
    }
    Ok(())
}

fn validate_hooks(spec: &Spec) -> Result<()> {
    let hooks = match spec.hooks() {
        Some(h) => h,
        None => return Ok(()),
    };
    for (kind, list) in crate::hooks::all_lists(hooks) {
        for (i, h) in list.iter().enumerate() {
            if !h.path().is_absolute() {
                return Err(Error::spec(
                    format!("hooks.{kind}[{i}].path"),
                    format!("{:?} is not an absolute path", h.path()),
                ));
            }
            if let Some(t) = h.timeout() {
                if t <= 0 {
                    return Err(Error::spec(
                        format!("hooks.{kind}[{i}].timeout"),
                        format!("{t}: a timeout must be greater than zero"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_namespace_type_names_the_path() {
        let cfg =
            br#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let err = parse(cfg).unwrap_err().to_string();
        assert!(err.contains("linux.namespaces[1].type"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_path() {
        let cfg = br#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":"root"}}}"#;
        let err = parse(cfg).unwrap_err().to_string();
        assert!(err.contains("process.user.uid"), "{err}");
    }

    #[test]
    fn sysctl_namespaces() {
        assert_eq!(
            sysctl_namespace("net.ipv4.ip_forward"),
            Some(LinuxNamespaceType::Network)
        );
        assert_eq!(
            sysctl_namespace("kernel.shmmax"),
            Some(LinuxNamespaceType::Ipc)
        );
        assert_eq!(
            sysctl_namespace("fs.mqueue.msg_max"),
            Some(LinuxNamespaceType::Ipc)
        );
        assert_eq!(
            sysctl_namespace("kernel.domainname"),
            Some(LinuxNamespaceType::Uts)
        );
        assert_eq!(sysctl_namespace("vm.swappiness"), None);
    }

    #[test]
    fn clean_abs_rejects_dotdot() {
        assert!(clean_abs(Path::new("/a/b")));
        assert!(!clean_abs(Path::new("a/b")));
        assert!(!clean_abs(Path::new("/a/../../b")));
    }

    #[test]
    fn seccomp_flags_oci_spec_lacks_are_extras() {
        let cfg = br#"{"ociVersion":"1.3.0","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
            "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}}}"#;
        let spec = parse(cfg).expect("parse");
        let flags = spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .and_then(|s| s.flags().clone())
            .expect("flags");
        assert_eq!(flags.len(), 1, "{flags:?}");
        let x = parse_extras(cfg).expect("extras");
        assert_eq!(x.seccomp_flags, crate::seccomp::WAIT_KILLABLE_RECV);
        // A key of that name in the config does not set it.
        let x = parse_extras(br#"{"seccomp_flags": 4, "corralSeccompFlags": 4}"#).expect("extras");
        assert_eq!(x.seccomp_flags, 0);
    }
}
