#!/usr/bin/env bash
# Prepares a dotnet that can load TorchSharp 0.107.0 on hosts whose libstdc++ is older than GCC 13
# (Debian 12). libLibTorchSharp.so needs GLIBCXX_3.4.32; instead of touching the system we unpack
# Debian trixie's libc6 / libstdc++6 / libgcc-s1 into .tools/glibc and make a private copy of the
# dotnet root whose `dotnet` muxer uses that loader and library path. Every TorchSharp process
# (dotnet run, dotnet test) must run with .tools/dotnet first on PATH.
#
# Usage: scripts/torchsharp-env.sh          prepare (idempotent, quiet when done), print nothing
#        scripts/torchsharp-env.sh --print  prepare, then print the dotnet directory to put on PATH
# On hosts whose libstdc++ already has GLIBCXX_3.4.32 it does nothing and prints the system dotnet's dir.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Canonical path: a worktree may link .tools to another checkout's, and the patched muxer must name a loader path
# that outlives the worktree.
tools="$(readlink -f "$root/.tools")"
glibc="$tools/glibc"
dotdir="$tools/dotnet"
stamp="$tools/.torchsharp-env-ok"
print=0; [ "${1:-}" = "--print" ] && print=1

sys_dotnet="$(command -v dotnet || true)"
[ -n "$sys_dotnet" ] || { echo "torchsharp-env: dotnet not found on PATH" >&2; exit 1; }
sys_root="$(dirname "$(readlink -f "$sys_dotnet")")"
# With this script's own copy first on PATH (as the README says for TorchSharp processes), `dotnet` resolves to
# the copy itself: the real root is the one recorded in the stamp. Never treat the copy as the system root, or the
# rebuild below would delete the folder it copies from.
own="$(readlink -f "$dotdir" 2>/dev/null || echo "$dotdir")"
if [ "$sys_root" = "$own" ]; then
  [ -f "$stamp" ] && sys_root="$(head -n1 "$stamp")" || sys_root=""
  [ -n "$sys_root" ] && [ "$sys_root" != "$own" ] && [ -x "$sys_root/dotnet" ] \
    || { echo "torchsharp-env: the dotnet on PATH is this script's copy ($own); put the system dotnet first on PATH" >&2; exit 1; }
fi

# (awk reads all input: an early exit would SIGPIPE ldconfig and fail the pipeline under pipefail)
libstdcxx="$( (/sbin/ldconfig -p 2>/dev/null || true) | awk '/libstdc\+\+\.so\.6 .*x86-64/ && !f {print $NF; f=1}')"
[ -n "$libstdcxx" ] || libstdcxx=/usr/lib/x86_64-linux-gnu/libstdc++.so.6
if grep -q GLIBCXX_3.4.32 "$libstdcxx" 2>/dev/null; then
  [ $print = 1 ] && echo "$sys_root"
  exit 0
fi

lib="$glibc/usr/lib/x86_64-linux-gnu"
loader="$lib/ld-linux-x86-64.so.2"
# Done already when the stamp names this system dotnet and the loader the copy was patched with, and that loader exists.
if [ -f "$stamp" ] && [ -x "$dotdir/dotnet" ] && [ "$(head -n1 "$stamp")" = "$sys_root" ] \
   && [ "$(sed -n 2p "$stamp")" = "$loader" ] && [ -e "$loader" ]; then
  [ $print = 1 ] && echo "$dotdir"
  exit 0
fi

log() { echo "torchsharp-env: $*" >&2; }
mkdir -p "$tools"

# 1. GCC 13+ runtime libraries from Debian trixie, unpacked (not installed).
if [ ! -f "$glibc/usr/lib/x86_64-linux-gnu/libstdc++.so.6" ]; then
  log "fetching libc6, libstdc++6, libgcc-s1 from Debian trixie into $glibc"
  mirror="$( (grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
              grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}') \
            | grep -v security | head -n1 || true)"
  [ -n "$mirror" ] || mirror="http://deb.debian.org/debian"
  apt="$tools/apt"; rm -rf "$apt"; mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
  echo "deb $mirror trixie main" > "$apt/sources.list"
  opts=(-o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq)
  apt-get "${opts[@]}" update >/dev/null
  (cd "$apt/debs" && apt-get "${opts[@]}" download libc6 libstdc++6 libgcc-s1 >/dev/null)
  rm -rf "$glibc"; mkdir -p "$glibc"
  for d in "$apt"/debs/*.deb; do dpkg -x "$d" "$glibc"; done
  rm -rf "$apt"
fi
[ -e "$loader" ] || { log "no loader at $loader"; exit 1; }

# 2. A real copy of the dotnet root (hard links when possible) with a patched muxer.
if ! command -v patchelf >/dev/null; then
  log "installing patchelf (Debian package)"
  apt-get install -y -qq patchelf >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq patchelf >/dev/null; }
fi
# A copy of this same system dotnet whose muxer names another loader (e.g. .tools moved) only needs a new muxer;
# it is swapped in by rename, so processes running from the copy keep their files.
if ! { [ -f "$stamp" ] && [ -x "$dotdir/dotnet" ] && [ "$(head -n1 "$stamp")" = "$sys_root" ]; }; then
  rm -rf "$dotdir"
  cp -al "$sys_root" "$dotdir" 2>/dev/null || { rm -rf "$dotdir"; cp -a "$sys_root" "$dotdir"; }
fi
rm -rf "$tools/muxer.new"; mkdir -p "$tools/muxer.new"   # the muxer refuses to run under another file name
cp "$sys_root/dotnet" "$tools/muxer.new/dotnet"
patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$lib" "$tools/muxer.new/dotnet"
mv -f "$tools/muxer.new/dotnet" "$dotdir/dotnet"; rmdir "$tools/muxer.new"
"$dotdir/dotnet" --version >/dev/null
printf '%s\n%s\n' "$sys_root" "$loader" > "$stamp"
[ $print = 1 ] && echo "$dotdir"
exit 0
