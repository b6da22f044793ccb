//! The `corral` binary's ELF entry point, which runs before the C library.
//!
//! `create`, `run` and `exec` must not run from a writable executable
//! (CVE-2019-5736; see `libcontainer::process::seal`), so the binary
//! re-executes itself once from a read-only detached bind of its own
//! directory. Done in `main`, that cost a whole second start of the C
//! library: glibc's start-up probes the CPU with `CPUID`, which a hypervisor
//! traps (about 11 us a time in the VM this was measured in, 0.8 ms per
//! start), and every create, run and exec paid it twice.
//!
//! [`corral_entry`] is the ELF entry point instead of the C library's
//! `_start`. It looks at the arguments and environment on the initial stack
//! and, for those commands, makes the same detached read-only bind with raw
//! system calls and `execveat`s the binary in it, passing the mount's fd in
//! `_LIBCONTAINER_SEALED` (which `libcontainer::process::seal::seal_self`
//! checks and adopts). Whatever it cannot do (no new mount API, no
//! privilege, a binary replaced on disk, the memfd fallback of the tests)
//! it leaves to `seal_self`, unchanged: it returns, and `_start` runs as it
//! would have.
//!
//! The code runs before the C library has set up anything — no TLS, no
//! `memcpy` (its IFUNC is resolved later), no allocator — so the crate is
//! `no_std` and `no_builtins` (the compiler must not turn a loop into a
//! library call), touches only the stack, one static buffer and one page
//! it maps, and calls nothing but the kernel. `scripts/test.sh` checks the
//! release binary's code of it for calls.
#![no_std]
#![no_builtins]

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod x86_64;

/// Makes sure this crate is linked into the binary that names it as its
/// entry point (`-Wl,--entry=corral_entry`): call it from `main`.
#[inline(never)]
pub fn linked() {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    x86_64::linked();
}
