#!/usr/bin/env bash
# The CUDA check, for a machine with an NVIDIA GPU (runtime/README.md, "CUDA"). A few minutes:
#   1. finds the CUDA 13 libraries (system folders, or the nvidia-* Python wheels' lib folders) and the CUDA build of
#      generate (artifacts/cuda/..., built here by `make build-cuda` when dotnet is present, or GENERATE=<path>);
#   2. generates 1,000 guided digits (100 per class, seed 0, DPM-Solver++ 20 steps, guidance 3, float32 graphs) on
#      CUDA and on the CPU and compares them pixel by pixel;
#   3. prints the time per denoising step at batch 1, 64 and 256 on CUDA, and the time for the 1,000 digits.
# Tolerance (CUDA against CPU, same seed and graphs): mean |difference| <= 1.0 grey level and >= 99% of pixels within
# 8 grey levels. cuDNN picks other convolution algorithms (and TF32 on Ampere or newer) than the CPU's MLAS, so the
# trajectories differ by rounding; 20 deterministic solver steps keep that small, and a larger gap means a bug.
# Exit 0 when the comparison holds, 1 when it does not, 2 when something is missing (one line says what).
# Usage: scripts/gpu-check.sh [model folder, default models/mnist] [output folder, default out/gpu-check]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-$root/models/mnist}"
out="${2:-$root/out/gpu-check}"
die() { echo "gpu-check: $*" >&2; exit 2; }

# 1. CUDA libraries from Python wheels (nvidia-cublas, nvidia-cudnn-cu13, ...), when the system has none.
if py="$(command -v python3)"; then
  wheel_libs="$("$py" - <<'EOF' 2>/dev/null || true
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
print(":".join(sorted({d for r in roots for d in glob.glob(os.path.join(r, "nvidia", "*", "lib")) if os.path.isdir(d)})))
EOF
)"
  [ -n "$wheel_libs" ] && export LD_LIBRARY_PATH="$wheel_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "gpu-check: nvidia-smi not found"

gen="${GENERATE:-$root/artifacts/cuda/bin/Diffusion.Generate.Cli/Release/net10.0/Diffusion.Generate.Cli}"
if [ ! -x "$gen" ]; then
  command -v dotnet >/dev/null || die "no CUDA build at $gen and no dotnet to build one: run 'make build-cuda' where .NET is, or set GENERATE"
  (cd "$root" && make --no-print-directory build-cuda >/dev/null)
fi
[ -x "$gen" ] || die "$gen not found after make build-cuda"
[ -f "$model/unet-guided.onnx" ] || die "$model/unet-guided.onnx not found (expected an exported model folder)"
rm -rf "$out"; mkdir -p "$out"

run() { # name, then generate's flags; prints generate's summary line and keeps it in $out/name.log
  local name="$1"; shift
  "$gen" generate --quiet --model "$model" --precision float32 --guidance 3 --steps 20 --sampler dpm++ --seed 0 \
    --format idx --out "$out/$name" "$@" > "$out/$name.log"
  grep -E ' images in ' "$out/$name.log"
}
seconds() { grep -oE 'images in [0-9.]+ s' "$out/$1.log" | awk '{print $3}'; }

# 2. 1,000 digits on CUDA and on the CPU.
echo "== 1,000 digits, CUDA"; run cuda --device cuda --per-class 100 --batch 256
echo "== 1,000 digits, CPU";  run cpu  --device cpu  --per-class 100 --batch 256
ok=0
python3 - "$out/cuda/images-idx3-ubyte" "$out/cpu/images-idx3-ubyte" <<'EOF' || ok=1
import sys
a, b = (open(p, "rb").read()[16:] for p in sys.argv[1:3])
assert len(a) == len(b) and len(a) > 0, "image files differ in size"
diffs = [abs(x - y) for x, y in zip(a, b)]
mean = sum(diffs) / len(diffs)
within = sum(d <= 8 for d in diffs) / len(diffs)
print(f"CUDA vs CPU: mean |diff| {mean:.3f} grey levels, max {max(diffs)}, {100 * within:.2f}% of pixels within 8 levels "
      f"(tolerance: mean <= 1.0, >= 99%)")
sys.exit(0 if mean <= 1.0 and within >= 0.99 else 1)
EOF

# 3. Per-step times on CUDA (20 steps, guided graph: one model call per step per batch).
echo "== per-step time on CUDA (guided graph, float32)"
for b in 1 64 256; do
  n=$(( b == 1 ? 16 : b )); per=$(( (n + 9) / 10 ))
  run "step-b$b" --device cuda --batch "$b" --per-class "$per" >/dev/null
  images=$(grep -oE '^[0-9]+ images' "$out/step-b$b.log" | awk '{print $1}')
  awk -v s="$(seconds "step-b$b")" -v n="$images" -v b="$b" \
    'BEGIN { calls = 20 * int((n + b - 1) / b); printf "batch %3d: %.3f ms per step (%d images, %.2f s, first call included)\n", b, 1000 * s / calls, n, s }'
done
echo "1,000 guided digits on CUDA (DPM-Solver++ 20, batch 256): $(seconds cuda) s; on the CPU: $(seconds cpu) s"
exit $ok
