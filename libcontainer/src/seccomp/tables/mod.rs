//! Syscall numbers by name, one table per ABI, generated from the kernel's
//! uapi headers by `scripts/gen-seccomp-tables.py` (which also checks that
//! the committed tables are what the headers say). Each table is sorted by
//! name for binary search; the numbers are what the kernel sees in
//! `seccomp_data.nr` for that ABI (x32's carry the x32 bit, ARM's private
//! syscalls are at 0x0f0000 and up).

mod arm;
mod powerpc;
mod riscv;
mod s390;
mod x86;

pub use arm::{AARCH64, ARM};
pub use powerpc::{PPC, PPC64};
pub use riscv::RISCV64;
pub use s390::{S390, S390X};
pub use x86::{X32, X86, X86_64};
