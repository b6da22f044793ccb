//! Idmapped mounts (runtime-spec 1.2): a bind mount with the `idmap` or
//! `ridmap` option shows its files' owners through an id mapping — the
//! mount's own `uidMappings`/`gidMappings`, or else the container's.
//!
//! Idmapping a mount needs CAP_SYS_ADMIN over the file system's user
//! namespace (the host's), which a container init in its own user namespace
//! does not have. So the parent does it before the init is cloned: a user
//! namespace with the mapping (a short-lived child that unshares and
//! waits), `open_tree(OPEN_TREE_CLONE)` of the source, `mount_setattr
//! (MOUNT_ATTR_IDMAP)` on the detached copy. The init inherits the fd and
//! attaches it with `move_mount` where the mount goes.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::error::{Error, Result};
use crate::rootfs::MountOptions;
use crate::spec::Extras;
use crate::sys;

/// The detached, idmapped mounts of one create, by index in `mounts`.
#[derive(Debug, Default)]
pub struct Prepared {
    trees: Vec<(usize, OwnedFd)>,
}

impl Prepared {
    /// (index in `mounts`, fd) pairs for the init.
    pub fn fds(&self) -> Vec<(usize, RawFd)> {
        self.trees
            .iter()
            .map(|(i, f)| (*i, f.as_raw_fd()))
            .collect()
    }
}

/// The mappings mount `i` is idmapped with, or None when it is not.
#[allow(clippy::type_complexity)]
fn mappings(
    spec: &Spec,
    extras: &Extras,
    i: usize,
) -> Result<Option<(Vec<LinuxIdMapping>, Vec<LinuxIdMapping>)>> {
    let Some(m) = spec.mounts().as_ref().and_then(|v| v.get(i)) else {
        return Ok(None);
    };
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]))
        .map_err(|e| Error::spec(format!("mounts[{i}].options"), e))?;
    let mine = extras.mount(i);
    let own = mine.is_some_and(|x| x.uid_mappings.is_some() || x.gid_mappings.is_some());
    if opts.idmap.is_none() && !own {
        return Ok(None);
    }
    let is_bind = opts.bind || m.typ().as_deref() == Some("bind");
    if !is_bind {
        return Err(Error::spec(
            format!("mounts[{i}].options"),
            "idmap/ridmap and id mappings are for bind mounts",
        ));
    }
    let linux = spec.linux().as_ref();
    let (uids, gids) = if own {
        (
            mine.and_then(|x| x.uid_mappings.clone()),
            mine.and_then(|x| x.gid_mappings.clone()),
        )
    } else {
        (
            linux.and_then(|l| l.uid_mappings().clone()),
            linux.and_then(|l| l.gid_mappings().clone()),
        )
    };
    match (uids, gids) {
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => Ok(Some((u, g))),
        _ => Err(Error::spec(
            format!("mounts[{i}]"),
            if own {
                "an idmapped mount needs both uidMappings and gidMappings".to_string()
            } else {
                "idmap without uidMappings/gidMappings on the mount needs the container's user namespace mappings".to_string()
            },
        )),
    }
}

/// Checks the idmap settings of every mount (no side effects).
pub fn check(spec: &Spec, extras: &Extras) -> Result<()> {
    for i in 0..spec.mounts().as_ref().map_or(0, Vec::len) {
        mappings(spec, extras, i)?;
    }
    Ok(())
}

/// Makes the idmapped copies of the sources of every idmapped mount.
pub fn prepare(spec: &Spec, extras: &Extras) -> Result<Prepared> {
    let mut out = Prepared::default();
    let mut userns: HashMap<String, OwnedFd> = HashMap::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some((uids, gids)) = mappings(spec, extras, i)? else {
            continue;
        };
        let field = format!("mounts[{i}]");
        let key = format!("{uids:?}{gids:?}");
        if !userns.contains_key(&key) {
            userns.insert(key.clone(), mapped_userns(&uids, &gids, &field)?);
        }
        let ns = &userns[&key];
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]))
            .map_err(|e| Error::spec(format!("{field}.options"), e))?;
        let recursive = opts.idmap.unwrap_or(false);
        let source = m
            .source()
            .as_deref()
            .ok_or_else(|| Error::spec(format!("{field}.source"), "missing for a bind mount"))?;
        // Without open_tree and mount_setattr (Linux 5.12) no idmapped
        // mount can be had: refused by the field that asks for one.
        let missing = |e: nix::errno::Errno| {
            Error::spec(
                format!("{field}.uidMappings"),
                format!(
                    "{uids:?}: idmapped mounts need open_tree and mount_setattr (Linux 5.12), which this host lacks or refuses ({e})"
                ),
            )
        };
        let tree = sys::open_tree_clone(
            source,
            recursive || opts.flags.contains(nix::mount::MsFlags::MS_REC),
        )
        .map_err(|e| {
            if sys::api_missing(e) {
                missing(e)
            } else {
                Error::sys(format!("{field}: open_tree {source:?}"), e)
            }
        })?;
        let attr = sys::MountAttr {
            attr_set: crate::rootfs::attr::IDMAP,
            userns_fd: ns.as_raw_fd() as u64,
            ..Default::default()
        };
        sys::mount_setattr(tree.as_raw_fd(), recursive, &attr).map_err(|e| {
            if sys::api_missing(e) {
                return missing(e);
            }
            Error::sys(
                format!("{field}: idmap {source:?} (mount_setattr; the file system must support idmapped mounts)"),
                e,
            )
        })?;
        out.trees.push((i, tree));
    }
    Ok(out)
}

/// A user namespace with the given mappings: a child unshares one, the
/// parent writes its maps and keeps a handle on it, the child exits.
fn mapped_userns(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping], field: &str) -> Result<OwnedFd> {
    let (mut ready_r, mut ready_w) = pipe()?;
    let (mut done_r, done_w) = pipe()?;
    let pid = match sys::fork().map_err(|e| Error::sys("fork for an idmap user namespace", e))? {
        sys::Forked::Child => {
            drop(ready_r);
            drop(done_w);
            // It holds nothing but its two pipes (it starts non-dumpable:
            // sys::clone3).
            crate::process::seal::release_mount_fd();
            close_all_but(&[ready_w.as_raw_fd(), done_r.as_raw_fd()]);
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = ready_w.write_all(&[ok as u8]);
            let mut b = [0u8; 1];
            let _ = done_r.read(&mut b);
            sys::exit_now(0)
        }
        sys::Forked::Parent(pid) => pid,
    };
    drop(ready_w);
    drop(done_r);
    let result = (|| {
        let mut b = [0u8; 1];
        ready_r
            .read_exact(&mut b)
            .map_err(|e| Error::Other(format!("{field}: idmap helper: {e}")))?;
        if b[0] != 1 {
            return Err(Error::Other(format!(
                "{field}: cannot create a user namespace for the idmapped mount"
            )));
        }
        let line = |maps: &[LinuxIdMapping]| {
            maps.iter()
                .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
                .collect::<String>()
        };
        for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
            let p = format!("/proc/{pid}/{file}");
            std::fs::write(&p, line(maps)).map_err(|e| Error::io("write idmap", &p, e))?;
        }
        let p = format!("/proc/{pid}/ns/user");
        Ok(std::fs::File::open(&p)
            .map_err(|e| Error::io("open", &p, e))?
            .into())
    })();
    drop(done_w);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    result
}

/// Closes every fd from 3 up but `keep` (in a forked child).
fn close_all_but(keep: &[std::os::fd::RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<std::os::fd::RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    for fd in fds {
        // Closing the directory's own fd as well is harmless: it is read.
        let _ = nix::unistd::close(fd);
    }
}

fn pipe() -> Result<(std::fs::File, std::fs::File)> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", e))?;
    Ok((std::fs::File::from(r), std::fs::File::from(w)))
}
