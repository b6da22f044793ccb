#!/usr/bin/env python3
"""Generates libcontainer/src/seccomp/tables/*.rs, the syscall tables of the
seccomp compiler, from the kernel's uapi headers.

The headers are Debian's: linux-libc-dev (x86 family, the host's) and the
cross packages linux-libc-dev-{arm64,armhf,ppc64el,s390x,riscv64}-cross.
Each header is run through the C preprocessor (`cc -E -dM`, no system
headers) and every `__NR_*` (and ARM's `__ARM_NR_*`) macro evaluated, so
the numbers are the headers' own, expressions and aliases included.

The headers are Linux 6.1's; the syscalls added since, up to Linux 6.17,
are listed in NEWER below (from the kernel's syscall tables) and added to
each table that lacks them.

    apt-get install linux-libc-dev linux-libc-dev-arm64-cross \\
      linux-libc-dev-armhf-cross linux-libc-dev-ppc64el-cross \\
      linux-libc-dev-s390x-cross linux-libc-dev-riscv64-cross
    python3 scripts/gen-seccomp-tables.py          # writes the tables
    python3 scripts/gen-seccomp-tables.py --check  # fails if they differ
"""

import os
import re
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "libcontainer", "src", "seccomp", "tables")

X32_BIT = 0x4000_0000

# Syscalls newer than the 6.1 headers, up to Linux 6.17: (number, name,
# the tables that have it). The 4xx numbers are shared by every
# architecture; "all" is every table but the ones named after a minus.
GENERIC_NEWER = [
    (451, "cachestat"),
    (452, "fchmodat2"),
    (453, "map_shadow_stack"),
    (454, "futex_wake"),
    (455, "futex_wait"),
    (456, "futex_requeue"),
    (457, "statmount"),
    (458, "listmount"),
    (459, "lsm_get_self_attr"),
    (460, "lsm_set_self_attr"),
    (461, "lsm_list_modules"),
    (462, "mseal"),
    (463, "setxattrat"),
    (464, "getxattrat"),
    (465, "listxattrat"),
    (466, "removexattrat"),
    (467, "open_tree_attr"),
    (468, "file_getattr"),
    (469, "file_setattr"),
]
# map_shadow_stack is "64" in x86's syscall_64.tbl (x86_64's, not x32's);
# every other ABI, i386 included, reserved it (Linux 6.6, "arch: Reserve
# map_shadow_stack() syscall number for all architectures").
NOT_IN = {"map_shadow_stack": {"X32"}}
# Architecture-specific syscalls newer than the headers.
SPECIFIC_NEWER = {
    "X86_64": [(335, "uretprobe")],  # Linux 6.11
    "RISCV64": [(258, "riscv_hwprobe")],  # Linux 6.4
    # s390 wired up memfd_secret after 6.1 (libseccomp 2.5.4 knows it).
    "S390X": [(447, "memfd_secret")],
    "S390": [(447, "memfd_secret")],
}

# table -> (header root, header, extra preprocessor flags, number base of
# the newer generic syscalls)
HOST = "/usr/include/x86_64-linux-gnu"
TABLES = {
    "X86_64": (HOST, "asm/unistd_64.h", [], 0),
    "X86": (HOST, "asm/unistd_32.h", [], 0),
    "X32": (HOST, "asm/unistd_x32.h", ["-D__X32_SYSCALL_BIT=0x40000000"], X32_BIT),
    "AARCH64": ("/usr/aarch64-linux-gnu/include", "asm/unistd.h", ["-D__LP64__"], 0),
    "ARM": ("/usr/arm-linux-gnueabihf/include", "asm/unistd.h", ["-D__ARM_EABI__"], 0),
    "PPC64": ("/usr/powerpc64le-linux-gnu/include", "asm/unistd_64.h", [], 0),
    "PPC": ("/usr/powerpc64le-linux-gnu/include", "asm/unistd_32.h", [], 0),
    "S390X": ("/usr/s390x-linux-gnu/include", "asm/unistd_64.h", [], 0),
    "S390": ("/usr/s390x-linux-gnu/include", "asm/unistd_32.h", [], 0),
    "RISCV64": ("/usr/riscv64-linux-gnu/include", "asm/unistd.h", ["-D__LP64__", "-D__SIZEOF_POINTER__=8"], 0),
}

# One file per family: (file, what it covers, [(table, doc)]).
FILES = [
    (
        "x86.rs",
        "x86_64, x86 (i386) and x32, from asm/unistd_64.h, unistd_32.h and "
        "unistd_x32.h (x32's numbers carry the x32 bit, 0x40000000)",
        [("X86_64", "`X86_64` syscalls."), ("X86", "`X86` syscalls."), ("X32", "`X32` syscalls.")],
    ),
    (
        "arm.rs",
        "aarch64 (asm/unistd.h, asm-generic's table) and 32-bit arm EABI "
        "(asm/unistd.h with unistd-eabi.h, and the ARM-private syscalls "
        "`__ARM_NR_*` at 0x0f0000 and up)",
        [("AARCH64", "`AARCH64` syscalls."), ("ARM", "`ARM` (EABI) syscalls.")],
    ),
    (
        "powerpc.rs",
        "64-bit powerpc, both byte orders (asm/unistd_64.h), and 32-bit "
        "powerpc (asm/unistd_32.h)",
        [("PPC64", "`PPC64` and `PPC64LE` syscalls."), ("PPC", "`PPC` syscalls.")],
    ),
    (
        "s390.rs",
        "s390x (asm/unistd_64.h) and 31-bit s390 (asm/unistd_32.h)",
        [("S390X", "`S390X` syscalls."), ("S390", "`S390` syscalls.")],
    ),
    (
        "riscv.rs",
        "riscv64 (asm/unistd.h, asm-generic's table with riscv's own)",
        [("RISCV64", "`RISCV64` syscalls.")],
    ),
]

HEADER_PKG = {
    HOST: "linux-libc-dev",
    "/usr/aarch64-linux-gnu/include": "linux-libc-dev-arm64-cross",
    "/usr/arm-linux-gnueabihf/include": "linux-libc-dev-armhf-cross",
    "/usr/powerpc64le-linux-gnu/include": "linux-libc-dev-ppc64el-cross",
    "/usr/s390x-linux-gnu/include": "linux-libc-dev-s390x-cross",
    "/usr/riscv64-linux-gnu/include": "linux-libc-dev-riscv64-cross",
}

# Macros that are not syscalls.
NOT_SYSCALLS = {"syscalls", "arch_specific_syscall", "SYSCALL_BASE", "OABI_SYSCALL_BASE", "SYSCALL_MASK"}


def macros(root, header, flags):
    """Every macro the header defines, as name -> replacement text."""
    path = os.path.join(root, header)
    if not os.path.exists(path):
        pkg = HEADER_PKG.get(root, "the uapi headers")
        sys.exit(f"{path} is missing: apt-get install {pkg}")
    cmd = ["cc", "-E", "-dM", "-nostdinc", "-undef", "-isystem", root] + flags
    cmd += ["-include", header, "-x", "c", "/dev/null"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    defs = {}
    for line in out.splitlines():
        m = re.match(r"#define (\w+) (.*)$", line)
        if m:
            defs[m.group(1)] = m.group(2)
    return defs


def evaluate(defs, text, depth=0):
    """The integer value of a macro's replacement text."""
    if depth > 20:
        raise ValueError(f"macro loop at {text}")

    def sub(m):
        name = m.group(0)
        if name in defs:
            return f"({evaluate(defs, defs[name], depth + 1)})"
        raise ValueError(f"undefined {name} in {text}")

    expr = re.sub(r"\b[A-Za-z_]\w*\b", sub, text)
    if not re.fullmatch(r"[0-9a-fA-FxX+\-*() \t]*", expr):
        raise ValueError(f"unexpected expression {expr}")
    return int(eval(expr, {"__builtins__": {}}))  # noqa: S307 (digits and + - * only)


def table(name):
    root, header, flags, base = TABLES[name]
    defs = macros(root, header, flags)
    entries = {}
    for macro, text in defs.items():
        m = re.fullmatch(r"__(?:ARM_)?NR_(\w+)", macro)
        if not m or m.group(1) in NOT_SYSCALLS or m.group(1) == "BASE":
            continue
        entries[m.group(1)] = evaluate(defs, text)
    for nr, sc in GENERIC_NEWER:
        if name in NOT_IN.get(sc, set()):
            continue
        entries.setdefault(sc, base + nr)
    for nr, sc in SPECIFIC_NEWER.get(name, []):
        entries.setdefault(sc, nr)
    return root, header, entries


def render(file, doc, tables):
    sources = []
    body = []
    for name, item_doc in tables:
        root, header, entries = table(name)
        sources.append(HEADER_PKG[root])
        body.append(f"\n/// {item_doc}\npub const {name}: &[(&str, u32)] = &[\n")
        for sc in sorted(entries):
            body.append(f'    ("{sc}", {entries[sc]}),\n')
        body.append("];\n")
    pkgs = ", ".join(dict.fromkeys(sources))
    text = (
        f"Syscall numbers by name for {doc}, of {pkgs} 6.1, plus the "
        "syscalls added up to Linux 6.17. Sorted by name for binary search. "
        "Generated by scripts/gen-seccomp-tables.py: do not edit."
    )
    head = "".join(f"//! {line}\n" for line in textwrap.wrap(text, 72, break_on_hyphens=False))
    return head + "".join(body)


def main():
    check = "--check" in sys.argv[1:]
    os.makedirs(OUT, exist_ok=True)
    stale = []
    for file, doc, tables in FILES:
        text = render(file, doc, tables)
        path = os.path.join(OUT, file)
        old = open(path).read() if os.path.exists(path) else None
        if old != text:
            stale.append(path)
            if not check:
                with open(path, "w") as f:
                    f.write(text)
    if check and stale:
        sys.exit("stale: " + ", ".join(stale) + " (run scripts/gen-seccomp-tables.py)")
    for path in stale:
        print("wrote", os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
