#!/usr/bin/env bash
# Where a training step's time goes, convolutions against the rest, ours against the authors' blocks on PyTorch 1.13.
# Both sides run their convolutions in oneDNN (ours: libtorch 2.10's oneDNN 3.7.1; Debian's PyTorch 1.13: oneDNN
# 2.6.3), and oneDNN's verbose mode times every primitive it executes. So for each round this runs
# `parnet train-bench --steps 4` (2 warm-up steps + 4 timed) and the authors' blocks through the same PyTorch child that
# `train-bench --pytorch-code` uses, both with verbose timing on, and prints per step: the step (from each side's own
# timer), the summed convolution time by pass, and the rest (BatchNorm, element-wise ops, pooling, autograd, dispatch).
# The verbose printing slows both sides a little; compare within a round, never against a run without it.
#
#   bash bench/onednn-conv-split.sh --pytorch-code DIR [--threads 2] [--rounds 3] [--cli src/ParNet.Cli/bin/Release/net10.0/parnet.dll]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli="$here/../src/ParNet.Cli/bin/Release/net10.0/parnet.dll"; code=""; threads=2; rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --pytorch-code) [ -n "${2:-}" ] || { echo "onednn-conv-split: --pytorch-code needs a folder (see --help)" >&2; exit 2; }; code=$2; shift 2 ;;
    --threads) [ -n "${2:-}" ] || { echo "onednn-conv-split: --threads needs a number (see --help)" >&2; exit 2; }; threads=$2; shift 2 ;;
    --rounds) [ -n "${2:-}" ] || { echo "onednn-conv-split: --rounds needs a number (see --help)" >&2; exit 2; }; rounds=$2; shift 2 ;;
    --cli) [ -n "${2:-}" ] || { echo "onednn-conv-split: --cli needs the parnet command (see --help)" >&2; exit 2; }; cli=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "onednn-conv-split: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$code" ] || { echo "onednn-conv-split: --pytorch-code DIR (a checkout of github.com/imankgoyal/NonDeepNetworks) is required" >&2; exit 2; }
[ -d "$code" ] || { echo "onednn-conv-split: --pytorch-code $code: no such folder" >&2; exit 2; }
[ -f "$cli" ] || { echo "onednn-conv-split: $cli not found: build first (dotnet build ParNet.slnx -c Release)" >&2; exit 2; }
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null \
  || { echo "onednn-conv-split: /usr/bin/python3 has no torch: apt-get install python3-torch" >&2; exit 2; }
logs=$(mktemp -d); trap 'rm -rf "$logs"' EXIT
# a side that fails says so, with the end of its log (the logs are temporary: removed when the script ends)
failed() { echo "onednn-conv-split: round $1, $2 failed; the end of its log:" >&2; tail -20 "$3" >&2; exit 1; }
# the fashion-mnist network of train-bench's default, as train-bench hands it to the child
reference=("$here/pytorch/pytorch_train_reference.py" --code "$code" --planes 16,32,64 --blocks 3,4,4 --final-width 64
  --in-channels 1 --classes 10 --activation silu --sse true --image-size 32 --batch 128 --warmup 2 --steps 4
  --channels-last true --threads "$threads")
for r in $(seq 1 "$rounds"); do
  echo "round $r at $(date -u +%H:%M:%S) UTC" >&2
  ONEDNN_VERBOSE=1 dotnet "$cli" train-bench --steps 4 --threads "$threads" > "$logs/$r-ours.log" 2>&1 \
    || failed "$r" "parnet train-bench" "$logs/$r-ours.log"
  DNNL_VERBOSE=1 /usr/bin/python3 "${reference[@]}" > "$logs/$r-authors.log" 2>&1 \
    || failed "$r" "the authors' blocks on PyTorch (bench/pytorch/pytorch_train_reference.py)" "$logs/$r-authors.log"
done
head -1 "$logs/1-ours.log"   # train-bench's cpu line
python3 - "$logs" "$threads" <<'EOF'
import collections, glob, json, os, re, sys
logs, threads = sys.argv[1], sys.argv[2]
PASSES = ("forward_training", "backward_data", "backward_weights")
def split(path):
    conv, step = collections.defaultdict(float), None
    for line in open(path):
        if ",exec," in line and ",convolution," in line:
            fields = line.strip().split(",")
            conv[next(f for f in fields if f in PASSES)] += float(fields[-1]) / 6   # 2 warm-up + 4 timed steps
        elif line.startswith("{"):
            j = json.loads(line)
            step = sum(sum(j[k]) / len(j[k]) for k in ("forward_s", "backward_s", "update_s")) * 1000
        elif (m := re.search(r"forward (\d+) ms, backward (\d+) ms, update (\d+) ms", line)):
            step = sum(map(int, m.groups()))
    return step, conv
print(f"threads {threads}; ms per step (convolutions: oneDNN's own timing, mean of 6 steps)")
print("| round | side | step | convolutions (forward / backward-data / backward-weights) | the rest | step ratio |")
print("|---:|---|---:|---|---:|---:|")
for r in sorted({os.path.basename(p).split("-")[0] for p in glob.glob(f"{logs}/*.log")}, key=int):
    rows = {side: split(f"{logs}/{r}-{side}.log") for side in ("ours", "authors")}
    for side, (step, c) in rows.items():
        total = sum(c.values())
        ratio = f"{rows['authors'][0] / step:.2f}x" if side == "ours" else ""
        print(f"| {r} | {side} | {step:.0f} | {total:.1f} ({c['forward_training']:.1f} / {c['backward_data']:.1f} / "
              f"{c['backward_weights']:.1f}) | {step - total:.1f} | {ratio} |")
EOF
