#!/usr/bin/env bash
# The paper's Table 3 on a lent GPU machine (device/KINDS.md: CUDA 13, cuDNN 9 and PyTorch in Python; no .NET, no
# network), from what scripts/gpu-pack.sh packed, in two calls on the same warm machine (64 MiB of files per call):
#   bash scripts/gpu-device.sh pytorch   (carry .device/a) keeps the provider's first part in /tmp/parnet-gpu, prints what
#                                        the machine has, and times the authors' fused ParNet-S/M/L/XL on PyTorch CUDA
#                                        (bench/pytorch/pytorch_cuda_reference.py: whole forward, streams on CUDA streams,
#                                        CUDA graph replay)
#   bash scripts/gpu-device.sh dotnet    (carry .device/b, within the machine's 30 s warm window) checks and unpacks the
#                                        rest and runs `ParNet.Bench onnx-cuda`: our ONNX Runtime engines on the CPU and on
#                                        CUDA device 0 (whole graph; as a CUDA graph; a session per stream) for the same
#                                        four models, first all rows for the logits, then the CUDA rows alone for time
# Tables on stdout; with $OUT set (the device tool), logs in $OUT. On a machine whose GPU is not sm_90 the provider
# (Hopper code only) cannot run: the dotnet half refuses.
set -uo pipefail
cd "$(dirname "$0")/.."
stage=/tmp/parnet-gpu; mkdir -p "$stage"
out=${OUT:-$stage/out}; mkdir -p "$out"
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 PYTHONUNBUFFERED=1

# CUDA 13, cuDNN 9 and cuBLAS of the image (pip's nvidia-* wheels of its Python, or a toolkit) for ONNX Runtime's provider
cuda_library_path() {
  find /opt /usr/local /usr/lib -xdev \( -name 'libcudart.so.13' -o -name 'libcublas.so.13' -o -name 'libcublasLt.so.13' \
    -o -name 'libcurand.so.10' -o -name 'libcudnn.so.9' -o -name 'libnvrtc.so.13' \) 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd:
}

case "${1:-}" in
  pytorch)
    cp .device/a/provider.xz.0 "$stage/"
    {
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
      echo "CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
      echo "dotnet: $(command -v dotnet || echo none)"
      echo "CUDA library folders: $(cuda_library_path)"
    } 2>&1 | tee "$out/machine.txt"
    python3 bench/pytorch/pytorch_cuda_reference.py --code .device/a/authors \
      --fixture tests/fixtures/parnet_official_tiny_silu.safetensors 2>&1 | grep -v "^SimpNet\|^planes" | tee "$out/pytorch-cuda.md"
    ;;
  dotnet)
    cp .device/b/provider.xz.1 .device/b/app.tar.xz .device/b/SHA256SUMS "$stage/"
    [ -e "$stage/provider.xz.0" ] || { echo "gpu-device: $stage/provider.xz.0 is missing: the machine was not the one of the 'pytorch' call (run it again, then this at once)" >&2; exit 1; }
    ( cd "$stage" && sed 's# [ab]/# #' SHA256SUMS | sha256sum -c --quiet ) || { echo "gpu-device: the carried parts do not match gpu-pack's checksums" >&2; exit 1; }
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1)
    [ "$cap" = "9.0" ] || { echo "gpu-device: the packed CUDA provider holds sm_90 code only; this GPU is compute capability $cap" >&2; exit 1; }
    cat "$stage/provider.xz.0" "$stage/provider.xz.1" | xz -d > "$stage/libonnxruntime_providers_cuda.so.new"
    tar -xJf "$stage/app.tar.xz" -C "$stage"
    mv "$stage/libonnxruntime_providers_cuda.so.new" "$stage/app/libonnxruntime_providers_cuda.so"
    export LD_LIBRARY_PATH="$stage/app:$(cuda_library_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # every row once for the logits (the CUDA rows against the CPU's), then the CUDA rows alone for time: ONNX Runtime's
    # CPU sessions spin their threads after each run, which slowed the CUDA rows beside them (results/gpu/h200-2026-12-04)
    "$stage/app/ParNet.Bench" onnx-cuda --graphs .device/b/graphs --runs 3 --warmup 1 2>&1 | tee "$out/onnx-cuda-check.md"
    "$stage/app/ParNet.Bench" onnx-cuda --graphs .device/b/graphs --rows cuda,cuda-graph,cuda-streams --runs 100 --warmup 10 2>&1 | tee "$out/onnx-cuda.md"
    ;;
  *) echo "usage: bash scripts/gpu-device.sh pytorch|dotnet (see the header)" >&2; exit 2 ;;
esac
