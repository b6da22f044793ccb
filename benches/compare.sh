#!/usr/bin/env bash
# Benchmarks corral beside runc and crun in one run, on the same /bin/true
# bundle from fixtures/, and prints the mean times and ratios.
#
#   bash benches/compare.sh [RUNS]        (root; needs hyperfine, runc, crun)
#
# Not part of CI: timings on a shared CI machine are not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
cargo build --release -q -p corral
corral=$PWD/target/release/corral
bundle=/tmp/corral-bench-true
ARGS='["/bin/true"]' bash fixtures/build-bundle.sh "$bundle" >/dev/null
json=$(mktemp)
hyperfine -N --warmup 10 --runs "$runs" --export-json "$json" \
  -n corral "$corral --root /tmp/corral-bench-root run --bundle $bundle bench-corral" \
  -n runc   "runc --root /tmp/corral-bench-runc run --bundle $bundle bench-runc" \
  -n crun   "crun --root /tmp/corral-bench-crun run --bundle $bundle bench-crun" >&2
python3 - "$json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
c = r["corral"]["mean"]
print(f"{'runtime':8} {'mean ms':>9} {'stddev':>8} {'corral is':>12}")
for name in ("corral", "runc", "crun"):
    m, s = r[name]["mean"], r[name]["stddev"]
    print(f"{name:8} {m*1000:9.2f} {s*1000:8.2f} {m/c:11.2f}x" + ("" if name == "corral" else " faster"))
PY
rm -f "$json"
