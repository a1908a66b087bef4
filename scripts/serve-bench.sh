#!/usr/bin/env bash
# Load benchmark of `parnet serve` on loopback with wrk (Debian package wrk): throughput and p50/p95/p99 latency for the
# Fashion-MNIST model and ParNet-S at 224, at concurrency 1, 4 and 16, micro-batching on (--max-batch 8) vs off
# (--max-batch 1), torch vs onnxruntime; then the server's RSS before and after 10,000 requests.
# Usage: scripts/serve-bench.sh FASHION_WEIGHTS [SECONDS_PER_CELL] > results/serve/bench.jsonl   (RSS_ONLY=1: memory run only)
#   FASHION_WEIGHTS: a trained fashion-mnist model (e.g. a run's checkpoints/best/model.safetensors); ParNet-S is served
#   randomly initialized (--model parnet_s: its answers are meaningless, its speed is not).
# Bounded: each cell runs SECONDS_PER_CELL (default 8) with one wrk thread; the client shares the machine's cores.
# Needs wrk and curl (apt-get install wrk curl).
set -euo pipefail
case "${1:-}" in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  -*) echo "serve-bench: unknown option $1 (usage: scripts/serve-bench.sh FASHION_WEIGHTS [SECONDS_PER_CELL]; see --help)" >&2; exit 2 ;;
esac
[ $# -le 2 ] || { echo "serve-bench: at most two arguments, FASHION_WEIGHTS [SECONDS_PER_CELL] (see --help)" >&2; exit 2; }
[ -n "${1:-}" ] || { echo "serve-bench: FASHION_WEIGHTS is required (usage: scripts/serve-bench.sh FASHION_WEIGHTS [SECONDS_PER_CELL]; see --help)" >&2; exit 2; }
fm_weights=$1
case "$fm_weights" in /*) ;; *) fm_weights="$PWD/$fm_weights" ;; esac   # the caller's path; the script runs from the repository root
[ -f "$fm_weights" ] || { echo "serve-bench: FASHION_WEIGHTS $fm_weights: no such file" >&2; exit 2; }
cd "$(dirname "$0")/.."
seconds=${2:-8}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 2; }
parnet=(dotnet src/ParNet.Cli/bin/Release/net10.0/parnet.dll)
[ -f "${parnet[1]}" ] || dotnet build src/ParNet.Cli/ParNet.Cli.csproj -c Release -v q >&2
log=$(mktemp)
server="" client="" out=""
# on any exit, an interrupted one too: no server and no wrk client left running (the RSS run's client runs for up to an
# hour in the background), no temporary file left; SIGINT and SIGTERM end the script through it
cleanup() {
  [ -z "$client" ] || kill "$client" 2>/dev/null || true
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  rm -f "$log" ${out:+"$out"}
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_server() {   # args: serve options. Sets server (its PID) and url: serve picks a free port (--port 0) and prints it,
                   # so a second run, or any other server on a fixed port, is never the one measured
  : >"$log"
  # libtorch warns about NNPACK on every convolution on CPUs it does not know; keep the log readable
  "${parnet[@]}" serve --port 0 "$@" > >(cat >>"$log") 2> >(grep --line-buffered -v NNPACK >>"$log") &
  server=$! url=""
  for _ in $(seq 1 600); do
    [ -n "$url" ] || url=$(grep -o -m1 'listening on http://[^ ]*' "$log" | cut -d' ' -f3 | sed 's#/$##' || true)
    if [ -n "$url" ] && curl -sf "$url/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  echo "server not ready after 120 s" >&2; cat "$log" >&2; exit 1
}

stop_server() { kill -TERM "$server"; wait "$server" || true; server=""; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

cpu_field() { grep -m1 -E "^$1[[:space:]]*:" /proc/cpuinfo | cut -d: -f2 | xargs; }
echo "# $(cpu_field 'model name') (family $(cpu_field 'cpu family') model $(cpu_field 'model')); $(nproc) cores; flags: $(grep -o -w 'avx512f\|avx512_bf16\|avx512_vnni' /proc/cpuinfo | sort -u | xargs)" >&2
models=(fashion parnet_s)
[ "${RSS_ONLY:-0}" = 1 ] && models=()   # RSS_ONLY=1: only the memory run at the end
for model in "${models[@]}"; do
  if [ "$model" = fashion ]; then source_args=(--weights "$fm_weights"); image=bench/serve/fashion-mnist-test-0.png
  else source_args=(--model parnet_s); image=bench/serve/synthetic-256.png; fi
  for engine in torch onnxruntime; do
    for max_batch in 8 1; do
      start_server "${source_args[@]}" --engine "$engine" --max-batch "$max_batch" --queue-capacity 64
      for c in 1 4 16; do
        IMAGE=$image CELL="$model $engine max-batch=$max_batch c=$c" \
          wrk -t1 -c"$c" -d"${seconds}s" --timeout 30s -s bench/serve/post-image.lua "$url" | grep '^{'
      done
      stop_server
    done
  done
done

served_200() {   # requests answered 200 so far (the server's own Prometheus counter)
  curl -s "$url/metrics" | awk '/^http_requests_received_total\{code="200"/ {s+=$2} END {print s+0}'
}

run_count() {   # args: N CELL: exactly N responses at concurrency 16 (the Lua script stops its thread after N; wrk's
                # main thread sleeps out -d, so SIGINT, which it handles by printing its summary, ends it once they are in)
  local n=$1 cell=$2 target
  target=$(( $(served_200) + n ))
  out=$(mktemp)
  IMAGE=bench/serve/fashion-mnist-test-0.png MAX_REQUESTS=$n CELL=$cell \
    wrk -t1 -c16 -d3600s --timeout 30s -s bench/serve/post-image.lua "$url" >"$out" &
  client=$!
  while [ "$(served_200)" -lt "$target" ]; do sleep 1; done
  sleep 1
  kill -INT "$client"; wait "$client" || true
  client=""
  grep '^{' "$out"; rm -f "$out"; out=""
}

# RSS: the Fashion-MNIST model on torch with batching, at concurrency 16: ready, after 1,000 requests, after 10,000 more
start_server --weights "$fm_weights" --engine torch --max-batch 8
ready=$(rss_kib "$server")
run_count 1000 "rss warm-up"
before=$(rss_kib "$server")
run_count 10000 "rss 10000"
after=$(rss_kib "$server")
echo "{\"cell\": \"rss\", \"ready_kib\": $ready, \"before_kib\": $before, \"after_10000_kib\": $after}"
stop_server
