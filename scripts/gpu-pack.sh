#!/usr/bin/env bash
# Packs what scripts/gpu-device.sh needs on a lent GPU machine (device/KINDS.md: an Ubuntu image with CUDA 13, cuDNN 9 and
# PyTorch in Python; no .NET, no network; each call carries the repository plus at most 64 MiB of files in all) into two
# folders that .git/info/exclude ignores, one per call:
#   .device/a  the first part of ONNX Runtime's CUDA provider (xz); the authors' simplenet_impl (from --pytorch-code DIR, carried, never committed)
#   .device/b  its second part; the `onnx-cuda` bench suite published self-contained with ONNX Runtime's CUDA build
#              (dotnet publish -p:OnnxRuntimeGpu=true -r linux-x64: the .NET runtime in it, libtorch left out: the suite's
#              device half never loads it), only the assemblies a run maps (read from /proc/PID/maps here, and the app
#              rerun from the pruned folder to prove it); the weightless graphs of fused ParNet-S/M/L/XL (the weights,
#              ~800 MB, are refilled there)
# The provider (284 MB) fits only as its Hopper code: scripts/keep_cuda_arch.py zeroes the other architectures' code
# (77 MB kept), so the pack runs on sm_90 GPUs (H100, H200) only. Sizes at 2026-12-04: a 38 MB, b 36 MB (the repository itself is 22 MB).
# Usage: bash scripts/gpu-pack.sh --pytorch-code DIR        (about 5 minutes, mostly xz)
set -euo pipefail
cd "$(dirname "$0")/.."
code=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pytorch-code) code="$2"; shift 2 ;;
    *) echo "gpu-pack: unknown argument $1 (usage: bash scripts/gpu-pack.sh --pytorch-code DIR)" >&2; exit 2 ;;
  esac
done
[ -n "$code" ] || { echo "gpu-pack: --pytorch-code DIR (a checkout of the authors' NonDeepNetworks) is required" >&2; exit 2; }
impl=$(find "$code" -type d -name simplenet_impl | head -1)
[ -n "$impl" ] || { echo "gpu-pack: no simplenet_impl folder under $code" >&2; exit 1; }
grep -qx '/.device/' .git/info/exclude || echo '/.device/' >> .git/info/exclude
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
rm -rf .device && mkdir -p .device/a .device/b

echo "gpu-pack: the weightless graphs (CPU build), then the bench published against ONNX Runtime's CUDA build" >&2
dotnet run -c Release --project bench/ParNet.Bench -- onnx-cuda --write-graphs --graphs "$work/graphs" >&2
dotnet publish bench/ParNet.Bench -c Release -r linux-x64 --self-contained -p:OnnxRuntimeGpu=true -o "$work/publish" 2>&1 | grep -E " error |warn.*NU" >&2 || true
[ -x "$work/publish/ParNet.Bench" ] || { echo "gpu-pack: publish failed" >&2; exit 1; }
native="$HOME/.nuget/packages/microsoft.ml.onnxruntime.gpu.linux/1.31.0/runtimes/linux-x64/native"

# The app: runtime, the assemblies a run maps, ONNX Runtime's core library; no libtorch, Skia or ONNX Runtime's CUDA provider here
app="$work/app"; mkdir -p "$app"
cp "$work/publish"/{ParNet.Bench,ParNet.Bench.deps.json,ParNet.Bench.runtimeconfig.json} "$app/"
cp "$work/publish"/lib{coreclr,clrjit,hostfxr,hostpolicy,System.Native,System.Globalization.Native,System.IO.Compression.Native,System.Security.Cryptography.Native.OpenSsl,onnxruntime,onnxruntime_providers_shared}.so "$app/"
mapped() {   # the .dll files a run of the published app maps, polled from /proc/PID/maps
  DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$work/publish/ParNet.Bench" onnx-cuda --graphs "$work/graphs" --models parnet_s "$@" --runs 1 --warmup 1 >/dev/null 2>&1 &
  local pid=$!
  while kill -0 $pid 2>/dev/null; do grep -o '[^/]*\.dll$' /proc/$pid/maps 2>/dev/null || true; sleep 0.1; done
  wait $pid || true   # the cuda run fails here (no GPU): an unhandled exception, whose abort the caller's 2>/dev/null hides
}
{ mapped --rows cpu,cpu-streams; mapped --rows cuda; } 2>/dev/null | sort -u > "$work/assemblies"
while read -r dll; do cp "$work/publish/$dll" "$app/"; done < "$work/assemblies"
check=$(DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$app/ParNet.Bench" onnx-cuda --graphs "$work/graphs" --models parnet_s --rows cpu,cpu-streams --runs 1 --warmup 1 2>&1 | tail -1)
case "$check" in "| parnet_s (3 streams) | cpu-streams |"*) ;; *) echo "gpu-pack: the pruned app does not run here: $check" >&2; exit 1 ;; esac
echo "gpu-pack: app of $(wc -l < "$work/assemblies") assemblies runs here ($(du -sh "$app" | cut -f1))" >&2

python3 scripts/keep_cuda_arch.py "$native/libonnxruntime_providers_cuda.so" "$work/libonnxruntime_providers_cuda.so" --arch 90
xz -9 -T0 -c "$work/libonnxruntime_providers_cuda.so" > "$work/provider.xz"
split -b 38000000 -d -a 1 "$work/provider.xz" "$work/provider.xz."   # .0 (call one), .1 (call two)
mv "$work/provider.xz.0" .device/a/
mv "$work/provider.xz.1" .device/b/
tar -cf - -C "$work" app | xz -9 -T0 > .device/b/app.tar.xz
cp -r "$work/graphs" .device/b/graphs
mkdir -p .device/a/authors && cp -r "$impl" .device/a/authors/
( cd .device && sha256sum a/provider.xz.0 b/provider.xz.1 b/app.tar.xz > b/SHA256SUMS )
du -sh .device/a .device/b >&2
