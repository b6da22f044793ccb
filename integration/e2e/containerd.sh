#!/usr/bin/env bash
# End-to-end: Debian's containerd and its runc shim (containerd-shim-runc-v2)
# driving a given runc-compatible binary through `ctr`.
#
#   bash integration/e2e/containerd.sh RUNTIME_PATH [NAME]
#
# Starts a private containerd, runs containers from a directory (--rootfs)
# and from an image imported from a docker-archive tarball built here from
# the fixture rootfs, then stops it and removes what it made.
set -euo pipefail
runtime_path=${1:?usage: containerd.sh RUNTIME_PATH [NAME]}
name=${2:-$(basename "$runtime_path")}
here=$(cd "$(dirname "$0")/../.." && pwd)
fixture=$here/target/fixture/rootfs
[ -d "$fixture" ] || bash "$here/fixtures/build-bundle.sh" "$here/target/fixture" >/dev/null

. "$here/integration/e2e/lib-containerd.sh"

check "run --rootfs" "from-rootfs" -- ctr run --rm --runc-binary "$runtime_path" --rootfs "$fixture" r1 /bin/echo from-rootfs
check "run image" "from-image" -- ctr run --rm --runc-binary "$runtime_path" "$img" r2 echo from-image
check "exit status" "rc=5" -- sh -c "ctr -a $sock -n corral-e2e run --rm --runc-binary $runtime_path $img r3 sh -c 'exit 5'; echo rc=\$?"
ctr run -d --runc-binary "$runtime_path" "$img" bg sleep 1000 >/dev/null
check "task ls running" "RUNNING" -- ctr task ls
check "task exec" "exec-ok" -- ctr task exec --exec-id e1 bg sh -c 'echo exec-ok'
check "task exec exit status" "rc=6" -- sh -c "ctr -a $sock -n corral-e2e task exec --exec-id e2 bg sh -c 'exit 6'; echo rc=\$?"
check "task ps" "PID" -- ctr task ps bg
check "task pause" "PAUSED" -- sh -c "ctr -a $sock -n corral-e2e task pause bg && ctr -a $sock -n corral-e2e task ls"
check "task resume" "RUNNING" -- sh -c "ctr -a $sock -n corral-e2e task resume bg && ctr -a $sock -n corral-e2e task ls"
check "task metrics" "memory.usage_in_bytes" -- ctr task metrics bg
check "task kill" "STOPPED" -- sh -c "ctr -a $sock -n corral-e2e task kill -s SIGKILL bg; sleep 1; ctr -a $sock -n corral-e2e task ls"
check "task delete" "deleted" -- sh -c "ctr -a $sock -n corral-e2e task delete bg >/dev/null && ctr -a $sock -n corral-e2e container delete bg && echo deleted"
echo "containerd e2e with $name: $pass checks passed"
