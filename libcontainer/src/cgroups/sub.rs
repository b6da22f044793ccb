//! `exec --cgroup`: a process placed in a cgroup below the container's own
//! (one the container or its operator made, for example a sub-cgroup of a
//! systemd inside the container), as runc's `exec --cgroup
//! [CONTROLLERS:]PATH`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::plan::CgroupState;
use crate::error::{Error, Result};

/// The flag's name in errors.
const FLAG: &str = "--cgroup";

/// Parses `--cgroup` values as runc does: `PATH` (every hierarchy) or
/// `CONTROLLER[,CONTROLLER…]:PATH` (those controllers' hierarchies), each
/// controller and the bare path at most once. The map's key `""` is the
/// bare path.
pub fn parse(args: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for a in args {
        let bad = |why: &str| Error::Other(format!("{FLAG} {a:?}: {why}"));
        let (ctrls, path) = match a.split_once(':') {
            Some((c, p)) => (c.split(',').collect::<Vec<_>>(), p),
            None => (vec![""], a.as_str()),
        };
        let path = relative(path).map_err(|why| bad(&why))?;
        for c in ctrls {
            if c.is_empty() && a.contains(':') {
                return Err(bad("an empty controller before ':'"));
            }
            if out.insert(c.to_string(), path.clone()).is_some() {
                return Err(bad(&if c.is_empty() {
                    "a second path with no controller prefix".to_string()
                } else {
                    format!("controller {c} given twice")
                }));
            }
        }
    }
    Ok(out)
}

/// `p` as a path below the container's cgroup: a leading `/` is the
/// container's cgroup itself (runc joins the two); `..` is refused, so the
/// process cannot leave the container's cgroup.
fn relative(p: &str) -> std::result::Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("'..' would leave the container's cgroup".into()),
            Component::Prefix(_) => return Err("not a cgroup path".into()),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("an empty path (the container's own cgroup needs no --cgroup)".into());
    }
    Ok(out)
}

/// `st` with each hierarchy's directory moved to the sub-cgroup `subs`
/// names for it: the controller's own entry, else the bare path, else the
/// container's own directory. A controller no hierarchy of the container
/// has, controller entries on a unified (cgroup v2) host, two controllers
/// of one hierarchy with different paths, and a sub-cgroup that does not
/// exist are refused by name.
pub(crate) fn state(st: &CgroupState, subs: &BTreeMap<String, PathBuf>) -> Result<CgroupState> {
    let bad = |why: String| Error::Other(format!("{FLAG}: {why}"));
    let named: Vec<&String> = subs.keys().filter(|k| !k.is_empty()).collect();
    if st.v2 && !named.is_empty() {
        return Err(bad(format!(
            "a cgroup v2 host has one hierarchy: give one path with no controller prefix (got {})",
            named
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for c in &named {
        if !st.paths.keys().any(|k| {
            k.split(',')
                .any(|x| x == c.as_str() || x == format!("name={c}"))
        }) {
            return Err(bad(format!("the container has no {c} cgroup")));
        }
    }
    let mut out = st.clone();
    for (key, dir) in out.paths.iter_mut() {
        let mut pick: Option<&PathBuf> = None;
        for ctrl in key.split(',') {
            let ctrl = ctrl.strip_prefix("name=").unwrap_or(ctrl);
            if let Some(p) = subs.get(ctrl) {
                if pick.is_some_and(|q| q != p) {
                    return Err(bad(format!(
                        "controllers of the one hierarchy {key} are given different paths"
                    )));
                }
                pick = Some(p);
            }
        }
        let Some(sub) = pick.or_else(|| subs.get("")) else {
            continue;
        };
        let target = dir.join(sub);
        // cgroupfs has no symlinks; a directory it is, or it is refused.
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => *dir = target,
            // A hybrid host's cgroup2 hierarchy holds no controllers: a
            // sub-cgroup made in the v1 ones only leaves it as it is.
            _ if key == "unified" && !st.v2 && pick.is_none() => {}
            _ => {
                return Err(bad(format!(
                    "no sub-cgroup {} (it must exist: corral does not make it)",
                    target.display()
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_parse_as_runc_parses_them() {
        let m = parse(&args(&["sub", "cpu,memory:/a/b"])).expect("parse");
        assert_eq!(m[""], PathBuf::from("sub"));
        assert_eq!(m["cpu"], PathBuf::from("a/b"));
        assert_eq!(m["memory"], PathBuf::from("a/b"));
        for (bad, why) in [
            (vec!["a", "b"], "second path"),
            (vec!["cpu:a", "cpu:b"], "cpu given twice"),
            (vec![":a"], "empty controller"),
            (vec!["cpu,:a"], "empty controller"),
            (vec!["../up"], "'..'"),
            (vec!["a/../../up"], "'..'"),
            (vec!["/"], "empty path"),
            (vec!["cpu:"], "empty path"),
        ] {
            let e = parse(&args(&bad))
                .expect_err(&format!("{bad:?}"))
                .to_string();
            assert!(e.contains("--cgroup") && e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn each_hierarchy_gets_its_sub_cgroup() {
        let base = std::env::temp_dir().join(format!("corral-sub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        for d in ["cpu/c/x", "memory/c/y", "pids/c/x"] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        let mut st = CgroupState::default();
        for k in ["cpu,cpuacct", "memory", "pids", "unified"] {
            let top = k.split(',').next().unwrap_or(k);
            st.paths.insert(k.into(), base.join(top).join("c"));
        }
        let m = parse(&args(&["x", "memory:y"])).expect("parse");
        let s = state(&st, &m).expect("state");
        assert_eq!(s.paths["cpu,cpuacct"], base.join("cpu/c/x"));
        assert_eq!(s.paths["memory"], base.join("memory/c/y"));
        // A hybrid host's cgroup2 hierarchy without the sub-cgroup: as it is.
        assert_eq!(s.paths["unified"], base.join("unified/c"));
        std::fs::create_dir_all(base.join("unified/c/x")).expect("mkdir");
        let s = state(&st, &m).expect("state");
        assert_eq!(s.paths["unified"], base.join("unified/c/x"));
        // A controller the container has no hierarchy of.
        let e = state(&st, &parse(&args(&["rdma:x"])).expect("parse")).expect_err("rdma");
        assert!(e.to_string().contains("no rdma cgroup"), "{e}");
        // A sub-cgroup that does not exist.
        let e = state(&st, &parse(&args(&["nope"])).expect("parse")).expect_err("nope");
        assert!(e.to_string().contains("must exist"), "{e}");
        // Two controllers of one hierarchy, two paths.
        let e =
            state(&st, &parse(&args(&["cpu:x", "cpuacct:y"])).expect("parse")).expect_err("split");
        assert!(e.to_string().contains("different paths"), "{e}");
        // cgroup v2: no controller prefixes.
        st.v2 = true;
        let e = state(&st, &parse(&args(&["memory:y"])).expect("parse")).expect_err("v2");
        assert!(e.to_string().contains("no controller prefix"), "{e}");
        std::fs::remove_dir_all(base).expect("cleanup");
    }
}
