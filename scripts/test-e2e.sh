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
