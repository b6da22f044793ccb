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
check "log to file://" "to-file" -- sh -c "$C run --rm --runtime $runtime --log-uri file://$work/out.log $img s6 echo to-file; cat $work/out.log"
printf '#!/bin/sh\n# containerd binary:// logger: stdout on fd 3, stderr on fd 4, ready when fd 5 closes.\nexec 5>&-\ncat <&3 >"$2" &\ncat <&4 >"$2.err" &\nwait\n' >"$work/logger.sh"
chmod +x "$work/logger.sh"
check "log to binary://" "to-binary" -- sh -c "$C run --rm --runtime $runtime --log-uri 'binary://$work/logger.sh?file=$work/bin.log' $img s7 echo to-binary; sleep 0.5; cat $work/bin.log"
$C run -d --runtime "$runtime" "$img" bg sleep 1000 >/dev/null
check "task ls running" "RUNNING" -- ctr task ls
check "task ps" "PID" -- ctr task ps bg
check "task exec" "exec-ok" -- ctr task exec --exec-id e1 bg sh -c 'echo exec-ok'
check "task exec exit status" "rc=6" -- sh -c "$C task exec --exec-id e2 bg sh -c 'exit 6'; echo rc=\$?"
check "task exec -t" "/dev/pts/" -- script -qec "$C task exec -t --exec-id e3 bg tty" /dev/null
check "task metrics" "memory.usage_in_bytes" -- ctr task metrics bg
# containerd restarted while the task runs: the shim keeps it.
kill "$(cat "$work/containerd.pid")"; sleep 1
PATH=${shim_path:+$shim_path:}$PATH containerd --address "$sock" --root "$root" --state "$state" >>"$work/containerd.log" 2>&1 &
echo $! >"$work/containerd.pid"
for _ in $(seq 100); do [ -S "$sock" ] && $C version >/dev/null 2>&1 && break; sleep 0.1; done
check "task survives a containerd restart" "RUNNING" -- ctr task ls
check "task pause" "PAUSED" -- sh -c "$C task pause bg && $C task ls"
check "task resume" "RUNNING" -- sh -c "$C task resume bg && $C task ls"
check "task kill" "STOPPED" -- sh -c "$C task kill -s SIGKILL bg; sleep 1; $C task ls"
check "task delete" "deleted" -- sh -c "$C task delete bg >/dev/null && $C container delete bg && echo deleted"
# A shim killed under a running task: containerd cleans up through the
# shim's `delete`, and nothing of the container is left.
$C run -d --runtime "$runtime" "$img" orphan sleep 1000 >/dev/null
opid=$($C task ls | awk '$1 == "orphan" {print $2}')
pkill -9 -f "containerd-shim-.* -id orphan( |$)" || fail "no shim for orphan"
sleep 1
$C task delete orphan >/dev/null 2>&1 || true
$C container delete orphan >/dev/null 2>&1 || true
# containerd's cleanup of a dead shim runs in the background: give it time.
for _ in $(seq 100); do kill -0 "$opid" 2>/dev/null || break; sleep 0.2; done
check "a killed shim's container is cleaned up" "gone" -- sh -c "kill -0 $opid 2>/dev/null && echo alive || echo gone"
# An OOM kill reaches containerd as an event.
$C events >"$work/events" 2>&1 &
events_pid=$!
sleep 0.5
# The OOM comes a second after start: a shim watches for it only once the
# task has started (runc's shim lost an OOM 1 ms after start under load).
$C run --rm --runtime "$runtime" --memory-limit 16777216 "$img" oom sh -c "sleep 1; tail /dev/zero" >"$work/oom.log" 2>&1 || true
for _ in $(seq 50); do grep -q /tasks/oom "$work/events" && break; sleep 0.2; done
kill $events_pid
check "OOM event" "/tasks/oom" -- cat "$work/events" "$work/oom.log"
# 20 containers started and deleted: no shim, socket or mount left.
sockets_before=$(ls /run/containerd/s 2>/dev/null | wc -l)
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
