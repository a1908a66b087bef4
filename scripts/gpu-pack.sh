#!/usr/bin/env bash
# Packs what scripts/gpu-device.sh needs on a lent GPU machine (an Ubuntu image with CUDA 13, cuDNN 9 and PyTorch in
# Python; no .NET, no network; each call carries the repository (25 MB) plus files, 64 MiB in all) into folders
# that .git/info/exclude ignores, one per call:
#   .device/a  the first part of ONNX Runtime's CUDA provider (xz, 43.5 MB: over the 64 MiB beside the repository unless
#              the 7.9 MB timm fixture, tests/fixtures/*.pth.tar, is out of the working tree for that call);
#              the authors' simplenet_impl (from --pytorch-code DIR: carried, never committed)
#   .device/b  the provider's second part (8 MB); the `onnx-cuda` bench suite; the weightless graphs of fused
#              ParNet-S/M/L/XL (the weights, ~800 MB, are refilled there)                                      (~30 MB)
#   .device/c  the provider's second part again; the `parnet` CLI; an exported model (--onnx M.onnx, default a random
#              parnet_cifar_small for Fashion-MNIST) and a test image, for predict and serve on CUDA           (~44.5 MB:
#              over the limit beside the repository: leave the 7.9 MB timm fixture out of the working tree for it)
# Each app is published self-contained against ONNX Runtime's CUDA build (dotnet publish -p:OnnxRuntimeGpu=true -r
# linux-x64: the .NET runtime inside) without libtorch (the runs there never load it: the suite's device half, and the
# CLI given an .onnx file) and with only the assemblies its runs map (read from /proc/PID/maps here; the pruned app is
# then run here to prove it). The provider (284 MB) fits only as its Hopper code: scripts/keep_cuda_arch.py zeroes the
# other architectures' code (77 MB kept), so the pack runs on sm_90 GPUs (H100, H200) only.
# Usage: bash scripts/gpu-pack.sh --pytorch-code DIR [--onnx M.onnx]        (3.5 minutes on a 2-core Zen 4, mostly xz)
set -euo pipefail
caller=$PWD   # the paths given are the caller's, relative or not; the script runs from the repository root
from_caller() { case "$1" in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }
code="" onnx=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pytorch-code) [ -n "${2:-}" ] || { echo "gpu-pack: --pytorch-code needs a folder (see --help)" >&2; exit 2; }
                    code=$(from_caller "$2"); shift 2 ;;
    --onnx) [ -n "${2:-}" ] || { echo "gpu-pack: --onnx needs a file (see --help)" >&2; exit 2; }
            onnx=$(from_caller "$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu-pack: unknown argument $1 (usage: bash scripts/gpu-pack.sh --pytorch-code DIR [--onnx M.onnx]; see --help)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
[ -n "$code" ] || { echo "gpu-pack: --pytorch-code DIR (a checkout of the authors' NonDeepNetworks) is required" >&2; exit 2; }
[ -d "$code" ] || { echo "gpu-pack: --pytorch-code $code: no such folder" >&2; exit 2; }
impl=$(find "$code" -type d -name simplenet_impl | head -1)
[ -n "$impl" ] || { echo "gpu-pack: no simplenet_impl folder under $code" >&2; exit 1; }
[ -z "$onnx" ] || [ -f "$onnx" ] || { echo "gpu-pack: --onnx $onnx: no such file" >&2; exit 1; }
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
rm -rf .device && mkdir -p .device/a .device/b .device/c
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1

echo "gpu-pack: graphs, model and image with the CPU build" >&2
dotnet run -c Release --project bench/ParNet.Bench -- onnx-cuda --write-graphs --graphs "$work/graphs" >&2
if [ -z "$onnx" ]; then
  dotnet run -c Release --project src/ParNet.Cli -- export --model parnet_cifar_small --fused --dataset fashion-mnist --out "$work/model.onnx" >&2
  onnx="$work/model.onnx"
fi
python3 - "$work/image.png" <<'EOF'   # a 28x28 grey test image (a gradient with a bright square), written with zlib alone
import struct, sys, zlib
rows = b''.join(b'\0' + bytes(min(255, 8 * x + 4 * y + (120 if 8 <= x < 20 and 6 <= y < 22 else 0)) for x in range(28)) for y in range(28))
chunk = lambda kind, data: struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 28, 28, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
EOF

# Publishes PROJECT self-contained with ONNX Runtime's CUDA build into $work/NAME-publish.
publish() { dotnet publish "$1" -c Release -r linux-x64 --self-contained -p:OnnxRuntimeGpu=true -o "$work/$2-publish" 2>&1 | grep -E " error " >&2 || true; }
# The .dll files the published app EXE maps while running with ARGS, polled from /proc/PID/maps until it exits; its pid
# goes to $work/mapped.pid (for the caller that has to stop it: serve).
mapped() {
  local exe=$1; shift
  "$exe" "$@" >/dev/null 2>&1 &
  local pid=$!
  echo $pid > "$work/mapped.pid"
  while kill -0 $pid 2>/dev/null; do grep -o '[^/]*\.dll$' /proc/$pid/maps 2>/dev/null || true; sleep 0.1; done
  wait $pid || true   # the CUDA runs fail here (no GPU): expected; the caller's 2>/dev/null hides what the shell says of it
}
# Copies into $work/NAME the host, runtime, ONNX Runtime and EXTRA native libraries and the assemblies listed on stdin.
assemble() {
  local name=$1 exe=$2; shift 2
  local from="$work/$name-publish" to="$work/$name"
  mkdir -p "$to"
  cp "$from/$exe" "$from/$exe.deps.json" "$from/$exe.runtimeconfig.json" "$to/"
  for lib in coreclr clrjit hostfxr hostpolicy System.Native System.Globalization.Native System.IO.Compression.Native \
             System.Security.Cryptography.Native.OpenSsl System.Net.Security.Native onnxruntime onnxruntime_providers_shared "$@"; do
    cp "$from/lib$lib.so" "$to/"
  done
  sort -u | while read -r dll; do cp "$from/$dll" "$to/"; done
}

echo "gpu-pack: the bench suite and the CLI, published against ONNX Runtime's CUDA build" >&2
publish bench/ParNet.Bench bench
publish src/ParNet.Cli cli
bench="$work/bench-publish/ParNet.Bench"
{ mapped "$bench" onnx-cuda --graphs "$work/graphs" --models parnet_s --rows cpu,cpu-streams --rounds 1 --warmup 1
  mapped "$bench" onnx-cuda --graphs "$work/graphs" --models parnet_s --rows cuda --rounds 1 --warmup 1; } 2>/dev/null | assemble bench ParNet.Bench
cli="$work/cli-publish/parnet" port=$((20000 + RANDOM % 20000))
{ mapped "$cli" predict --weights "$onnx" --json "$work/image.png"
  mapped "$cli" predict --weights "$onnx" --engine onnxruntime-cuda "$work/image.png"
  mapped "$cli" serve --weights "$onnx" --port $port &   # until the request below is answered
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf -H "Content-Type: image/png" --data-binary @"$work/image.png" "http://127.0.0.1:$port/v1/predict" >/dev/null || true
  kill "$(cat "$work/mapped.pid")" 2>/dev/null || true; wait; } 2>/dev/null | assemble cli parnet SkiaSharp

check=$("$work/bench/ParNet.Bench" onnx-cuda --graphs "$work/graphs" --models parnet_s --rows cpu,cpu-streams --rounds 1 --warmup 1 2>&1 | tail -1)
case "$check" in "| parnet_s (3 streams) | cpu-streams |"*) ;; *) echo "gpu-pack: the pruned bench does not run here: $check" >&2; exit 1 ;; esac
"$work/cli/parnet" predict --weights "$onnx" --json "$work/image.png" > "$work/predict.json" \
  || { echo "gpu-pack: the pruned CLI does not run here: $(cat "$work/predict.json")" >&2; exit 1; }
"$work/cli/parnet" serve --weights "$onnx" --port $port > "$work/serve.log" 2>&1 &   # serve too: it must not need libtorch
serve=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
answer=$(curl -sf -H "Content-Type: image/png" --data-binary @"$work/image.png" "http://127.0.0.1:$port/v1/predict" || true)
kill $serve 2>/dev/null; wait $serve 2>/dev/null || true
[ -n "$answer" ] || { echo "gpu-pack: the pruned CLI does not serve here: $(grep -v '^ *at ' "$work/serve.log" | head -3)" >&2; exit 1; }
echo "gpu-pack: pruned apps run here: bench $(du -sh "$work/bench" | cut -f1), CLI $(du -sh "$work/cli" | cut -f1)" >&2

native="$HOME/.nuget/packages/microsoft.ml.onnxruntime.gpu.linux/1.31.0/runtimes/linux-x64/native"
python3 scripts/keep_cuda_arch.py "$native/libonnxruntime_providers_cuda.so" "$work/libonnxruntime_providers_cuda.so" --arch 90
xz -9 -T0 -c "$work/libonnxruntime_providers_cuda.so" > "$work/provider.xz"
split -b 43500000 -d -a 1 "$work/provider.xz" "$work/provider.xz."   # .0 (call one), .1 (call two)
cp "$work/provider.xz.0" .device/a/
cp "$work/provider.xz.1" .device/b/
cp "$work/provider.xz.1" .device/c/
mkdir -p .device/a/authors && cp -r "$impl" .device/a/authors/
tar -cf - -C "$work" bench | xz -9 -T0 > .device/b/bench.tar.xz
cp -r "$work/graphs" .device/b/graphs
tar -cf - -C "$work" cli | xz -9 -T0 > .device/c/cli.tar.xz
cp "$onnx" .device/c/model.onnx
[ ! -f "$onnx.json" ] || cp "$onnx.json" .device/c/model.onnx.json   # a sidecar (class names, preprocessing), if any
cp "$work/image.png" .device/c/
( cd .device && sha256sum a/provider.xz.0 b/provider.xz.1 b/bench.tar.xz > b/SHA256SUMS \
             && sha256sum a/provider.xz.0 c/provider.xz.1 c/cli.tar.xz > c/SHA256SUMS )
du -sh .device/a .device/b .device/c >&2
# each call carries the working tree too; the device tool refused 67.04 MB in all (and took 66.07 MB) on 2026-12-04
tree=$({ git ls-files -z; git ls-files -z --others --exclude-standard; } | du -cb --files0-from=- | tail -1 | cut -f1)
for part in a b c; do
  bytes=$((tree + $(du -sb ".device/$part" | cut -f1)))
  [ "$bytes" -le 66500000 ] || echo "gpu-pack: warning: .device/$part with the working tree is $((bytes / 1000)) kB, at or over the device tool's 64 MiB a call: leave files the call does not read (tests/fixtures/*.pth.tar) out of the working tree for that call, or pack a smaller --onnx" >&2
done
