#!/usr/bin/env python3
"""Regenerates every op-eval case into a temporary directory and checks that the committed data in
op_eval/cases/ is what the NumPy/PyTorch generators produce (same files, same values; floats to 1e-6 relative).
Exit 0 = identical, 1 = differs, 77 = skipped (NumPy or PyTorch missing; the reason is printed)."""
import json
import math
import os
import subprocess
import sys
import tempfile

OP_EVAL = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(OP_EVAL, "gen")
CASES = os.path.join(OP_EVAL, "cases")


def close(a, b):
    """Equal structure; floats equal to 1e-6 relative (vectorised math may differ in the last bits
    between CPUs), everything else exactly."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return a == b or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b and type(a) == type(b)


def same_case(x, y):
    with open(x) as fx, open(y) as fy:
        return close(json.load(fx), json.load(fy))


def main():
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"SKIP: the op-eval generators need NumPy and PyTorch ({e}); install python3-numpy python3-torch")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(GEN, "generate.py"), "--out", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        bad = []
        for root, _, files in os.walk(tmp):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), tmp)
                committed = os.path.join(CASES, rel)
                if not os.path.exists(committed):
                    bad.append(f"missing from op_eval/cases: {rel}")
                elif not same_case(os.path.join(root, f), committed):
                    bad.append(f"differs from its generator: {rel}")
        for root, _, files in os.walk(CASES):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), CASES)
                if not os.path.exists(os.path.join(tmp, rel)):
                    bad.append(f"not produced by any generator: {rel}")
        for b in bad[:50]:
            print(b)
        print(f"{len(bad)} problem(s)" if bad else "op-eval data matches its generators")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
