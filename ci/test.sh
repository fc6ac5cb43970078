#!/usr/bin/env bash
# The whole test suite: set-up, build, then every CTest test (unit tests + op-eval cases).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup_peers.sh  # llama.cpp's ggml for the GGUF oracle tests; before build.sh's configure
bash ci/build.sh
ctest --test-dir build -j"$(nproc)" --output-on-failure --timeout 300
