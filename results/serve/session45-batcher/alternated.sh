#!/usr/bin/env bash
# A/B: fashion torch max-batch 8 at c=16 and c=4, 6 s cells, session 44's and 45's binaries alternated 3 times each
set -u
W=/work/mj/main/runs/main-20261206-211322/checkpoints/best/model.safetensors
for round in 1 2 3; do
  for side in old new; do
    dir=/work/sb45/old; [ $side = new ] && dir=/work/mj/main
    cd $dir
    log=$(mktemp)
    dotnet src/ParNet.Cli/bin/Release/net10.0/parnet.dll serve --port 0 --weights $W --engine torch --max-batch 8 --queue-capacity 64 > $log 2>&1 &
    srv=$!
    url=""
    for _ in $(seq 1 600); do
      [ -n "$url" ] || url=$(grep -o -m1 'listening on http://[^ ]*' "$log" | cut -d' ' -f3 | sed 's#/$##' || true)
      if [ -n "$url" ] && curl -sf "$url/readyz" >/dev/null 2>&1; then break; fi
      sleep 0.2
    done
    for c in 16 4; do
      IMAGE=bench/serve/fashion-mnist-test-0.png CELL="$side round$round c=$c" wrk -t1 -c$c -d6s --timeout 30s -s bench/serve/post-image.lua "$url" | grep '^{'
    done
    kill -TERM $srv; wait $srv; rm -f $log
  done
done
