#!/usr/bin/env bash
# The cgroup v2 tier: boots Debian's kernel with cgroup_no_v1=all under qemu
# (virtme-ng, software emulation) and runs the prebuilt cgroup integration
# test binaries there. Run after `cargo build --workspace --all-targets` and
# one host test run (which builds the fixtures).
#
#   bash scripts/test-v2-vm.sh            (root; needs qemu-system-x86,
#                                          linux-image-amd64, virtme-ng)
set -euo pipefail
cd "$(dirname "$0")/.."

kernel=$(ls /boot/vmlinuz-* | sort -V | tail -n 1)
[ -n "$kernel" ] || { echo "no kernel in /boot: apt-get install linux-image-amd64" >&2; exit 1; }
newest() { ls -t target/debug/deps/"$1"-* 2>/dev/null | grep -v '\.d$' | head -n 1; }
bins=""
for t in resources cgroups lifecycle rootfs namespaces errors bad_input crashes check; do
  b=$(newest "$t")
  [ -n "$b" ] || { echo "no test binary for $t: cargo build --workspace --all-targets" >&2; exit 1; }
  bins="$bins $PWD/$b"
done
# Debian's kernel has AppArmor on: the LSM label test runs there.
process_bin=$PWD/$(newest process)
for f in target/fixture target/fixture-userns; do
  [ -e "$f/.built" ] || bash fixtures/build-bundle.sh $([ "$f" = target/fixture-userns ] && echo --demo) "$f" >/dev/null
  touch "$f/.built"
done

inner='set -e
mode=$(stat -fc %T /sys/fs/cgroup)
[ "$mode" = cgroup2fs ] || { echo "not a cgroup v2 host: $mode"; exit 1; }
echo "cgroup v2 VM: $(uname -r), controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
# Booted with psi=1 (Debian builds PSI in but off by default): the PSI
# test must find pressure files here.
export CORRAL_EXPECT_PSI=1
for b in '"$bins"'; do
  echo "== $(basename "$b")"
  # A test that hangs fails the tier by name instead of stalling CI.
  timeout 900 "$b" --test-threads=2 -q || { echo "FAILED or timed out: $(basename "$b")"; exit 1; }
done
echo "== AppArmor"
mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security
CORRAL_EXPECT_APPARMOR=1 '"$process_bin"' apparmor --nocapture -q
echo "v2 VM tests passed"'

# The script goes in a file the guest reads over 9p: virtme-ng hands the
# command to the guest on the kernel command line, whose 2048 bytes a long
# list of test binaries overflows (the guest then never starts it and sits
# idle).
script=$PWD/target/v2-vm-inner.sh
printf '%s\n' "$inner" > "$script"
echo "== cgroup v2 VM ($kernel)"
timeout 2400 vng -r "$kernel" --disable-kvm --force-9p --memory 2G --cpus 2 \
  --append "cgroup_no_v1=all psi=1" \
  --rwdir "$PWD/target/fixture" --rwdir "$PWD/target/fixture-userns" \
  -- bash "$script" 2>&1 | tee /tmp/corral-v2-vm.log
grep -q "^v2 VM tests passed" /tmp/corral-v2-vm.log
