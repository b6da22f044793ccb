#!/usr/bin/env bash
# Builds the release `corral` as it is shipped and measured: statically
# linked with glibc (no dynamic loader at start, no shared libraries mapped)
# and with its hot functions first in .text (runtime-bin/hot-functions.txt,
# see runtime-bin/build.rs). Prints the binary's path.
#
#   bash scripts/build-release.sh        # -> target/x86_64-unknown-linux-gnu/release/corral
#
# The static CRT needs an explicit --target, so that build scripts and proc
# macros stay dynamic; plain `cargo build --release` still builds a working,
# dynamically linked corral in target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -q --target "$target" -p corral
echo "$PWD/target/$target/release/corral"
