#!/usr/bin/env bash
# End-to-end: Debian's dockerd (with its containerd) running containers
# through a given runtime, the way people use docker.
#
#   bash integration/e2e/docker.sh RUNTIME_PATH [NAME]
#
# Run once with runc (which proves the script) and once with corral. The
# script starts its own containerd and dockerd on private sockets and
# directories, and stops and removes them at the end, whatever happens.
# Containers run under docker's default seccomp profile.
set -euo pipefail
runtime_path=${1:?usage: docker.sh RUNTIME_PATH [NAME]}
name=${2:-$(basename "$runtime_path")}
here=$(cd "$(dirname "$0")/../.." && pwd)
fixture=$here/target/fixture/rootfs
[ -d "$fixture" ] || bash "$here/fixtures/build-bundle.sh" "$here/target/fixture" >/dev/null

work=$(mktemp -d /tmp/corral-e2e-docker.XXXXXX)
sock_c=/run/corral-e2e-$name-containerd.sock
sock_d=/run/corral-e2e-$name-docker.sock
export DOCKER_HOST=unix://$sock_d
pass=0

cleanup() {
  set +e
  docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
  docker network rm corral-e2e-net >/dev/null 2>&1
  [ -f "$work/dockerd.pid" ] && kill "$(cat "$work/dockerd.pid")" 2>/dev/null
  for _ in $(seq 50); do [ -S "$sock_d" ] || break; sleep 0.2; done
  [ -f "$work/containerd.pid" ] && kill "$(cat "$work/containerd.pid")" 2>/dev/null
  sleep 1
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^(/var/lib|/run)/corral-e2e-$name" | sort -r); do umount -l "$m"; done
  rm -rf "/var/lib/corral-e2e-$name-docker" "/var/lib/corral-e2e-$name-containerd" "/run/corral-e2e-$name-"* "$work"
  # The cgroup parent this dockerd used (runtimes leave parents behind).
  find /sys/fs/cgroup -depth -type d -name "corral-e2e-$name-docker" -exec rmdir {} \; 2>/dev/null
}
trap cleanup EXIT

fail() { echo "FAIL ($name): $*" >&2; echo "--- dockerd log tail:" >&2; tail -n 20 "$work/dockerd.log" >&2; exit 1; }
# check DESCRIPTION EXPECTED-SUBSTRING -- COMMAND...
check() {
  local what=$1 want=$2; shift 3
  local got
  got=$("$@" 2>&1) || fail "$what: exit $?: $got"
  case "$got" in *"$want"*) pass=$((pass + 1)); echo "ok   $what";; *) fail "$what: want '$want', got: $got";; esac
}

containerd --address "$sock_c" --root "/var/lib/corral-e2e-$name-containerd" \
  --state "/run/corral-e2e-$name-containerd" >"$work/containerd.log" 2>&1 &
echo $! >"$work/containerd.pid"
for _ in $(seq 100); do [ -S "$sock_c" ] && break; sleep 0.1; done
cat >"$work/daemon.json" <<JSON
{"runtimes": {"e2e": {"path": "$runtime_path"}}, "default-runtime": "e2e", "storage-driver": "vfs",
 "cgroup-parent": "corral-e2e-$name-docker"}
JSON
dockerd --config-file "$work/daemon.json" --containerd "$sock_c" -H "unix://$sock_d" \
  --data-root "/var/lib/corral-e2e-$name-docker" --exec-root "/run/corral-e2e-$name-docker" \
  --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 &
for _ in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker version >/dev/null 2>&1 || fail "dockerd did not start"

tar -C "$fixture" -c . | docker import - corral-e2e:latest >/dev/null
img=corral-e2e:latest
R="docker run --rm "
D="docker run -d "

check "run echo" "hello" -- $R $img echo hello
check "default seccomp profile in force" "Seccomp:	2" -- $R $img grep Seccomp: /proc/self/status
check "seccomp denies unshare(CLONE_NEWUSER)" "Operation not permitted" -- sh -c "$R $img unshare -U true 2>&1 || true"
check "exit status" "rc=3" -- sh -c "$R $img sh -c 'exit 3'; echo rc=\$?"
check "-e -w -u --hostname" "bar /tmp uid=1000 gid=1001 hbox" -- \
  $R -e FOO=bar -w /tmp -u 1000:1001 --hostname hbox $img sh -c 'echo $FOO $(pwd) $(id -u | sed s/^/uid=/) $(id -g | sed s/^/gid=/) $(hostname)'
check "--name and inspect" "named" -- sh -c "$D --name named $img sleep 1000 >/dev/null && docker inspect --format '{{ .Name }}' named"
pid=$(docker inspect --format '{{ .State.Pid }}' named)
check "inspect .State.Pid is the init" "sleep" -- cat "/proc/$pid/comm"
check "nsenter -t PID -n" "lo" -- nsenter -t "$pid" -n ip -o link
check "exec" "exec-ok" -- docker exec named sh -c 'echo exec-ok'
check "exec -e -u -w" "x=1 uid=1000 /tmp" -- docker exec -e x=1 -u 1000 -w /tmp named sh -c 'echo x=$x uid=$(id -u) $(pwd)'
check "exec exit status" "rc=4" -- sh -c "docker exec named sh -c 'exit 4'; echo rc=\$?"
check "top" "sleep 1000" -- docker top named
check "stats" "named" -- docker stats --no-stream named
check "pause" "paused" -- sh -c "docker pause named >/dev/null && docker inspect --format '{{ .State.Status }}' named"
check "unpause" "running" -- sh -c "docker unpause named >/dev/null && docker inspect --format '{{ .State.Status }}' named"
check "update --memory" "134217728" -- sh -c "docker update --memory 128m --memory-swap 256m named >/dev/null && docker inspect --format '{{ .HostConfig.Memory }}' named"
check "update reached the cgroup" "134217728" -- docker exec named cat /sys/fs/cgroup/memory/memory.limit_in_bytes
check "commit" "sha256:" -- docker commit named corral-e2e:committed
check "kill" "exited" -- sh -c "docker kill named >/dev/null; sleep 0.5; docker inspect --format '{{ .State.Status }}' named"
check "rm" "gone" -- sh -c "docker rm named >/dev/null && (docker inspect named >/dev/null 2>&1 || echo gone)"
check "logs" "line1" -- sh -c "$D --name logger $img sh -c 'echo line1; sleep 1000' >/dev/null; sleep 1; docker logs logger; docker rm -f logger >/dev/null"
check "-v bind" "from-host" -- sh -c "echo from-host > $work/f && $R -v $work:/host $img cat /host/f"
check "named volume" "persisted" -- sh -c "docker volume create corral-e2e-vol >/dev/null && $R -v corral-e2e-vol:/data $img sh -c 'echo persisted > /data/f' && $R -v corral-e2e-vol:/data $img cat /data/f"
check "--volumes-from" "persisted" -- sh -c "$D --name vsrc -v corral-e2e-vol:/data $img sleep 1000 >/dev/null && $R --volumes-from vsrc $img cat /data/f; docker rm -f vsrc >/dev/null"
check "--tmpfs" "tmpfs on /scratch" -- $R --tmpfs /scratch $img mount
check "--read-only" "Read-only" -- sh -c "$R --read-only $img touch /x 2>&1 || true"
check "--memory" "67108864" -- $R --memory 64m $img cat /sys/fs/cgroup/memory/memory.limit_in_bytes
check "--cpu-shares" "512" -- $R --cpu-shares 512 $img cat /sys/fs/cgroup/cpu/cpu.shares
check "--cpu-quota" "20000" -- $R --cpu-quota 20000 $img cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
check "--cpuset-cpus" "Cpus_allowed_list:	0" -- $R --cpuset-cpus 0 $img grep Cpus_allowed_list /proc/self/status
check "--pids-limit" "42" -- $R --pids-limit 42 $img cat /sys/fs/cgroup/pids/pids.max
check "--device-read-bps" "1048576" -- $R --device-read-bps /dev/vda:1mb $img cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device
check "--ulimit" "512" -- $R --ulimit nofile=512:512 $img sh -c 'ulimit -n'
check "--cap-drop/--cap-add" "0000000000002000" -- $R --cap-drop ALL --cap-add NET_RAW $img grep CapEff /proc/self/status
check "--security-opt no-new-privileges" "NoNewPrivs:	1" -- $R --security-opt no-new-privileges $img grep NoNewPrivs /proc/self/status
check "--pid=host" "1 " -- sh -c "$R --pid host $img ps -o pid,comm | grep -E '^ *1 '"
check "--net=host" "$(hostname)" -- $R --net host $img hostname
check "--net=none" "1" -- sh -c "$R --net none $img ip -o link | wc -l"
docker network create corral-e2e-net >/dev/null
check "bridge network, -p publish" "it works" -- sh -c "
  $D --name web --network corral-e2e-net -p 127.0.0.1:18481:8080 $img sh -c 'mkdir -p /www && echo it works > /www/index.html && httpd -f -p 8080 -h /www' >/dev/null
  for i in \$(seq 50); do busybox wget -qO- http://127.0.0.1:18481/ 2>/dev/null && break; sleep 0.2; done"
check "user-defined network name resolution" "it works" -- $R --network corral-e2e-net $img wget -qO- http://web:8080/
check "--link" "it works" -- sh -c "
  $D --name web2 $img sh -c 'mkdir -p /www && echo it works > /www/index.html && httpd -f -p 8080 -h /www' >/dev/null
  $R --link web2:alias $img sh -c 'for i in \$(seq 50); do wget -qO- http://alias:8080/ 2>/dev/null && break; sleep 0.2; done'"
check "--restart on-failure" "2" -- sh -c "$D --name flaky --restart on-failure:2 $img sh -c 'exit 1' >/dev/null
  for i in \$(seq 100); do [ \"\$(docker inspect --format '{{ .State.Status }}' flaky)\" = exited ] && [ \"\$(docker inspect --format '{{ .RestartCount }}' flaky)\" = 2 ] && break; sleep 0.2; done
  docker inspect --format '{{ .RestartCount }}' flaky"
check "run -ti" "/dev/pts/0" -- script -qec "$R -ti $img tty" /dev/null
check "exec -ti" "/dev/pts/" -- sh -c "$D --name tty1 $img sleep 1000 >/dev/null && script -qec 'docker exec -ti tty1 tty' /dev/null"
echo "docker e2e with $name: $pass checks passed"
