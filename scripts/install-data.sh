#!/usr/bin/env bash
# Installs Fashion-MNIST (Debian package dataset-fashion-mnist, with apt-get; through sudo unless root) into
# /usr/share/datasets/fashion-mnist if it is not already there; does nothing when it is. No arguments.
#   bash scripts/install-data.sh
set -euo pipefail
if [ $# -gt 0 ]; then
  case "$1" in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install-data: no arguments (see --help)" >&2; exit 2 ;;
  esac
fi
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; then
  exit 0
fi
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
echo "installing Fashion-MNIST (apt package dataset-fashion-mnist) into $dir"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq dataset-fashion-mnist >/dev/null
