#!/usr/bin/env bash
# setup.sh — installs what building and testing agrad needs, from Debian's packages, only
# where missing. Works as root or, through sudo, as a normal user. Nothing else is downloaded.
set -euo pipefail

PACKAGES=(gcc libc6-dev meson ninja-build pkg-config libcriterion-dev libxxhash-dev
          libjansson-dev zlib1g-dev valgrind python3 dataset-fashion-mnist clang
          libclang-rt-14-dev)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "setup: need root to install: ${missing[*]} (run as root, or install sudo)" >&2
    exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
