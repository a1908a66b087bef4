#!/usr/bin/env bash
# The paper's Table 3 on a lent GPU machine (CUDA 13, cuDNN 9 and PyTorch in Python; no .NET, no
# network), from what scripts/gpu-pack.sh packed, in calls on the same warm machine (64 MiB of files per call):
#   bash scripts/gpu-device.sh pytorch   (carry .device/a) keeps the provider's first part in /tmp/parnet-gpu, prints what
#                                        the machine has, and times the authors' fused ParNet-S/M/L/XL on PyTorch CUDA
#                                        (bench/pytorch/pytorch_cuda_reference.py: whole forward, streams on CUDA streams,
#                                        CUDA graph replay)
#   bash scripts/gpu-device.sh dotnet    (carry .device/b, within the machine's 30 s warm window) checks and unpacks the
#                                        rest and runs `ParNet.Bench onnx-cuda`: our ONNX Runtime engines on the CPU and on
#                                        CUDA device 0 (whole graph; as a CUDA graph; a session per stream; on a machine
#                                        with several GPUs also a stream per GPU) for the same four models, first all
#                                        rows for the logits, then the CUDA rows alone for time
#   bash scripts/gpu-device.sh cli       (carry .device/c, instead of or after `dotnet`, each within 30 s of the last call)
#                                        `parnet predict` with --engine onnxruntime and onnxruntime-cuda (probabilities
#                                        compared), then `parnet serve` with each engine answering 300 requests in turn
#                                        (scripts/serve_check.py: answers checked against predict's, latency per request)
# Tables on stdout; with $OUT set (the device tool), logs in $OUT. On a machine whose GPU is not sm_90 the provider
# (Hopper code only) cannot run: the dotnet and cli modes refuse.
set -uo pipefail
case "${1:-}" in   # before anything is created
  pytorch|dotnet|cli) ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "usage: bash scripts/gpu-device.sh pytorch|dotnet|cli (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
# what the mode needs, before anything is created: the GPU machine's driver, and the folder gpu-pack.sh packed for it
command -v nvidia-smi >/dev/null \
  || { echo "gpu-device: no nvidia-smi: this machine has no NVIDIA driver (run this on the lent GPU machine; see --help)" >&2; exit 1; }
part=$(case "$1" in pytorch) echo a ;; dotnet) echo b ;; cli) echo c ;; esac)
[ -d ".device/$part" ] \
  || { echo "gpu-device: .device/$part is missing: pack it with scripts/gpu-pack.sh, then carry .device/$part to the GPU machine for '$1'" >&2; exit 1; }
stage=/tmp/parnet-gpu; mkdir -p "$stage"
out=${OUT:-$stage/out}; mkdir -p "$out"
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 PYTHONUNBUFFERED=1

# CUDA 13, cuDNN 9 and cuBLAS of the image (pip's nvidia-* wheels of its Python, or a toolkit) for ONNX Runtime's provider
cuda_library_path() {
  find /opt /usr/local /usr/lib -xdev \( -name 'libcudart.so.13' -o -name 'libcublas.so.13' -o -name 'libcublasLt.so.13' \
    -o -name 'libcurand.so.10' -o -name 'libcudnn.so.9' -o -name 'libnvrtc.so.13' \) 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd:
}

# Checks and unpacks carry FOLDER's provider part and APP (.tar.xz) into $stage/APP, the provider joined from both parts.
unpack() {
  local folder=$1 app=$2
  cp .device/$folder/provider.xz.1 .device/$folder/$app.tar.xz "$stage/"
  cp .device/$folder/SHA256SUMS "$stage/SHA256SUMS.$folder"
  [ -e "$stage/provider.xz.0" ] || { echo "gpu-device: $stage/provider.xz.0 is missing: the machine was not the one of the 'pytorch' call (run it again, then this at once)" >&2; exit 1; }
  ( cd "$stage" && sed 's# [abc]/# #' "SHA256SUMS.$folder" | sha256sum -c --quiet ) || { echo "gpu-device: the carried parts do not match gpu-pack's checksums" >&2; exit 1; }
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1)
  [ "$cap" = "9.0" ] || { echo "gpu-device: the packed CUDA provider holds sm_90 code only; this GPU is compute capability $cap" >&2; exit 1; }
  tar -xJf "$stage/$app.tar.xz" -C "$stage"
  cat "$stage/provider.xz.0" "$stage/provider.xz.1" | xz -d > "$stage/$app/libonnxruntime_providers_cuda.so"
  export LD_LIBRARY_PATH="$stage/$app:$(cuda_library_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
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
      --fixture tests/fixtures/parnet_official_tiny_silu.safetensors 2>&1 | grep -v "^Initializing ParNet with planes" | tee "$out/pytorch-cuda.md"
    ;;
  dotnet)
    unpack b bench
    # every row once for the logits (the CUDA rows against the CPU's), then the CUDA rows alone for time: ONNX Runtime's
    # CPU sessions spin their threads after each run, which slowed the CUDA rows beside them (results/gpu/h200-2026-12-04)
    # with several GPUs also the paper's placement, stream i on GPU i (the cuda-devices row)
    gpus=$(nvidia-smi -L | wc -l) all=cpu,cpu-streams,cuda,cuda-graph,cuda-streams timed=cuda,cuda-graph,cuda-streams
    [ "$gpus" -lt 2 ] || { all+=,cuda-devices; timed+=,cuda-devices; }
    "$stage/bench/ParNet.Bench" onnx-cuda --graphs .device/b/graphs --rows $all --gpus "$gpus" --rounds 3 --warmup 1 2>&1 | tee "$out/onnx-cuda-check.md"
    "$stage/bench/ParNet.Bench" onnx-cuda --graphs .device/b/graphs --rows $timed --gpus "$gpus" --rounds 100 --warmup 10 2>&1 | tee "$out/onnx-cuda.md"
    ;;
  cli)
    unpack c cli
    parnet="$stage/cli/parnet" model=.device/c/model.onnx image=.device/c/image.png
    "$parnet" predict --weights $model --json $image > "$out/predict-cpu.json"
    "$parnet" predict --weights $model --engine onnxruntime-cuda --json $image > "$out/predict-cuda.json"
    printf '%s\n' "| server | requests | median ms | p90 ms | min ms | server's median ms | answers vs predict --engine onnxruntime-cuda | largest difference |" \
      "|---|---:|---:|---:|---:|---:|---|---:|" | tee "$out/cli.md"
    for engine in onnxruntime-cuda onnxruntime; do   # a server each, as a user starts it; 300 requests one after another
      "$parnet" serve --weights $model --engine $engine --port 8123 > "$out/serve-$engine.log" 2>&1 &
      server=$!
      python3 scripts/serve_check.py --url http://127.0.0.1:8123 --image $image --requests 300 --label "serve --engine $engine" \
        --expect "$out/predict-cuda.json" 2>&1 | tee -a "$out/cli.md"
      kill $server; wait $server
    done
    python3 scripts/serve_check.py --compare "$out/predict-cpu.json" "$out/predict-cuda.json" 2>&1 | tee -a "$out/cli.md"
    ;;
  *) echo "usage: bash scripts/gpu-device.sh pytorch|dotnet|cli (see the header)" >&2; exit 2 ;;
esac
