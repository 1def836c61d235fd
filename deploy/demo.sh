#!/usr/bin/env bash
# Builds cairn (installing Debian packages when missing) and runs the storage
# engine demo on ./data/storage-demo (or $CAIRN_DATA/storage-demo).
# The three-node cluster command arrives with the node daemon (cairnd).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/deploy/install-deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$(nproc)" --target cairn-storage-demo >/dev/null
exec "$top/build/bin/cairn-storage-demo" "${CAIRN_DATA:-$top/data}/storage-demo"
