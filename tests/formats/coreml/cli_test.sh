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
echo "cli ok"
