//! Thin wrappers over the system calls that `nix` does not cover (or covers in
//! a shape that does not fit). Every `unsafe` block of the crate that talks to
//! the kernel lives here, each with the reason it is sound.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

pub mod resolve;

/// `CLONE_INTO_CGROUP` for `clone3` (Linux 5.7).
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

fn cstr(p: &Path) -> Result<CString, Errno> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// Result of [`clone3`]: which side of the clone we are on.
pub enum Forked {
    /// In the parent, with the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// `clone3(2)` without `CLONE_VM`: a fork that can create namespaces and
/// place the child in a cgroup in the same call.
///
/// Where this process may not use clone3 ([`crate::newer::clone3`]: a
/// kernel before 5.3, or a seccomp profile answering ENOSYS or EPERM) it is
/// `clone(2)` with the same flags, and a `cgroup_fd` is refused with
/// ENOSYS: the caller moves the child by `cgroup.procs` instead
/// (`process::clone::into_cgroups` does, with [`crate::cgroups::Entry`]).
///
/// The caller must be single-threaded, as for `fork(2)`: the child gets a
/// copy of the address space with only the calling thread.
pub fn clone3(flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked, Errno> {
    // Every process corral makes starts non-dumpable, from its first
    // instruction: the flag is the parent's, inherited. A child that
    // enters a user namespace host root owns is otherwise open to any
    // uid-0 process of the host's user namespace (it holds every
    // capability there, CAP_SYS_PTRACE included), which could read the
    // host fds it holds through /proc/PID/fd before the child made itself
    // non-dumpable. The C library's exec of the user's program (or a
    // hook's) makes that program dumpable as usual.
    // SAFETY: prctl with integer arguments.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) })?;
    if !crate::newer::clone3() {
        return match cgroup_fd {
            Some(_) => Err(Errno::ENOSYS),
            None => clone_fork(flags),
        };
    }
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: without CLONE_VM the child runs on a private copy of our
    // address space, exactly like fork(2); `args` lives across the call and
    // its size is passed alongside. The caller guarantees it is
    // single-threaded, so no lock is held by a thread that does not exist in
    // the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match Errno::result(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// `clone(2)` without `CLONE_VM` and with `SIGCHLD` as the exit signal: a
/// fork that can create namespaces, for where clone3 is missing or refused.
/// `flags` must be `CLONE_*` flags that fit clone(2)'s 32 bits outside the
/// exit-signal byte (so no `CLONE_INTO_CGROUP`, and no `CLONE_NEWTIME`,
/// which clone(2) cannot express): EINVAL otherwise.
fn clone_fork(flags: u64) -> Result<Forked, Errno> {
    if flags > u64::from(u32::MAX) || flags & 0xff != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = flags as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: no CLONE_VM and a null stack: the child runs on a private
    // copy of our address space from this very point, exactly like
    // fork(2); the null tid and tls pointers are not used without
    // CLONE_*TID / CLONE_SETTLS. The caller guarantees it is
    // single-threaded.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            0 as libc::c_ulong,
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match Errno::result(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// `fork(2)`; the caller must be single-threaded.
pub fn fork() -> Result<Forked, Errno> {
    clone3(0, None)
}

/// `openat2(2)` with `RESOLVE_IN_ROOT`: opens `path` as if `dirfd` were `/`,
/// so that no `..` or symlink can leave it.
pub fn openat_in_root(dirfd: RawFd, path: &Path, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    openat_resolve(
        dirfd,
        path,
        flags,
        mode,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// `openat(2)` of `path` under `dirfd` as if it were `/`, following no
/// symlink at all (`RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS`): ELOOP when a
/// component is one.
pub fn openat_in_root_nofollow(
    dirfd: RawFd,
    path: &Path,
    flags: i32,
    mode: u32,
) -> Result<OwnedFd, Errno> {
    openat_resolve(
        dirfd,
        path,
        flags,
        mode,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS,
    )
}

/// `openat2(2)` with caller-chosen `RESOLVE_*` flags (close-on-exec
/// always): [`openat_in_root`]'s rules, or others — under a procfs handle
/// (`RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS`) or inside a
/// mount corral made. Where openat2 is missing or refused (the first
/// answer of the process says so: see [`resolve::openat2_refused`]), the
/// userspace resolver keeps the same rules ([`resolve::openat_resolved`]).
pub fn openat_resolve(
    dirfd: RawFd,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    if resolve::openat2_missing() {
        return resolve::openat_resolved(dirfd, path, flags, mode, resolve);
    }
    let c = cstr(path)?;
    let mode = if flags & libc::O_CREAT != 0 { mode } else { 0 };
    // openat2 answers EAGAIN when a rename or mount anywhere raced with a
    // ".." lookup; the kernel asks the caller to retry.
    let mut tries = 0;
    loop {
        match openat2_raw(
            dirfd,
            &c,
            (flags | libc::O_CLOEXEC) as u64,
            mode as u64,
            resolve,
        ) {
            Err(Errno::EAGAIN) if tries < 1000 => tries += 1,
            Err(e) if resolve::openat2_refused(e) => {
                return resolve::openat_resolved(dirfd, path, flags, mode, resolve);
            }
            r => return r,
        }
    }
}

/// One `openat2(2)` call.
fn openat2_raw(
    dirfd: RawFd,
    path: &std::ffi::CStr,
    flags: u64,
    mode: u64,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags,
        mode,
        resolve,
    };
    // SAFETY: `path` is a valid NUL-terminated string and `how` a properly
    // sized open_how that both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `mkdirat(2)`.
pub fn mkdirat(dirfd: RawFd, name: &Path, mode: u32) -> Result<(), Errno> {
    let c = cstr(name)?;
    // SAFETY: valid C string for the duration of the call.
    Errno::result(unsafe { libc::mkdirat(dirfd, c.as_ptr(), mode) }).map(drop)
}

/// `mknodat(2)`.
pub fn mknodat(dirfd: RawFd, name: &Path, mode: u32, dev: u64) -> Result<(), Errno> {
    let c = cstr(name)?;
    // SAFETY: valid C string for the duration of the call.
    Errno::result(unsafe { libc::mknodat(dirfd, c.as_ptr(), mode, dev) }).map(drop)
}

/// `setns(2)` on an open namespace file.
pub fn setns(fd: RawFd, nstype: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall on an fd we hold.
    Errno::result(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// `unshare(2)`.
pub fn unshare(flags: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    Errno::result(unsafe { libc::unshare(flags) }).map(drop)
}

/// `prctl(2)` with integer arguments.
pub fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> Result<i32, Errno> {
    // SAFETY: every option used by this crate takes integer arguments only.
    Errno::result(unsafe { libc::prctl(option, arg2, arg3, arg4, arg5) })
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: marks every fd from
/// `first` on close-on-exec (see [`cloexec_all_from`] for the fallbacks).
fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments; marking fds close-on-exec
    // invalidates no Rust-owned fd.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

/// `dup2(2)` onto a fixed fd number (stdio set-up before exec).
pub fn dup2(old: RawFd, new: RawFd) -> Result<(), Errno> {
    // SAFETY: integer arguments; the caller owns `new` as a stdio slot.
    Errno::result(unsafe { libc::dup2(old, new) }).map(drop)
}

/// `fcntl(F_DUPFD_CLOEXEC)`: a close-on-exec copy of `fd` at the lowest
/// free number at or above `min`.
pub fn dup_cloexec_from(fd: RawFd, min: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: fcntl with integer arguments.
    let new = Errno::result(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: the kernel just made `new`; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Clears `FD_CLOEXEC` on `fd`.
pub fn clear_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl with integer arguments.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

/// Takes ownership of `fd`, an fd this process inherited across an exec
/// for its own use, and makes it close-on-exec. The caller must know that
/// nothing else in the process owns it.
pub fn adopt_inherited_fd(fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: fcntl with integer arguments; it fails with EBADF on a
    // closed fd, before anything takes ownership of it.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    // SAFETY: fd is open (fcntl succeeded) and, by the caller's contract,
    // owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`.
pub fn join_session_keyring(name: &str) -> Result<(), Errno> {
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: valid C string for the duration of the call.
    Errno::result(unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr())
    })
    .map(drop)
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments; the returned fd is ours alone.
    let fd = Errno::result(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })? as RawFd;
    // SAFETY: fd fresh from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: RawFd, sig: i32) -> Result<(), Errno> {
    // SAFETY: integer arguments and a NULL siginfo, as the man page allows.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// `ioctl` with an integer argument (TIOCSCTTY, TIOCSPTLCK…).
pub fn ioctl_int(fd: RawFd, req: libc::c_ulong, arg: libc::c_int) -> Result<(), Errno> {
    // SAFETY: the requests used with this helper take an int by value or by
    // pointer to a local that outlives the call.
    Errno::result(unsafe { libc::ioctl(fd, req, arg) }).map(drop)
}

/// `TIOCSPTLCK` unlock then `TIOCGPTN`: returns the pty slave number of a
/// freshly opened ptmx master.
pub fn unlock_pty(master: RawFd) -> Result<u32, Errno> {
    let mut unlock: libc::c_int = 0;
    let mut n: libc::c_uint = 0;
    // SAFETY: both ioctls take a pointer to an int that lives on our stack
    // for the duration of the call.
    unsafe {
        Errno::result(libc::ioctl(master, libc::TIOCSPTLCK, &mut unlock))?;
        Errno::result(libc::ioctl(master, libc::TIOCGPTN, &mut n))?;
    }
    Ok(n)
}

/// `TIOCGPTPEER`: the slave of the pty `master`, opened by the kernel from
/// the master itself (no path, so nothing in the container can redirect it).
pub fn pty_peer(master: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let fd = unsafe {
        libc::ioctl(
            master,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `TIOCSWINSZ`.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: pointer to a winsize on our stack, valid for the call.
    Errno::result(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// `TIOCGWINSZ`: (rows, columns) of a terminal.
pub fn get_winsize(fd: RawFd) -> Result<(u16, u16), Errno> {
    // SAFETY: winsize is plain data; zeroed is valid and the kernel fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: pointer to a winsize on our stack, valid for the call.
    Errno::result(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// `fstatfs(2)` magic number of the file system behind `fd`.
pub fn fs_magic(fd: RawFd) -> Result<i64, Errno> {
    // SAFETY: statfs is plain data; zeroed is a valid value and the kernel
    // fills it in.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: pointer to our local, valid for the call.
    Errno::result(unsafe { libc::fstatfs(fd, &mut st) })?;
    Ok(st.f_type as i64)
}

/// `execve(2)`; returns only on failure.
pub fn execve(path: &CString, argv: &[CString], envp: &[CString]) -> Errno {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of pointers into CStrings that outlive
    // the call (on success the call does not return).
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    Errno::last()
}

/// `_exit(2)`: leaves a forked child without running the parent's atexit
/// handlers or flushing its stdio buffers twice.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// `ioctl(NS_GET_NSTYPE)`: the `CLONE_NEW*` type of a namespace file.
pub fn ns_type(fd: RawFd) -> Result<i32, Errno> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns an int.
    Errno::result(unsafe { libc::ioctl(fd, NS_GET_NSTYPE) })
}

/// `setrlimit(2)`.
pub fn setrlimit(resource: u32, lim: &libc::rlimit) -> Result<(), Errno> {
    // SAFETY: pointer to a valid rlimit for the duration of the call.
    Errno::result(unsafe { libc::setrlimit(resource as _, lim) }).map(drop)
}

/// `setdomainname(2)`.
pub fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: pointer and length of a live byte slice.
    Errno::result(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `struct sched_attr` of sched_setattr(2).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    /// Size of this struct.
    pub size: u32,
    /// `SCHED_*` policy.
    pub policy: u32,
    /// `SCHED_FLAG_*`.
    pub flags: u64,
    /// Nice value (SCHED_OTHER, SCHED_BATCH).
    pub nice: i32,
    /// Static priority (SCHED_FIFO, SCHED_RR).
    pub priority: u32,
    /// SCHED_DEADLINE runtime (ns).
    pub runtime: u64,
    /// SCHED_DEADLINE deadline (ns).
    pub deadline: u64,
    /// SCHED_DEADLINE period (ns).
    pub period: u64,
    /// Utilization clamp minimum.
    pub util_min: u32,
    /// Utilization clamp maximum.
    pub util_max: u32,
}

/// `sched_setattr(2)` on the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: pointer to a properly sized sched_attr on our stack, valid for
    // the call; the kernel reads `size` bytes.
    Errno::result(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) })
        .map(drop)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, prio)`: the calling process.
pub fn ioprio_set(prio: i32) -> Result<(), Errno> {
    // SAFETY: plain integer arguments.
    Errno::result(unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, prio) }).map(drop)
}

/// `set_mempolicy(2)` with `mode` (flags or'ed in) and a node bit mask.
pub fn set_mempolicy(mode: i32, nodes: &[u64]) -> Result<(), Errno> {
    let (ptr, maxnode) = if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        (nodes.as_ptr(), nodes.len() as u64 * 64 + 1)
    };
    // SAFETY: `ptr` is null or points to `nodes`, which holds maxnode-1
    // bits and outlives the call.
    Errno::result(unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) }).map(drop)
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MountAttr {
    /// `MOUNT_ATTR_*` to set.
    pub attr_set: u64,
    /// `MOUNT_ATTR_*` to clear.
    pub attr_clr: u64,
    /// Propagation type (`MS_SHARED`…), 0 to leave it.
    pub propagation: u64,
    /// User namespace fd for `MOUNT_ATTR_IDMAP`.
    pub userns_fd: u64,
}

const AT_RECURSIVE: u32 = 0x8000;

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`: changes
/// the mount `fd` names (and its submounts when `recursive`).
pub fn mount_setattr(fd: RawFd, recursive: bool, attr: &MountAttr) -> Result<(), Errno> {
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: "" is a valid C string, `attr` a properly sized mount_attr on
    // our stack; both outlive the call.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
/// [| AT_RECURSIVE])`: a detached copy of the mount at `path` (with its
/// submounts when `recursive`).
pub fn open_tree_clone(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let c = cstr(path)?;
    let flags = 1 | libc::O_CLOEXEC as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: valid C string for the duration of the call.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    let fd = Errno::result(fd)? as RawFd;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH |
/// MOVE_MOUNT_T_EMPTY_PATH)`: attaches the detached mount `from` on the
/// directory or file `to` names.
pub fn move_mount_fd(from: RawFd, to: RawFd) -> Result<(), Errno> {
    // SAFETY: "" is a valid C string; plain fds.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            0x4 | 0x40,
        )
    })
    .map(drop)
}

/// `waitid(P_PIDFD, pidfd, WEXITED)`: reaps the child `pidfd` refers to and
/// returns its wait status in the form `waitpid` gives.
pub fn waitid_pidfd(pidfd: RawFd) -> Result<i32, Errno> {
    // SAFETY: siginfo_t is plain data the kernel fills; zeroed is valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid siginfo_t on our stack for the call.
        let r =
            unsafe { libc::waitid(libc::P_PIDFD, pidfd as libc::id_t, &mut info, libc::WEXITED) };
        match Errno::result(r) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    // SAFETY: after a successful WEXITED wait si_code and si_status are set.
    let (code, status) = unsafe { (info.si_code, info.si_status()) };
    Ok(if code == libc::CLD_EXITED {
        (status & 0xff) << 8
    } else {
        status & 0x7f
    })
}

/// Whether this kernel has system call `nr`: it is called with arguments
/// every implementation refuses (a bad fd, null pointers, zero sizes), so
/// it has no effect, and any answer but ENOSYS means it exists. Only for
/// clone3, openat2, pidfd_open, open_tree, move_mount, fsopen and
/// mount_setattr, whose argument checks fail before they act.
pub fn has_syscall(nr: libc::c_long) -> bool {
    // SAFETY: no pointer is dereferenced by the kernel: each of the calls
    // above checks its sizes, flags or fd and fails first with these
    // arguments (EINVAL, EBADF or EFAULT).
    let r = unsafe { libc::syscall(nr, -1 as libc::c_long, 0, 0, 0, 0) };
    !(r == -1 && Errno::last() == Errno::ENOSYS)
}

/// Whether this process may use system call `nr`: called with arguments
/// the kernel refuses before it acts (`-1` and zeros), any answer but
/// ENOSYS (no such call) and EPERM (a seccomp filter's denial) means it
/// may. Only for clone3 (size 0: EINVAL), pidfd_open (pid -1: EINVAL),
/// pidfd_send_signal (fd -1: EBADF) and close_range (first > last:
/// EINVAL), plus what [`has_syscall`] lists, with one exception: fsopen's
/// own EPERM (no `CAP_SYS_ADMIN`) reads as missing, which it is to such a
/// caller.
pub fn syscall_usable(nr: libc::c_long) -> bool {
    // SAFETY: as for has_syscall: every listed call fails its argument
    // checks (sizes, fd, pid, range) before it dereferences or changes
    // anything.
    let r = unsafe { libc::syscall(nr, -1 as libc::c_long, 0, 0, 0, 0) };
    !(r == -1 && matches!(Errno::last(), Errno::ENOSYS | Errno::EPERM))
}

/// Opens our own executable (`/proc/self/exe`) read-only, close-on-exec.
pub fn open_self_exe() -> Result<OwnedFd, Errno> {
    // SAFETY: a static C string; the kernel returns a new fd or -1.
    let fd = unsafe { libc::open(c"/proc/self/exe".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fcntl(fd, F_GET_SEALS)`: the seals of a memfd (EINVAL for other files).
pub fn get_seals(fd: RawFd) -> Result<i32, Errno> {
    // SAFETY: F_GET_SEALS takes no argument.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_GET_SEALS) })
}

/// `fcntl(fd, F_ADD_SEALS, seals)`.
pub fn add_seals(fd: RawFd, seals: i32) -> Result<(), Errno> {
    // SAFETY: F_ADD_SEALS takes an int.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) }).map(drop)
}

/// The `f_flag` of `fstatvfs(fd)`: the mount's and the superblock's flags
/// (`ST_RDONLY`, `ST_NOSUID`…) as seen through this fd's mount.
pub fn statvfs_flags(fd: RawFd) -> Result<u64, Errno> {
    // SAFETY: statvfs is plain data the kernel fills; zeroed is valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid statvfs on our stack for the call.
    Errno::result(unsafe { libc::fstatvfs(fd, &mut st) })?;
    Ok(st.f_flag)
}

/// `fstat(fd)`.
pub fn fstat(fd: RawFd) -> Result<libc::stat, Errno> {
    // SAFETY: stat is plain data the kernel fills; zeroed is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid stat on our stack for the call.
    Errno::result(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// A close-on-exec memfd that can be sealed and executed (`MFD_EXEC` where
/// the kernel knows it, so `vm.memfd_noexec=1` does not make it
/// non-executable).
pub fn memfd_exec(name: &str) -> Result<OwnedFd, Errno> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: valid C string; the kernel returns a new fd or -1.
    let mut fd = unsafe { libc::memfd_create(c.as_ptr(), base | MFD_EXEC) };
    if fd < 0 && Errno::last() == Errno::EINVAL {
        // Before Linux 6.3 MFD_EXEC is unknown, and every memfd executable.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(c.as_ptr(), base) };
    }
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Copies `len` bytes from `src` to `dst` (both at their offsets):
/// `copy_file_range`, or `sendfile` where it is missing or refused.
pub fn copy_all(src: RawFd, dst: RawFd, len: u64) -> Result<(), Errno> {
    let mut left = len;
    let mut use_sendfile = false;
    while left > 0 {
        let chunk = left.min(1 << 30) as usize;
        let n = if use_sendfile {
            // SAFETY: plain fds, a null offset (the file's own is used).
            unsafe { libc::sendfile(dst, src, std::ptr::null_mut(), chunk) }
        } else {
            // SAFETY: plain fds, null offsets (the files' own are used).
            unsafe {
                libc::copy_file_range(
                    src,
                    std::ptr::null_mut(),
                    dst,
                    std::ptr::null_mut(),
                    chunk,
                    0,
                )
            }
        };
        match Errno::result(n) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => left -= n as u64,
            Err(Errno::EINTR) => {}
            Err(Errno::ENOSYS | Errno::EXDEV | Errno::EINVAL | Errno::EPERM) if !use_sendfile => {
                use_sendfile = true
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: executes the file open on
/// `fd`; returns only on failure.
pub fn execveat_empty(fd: RawFd, argv: &[CString], envp: &[CString]) -> Errno {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of valid C strings that outlive the
    // call; on success it does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// `openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)`.
pub fn openat_path(dirfd: RawFd, name: &Path) -> Result<OwnedFd, Errno> {
    let c = cstr(name)?;
    // SAFETY: valid C string for the duration of the call.
    let fd = unsafe {
        libc::openat(
            dirfd,
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `open_tree(dirfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH
/// [| AT_RECURSIVE])`: a detached copy of the mount whose root, or the
/// directory under it, `dirfd` names — no path is resolved.
pub fn open_tree_clone_fd(dirfd: RawFd, recursive: bool) -> Result<OwnedFd, Errno> {
    let flags = 1
        | libc::O_CLOEXEC as u32
        | libc::AT_EMPTY_PATH as u32
        | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: "" is a valid C string; integer arguments otherwise.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, c"".as_ptr(), flags) };
    let fd = Errno::result(fd)? as RawFd;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`, `fsconfig(FSCONFIG_SET_STRING)` of
/// each `(key, Some(value))` (`FSCONFIG_SET_FLAG` of each `(key, None)`), `fsconfig(FSCONFIG_CMD_CREATE)` and
/// `fsmount(FSMOUNT_CLOEXEC, attrs)`: a new, detached instance of the file
/// system `fstype` with mount attributes `attrs` (`MOUNT_ATTR_*`), attached
/// nowhere until [`move_mount_fd`].
pub fn fsmount_new(
    fstype: &str,
    options: &[(&str, Option<&str>)],
    attrs: u64,
) -> Result<OwnedFd, Errno> {
    const FSOPEN_CLOEXEC: u32 = 1;
    const FSCONFIG_SET_FLAG: u32 = 0;
    const FSCONFIG_SET_STRING: u32 = 1;
    const FSCONFIG_CMD_CREATE: u32 = 6;
    const FSMOUNT_CLOEXEC: u32 = 1;
    let t = CString::new(fstype).map_err(|_| Errno::EINVAL)?;
    // SAFETY: valid C string for the duration of the call.
    let fs = Errno::result(unsafe { libc::syscall(libc::SYS_fsopen, t.as_ptr(), FSOPEN_CLOEXEC) })?
        as RawFd;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    let fs = unsafe { OwnedFd::from_raw_fd(fs) };
    use std::os::fd::AsRawFd;
    for (k, v) in options {
        let k = CString::new(*k).map_err(|_| Errno::EINVAL)?;
        let v = match v {
            Some(v) => Some(CString::new(*v).map_err(|_| Errno::EINVAL)?),
            None => None,
        };
        let (cmd, vp) = match &v {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: valid C strings (or NULL for a flag, as the man page
        // asks) that outlive the call.
        Errno::result(unsafe {
            libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, k.as_ptr(), vp, 0)
        })?;
    }
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value (NULL, 0).
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: integer arguments on an fd we own.
    let m = Errno::result(unsafe {
        libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs)
    })? as RawFd;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(m) })
}

/// The id of the mount `fd` is on: `statx(STATX_MNT_ID)` (Linux 5.8), else
/// the `mnt_id` line of `/proc/self/fdinfo/FD` (Linux 3.15).
pub fn mount_id(fd: RawFd) -> Result<u64, Errno> {
    const STATX_MNT_ID: u32 = 0x1000;
    // SAFETY: statx is plain data; zeroed is valid and the kernel fills it.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: "" is a valid C string and `st` a statx on our stack, both
    // valid for the call.
    let r = unsafe {
        libc::statx(
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            STATX_MNT_ID,
            &mut st,
        )
    };
    if r == 0 && st.stx_mask & STATX_MNT_ID != 0 {
        return Ok(st.stx_mnt_id);
    }
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    text.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or(Errno::ENOSYS)
}

/// Whether an error of one of the new mount API's calls means "not
/// available here": ENOSYS (an older kernel) or EPERM (a seccomp filter
/// that denies it, as the older-kernels test tier does).
pub fn api_missing(e: Errno) -> bool {
    matches!(e, Errno::ENOSYS | Errno::EPERM)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: a new fd for the open file `fd` names
/// (one the caller holds only as a raw number).
pub fn dup_cloexec(fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments; the new fd is ours alone.
    let n = Errno::result(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// Marks every fd from `first` on close-on-exec without depending on a
/// system call a seccomp profile may deny: `close_range(CLOSE_RANGE_CLOEXEC)`
/// (Linux 5.11) first; where it fails (ENOSYS, EPERM), each fd listed in
/// `/proc/self/fd` gets `FD_CLOEXEC` by `fcntl`; where `/proc` is not
/// there, every fd number below the `RLIMIT_NOFILE` soft limit (at most
/// 2^20) does. Async-signal-safe (no allocation): fit for a `pre_exec`.
pub fn cloexec_all_from(first: u32) -> Result<(), Errno> {
    if cloexec_from(first).is_ok() {
        return Ok(());
    }
    if cloexec_listed_from(first).is_ok() {
        return Ok(());
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit on our stack for the call.
    let n = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20)
    } else {
        65536
    };
    for fd in u64::from(first)..n {
        // SAFETY: fcntl with integer arguments; an fd that is not open
        // answers EBADF, which is ignored.
        unsafe { libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Sets `FD_CLOEXEC` on every fd ≥ `first` that `/proc/self/fd` lists
/// (raw `open` + `getdents64` into a stack buffer: no allocation — which
/// is why this fd list is not the procfs crate's, whose iterator
/// allocates and so cannot run in a `pre_exec` after a fork).
fn cloexec_listed_from(first: u32) -> Result<(), Errno> {
    // SAFETY: a static C string; the kernel returns a new fd or -1.
    let dir = Errno::result(unsafe {
        libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    let mut buf = [0u8; 4096];
    let r = loop {
        // SAFETY: `buf` is writable for its length; `dir` is our fd.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir,
                buf.as_mut_ptr(),
                buf.len() as libc::c_ulong,
            )
        };
        if n < 0 {
            break Err(Errno::last());
        }
        if n == 0 {
            break Ok(());
        }
        let n = n as usize;
        let mut off = 0usize;
        // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
        while off + 19 < n {
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let mut fd: i64 = 0;
            let mut digits = 0;
            for &b in buf[off + 19..(off + reclen).min(n)].iter() {
                if !b.is_ascii_digit() || fd > i32::MAX as i64 {
                    break;
                }
                fd = fd * 10 + i64::from(b - b'0');
                digits += 1;
            }
            if digits > 0 && fd >= i64::from(first) && fd != i64::from(dir) {
                // SAFETY: fcntl with integer arguments on a listed fd.
                unsafe { libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
            off += reclen;
        }
    };
    // SAFETY: `dir` is ours and closed once.
    unsafe { libc::close(dir) };
    r
}

/// `setpgid(0, 0)`: the caller leads a new process group (a hook, so that
/// its timeout can end what it forked).
pub fn setpgid_self() -> Result<(), Errno> {
    // SAFETY: integer arguments.
    Errno::result(unsafe { libc::setpgid(0, 0) }).map(drop)
}

/// `poll(2)` on `fds` for at most `timeout_ms` (EINTR answers 0 ready).
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize, Errno> {
    // SAFETY: `fds` is a valid, writable array of its length.
    match Errno::result(unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms)
    }) {
        Ok(n) => Ok(n as usize),
        Err(Errno::EINTR) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Whether child `pid` has exited, without reaping it
/// (`waitid(P_PID, WEXITED | WNOHANG | WNOWAIT)`): its pid, and a process
/// group it leads, stay reserved until it is waited for.
pub fn child_exited(pid: i32) -> Result<bool, Errno> {
    // SAFETY: siginfo_t is plain data the kernel fills; zeroed is valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid siginfo_t on our stack for the call.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        match Errno::result(r) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            // SAFETY: after a successful waitid si_pid is set (0: none yet).
            Ok(_) => return Ok(unsafe { info.si_pid() } != 0),
        }
    }
}

/// Makes `cmd` start by `fork(2)` and `execve(2)` instead of
/// `posix_spawn(3)`: std's `Command` spawns with posix_spawn unless a
/// `pre_exec` closure is set, and glibc's posix_spawn (like its
/// pthread_create) tries clone3 first and falls back to clone only on
/// ENOSYS, so under a seccomp profile that answers clone3 with EPERM it
/// fails; glibc's fork uses clone(2).
pub fn spawn_by_fork(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure does nothing, so it is async-signal-safe in the
    // forked child.
    unsafe { cmd.pre_exec(|| Ok(())) };
}

#[cfg(test)]
mod clone_tests {
    use super::{clone_fork, Forked, CLONE_INTO_CGROUP};

    /// A child of `clone3` is non-dumpable from its first instruction (the
    /// parent makes itself so before the clone): what it runs first reads
    /// the flag, with no prctl of its own. The harness's process stays
    /// non-dumpable afterwards, which no test depends on.
    #[test]
    fn a_cloned_child_is_born_non_dumpable() {
        match super::clone3(0, None).expect("clone3") {
            // SAFETY: prctl with integer arguments, then _exit.
            Forked::Child => super::exit_now(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }),
            Forked::Parent(pid) => {
                let st =
                    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).expect("wait");
                assert_eq!(
                    st,
                    nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(pid), 0),
                    "the child was dumpable"
                );
            }
        }
    }

    /// The clone(2) fallback forks (the child only `_exit`s, which is safe
    /// from the test harness's threads) and refuses what clone(2) cannot
    /// express.
    #[test]
    fn clone_fallback_forks_and_refuses_clone3_only_flags() {
        match clone_fork(0).expect("clone") {
            Forked::Child => super::exit_now(7),
            Forked::Parent(pid) => {
                let st =
                    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).expect("wait");
                assert_eq!(
                    st,
                    nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(pid), 7)
                );
            }
        }
        assert_eq!(
            clone_fork(CLONE_INTO_CGROUP).err(),
            Some(nix::errno::Errno::EINVAL)
        );
        assert_eq!(
            clone_fork(libc::SIGCHLD as u64).err(),
            Some(nix::errno::Errno::EINVAL)
        );
    }
}
