#!/usr/bin/env bash
# Installs the Debian packages kvscope needs to build, test and run, if any are missing.
# Called by `make run` and `make test` (and so by CI); safe to run again: it does nothing when
# everything is present.
set -eu
pkgs=(build-essential pkg-config libsdl2-dev libcairo2-dev libpango1.0-dev libcriterion-dev
      libavcodec-dev libavformat-dev libavfilter-dev libswscale-dev libavutil-dev
      fonts-dejavu-core xvfb xdotool x11-apps poppler-utils clang clang-format)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "kvscope: setup: missing packages: ${missing[*]}; run 'sudo make setup' or install them with apt-get" >&2
    exit 1
fi
echo "kvscope: setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
