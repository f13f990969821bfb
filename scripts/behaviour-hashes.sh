#!/usr/bin/env bash
# SHA-256 fingerprints of the pipeline's observable behaviour, for refactorings that must not change it
# (issue 14: "behaviour unchanged, byte for byte"). Run before and after a change and diff the two outputs.
#   (a) the float32 and int8 graphs exported from one fixed checkpoint: one epoch (20 steps) of configs/mnist-quick.json
#       on the first 2,560 MNIST images, one thread, seed 0 (the checkpoint's own hash is printed too: if it moved,
#       training changed, and the graph hashes cannot be compared);
#   (b) the IDX output of one fixed generate command on models/mnist;
#   (c) the output lines of make gate on both release models, with the wall-clock part "generation N s" removed.
# Usage: scripts/behaviour-hashes.sh   (about 1.5 minutes on 2 cores; works in out/behaviour, a fixed path because
#        the checkpoint and the graphs' metadata name the run folder: compare runs made in the same checkout folder)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$root/out/behaviour"
cd "$root"
rm -rf "$work"; mkdir -p "$work"
h() { sha256sum "$@" | sed "s|  $work/|  |"; }

make --no-print-directory train ARGS="--config configs/mnist-quick.json --out $work/run --epochs 1 --threads 1 --max-train-images 2560 --sample-every 0 --plain" > "$work/train.log" 2>&1 \
  || { cat "$work/train.log" >&2; exit 1; }
make --no-print-directory export ARGS="--checkpoint $work/run/checkpoints/last.ckpt --out $work/model --data data/mnist" > "$work/export.log" 2>&1 \
  || { cat "$work/export.log" >&2; exit 1; }
echo "# (a) fixed checkpoint and its exported graphs"
h "$work/run/checkpoints/last.ckpt" "$work"/model/*.onnx

make --no-print-directory generate ARGS="--model models/mnist --per-class 10 --seed 7 --steps 20 --guidance 3 --format idx --quiet --out $work/generate" > "$work/generate.log" 2>&1 \
  || { cat "$work/generate.log" >&2; exit 1; }
echo "# (b) make generate --model models/mnist --per-class 10 --seed 7 --steps 20 --guidance 3 --format idx"
h "$work"/generate/*-ubyte

echo "# (c) make gate output lines (both release models), clock times and durations removed"
for args in "" "--model models/fashion-mnist --threshold 0.93"; do
  make --no-print-directory gate ARGS="$args" 2>&1 | grep -vE '^(make|dotnet|fetch-data)' > "$work/gate.log"
  # one text (the console wraps long lines), without the time of day and the generation time
  tr '\n' ' ' < "$work/gate.log" | sed -E 's/[0-9]{2}:[0-9]{2}:[0-9]{2} //g; s/, generation +[0-9.]+ +s//g; s/ +/ /g' > "$work/gate.txt"
  echo "$(sha256sum < "$work/gate.txt" | cut -c1-64)  gate ${args:-(mnist)}"
done
