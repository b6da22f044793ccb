#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60; the documented
# long run is `bash scripts/fuzz.sh 300`). Fails on the first crash, leaving
# the reproducer under fuzz/artifacts/<target>/.
#
# Only the stable toolchain is installed here; cargo fuzz passes nightly
# flags (-Zsanitizer=address), which RUSTC_BOOTSTRAP=1 lets stable rustc
# accept. Corpora grow under fuzz/corpus/ (not committed); fuzz/seeds/ holds
# the committed starting inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/bundle/rootfs"
export CORRAL_FUZZ_BUNDLE=$scratch/bundle
cd fuzz
cargo fuzz build
for t in config seccomp channel; do
    mkdir -p "corpus/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    echo "fuzz: $t for ${secs}s"
    if ! cargo fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
        tail -40 "$scratch/$t.log"
        echo "fuzz: $t failed; the reproducer is under fuzz/artifacts/$t/"
        exit 1
    fi
    grep -E '^(Done|stat::peak_rss_mb)' "$scratch/$t.log"
done
