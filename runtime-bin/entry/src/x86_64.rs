//! The entry point for x86_64 Linux.

use core::arch::{asm, global_asm};
use core::ptr::addr_of_mut;

// The kernel (or, for a dynamic executable, ld.so) enters here with the
// initial stack at rsp — argc, argv[0..argc], NULL, envp…, NULL, auxv — and
// in rdx the function `_start` registers with atexit (ld.so's fini, or 0).
// Both are kept in callee-saved registers across the call and handed to
// the C library's `_start` as they came.
global_asm!(
    ".globl corral_entry",
    ".type corral_entry, @function",
    "corral_entry:",
    "mov r12, rsp",
    "mov r13, rdx",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {seal}",
    "mov rsp, r12",
    "mov rdx, r13",
    "jmp _start",
    ".size corral_entry, . - corral_entry",
    seal = sym corral_entry_seal,
);

pub(crate) fn linked() {
    extern "C" {
        fn corral_entry();
    }
    // Referenced, so the entry point's object is linked in.
    // SAFETY: only the address is taken; nothing calls it here.
    let f: unsafe extern "C" fn() = corral_entry;
    core::hint::black_box(f);
}

const SYS_CLOSE: usize = 3;
const SYS_MMAP: usize = 9;
const SYS_MUNMAP: usize = 11;
const SYS_FCNTL: usize = 72;
const SYS_READLINK: usize = 89;
const SYS_FSTATFS: usize = 138;
const SYS_OPENAT: usize = 257;
const SYS_NEWFSTATAT: usize = 262;
const SYS_EXECVEAT: usize = 322;
const SYS_OPEN_TREE: usize = 428;
const SYS_MOUNT_SETATTR: usize = 442;

const AT_FDCWD: isize = -100;
const AT_EMPTY_PATH: usize = 0x1000;
const O_CLOEXEC: usize = 0o2000000;
const O_NOFOLLOW: usize = 0o400000;
const O_PATH: usize = 0o10000000;
const OPEN_TREE_CLONE: usize = 1;
const OPEN_TREE_CLOEXEC: usize = O_CLOEXEC;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const F_SETFD: usize = 2;
const FD_CLOEXEC: usize = 1;
const PROT_READ_WRITE: usize = 0x3;
const MAP_PRIVATE_ANONYMOUS: usize = 0x2 | 0x20;
const ST_RDONLY: u64 = 1;

/// The marker `libcontainer::process::seal` reads (`SEALED_ENV`).
const SEALED: &[u8] = b"_LIBCONTAINER_SEALED=";
/// The tests' switch to the memfd fallback (`FORCE_MEMFD_ENV`).
const FORCE_MEMFD: &[u8] = b"_LIBCONTAINER_SEAL_MEMFD=";

/// The executable's path (`readlink /proc/self/exe`).
static mut PATH: [u8; 4096] = [0; 4096];

/// A raw system call with up to five arguments (the sixth, r9, is 0: the
/// offset of `mmap`, unused by the others).
///
/// # Safety
/// The arguments must be what system call `n` expects.
#[inline(always)]
unsafe fn syscall(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
    let r: isize;
    // SAFETY: the caller passes what the system call expects; `syscall`
    // clobbers only rcx and r11 (declared) and touches no stack.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => r,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            in("r8") e,
            in("r9") 0usize,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    r
}

/// Whether the NUL-terminated `s` equals `want`.
///
/// # Safety
/// `s` points to a NUL-terminated string.
unsafe fn equals(s: *const u8, want: &[u8]) -> bool {
    unsafe { starts_with(s, want) && *s.add(want.len()) == 0 }
}

/// Whether the NUL-terminated `s` begins with `prefix`.
///
/// # Safety
/// `s` points to a NUL-terminated string.
unsafe fn starts_with(s: *const u8, prefix: &[u8]) -> bool {
    let mut i = 0;
    while i < prefix.len() {
        // SAFETY: the string goes on at least until its NUL, which no
        // byte of the prefix matches before the comparison stops.
        if unsafe { *s.add(i) != *prefix.as_ptr().add(i) } {
            return false;
        }
        i += 1;
    }
    true
}

/// Decides and, where it can, re-executes; returns when it did not.
///
/// # Safety
/// `sp` is the initial process stack the kernel laid out.
#[no_mangle]
unsafe extern "C" fn corral_entry_seal(sp: *const usize) {
    // SAFETY: the kernel's layout: argc, then argc pointers and NULL, then
    // the environment's pointers and NULL, each to a NUL-terminated string.
    unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        let envp = argv.add(argc + 1);
        let mut wanted = false;
        let mut i = 1;
        while i < argc {
            let a = *argv.add(i);
            if equals(a, b"create") || equals(a, b"run") || equals(a, b"exec") {
                wanted = true;
            }
            i += 1;
        }
        if !wanted {
            return;
        }
        let mut n = 0;
        while !(*envp.add(n)).is_null() {
            let e = *envp.add(n);
            if starts_with(e, SEALED) || starts_with(e, FORCE_MEMFD) {
                return;
            }
            n += 1;
        }
        reexec(argv, envp, n);
    }
}

/// Makes the read-only detached bind of the executable's directory and
/// `execveat`s the executable in it; cleans up and returns on any failure.
///
/// # Safety
/// `argv` and `envp` (of `envc` entries) are the process's own.
unsafe fn reexec(argv: *const *const u8, envp: *const *const u8, envc: usize) {
    // SAFETY: every call gets pointers to live buffers of the sizes it is
    // told, and fds this function opened.
    unsafe {
        let path = addr_of_mut!(PATH) as *mut u8;
        let len = syscall(
            SYS_READLINK,
            c"/proc/self/exe".as_ptr() as usize,
            path as usize,
            4095,
            0,
            0,
        );
        if len <= 1 || len >= 4095 {
            return;
        }
        let len = len as usize;
        *path.add(len) = 0;
        let mut slash = len;
        while slash > 0 && *path.add(slash - 1) != b'/' {
            slash -= 1;
        }
        if slash == 0 || slash == len {
            return;
        }
        let name = path.add(slash);
        let dir = if slash == 1 {
            c"/".as_ptr() as *const u8
        } else {
            *path.add(slash - 1) = 0;
            path as *const u8
        };
        let tree = syscall(
            SYS_OPEN_TREE,
            AT_FDCWD as usize,
            dir as usize,
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
            0,
            0,
        );
        if tree < 0 {
            return;
        }
        let tree = tree as usize;
        let attr: [u64; 4] = [
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            0,
            0,
            0,
        ];
        let empty = c"".as_ptr() as usize;
        if syscall(
            SYS_MOUNT_SETATTR,
            tree,
            empty,
            AT_EMPTY_PATH,
            attr.as_ptr() as usize,
            32,
        ) != 0
        {
            syscall(SYS_CLOSE, tree, 0, 0, 0, 0);
            return;
        }
        let exe = syscall(
            SYS_OPENAT,
            tree,
            name as usize,
            O_PATH | O_NOFOLLOW | O_CLOEXEC,
            0,
            0,
        );
        if exe < 0 {
            syscall(SYS_CLOSE, tree, 0, 0, 0, 0);
            return;
        }
        let exe = exe as usize;
        if !same_sealed_file(exe) || syscall(SYS_FCNTL, tree, F_SETFD, 0, 0, 0) != 0 {
            syscall(SYS_CLOSE, exe, 0, 0, 0, 0);
            syscall(SYS_CLOSE, tree, 0, 0, 0, 0);
            return;
        }
        // The environment again, with the marker naming the mount's fd.
        let size = (envc + 2) * 8 + 64;
        let page = syscall(
            SYS_MMAP,
            0,
            size,
            PROT_READ_WRITE,
            MAP_PRIVATE_ANONYMOUS,
            usize::MAX,
        );
        if page < 0 {
            syscall(SYS_CLOSE, exe, 0, 0, 0, 0);
            syscall(SYS_CLOSE, tree, 0, 0, 0, 0);
            return;
        }
        let env = page as *mut *const u8;
        let mut i = 0;
        while i < envc {
            *env.add(i) = *envp.add(i);
            i += 1;
        }
        let marker = (page as usize + (envc + 2) * 8) as *mut u8;
        let mut k = 0;
        while k < SEALED.len() {
            *marker.add(k) = *SEALED.as_ptr().add(k);
            k += 1;
        }
        write_decimal(marker.add(k), tree);
        *env.add(envc) = marker;
        *env.add(envc + 1) = core::ptr::null();
        syscall(
            SYS_EXECVEAT,
            exe,
            empty,
            argv as usize,
            env as usize,
            AT_EMPTY_PATH,
        );
        // Still here: nothing changed but what is undone now.
        syscall(SYS_MUNMAP, page as usize, size, 0, 0, 0);
        syscall(SYS_CLOSE, exe, 0, 0, 0, 0);
        syscall(SYS_FCNTL, tree, F_SETFD, FD_CLOEXEC, 0, 0);
        syscall(SYS_CLOSE, tree, 0, 0, 0, 0);
    }
}

/// Whether `exe` is the running executable (device and inode of
/// `/proc/self/exe`) and on a read-only mount.
///
/// # Safety
/// `exe` is an open fd.
unsafe fn same_sealed_file(exe: usize) -> bool {
    // struct stat is 144 bytes on x86_64: st_dev at 0, st_ino at 8;
    // struct statfs is 120: f_flags at 80. The kernel fills them.
    let mut a = core::mem::MaybeUninit::<[u64; 18]>::uninit();
    let mut b = core::mem::MaybeUninit::<[u64; 18]>::uninit();
    let mut fs = core::mem::MaybeUninit::<[u64; 15]>::uninit();
    // SAFETY: buffers of the kernel's sizes, read only after it filled them.
    unsafe {
        let empty = c"".as_ptr() as usize;
        if syscall(
            SYS_NEWFSTATAT,
            exe,
            empty,
            a.as_mut_ptr() as usize,
            AT_EMPTY_PATH,
            0,
        ) != 0
            || syscall(
                SYS_NEWFSTATAT,
                AT_FDCWD as usize,
                c"/proc/self/exe".as_ptr() as usize,
                b.as_mut_ptr() as usize,
                0,
                0,
            ) != 0
            || syscall(SYS_FSTATFS, exe, fs.as_mut_ptr() as usize, 0, 0, 0) != 0
        {
            return false;
        }
        let (a, b, fs) = (
            a.assume_init_ref(),
            b.assume_init_ref(),
            fs.assume_init_ref(),
        );
        a[0] == b[0] && a[1] == b[1] && fs[10] & ST_RDONLY != 0
    }
}

/// Writes `v` in decimal and a NUL at `out` (room for 21 bytes).
///
/// # Safety
/// `out` has room for 21 bytes.
unsafe fn write_decimal(out: *mut u8, mut v: usize) {
    let mut digits = [0u8; 20];
    let d = digits.as_mut_ptr();
    let mut n = 0;
    loop {
        // SAFETY: a usize has at most 20 decimal digits.
        unsafe { *d.add(n) = b'0' + (v % 10) as u8 };
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut i = 0;
    while i < n {
        // SAFETY: at most 20 digits and the NUL fit in the caller's room.
        unsafe { *out.add(i) = *d.add(n - 1 - i) };
        i += 1;
    }
    // SAFETY: as above.
    unsafe { *out.add(n) = 0 };
}
