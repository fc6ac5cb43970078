#!/usr/bin/python3
"""Independent decoder for the proto-decode test: compiles our Core ML .proto files with protoc's Python
generator, parses a serialized Model with Debian's python3-protobuf and prints a JSON summary.
Usage: decode_model.py PROTO_DIR MODEL_FILE   (exit 77 = python3-protobuf or protoc missing)"""
import json, os, subprocess, sys, tempfile

proto_dir, model_file = sys.argv[1], sys.argv[2]
try:
    import google.protobuf  # noqa: F401
    from google.protobuf import json_format
except ImportError:
    print("python3-protobuf is not installed", file=sys.stderr)
    sys.exit(77)
with tempfile.TemporaryDirectory() as out:
    try:
        subprocess.run(["protoc", "-I", proto_dir, "--python_out", out, "Model.proto", "FeatureTypes.proto",
                        "MIL.proto"], check=True, cwd=proto_dir)
    except FileNotFoundError:
        print("protoc is not installed", file=sys.stderr)
        sys.exit(77)
    sys.path.insert(0, out)
    import Model_pb2  # noqa: E402
    m = Model_pb2.Model()
    with open(model_file, "rb") as f:
        data = f.read()
    m.ParseFromString(data)  # raises on malformed input
    summary = {
        "spec": m.specificationVersion,
        "type": m.WhichOneof("Type"),
        "inputs": [[i.name, i.type.multiArrayType.dataType, list(i.type.multiArrayType.shape)] for i in m.description.input],
        "outputs": [o.name for o in m.description.output],
        "states": [s.name for s in m.description.state],
        "functions": {},
        "default_function": m.description.defaultFunctionName,
        "reserialized_equal": m.SerializeToString(deterministic=True) == data,
    }
    for name, fn in sorted(m.mlProgram.functions.items()):
        block = fn.block_specializations[fn.opset]
        summary["functions"][name] = {"opset": fn.opset, "ops": [op.type for op in block.operations],
                                      "outputs": list(block.outputs)}
    print(json.dumps(summary, sort_keys=True))
