#!/usr/bin/env bash
# `docker run --rm IMAGE true` end to end with corral, runc and crun as
# dockerd's runtime, side by side in one hyperfine run (dockerd 20.10 and
# containerd started privately, as in integration/e2e/docker.sh).
#
#   bash bench/docker.sh [RUNS]      (root; needs docker.io, containerd, runc, crun, hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
corral=$(bash scripts/build-release.sh)
work=$(mktemp -d /tmp/corral-bench-docker.XXXXXX)
sock_c=/run/corral-bench-containerd.sock
sock_d=/run/corral-bench-docker.sock
export DOCKER_HOST=unix://$sock_d
cleanup() {
  set +e
  [ -f "$work/dockerd.pid" ] && kill "$(cat "$work/dockerd.pid")"
  sleep 2
  [ -f "$work/containerd.pid" ] && kill "$(cat "$work/containerd.pid")"
  sleep 1
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^(/var/lib|/run)/corral-bench" | sort -r); do umount -l "$m"; done
  rm -rf /var/lib/corral-bench-* /run/corral-bench-* "$work"
}
trap cleanup EXIT
containerd --address "$sock_c" --root /var/lib/corral-bench-containerd --state /run/corral-bench-containerd >"$work/c.log" 2>&1 &
echo $! >"$work/containerd.pid"
for _ in $(seq 100); do [ -S "$sock_c" ] && break; sleep 0.1; done
cat >"$work/daemon.json" <<JSON
{"runtimes": {"corral": {"path": "$corral"}, "crun": {"path": "$(command -v crun)"}},
 "storage-driver": "vfs"}
JSON
dockerd --config-file "$work/daemon.json" --containerd "$sock_c" -H "unix://$sock_d" \
  --data-root /var/lib/corral-bench-docker --exec-root /run/corral-bench-docker --pidfile "$work/dockerd.pid" >"$work/d.log" 2>&1 &
for _ in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
[ -d target/fixture/rootfs ] || bash fixtures/build-bundle.sh target/fixture >/dev/null
tar -C target/fixture/rootfs -c . | docker import - corral-bench:latest >/dev/null
# Docker's default seccomp profile applies to all three.
run() { echo "docker run --rm --runtime $1 --net none corral-bench:latest true"; }
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/h.json" \
  -n corral "$(run corral)" -n runc "$(run runc)" -n crun "$(run crun)" >&2
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
c = r["corral"]["mean"]
print(f"{'runtime':8} {'mean ms':>9} {'stddev':>8} {'vs corral':>10}")
for n in ("corral", "runc", "crun"):
    print(f"{n:8} {r[n]['mean']*1000:9.1f} {r[n]['stddev']*1000:8.1f} {r[n]['mean']/c:9.2f}x")
PY
