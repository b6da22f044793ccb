#!/usr/bin/env bash
# End-to-end: podman (through conmon) driving a given runtime.
#
#   bash integration/e2e/podman.sh RUNTIME_PATH [NAME]
#
# Settings: without systemd, podman needs cgroup_manager = "cgroupfs" and
# events_logger = "file"; without CAP_SYS_RESOURCE its default rlimits
# (nofile/nproc raised above the hard limits) fail with runc and crun as
# well, so default_ulimits is emptied. Under these settings runc passes, and
# corral runs under the same, with podman's default seccomp profile.
set -euo pipefail
runtime_path=${1:?usage: podman.sh RUNTIME_PATH [NAME]}
name=${2:-$(basename "$runtime_path")}
here=$(cd "$(dirname "$0")/../.." && pwd)
fixture=$here/target/fixture/rootfs
[ -d "$fixture" ] || bash "$here/fixtures/build-bundle.sh" "$here/target/fixture" >/dev/null

work=$(mktemp -d /tmp/corral-e2e-podman.XXXXXX)
root=/var/lib/corral-e2e-podman-$name
runroot=/run/corral-e2e-podman-$name
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF=$work/containers.conf
pm() { podman --root "$root" --runroot "$runroot" --storage-driver vfs "$@"; }
pass=0
cleanup() {
  set +e
  pm rm -af -t 0 >/dev/null 2>&1
  pm system reset -f >/dev/null 2>&1
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($root|$runroot)" | sort -r); do umount -l "$m"; done
  rm -rf "$root" "$runroot" "$work"
  # podman's cgroupfs parent (libpod_parent/conmon), left behind by the
  # runtimes; rmdir removes only cgroups that are empty.
  for d in $(find /sys/fs/cgroup -maxdepth 4 -type d -path '*libpod_parent*' | sort -r); do rmdir "$d" 2>/dev/null; done
}
trap cleanup EXIT
fail() { echo "FAIL ($name): $*" >&2; exit 1; }
check() {
  local what=$1 want=$2; shift 3
  local got
  got=$("$@" 2>&1) || fail "$what: exit $?: $got"
  case "$got" in *"$want"*) pass=$((pass + 1)); echo "ok   $what";; *) fail "$what: want '$want', got: $got";; esac
}

# check_rc DESCRIPTION EXPECTED-EXIT-CODE -- COMMAND...
check_rc() {
  local what=$1 want=$2; shift 3
  local rc=0
  "$@" >/dev/null 2>&1 || rc=$?
  [ "$rc" = "$want" ] || fail "$what: exit $rc, want $want"
  pass=$((pass + 1)); echo "ok   $what"
}

tar -C "$fixture" -c . | pm import - corral-e2e:latest >/dev/null 2>&1
img=localhost/corral-e2e:latest
opts=(--runtime "$runtime_path" )
check "run" "hello" -- pm run --rm "${opts[@]}" "$img" echo hello
check_rc "run exit status" 3 -- pm run --rm "${opts[@]}" "$img" sh -c 'exit 3'
check "run -e -w -u --hostname" "bar /tmp 1000 pbox" -- \
  pm run --rm "${opts[@]}" -e FOO=bar -w /tmp -u 1000 --hostname pbox "$img" sh -c 'echo $FOO $(pwd) $(id -u) $(hostname)'
check "run -d" "" -- pm run -d --name bg "${opts[@]}" "$img" sleep 1000
check "exec" "exec-ok" -- pm exec bg sh -c 'echo exec-ok'
check_rc "exec exit status" 4 -- pm exec bg sh -c 'exit 4'
check "top" "sleep" -- pm top bg
check "stop" "bg" -- pm stop -t 1 bg
check "state after stop" "exited" -- pm inspect --format '{{ .State.Status }}' bg
check "rm" "bg" -- pm rm bg
echo "podman e2e with $name: $pass checks passed"
