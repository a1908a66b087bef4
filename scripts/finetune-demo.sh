#!/usr/bin/env bash
# Transfer learning on Fashion-MNIST (issue 12's demo): pretrain the main job's network on classes 0-4 (30,000 images),
# then learn classes 5-9 from 100 images per class (500 images), three ways, each with seeds 0, 1, 2 (a seed picks the
# 500 images, the new head's initialization and the order):
#   fine-tuned   recipe finetune (LR 0.01, 30 epochs, batch 64) from the pretrained weights
#   linear probe the same with --freeze backbone (the classifier alone trains; BN statistics stay)
#   from scratch recipe fashion-mnist (LR 0.1, warm-up 1) with the same images, epochs, batch and +-2 px shift
# (--padding 2 on the pretraining and from-scratch runs: the finetune recipe's shift, and the recipe's when RESULTS.md measured this)
# and reports top-1 on the 5,000 test images of classes 5-9. Measured: RESULTS.md. About 20 minutes on 2 cores.
#   bash scripts/finetune-demo.sh            # PRETRAIN_EPOCHS=5 SEEDS="0 1 2" OUT=runs/finetune-demo
set -euo pipefail
case "${1:-}" in
  "") ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "finetune-demo: no arguments (settings are PRETRAIN_EPOCHS, SEEDS and OUT in the environment; see --help)" >&2; exit 2 ;;
esac
case "${OUT:-}" in ""|/*) ;; *) OUT="$PWD/$OUT" ;; esac   # the caller's folder; the script runs from the repository root
cd "$(dirname "$0")/.."
PRETRAIN_EPOCHS=${PRETRAIN_EPOCHS:-5}
SEEDS=${SEEDS:-"0 1 2"}
OUT=${OUT:-runs/finetune-demo}
bash scripts/install-data.sh
dotnet build -c Release src/ParNet.Cli >/dev/null
mkdir -p "$OUT"
parnet() { dotnet run -c Release --no-build --project src/ParNet.Cli -- "$@"; }

state="$OUT/pretrain/checkpoints/last/state.json"
if [[ ! -f "$state" ]]; then
  parnet train --classes 0-4 --padding 2 --epochs "$PRETRAIN_EPOCHS" --eval-every "$PRETRAIN_EPOCHS" --out "$OUT/pretrain" > "$OUT.pretrain.log"
elif ! grep -q '"Finished": true' "$state"; then   # stopped before its last epoch: continue it
  parnet train --resume "$OUT/pretrain" >> "$OUT.pretrain.log"
fi
pretrained="$OUT/pretrain/checkpoints/last/model.safetensors"
small=(--classes 5-9 --subset 100 --epochs 30 --batch-size 64 --eval-every 30)
top1() { parnet eval --run "$1" | grep -m1 -o 'top-1 [0-9.]*%' | cut -d' ' -f2; }

echo "| seed | fine-tuned | linear probe | from scratch |"
echo "|---:|---:|---:|---:|"
for seed in $SEEDS; do
  rm -rf "$OUT/finetune-$seed" "$OUT/probe-$seed" "$OUT/scratch-$seed"
  parnet train --recipe finetune "${small[@]}" --seed "$seed" --pretrained "$pretrained" --out "$OUT/finetune-$seed" > /dev/null
  parnet train --recipe finetune "${small[@]}" --seed "$seed" --pretrained "$pretrained" --freeze backbone --out "$OUT/probe-$seed" > /dev/null
  parnet train --recipe fashion-mnist --padding 2 "${small[@]}" --seed "$seed" --out "$OUT/scratch-$seed" > /dev/null
  echo "| $seed | $(top1 "$OUT/finetune-$seed") | $(top1 "$OUT/probe-$seed") | $(top1 "$OUT/scratch-$seed") |"
done
