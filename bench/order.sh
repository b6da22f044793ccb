#!/usr/bin/env bash
# Writes runtime-bin/hot-functions.txt: the functions the static release
# corral runs for its common commands, in the order it first runs them,
# which runtime-bin/build.rs hands to the linker (--symbol-ordering-file).
# Run it again after a change to the create path, then rebuild: a stale
# list still links, it just gathers fewer hot functions (bench/run.sh's
# peak-RSS row shows it).
#
#   bash bench/order.sh [--out FILE]     (root; needs busybox-static, nm)
#
# Each command runs under bench's hot-functions tracer (one-shot
# breakpoints on every function entry, followed into every process corral
# forks until it execs the container's program).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/runtime-bin/hot-functions.txt
if [ "${1:-}" = "--out" ]; then out=$(realpath -m "$2"); fi
corral=$(bash scripts/build-release.sh)
cargo build --release -q -p corral-bench --bin hot-functions
tracer=$PWD/target/release/hot-functions
w=$(mktemp -d /tmp/corral-order.XXXXXX)
root=$w/root
cleanup() {
  "$corral" --root "$root" delete --force sleeper >/dev/null 2>&1 || true
  umount "$w/ro/corral" 2>/dev/null || true
  rm -rf "$w"
}
trap cleanup EXIT
nm --defined-only -S "$corral" >"$w/symbols"
# corral re-executes itself from a sealed image unless it already runs
# from a read-only mount (libcontainer::process::seal); the tracer does not
# follow an exec, so it traces the binary through a read-only bind, which
# runs every command in one image as a sealed re-exec does.
mkdir "$w/ro" && touch "$w/ro/corral"
mount --bind -o ro "$corral" "$w/ro/corral"
mount -o remount,bind,ro "$w/ro/corral"
traced=$w/ro/corral
ARGS='["/bin/true"]' bash fixtures/build-bundle.sh "$w/plain" >/dev/null
ARGS='["/bin/true"]' bash fixtures/build-bundle.sh "$w/seccomp" >/dev/null
ARGS='["/bin/sleep", "1000000"]' bash fixtures/build-bundle.sh "$w/sleeper" >/dev/null
python3 - "$w/seccomp/config.json" fixtures/docker-default-seccomp.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["seccomp"] = json.load(open(sys.argv[2]))
json.dump(c, open(sys.argv[1], "w"))
PY
list=$w/list
trace() { "$tracer" "$w/symbols" "$list" -- "$traced" --root "$root" "$@" </dev/null >/dev/null; }
# The measured paths first: their functions lead the list.
trace run --bundle "$w/plain" plain
trace run --bundle "$w/seccomp" seccomp
trace create --bundle "$w/sleeper" sleeper
trace start sleeper
trace exec sleeper /bin/true
trace state sleeper
trace list
trace ps sleeper
trace events --stats sleeper
trace update --memory 64M sleeper
trace pause sleeper
trace resume sleeper
trace kill sleeper KILL
for _ in $(seq 50); do
  "$corral" --root "$root" state sleeper 2>/dev/null | grep -q '"stopped"' && break
  sleep 0.1
done
trace delete sleeper
trace --version
n=$(wc -l <"$list")
[ "$n" -gt 100 ] || { echo "order.sh: only $n functions traced" >&2; exit 1; }
mv "$list" "$out"
echo "order.sh: $n functions in $out"
