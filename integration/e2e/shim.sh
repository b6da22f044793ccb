#!/usr/bin/env bash
# End-to-end: Debian's containerd running containers through a shim v2 —
# corral's own (io.containerd.corral.v2, no runc anywhere) or, to prove the
# script, the stock runc shim (io.containerd.runc.v2).
#
#   bash integration/e2e/shim.sh RUNTIME_TYPE NAME
#
# For io.containerd.corral.v2, target/debug (containerd-shim-corral-v2) is
# put first in containerd's PATH.
set -euo pipefail
runtime=${1:?usage: shim.sh RUNTIME_TYPE NAME}
name=${2:?usage: shim.sh RUNTIME_TYPE NAME}
here=$(cd "$(dirname "$0")/../.." && pwd)
fixture=$here/target/fixture/rootfs
[ -d "$fixture" ] || bash "$here/fixtures/build-bundle.sh" "$here/target/fixture" >/dev/null
shim_path=
[ "$runtime" = io.containerd.corral.v2 ] && shim_path=$here/target/debug
. "$here/integration/e2e/lib-containerd.sh"
C="command ctr -a $sock -n corral-e2e"

check "run --rootfs: output" "from-rootfs" -- ctr run --rm --runtime "$runtime" --rootfs "$fixture" s1 /bin/echo from-rootfs
check "run image: output" "from-image" -- ctr run --rm --runtime "$runtime" "$img" s2 echo from-image
check "exit status" "rc=5" -- sh -c "$C run --rm --runtime $runtime $img s3 sh -c 'exit 5'; echo rc=\$?"
check "env" "E2E=yes" -- ctr run --rm --runtime "$runtime" --env E2E=yes "$img" s4 sh -c 'echo E2E=$E2E'
check "tty" "/dev/pts/0" -- script -qec "$C run --rm -t --runtime $runtime $img s5 tty" /dev/null
sockets_before=$(ls /run/containerd/s 2>/dev/null | wc -l)
$C run -d --runtime "$runtime" "$img" bg sleep 1000 >/dev/null
check "task ls running" "RUNNING" -- ctr task ls
check "task ps" "PID" -- ctr task ps bg
check "task pause" "PAUSED" -- sh -c "$C task pause bg && $C task ls"
check "task resume" "RUNNING" -- sh -c "$C task resume bg && $C task ls"
check "task kill" "STOPPED" -- sh -c "$C task kill -s SIGKILL bg; sleep 1; $C task ls"
check "task delete" "deleted" -- sh -c "$C task delete bg >/dev/null && $C container delete bg && echo deleted"
# 20 containers started and deleted: no shim, socket or mount left.
for i in $(seq 20); do
  $C run --rm --runtime "$runtime" "$img" loop$i true || fail "loop $i"
done
sleep 1
shims=$(pgrep -fc "containerd-shim.*-namespace corral-e2e" || true)
check "20 runs leave no shim" "shims=0" -- echo "shims=$shims"
mounts=$(grep -c "$state" /proc/self/mountinfo || true)
check "20 runs leave no mount" "mounts=0" -- echo "mounts=$mounts"
sockets=$(ls /run/containerd/s 2>/dev/null | wc -l)
check "20 runs leave no shim socket" "sockets=$sockets_before" -- echo "sockets=$sockets"
cgroups=$(find /sys/fs/cgroup -type d -path '*corral-e2e/loop*' | wc -l)
check "20 runs leave no cgroup" "cgroups=0" -- echo "cgroups=$cgroups"
echo "shim e2e with $name: $pass checks passed"
