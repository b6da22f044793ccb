//! Publishing a container's network namespace where `ip netns` looks for
//! them: `/var/run/netns/<id>`, a bind mount of the init's
//! `/proc/PID/ns/net`, made on request (`corral netns ID`, or the
//! [`ANNOTATION`] at create) and removed at delete.
//!
//! Each published entry is also recorded as `<root>/@netns/<id>` (`@` is
//! never in a container id): [`sweep`], run by every corral command, removes
//! the entries whose container is gone — deleted by a `delete` that died
//! before unpublishing, or whose creation was interrupted — so that no
//! stale entry outlives a crash of corral.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result, SysContext};
use crate::store;

/// The annotation that asks `create` to publish the network namespace.
pub const ANNOTATION: &str = "org.corral.netns.publish";

/// Where `ip netns` keeps named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

fn registry(root: &Path) -> PathBuf {
    root.join("@netns")
}

/// Whether the annotations ask for the namespace to be published.
pub fn requested(annotations: &std::collections::HashMap<String, String>) -> Result<bool> {
    match annotations.get(ANNOTATION).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(Error::spec(
            format!("annotations.{ANNOTATION}"),
            format!("{v:?}: \"true\" or \"false\""),
        )),
    }
}

/// Makes /var/run/netns a shared mount point, as `ip netns add` does, so
/// that entries made later show in every mount namespace.
fn prepare_dir() -> Result<()> {
    let dir = Path::new(NETNS_DIR);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let mounts = procfs::process::Process::myself()
        .and_then(|p| p.mountinfo())
        .map_err(|e| Error::Other(format!("read /proc/self/mountinfo: {e}")))?;
    let canonical = dir
        .canonicalize()
        .map_err(|e| Error::io("resolve", dir, e))?;
    let target = canonical.to_string_lossy();
    // The crate leaves mountinfo's octal escapes (`\040`) as they are:
    // /run/netns has none to compare.
    let mounted = mounts.0.iter().any(|m| m.mount_point == canonical);
    if !mounted {
        mount(
            Some(&canonical),
            &canonical,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| format!("bind {target} onto itself"))?;
    }
    mount(
        None::<&str>,
        &canonical,
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("make {target} shared"))
}

/// Publishes the network namespace of `pid` (container `id`'s init) as
/// /var/run/netns/`id`. Fails if the name is taken.
pub fn publish(root: &Path, id: &str, pid: i32) -> Result<PathBuf> {
    store::validate_id(id)?;
    let src = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let own = std::fs::read_link("/proc/self/ns/net")
        .map_err(|e| Error::io("read", "/proc/self/ns/net", e))?;
    let theirs = std::fs::read_link(&src).map_err(|e| Error::io("read", &src, e))?;
    if own == theirs {
        return Err(Error::Other(format!(
            "container {id} shares the host's network namespace: nothing to publish"
        )));
    }
    prepare_dir()?;
    let entry = Path::new(NETNS_DIR).join(id);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&entry)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                Error::Other(format!("{entry:?} exists: the name is taken"))
            }
            _ => Error::io("create", &entry, e),
        })?;
    let reg = registry(root);
    let made = std::fs::create_dir_all(&reg)
        .map_err(|e| Error::io("create", &reg, e))
        .and_then(|()| {
            std::fs::write(reg.join(id), "").map_err(|e| Error::io("create", reg.join(id), e))
        })
        .and_then(|()| {
            mount(
                Some(&src),
                &entry,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .ctx(|| format!("bind {src:?} on {entry:?}"))
        });
    if let Err(e) = made {
        let _ = std::fs::remove_file(&entry);
        let _ = std::fs::remove_file(reg.join(id));
        return Err(e);
    }
    Ok(entry)
}

/// Removes container `id`'s published entry, if it has one.
pub fn unpublish(root: &Path, id: &str) -> Result<()> {
    let marker = registry(root).join(id);
    if !marker.exists() {
        return Ok(());
    }
    let entry = Path::new(NETNS_DIR).join(id);
    match umount2(&entry, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys(format!("unmount {entry:?}"), e)),
    }
    match std::fs::remove_file(&entry) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", &entry, e)),
    }
    let _ = std::fs::remove_file(&marker);
    Ok(())
}

/// Whether container `id` under `root` is published.
pub fn is_published(root: &Path, id: &str) -> bool {
    registry(root).join(id).exists()
}

/// Removes every published entry whose container is gone: no record, or a
/// creation that was interrupted. Returns the ids removed.
pub fn sweep(root: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(registry(root)) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in rd.flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        let gone = match crate::Container::load(root, &id) {
            Err(Error::NotExist(_)) => true,
            Ok(c) => c.creation_interrupted(),
            Err(_) => false,
        };
        if gone && unpublish(root, &id).is_ok() {
            removed.push(id);
        }
    }
    removed
}
