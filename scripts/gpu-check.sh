#!/usr/bin/env bash
# The prepared GPU check (issue 17; docs/gpu.md says when and how to run it).
#
#   scripts/gpu-check.sh --prepare   a CPU machine with Node (CI runs it): writes the fixtures (tiny GGUF
#                                    models and the CPU engine's outputs on them) into .gpu-check/fixtures,
#                                    then does the dry run below.
#   scripts/gpu-check.sh --dry-run   everything up to the GPU itself: the CUDA variant of the checks and
#                                    the benchmark compiles (when nvcc is here), the same checks run on the
#                                    emulated device (src/cuda/emu) against the fixtures, the benchmark runs
#                                    at tiny widths, the PyTorch peer's imports are checked; the table
#                                    shows "-" where a GPU number belongs.
#   scripts/gpu-check.sh             the GPU machine (no Node): builds for the local GPU, runs every op's
#                                    and the engine's comparisons (cuBLAS and own kernels), the fixtures,
#                                    compute-sanitizer memcheck and racecheck on short cases, then times the
#                                    engine against PyTorch + PEFT at Qwen2.5-7B widths (T = 2048) and the
#                                    loss kernel against the unfused PyTorch path; one table last.
#                                    Carry .gpu-check/fixtures to that machine with the working tree.
# Exits non-zero when a check fails. Timings are printed, never asserted.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.gpu-check"
fixtures="$out/fixtures"
mode=gpu
case "${1:-}" in
  --prepare) mode=prepare ;;
  --dry-run) mode=dry ;;
  "") ;;
  *) echo "usage: scripts/gpu-check.sh [--prepare | --dry-run]" >&2; exit 64 ;;
esac
jobs=$(nproc)
[ "$mode" = gpu ] || jobs=2
failures=()
declare -A result

step() { printf '\n== %s\n' "$*"; }
# Runs a check, keeping its output in $out/logs; a failure is remembered and the check goes on.
check() {
  local name=$1
  shift
  local log="$out/logs/${name// /_}.log"
  step "$name"
  if "$@" >"$log" 2>&1; then
    tail -n 3 "$log"
    result[$name]=ok
  else
    tail -n 25 "$log"
    result[$name]="FAILED (log: ${log#$root/})"
    failures+=("$name")
  fi
}
kv() { grep -h "^$1=" "$out"/logs/*.log 2>/dev/null | tail -n 1 | cut -d= -f2-; }

mkdir -p "$out/logs"
start=$(date +%s)

if [ "$mode" = prepare ]; then
  step "fixtures (tiny GGUF models, the CPU engine's outputs) -> ${fixtures#$root/}"
  [ -f "$root/dist/train/index.js" ] || (cd "$root" && npm run build:ts) || exit 1
  node "$root/scripts/gpu-check-prepare.mjs" "$fixtures" || exit 1
  mode=dry
fi

blas=none
[ -f /usr/lib/x86_64-linux-gnu/libopenblas.a ] && [ -f /usr/include/x86_64-linux-gnu/cblas.h -o -d /usr/include/x86_64-linux-gnu/openblas-pthread ] && blas=openblas-static

if [ "$mode" = dry ]; then
  emu="$out/build-emu"
  emu_targets="test_ops_gpu_emu test_engine_gpu_emu bench_gpu_emu"
  if [ -f "$root/native/build-tests/CMakeCache.txt" ]; then
    # npm run test:native's tree (CI runs it just before) already holds the core and the emulated device:
    # building the three binaries there skips compiling the core and the emulated device a second time.
    emu="$root/native/build-tests"
    check "build (emulated device)" cmake --build "$emu" -j"$jobs" --target $emu_targets
  else
    check "build (emulated device)" bash -c "cmake -S '$root/native' -B '$emu' -DSPOGW_BUILD_TESTS=ON -DSPOGW_BUILD_ADDON=OFF -DSPOGW_CUDA=OFF -DSPOGW_BLAS=$blas --log-level=WARNING && cmake --build '$emu' -j$jobs --target $emu_targets"
  fi
  if command -v nvcc >/dev/null; then
    # One real architecture keeps the compile short; the GPU run builds for its own (native).
    cuda="$out/build-cuda-compile"
    check "build (CUDA, compile only)" bash -c "cmake -S '$root/native' -B '$cuda' -DSPOGW_BUILD_TESTS=ON -DSPOGW_BUILD_ADDON=OFF -DSPOGW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DSPOGW_BLAS=$blas --log-level=WARNING && cmake --build '$cuda' -j$jobs --target test_ops_gpu_cuda test_engine_gpu_cuda bench_gpu_cuda"
  else
    result["build (CUDA, compile only)"]="skipped: no nvcc on this machine"
  fi
  check "engine vs CPU engine fixtures (emulated)" "$emu/test_engine_gpu_emu" --fixtures "$fixtures"
  # The ops and the engine's own checks run in npm run test:native; here one of each shows the binaries work.
  check "ops (emulated, one check)" "$emu/test_ops_gpu_emu" "gpu attention vs cpu"
  check "bench plumbing (emulated, tiny)" "$emu/bench_gpu_emu" --layers 1 --tokens 8 --hidden 32 --heads 2 --kv-heads 1 --ff 32 --vocab 64 --rank 2 --runs 1
  check "PyTorch peer imports" python3 "$root/scripts/gpu/torch_peer.py" --check
  if [ "${result["PyTorch peer imports"]}" = ok ]; then
    missing=$(kv torch_peer_missing)
    if [ -n "$missing" ]; then result["PyTorch peer imports"]="missing here: $missing"; else result["PyTorch peer imports"]="ready: $(kv torch_peer_ready)"; fi
  fi
  card="(no GPU: dry run)"
else
  build="$out/build"
  check "build (local GPU)" bash -c "cmake -S '$root/native' -B '$build' -DSPOGW_BUILD_TESTS=ON -DSPOGW_BUILD_ADDON=OFF -DSPOGW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=native -DSPOGW_BLAS=$blas --log-level=WARNING && cmake --build '$build' -j$jobs --target test_ops_gpu_cuda test_engine_gpu_cuda bench_gpu_cuda"
  cublas_dir=$(python3 -c "import nvidia.cublas, os; print(os.path.join(os.path.dirname(nvidia.cublas.__file__), 'lib'))" 2>/dev/null || true)
  export SPOGW_CUBLAS_DIR="$cublas_dir"
  check "ops vs CPU ops (cuBLAS)" "$build/test_ops_gpu_cuda"
  check "ops vs CPU ops (own kernels)" env SPOGW_DISABLE_CUBLAS=1 "$build/test_ops_gpu_cuda"
  check "engine vs CPU engine (cuBLAS)" "$build/test_engine_gpu_cuda"
  check "engine vs CPU engine (own kernels)" env SPOGW_DISABLE_CUBLAS=1 "$build/test_engine_gpu_cuda"
  check "engine vs CPU engine fixtures" "$build/test_engine_gpu_cuda" --fixtures "$fixtures"
  for tool in memcheck racecheck; do
    check "compute-sanitizer $tool (attention, loss)" compute-sanitizer --tool "$tool" --error-exitcode 1 \
      "$build/test_ops_gpu_cuda" "gpu attention backward"
    check "compute-sanitizer $tool (engine)" compute-sanitizer --tool "$tool" --error-exitcode 1 \
      env SPOGW_DISABLE_CUBLAS=1 "$build/test_engine_gpu_cuda" "gpu engine qwen2 bf16 mode"
  done
  check "bench: ours (Qwen2.5-7B widths, T=2048)" "$build/bench_gpu_cuda"
  check "bench: PyTorch + PEFT (same shapes)" python3 "$root/scripts/gpu/torch_peer.py"
  card=$(kv device)
fi

gib() { [ -n "$1" ] && awk -v b="$1" 'BEGIN { printf "%.2f GiB", b / 2^30 }' || echo -; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo -; }
or_dash() { [ -n "$1" ] && echo "$1" || echo -; }

step "summary ($(date -u +%Y-%m-%d), $card, $(($(date +%s) - start)) s)"
for name in "${!result[@]}"; do printf '  %-48s %s\n' "$name" "${result[$name]}"; done | sort
if [ "$mode" = gpu ]; then
  ours=$(kv engine_fwd_bwd_tokens_per_s) torch=$(kv torch_engine_fwd_bwd_tokens_per_s)
  printf '\n%-44s %-16s %-16s %s\n' "Qwen2.5-7B widths, T=2048, LoRA r8 x7" "ours" "PyTorch+PEFT" "ours/peer"
  printf '%-44s %-16s %-16s %s\n' "fwd+bwd tokens/s" "$(or_dash "$ours")" "$(or_dash "$torch")" "$(ratio "$ours" "$torch")"
  printf '%-44s %-16s %-16s\n' "peak device memory" "$(gib "$(kv engine_peak_bytes)")" "$(gib "$(kv torch_engine_peak_bytes)")"
  printf '%-44s %-16s %-16s %s\n' "loss kernel, T=2048 V=152064: seconds" "$(or_dash "$(kv loss_s)")" "$(or_dash "$(kv torch_loss_s)")" \
    "$(ratio "$(kv torch_loss_s)" "$(kv loss_s)") faster"
  printf '%-44s %-16s %-16s\n' "loss kernel: workspace beyond inputs" "$(gib "$(kv loss_workspace_bytes)")" "$(gib "$(kv torch_loss_workspace_bytes)")"
else
  printf '\n%-44s %-16s %-16s %s\n' "Qwen2.5-7B widths, T=2048, LoRA r8 x7" "ours" "PyTorch+PEFT" "ours/peer"
  for row in "fwd+bwd tokens/s" "peak device memory" "loss kernel, T=2048 V=152064: seconds" "loss kernel: workspace beyond inputs"; do
    printf '%-44s %-16s %-16s %s\n' "$row" - - -
  done
  echo "(dry run: the numbers need the GPU machine)"
fi
if [ ${#failures[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failures[*]}"
  exit 1
fi
