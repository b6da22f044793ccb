#!/usr/bin/env bash
# containerd-shim-corral-v2 beside containerd-shim-runc-v2 on one private
# containerd: resident memory of one idle shim each (same container, a
# sleep), and `ctr run --rm … /bin/true` timed with hyperfine.
#
#   bash bench/shim.sh [RUNS]        (root; builds the release shim)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build -q --release -p shim
[ -d target/fixture/rootfs ] || bash fixtures/build-bundle.sh target/fixture >/dev/null
w=$(mktemp -d /tmp/corral-bench-shim.XXXXXX)
mkdir -p "$w/bin"
cp target/release/containerd-shim-corral-v2 "$w/bin/"
sock=$w/c.sock
C="ctr -a $sock -n corral-bench"
cleanup() {
  set +e
  for t in $($C task ls -q 2>/dev/null); do $C task kill -s SIGKILL "$t"; done
  sleep 1
  for t in $($C task ls -q 2>/dev/null); do $C task delete "$t"; done
  for c in $($C container ls -q 2>/dev/null); do $C container rm "$c"; done
  kill "$(cat "$w/pid")"; sleep 1
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep "^$w" | sort -r); do umount -l "$m"; done
  find /sys/fs/cgroup -depth -type d -name corral-bench -exec rmdir {} \; 2>/dev/null
  rm -rf "$w"
} >/dev/null 2>&1
trap cleanup EXIT
PATH=$w/bin:$PATH containerd --address "$sock" --root "$w/root" --state "$w/state" >"$w/log" 2>&1 &
echo $! >"$w/pid"
for _ in $(seq 100); do $C version >/dev/null 2>&1 && break; sleep 0.1; done
rootfs=$PWD/target/fixture/rootfs
for rt in runc corral; do
  $C run -d --runtime "io.containerd.$rt.v2" --rootfs "$rootfs" "idle-$rt" /bin/sleep 1000 >/dev/null
done
sleep 2
echo "idle shim resident memory:"
for rt in runc corral; do
  p=$(pgrep -f "containerd-shim-$rt-v2 .*-id idle-$rt")
  echo "  containerd-shim-$rt-v2: $(awk '/VmRSS/{print $2}' "/proc/$p/status") kB, $(ls "/proc/$p/task" | wc -l) threads"
done
hyperfine -N -w 3 -r "$runs" \
  -n runc-shim "$C run --rm --runtime io.containerd.runc.v2 --rootfs $rootfs t1 /bin/true" \
  -n corral-shim "$C run --rm --runtime io.containerd.corral.v2 --rootfs $rootfs t2 /bin/true"
