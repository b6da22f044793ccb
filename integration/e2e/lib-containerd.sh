# Shared by containerd.sh and shim.sh: a private containerd (PATH may name
# extra shims), `ctr` bound to it, `check`, cleanup of everything it made, and
# an image imported from a docker-archive built from the fixture rootfs.
# The caller sets `name`, `here`, `fixture` before sourcing.
work=$(mktemp -d /tmp/corral-e2e-ctr.XXXXXX)
sock=/run/corral-e2e-ctr-$name.sock
root=/var/lib/corral-e2e-ctr-$name
state=/run/corral-e2e-ctr-$name
ctr() { command ctr -a "$sock" -n corral-e2e "$@"; }
pass=0
sockets_at_start=" $(ls /run/containerd/s 2>/dev/null | tr '\n' ' ') "

cleanup() {
  set +e
  for t in $(ctr task ls -q 2>/dev/null); do ctr task kill -s SIGKILL "$t"; sleep 0.3; ctr task delete -f "$t"; done >/dev/null 2>&1
  for c in $(ctr container ls -q 2>/dev/null); do ctr container delete "$c"; done >/dev/null 2>&1
  [ -f "$work/containerd.pid" ] && kill "$(cat "$work/containerd.pid")"
  sleep 1
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($root|$state)" | sort -r); do umount -l "$m"; done
  rm -rf "$root" "$state" "$sock" "$sock.ttrpc" "$work"
  # Shim sockets made during the run (a killed shim leaves its own).
  for s in $(ls /run/containerd/s 2>/dev/null); do
    case "$sockets_at_start" in *" $s "*) ;; *) rm -f "/run/containerd/s/$s";; esac
  done
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

PATH=${shim_path:+$shim_path:}$PATH containerd --address "$sock" --root "$root" --state "$state" >"$work/containerd.log" 2>&1 &
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

