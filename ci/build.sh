#!/usr/bin/env bash
# Installs dependencies (Debian 12 packages), configures and builds into build/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
cmake --build build -j"$(nproc)"
