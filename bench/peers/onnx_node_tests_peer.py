#!/usr/bin/python3
"""Peer run: ONNX's 922 backend node tests through onnxruntime (npm onnxruntime-node) and through ours
(mill-harness onnx-conformance: ONNX frontend + reference interpreter), in one run. Prints both pass
counts and the wall-time ratio. Not part of ctest.

usage: /usr/bin/python3 bench/peers/onnx_node_tests_peer.py [--harness build-onnx/bin/mill-harness]
                                                            [--data DIR] [--work DIR]
Needs: python3-onnx (the test generator), node + peers/node_modules/onnxruntime-node
(`cd peers && npm install --ignore-scripts onnxruntime-node`), a built mill-harness.

Both sides are judged with ONNX's rule (rtol 1e-3, atol 1e-7; exact for ints/bools/strings). Timing: for
onnxruntime, the node script's own loop (read model, create session, run, compare); for ours, the
harness's loop (load, import, compile, run, compare). Neither includes process start-up or generating the
test data; the test data is converted once to a JSON form node can read (not timed).
"""
import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def to_json_tensor(path):
    import onnx
    from onnx import numpy_helper
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    if not t.name and t.data_type == 0:
        return None
    a = numpy_helper.to_array(t)
    dt = a.dtype
    if dt.kind in "OUS":
        return {"dtype": "string", "dims": list(a.shape), "data": [x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel()]}
    names = {"float32": "float32", "float64": "float64", "float16": "float16", "int8": "int8", "uint8": "uint8",
             "int16": "int16", "uint16": "uint16", "int32": "int32", "uint32": "uint32", "int64": "int64",
             "uint64": "uint64", "bool": "bool"}
    if str(dt) not in names:
        return {"dtype": "unsupported:" + str(dt)}
    raw = a.astype(dt.newbyteorder("<")).tobytes() if a.size else b""
    if t.data_type == onnx.TensorProto.BFLOAT16:
        return {"dtype": "unsupported:bfloat16"}
    return {"dtype": names[str(dt)], "dims": list(a.shape), "b64": base64.b64encode(raw).decode()}


def convert(node_dir, out_json):
    import onnx
    tests = []
    for name in sorted(os.listdir(node_dir)):
        d = os.path.join(node_dir, name)
        if not os.path.isfile(os.path.join(d, "model.onnx")):
            continue
        m = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
        inits = {i.name for i in m.graph.initializer}
        in_names = [i.name for i in m.graph.input if i.name not in inits]
        in_tensor = [i.type.HasField("tensor_type") for i in m.graph.input if i.name not in inits]
        out_names = [o.name for o in m.graph.output]
        out_tensor = [o.type.HasField("tensor_type") for o in m.graph.output]
        entry = {"name": name, "model": os.path.join(d, "model.onnx"), "inputs": {}, "outputs": []}
        if not all(in_tensor) or not all(out_tensor):
            entry["skip"] = "sequence/optional/map values (node's onnxruntime API takes tensors only)"
            tests.append(entry)
            continue
        data = os.path.join(d, "test_data_set_0")
        for i, n in enumerate(in_names):
            p = os.path.join(data, f"input_{i}.pb")
            if os.path.exists(p):
                entry["inputs"][n] = to_json_tensor(p)
        for i, n in enumerate(out_names):
            entry["outputs"].append([n, to_json_tensor(os.path.join(data, f"output_{i}.pb"))])
        tests.append(entry)
    with open(out_json, "w") as f:
        json.dump(tests, f)
    return len(tests)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", default=os.path.join(ROOT, "build-onnx/bin/mill-harness"))
    ap.add_argument("--data", help="node test dir (DIR/test_*/model.onnx); generated when absent")
    ap.add_argument("--work", default="/tmp/ironmill-onnx-peer")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    node_dir = args.data
    if not node_dir:
        node_dir = os.path.join(args.work, "data", "node")
        if not os.path.isdir(node_dir):
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools/gen_onnx_node_tests.py"), "-o",
                            os.path.join(args.work, "data")], check=True, stdout=subprocess.DEVNULL)
    ort_dir = os.path.join(ROOT, "peers/node_modules/onnxruntime-node")
    if not os.path.isdir(ort_dir):
        print("SKIP: peers/node_modules/onnxruntime-node is missing (cd peers && npm install --ignore-scripts onnxruntime-node)")
        return 77
    manifest = os.path.join(args.work, "node_tests.json")
    n = convert(node_dir, manifest)

    ort_json = os.path.join(args.work, "ort-results.json")
    r = subprocess.run(["node", os.path.join(ROOT, "bench/peers/onnx_ort_node_tests.js"), manifest, ort_json],
                       cwd=os.path.join(ROOT, "peers"), capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        return 1
    ort = json.load(open(ort_json))

    t0 = time.monotonic()
    h = subprocess.run([args.harness, "onnx-conformance", "--data", node_dir, "--json", os.path.join(args.work, "ours.json"),
                        "--md", os.path.join(args.work, "ours.md"), "--quiet"], capture_output=True, text=True)
    ours_proc_s = time.monotonic() - t0
    if h.returncode != 0:
        print(h.stdout, h.stderr)
        return 1
    m = re.search(r"(\d+) pass .* of (\d+) tests in ([0-9.]+) s", h.stdout)
    ours = json.load(open(os.path.join(args.work, "ours.json")))
    ours_pass = ours["totals"]["pass"]
    ours_s = float(m.group(3)) if m else ours_proc_s
    ort_pass, ort_s = ort["pass"], ort["seconds"]
    both = sum(1 for t in ours["tests"] if t["verdict"] == "pass" and ort["verdicts"].get(t["name"]) == "pass")
    print(f"ONNX backend node tests: {n} (ONNX 1.12, opsets 1-17)")
    print(f"  onnxruntime-node {ort['version']} (CPU EP): {ort_pass} pass, {ort['fail']} fail, {ort['error']} error, "
          f"{ort['skip']} skipped (non-tensor data) in {ort_s:.2f} s")
    print(f"  ironmill (ONNX frontend + reference interpreter): {ours_pass} pass, {ours['totals']['fail']} fail, "
          f"{ours['totals']['unsupported']} unsupported in {ours_s:.2f} s")
    print(f"  passed by both: {both}")
    print(f"  wall-time ratio ours / onnxruntime: {ours_s / ort_s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
