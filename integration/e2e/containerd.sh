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

work=$(mktemp -d /tmp/corral-e2e-ctr.XXXXXX)
sock=/run/corral-e2e-ctr-$name.sock
root=/var/lib/corral-e2e-ctr-$name
state=/run/corral-e2e-ctr-$name
ctr() { command ctr -a "$sock" -n corral-e2e "$@"; }
pass=0

cleanup() {
  set +e
  for t in $(ctr task ls -q 2>/dev/null); do ctr task kill -s SIGKILL "$t"; sleep 0.3; ctr task delete -f "$t"; done >/dev/null 2>&1
  for c in $(ctr container ls -q 2>/dev/null); do ctr container delete "$c"; done >/dev/null 2>&1
  [ -f "$work/containerd.pid" ] && kill "$(cat "$work/containerd.pid")"
  sleep 1
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($root|$state)" | sort -r); do umount -l "$m"; done
  rm -rf "$root" "$state" "$sock" "$work"
  # ctr puts containers under /<namespace>/<id>; the parent stays behind.
  find /sys/fs/cgroup -depth -type d -name corral-e2e -exec rmdir {} \; 2>/dev/null
}
trap cleanup EXIT
fail() { echo "FAIL ($name): $*" >&2; tail -n 20 "$work/containerd.log" >&2; exit 1; }
check() {
  local what=$1 want=$2; shift 3
  local got
  got=$("$@" 2>&1) || fail "$what: exit $?: $got"
  case "$got" in *"$want"*) pass=$((pass + 1)); echo "ok   $what";; *) fail "$what: want '$want', got: $got";; esac
}

containerd --address "$sock" --root "$root" --state "$state" >"$work/containerd.log" 2>&1 &
echo $! >"$work/containerd.pid"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done

# A docker-archive image of the fixture rootfs.
mkdir -p "$work/img/layer"
tar -C "$fixture" -cf "$work/img/layer/layer.tar" .
diff=$(sha256sum "$work/img/layer/layer.tar" | cut -d' ' -f1)
mv "$work/img/layer" "$work/img/$diff"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff" >"$work/img/config.json"
cfg=$(sha256sum "$work/img/config.json" | cut -d' ' -f1)
mv "$work/img/config.json" "$work/img/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["corral-e2e:latest"],"Layers":["%s/layer.tar"]}]' "$cfg" "$diff" >"$work/img/manifest.json"
tar -C "$work/img" -cf "$work/image.tar" .
check "images import" "corral-e2e" -- ctr images import "$work/image.tar"
img=docker.io/library/corral-e2e:latest

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
