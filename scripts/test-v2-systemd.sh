#!/usr/bin/env bash
# The systemd tier: a cgroup v2 host whose cgroups are managed by a real
# systemd (Debian's systemd 252, /lib/systemd/systemd) as PID 1, with the
# system D-Bus, and the end-to-end stacks on it with their systemd cgroup
# drivers: `RUNTIME --systemd-cgroup run`, `ctr run` through the runc shim
# with SystemdCgroup, dockerd with native.cgroupdriver=systemd, podman with
# cgroup_manager = "systemd", and containerd's CRI with SystemdCgroup = true
# (integration/tests/cri.rs with CORRAL_CRI_SYSTEMD=1).
#
#   bash scripts/test-v2-systemd.sh              (root; RUNTIME=runc, the default)
#   RUNTIME=corral bash scripts/test-v2-systemd.sh   (once corral has the systemd driver)
#
# How the host starts: the cgroup v2 VM of scripts/test-v2-vm.sh (Debian's
# kernel under qemu, virtme-ng, cgroup_no_v1=all, software emulation); in it,
# systemd is started as the init of its own PID, mount and cgroup namespaces
# (`unshare --pid --fork --mount --cgroup --mount-proc`, as systemd-nspawn
# starts a container's systemd), on a cgroup2 subtree of the VM delegated to
# it (/sys/fs/cgroup/corral-host with every controller enabled above it,
# mounted as the root of its cgroup namespace), a /run of its own and its
# boot unit given on its command line (`systemd.unit=corral-test.service`).
# That unit runs the checks as a system service would, and its exit status
# becomes systemd's (SuccessAction/FailureAction=exit-force). The VM itself
# cannot boot systemd as its PID 1 here: `vng --systemd` boots the host's
# root file system, whose /.dockerenv makes systemd believe it is in a
# container, where it takes its "kernel command line" from its own argv,
# ignores systemd.unit=/systemd.run= and boots the whole multi-user target
# (the host's docker, containerd, postgresql... 80 s and more to a login
# prompt, and virtme-ng's command never runs).
#
# How it ends: the unit's SuccessAction= and FailureAction=exit-force (in
# [Unit]: in [Service] systemd ignores SuccessAction=) end systemd when the
# checks end, pass or fail, or reach the unit's RuntimeMaxSec; systemd's exit
# status is then the checks' (0, theirs, 143 when stopped). systemd-shutdown,
# in a container, kills what is left (30 s a signal at most) and exits, the
# kernel ends the rest of the PID namespace, unshare hands the status to
# boot.sh, which writes it to $out/rc and returns to virtme-ng's init, which
# powers the VM off. Should systemd not end, boot.sh shows what is left,
# kills it `grace` s after the checks ended and fails the tier.
#
# Checks are a subset of today's e2e checks (TCG emulation is 10-30x slower
# than the host; one `docker run` takes 10-20 s in the VM); every check that
# depends on the cgroup driver is in: the scope of each container active
# while it runs, its limits in the unit and in the cgroup files, update,
# freeze, stats, and the scope gone after delete. Docker runs without its
# bridge and iptables (`"bridge": "none"`, containers with --network none):
# networking does not depend on the cgroup driver, and the CRI check has a
# pod network (a CNI bridge). The full size adds the checks that do not
# depend on the driver (exit statuses, top, seccomp, binds, read-only,
# cpuset, docker's and ctr's pause/resume):
#   CORRAL_SYSTEMD_FULL=1 bash scripts/test-v2-systemd.sh
# CORRAL_SYSTEMD_STACKS picks stacks for a quick loop (default
# "runc ctr docker podman cri", and "enforce" too with RUNTIME=corral: the
# enforcement tests, integration/tests/resources.rs, with --systemd-cgroup).
# CORRAL_SYSTEMD_MAX_SEC bounds the checks' unit (RuntimeMaxSec, default
# 1500); CORRAL_SYSTEMD_FORCE_FAIL=1 makes a check fail (=hang: the checks
# hang until RuntimeMaxSec), to prove that a failing tier ends too.
set -euo pipefail
cd "$(dirname "$0")/.."

runtime=${RUNTIME:-runc}
case "$runtime" in
  runc)
    runtime_path=$(command -v runc) || { echo "runc not installed: apt-get install runc" >&2; exit 1; }
    shim_type=io.containerd.runc.v2
    cri_handlers=runc
    stacks=${CORRAL_SYSTEMD_STACKS:-runc ctr docker podman cri} ;;
  corral)
    runtime_path=$PWD/target/debug/corral
    shim_type=io.containerd.corral.v2
    cri_handlers=corral,corral-runc-shim
    stacks=${CORRAL_SYSTEMD_STACKS:-runc ctr docker podman cri enforce}
    [ -x "$runtime_path" ] && [ -x target/debug/containerd-shim-corral-v2 ] ||
      { echo "no target/debug/corral or its shim: cargo build --workspace" >&2; exit 1; } ;;
  *) echo "RUNTIME=$runtime: want runc or corral" >&2; exit 1 ;;
esac
has_stack() { case " $stacks " in *" $1 "*) return 0;; *) return 1;; esac; }

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] || { echo "no kernel in /boot: apt-get install linux-image-amd64" >&2; exit 1; }
[ -x /lib/systemd/systemd ] || { echo "no /lib/systemd/systemd: apt-get install systemd" >&2; exit 1; }
command -v dbus-daemon >/dev/null || { echo "no dbus-daemon: apt-get install dbus" >&2; exit 1; }
newest() { ls -t target/debug/deps/"$1"-* 2>/dev/null | grep -v '\.d$' | head -n 1; }
cri_bin=$(newest cri)
[ -n "$cri_bin" ] || ! has_stack cri || { echo "no CRI test binary: cargo build -p integration --test cri" >&2; exit 1; }
cri_bin=${cri_bin:+$PWD/$cri_bin}
resources_bin=$(newest resources)
[ -n "$resources_bin" ] || ! has_stack enforce ||
  { echo "no resources test binary: cargo build -p integration --test resources" >&2; exit 1; }
resources_bin=${resources_bin:+$PWD/$resources_bin}
f=target/fixture
[ -e "$f/.built" ] || { bash fixtures/build-bundle.sh "$f" >/dev/null && touch "$f/.built"; }

# The bounds, inner to outer: every check has its own (systemd-host.sh);
# the checks' unit has RuntimeMaxSec; systemd's stop timeouts are 30 s
# (DefaultTimeoutStopSec, which systemd-shutdown's kill waits use too);
# boot.sh gives systemd `grace` seconds to end once the checks have ended
# (and `max + boot` in all), then kills it; vng has `max + 600`.
max=${CORRAL_SYSTEMD_MAX_SEC:-1500}
grace=240
boot=300

# Everything the guest writes goes in $out (a --rwdir): the log, the
# result, and the runtime's bundle (a copy of the fixture, with the
# systemd form of cgroupsPath and limits the scope's properties show).
out=$PWD/target/v2-systemd
rm -rf "$out"
mkdir -p "$out/bundle"
cp -a "$f/rootfs" "$out/bundle/rootfs"
jq '.process.args = ["sleep", "1000"]
  | .linux.cgroupsPath = "system.slice:corral:test1"
  | .linux.resources.memory = {"limit": 67108864}
  | .linux.resources.cpu = {"shares": 512, "quota": 50000, "period": 100000}
  | .linux.resources.pids = {"limit": 42}' "$f/config.json" >"$out/bundle/config.json"

# The boot unit. Its end, whichever way it ends (the checks exit, fail, or
# hit RuntimeMaxSec), makes systemd exit with the checks' status
# (SuccessAction/FailureAction=exit-force); ExecStopPost writes the unit's
# result where boot.sh and this script read it.
cat >"$out/corral-test.service" <<UNIT
[Unit]
Description=corral's systemd-host checks ($runtime)
After=dbus.socket
Requires=dbus.socket
# [Unit] options: in [Service], systemd 252 ignores SuccessAction= ("Unknown
# key") and takes FailureAction= only as a legacy alias, so a passing run
# left systemd idle and the VM up until vng's bound.
SuccessAction=exit-force
FailureAction=exit-force
[Service]
Type=exec
# The checks bound each step; this bounds the whole (FailureAction then ends systemd).
RuntimeMaxSec=$max
ExecStart=/bin/bash $out/checks.sh
ExecStopPost=/bin/bash $out/stop-post.sh
Environment=RUNTIME=$runtime RUNTIME_PATH=$runtime_path SHIM_TYPE=$shim_type
Environment=CRI_HANDLERS=$cri_handlers CRI_BIN=$cri_bin RESOURCES_BIN=$resources_bin
Environment=HERE=$PWD FULL=${CORRAL_SYSTEMD_FULL:-0} FORCE_FAIL=${CORRAL_SYSTEMD_FORCE_FAIL:-0}
Environment="STACKS=$stacks"
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
StandardOutput=append:$out/log
StandardError=append:$out/log
UNIT
# systemd takes a key in the wrong section with a warning and goes on
# without it (that is how SuccessAction= once sat in [Service] unseen):
# refuse any complaint about the unit here, before the VM boots.
if command -v systemd-analyze >/dev/null; then
  v=$(systemd-analyze verify --man=no "$out/corral-test.service" 2>&1 | grep -F corral-test.service || true)
  [ -z "$v" ] || { echo "corral-test.service does not verify: $v" >&2; exit 1; }
fi
cat >"$out/stop-post.sh" <<'POST'
# ExecStopPost of corral-test.service: the unit's result, for boot.sh.
out=$(cd "$(dirname "$0")" && pwd)
echo "[$(date +%T)] corral-test.service: result $SERVICE_RESULT, main process $EXIT_CODE $EXIT_STATUS" >>"$out/log"
echo "$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS" >"$out/unit-result"
POST
cat >"$out/timeouts.conf" <<'CONF'
# The stop of a unit and systemd-shutdown's kill of what is left both wait
# this long at most (90 s by default).
[Manager]
DefaultTimeoutStopSec=30s
CONF

# In the VM (run by virtme-ng's init): start systemd in its namespaces, and
# wait for it to end, bounded.
cat >"$out/boot.sh" <<BOOT
#!/bin/bash
set -euo pipefail
out=$out grace=$grace bound=$((max + boot))
BOOT
cat >>"$out/boot.sh" <<'BOOT'
mode=$(stat -fc %T /sys/fs/cgroup)
[ "$mode" = cgroup2fs ] || { echo "not a cgroup v2 host: $mode"; exit 1; }
echo "cgroup v2 VM: $(uname -r), controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
# Delegate a subtree with every controller to systemd.
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
mkdir -p /sys/fs/cgroup/corral-host
start=$(date +%s)
(
  echo $BASHPID >/sys/fs/cgroup/corral-host/cgroup.procs
  exec unshare --pid --fork --mount --cgroup --mount-proc --propagation private /bin/sh -c '
    set -e
    out=$1
    umount -l /sys/fs/cgroup
    mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
    # The VM'"'"'s /tmp is an overlay: containerd'"'"'s overlayfs snapshots
    # (the CRI test keeps them in /tmp) cannot have their upper dir there.
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
    mkdir -p /run/systemd/system /run/systemd/system.conf.d
    cp "$out/corral-test.service" /run/systemd/system/
    cp "$out/timeouts.conf" /run/systemd/system.conf.d/
    exec env -i container=corral-systemd-host /lib/systemd/systemd \
      systemd.unit=corral-test.service systemd.show_status=0 systemd.log_level=warning
  ' sh "$out"
) </dev/null >>"$out/systemd.log" 2>&1 &
ns_parent=$!
# unshare's own process stays outside the namespaces, waiting: it must not
# stay in corral-host either, or that cgroup has a process of its own and
# systemd cannot enable controllers below it (cgroup v2's no internal
# processes rule). Back to the VM's root cgroup once systemd is forked.
ns_init=
for _ in $(seq 100); do ns_init=$(pgrep -P $ns_parent || true); [ -n "$ns_init" ] && break; sleep 0.1; done
echo $ns_parent >/sys/fs/cgroup/cgroup.procs
# Wait for systemd to end: `grace` s after the checks ended (they write
# checks-rc, the unit's ExecStopPost unit-result), `bound` s in all. Past
# that, what is left is shown and systemd (PID 1 of its namespace: the
# kernel then kills the rest) is killed, and the tier fails.
ended= why=
while kill -0 $ns_parent 2>/dev/null; do
  now=$(date +%s)
  [ -z "$ended" ] && { [ -e "$out/checks-rc" ] || [ -e "$out/unit-result" ]; } && ended=$now
  if [ -n "$ended" ] && [ $((now - ended)) -ge $grace ]; then
    why="did not end $grace s after the checks"; break
  fi
  if [ $((now - start)) -ge $bound ]; then why="still running after $bound s"; break; fi
  sleep 1
done
rc=0
if [ -n "$why" ]; then
  echo "systemd (PID 1 of its namespaces) $why: killed; what was left:"
  ps -eo pid,ppid,stat,wchan:24,cgroup:48,args | tee "$out/left.ps"
  [ -n "$ns_init" ] && timeout 30 nsenter -t "$ns_init" -m journalctl --no-pager -o short-monotonic \
    >"$out/journal.log" 2>&1 && echo "systemd's journal: $out/journal.log"
  [ -n "$ns_init" ] && kill -KILL "$ns_init" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 $ns_parent 2>/dev/null || break; sleep 1; done
  rc=1
fi
if ! kill -0 $ns_parent 2>/dev/null; then
  st=0; wait $ns_parent || st=$?
  [ -n "$why" ] || rc=$st
  now=$(date +%s)
  after=
  [ -e "$out/checks-rc" ] && after=", $((now - $(stat -c %Y "$out/checks-rc"))) s after the checks ended"
  echo "systemd (PID 1 of its namespaces) exited $st after $((now - start)) s$after"
else
  echo "systemd's namespace did not end even when killed"
fi
rmdir /sys/fs/cgroup/corral-host 2>/dev/null || true
echo $rc >"$out/rc"
BOOT

# Under systemd, as the unit corral-test.service: the checks.
cp integration/e2e/systemd-host.sh "$out/checks.sh"

echo "== systemd host on a cgroup v2 VM ($kernel, RUNTIME=$runtime, stacks: $stacks)"
start=$(date +%s)
touch "$out/log"
tail -n +1 -F "$out/log" 2>/dev/null &
tail_pid=$!
rc=0
timeout $((max + 600)) vng -r "$kernel" --disable-kvm --force-9p --memory 3G --cpus 2 \
  --append cgroup_no_v1=all --rwdir "$out" \
  -- bash "$out/boot.sh" >/tmp/corral-v2-systemd.log 2>&1 || rc=$?
sleep 1
kill "$tail_pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
echo "-- VM: $(grep -a -E '^(cgroup v2 VM|systemd \(PID 1)' /tmp/corral-v2-systemd.log | tr '\n' ' ')"
echo "-- tier wall time: $(( $(date +%s) - start )) s (RUNTIME=$runtime, stacks: $stacks)"
if [ "$(cat "$out/rc" 2>/dev/null)" != 0 ] || ! grep -q "^systemd host checks passed" "$out/log"; then
  echo "FAILED: the systemd host tier (vng exit $rc, systemd exit $(cat "$out/rc" 2>/dev/null || echo none)," \
    "unit result: $(cat "$out/unit-result" 2>/dev/null || echo none))" >&2
  echo "--- VM console tail (/tmp/corral-v2-systemd.log):" >&2
  tail -n 30 /tmp/corral-v2-systemd.log >&2
  echo "--- systemd's own log ($out/systemd.log):" >&2
  tail -n 30 "$out/systemd.log" >&2 2>/dev/null || true
  exit 1
fi
rm -rf "$out/bundle" "$out"/bundle-*
