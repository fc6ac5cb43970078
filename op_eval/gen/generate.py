#!/usr/bin/env python3
"""Regenerates the op-eval cases: /usr/bin/python3 op_eval/gen/generate.py [--out DIR] [family ...]

Each family module (op_eval/gen/<family>.py) defines generate(emit). Expected outputs come from NumPy
and PyTorch (Debian python3-numpy / python3-torch); outputs are deterministic (fixed seeds)."""
import argparse
import importlib.util
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# op_eval/gen/random.py must not shadow the standard library's `random` (imported by numpy/torch): keep this
# directory last on sys.path and load the family modules by file path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE] + [HERE]
from common import Emitter  # noqa: E402

FAMILIES = ["elementwise", "activation", "reduction", "linalg", "attention", "conv", "normalization", "shape",
            "gather_scatter", "image", "recurrent", "random", "quantization", "state", "control"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "cases"))
    ap.add_argument("families", nargs="*")
    args = ap.parse_args()
    total = 0
    for fam in args.families or FAMILIES:
        path = os.path.join(HERE, fam + ".py")
        if not os.path.exists(path):
            print(f"{fam}: no generator yet")
            continue
        shutil.rmtree(os.path.join(args.out, fam), ignore_errors=True)
        spec = importlib.util.spec_from_file_location("opeval_gen_" + fam, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        emit = Emitter(args.out, fam)
        mod.generate(emit)
        print(f"{fam}: {emit.count} cases")
        total += emit.count
    print(f"total: {total}")


if __name__ == "__main__":
    main()
