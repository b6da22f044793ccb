#!/usr/bin/env bash
# End-to-end tier: each script runs with runc first (it proves the script),
# then with corral.
set -euo pipefail
cd "$(dirname "$0")/.."
corral=$PWD/target/debug/corral
[ -x "$corral" ] || cargo build -q -p corral
runc=$(command -v runc)
for t in integration/e2e/docker.sh integration/e2e/containerd.sh integration/e2e/podman.sh; do
  echo "== $t with runc";   bash "$t" "$runc" runc | grep -E "passed|^FAIL" || exit 1
  echo "== $t with corral"; bash "$t" "$corral" corral | grep -E "passed|^FAIL" || exit 1
done
# corral's own shim under containerd, after the stock runc shim.
shim=$PWD/target/debug/containerd-shim-corral-v2
[ -x "$shim" ] || cargo build -q -p shim
echo "== integration/e2e/shim.sh with io.containerd.runc.v2"
bash integration/e2e/shim.sh io.containerd.runc.v2 runc | grep -E "passed|^FAIL" || exit 1
echo "== integration/e2e/shim.sh with io.containerd.corral.v2"
bash integration/e2e/shim.sh io.containerd.corral.v2 corral | grep -E "passed|^FAIL" || exit 1
