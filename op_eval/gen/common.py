"""Shared helpers for the op-eval case generators.

A case is one MIL op applied to concrete inputs, with expected outputs computed here by NumPy or
PyTorch -- never by ironmill. Cases are written as JSON under op_eval/cases/<family>/<op>__<case>.json:

  {"op": "conv", "case": "same_pad", "family": "conv", "opset": "ios18", "oracle": "torch",
   "inputs":   {"x": TENSOR, "weight": TENSOR+"const":true, "values": {"tuple": [TENSOR, ...]}},
   "attributes": {"name": TENSOR},           # iOS16/17 constexpr params only
   "expected": [TENSOR, ...],                 # one per op output, in order
   "compare": "allclose" | "exact",           # default: exact for int/bool/string outputs
   "atol": 1e-5, "rtol": 1e-4}                # optional override of the per-dtype defaults

TENSOR = {"dtype": "fp32", "shape": [2, 3], "data": [flat row-major values]}; NaN/inf as the strings
"nan", "inf", "-inf". Inputs with "const": true become const ops (required for `c` parameters);
the others become function inputs.

Extensions (non-tensor values and whole programs):
  * input {"list": [TENSOR, ...], "const": true}: a constant list (e.g. classify `classes`), see lst().
  * input TENSOR + "state": true: a function input of type state<tensor<...>> with these initial
    contents, see state(). "expected_states": {"name": TENSOR} = the state's contents after the run.
  * expected entries {"list": [TENSOR, ...]} / {"dict": [[KEY, VALUE], ...]} for list / dict outputs.
  * "program": MIL text (func main); "inputs" then give values for main's parameters by name (state
    parameters get their initial contents), and "expected" lists main's outputs in order.
  * op "const": no inputs; attributes {"val": TENSOR}; expected [the same value].
"""
import json
import math
import os

import numpy as np

NP_TO_MIL = {
    np.dtype(np.float32): "fp32", np.dtype(np.float16): "fp16", np.dtype(np.float64): "fp64",
    np.dtype(np.int8): "int8", np.dtype(np.int16): "int16", np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64", np.dtype(np.uint8): "uint8", np.dtype(np.uint16): "uint16",
    np.dtype(np.uint32): "uint32", np.dtype(np.bool_): "bool",
}


def _enc(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, str):
        return v
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f


def tensor(a, dtype=None, const=False):
    """Encodes an array (or scalar) as a case tensor. `dtype` overrides the MIL dtype name
    (needed for sub-byte types such as "uint4", stored one element per value)."""
    if isinstance(a, str):
        t = {"dtype": "string", "shape": [], "data": [a]}
    elif isinstance(a, (list, tuple)) and a and isinstance(a[0], str):
        t = {"dtype": "string", "shape": [len(a)], "data": list(a)}
    else:
        arr = np.asarray(a)
        name = dtype or NP_TO_MIL[arr.dtype]
        t = {"dtype": name, "shape": list(arr.shape), "data": [_enc(v) for v in arr.reshape(-1).tolist()]}
    if const:
        t["const"] = True
    return t


def const(a, dtype=None):
    return tensor(a, dtype=dtype, const=True)


def tup(*tensors):
    return {"tuple": list(tensors)}


def state(a, dtype=None):
    """A state input (state<tensor<...>>) holding `a` initially."""
    t = tensor(a, dtype=dtype)
    t["state"] = True
    return t


def lst(*tensors, elem_dtype=None, elem_shape=None):
    """A list value of tensors (as a const input or as an expected output)."""
    d = {"list": [t if isinstance(t, dict) else tensor(t) for t in tensors]}
    if elem_dtype is not None:
        d["elem_dtype"] = elem_dtype
    if elem_shape is not None:
        d["elem_shape"] = list(elem_shape)
    return d


def const_list(*tensors, **kw):
    d = lst(*tensors, **kw)
    d["const"] = True
    return d


def dct(pairs):
    """An expected dict output: [(key, value), ...], each a tensor dict or an array/scalar."""
    return {"dict": [[k if isinstance(k, dict) else tensor(k), v if isinstance(v, dict) else tensor(v)]
                     for k, v in pairs]}


class Emitter:
    def __init__(self, out_dir, family):
        self.out_dir = out_dir
        self.family = family
        self.count = 0
        self.names = set()

    def __call__(self, op, case, inputs, expected, oracle="numpy", opset="ios18", attributes=None,
                 compare=None, atol=None, rtol=None, note=None, program=None, expected_states=None):
        key = f"{op}__{case}"
        assert key not in self.names, f"duplicate case {key}"
        self.names.add(key)
        doc = {"op": op, "case": case, "family": self.family, "opset": opset, "oracle": oracle,
               "inputs": inputs, "expected": [e if isinstance(e, dict) else tensor(e) for e in expected]}
        if attributes:
            doc["attributes"] = attributes
        if compare:
            doc["compare"] = compare
        if atol is not None:
            doc["atol"] = atol
        if rtol is not None:
            doc["rtol"] = rtol
        if note:
            doc["note"] = note
        if program is not None:
            doc["program"] = program
        if expected_states:
            doc["expected_states"] = {k: v if isinstance(v, dict) else tensor(v) for k, v in expected_states.items()}
        d = os.path.join(self.out_dir, self.family)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, key + ".json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"), sort_keys=True)
            f.write("\n")
        self.count += 1


def rng(seed):
    return np.random.default_rng(seed)
