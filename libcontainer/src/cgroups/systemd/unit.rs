//! Where the systemd driver puts a container: `linux.cgroupsPath` in
//! systemd's `slice:prefix:name` form, the scope unit it names and the
//! slice's cgroup path, read as runc reads them.

use crate::error::{Error, Result};

/// The prefix of the scope's name when `linux.cgroupsPath` is empty
/// (runc's is `runc`).
pub(crate) const DEFAULT_PREFIX: &str = "corral";

/// A container's place under systemd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The slice the scope is in, e.g. `system.slice`.
    pub slice: String,
    /// The transient scope holding the container, e.g. `docker-ID.scope`.
    pub unit: String,
    /// The scope's cgroup below systemd's root, e.g.
    /// `/system.slice/docker-ID.scope`.
    pub cgroup: String,
}

fn bad(value: &str, why: impl std::fmt::Display) -> Error {
    Error::spec(
        "linux.cgroupsPath",
        format!("{value:?}: {why} (the systemd cgroup driver wants \"slice:prefix:name\")"),
    )
}

/// Characters systemd accepts in a unit name (unit-name.c's
/// `VALID_CHARS`), besides the type suffix.
fn valid_unit_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\'))
}

/// Reads `linux.cgroupsPath` for the systemd driver. Empty (or absent):
/// `system.slice` (`user.slice` for a caller that is not root), prefix
/// `corral`, name the container's id. An empty slice is the default
/// slice; an empty prefix gives `NAME.scope`.
pub(crate) fn parse(cgroups_path: Option<&str>, id: &str, root: bool) -> Result<Placement> {
    let default_slice = if root { "system.slice" } else { "user.slice" };
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => (default_slice, DEFAULT_PREFIX, id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(bad(p, format!("{} part(s)", parts.len())));
            };
            let slice = if slice.is_empty() {
                default_slice
            } else {
                slice
            };
            (slice, prefix, name)
        }
    };
    let whole = cgroups_path.unwrap_or("");
    if name.is_empty() || name.contains('/') {
        return Err(bad(whole, format!("the name {name:?} is not a unit name")));
    }
    if name.ends_with(".slice") {
        return Err(Error::unsupported(
            "linux.cgroupsPath",
            format!("{whole:?}: a container that is a slice of its own ({name:?}) is not supported; name a scope"),
        ));
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    if !valid_unit_chars(&unit) || unit.len() > 255 {
        return Err(bad(whole, format!("{unit:?} is not a valid unit name")));
    }
    let dir = expand_slice(slice).map_err(|why| bad(whole, why))?;
    let cgroup = if dir == "/" {
        format!("/{unit}")
    } else {
        format!("{dir}/{unit}")
    };
    Ok(Placement {
        slice: slice.to_string(),
        unit,
        cgroup,
    })
}

/// A slice's cgroup path, as systemd lays slices out: `a-b-c.slice` is
/// `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
pub(crate) fn expand_slice(slice: &str) -> std::result::Result<String, String> {
    let invalid = || format!("invalid slice name {slice:?}");
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(invalid());
    };
    if stem.is_empty() || slice.contains('/') || !valid_unit_chars(slice) {
        return Err(invalid());
    }
    if stem == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(invalid());
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(part);
        path.push_str(".slice");
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand_as_systemd_lays_them_out() {
        assert_eq!(expand_slice("system.slice").as_deref(), Ok("/system.slice"));
        assert_eq!(
            expand_slice("kubepods-burstable-pod1.slice").as_deref(),
            Ok("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice")
        );
        assert_eq!(expand_slice("-.slice").as_deref(), Ok("/"));
        for bad in [
            "",
            ".slice",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
            "a.scope",
            "a b.slice",
        ] {
            assert!(expand_slice(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cgroups_path_reads_as_runc_reads_it() {
        let p = parse(Some("system.slice:docker:abc"), "x", true).expect("docker's");
        assert_eq!(p.unit, "docker-abc.scope");
        assert_eq!(p.cgroup, "/system.slice/docker-abc.scope");
        assert_eq!(p.slice, "system.slice");

        let d = parse(None, "c1", true).expect("default");
        assert_eq!(
            (d.slice.as_str(), d.unit.as_str()),
            ("system.slice", "corral-c1.scope")
        );
        assert_eq!(parse(Some(""), "c1", true).expect("empty"), d);
        let u = parse(None, "c1", false).expect("rootless");
        assert_eq!(u.cgroup, "/user.slice/corral-c1.scope");

        let k = parse(
            Some("kubepods-besteffort.slice:cri-containerd:f00"),
            "x",
            true,
        )
        .expect("k8s");
        assert_eq!(
            k.cgroup,
            "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-f00.scope"
        );
        let e = parse(Some(":corral:c2"), "x", true).expect("empty slice");
        assert_eq!(e.cgroup, "/system.slice/corral-c2.scope");
        let n = parse(Some("machine.slice::c3"), "x", true).expect("no prefix");
        assert_eq!(n.unit, "c3.scope");
        let r = parse(Some("-.slice:p:c4"), "x", true).expect("root slice");
        assert_eq!(r.cgroup, "/p-c4.scope");
    }

    #[test]
    fn bad_cgroups_paths_name_the_field_and_value() {
        for bad in [
            "/sys/fs/cgroup/x",
            "a:b",
            "a:b:c:d",
            "system.slice:p:",
            "bad:p:n",
            "system.slice:p:a/b",
            "system.slice:p:a b",
        ] {
            let e = parse(Some(bad), "x", true).expect_err(bad).to_string();
            assert!(
                e.contains("linux.cgroupsPath") && e.contains(bad),
                "{bad}: {e}"
            );
        }
        let e = parse(Some("system.slice:p:pod.slice"), "x", true)
            .expect_err("slice")
            .to_string();
        assert!(e.contains("slice of its own"), "{e}");
    }
}
