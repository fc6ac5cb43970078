#!/usr/bin/env bash
# CTest driver for the ONNX node-test conformance suite (label onnx-conformance).
# usage: run_onnx_conformance.sh MILL_HARNESS WORK_DIR MIN_PASS
# Generates ONNX 1.12's 922 backend node tests into WORK_DIR/data with /usr/bin/python3, runs them through
# the ONNX frontend + reference interpreter and fails when fewer than MIN_PASS pass. Exit 77 (skip) when
# python3-onnx is missing; ci/setup.sh installs it, so CI never skips.
set -euo pipefail
harness=$1 work=$2 min_pass=$3
here=$(cd "$(dirname "$0")" && pwd)
if ! /usr/bin/python3 -c 'import onnx, numpy' >/dev/null 2>&1; then
  echo "SKIP: /usr/bin/python3 cannot import onnx/numpy (apt-get install python3-onnx python3-numpy, or run ci/setup.sh)"
  exit 77
fi
rm -rf "$work/data"
mkdir -p "$work"
/usr/bin/python3 "$here/gen_onnx_node_tests.py" -o "$work/data" >/dev/null
"$harness" onnx-conformance --data "$work/data/node" --json "$work/onnx-conformance.json" \
  --md "$work/onnx-conformance.md" --min-pass "$min_pass" --quiet
