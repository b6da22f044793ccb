#!/usr/bin/env bash
# The benchmark harness: corral beside runc and crun (Debian's packages) on
# the same bundles from fixtures/, interleaved, with warm-up; prints the
# table and writes bench/results/latest.md and latest.svg.
#
#   bash bench/run.sh [--iterations N] [--total N] [--out DIR] [--baseline BIN]
#                     [--systemd-cgroup] [--metrics run,exec,...]
#       (root; needs runc, crun, strace, time, busybox-static)
#
# --baseline BIN adds another corral build (the figures before a change,
# e.g. one built by scripts/build-release.sh in a worktree of an older
# commit) as the column corral-before, measured in the same run.
# --systemd-cgroup runs every runtime with its systemd cgroup driver (on a
# host whose init is systemd); --metrics picks metrics by name.
#
# Defaults: 100 timed rounds per time metric, 200 containers per throughput
# figure. CI runs a small size (--iterations 5 --total 20) to prove it works.
set -euo pipefail
cd "$(dirname "$0")/.."
corral=$(bash scripts/build-release.sh)
cargo build --release -q -p corral-bench
exec target/release/corral-bench --corral "$corral" "$@"
