#!/usr/bin/python3
"""Generates ONNX's backend node tests (model.onnx + test_data_set_0/*.pb) offline into OUTDIR.

onnx 1.12 ships the generators but not the data, and its `backend-test-tools generate-data` crashes on
numpy 1.24 (np.float and friends were removed); the aliases below restore them for the generators only.
Usage: /usr/bin/python3 tools/gen_onnx_node_tests.py -o OUTDIR   (exit 77 when python3-onnx is missing)
"""
import sys

try:
    import numpy as np
    import onnx  # noqa: F401
except ImportError as e:  # the CTest wrapper turns 77 into a skip with this reason
    print(f"SKIP: python3-onnx / numpy not importable ({e}); install with ci/setup.sh", file=sys.stderr)
    sys.exit(77)

for name, t in (("float", float), ("int", int), ("bool", bool), ("object", object), ("str", str),
                ("complex", complex)):
    if not hasattr(np, name):
        setattr(np, name, t)

from onnx.backend.test import cmd_tools  # noqa: E402

sys.argv = ["backend-test-tools", "generate-data"] + sys.argv[1:]
cmd_tools.main()
