#!/usr/bin/env bash
# The checks of the systemd tier (scripts/test-v2-systemd.sh), run on the
# systemd host as the unit corral-test.service. Environment (from the unit):
# RUNTIME (runc|corral), RUNTIME_PATH, SHIM_TYPE (the containerd shim),
# CRI_HANDLERS, CRI_BIN (the integration test binary cri), RESOURCES_BIN
# (the integration test binary resources, for the stack enforce), HERE (the
# workspace), STACKS, FULL=1 for the full-size checks, FORCE_FAIL=1 (a
# check fails) or =hang (the checks hang until the unit's RuntimeMaxSec).
set -euo pipefail
export HOME=/root
out=$(cd "$(dirname "$0")" && pwd)
# However the checks end, their exit status goes to checks-rc: boot.sh
# then gives systemd a bounded time to end the VM.
cleanup() { :; }
finish() {
  local rc=$?
  set +e
  cleanup
  echo "[$(date +%T)] the checks ended: exit $rc"
  echo "$rc" >"$out/checks-rc"
}
trap finish EXIT
# systemd stops the unit with SIGTERM (RuntimeMaxSec): an exit status that says so.
trap 'exit 143' TERM
fixture=$HERE/target/fixture/rootfs
pass=0
section_start=$(date +%s)

say() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL ($RUNTIME, systemd host): $*"; exit 1; }
# check DESCRIPTION EXPECTED-SUBSTRING -- COMMAND...
check() {
  local what=$1 want=$2; shift 3
  local got
  # Every check has an end: T seconds (120 unless set); shell functions
  # (ctr, state) run as they are.
  if declare -F "$1" >/dev/null; then got=$("$@" 2>&1) || fail "$what: exit $?: $got"
  else got=$(timeout "${T:-120}" "$@" 2>&1) || fail "$what: exit $?: $got"; fi
  case "$got" in *"$want"*) pass=$((pass + 1)); echo "ok   $what";; *) fail "$what: want '$want', got: $got";; esac
}
# The ActiveState of a unit ("inactive" for one systemd does not know).
state() { systemctl show -p ActiveState --value "$1"; }
# check_gone DESCRIPTION UNIT: systemd knows nothing of UNIT any more.
check_gone() {
  local s=
  for _ in $(seq 50); do
    s=$(systemctl show -p LoadState,ActiveState "$2" | tr '\n' ' ')
    [ "$s" = "LoadState=not-found ActiveState=inactive " ] && break
    sleep 0.2
  done
  [ "$s" = "LoadState=not-found ActiveState=inactive " ] || fail "$1: $2 still there: $s"
  pass=$((pass + 1)); echo "ok   $1"
}
# check_no_cgroup DESCRIPTION PATH: no cgroup /sys/fs/cgroup/PATH (bounded:
# systemd removes a scope's cgroup once the scope is stopped).
check_no_cgroup() {
  for _ in $(seq 50); do [ -e "/sys/fs/cgroup/$2" ] || break; sleep 0.2; done
  [ ! -e "/sys/fs/cgroup/$2" ] || fail "$1: /sys/fs/cgroup/$2 is left"
  pass=$((pass + 1)); echo "ok   $1"
}
# full: a check of the full size only (FULL=1); the CI size skips it.
full() { [ "${FULL:-0}" = 1 ] || return 0; check "$@"; }
section() {
  local now; now=$(date +%s)
  say "== $* (previous section $((now - section_start)) s)"
  section_start=$now
}

section "the host"
check "PID 1 is systemd" "systemd" -- cat /proc/1/comm
check "cgroup2 at /sys/fs/cgroup" "cgroup2fs" -- stat -fc %T /sys/fs/cgroup
# is-system-running waits for the boot jobs; this unit is the boot unit,
# so it answers once the rest is up ("running", or "degraded" with a list).
st=$(timeout 120 systemctl is-system-running --wait 2>&1 || true)
say "system state: $st"
case "$st" in running|degraded|starting) ;; *) fail "systemctl is-system-running: $st";; esac
[ "$st" = degraded ] && systemctl --no-pager --failed
check "systemctl status" "State:" -- systemctl --no-pager status
check "systemd's private socket" "socket" -- stat -c %F /run/systemd/private
check "the system bus (dbus-daemon)" "org.freedesktop.systemd1" -- busctl --system --no-pager list
check "systemd on the system bus" "252" -- busctl --system get-property org.freedesktop.systemd1 \
  /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager Version
say "controllers: root $(cat /sys/fs/cgroup/cgroup.controllers) / subtree $(cat /sys/fs/cgroup/cgroup.subtree_control) / system.slice $(cat /sys/fs/cgroup/system.slice/cgroup.subtree_control)"
check "this unit's cgroup" "0::/system.slice/corral-test.service" -- cat /proc/self/cgroup
# CORRAL_SYSTEMD_FORCE_FAIL on the host: the tier must end on a failure
# and on a hang as it ends on success.
case "${FORCE_FAIL:-0}" in
  1) check "a check made to fail (CORRAL_SYSTEMD_FORCE_FAIL=1)" "never printed" -- echo "the forced failure" ;;
  hang) say "hanging until RuntimeMaxSec (CORRAL_SYSTEMD_FORCE_FAIL=hang)"; sleep infinity ;;
esac

# STACKS (CORRAL_SYSTEMD_STACKS on the host) picks the stacks; all by default.
want() { case " ${STACKS:-runc ctr docker podman cri} " in *" $1 "*) return 0;; *) return 1;; esac; }
if want runc; then
section "$RUNTIME --systemd-cgroup run"
rt=("$RUNTIME_PATH" --root /run/corral-sd-rt --systemd-cgroup)
"${rt[@]}" run -d --bundle "$out/bundle" test1 </dev/null >"$out/rt.out" 2>&1 || fail "run -d: $(cat "$out/rt.out")"
check "state running" '"status": "running"' -- "${rt[@]}" state test1
check "the scope is active" "active" -- state corral-test1.scope
check "systemctl status shows it" "corral-test1.scope" -- systemctl --no-pager status corral-test1.scope
check "in system.slice" "Slice=system.slice" -- systemctl show -p Slice corral-test1.scope
pid=$("${rt[@]}" state test1 | jq -r .pid)
check "the init is in the scope" "0::/system.slice/corral-test1.scope" -- cat "/proc/$pid/cgroup"
check "MemoryMax" "MemoryMax=67108864" -- systemctl show -p MemoryMax corral-test1.scope
check "TasksMax" "TasksMax=42" -- systemctl show -p TasksMax corral-test1.scope
check "CPUQuotaPerSecUSec" "CPUQuotaPerSecUSec=500ms" -- systemctl show -p CPUQuotaPerSecUSec corral-test1.scope
check "memory.max" "67108864" -- cat /sys/fs/cgroup/system.slice/corral-test1.scope/memory.max
check "pids.max" "42" -- cat /sys/fs/cgroup/system.slice/corral-test1.scope/pids.max
check "cpu.max" "50000 100000" -- cat /sys/fs/cgroup/system.slice/corral-test1.scope/cpu.max
# runc turns shares 512 into CPUWeight 20 (1 + (512-2)*9999/262142).
check "cpu.weight" "20" -- cat /sys/fs/cgroup/system.slice/corral-test1.scope/cpu.weight
check "exec in the scope" "0::/" -- "${rt[@]}" exec test1 cat /proc/self/cgroup
check "update --memory" "100663296" -- sh -c "${rt[*]} update --memory 96M test1 && cat /sys/fs/cgroup/system.slice/corral-test1.scope/memory.max"
check "update reached the unit" "MemoryMax=100663296" -- systemctl show -p MemoryMax corral-test1.scope
check "pause" "paused" -- sh -c "${rt[*]} pause test1 && ${rt[*]} state test1"
check "resume" "running" -- sh -c "${rt[*]} resume test1 && ${rt[*]} state test1"
# For the driver's author: what systemd holds for the container's scope.
systemctl show corral-test1.scope >"$out/runc-scope.properties"
say "systemctl show corral-test1.scope: $out/runc-scope.properties"
"${rt[@]}" kill test1 KILL
for _ in $(seq 50); do "${rt[@]}" state test1 2>/dev/null | grep -q '"stopped"' && break; sleep 0.2; done
"${rt[@]}" delete test1 || fail "delete test1"
check_gone "the scope is gone after delete" corral-test1.scope
check_no_cgroup "the scope's cgroup is gone" system.slice/corral-test1.scope
"${rt[@]}" delete --force test1 >/dev/null 2>&1 || true

# What a systemd driver must get right beyond the scope's properties (for
# corral's driver; runc passes them, which proves the checks).
# A bundle from the one above: bundle_from NAME JQ-FILTER (the rootfs shared).
bundle_from() {
  mkdir -p "$out/bundle-$1"
  jq --arg root "$out/bundle/rootfs" ".root.path = \$root | $2" "$out/bundle/config.json" >"$out/bundle-$1/config.json" ||
    fail "the bundle $1"
}
# A foreground run waits for its process and returns its exit status (a
# driver whose D-Bus threads take the SIGCHLD hangs here: bounded).
bundle_from fg '.process.args = ["sh", "-c", "exit 3"] | .linux.cgroupsPath = "system.slice:corral:fg"'
T=60 check "a foreground run returns its process's exit status (3)" "rc=3" -- \
  sh -c '"$@" </dev/null >/dev/null 2>&1; echo rc=$?' sh "${rt[@]}" run --bundle "$out/bundle-fg" fg
check_gone "the foreground run's scope is gone" corral-fg.scope
check_no_cgroup "the foreground run's cgroup is gone" system.slice/corral-fg.scope
"${rt[@]}" delete --force fg >/dev/null 2>&1 || true
# An OOM kill: the kernel kills the process at its 16 MiB limit, systemd
# sees the scope's OOM (it may mark the scope failed), and delete must
# still leave no scope and no cgroup.
bundle_from oom '.process.args = ["sh", "-c", "x=a; while :; do x=$x$x; done"]
  | .linux.cgroupsPath = "system.slice:corral:oom"
  | .linux.resources.memory = {"limit": 16777216, "swap": 16777216}'
ooms() { awk '$1 == "oom_kill" {print $2}' /sys/fs/cgroup/system.slice/memory.events; }
ooms_before=$(ooms)
"${rt[@]}" run -d --bundle "$out/bundle-oom" oom </dev/null >"$out/rt.out" 2>&1 || fail "run -d oom: $(cat "$out/rt.out")"
for _ in $(seq 300); do "${rt[@]}" state oom 2>/dev/null | grep -q '"stopped"' && break; sleep 0.2; done
check "the container over its memory limit is stopped" '"stopped"' -- "${rt[@]}" state oom
# memory.events is hierarchical: system.slice's counts its scopes' kills.
[ "$(ooms)" -gt "$ooms_before" ] || fail "no OOM kill counted in system.slice/memory.events: $(cat /sys/fs/cgroup/system.slice/memory.events)"
pass=$((pass + 1)); echo "ok   the kernel OOM-killed it (system.slice's oom_kill $ooms_before -> $(ooms))"
say "the OOM scope: $(systemctl show -p ActiveState,Result corral-oom.scope | tr '\n' ' ')"
check "delete of the OOM-killed container" "" -- "${rt[@]}" delete oom
check_gone "the OOM-killed container's scope is gone after delete" corral-oom.scope
check_no_cgroup "the OOM-killed container's cgroup is gone" system.slice/corral-oom.scope
"${rt[@]}" delete --force oom >/dev/null 2>&1 || true
fi

# A private containerd for ctr (the shim) and the CRI test below.
section "containerd as a unit of this systemd"
sock=/run/corral-sd-containerd.sock
croot=/var/lib/corral-sd-containerd
cstate=/run/corral-sd-containerd
work=$(mktemp -d /tmp/corral-sd.XXXXXX)
cleanup() {
  set +e
  # Bounded: a stuck client must not hold the VM until the outer timeout.
  if [ -S "$sock" ]; then
    for t in $(timeout 30 command ctr -a "$sock" -n corral-e2e task ls -q 2>/dev/null); do
      timeout 30 command ctr -a "$sock" -n corral-e2e task delete -f "$t"
    done >/dev/null 2>&1
  fi
  if [ -S /run/corral-sd-docker.sock ]; then
    timeout 60 env DOCKER_HOST=unix:///run/corral-sd-docker.sock sh -c 'docker ps -aq | xargs -r docker rm -f' >/dev/null 2>&1
  fi
  [ -d /var/lib/corral-sd-podman ] && timeout 60 podman --root /var/lib/corral-sd-podman \
    --runroot /run/corral-sd-podman --storage-driver vfs rm -af -t 0 >/dev/null 2>&1
  timeout 60 systemctl stop corral-sd-docker.service corral-sd-containerd.service >/dev/null 2>&1
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^(/var/lib|/run)/corral-sd" | sort -r); do umount -l "$m"; done
  rm -rf "$work" /var/lib/corral-sd-* /run/corral-sd-*
}
ctr() { command ctr -a "$sock" -n corral-e2e "$@"; }
shim_path=
[ "$SHIM_TYPE" = io.containerd.corral.v2 ] && shim_path=$HERE/target/debug
# containerd as a service of this systemd, as on a host.
systemd-run --quiet --unit corral-sd-containerd --property KillMode=mixed \
  --setenv PATH="${shim_path:+$shim_path:}$PATH" \
  containerd --address "$sock" --root "$croot" --state "$cstate" --log-level warn
for _ in $(seq 150); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
ctr version >/dev/null 2>&1 || fail "containerd did not start: $(journalctl -u corral-sd-containerd --no-pager | tail -n 20)"
if want ctr; then
# ctr sets SystemdCgroup only in the runc shim's options, so this is the
# runc shim driving $RUNTIME; corral's own shim takes SystemdCgroup from
# the CRI's runtime options (the cri stack).
section "ctr run through io.containerd.runc.v2 ($RUNTIME) with SystemdCgroup"
opts=(--runtime io.containerd.runc.v2 --runc-binary "$RUNTIME_PATH" --runc-systemd-cgroup)
check "run --rootfs" "from-rootfs" -- ctr run --rm "${opts[@]}" --cgroup system.slice:corral-ctr:r1 --rootfs "$fixture" r1 /bin/echo from-rootfs
full "exit status" "rc=5" -- sh -c "command ctr -a $sock -n corral-e2e run --rm ${opts[*]} --cgroup system.slice:corral-ctr:r2 --rootfs $fixture r2 /bin/sh -c 'exit 5'; echo rc=\$?"
ctr run -d "${opts[@]}" --cgroup system.slice:corral-ctr:bg --rootfs "$fixture" bg /bin/sleep 1000 >/dev/null || fail "ctr run -d bg"
check "the shim's container is in its scope" "active" -- state corral-ctr-bg.scope
check "task exec" "exec-ok" -- ctr task exec --exec-id e1 bg /bin/sh -c 'echo exec-ok'
check "task metrics (cgroup v2)" "memory.usage" -- ctr task metrics bg
full "task pause" "PAUSED" -- sh -c "command ctr -a $sock -n corral-e2e task pause bg && command ctr -a $sock -n corral-e2e task ls"
full "task resume" "RUNNING" -- sh -c "command ctr -a $sock -n corral-e2e task resume bg && command ctr -a $sock -n corral-e2e task ls"
check "task kill" "STOPPED" -- sh -c "command ctr -a $sock -n corral-e2e task kill -s SIGKILL bg; sleep 1; command ctr -a $sock -n corral-e2e task ls"
ctr task delete bg >/dev/null && ctr container delete bg || fail "ctr delete bg"
check_gone "the scope is gone after task delete" corral-ctr-bg.scope
fi

if want docker; then
section "dockerd with native.cgroupdriver=systemd"
dsock=/run/corral-sd-docker.sock
cat >"$work/daemon.json" <<JSON
{"runtimes": {"e2e": {"path": "$RUNTIME_PATH"}}, "default-runtime": "e2e", "storage-driver": "vfs",
 "exec-opts": ["native.cgroupdriver=systemd"], "iptables": false, "bridge": "none"}
JSON
systemd-run --quiet --unit corral-sd-docker --property KillMode=mixed \
  dockerd --config-file "$work/daemon.json" --containerd "$sock" -H "unix://$dsock" \
  --data-root /var/lib/corral-sd-docker --exec-root /run/corral-sd-docker --pidfile /run/corral-sd-docker.pid
export DOCKER_HOST=unix://$dsock
for _ in $(seq 300); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker version >/dev/null 2>&1 || fail "dockerd did not start: $(journalctl -u corral-sd-docker --no-pager | tail -n 20)"
check "docker info: systemd driver, cgroup v2" "systemd 2" -- docker info --format '{{ .CgroupDriver }} {{ .CgroupVersion }}'
tar -C "$fixture" -c . | docker import - corral-e2e:latest >/dev/null || fail "docker import"
img=corral-e2e:latest
R="docker run --rm --network none"
D="docker run -d --network none"
check "run echo" "hello" -- $R $img echo hello
full "exit status" "rc=3" -- sh -c "$R $img sh -c 'exit 3'; echo rc=\$?"
check "run -d --name" "named" -- sh -c "$D --name named $img sleep 1000 >/dev/null && docker inspect --format '{{ .Name }}' named"
id=$(docker inspect --format '{{ .Id }}' named)
check "the container's scope is active" "active" -- state "docker-$id.scope"
check "in system.slice" "0::/system.slice/docker-$id.scope" -- cat "/proc/$(docker inspect --format '{{ .State.Pid }}' named)/cgroup"
check "exec" "exec-ok" -- docker exec named sh -c 'echo exec-ok'
full "exec exit status" "rc=4" -- sh -c "docker exec named sh -c 'exit 4'; echo rc=\$?"
full "top" "sleep 1000" -- docker top named
check "stats" "named" -- docker stats --no-stream named
full "pause" "paused" -- sh -c "docker pause named >/dev/null && docker inspect --format '{{ .State.Status }}' named"
full "unpause" "running" -- sh -c "docker unpause named >/dev/null && docker inspect --format '{{ .State.Status }}' named"
check "update --memory" "134217728" -- sh -c "docker update --memory 128m --memory-swap 256m named >/dev/null && docker exec named cat /sys/fs/cgroup/memory.max"
check "update reached the unit" "MemoryMax=134217728" -- systemctl show -p MemoryMax "docker-$id.scope"
check "kill" "exited" -- sh -c "docker kill named >/dev/null; sleep 0.5; docker inspect --format '{{ .State.Status }}' named"
check "rm" "gone" -- sh -c "docker rm named >/dev/null && (docker inspect named >/dev/null 2>&1 || echo gone)"
check_gone "the scope is gone after rm" "docker-$id.scope"
check "--memory --cpu-shares --cpu-quota --pids-limit" "67108864 20 20000 100000 42" -- \
  $R --memory 64m --cpu-shares 512 --cpu-quota 20000 --pids-limit 42 $img \
  sh -c 'echo $(cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max)'
full "--cpuset-cpus" "Cpus_allowed_list:	0" -- $R --cpuset-cpus 0 $img grep Cpus_allowed_list /proc/self/status
full "default seccomp profile in force" "Seccomp:	2" -- $R $img grep Seccomp: /proc/self/status
full "-v bind" "from-host" -- sh -c "echo from-host > $work/f && $R -v $work:/host $img cat /host/f"
full "--read-only" "Read-only" -- sh -c "$R --read-only $img touch /x 2>&1 || true"
docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
systemctl stop corral-sd-docker.service
unset DOCKER_HOST
fi

if want podman; then
section "podman with cgroup_manager = systemd"
proot=/var/lib/corral-sd-podman
prunroot=/run/corral-sd-podman
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "systemd"
events_logger = "file"
CONF
export CONTAINERS_CONF=$work/containers.conf
pm() { timeout 120 podman --root "$proot" --runroot "$prunroot" --storage-driver vfs "$@"; }
tar -C "$fixture" -c . | pm import - corral-e2e:latest >/dev/null 2>&1 || fail "podman import"
pimg=localhost/corral-e2e:latest
popts=(--runtime "$RUNTIME_PATH" --network none)
check "podman info: systemd manager" "systemd" -- pm info --format '{{ .Host.CgroupManager }}'
check "run" "hello" -- pm run --rm "${popts[@]}" "$pimg" echo hello
full "run exit status" "rc=3" -- sh -c "podman --root $proot --runroot $prunroot --storage-driver vfs run --rm ${popts[*]} $pimg sh -c 'exit 3'; echo rc=\$?"
check "run -d" "" -- pm run -d --name bg "${popts[@]}" "$pimg" sleep 1000
pid_=$(pm inspect --format '{{ .Id }}' bg)
check "the container's scope is active" "active" -- state "libpod-$pid_.scope"
check "in machine.slice" "0::/machine.slice/libpod-$pid_.scope" -- cat "/proc/$(pm inspect --format '{{ .State.Pid }}' bg)/cgroup"
check "exec" "exec-ok" -- pm exec bg sh -c 'echo exec-ok'
check "--memory" "67108864" -- pm run --rm "${popts[@]}" --memory 64m "$pimg" cat /sys/fs/cgroup/memory.max
check "stop" "bg" -- pm stop -t 1 bg
check "rm" "bg" -- pm rm bg
check_gone "the scope is gone after rm" "libpod-$pid_.scope"
pm rm -af -t 0 >/dev/null 2>&1 || true
pm system reset -f >/dev/null 2>&1 || true
unset CONTAINERS_CONF
fi

if want cri; then
section "containerd CRI with SystemdCgroup = true ($CRI_HANDLERS)"
T=600 check "CRI pod lifecycle (integration/tests/cri.rs)" "test result: ok" -- \
  env CORRAL_CRI_SYSTEMD=1 CORRAL_CRI_HANDLERS="$CRI_HANDLERS" "$CRI_BIN" --nocapture --test-threads=1
fi

if want enforce; then
section "the enforcement tests (integration/tests/resources.rs) with --systemd-cgroup"
# corral's own tests of its limits (OOM kill, pids.max, cpuset, devices,
# freezer, cpu quota...), each container through the systemd driver.
[ -x "${RESOURCES_BIN:-}" ] || fail "no resources test binary (RESOURCES_BIN=${RESOURCES_BIN:-})"
T=1200 check "resources with CORRAL_TEST_SYSTEMD_CGROUP=1" "test result: ok" -- \
  env CORRAL_TEST_SYSTEMD_CGROUP=1 "$RESOURCES_BIN" --test-threads=2
fi

section "nothing left"
left=$(systemctl list-units --all --no-legend --plain 'corral-*.scope' 2>&1)
[ -z "$left" ] || fail "corral-*.scope units left: $left"
pass=$((pass + 1)); echo "ok   no corral-*.scope unit left"
left=$(find /sys/fs/cgroup -name 'corral-*.scope' 2>&1)
[ -z "$left" ] || fail "corral-*.scope cgroups left: $left"
pass=$((pass + 1)); echo "ok   no corral-*.scope cgroup left"

echo "systemd host checks passed: $pass with $RUNTIME"
