//! The architectures corral compiles seccomp filters for: each ABI's audit
//! arch, syscall table, word size, byte order and special number ranges,
//! and how the OCI `Arch` values and the build's own architecture map to
//! them.

use oci_spec::runtime::Arch;

use super::tables;

/// `AUDIT_ARCH_*` (linux/audit.h): the ELF machine, `__AUDIT_ARCH_64BIT`
/// (0x80000000) for 64-bit ABIs and `__AUDIT_ARCH_LE` (0x40000000) for
/// little-endian ones.
pub(super) mod audit {
    pub const X86_64: u32 = 0xc000_003e;
    pub const I386: u32 = 0x4000_0003;
    pub const AARCH64: u32 = 0xc000_00b7;
    pub const ARM: u32 = 0x4000_0028;
    pub const PPC64LE: u32 = 0xc000_0015;
    pub const PPC64: u32 = 0x8000_0015;
    pub const PPC: u32 = 0x0000_0014;
    pub const S390X: u32 = 0x8000_0016;
    pub const S390: u32 = 0x0000_0016;
    pub const RISCV64: u32 = 0xc000_00f3;
    /// `__AUDIT_ARCH_LE`: the ABI is little-endian.
    pub const LE: u32 = 0x4000_0000;
}

/// x32 syscalls enter through the x86_64 entry point with this bit set in
/// the number (`__X32_SYSCALL_BIT`).
pub(super) const X32_BIT: u32 = 0x4000_0000;

/// ARM's private syscalls (`__ARM_NR_BASE`: breakpoint, cacheflush, usr26,
/// usr32, set_tls, get_tls) start here, far above the ordinary ones.
pub(super) const ARM_PRIVATE_BASE: u32 = 0x000f_0000;

/// One syscall ABI, as a seccomp filter sees it (`seccomp_data.arch` and
/// the numbering of `seccomp_data.nr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Abi {
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
    Ppc64le,
    Ppc64,
    Ppc,
    S390x,
    S390,
    Riscv64,
}

/// `socketcall(2)`'s call numbers (linux/net.h), in order from 1.
const SOCKETCALLS: [&str; 20] = [
    "socket",
    "bind",
    "connect",
    "listen",
    "accept",
    "getsockname",
    "getpeername",
    "socketpair",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "accept4",
    "recvmmsg",
    "sendmmsg",
];

/// `ipc(2)`'s call numbers (linux/ipc.h).
const IPC_CALLS: [(&str, u64); 12] = [
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

impl Abi {
    /// Every ABI corral compiles.
    pub(super) const ALL: [Abi; 11] = [
        Abi::X86_64,
        Abi::X86,
        Abi::X32,
        Abi::Aarch64,
        Abi::Arm,
        Abi::Ppc64le,
        Abi::Ppc64,
        Abi::Ppc,
        Abi::S390x,
        Abi::S390,
        Abi::Riscv64,
    ];

    /// The ABI an OCI architecture names; `None` for `SCMP_ARCH_NATIVE`
    /// (the caller's [`Abi::native`]) and for those corral has no table for
    /// (MIPS).
    pub(super) fn from_oci(a: Arch) -> Option<Abi> {
        Some(match a {
            Arch::ScmpArchX86_64 => Abi::X86_64,
            Arch::ScmpArchX86 => Abi::X86,
            Arch::ScmpArchX32 => Abi::X32,
            Arch::ScmpArchAarch64 => Abi::Aarch64,
            Arch::ScmpArchArm => Abi::Arm,
            Arch::ScmpArchPpc64le => Abi::Ppc64le,
            Arch::ScmpArchPpc64 => Abi::Ppc64,
            Arch::ScmpArchPpc => Abi::Ppc,
            Arch::ScmpArchS390x => Abi::S390x,
            Arch::ScmpArchS390 => Abi::S390,
            Arch::ScmpArchRiscv64 => Abi::Riscv64,
            _ => return None,
        })
    }

    /// The ABI of this build (`target_arch`), which every filter includes
    /// as libseccomp's do; `None` on an architecture corral has no table
    /// for.
    pub(super) const fn native() -> Option<Abi> {
        if cfg!(target_arch = "x86_64") {
            if cfg!(target_pointer_width = "32") {
                Some(Abi::X32)
            } else {
                Some(Abi::X86_64)
            }
        } else if cfg!(target_arch = "x86") {
            Some(Abi::X86)
        } else if cfg!(target_arch = "aarch64") {
            Some(Abi::Aarch64)
        } else if cfg!(target_arch = "arm") {
            Some(Abi::Arm)
        } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
            Some(Abi::Ppc64le)
        } else if cfg!(target_arch = "powerpc64") {
            Some(Abi::Ppc64)
        } else if cfg!(target_arch = "powerpc") {
            Some(Abi::Ppc)
        } else if cfg!(target_arch = "s390x") {
            Some(Abi::S390x)
        } else if cfg!(target_arch = "riscv64") {
            Some(Abi::Riscv64)
        } else {
            None
        }
    }

    /// The `SCMP_ARCH_*` name.
    pub(super) fn oci_name(self) -> &'static str {
        match self {
            Abi::X86_64 => "SCMP_ARCH_X86_64",
            Abi::X86 => "SCMP_ARCH_X86",
            Abi::X32 => "SCMP_ARCH_X32",
            Abi::Aarch64 => "SCMP_ARCH_AARCH64",
            Abi::Arm => "SCMP_ARCH_ARM",
            Abi::Ppc64le => "SCMP_ARCH_PPC64LE",
            Abi::Ppc64 => "SCMP_ARCH_PPC64",
            Abi::Ppc => "SCMP_ARCH_PPC",
            Abi::S390x => "SCMP_ARCH_S390X",
            Abi::S390 => "SCMP_ARCH_S390",
            Abi::Riscv64 => "SCMP_ARCH_RISCV64",
        }
    }

    /// `seccomp_data.arch` for this ABI (x32 shares x86_64's).
    pub(super) fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => audit::X86_64,
            Abi::X86 => audit::I386,
            Abi::Aarch64 => audit::AARCH64,
            Abi::Arm => audit::ARM,
            Abi::Ppc64le => audit::PPC64LE,
            Abi::Ppc64 => audit::PPC64,
            Abi::Ppc => audit::PPC,
            Abi::S390x => audit::S390X,
            Abi::S390 => audit::S390,
            Abi::Riscv64 => audit::RISCV64,
        }
    }

    pub(super) fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Abi::X86_64 => tables::X86_64,
            Abi::X86 => tables::X86,
            Abi::X32 => tables::X32,
            Abi::Aarch64 => tables::AARCH64,
            Abi::Arm => tables::ARM,
            Abi::Ppc64le | Abi::Ppc64 => tables::PPC64,
            Abi::Ppc => tables::PPC,
            Abi::S390x => tables::S390X,
            Abi::S390 => tables::S390,
            Abi::Riscv64 => tables::RISCV64,
        }
    }

    /// The syscall's number in this ABI.
    pub(super) fn number(self, name: &str) -> Option<u32> {
        let t = self.table();
        t.binary_search_by(|(n, _)| n.cmp(&name))
            .ok()
            .map(|i| t[i].1)
    }

    /// Whether arguments are 32 bits wide. As libseccomp does for these
    /// ABIs, a compare looks at the low word of the argument alone, with
    /// the low word of the profile's value (and mask): the kernel passes
    /// 32-bit registers, and x32's pointers and longs are 32 bits too.
    pub(super) fn args_32bit(self) -> bool {
        matches!(self, Abi::X86 | Abi::X32 | Abi::Arm | Abi::Ppc | Abi::S390)
    }

    /// Whether `seccomp_data.args` are big-endian (the low word of an
    /// argument is at offset 4 of its 8 bytes, not 0).
    pub(super) fn big_endian(self) -> bool {
        self.audit_arch() & audit::LE == 0
    }

    /// The ABIs where sockets and SysV IPC are also reached through the
    /// `socketcall(2)` and `ipc(2)` multiplexers: a rule for `connect` must
    /// cover `socketcall(SYS_CONNECT, …)` too, or the multiplexer bypasses
    /// it. libseccomp adds those rules on these ABIs; so does corral.
    pub(super) fn multiplexed(self) -> bool {
        matches!(
            self,
            Abi::X86 | Abi::Ppc64le | Abi::Ppc64 | Abi::Ppc | Abi::S390x | Abi::S390
        )
    }

    /// The multiplexer syscall's number and its call number (`args[0]`)
    /// that reach `name` on this ABI, if any.
    pub(super) fn multiplexer(self, name: &str) -> Option<(u32, u64)> {
        if !self.multiplexed() {
            return None;
        }
        if let Some(i) = SOCKETCALLS.iter().position(|n| *n == name) {
            return Some((self.number("socketcall")?, i as u64 + 1));
        }
        let (_, call) = IPC_CALLS.iter().find(|(n, _)| *n == name)?;
        Some((self.number("ipc")?, *call))
    }

    /// Where the ENOSYS stub for unknown (newer) syscalls ends: numbers
    /// from here on are a private range of the ABI (ARM's), not future
    /// syscalls, and get the default action.
    pub(super) fn stub_end(self) -> Option<u32> {
        (self == Abi::Arm).then_some(ARM_PRIVATE_BASE)
    }
}
