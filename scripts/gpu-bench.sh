#!/usr/bin/env bash
# The paper's GPU latency table (Table 3: ParNet on one GPU, and one stream per GPU) with ONNX Runtime's CUDA execution
# provider, in at most about 5 minutes on a machine with an NVIDIA GPU:
#   1. builds the CLI against Microsoft.ML.OnnxRuntime.Gpu.Linux (-p:OnnxRuntimeGpu=true) into build-gpu/ (the CPU build is untouched);
#   2. for fused ParNet-S/M/L/XL at 224, batch 1: the whole graph on CUDA device 0 (row onnx-cuda; replayed as a CUDA
#      graph: onnx-cuda-graph), and one ONNX Runtime
#      session per stream at once (row onnx-cuda-streams: streams on devices 0,1,2 where there are 3 GPUs, else each on
#      device 0 with its own CUDA stream), beside ONNX Runtime on the CPU (onnx-sequential);
#   3. writes results/gpu/MODEL/bench.{md,json,png} and prints the tables.
# Needs the NVIDIA driver (libcuda.so.1), CUDA 13 (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10: what
# `ldd libonnxruntime_providers_cuda.so` of Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0 names) and cuDNN 9 (libcudnn.so.9,
# opened at run time) where the dynamic loader finds them: ONNX Runtime's CUDA build does not ship them.
# Status (2026-12-04): not yet run. It needs the .NET 10 SDK and NuGet (or a restored package cache) on the GPU machine;
# the machines lent to this project (a Python CUDA 13 image, no .NET, no network, 64 MiB of files per
# call) have neither: there scripts/gpu-pack.sh and scripts/gpu-device.sh ran the same engines (RESULTS.md, "GPU").
# The paper's numbers to set beside ours (RTX 3090): ParNet-L fused 6.50 ms on one GPU, 4.01 ms on three.
#   bash scripts/gpu-bench.sh        (no arguments; GPU_BENCH_SECONDS=300: seconds for the whole script, build included)
set -euo pipefail
if [ $# -gt 0 ]; then
  case "$1" in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu-bench: no arguments (the time limit is GPU_BENCH_SECONDS in the environment; see --help)" >&2; exit 2 ;;
  esac
fi
cd "$(dirname "$0")/.."
deadline=$((SECONDS + ${GPU_BENCH_SECONDS:-300}))

command -v nvidia-smi >/dev/null || { echo "gpu-bench: no nvidia-smi: this machine has no NVIDIA driver" >&2; exit 1; }
nvidia-smi -L
gpus=$(nvidia-smi -L | wc -l)
missing=()
for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do
  # the system's cache, or a folder of LD_LIBRARY_PATH (pip's nvidia-* wheels of a Python CUDA image live there)
  found=$(ldconfig -p | grep -c "$lib" || true)
  for dir in $(printf %s "${LD_LIBRARY_PATH:-}" | tr : " "); do [ -e "$dir/$lib" ] && found=1; done
  [ "$found" -gt 0 ] || missing+=("$lib")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu-bench: ONNX Runtime's CUDA build needs ${missing[*]} on the loader path (CUDA 13, cuDNN 9); install them or add their folder to LD_LIBRARY_PATH" >&2
  exit 1
fi

dotnet build src/ParNet.Cli -c Release -p:OnnxRuntimeGpu=true -o build-gpu 2>&1 | tail -3
parnet=build-gpu/parnet
devices=""
[ "$gpus" -ge 3 ] && devices="--cuda-devices 0,1,2"

for model in parnet_s parnet_m parnet_l parnet_xl; do
  left=$((deadline - SECONDS))
  if [ "$left" -lt 20 ]; then echo "gpu-bench: time is up before $model" >&2; break; fi
  # shellcheck disable=SC2086  # $devices is empty or two words
  timeout "$left" "$parnet" bench --model "$model" --image-size 224 --only onnx-sequential,onnx-cuda,onnx-cuda-graph,onnx-cuda-streams \
    --rounds 50 --throughput-rounds 4 --batch-size 8 $devices --out "results/gpu/$model" 2> >(grep -v NNPACK >&2) | sed -n '/^| variant/,/^$/p'
done
