#!/usr/bin/env bash
# Installs what the serving browser test needs: Debian's chromium (and node/npm if absent), then `npm ci` of
# tests/browser (playwright-core only; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: it must never fetch a browser of its own).
# apt-get runs through sudo unless root, and only for what is missing. No arguments.
#   bash scripts/install-browser-test.sh
set -euo pipefail
if [ $# -gt 0 ]; then
  case "$1" in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install-browser-test: no arguments (see --help)" >&2; exit 2 ;;
  esac
fi
cd "$(dirname "$0")/.."
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt) for the browser test"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
