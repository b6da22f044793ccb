#!/usr/bin/env bash
# Builds the release `corral` as it is shipped and measured: statically
# linked with glibc (no dynamic loader at start, no shared libraries mapped)
# and with its hot functions first in .text (runtime-bin/hot-functions.txt,
# see runtime-bin/build.rs). Prints the binary's path.
#
#   bash scripts/build-release.sh        # -> target/x86_64-unknown-linux-gnu/release/corral
#
# It is a non-PIE executable (`-C relocation-model=static`), as Debian's
# runc is: a static PIE applies its 11 000 relative relocations at every
# start, and corral starts twice for each create, run and exec (the sealed
# re-exec, libcontainer/src/process/seal.rs). Its code and data are at a
# fixed address; the stack, heap, mmap areas and vDSO stay randomised.
# The shim, which lives long and serves a socket, stays PIE.
#
# The static CRT needs an explicit --target, so that build scripts and proc
# macros stay dynamic; plain `cargo build --release` still builds a working,
# dynamically linked corral in target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release -q --target "$target" -p corral
echo "$PWD/target/$target/release/corral"
