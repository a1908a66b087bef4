#!/usr/bin/env bash
# Fuzzes every reader of untrusted files with AFL++ through SharpFuzz, SECONDS_PER_TARGET each (default 300), from a seed
# corpus of valid files; then replays each target's crashes and prints a table (executions, paths found, crashes).
# Needs root or sudo once (apt-get install afl++). Not part of CI: CI keeps the crafted bad files as regression tests instead.
#   bash fuzz/run.sh                                  # all targets, 5 minutes each
#   SECONDS_PER_TARGET=60 TARGETS="idx image" bash fuzz/run.sh
# No arguments; the settings are environment variables: SECONDS_PER_TARGET (300), TARGETS (all nine: idx idx-labels cifar
# safetensors safetensors-metadata pt image config yaml) and OUT (build/fuzz, relative to the repository root: builds, seeds, findings, AFL logs).
set -euo pipefail
if [ $# -gt 0 ]; then
  case "$1" in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "fuzz/run.sh: no arguments (settings are SECONDS_PER_TARGET, TARGETS and OUT in the environment; see --help)" >&2; exit 2 ;;
  esac
fi
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-300}
TARGETS=${TARGETS:-"idx idx-labels cifar safetensors safetensors-metadata pt image config yaml"}
OUT=${OUT:-build/fuzz}

sudo_cmd=""   # as scripts/install-data.sh: apt-get through sudo unless root (it failed on apt's lock file otherwise)
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
command -v afl-fuzz >/dev/null || { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq afl++ >/dev/null; }
export PATH="$PATH:$HOME/.dotnet/tools"
command -v sharpfuzz >/dev/null || dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0 >/dev/null

# Two copies: bin/ instrumented for AFL (its code writes coverage into AFL's shared memory, so it only runs under
# afl-fuzz), plain/ for writing the seeds and replaying the crashes.
rm -rf "$OUT/bin" "$OUT/plain"
dotnet build fuzz/ParNet.Fuzz -c Release -o "$OUT/plain" >/dev/null
cp -r "$OUT/plain" "$OUT/bin"
# AFL edge-coverage instrumentation, in place, of the readers only: the library's module initializer (native setup) runs
# before the fork server has mapped the coverage memory, so it must stay uninstrumented
sharpfuzz "$OUT/bin/ParNet.Core.dll" ParNet.Data ParNet.Weights ParNet.Models >/dev/null
rm -rf "$OUT/seeds" && dotnet "$OUT/plain/parnet-fuzz.dll" seeds "$OUT/seeds" tests/fixtures

# AFL's checks that do not apply to a .NET target run in a VM: the binary is `dotnet`, the CPU governor is the host's.
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
echo "| target | seconds | executions | paths | crashes | hangs |"
echo "|---|---:|---:|---:|---:|---:|"
status=0
for t in $TARGETS; do
  rm -rf "$OUT/findings/$t" && mkdir -p "$OUT/findings"
  afl-fuzz -V "$SECONDS_PER_TARGET" -i "$OUT/seeds/$t" -o "$OUT/findings/$t" -t 10000 -m none \
    -- "$(command -v dotnet)" "$OUT/bin/parnet-fuzz.dll" "$t" > "$OUT/afl-$t.log" 2>&1 || true
  stats="$OUT/findings/$t/default/fuzzer_stats"
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats" 2>/dev/null; }
  echo "| $t | $SECONDS_PER_TARGET | $(get execs_done) | $(get corpus_count) | $(get saved_crashes) | $(get saved_hangs) |"
  crashes="$OUT/findings/$t/default/crashes"
  if [[ -d "$crashes" ]] && ls "$crashes" | grep -qv README; then
    dotnet "$OUT/plain/parnet-fuzz.dll" "$t" --replay "$crashes" | sed 's/^/    /' || status=1
  fi
done
exit $status
