#!/usr/bin/env bash
# Installs the Debian packages the tests and the benchmark use, when missing:
# age (interop checks), rclone (benchmark peer), time (peak RSS in benchmarks),
# jq (the by-hand volume restore of docs/volumes.md, run as a test),
# chromium (the HTML report's headless browser test), containerd (ctr imports
# the controller image in its tests), util-linux and mount (unshare and
# mount: the test bed's Node runs node-agent in mount namespaces).
# Needs root (or sudo) only when something is missing.
set -euo pipefail
pkgs=(age rclone time jq openssl ca-certificates chromium containerd util-linux mount)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
