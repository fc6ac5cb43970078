// ONNX files as bytes: the ModelProto (real ONNX schema from libonnx-dev), its tensors decoded into
// mil::Tensor (typed fields, raw_data, external data confined to the model's directory), and the
// graph's nodes in a checked topological order. No op semantics live here (see frontends/onnx).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mil/tensor.h"
#include "util/status.h"

namespace onnx {
class ModelProto;
class GraphProto;
class NodeProto;
class TensorProto;
class ValueInfoProto;
}  // namespace onnx

namespace ironmill::formats::onnx {

inline constexpr int kMinOpset = 1;
inline constexpr int kMaxOpset = 17;  // libonnx 1.12

struct OnnxModel {
  std::shared_ptr<::onnx::ModelProto> proto;
  std::string path;       // file it came from ("" for in-memory)
  std::string base_dir;   // directory external data paths are relative to (and confined to)
  int64_t ir_version = 0;
  int opset = 0;          // default domain ("" / "ai.onnx")
  std::map<std::string, int64_t> other_domains;  // e.g. ai.onnx.ml

  const ::onnx::GraphProto& graph() const;
};

// Reads and checks a .onnx file: parses the protobuf (a truncated or garbage file is an error, not a
// crash), checks the default-domain opset is within [1, 17], and that the graph is acyclic.
Result<OnnxModel> load_model(const std::string& path);
// Same from bytes in memory; `base_dir` confines external data ("" refuses any external data).
Result<OnnxModel> parse_model(const std::string& bytes, const std::string& base_dir, const std::string& label);

// Maps an ONNX TensorProto.DataType code to our dtype (nullopt for string/complex/unknown codes).
std::optional<mil::DType> dtype_from_onnx(int code);
std::string onnx_dtype_name(int code);

// Decodes a TensorProto's payload. External data must stay inside `base_dir` (no absolute paths,
// no `..` escaping it, no symlinks pointing out); offset/length are checked against the file size.
Result<mil::Tensor> tensor_from_proto(const ::onnx::TensorProto& t, const std::string& base_dir);

// Reads a serialized TensorProto file (the backend tests' input_N.pb / output_N.pb).
Result<mil::Tensor> load_tensor_pb(const std::string& path);

// The graph's nodes in an order where every input is produced before it is used. Fails naming a
// node on a cycle, or an input no node, initializer or graph input produces.
Result<std::vector<const ::onnx::NodeProto*>> topological_order(const ::onnx::GraphProto& g);

}  // namespace ironmill::formats::onnx
