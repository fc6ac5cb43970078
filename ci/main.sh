#!/usr/bin/env bash
# The main job: set-up, build, then run the op-eval suite and write reports/op-matrix.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/build.sh
./build/bin/mill-harness op-eval --json reports/op-matrix.json --md reports/op-matrix.md "$@"
