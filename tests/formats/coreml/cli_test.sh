#!/usr/bin/env bash
# End-to-end: `ironmill compile` (ONNX -> .mlpackage / .mlmodel), `ironmill inspect`, and
# `ironmill compile-pipeline`, on the example models shipped with Debian's python3-onnx.
# The packages are then decoded by protoc with our schema. Exit 77 (skip) when the examples are absent.
set -euo pipefail
IRONMILL="$1"; PROTO_DIR="$2"
EX=/usr/lib/python3/dist-packages/onnx/examples/resources
[ -f "$EX/single_relu.onnx" ] && [ -f "$EX/two_transposes.onnx" ] || { echo "skip: python3-onnx examples not installed"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$IRONMILL" compile "$EX/single_relu.onnx" -o "$T/relu.mlpackage" --spec ios16
"$IRONMILL" inspect "$T/relu.mlpackage" --format json > "$T/relu.json"
/usr/bin/python3 - "$T/relu.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["schema"] == "ironmill.inspect-coreml/1", j
assert j["specification_version"] == 7, j["specification_version"]
assert j["functions"][0]["opset"] == "ios16"
assert j["functions"][0]["ops"] == {"relu": 1}, j["functions"][0]["ops"]
assert j["inputs"][0]["dtype"] == "fp32" and j["inputs"][0]["shape"] == [1, 2], j["inputs"]
PY
protoc -I "$PROTO_DIR" --decode=CoreML.Specification.Model Model.proto < "$T/relu.mlpackage/Data/com.apple.CoreML/model.mlmodel" | grep -q 'type: "relu"'
"$IRONMILL" compile "$EX/single_relu.onnx" -o "$T/relu.mlmodel" --spec ios15
"$IRONMILL" inspect "$T/relu.mlmodel" | grep -q "specification 6"
# --spec too low for the program is refused, and nothing is left behind.
if "$IRONMILL" compile "$EX/single_relu.onnx" -o "$T/bad.mlpackage" --spec ios14 2>/dev/null; then exit 1; fi
[ ! -e "$T/bad.mlpackage" ]
cat > "$T/p.toml" <<TOML
[pipeline]
name = "examples"
[[stages]]
name = "second"
onnx = "$EX/two_transposes.onnx"
depends_on = ["first"]
[[stages]]
name = "first"
onnx = "$EX/single_relu.onnx"
TOML
sed -i "s#onnx = \"$EX/#onnx = \"../../../../..$EX/#" "$T/p.toml"
"$IRONMILL" compile-pipeline "$T/p.toml" -o "$T/out"
/usr/bin/python3 - "$T/out/pipeline.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["name"] == "examples"
assert [s["name"] for s in j["stages"]] == ["first", "second"], j
assert j["stages"][1]["depends_on"] == ["first"]
assert j["stages"][0]["package"] == "first.mlpackage"
assert j["stages"][0]["inputs"][0]["scalar_type"] == "fp32"
PY
"$IRONMILL" inspect "$T/out/second.mlpackage" | grep -q transpose
# SafeTensors directory (architecture templates) -> one multi-function package: prefill [T=8] + decode
# [C=16] sharing weight.bin, fp16 weights. Decoded by protoc and by python3-protobuf.
ROOT="$PROTO_DIR/../../.."
"$IRONMILL" compile "$ROOT/golden/llama" -o "$T/llama.mlpackage" --precision fp16 --seq-len 8 --context 16
"$IRONMILL" inspect "$T/llama.mlpackage" --format json > "$T/llama.json"
/usr/bin/python3 - "$T/llama.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["specification_version"] == 9, j["specification_version"]
assert [f["name"] for f in j["functions"]] == ["prefill", "decode"], j["functions"]
assert j["default_function"] == "prefill"
pre, dec = j["functions"]
assert [i["name"] for i in pre["inputs"]] == ["input_ids"] and "[8]" in pre["inputs"][0]["type"], pre["inputs"]
assert {"token", "position"} <= {i["name"] for i in dec["inputs"]}, dec["inputs"]
assert "logits" in dec["outputs"] and any(o.endswith("_out") for o in dec["outputs"]), dec["outputs"]
assert j["metadata"]["user_defined"]["com.ironmill.precision"] == "fp16"
PY
protoc -I "$PROTO_DIR" --decode=CoreML.Specification.Model Model.proto < "$T/llama.mlpackage/Data/com.apple.CoreML/model.mlmodel" > "$T/llama.txt"
grep -q 'defaultFunctionName: "prefill"' "$T/llama.txt"
rc=0; /usr/bin/python3 "$ROOT/tests/formats/coreml/decode_model.py" "$(cd "$PROTO_DIR" && pwd)" "$T/llama.mlpackage/Data/com.apple.CoreML/model.mlmodel" > "$T/llama-py.json" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 77 ]
if [ "$rc" = 0 ]; then
  /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert sorted(j["functions"]) == ["decode", "prefill"] and j["reserialized_equal"], j["functions"].keys()' "$T/llama-py.json"
fi
# kjv-llama-5m as embeddings -> 2 transformer chunks -> 2-part LM head (the shipped manifest).
"$IRONMILL" compile-pipeline "$ROOT/tests/backends/coreml/data/kjv-pipeline.toml" -o "$T/kjv"
/usr/bin/python3 - "$T/kjv" <<'PY'
import json, sys, os
d = sys.argv[1]
p = json.load(open(os.path.join(d, "pipeline.json")))
assert [s["name"] for s in p["stages"]] == ["embeddings", "chunk1", "chunk2", "lm_head"], p
c = json.load(open(os.path.join(d, "components.json")))
assert c["schema"] == "ironmill.coreml-components/1"
assert [x["role"] for x in c["components"]] == ["embeddings", "transformer", "transformer", "lm_head"]
head = c["components"][3]
assert head["inputs"] == {"hidden": [8, 256]}, head
assert head["outputs"] == {"logits1": [8, 1024], "logits2": [8, 1024]}, head
assert c["components"][2]["inputs"] == {"hidden_3": [8, 256]}
PY
# GGUF file (our F32 export of kjv-llama-5m) -> prefill-only package (C = 0) for ios16.
"$IRONMILL" export-gguf "$ROOT/golden/kjv-llama-5m" -o "$T/kjv.gguf" --type f32 --quiet > /dev/null
"$IRONMILL" compile "$T/kjv.gguf" -o "$T/kjv.mlpackage" --seq-len 8 --spec ios16 | grep -q "specification 7 (ios16), fp32, 6 layers, vocab 2048; functions prefill \[T=8\];"
# --stateful: the KV cache as Core ML states (read_state in decode, write_state in both functions).
"$IRONMILL" compile "$ROOT/golden/llama" -o "$T/llama-state.mlpackage" --precision fp16 --seq-len 8 --context 16 --stateful > /dev/null
"$IRONMILL" inspect "$T/llama-state.mlpackage" > "$T/llama-state.txt"
grep -q "read_state x4" "$T/llama-state.txt" && grep -q "write_state x4" "$T/llama-state.txt" && grep -q "state k_cache_0: fp16" "$T/llama-state.txt"
if "$IRONMILL" compile "$ROOT/golden/llama" -o "$T/bad-state.mlpackage" --seq-len 8 --context 16 --stateful 2>/dev/null; then exit 1; fi
[ ! -e "$T/bad-state.mlpackage" ]
# An unknown precision is refused.
if "$IRONMILL" compile "$ROOT/golden/llama" -o "$T/x.mlpackage" --precision int3 2>/dev/null; then exit 1; fi
echo "cli ok"
