//! `deny-newer ERRNO PROGRAM [ARGS…]`: runs PROGRAM with every system call
//! newer than Linux 4.18 answered by ERRNO (`ENOSYS`, as an older kernel
//! answers, or `EPERM`, as a container's seccomp profile that predates the
//! call does), through a seccomp filter installed on this process and
//! inherited by everything PROGRAM starts.
//!
//! The integration tests run corral through it when
//! `CORRAL_TEST_DENY_NEWER` names the errno (see `integration::corral_command`),
//! so that the lifecycle, exec, rootfs and escape tests run on the
//! fallbacks of an older kernel.
//!
//! With `CORRAL_TEST_DENY_ONLY` set to a comma-separated list of system
//! calls (the names below, or numbers), only those get ERRNO: the tier of
//! one fallback at a time, e.g. `openat2,open_tree,move_mount,fsopen,
//! fsconfig,fsmount,fspick,mount_setattr` for the rootfs's fallbacks.
//!
//! "Newer than 4.18" is every number from 424 (pidfd_send_signal, 5.1) on,
//! the same on every architecture since the tables were unified, plus the
//! per-architecture ones added after 4.18 below that (x86_64's uretprobe).

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

/// The first system call number of Linux 5.1 (pidfd_send_signal).
const FIRST_AFTER_4_18: u32 = 424;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "x86_64")]
const ALSO_NEWER: &[u32] = &[335]; // uretprobe (6.11)
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "aarch64")]
const ALSO_NEWER: &[u32] = &[];

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter: another architecture is allowed (the caller's is the one the
/// tests exercise), then each listed number and everything from
/// [`FIRST_AFTER_4_18`] up returns `errno`.
///
/// `except` are numbers left allowed (`DENY_NEWER_EXCEPT`, comma-separated:
/// to work on one fallback while another is unfinished; the test tier
/// itself never sets it).
fn program(errno: u32, except: &[u32]) -> Vec<libc::sock_filter> {
    let deny = SECCOMP_RET_ERRNO | (errno & 0xffff);
    let mut p = vec![
        insn(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        insn(JEQ_K, 1, 0, AUDIT_ARCH),
        insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),
        insn(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
    ];
    for &nr in except {
        p.push(insn(JEQ_K, 0, 1, nr));
        p.push(insn(RET_K, 0, 0, SECCOMP_RET_ALLOW));
    }
    for &nr in ALSO_NEWER {
        p.push(insn(JEQ_K, 0, 1, nr));
        p.push(insn(RET_K, 0, 0, deny));
    }
    p.push(insn(JGE_K, 0, 1, FIRST_AFTER_4_18));
    p.push(insn(RET_K, 0, 0, deny));
    p.push(insn(RET_K, 0, 0, SECCOMP_RET_ALLOW));
    p
}

/// The names `CORRAL_TEST_DENY_ONLY` takes: the newer calls corral has
/// fallbacks for (numbers shared by every architecture since 5.1).
const NAMES: &[(&str, u32)] = &[
    ("pidfd_send_signal", 424),
    ("open_tree", 428),
    ("move_mount", 429),
    ("fsopen", 430),
    ("fsconfig", 431),
    ("fsmount", 432),
    ("fspick", 433),
    ("pidfd_open", 434),
    ("clone3", 435),
    ("close_range", 436),
    ("openat2", 437),
    ("mount_setattr", 442),
];

/// The filter of `CORRAL_TEST_DENY_ONLY`: the listed numbers return
/// `errno`, everything else is allowed.
fn program_only(errno: u32, list: &str) -> Vec<libc::sock_filter> {
    let deny = SECCOMP_RET_ERRNO | (errno & 0xffff);
    let mut p = vec![
        insn(LD_W_ABS, 0, 0, 4),
        insn(JEQ_K, 1, 0, AUDIT_ARCH),
        insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),
        insn(LD_W_ABS, 0, 0, 0),
    ];
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let nr = NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, nr)| *nr)
            .or_else(|| name.parse().ok())
            .unwrap_or_else(|| {
                fail(format!(
                    "CORRAL_TEST_DENY_ONLY: unknown system call {name:?}"
                ))
            });
        p.push(insn(JEQ_K, 0, 1, nr));
        p.push(insn(RET_K, 0, 0, deny));
    }
    p.push(insn(RET_K, 0, 0, SECCOMP_RET_ALLOW));
    p
}

fn fail(msg: String) -> ! {
    eprintln!("deny-newer: {msg}");
    std::process::exit(125);
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let errno = match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("ENOSYS") => libc::ENOSYS,
        Some("EPERM") => libc::EPERM,
        other => fail(format!(
            "usage: deny-newer ENOSYS|EPERM PROGRAM [ARGS…] (errno {other:?})"
        )),
    };
    let argv: Vec<CString> = args
        .map(|a: OsString| {
            CString::new(a.into_vec()).unwrap_or_else(|e| fail(format!("argument: {e}")))
        })
        .collect();
    if argv.is_empty() {
        fail("no program given".into());
    }
    let except: Vec<u32> = match std::env::var("DENY_NEWER_EXCEPT") {
        Ok(v) if !v.is_empty() => v
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|e| fail(format!("DENY_NEWER_EXCEPT {n:?}: {e}")))
            })
            .collect(),
        _ => Vec::new(),
    };
    let prog = match std::env::var("CORRAL_TEST_DENY_ONLY") {
        Ok(list) if !list.is_empty() => program_only(errno as u32, &list),
        _ => program(errno as u32, &except),
    };
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel
    // copies the program. No flags: this process is single-threaded.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        fail(format!(
            "install the filter (needs CAP_SYS_ADMIN): {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `ptrs` is a NULL-terminated array of pointers into `argv`,
    // both alive across the call; execvp returns only on failure.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    fail(format!(
        "exec {:?}: {}",
        argv[0],
        std::io::Error::last_os_error()
    ));
}
