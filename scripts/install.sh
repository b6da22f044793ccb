#!/usr/bin/env bash
# Installs corral and containerd-shim-corral-v2 with their shell completions
# (bash, zsh, fish) and man pages, all generated from the clap definitions.
#
#   bash scripts/install.sh [--prefix /usr/local] [--destdir DIR] [--from DIR]
#
# --from DIR takes already-built binaries from DIR (default: the static
# corral of scripts/build-release.sh and the shim of cargo build --release);
# --destdir stages the install under DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local destdir="" from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done
if [ -z "$from" ]; then
  corral=$(bash scripts/build-release.sh)
  cargo build --release -q -p shim
  shim=target/release/containerd-shim-corral-v2
else
  corral=$from/corral shim=$from/containerd-shim-corral-v2
fi
root="$destdir$prefix"
install -D -m 0755 "$corral" "$root/bin/corral"
install -D -m 0755 "$shim" "$root/bin/containerd-shim-corral-v2"
install -d "$root/share/bash-completion/completions" "$root/share/zsh/site-functions" \
  "$root/share/fish/vendor_completions.d" "$root/share/man/man8"
"$corral" completion bash > "$root/share/bash-completion/completions/corral"
"$corral" completion zsh > "$root/share/zsh/site-functions/_corral"
"$corral" completion fish > "$root/share/fish/vendor_completions.d/corral.fish"
"$corral" man "$root/share/man/man8" > /dev/null
echo "installed corral into $root (bin, completions, man8)"
