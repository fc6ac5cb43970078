// Internal: the context an ONNX node's lowering sees, and the lowering table.
#pragma once
#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mil/builder.h"
#include "mil/tensor.h"
#include "util/status.h"

namespace ironmill::frontends::onnx {

// A value known to the converter: its MIL name (empty until materialised) and, when it is a
// compile-time constant (initializer, Constant node, frozen input), its value.
struct OnnxValue {
  std::string mil;
  std::optional<mil::Tensor> konst;
  int onnx_dtype = 0;  // TensorProto.DataType when known (graph inputs, initializers, Constant)
};

class LowerContext {
 public:
  LowerContext(mil::Builder& b, std::map<std::string, OnnxValue>& values, const std::set<std::string>& graph_inputs,
               std::vector<std::string>& needs_constant, const ::onnx::NodeProto& node, int opset)
      : b(b), values_(values), graph_inputs_(graph_inputs), needs_constant_(needs_constant), node(node), opset(opset) {}

  mil::Builder& b;
  int num_inputs() const { return node.input_size(); }
  bool has_input(int i) const { return i < node.input_size() && !node.input(i).empty(); }
  // MIL name of input i (emits a const op for a constant the first time).
  Result<std::string> in(int i);
  // Constant value of input i when known at conversion time.
  std::optional<mil::Tensor> const_in(int i) const;
  // Constant value of input i, or an error saying why it must be constant (and remembering graph inputs).
  Result<mil::Tensor> need_const(int i, const std::string& what);
  const mil::Type* type(const std::string& mil_name) const { return b.type_of(mil_name); }
  Result<mil::Type> type_in(int i);
  void set_out(int i, const std::string& mil_name);
  void set_out_const(int i, const mil::Tensor& t, int onnx_dtype = 0);
  // ONNX element type of input i when known (0 otherwise): MIL carries all integers as int32.
  int onnx_dtype_in(int i) const;
  int num_outputs() const { return node.output_size(); }
  bool has_output(int i) const { return i < node.output_size() && !node.output(i).empty(); }

  // Attributes.
  bool has_attr(const std::string& n) const;
  int64_t ai(const std::string& n, int64_t def) const;
  float af(const std::string& n, float def) const;
  std::string as(const std::string& n, const std::string& def) const;
  std::vector<int64_t> aints(const std::string& n) const;
  std::vector<float> afloats(const std::string& n) const;
  const ::onnx::AttributeProto* attr(const std::string& n) const;

  // Emits an op; returns its first output (the builder records errors; see ok()).
  std::string op(const std::string& type, const std::map<std::string, mil::Builder::Arg>& inputs,
                 const std::map<std::string, mil::Value>& attributes = {}) {
    return b.op(type, inputs, attributes);
  }
  std::vector<std::string> ops(const std::string& type, const std::map<std::string, mil::Builder::Arg>& inputs) {
    return b.ops(type, inputs);
  }
  Status fail(const std::string& why) const { return unsupported(why); }

  // Subgraphs (If branches, Scan bodies): converts `g`'s nodes inline into the current program with
  // its inputs bound to `inputs` (outer-scope values stay visible) and returns its outputs' MIL names.
  Result<std::vector<std::string>> inline_graph(const ::onnx::GraphProto& g, const std::vector<std::string>& inputs);
  // MIL name of a value (emits a const op for a constant).
  std::string materialize(OnnxValue& v);

  const ::onnx::NodeProto& node;
  const int opset;

 private:
  std::map<std::string, OnnxValue>& values_;
  const std::set<std::string>& graph_inputs_;
  std::vector<std::string>& needs_constant_;
};

// Small tensor makers.
mil::Tensor ti32(const std::vector<int64_t>& v);
mil::Tensor si32(int64_t v);
mil::Tensor sf(mil::DType dt, double v);
mil::Tensor sbool(bool v);
mil::Tensor sstr(const std::string& s);
int normalize_axis(int64_t axis, int rank);

using LowerFn = std::function<Status(LowerContext&)>;
struct Lowering {
  LowerFn lower;
  // Capability beyond "the op type has a lowering": inspects attributes only, returns "" or a reason.
  std::function<std::string(const ::onnx::NodeProto&, int opset)> check;
};
const std::map<std::string, Lowering>& lowering_table();

// Lowerings kept in their own files (lowering_<family>.cc), added to the table by lowering_table().
void add_loss_lowerings(std::map<std::string, Lowering>& table);       // NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss
void add_resize_lowerings(std::map<std::string, Lowering>& table);     // Resize, Upsample
void add_recurrent_lowerings(std::map<std::string, Lowering>& table);  // RNN, GRU, LSTM
void add_misc_lowerings(std::map<std::string, Lowering>& table);       // BitShift, Compress, windows, ...
void add_control_lowerings(std::map<std::string, Lowering>& table);    // If, Scan (subgraphs inlined)

// Helpers shared by the lowering files.
inline mil::DType value_dtype(LowerContext& c, const std::string& n) { return c.type(n) ? c.type(n)->dtype : mil::DType::kFp32; }
inline std::string emit_cast(LowerContext& c, const std::string& x, mil::DType to) {
  if (value_dtype(c, x) == to) return x;
  return c.op("cast", {{"x", x}, {"dtype", sstr(std::string(mil::dtype_name(to)))}});
}
inline std::string emit_reshape(LowerContext& c, const std::string& x, const std::vector<int64_t>& shape) {
  return c.op("reshape", {{"x", x}, {"shape", ti32(shape)}});
}
Result<mil::Shape> static_shape_of(LowerContext& c, const std::string& n);
Status lower_batch_norm_training(LowerContext& c);  // lowering_misc.cc

}  // namespace ironmill::frontends::onnx
