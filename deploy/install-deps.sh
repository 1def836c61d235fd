#!/usr/bin/env bash
# Installs the Debian packages cairn builds and tests with, when any is
# missing. Needs root (or sudo) only when something must be installed.
set -euo pipefail

packages=(
    cmake make gcc clang pkg-config
    libclang-rt-14-dev # libFuzzer and the sanitizer runtimes for clang
    liblmdb-dev libmsgpack-dev libxxhash-dev libcmocka-dev
    libraft-dev libuv1-dev libjansson-dev libzstd-dev
    jq # checks the cairn CLI's --json output in tests/cluster/test_cli.sh
    libinih-dev # config file parser for cairnd
    libhttp-parser-dev # HTTP/1.1 parser under cairnd's HTTP API (node/http.c)
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        echo "missing packages (${missing[*]}) and not root: install them first" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
