#!/usr/bin/env bash
# SHA-256 fingerprints of the pipeline's observable behaviour, for refactorings that must not change it
# (issue 14: "behaviour unchanged, byte for byte"). Run before and after a change and diff the two outputs.
#   (a) the float32 and int8 graphs exported from one fixed checkpoint: one epoch (20 steps) of scripts/behaviour-config.json
#       (the quick config as it was, pinned)
#       on the first 2,560 MNIST images, one thread, seed 0 (the checkpoint's own hash is printed too: if it moved,
#       training changed, and the graph hashes cannot be compared). The source commit that the checkpoint and the
#       graphs record (and the int8 graphs' hash of their float32 file, which records it too) is blanked before
#       hashing, so that two commits with the same behaviour print the same lines; the graphs' checkpoint identity
#       (diffusion.checkpoint_sha256 / _step, added for issue 15) is removed;
#   (b) the IDX output of one fixed generate command on models/mnist;
#   (c) the output lines of make gate on both release models, with the wall-clock part "generation N s" removed.
# Usage: scripts/behaviour-hashes.sh   (about 1.5 minutes on 2 cores; works in /tmp/diffusion-behaviour, a fixed
#        absolute path because the checkpoint and the graphs' metadata name the run folder). Needs python3-onnx (make setup).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=/tmp/diffusion-behaviour
cd "$root"
rm -rf "$work"; mkdir -p "$work"
h() { sha256sum "$@" | sed "s|  $work/|  |"; }
# SHA-256 of a checkpoint without its source commit (format: Checkpoint.cs; BinaryWriter strings are 7-bit-length prefixed)
# and of ONNX graphs with diffusion.source_commit and diffusion.quantized_from blanked.
normalized() {
  /usr/bin/python3 - "$work" "$@" <<'PY'
import hashlib, sys, onnx
work = sys.argv[1]
def read_string(b, i):
    n = shift = 0
    while True:
        c = b[i]; i += 1; n |= (c & 0x7F) << shift; shift += 7
        if c < 0x80: return b[i:i + n], i + n
for path in sys.argv[2:]:
    if path.endswith(".ckpt"):
        b = open(path, "rb").read()[52:]               # magic 8 + version 4 + length 8 + sha256 32
        config, i = read_string(b, 0)
        _, j = read_string(b, i)                      # the source commit
        data = config + b[j:]
    else:
        m = onnx.load(path)
        for p in m.metadata_props:
            if p.key in ("diffusion.source_commit", "diffusion.quantized_from"): p.value = ""
        # the checkpoint's identity (issue 15: its SHA-256, which covers its source commit, and its step) is removed,
        # so that the graphs compare with the baseline made before those keys existed
        keep = [p for p in m.metadata_props if p.key not in ("diffusion.checkpoint_sha256", "diffusion.checkpoint_step")]
        del m.metadata_props[:]
        m.metadata_props.extend(keep)
        data = m.SerializeToString(deterministic=True)
    print(f"{hashlib.sha256(data).hexdigest()}  {path.replace(work + '/', '')}")
PY
}

make --no-print-directory train ARGS="--config scripts/behaviour-config.json --out $work/run --epochs 1 --threads 1 --max-train-images 2560 --sample-every 0 --plain" > "$work/train.log" 2>&1 \
  || { cat "$work/train.log" >&2; exit 1; }
make --no-print-directory export ARGS="--checkpoint $work/run/checkpoints/last.ckpt --out $work/model --data data/mnist" > "$work/export.log" 2>&1 \
  || { cat "$work/export.log" >&2; exit 1; }
echo "# (a) fixed checkpoint and its exported graphs, source commit blanked"
normalized "$work/run/checkpoints/last.ckpt" "$work"/model/*.onnx

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
