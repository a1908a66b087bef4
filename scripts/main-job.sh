#!/usr/bin/env bash
# The main job: install Fashion-MNIST if missing, train the default ParNet (recipe fashion-mnist), evaluate it,
# print the test accuracy, the time taken and the run folder. Measured on 2 cores (RESULTS.md, "Fashion-MNIST: the main
# job"; the README's table): AMD Zen 3 (family 25 model 1, AVX2 only, the slower CPU kind) 93.51-93.87% in 9 min 58 s -
# 13 min 25 s (4 runs); AMD Zen 4 (family 25 model 17) 93.51-93.87% in 7 min 48 s - 12 min 41 s (20 runs); AMD Zen 5
# (family 26 model 2) 93.56-94.01% in 7 min 5 s - 12 min 34 s (33 runs); on one thread of a Zen 4, 93.30%.
# Longer run (target >= 95%; 95.10% in 2 h 35 min on 2026-12-06, Zen 5, other work beside it; 95.11% on 2026-11-26 with
# that day's recipe, RESULTS.md): EPOCHS=36 WIDTH=32 TIME_BUDGET=0 TRAIN_ARGS="--padding 2 --erasing 0.3 --ema-decay 0.9995 --eval-every 6" bash scripts/main-job.sh
# No arguments; the settings are environment variables:
#   RUN_DIR      the run folder (default runs/main-YYYYMMDD-HHMMSS in the repository; a relative one is the caller's;
#                one that holds a run already is refused: continue that run with `parnet train --resume RUN_DIR`)
#   EPOCHS       epochs (default: the recipe's, 8)
#   WIDTH        the network's width (default: the recipe's, 16)
#   TIME_BUDGET  minutes the LR schedule must fit in (default 12; 0: none)
#   TRAIN_ARGS   any further `parnet train` options, e.g. "--erasing 0.3 --seed 1"
#   bash scripts/main-job.sh
set -euo pipefail
if [ $# -gt 0 ]; then
  case "$1" in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "main-job: no arguments; settings are environment variables, see --help" >&2; exit 2 ;;
  esac
fi
start=$(date +%s)
RUN_DIR=${RUN_DIR:-}
case "$RUN_DIR" in ""|/*) ;; *) RUN_DIR="$PWD/$RUN_DIR" ;; esac   # a RUN_DIR given relative is the caller's
cd "$(dirname "$0")/.."
RUN_DIR=${RUN_DIR:-runs/main-$(date +%Y%m%d-%H%M%S)}                 # default: in the repository's runs/
EPOCHS=${EPOCHS:-}
WIDTH=${WIDTH:-}
TIME_BUDGET=${TIME_BUDGET:-12}   # minutes the LR schedule must fit in (0: none): 8 epochs train in 6-9 min on 2 cores of
                                 # Zen 4/5 (RESULTS.md), 9 on Zen 3 in its fast hour; a slower
                                 # machine anneals by the clock and ends early, complete, instead of running over 15 min
TRAIN_ARGS=${TRAIN_ARGS:-}       # any further `parnet train` options, e.g. "--erasing 0.3 --seed 1"

bash scripts/install-data.sh
dotnet build -c Release src/ParNet.Cli >/dev/null

args=(train --recipe fashion-mnist --out "$RUN_DIR")
[[ -n "$EPOCHS" ]] && args+=(--epochs "$EPOCHS")
[[ -n "$WIDTH" ]] && args+=(--width "$WIDTH")
[[ "$TIME_BUDGET" != "0" ]] && args+=(--schedule-budget "$TIME_BUDGET")
read -r -a extra <<< "$TRAIN_ARGS"
args+=("${extra[@]}")
# Each step runs in the background while the script waits, so that SIGTERM or SIGINT to this script (timeout(1), a
# supervisor, Ctrl-C) reaches it: bash runs a trap only once a foreground step ends, and without one dies and leaves it
# running. The step gets SIGTERM for either (a background step ignores SIGINT): `parnet train` saves a checkpoint, exits 143.
parnet=(dotnet run -c Release --no-build --project src/ParNet.Cli --)   # passes SIGTERM on to the app, waits, exits with its code
step=""   # the step running, if any
stop() {  # $1: the exit code when no step runs
  code=$1
  if [ -n "$step" ]; then
    kill -TERM $(jobs -p) 2>/dev/null || true   # jobs -p: the step's first process, the app (not the eval's tee)
    code=0; wait "$step" || code=$?
  fi
  echo "main-job: stopped; $next" >&2
  exit "$code"
}
trap 'stop 143' TERM; trap 'stop 130' INT
next="continue the run with: parnet train --resume $(realpath -m "$RUN_DIR")"
"${parnet[@]}" "${args[@]}" & step=$!; wait "$step"; step=""
next="it is trained; evaluate it with: parnet eval --run $(realpath -m "$RUN_DIR")"
"${parnet[@]}" eval --run "$RUN_DIR" | tee "$RUN_DIR/eval.txt" & step=$!; wait "$step"; step=""
trap - TERM INT

end=$(date +%s)
acc=$(grep -m1 -o 'top-1 [0-9.]*%' "$RUN_DIR/eval.txt" | cut -d' ' -f2)
echo "main job: Fashion-MNIST test accuracy $acc, total time $(( (end - start) / 60 ))m$(( (end - start) % 60 ))s, run folder $(realpath "$RUN_DIR")"
