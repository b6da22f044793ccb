//! The container's root file system: mounts and their propagation, `/dev`
//! and its devices, pivot_root (or `--no-pivot`), the readonly root, masked
//! and readonly paths, and sysctls.
//!
//! Every path inside the rootfs is resolved with `openat2(RESOLVE_IN_ROOT)`
//! against a directory fd of the rootfs, and mounts target the resolved fd
//! (`move_mount` onto it, or `/proc/self/fd/N`), so a symlink in the image
//! cannot send a mount or a write outside the rootfs. Mounts are made with
//! their final attributes while detached (`open_tree` + `mount_setattr`
//! for binds, `fsopen` + `fsmount` for new file systems) and no path is
//! looked up again after mounting on it: what comes under a file system
//! corral made (everything under its `/dev`) is resolved from that mount's
//! own fd. Where the new mount API is missing, the fallbacks keep the same
//! guarantees (a staged bind, mounts reopened only if they are the ones
//! just made, attributes verified with fstatvfs).

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::cgroups::{self, CgroupState};
use crate::error::{Error, Result, SysContext};
use crate::sys;

use crate::procfile::PROC_SUPER_MAGIC;

/// The mount flag of a propagation name (`rslave`, `private`…).
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// A mount's `options`, split into flags to set, flags to clear, propagation
/// changes and file-system data.
#[derive(Debug, Clone, PartialEq)]
pub struct MountOptions {
    /// Flags to set.
    pub flags: MsFlags,
    /// Flags the options clear explicitly (`rw`, `suid`…).
    pub clear: MsFlags,
    /// Propagation changes, applied after the mount.
    pub propagation: Vec<MsFlags>,
    /// Options passed to the file system (`mode=755`, `size=64m`…).
    pub data: Vec<String>,
    /// Whether this is a bind mount (`bind` or `rbind`).
    pub bind: bool,
    /// Recursive attributes (`rro`, `rnosuid`… of runtime-spec 1.1): the
    /// `MOUNT_ATTR_*` bits to set and clear on the mount and every submount.
    pub rec_set: u64,
    /// See `rec_set`.
    pub rec_clr: u64,
    /// `idmap` (`Some(false)`) or `ridmap` (`Some(true)`).
    pub idmap: Option<bool>,
    /// `tmpcopyup`: a tmpfs starts with a copy of what it covers.
    pub tmpcopyup: bool,
}

/// `MOUNT_ATTR_*` of mount_setattr(2).
pub mod attr {
    /// Read-only.
    pub const RDONLY: u64 = 0x1;
    /// No set-uid.
    pub const NOSUID: u64 = 0x2;
    /// No devices.
    pub const NODEV: u64 = 0x4;
    /// No exec.
    pub const NOEXEC: u64 = 0x8;
    /// The atime mode bits.
    pub const ATIME_MASK: u64 = 0x70;
    /// relatime (the value 0 of the atime field).
    pub const RELATIME: u64 = 0x0;
    /// noatime.
    pub const NOATIME: u64 = 0x10;
    /// strictatime.
    pub const STRICTATIME: u64 = 0x20;
    /// nodiratime.
    pub const NODIRATIME: u64 = 0x80;
    /// Idmapped.
    pub const IDMAP: u64 = 0x10_0000;
    /// No symlink following.
    pub const NOSYMFOLLOW: u64 = 0x20_0000;
}

/// `MS_NOSYMFOLLOW` (Linux 5.10), not in nix's flags.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            bind: false,
            rec_set: 0,
            rec_clr: 0,
            idmap: None,
            tmpcopyup: false,
        }
    }
}

impl MountOptions {
    /// Parses a mount's `options`.
    pub fn parse(opts: &[String]) -> std::result::Result<MountOptions, String> {
        let mut o = MountOptions::default();
        for opt in opts {
            let (set, clear) = match opt.as_str() {
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
                "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
                "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
                "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
                "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
                "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
                "bind" => {
                    o.bind = true;
                    (MsFlags::MS_BIND, MsFlags::empty())
                }
                "rbind" => {
                    o.bind = true;
                    (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
                }
                "defaults" => (MsFlags::empty(), MsFlags::empty()),
                "nosymfollow" => (MS_NOSYMFOLLOW, MsFlags::empty()),
                "symfollow" => (MsFlags::empty(), MS_NOSYMFOLLOW),
                "idmap" | "ridmap" => {
                    o.idmap = Some(opt == "ridmap");
                    continue;
                }
                "tmpcopyup" => {
                    o.tmpcopyup = true;
                    continue;
                }
                other => {
                    if let Some(p) = propagation_flag(other) {
                        o.propagation.push(p);
                    } else if let Some((set, bits)) = recursive_attr(other) {
                        if ATIME_OPTS.contains(&other) {
                            // The atime modes are one field: replace it.
                            o.rec_set = (o.rec_set & !attr::ATIME_MASK) | bits;
                            o.rec_clr |= attr::ATIME_MASK;
                        } else if set {
                            o.rec_set |= bits;
                            o.rec_clr &= !bits;
                        } else {
                            o.rec_clr |= bits;
                            o.rec_set &= !bits;
                        }
                    } else {
                        o.data.push(other.to_string());
                    }
                    continue;
                }
            };
            o.flags.insert(set);
            o.flags.remove(clear);
            o.clear.insert(clear);
        }
        Ok(o)
    }

    /// Whether any recursive attribute is asked for.
    pub fn has_recursive_attrs(&self) -> bool {
        self.rec_set != 0 || self.rec_clr != 0
    }

    /// Turns the recursive attributes into mount flags (for a new file
    /// system, which has no submounts for them to reach).
    fn fold_recursive_attrs(&mut self) {
        if self.rec_clr & attr::ATIME_MASK != 0 {
            self.flags -= MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_RELATIME;
            if self.rec_set & attr::ATIME_MASK == attr::RELATIME {
                self.flags |= MsFlags::MS_RELATIME;
            }
        }
        self.flags -= flags_of(self.rec_clr & !attr::ATIME_MASK);
        self.flags |= flags_of(self.rec_set);
        self.rec_set = 0;
        self.rec_clr = 0;
    }
}

/// The recursive options that set the atime mode.
const ATIME_OPTS: [&str; 6] = [
    "rnoatime",
    "rstrictatime",
    "rnorelatime",
    "rrelatime",
    "ratime",
    "rnostrictatime",
];

/// A recursive attribute option: (set or clear, `MOUNT_ATTR_*` bits). The
/// atime options name the mode the atime field takes: `rnoatime`,
/// `rstrictatime`, `rrelatime`; their negations `ratime`, `rnostrictatime`
/// go back to the kernel's default relatime and `rnorelatime` to
/// strictatime (atime updated on every access).
fn recursive_attr(opt: &str) -> Option<(bool, u64)> {
    Some(match opt {
        "rro" => (true, attr::RDONLY),
        "rrw" => (false, attr::RDONLY),
        "rnosuid" => (true, attr::NOSUID),
        "rsuid" => (false, attr::NOSUID),
        "rnodev" => (true, attr::NODEV),
        "rdev" => (false, attr::NODEV),
        "rnoexec" => (true, attr::NOEXEC),
        "rexec" => (false, attr::NOEXEC),
        "rnodiratime" => (true, attr::NODIRATIME),
        "rdiratime" => (false, attr::NODIRATIME),
        "rnosymfollow" => (true, attr::NOSYMFOLLOW),
        "rsymfollow" => (false, attr::NOSYMFOLLOW),
        "rnoatime" => (true, attr::NOATIME),
        "rstrictatime" | "rnorelatime" => (true, attr::STRICTATIME),
        "rrelatime" | "ratime" | "rnostrictatime" => (true, attr::RELATIME),
        _ => return None,
    })
}

/// Copies the tree under the directory `from` into the directory `to`
/// (tmpcopyup): files, directories, symlinks and special files with their
/// modes and owners; nothing is followed. The top directory's mode and
/// owner go to `to` as well.
fn copy_up(from: &OwnedFd, to: &OwnedFd) -> nix::Result<()> {
    use nix::fcntl::OFlag;
    use nix::sys::stat::{fstat, fstatat, mknodat, Mode, SFlag};
    use nix::unistd::fchownat;
    let st = fstat(from)?;
    nix::sys::stat::fchmod(to, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    nix::unistd::fchown(to, Some(st.st_uid.into()), Some(st.st_gid.into()))?;
    let names: Vec<std::ffi::OsString> = std::fs::read_dir(fd_path(from))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    for name in names {
        let name = name.as_os_str();
        let st = fstatat(from, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                nix::sys::stat::mkdirat(to, name, mode)?;
                let sub_from =
                    nix::fcntl::openat(from, name, OFlag::O_DIRECTORY | nofollow, Mode::empty())?;
                let sub_to =
                    nix::fcntl::openat(to, name, OFlag::O_DIRECTORY | nofollow, Mode::empty())?;
                copy_up(&sub_from, &sub_to)?;
                continue;
            }
            libc::S_IFREG => {
                let src =
                    nix::fcntl::openat(from, name, OFlag::O_RDONLY | nofollow, Mode::empty())?;
                let dst = nix::fcntl::openat(
                    to,
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow,
                    mode,
                )?;
                let mut src = std::fs::File::from(src);
                let mut dst = std::fs::File::from(dst);
                std::io::copy(&mut src, &mut dst)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
                nix::sys::stat::fchmod(&dst, mode)?;
            }
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(from, name)?;
                nix::unistd::symlinkat(target.as_os_str(), to, name)?;
            }
            kind => {
                mknodat(to, name, SFlag::from_bits_truncate(kind), mode, st.st_rdev)?;
            }
        }
        fchownat(
            to,
            name,
            Some(st.st_uid.into()),
            Some(st.st_gid.into()),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
    }
    Ok(())
}

/// `/proc/self/fd/N` of an fd, for calls that take a path.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens `path` (relative to the rootfs fd) as an `O_PATH` fd, creating the
/// missing directories on the way and, if `file`, the last component as an
/// empty file. No component can resolve outside the rootfs: symlinks,
/// dangling ones included, are followed as if the rootfs were `/`, and what
/// they point to is created inside it.
pub fn mkdir_all_in_root(root: &OwnedFd, path: &Path, file: bool) -> Result<OwnedFd> {
    use std::collections::VecDeque;
    let parts = |p: &Path| -> VecDeque<std::ffi::OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect()
    };
    let open = |p: &Path| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        sys::openat_in_root(root.as_raw_fd(), p, libc::O_PATH, 0)
    };
    let mut pending = parts(path);
    let mut cur = PathBuf::new();
    let mut hops = 0;
    while let Some(comp) = pending.pop_front() {
        let last = pending.is_empty();
        let next = cur.join(&comp);
        match open(&next) {
            Ok(fd) => {
                cur = next;
                if last {
                    return Ok(fd);
                }
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys(format!("resolve {next:?} in rootfs"), e)),
        }
        let parent = open(&cur).ctx(|| format!("resolve {cur:?} in rootfs"))?;
        // Missing: absent, or a symlink whose target is absent.
        if let Ok(target) = nix::fcntl::readlinkat(&parent, comp.as_os_str()) {
            hops += 1;
            if hops > 40 {
                return Err(Error::sys(
                    format!("resolve {path:?} in rootfs"),
                    Errno::ELOOP,
                ));
            }
            let target = PathBuf::from(target);
            if target.is_absolute() {
                cur = PathBuf::new();
            }
            let mut expanded = parts(&target);
            expanded.extend(pending);
            pending = expanded;
            continue;
        }
        if last && file {
            sys::openat_in_root(
                root.as_raw_fd(),
                &next,
                libc::O_CREAT | libc::O_WRONLY | libc::O_NOCTTY,
                0o644,
            )
            .ctx(|| format!("create {next:?} in rootfs"))?;
        } else {
            match sys::mkdirat(parent.as_raw_fd(), Path::new(&comp), 0o755) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::sys(format!("mkdir {next:?} in rootfs"), e)),
            }
        }
        cur = next;
        if last {
            return open(&cur).ctx(|| format!("resolve {cur:?} in rootfs"));
        }
    }
    open(&cur).ctx(|| "open rootfs".to_string())
}

/// What the mount code needs to know beyond the spec.
pub struct Context<'a> {
    /// Absolute rootfs path on the host.
    pub rootfs: &'a Path,
    /// The container's cgroups.
    pub cgroups: &'a CgroupState,
    /// The host's cgroup hierarchies (read by the creator before the clone).
    pub hierarchies: &'a [cgroups::Hierarchy],
    /// Whether the container has its own new cgroup namespace.
    pub cgroupns: bool,
    /// Whether the container has a user namespace (no mknod then).
    pub userns: bool,
    /// Idmapped copies of mount sources by index in `mounts`.
    pub idmapped: &'a [(usize, RawFd)],
}

/// Mounts one entry of a caller's rootfs list (containerd's `Mount`: type,
/// source, options such as overlay's `lowerdir=…`) on `target`.
pub fn mount_rootfs_entry(
    typ: &str,
    source: &str,
    options: &[String],
    target: &Path,
) -> Result<()> {
    let o = MountOptions::parse(options).map_err(Error::Other)?;
    let data = o.data.join(",");
    let (flags, typ) = if o.bind || typ == "bind" {
        (MsFlags::MS_BIND | (o.flags & MsFlags::MS_REC), None)
    } else {
        (o.flags, Some(typ))
    };
    mount(
        Some(source),
        target,
        typ,
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .ctx(|| format!("mount {typ:?} {source:?} on {target:?}"))?;
    if o.bind && o.flags.contains(MsFlags::MS_RDONLY) {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .ctx(|| format!("remount {target:?} read-only"))?;
    }
    Ok(())
}

/// Unmounts everything mounted on `target` (the rootfs a caller mounted
/// with [`mount_rootfs_entry`]); a path with nothing mounted is fine.
pub fn unmount_all(target: &Path) -> Result<()> {
    loop {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(Error::sys(format!("unmount {target:?}"), e)),
        }
    }
}

/// Step 1, in the new mount namespace: stop propagation to the host and make
/// the rootfs a mount point of its own.
pub fn prepare_root(rootfs: &Path) -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "make / rslave".to_string())?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind rootfs {rootfs:?} onto itself"))
}

/// Step 2: every mount of config.json, then `/dev` if the config mounts a
/// fresh one.
///
/// `before_cgroups` runs once, before the first `cgroup`/`cgroup2` mount or
/// after the last mount: the init waits there for its cgroups.
///
/// Returns the container's `/dev` as corral pinned it (its own /dev mount,
/// or the image's /dev directory when the config mounts none there; None
/// for a bound /dev), for [`open_console`].
pub fn mount_all(
    spec: &Spec,
    ctx: &Context,
    before_cgroups: &mut dyn FnMut() -> Result<()>,
) -> Result<Option<OwnedFd>> {
    let root: OwnedFd = std::fs::File::open(ctx.rootfs)
        .map_err(|e| Error::io("open rootfs", ctx.rootfs, e))?
        .into();
    let mut waited = false;
    let mut made = Made::new();
    let dev_mount = spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| Path::new("/").join(m.destination()) == Path::new("/dev"));
    if !dev_mount {
        // The image's own /dev: resolved once, and it must be a directory
        // of the image, not a volume's (another mount) swapped in.
        let dev = mkdir_all_in_root(&root, Path::new("/dev"), false)?;
        let on = |fd: &OwnedFd| sys::mount_id(fd.as_raw_fd()).ctx(|| "mount id".to_string());
        if on(&dev)? != on(&root)? {
            return Err(Error::Other(
                "/dev in the image is on another mount than the rootfs (and the config mounts none there): refused".into(),
            ));
        }
        made.push((PathBuf::from("/dev"), dev));
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let typ = m.typ().as_deref().unwrap_or("");
        if !waited && (typ == "cgroup" || typ == "cgroup2") {
            before_cgroups()?;
            waited = true;
        }
        // A relative destination is taken from `/`, as runc does.
        let mut m = m.clone();
        m.set_destination(Path::new("/").join(m.destination()));
        let m = &m;
        let idmapped = ctx
            .idmapped
            .iter()
            .find(|(j, _)| *j == i)
            .map(|(_, fd)| *fd);
        let mnt = mount_one(m, idmapped, &root, &made, ctx).map_err(|e| {
            Error::Other(format!(
                "mounts[{i}] ({:?} on {:?}): {e}",
                m.typ().clone().unwrap_or_else(|| "bind".into()),
                m.destination()
            ))
        })?;
        if let Some(mnt) = mnt {
            made.push((m.destination().to_path_buf(), mnt));
        }
    }
    if !waited {
        before_cgroups()?;
    }
    // As runc: /dev gets the default devices and symlinks unless it is a
    // bind mount (the image's own /dev included).
    let fresh_dev = !spec.mounts().iter().flatten().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || MountOptions::parse(m.options().as_deref().unwrap_or(&[]))
                    .map(|o| o.bind)
                    .unwrap_or(false))
    });
    let devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    if fresh_dev {
        create_devices(&root, &made, &default_devices(), ctx.userns)?;
        dev_symlinks(&root, &made)?;
    }
    create_devices(&root, &made, &devices, ctx.userns)?;
    Ok(made
        .into_iter()
        .rev()
        .find(|(d, _)| d == Path::new("/dev"))
        .map(|(_, fd)| fd))
}

/// One entry of `mounts`; `idmapped` is the detached, idmapped copy of its
/// source the parent made (see [`crate::idmap`]).
fn mount_one(
    m: &Mount,
    idmapped: Option<RawFd>,
    root: &OwnedFd,
    made: &Made,
    ctx: &Context,
) -> Result<Option<OwnedFd>> {
    let mut opts =
        MountOptions::parse(m.options().as_deref().unwrap_or(&[])).map_err(Error::Other)?;
    let typ = m.typ().clone().unwrap_or_default();
    let is_bind = opts.bind || typ == "bind";
    if !is_bind || typ == "cgroup" || typ == "cgroup2" {
        // A new file system has no submounts yet: its recursive attributes
        // are flags of the mount call itself, set as it is made.
        opts.fold_recursive_attrs();
    }
    if typ == "cgroup" || typ == "cgroup2" {
        let (base, rel) = base_for(made, root, m.destination());
        mount_cgroup(m.destination(), &rel, &opts, base, ctx).map(|()| None)
    } else {
        // Binds get their recursive attributes on the detached tree.
        mount_plain(m, &opts, idmapped, root, made)
    }
}

/// The file systems corral made so far in this rootfs: (destination, fd of
/// the mount's root). A later destination under one of them is resolved
/// from that fd, not from the rootfs path again: a co-tenant who swaps the
/// directory under `/dev` for a symlink cannot send `/dev/pts`, the device
/// nodes or the `/dev` symlinks elsewhere.
pub(crate) type Made = Vec<(PathBuf, OwnedFd)>;

/// Where to resolve `dest` from: the newest file system corral made at or
/// above it and the rest of the path, else the rootfs and the whole path.
fn base_for<'a>(made: &'a Made, root: &'a OwnedFd, dest: &Path) -> (&'a OwnedFd, PathBuf) {
    for (d, fd) in made.iter().rev() {
        if let Ok(rest) = dest.strip_prefix(d) {
            return (fd, rest.to_path_buf());
        }
    }
    (root, dest.to_path_buf())
}

fn mount_plain(
    m: &Mount,
    opts: &MountOptions,
    idmapped: Option<RawFd>,
    root: &OwnedFd,
    made: &Made,
) -> Result<Option<OwnedFd>> {
    let typ = m.typ().clone().unwrap_or_default();
    let is_bind = opts.bind || typ == "bind";
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(&typ));
    // A bind of a file needs a file to mount on.
    let is_file = is_bind
        && std::fs::metadata(&source)
            .map(|md| !md.is_dir())
            .unwrap_or(false);
    let (base, rel) = base_for(made, root, m.destination());
    let target = mkdir_all_in_root(base, &rel, is_file)?;
    crate::proc_mounts::check_target(m.destination(), &target).map_err(Error::Other)?;
    if typ == "proc" || typ == "sysfs" || typ == "devpts" {
        no_symlink_on_the_way(base, &rel, &target, m.destination())?;
    }
    if is_bind {
        if opts.has_recursive_attrs() && !sys::syscall_usable(libc::SYS_mount_setattr) {
            // No remount can give submounts an attribute: refused by name
            // rather than made without it.
            let asked: Vec<&String> = m
                .options()
                .iter()
                .flatten()
                .filter(|o| recursive_attr(o).is_some())
                .collect();
            return Err(Error::Other(format!(
                "options {asked:?}: recursive mount attributes need mount_setattr (Linux 5.12), which this host lacks or refuses"
            )));
        }
        let recursive = opts.flags.contains(MsFlags::MS_REC);
        let mnt = bind_mount(&source, recursive, &BindAttrs::of(opts), &target, idmapped)?;
        set_propagation(&mnt, &opts.propagation)?;
        return Ok(None);
    }
    if opts.flags.contains(MsFlags::MS_REMOUNT) {
        // A remount changes the mount `target` already names (the top one
        // at the destination): no new mount, nothing to pin.
        let data = opts.data.join(",");
        mount(
            Some(&source),
            &fd_path(&target),
            Some(typ.as_str()),
            opts.flags,
            (!data.is_empty()).then_some(data.as_str()),
        )
        .ctx(|| format!("remount {typ} (data {data:?})"))?;
        return Ok(None);
    }
    // tmpcopyup: the directory the tmpfs will cover, kept open.
    let below = if opts.tmpcopyup {
        if typ != "tmpfs" {
            return Err(Error::Other(format!(
                "tmpcopyup is for tmpfs mounts, not {typ:?}"
            )));
        }
        Some(pfd_dir(&target)?)
    } else {
        None
    };
    // A tmpfs without `mode=` takes the mode of the directory it covers,
    // as runc gives it (the kernel's default is 1777); a `mode=` of the
    // config comes later in the data and wins.
    let with_mode;
    let opts = if typ == "tmpfs" && !opts.data.iter().any(|d| d.starts_with("mode=")) {
        let st = nix::sys::stat::fstat(&target).ctx(|| "stat the tmpfs mountpoint".to_string())?;
        let mut o = opts.clone();
        o.data
            .insert(0, format!("mode={:04o}", st.st_mode & 0o7777));
        with_mode = o;
        &with_mode
    } else {
        opts
    };
    let mnt = new_fs_mount(&typ, &source, opts, &target, base, &rel, below.as_ref())?;
    if typ == "proc"
        && sys::fs_magic(mnt.as_raw_fd()).ctx(|| "statfs".to_string())? != PROC_SUPER_MAGIC
    {
        return Err(Error::Other("the proc mount is not procfs".into()));
    }
    set_propagation(&mnt, &opts.propagation)?;
    Ok(Some(mnt))
}

/// Propagation changes on a mount through its own root fd.
fn set_propagation(mnt: &OwnedFd, props: &[MsFlags]) -> Result<()> {
    for p in props {
        mount(None::<&str>, &fd_path(mnt), None::<&str>, *p, None::<&str>)
            .ctx(|| format!("set propagation {p:?}"))?;
    }
    Ok(())
}

/// The superblock options of mount flags, as `fsconfig` flags; None when a
/// flag has no such spelling (then the mount goes through mount(2)).
fn sb_params(f: MsFlags) -> Option<Vec<&'static str>> {
    let mut v = Vec::new();
    for (flag, name) in [
        (MsFlags::MS_SYNCHRONOUS, "sync"),
        (MsFlags::MS_DIRSYNC, "dirsync"),
        (MsFlags::MS_LAZYTIME, "lazytime"),
        (MsFlags::MS_MANDLOCK, "mand"),
        (MsFlags::MS_SILENT, "silent"),
        (MsFlags::MS_RDONLY, "ro"),
    ] {
        if f.contains(flag) {
            v.push(name);
        }
    }
    let known = MsFlags::MS_SYNCHRONOUS
        | MsFlags::MS_DIRSYNC
        | MsFlags::MS_LAZYTIME
        | MsFlags::MS_MANDLOCK
        | MsFlags::MS_SILENT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_NOATIME
        | MsFlags::MS_NODIRATIME
        | MsFlags::MS_RELATIME
        | MsFlags::MS_STRICTATIME
        | MS_NOSYMFOLLOW;
    (f - known).is_empty().then_some(v)
}

/// The ids of the mounts in this mount namespace now.
fn mount_ids() -> Result<std::collections::HashSet<u64>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').next().and_then(|f| f.parse().ok()))
        .collect())
}

/// Whether `fd` is on a mount that is not among `before`: one made since.
/// No other process makes mounts in the init's mount namespace, so a mount
/// that appeared across our own mount(2) call is the one it made.
fn on_new_mount(fd: &OwnedFd, before: &std::collections::HashSet<u64>) -> Result<bool> {
    let id = sys::mount_id(fd.as_raw_fd()).ctx(|| "mount id".to_string())?;
    Ok(!before.contains(&id))
}

/// Mounts a new `typ` file system on `target` and returns an fd of its
/// root. Made detached (`fsopen`/`fsconfig`/`fsmount`, with its mount
/// attributes), filled (tmpcopyup from `below`) while nothing can see it,
/// then attached fd onto fd. Where that fails (no fsopen, or a file system
/// or option it does not take) it is mounted with mount(2) on `target`'s
/// fd and reopened at `rel` under `base`, refused unless what is found
/// there is on the mount that call made (see [`on_new_mount`]).
fn new_fs_mount(
    typ: &str,
    source: &Path,
    opts: &MountOptions,
    target: &OwnedFd,
    base: &OwnedFd,
    rel: &Path,
    below: Option<&OwnedFd>,
) -> Result<OwnedFd> {
    let data = opts.data.join(",");
    let src = source.to_string_lossy();
    let detached = sb_params(opts.flags).and_then(|sb| {
        let mut params: Vec<(&str, Option<&str>)> = vec![("source", Some(&src))];
        for d in &opts.data {
            params.push(match d.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (d.as_str(), None),
            });
        }
        params.extend(sb.iter().map(|f| (*f, None)));
        sys::fsmount_new(typ, &params, attrs_of(opts.flags)).ok()
    });
    if let Some(mnt) = detached {
        if let Some(below) = below {
            copy_up(below, &pfd_dir(&mnt)?).ctx(|| "tmpcopyup".to_string())?;
        }
        sys::move_mount_fd(mnt.as_raw_fd(), target.as_raw_fd())
            .ctx(|| format!("attach the new {typ} (move_mount)"))?;
        return Ok(mnt);
    }
    let before = mount_ids()?;
    mount(
        Some(source),
        &fd_path(target),
        Some(typ),
        opts.flags,
        if data.is_empty() {
            None
        } else {
            Some(data.as_str())
        },
    )
    .ctx(|| format!("mount {typ} (data {data:?})"))?;
    let again = mkdir_all_in_root(base, rel, false)?;
    if !on_new_mount(&again, &before)? {
        return Err(Error::Other(format!(
            "{rel:?} changed while the {typ} was mounted on it: refused"
        )));
    }
    if let Some(below) = below {
        copy_up(below, &pfd_dir(&again)?).ctx(|| "tmpcopyup".to_string())?;
    }
    Ok(again)
}

/// The `MOUNT_ATTR_*` bits of the mount flags `f` that a mount carries
/// (read-only, nosuid, nodev, noexec, the atime mode, nosymfollow).
fn attrs_of(f: MsFlags) -> u64 {
    let mut a = 0;
    for (flag, bit) in [
        (MsFlags::MS_RDONLY, attr::RDONLY),
        (MsFlags::MS_NOSUID, attr::NOSUID),
        (MsFlags::MS_NODEV, attr::NODEV),
        (MsFlags::MS_NOEXEC, attr::NOEXEC),
        (MsFlags::MS_NOATIME, attr::NOATIME),
        (MsFlags::MS_STRICTATIME, attr::STRICTATIME),
        (MsFlags::MS_NODIRATIME, attr::NODIRATIME),
        (MS_NOSYMFOLLOW, attr::NOSYMFOLLOW),
    ] {
        if f.contains(flag) {
            a |= bit;
        }
    }
    a
}

/// The mount flags of `MOUNT_ATTR_*` bits (the inverse of [`attrs_of`]).
fn flags_of(a: u64) -> MsFlags {
    let mut f = MsFlags::empty();
    for (flag, bit) in [
        (MsFlags::MS_RDONLY, attr::RDONLY),
        (MsFlags::MS_NOSUID, attr::NOSUID),
        (MsFlags::MS_NODEV, attr::NODEV),
        (MsFlags::MS_NOEXEC, attr::NOEXEC),
        (MsFlags::MS_NODIRATIME, attr::NODIRATIME),
        (MS_NOSYMFOLLOW, attr::NOSYMFOLLOW),
    ] {
        if a & bit != 0 {
            f |= flag;
        }
    }
    match a & attr::ATIME_MASK {
        attr::NOATIME => f |= MsFlags::MS_NOATIME,
        attr::STRICTATIME => f |= MsFlags::MS_STRICTATIME,
        _ => {}
    }
    f
}

/// The attributes a bind mount ends with, set on it before it is attached
/// anywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct BindAttrs {
    /// `MOUNT_ATTR_*` to set on the top mount.
    pub set: u64,
    /// `MOUNT_ATTR_*` to clear on the top mount.
    pub clr: u64,
    /// `MOUNT_ATTR_*` to set on the mount and every submount.
    pub rec_set: u64,
    /// `MOUNT_ATTR_*` to clear on the mount and every submount.
    pub rec_clr: u64,
}

impl BindAttrs {
    /// The attributes of a bind's options: the plain ones (`ro`, `nosuid`,
    /// `noatime`…) on the top mount only, as runc applies them; the
    /// recursive ones (`rro`…) on every submount too.
    pub(crate) fn of(o: &MountOptions) -> BindAttrs {
        let set = attrs_of(o.flags);
        let mut clr = attrs_of(o.clear) & !attr::ATIME_MASK;
        let atime =
            o.flags & (MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_RELATIME);
        if !atime.is_empty() {
            clr |= attr::ATIME_MASK;
        }
        BindAttrs {
            set,
            clr,
            rec_set: o.rec_set,
            rec_clr: o.rec_clr,
        }
    }

    /// Read-only (and nothing else asked).
    pub(crate) fn readonly(recursive: bool) -> BindAttrs {
        if recursive {
            BindAttrs {
                rec_set: attr::RDONLY,
                ..Default::default()
            }
        } else {
            BindAttrs {
                set: attr::RDONLY,
                ..Default::default()
            }
        }
    }

    fn is_empty(&self) -> bool {
        *self == BindAttrs::default()
    }

    /// The bits the mount must show once made (checked with fstatvfs).
    fn must_have(&self) -> u64 {
        (self.set | self.rec_set) & (attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC)
    }
}

/// Sets `a` on the detached (or just attached) mount `tree`.
fn set_attrs(tree: RawFd, a: &BindAttrs) -> std::result::Result<(), Errno> {
    if a.set != 0 || a.clr != 0 {
        let m = sys::MountAttr {
            attr_set: a.set,
            attr_clr: a.clr,
            ..Default::default()
        };
        sys::mount_setattr(tree, false, &m)?;
    }
    if a.rec_set != 0 || a.rec_clr != 0 {
        let m = sys::MountAttr {
            attr_set: a.rec_set,
            attr_clr: a.rec_clr,
            ..Default::default()
        };
        sys::mount_setattr(tree, true, &m)?;
    }
    Ok(())
}

/// Checks, on an fd of the mount itself, that the attributes asked for
/// landed: a bind that should be read-only and is not is refused.
fn verify_attrs(mnt: &OwnedFd, a: &BindAttrs, what: &dyn Fn() -> String) -> Result<()> {
    use nix::sys::statvfs::FsFlags;
    let want = a.must_have();
    if want == 0 {
        return Ok(());
    }
    let st = nix::sys::statvfs::fstatvfs(mnt).ctx(|| format!("fstatvfs {}", what()))?;
    let fl = st.flags();
    let mut have = 0;
    for (f, bit) in [
        (FsFlags::ST_RDONLY, attr::RDONLY),
        (FsFlags::ST_NOSUID, attr::NOSUID),
        (FsFlags::ST_NODEV, attr::NODEV),
        (FsFlags::ST_NOEXEC, attr::NOEXEC),
    ] {
        if fl.contains(f) {
            have |= bit;
        }
    }
    if have & want != want {
        return Err(Error::Other(format!(
            "{}: the mount came out without the attributes asked for ({want:#x} wanted, {have:#x} set): refused",
            what()
        )));
    }
    Ok(())
}

/// Bind-mounts `source` (a host path, or an fd path) on the directory or
/// file `target` names, with its final attributes, and returns an fd of
/// the new mount's root.
///
/// The bind is cloned detached (`open_tree(OPEN_TREE_CLONE)`), given its
/// attributes there (`mount_setattr`) and only then attached on `target`
/// (`move_mount` of fd onto fd): it is never visible in the rootfs with
/// other attributes, and no path is resolved after it is attached, so a
/// target swapped for a symlink cannot make a "ro" bind writable.
/// `tree`, when given, is a detached copy made already (an idmapped one).
///
/// Where the new mount API is missing (ENOSYS, or EPERM from a seccomp
/// filter) the same guarantee comes from [`bind_staged`].
pub(crate) fn bind_mount(
    source: &Path,
    recursive: bool,
    a: &BindAttrs,
    target: &OwnedFd,
    tree: Option<RawFd>,
) -> Result<OwnedFd> {
    let what = || format!("bind {source:?}");
    let cloned;
    let tfd = match tree {
        Some(fd) => fd,
        None => match sys::open_tree_clone(source, recursive) {
            Ok(fd) => {
                cloned = fd;
                cloned.as_raw_fd()
            }
            Err(e) if sys::api_missing(e) => {
                return bind_staged(source, recursive, a, Some(target))
            }
            Err(e) => return Err(Error::sys(format!("{}: open_tree", what()), e)),
        },
    };
    match set_attrs(tfd, a) {
        Ok(()) => {}
        Err(e) if sys::api_missing(e) && tree.is_none() && a.rec_set == 0 && a.rec_clr == 0 => {
            return bind_staged(source, recursive, a, Some(target))
        }
        Err(e) => {
            return Err(Error::sys(
                format!("{}: set its attributes (mount_setattr)", what()),
                e,
            ))
        }
    }
    sys::move_mount_fd(tfd, target.as_raw_fd())
        .ctx(|| format!("{}: attach it (move_mount)", what()))?;
    // The tree fd now names the attached mount's root.
    let mnt = sys::dup_cloexec(tfd).ctx(|| "dup the mount fd".to_string())?;
    verify_attrs(&mnt, a, &what)?;
    Ok(mnt)
}

/// The bind of [`bind_mount`] without `open_tree`/`mount_setattr`: `source`
/// is bound on itself (in the init's mount namespace, which no container
/// process sees and which does not propagate to the host), that mount is
/// reopened at the trusted source path and checked to be it (the same
/// file, on the mount that call made), remounted with its attributes
/// through its own fd, and
/// checked with fstatvfs; only then is it moved (MS_MOVE) onto `target`'s
/// fd. The rootfs path is never looked up again.
/// With no `target` the bind stays on the source (a readonly path).
fn bind_staged(
    source: &Path,
    recursive: bool,
    a: &BindAttrs,
    target: Option<&OwnedFd>,
) -> Result<OwnedFd> {
    use std::os::unix::fs::MetadataExt;
    if a.rec_set != 0 || a.rec_clr != 0 {
        return Err(Error::Other(format!(
            "bind {source:?}: recursive mount attributes need mount_setattr (Linux 5.12)"
        )));
    }
    let open = |p: &Path| -> Result<OwnedFd> {
        Ok(std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(p)
            .map_err(|e| Error::io("open bind source", p, e))?
            .into())
    };
    let before = open(source)?;
    let md0 = std::fs::metadata(fd_path(&before)).map_err(|e| Error::io("stat", source, e))?;
    let ids = mount_ids()?;
    let rec = if recursive {
        MsFlags::MS_REC
    } else {
        MsFlags::empty()
    };
    mount(
        Some(&fd_path(&before)),
        &fd_path(&before),
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .ctx(|| format!("bind {source:?} (staged on itself)"))?;
    let staged = (|| -> Result<OwnedFd> {
        let m = open(source)?;
        let md = std::fs::metadata(fd_path(&m)).map_err(|e| Error::io("stat", source, e))?;
        if (md.dev(), md.ino()) != (md0.dev(), md0.ino()) || !on_new_mount(&m, &ids)? {
            return Err(Error::Other(format!(
                "bind {source:?}: the staged bind is not where it was made (the source changed meanwhile): refused"
            )));
        }
        if !a.is_empty() {
            // MS_REMOUNT sets the flags it is given and clears the others:
            // start from the mount's own (locked ones must stay).
            let mut f = statvfs_flags(&fd_path(&m)) - flags_of(a.clr);
            if a.clr & attr::ATIME_MASK != 0 {
                f -= MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_RELATIME;
            }
            f |= flags_of(a.set);
            mount(
                None::<&str>,
                &fd_path(&m),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | f,
                None::<&str>,
            )
            .ctx(|| format!("bind {source:?}: remount with its options"))?;
            verify_attrs(&m, a, &|| format!("bind {source:?}"))?;
        }
        if let Some(target) = target {
            mount(
                Some(&fd_path(&m)),
                &fd_path(target),
                None::<&str>,
                MsFlags::MS_MOVE,
                None::<&str>,
            )
            .ctx(|| format!("bind {source:?}: move it onto its target"))?;
        }
        Ok(m)
    })();
    if staged.is_err() {
        // The staged mount covers `before`'s dentry (in the init's private
        // namespace): detach it by its trusted path.
        let _ = umount2(source, MntFlags::MNT_DETACH);
    }
    staged
}

/// procfs, sysfs and devpts only go on real directories of the image: a
/// symlinked `/proc` could send later writes to /proc elsewhere
/// (CVE-2019-16884, CVE-2019-19921), a symlinked `/dev/pts` the terminal
/// set-up onto a path the image chose (crun CVE-2026-88264). `rel` is
/// opened again under `base` with no symlink followed (from corral's own
/// `/dev` when it is under it) and must be the very directory `target`
/// resolved to.
fn no_symlink_on_the_way(base: &OwnedFd, rel: &Path, target: &OwnedFd, dest: &Path) -> Result<()> {
    let p = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let refuse = || {
        Error::Other(format!(
            "refusing to mount on {dest:?}: a component of it in the image is a symlink"
        ))
    };
    let strict = match sys::openat_in_root_nofollow(base.as_raw_fd(), p, libc::O_PATH, 0) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return Err(refuse()),
        Err(e) => return Err(Error::sys(format!("open {dest:?} in the rootfs"), e)),
    };
    let id = |fd: &OwnedFd| -> Result<(u64, u64, u64)> {
        let st = nix::sys::stat::fstat(fd).ctx(|| format!("stat {dest:?}"))?;
        let mnt = sys::mount_id(fd.as_raw_fd()).ctx(|| format!("mount id of {dest:?}"))?;
        Ok((st.st_dev, st.st_ino, mnt))
    };
    if id(&strict)? != id(target)? {
        return Err(refuse());
    }
    Ok(())
}

/// A `cgroup` mount: with its own cgroup namespace the container gets fresh
/// cgroup file systems rooted at its cgroup; without, bind mounts of its
/// cgroup directories. On a hybrid or legacy host the hierarchies go in a
/// tmpfs, reached through the tmpfs's own fd (never through the rootfs
/// path again) and made read-only through it.
/// A `cgroup` or `cgroup2` entry of `mounts` at `full` (its destination),
/// which is `dest` below `root`.
fn mount_cgroup(
    full: &Path,
    dest: &Path,
    opts: &MountOptions,
    root: &OwnedFd,
    ctx: &Context,
) -> Result<()> {
    let hs = ctx.hierarchies;
    let flags = opts.flags
        & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let t = mkdir_all_in_root(root, dest, false)?;
    crate::proc_mounts::check_target(full, &t).map_err(Error::Other)?;
    if cgroups::mode(hs) == cgroups::Mode::Unified {
        return mount_hierarchy(&hs[0], &t, flags, ctx);
    }
    let tmp = cgroup_tmpfs(root, dest, &t)?;
    for h in hs {
        let name = Path::new(h.mountpoint.file_name().unwrap_or(OsStr::new(&h.key)));
        match sys::mkdirat(tmp.as_raw_fd(), name, 0o755) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("mkdir {name:?} in the cgroup tmpfs"), e)),
        }
        let ht = sys::openat_resolve(
            tmp.as_raw_fd(),
            name,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV,
        )
        .ctx(|| format!("open {name:?} in the cgroup tmpfs"))?;
        mount_hierarchy(h, &ht, flags, ctx)?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        mount(
            None::<&str>,
            &fd_path(&tmp),
            None::<&str>,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )
        .ctx(|| "remount cgroup tmpfs readonly".to_string())?;
        verify_attrs(&tmp, &BindAttrs::readonly(false), &|| {
            "the cgroup tmpfs".to_string()
        })?;
    }
    Ok(())
}

/// The magic number of devpts.
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// The magic number of tmpfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Mounts the tmpfs that holds the cgroup hierarchies on `t` and returns an
/// fd of its root: made detached with `fsmount` and attached fd onto fd;
/// where fsopen is missing, mounted on `t`'s fd and reopened at `dest`,
/// refused unless what is found there is a tmpfs on the mount just made.
fn cgroup_tmpfs(root: &OwnedFd, dest: &Path, t: &OwnedFd) -> Result<OwnedFd> {
    let attrs = attr::NOSUID | attr::NODEV | attr::NOEXEC;
    match sys::fsmount_new(
        "tmpfs",
        &[("source", Some("tmpfs")), ("mode", Some("755"))],
        attrs,
    ) {
        Ok(mfd) => {
            sys::move_mount_fd(mfd.as_raw_fd(), t.as_raw_fd())
                .ctx(|| "attach the cgroup tmpfs (move_mount)".to_string())?;
            Ok(mfd)
        }
        Err(e) if sys::api_missing(e) => {
            let before = mount_ids()?;
            mount(
                Some("tmpfs"),
                &fd_path(t),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("mode=755"),
            )
            .ctx(|| "mount tmpfs for cgroups".to_string())?;
            let again = mkdir_all_in_root(root, dest, false)?;
            if sys::fs_magic(again.as_raw_fd()).ctx(|| "statfs".to_string())? != TMPFS_MAGIC
                || !on_new_mount(&again, &before)?
            {
                return Err(Error::Other(format!(
                    "{dest:?} changed while the cgroup tmpfs was mounted on it: refused"
                )));
            }
            Ok(again)
        }
        Err(e) => Err(Error::sys("make the cgroup tmpfs (fsopen)", e)),
    }
}

/// One cgroup hierarchy on the resolved directory `t`: a fresh cgroup file
/// system (mounted with its flags) or a bind of the container's cgroup
/// made with its attributes before it is attached.
fn mount_hierarchy(
    h: &cgroups::Hierarchy,
    t: &OwnedFd,
    flags: MsFlags,
    ctx: &Context,
) -> Result<()> {
    let target = fd_path(t);
    if ctx.cgroupns {
        let (fstype, data) = if h.v2 {
            ("cgroup2", String::new())
        } else {
            ("cgroup", h.key.clone())
        };
        mount(
            Some(fstype),
            &target,
            Some(fstype),
            flags,
            if data.is_empty() {
                None
            } else {
                Some(data.as_str())
            },
        )
        .ctx(|| format!("mount {fstype} {}", h.key))
    } else {
        let src = ctx
            .cgroups
            .paths
            .get(&h.key)
            .cloned()
            .unwrap_or_else(|| h.mountpoint.clone());
        let a = BindAttrs {
            set: attrs_of(flags),
            ..Default::default()
        };
        bind_mount(&src, true, &a, t, None)
            .map(drop)
            .map_err(|e| Error::Other(format!("bind cgroup {src:?}: {e}")))
    }
}

/// The devices every container gets (runtime-spec "Default Devices").
pub fn default_devices() -> Vec<LinuxDevice> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .iter()
    .map(|(p, maj, min)| {
        let mut d = LinuxDevice::default();
        d.set_path(PathBuf::from(p));
        d.set_typ(LinuxDeviceType::C);
        d.set_major(*maj);
        d.set_minor(*min);
        d.set_file_mode(Some(0o666));
        d.set_uid(Some(0));
        d.set_gid(Some(0));
        d
    })
    .collect()
}

/// Creates the device nodes `devs` (or, in a user namespace, binds the
/// host's nodes). Each node's directory is resolved once (from the `/dev`
/// corral mounted when there is one, see [`Made`]); the node itself is
/// made, opened and checked relative to that directory fd with no symlink
/// followed, and chmod/chown go through the opened fd: nothing an image or
/// a co-tenant swaps in can receive them.
fn create_devices(root: &OwnedFd, made: &Made, devs: &[LinuxDevice], userns: bool) -> Result<()> {
    for d in devs {
        let path = d.path();
        let parent = path.parent().unwrap_or(Path::new("/"));
        let name = path
            .file_name()
            .ok_or_else(|| Error::Other(format!("device path {path:?}")))?;
        let (base, rel) = base_for(made, root, parent);
        let dirfd = pfd_dir(&mkdir_all_in_root(base, &rel, false)?)?;
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => return Err(Error::Other(format!("device {path:?}: type a"))),
        };
        let perm = d.file_mode().unwrap_or(0o666) & 0o7777;
        // An existing node, file or symlink (from the image or an earlier
        // rule) is replaced.
        let _ = nix::unistd::unlinkat(&dirfd, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        let open_node = || {
            sys::openat_resolve(
                dirfd.as_raw_fd(),
                Path::new(name),
                libc::O_PATH | libc::O_NOFOLLOW,
                0,
                libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV,
            )
            .ctx(|| format!("open {path:?}"))
        };
        if userns {
            // mknod is not allowed in a user namespace: bind the host's node.
            sys::openat_resolve(
                dirfd.as_raw_fd(),
                Path::new(name),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NOCTTY,
                0o644,
                libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
            )
            .ctx(|| format!("create {path:?} to bind the device on"))?;
            let target = open_node()?;
            let st = nix::sys::stat::fstat(&target).ctx(|| format!("stat {path:?}"))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(Error::Other(format!(
                    "{path:?} changed while the device was set up: refused"
                )));
            }
            bind_mount(path, false, &BindAttrs::default(), &target, None)
                .map_err(|e| Error::Other(format!("bind device {path:?}: {e}")))?;
            continue;
        }
        let dev = libc::makedev(d.major() as u32, d.minor() as u32);
        sys::mknodat(dirfd.as_raw_fd(), Path::new(name), kind | perm, dev)
            .ctx(|| format!("mknod {path:?}"))?;
        let node = open_node()?;
        let st = nix::sys::stat::fstat(&node).ctx(|| format!("stat {path:?}"))?;
        if st.st_mode & libc::S_IFMT != kind || (kind != libc::S_IFIFO && st.st_rdev != dev) {
            return Err(Error::Other(format!(
                "{path:?} is not the node just made (mode {:o}): refused",
                st.st_mode
            )));
        }
        let np = fd_path(&node);
        std::fs::set_permissions(&np, std::os::unix::fs::PermissionsExt::from_mode(perm))
            .map_err(|e| Error::io("chmod", path, e))?;
        nix::unistd::fchownat(
            &node,
            "",
            Some(d.uid().unwrap_or(0).into()),
            Some(d.gid().unwrap_or(0).into()),
            nix::fcntl::AtFlags::AT_EMPTY_PATH,
        )
        .ctx(|| format!("chown {path:?}"))?;
    }
    Ok(())
}

/// Reopens an `O_PATH` directory fd as a real directory fd (mknodat and
/// unlinkat need one).
fn pfd_dir(pfd: &OwnedFd) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_DIRECTORY: an image's FIFO (or device) in a directory's place is
    // ENOTDIR at once, never an open that waits for a writer.
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(fd_path(pfd))
        .map_err(|e| Error::io("open", fd_path(pfd), e))?
        .into())
}

/// The `/dev` symlinks (fd, stdin, stdout, stderr, ptmx, core), made in the
/// `/dev` directory resolved once (corral's `/dev` mount when there is one).
fn dev_symlinks(root: &OwnedFd, made: &Made) -> Result<()> {
    let (base, rel) = base_for(made, root, Path::new("/dev"));
    let dev = pfd_dir(&mkdir_all_in_root(base, &rel, false)?)?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        if name == "ptmx" {
            let _ = nix::unistd::unlinkat(&dev, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match nix::unistd::symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("symlink /dev/{name}"), e)),
        }
    }
    Ok(())
}

/// Opens the container's `/dev/ptmx`, unlocks a pty, bind-mounts its slave
/// on `/dev/console` and returns (master, slave).
///
/// Against CVE-2025-52565: the slave comes from the master by `TIOCGPTPEER`
/// (no path in the container to swap), both are checked to be pty devices,
/// and `/dev/console` is the file of that name in the container's `/dev`
/// reached without following any symlink: created when absent, refused
/// when it is anything but a regular file or a character device.
///
/// `dev` is the `/dev` [`mount_all`] pinned (corral's /dev mount, or the
/// image's /dev directory): when given, the console and the ptmx are
/// reached from it, never through the rootfs path again, so a co-tenant
/// who exchanges `/dev` with a volume's directory meanwhile cannot send
/// them into the volume (crun CVE-2026-88264's class).
pub fn open_console(rootfs: &Path, dev: Option<&OwnedFd>) -> Result<(OwnedFd, OwnedFd)> {
    let root: OwnedFd = std::fs::File::open(rootfs)
        .map_err(|e| Error::io("open rootfs", rootfs, e))?
        .into();
    let (master, slave) = match dev {
        Some(dev) => open_pty_at(dev, Path::new("ptmx"))?,
        None => open_pty(&root)?,
    };
    let console = console_target(&root, dev)?;
    mount(
        Some(&fd_path(&slave)),
        &fd_path(&console),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| "bind pty on /dev/console".to_string())?;
    Ok((master, slave))
}

/// `/dev/console` in the rootfs as an `O_PATH` fd, checked after opening
/// (so a swap between check and use is caught); under `dev` when given.
fn console_target(root: &OwnedFd, dev: Option<&OwnedFd>) -> Result<OwnedFd> {
    let refuse = |what: &str| {
        Error::Other(format!(
            "/dev/console in the rootfs is {what}: refused (a console bind on it could land elsewhere)"
        ))
    };
    let dev = match dev {
        Some(d) => sys::dup_cloexec(d.as_raw_fd()).ctx(|| "dup the /dev fd".to_string())?,
        None => sys::openat_in_root_nofollow(
            root.as_raw_fd(),
            Path::new("dev"),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
        .map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => refuse("under a /dev that is not a directory"),
            e => Error::sys("open /dev in the rootfs", e),
        })?,
    };
    let name = Path::new("console");
    let flags = libc::O_PATH | libc::O_NOFOLLOW;
    let fd = match sys::openat_in_root_nofollow(dev.as_raw_fd(), name, flags, 0) {
        Err(Errno::ENOENT) => {
            match sys::openat_in_root_nofollow(
                dev.as_raw_fd(),
                name,
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOCTTY,
                0o600,
            ) {
                Ok(_) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::sys("create /dev/console", e)),
            }
            sys::openat_in_root_nofollow(dev.as_raw_fd(), name, flags, 0)
        }
        r => r,
    }
    .map_err(|e| match e {
        Errno::ELOOP => refuse("a symlink"),
        e => Error::sys("open /dev/console in the rootfs", e),
    })?;
    let st = nix::sys::stat::fstat(&fd).ctx(|| "stat /dev/console".to_string())?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFCHR => Ok(fd),
        libc::S_IFLNK => Err(refuse("a symlink")),
        libc::S_IFDIR => Err(refuse("a directory")),
        _ => Err(refuse("neither a file nor a device")),
    }
}

/// Opens a new pty from the container's `/dev/ptmx` (its own devpts
/// instance) under the root `root`: (master, slave). The master must be a
/// ptmx (char 5:2) and the slave, got from it by `TIOCGPTPEER`, a pty slave
/// (major 136-143): no file in the container stands in for either.
pub fn open_pty(root: &OwnedFd) -> Result<(OwnedFd, OwnedFd)> {
    open_pty_at(root, Path::new("dev/ptmx"))
}

/// [`open_pty`] with the ptmx at `rel` under `dir` (resolved as if `dir`
/// were `/`).
fn open_pty_at(dir: &OwnedFd, rel: &Path) -> Result<(OwnedFd, OwnedFd)> {
    let master = sys::openat_in_root(dir.as_raw_fd(), rel, libc::O_RDWR | libc::O_NOCTTY, 0)
        .ctx(|| "open /dev/ptmx in the container".to_string())?;
    let is_char = |fd: &OwnedFd, what: &str, ok: &dyn Fn(u64, u64) -> bool| -> Result<()> {
        let st = nix::sys::stat::fstat(fd).ctx(|| format!("stat {what}"))?;
        let (major, minor) = (
            libc::major(st.st_rdev) as u64,
            libc::minor(st.st_rdev) as u64,
        );
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR || !ok(major, minor) {
            return Err(Error::Other(format!(
                "{what} in the container is not a pty device (mode {:o}, device {major}:{minor})",
                st.st_mode
            )));
        }
        Ok(())
    };
    is_char(&master, "/dev/ptmx", &|ma, mi| ma == 5 && mi == 2)?;
    sys::unlock_pty(master.as_raw_fd()).ctx(|| "unlock pty".to_string())?;
    let slave = sys::pty_peer(master.as_raw_fd()).ctx(|| "open the pty's slave".to_string())?;
    is_char(&slave, "the pty slave", &|ma, _| (136..=143).contains(&ma))?;
    // The master must be the ptmx node of the devpts instance the slave is
    // on (the container's /dev/pts), not a 5:2 node the image placed
    // elsewhere.
    let dev_of = |fd: &OwnedFd, what: &str| -> Result<u64> {
        Ok(nix::sys::stat::fstat(fd)
            .ctx(|| format!("stat {what}"))?
            .st_dev)
    };
    if dev_of(&master, "/dev/ptmx")? != dev_of(&slave, "the pty slave")?
        || sys::fs_magic(master.as_raw_fd()).ctx(|| "statfs /dev/ptmx".to_string())?
            != DEVPTS_SUPER_MAGIC
    {
        return Err(Error::Other(
            "/dev/ptmx in the container is not the ptmx of its devpts instance: refused".into(),
        ));
    }
    Ok((master, slave))
}

/// Step 3: makes the rootfs `/`, with pivot_root, or with MS_MOVE and chroot
/// for `--no-pivot`.
pub fn enter_root(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        detach_visible_pseudo_fs(rootfs)?;
        nix::unistd::chdir(rootfs).ctx(|| "chdir rootfs".to_string())?;
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .ctx(|| "move rootfs to /".to_string())?;
        nix::unistd::chroot(".").ctx(|| "chroot".to_string())?;
        return nix::unistd::chdir("/").ctx(|| "chdir /".to_string());
    }
    let old = std::fs::File::open("/").map_err(|e| Error::io("open", "/", e))?;
    let new = std::fs::File::open(rootfs).map_err(|e| Error::io("open", rootfs, e))?;
    nix::unistd::fchdir(&new).ctx(|| "fchdir rootfs".to_string())?;
    // pivot_root(".", ".") stacks the old root on top of the new one.
    nix::unistd::pivot_root(".", ".").ctx(|| "pivot_root".to_string())?;
    nix::unistd::fchdir(&old).ctx(|| "fchdir old root".to_string())?;
    // Keep unmount events of the old root from reaching the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "make old root rslave".to_string())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "unmount old root".to_string())?;
    nix::unistd::chdir("/").ctx(|| "chdir /".to_string())
}

/// Before `--no-pivot`'s MS_MOVE + chroot: the old root's mounts stay in
/// the container's mount namespace under the new root, and a full procfs or
/// sysfs among them lets a container process mount an unmasked one of its
/// own (the kernel allows it when one is fully visible in the namespace).
/// As runc's msMoveRoot: every full (root "/") proc and sysfs mount outside
/// the rootfs is made rslave (no unmount reaches the host) and detached, or
/// covered with a tmpfs where it cannot be (a locked mount).
fn detach_visible_pseudo_fs(rootfs: &Path) -> Result<()> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    for (point, fstype, root) in mountinfo_entries(&text) {
        if root != "/" || !(fstype == "proc" || fstype == "sysfs") || point.starts_with(rootfs) {
            continue;
        }
        match mount(
            None::<&str>,
            &point,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            // Gone with a parent detached before it.
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(Error::sys(format!("make {point:?} rslave"), e)),
        }
        match umount2(&point, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL) | Err(Errno::EPERM) => mount(
                Some("tmpfs"),
                &point,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .ctx(|| format!("cover {fstype} at {point:?} with a tmpfs"))?,
            Err(e) => return Err(Error::sys(format!("detach {fstype} at {point:?}"), e)),
        }
    }
    Ok(())
}

/// (mount point, fs type, root) of each line of a mountinfo text, with the
/// kernel's octal escapes (`\040` for a space…) undone.
fn mountinfo_entries(text: &str) -> Vec<(PathBuf, String, String)> {
    use std::os::unix::ffi::OsStringExt;
    let unescape = |f: &str| -> Vec<u8> {
        let b = f.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\'
                && i + 3 < b.len()
                && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
            {
                let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
                out.push(v);
                i += 4;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            let root = String::from_utf8_lossy(&unescape(f.get(3)?)).into_owned();
            let point = PathBuf::from(std::ffi::OsString::from_vec(unescape(f.get(4)?)));
            Some((point, f.get(dash + 1)?.to_string(), root))
        })
        .collect()
}

/// Step 4, inside the new root: readonly and masked paths, sysctls,
/// propagation of `/` and a readonly root.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    // As runc: sysctls first (/proc/sys is usually a readonly path), then
    // readonly paths, then masked paths.
    if let Some(sysctl) = linux.sysctl() {
        let mut keys: Vec<&String> = sysctl.keys().collect();
        keys.sort();
        for k in keys {
            write_sysctl(k, &sysctl[k])?;
        }
    }
    for p in linux.readonly_paths().iter().flatten() {
        readonly_path(Path::new(p))?;
    }
    // A path listed twice is masked once.
    let mut masks: Vec<&String> = Vec::new();
    for p in linux.masked_paths().iter().flatten() {
        if !masks.contains(&p) {
            masks.push(p);
        }
    }
    if !masks.is_empty() {
        let devnull = verified_dev_null()?;
        let mut shared: Option<OwnedFd> = None;
        for p in masks {
            mask_path(Path::new(p), &devnull, &mut shared)?;
        }
    }
    if let Some(p) = linux.rootfs_propagation() {
        let flag =
            propagation_flag(p).ok_or_else(|| Error::spec("linux.rootfsPropagation", p.clone()))?;
        mount(None::<&str>, "/", None::<&str>, flag, None::<&str>)
            .ctx(|| format!("set rootfs propagation {p}"))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_ro(Path::new("/"), false)?;
    }
    Ok(())
}

fn statvfs_flags(p: &Path) -> MsFlags {
    let mut f = MsFlags::empty();
    if let Ok(st) = nix::sys::statvfs::statvfs(p) {
        use nix::sys::statvfs::FsFlags;
        let fl = st.flags();
        for (a, b) in [
            // A read-only mount stays so: MS_REMOUNT clears what it is not
            // given, and a bind of a read-only source with other options
            // came out writable.
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if fl.contains(a) {
                f |= b;
            }
        }
    }
    f
}

fn remount_ro(p: &Path, rec: bool) -> Result<()> {
    let keep = statvfs_flags(p);
    let rec = if rec {
        MsFlags::MS_REC
    } else {
        MsFlags::empty()
    };
    mount(
        None::<&str>,
        p,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep | rec,
        None::<&str>,
    )
    .ctx(|| format!("remount {p:?} readonly"))
}

/// Makes `p` (inside the new root) a read-only bind of itself, recursively:
/// cloned detached, made read-only there and attached on the fd `p` was
/// opened as; where the new mount API is missing, [`bind_staged`].
fn readonly_path(p: &Path) -> Result<()> {
    let fd: OwnedFd = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(p)
    {
        Ok(f) => f.into(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open readonly path", p, e)),
    };
    let a = BindAttrs::readonly(true);
    let what = || format!("readonly path {p:?}");
    match sys::open_tree_clone_fd(fd.as_raw_fd(), true) {
        Ok(tree) => match set_attrs(tree.as_raw_fd(), &a) {
            Ok(()) => {
                sys::move_mount_fd(tree.as_raw_fd(), fd.as_raw_fd())
                    .ctx(|| format!("{}: attach it (move_mount)", what()))?;
                return verify_attrs(&tree, &a, &what);
            }
            Err(e) if sys::api_missing(e) => {}
            Err(e) => return Err(Error::sys(format!("{}: mount_setattr", what()), e)),
        },
        Err(e) if sys::api_missing(e) => {}
        Err(e) => return Err(Error::sys(format!("{}: open_tree", what()), e)),
    }
    bind_staged(p, true, &BindAttrs::readonly(false), None)?;
    // mount(2) makes one mount read-only at a time: every mount below `p`
    // too, as mount_setattr's AT_RECURSIVE does, each through its own fd
    // and checked.
    for sub in submounts_below(p)? {
        let fd = match open_path_nofollow(&sub) {
            Ok(fd) => fd,
            Err(_) => continue, // gone meanwhile: nothing to make read-only
        };
        let f = statvfs_flags(&fd_path(&fd)) | MsFlags::MS_RDONLY;
        mount(
            None::<&str>,
            &fd_path(&fd),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | f,
            None::<&str>,
        )
        .ctx(|| format!("{}: remount {sub:?} read-only", what()))?;
        let ro = sys::statvfs_flags(fd.as_raw_fd())
            .ctx(|| format!("{}: statvfs {sub:?}", what()))?
            & libc::ST_RDONLY
            != 0;
        if !ro {
            return Err(Error::Other(format!(
                "{}: {sub:?} below it is still writable: refused",
                what()
            )));
        }
    }
    Ok(())
}

/// The mount points strictly below `p` in this mount namespace
/// (/proc/self/mountinfo, the kernel's octal escapes undone), parents
/// before children.
fn submounts_below(p: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    let unescape = |s: &str| -> PathBuf {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && i + 3 < b.len() {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
    };
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(unescape))
        .filter(|m| m != p && m.starts_with(p))
        .collect())
}

/// An `O_PATH` fd of `p`, its last component not followed.
fn open_path_nofollow(p: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {p:?}"))
}

/// Opens the container's `/dev/null` (after pivot_root) with no symlink
/// followed on the way (`RESOLVE_NO_SYMLINKS`), checked on the opened fd to
/// be the character device 1:3: masks bind this fd, never a `/dev/null` the
/// image made a symlink or a file (CVE-2025-31133, CVE-2026-88265). Nothing
/// in corral reopens `/dev/null` for stdio or changes its owner: stdio are
/// the caller's fds.
pub fn verified_dev_null() -> Result<OwnedFd> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let root = std::fs::File::open("/").map_err(|e| Error::io("open", "/", e))?;
    // No component may be a symlink: not /dev, not null.
    let fd = sys::openat_in_root_nofollow(
        root.as_raw_fd(),
        Path::new("dev/null"),
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
    )
    .map_err(|e| match e {
        Errno::ELOOP => Error::Other(
            "refusing to mask paths with the container's /dev/null: it is not the null device (1:3) but reached through a symlink".into(),
        ),
        e => Error::Other(format!("masked paths need /dev/null: {e}")),
    })?;
    let f = std::fs::File::from(fd);
    let md = f
        .metadata()
        .map_err(|e| Error::io("stat", "/dev/null", e))?;
    if !md.file_type().is_char_device() || md.rdev() != libc::makedev(1, 3) {
        return Err(Error::Other(
            "refusing to mask paths with the container's /dev/null: it is not the null device (1:3)".into(),
        ));
    }
    Ok(f.into())
}

/// Masks `p`: a file gets the container's /dev/null bound on it, a
/// directory an empty read-only tmpfs. Every masked directory shares one
/// tmpfs (`shared`, the first one's root, kept open and checked to be
/// that read-only tmpfs), bound onto the others, as runc 1.5 does:
/// Kubernetes masks one sysfs directory per CPU, and each tmpfs is a
/// superblock of the kernel's.
fn mask_path(p: &Path, devnull: &OwnedFd, shared: &mut Option<OwnedFd>) -> Result<()> {
    let md = match std::fs::symlink_metadata(p) {
        Ok(md) => md,
        Err(_) => return Ok(()),
    };
    let r = if md.is_dir() {
        match shared {
            Some(t) => mount(
                Some(&fd_path(t)),
                p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ),
            None => {
                let r = mount(
                    Some("tmpfs"),
                    p,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None::<&str>,
                );
                if r.is_ok() {
                    *shared = Some(masking_tmpfs(p)?);
                }
                r
            }
        }
    } else {
        mount(
            Some(&fd_path(devnull)),
            p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    match r {
        Ok(()) => Ok(()),
        // Gone meanwhile: nothing to mask.
        Err(Errno::ENOENT) if std::fs::symlink_metadata(p).is_err() => Ok(()),
        Err(e) => Err(Error::sys(
            format!("mask {p:?} (masks need /proc in the container)"),
            e,
        )),
    }
}

/// The root of the read-only tmpfs just mounted on `p`, opened without
/// following a symlink and checked to be an empty, read-only tmpfs (the
/// one mounted, not something swapped in meanwhile).
fn masking_tmpfs(p: &Path) -> Result<OwnedFd> {
    let fd: OwnedFd = nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_PATH
            | nix::fcntl::OFlag::O_DIRECTORY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open the mask on {p:?}"))?;
    let magic = sys::fs_magic(fd.as_raw_fd()).ctx(|| format!("statfs the mask on {p:?}"))?;
    let ro = sys::statvfs_flags(fd.as_raw_fd()).ctx(|| format!("statvfs the mask on {p:?}"))?
        & libc::ST_RDONLY
        != 0;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    if magic != TMPFS_MAGIC || !ro {
        return Err(Error::Other(format!(
            "the mask on {p:?} is not the read-only tmpfs just mounted: refused"
        )));
    }
    Ok(fd)
}

fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    crate::procfile::write(&path, value.as_bytes()).map_err(|e| {
        Error::spec(
            format!("linux.sysctl.{key}"),
            format!("write {value:?} to {path:?}: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> MountOptions {
        MountOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parse")
    }

    #[test]
    fn mountinfo_fields_are_unescaped() {
        let text = "22 1 0:5 / /proc rw,nosuid - proc proc rw\n\
                    30 22 0:6 /sys /mnt/a\\040b rw - sysfs sysfs rw\n";
        let e = mountinfo_entries(text);
        assert_eq!(e[0], (PathBuf::from("/proc"), "proc".into(), "/".into()));
        assert_eq!(
            e[1],
            (PathBuf::from("/mnt/a b"), "sysfs".into(), "/sys".into())
        );
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let o = opts(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rprivate",
            "ro",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.data, ["mode=755", "size=65536k"]);
        assert_eq!(o.propagation, [MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert!(!o.bind);
        let b = opts(&["rbind", "ro", "rw"]);
        assert!(b.bind);
        assert_eq!(b.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    }

    #[test]
    fn recursive_atime_idmap_and_copyup_options() {
        let o = opts(&["rro", "rnosuid", "rnoatime", "rrw", "rnodiratime"]);
        assert_eq!(o.rec_set, attr::NOSUID | attr::NOATIME | attr::NODIRATIME);
        assert_eq!(o.rec_clr, attr::RDONLY | attr::ATIME_MASK);
        // A later atime option replaces the earlier one.
        let o = opts(&["rnoatime", "rstrictatime"]);
        assert_eq!(o.rec_set, attr::STRICTATIME);
        let o = opts(&["rnoatime", "ratime"]);
        assert_eq!((o.rec_set, o.rec_clr), (attr::RELATIME, attr::ATIME_MASK));
        assert!(o.has_recursive_attrs());
        assert!(!opts(&["ro"]).has_recursive_attrs());
        let o = opts(&["bind", "ridmap", "tmpcopyup", "nosymfollow"]);
        assert_eq!(o.idmap, Some(true));
        assert!(o.tmpcopyup);
        assert!(o.flags.contains(MS_NOSYMFOLLOW));
        assert_eq!(opts(&["idmap"]).idmap, Some(false));
        assert!(!opts(&["nosymfollow", "symfollow"])
            .flags
            .contains(MS_NOSYMFOLLOW));
    }
}
