#include "formats/onnx/onnx_summary.h"

#include <onnx/onnx_pb.h>

#include <set>

namespace ironmill::formats::onnx {
namespace {

IoSummary io_of(const ::onnx::ValueInfoProto& vi) {
  IoSummary s;
  s.name = vi.name();
  if (!vi.type().has_tensor_type()) {
    s.dtype = vi.type().has_sequence_type() ? "sequence" : vi.type().has_optional_type() ? "optional" : "non-tensor";
    return s;
  }
  const auto& tt = vi.type().tensor_type();
  s.dtype = onnx_dtype_name(tt.elem_type());
  if (tt.has_shape())
    for (const auto& d : tt.shape().dim())
      s.dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : d.has_dim_param() ? d.dim_param() : "?");
  return s;
}

void count_ops(const ::onnx::GraphProto& g, ModelSummary& s) {
  for (const auto& n : g.node()) {
    ++s.node_count;
    ++s.op_histogram[n.domain().empty() ? n.op_type() : n.domain() + "." + n.op_type()];
    for (const auto& a : n.attribute()) {
      if (a.has_g()) count_ops(a.g(), s);
      for (const auto& sg : a.graphs()) count_ops(sg, s);
    }
  }
}

}  // namespace

ModelSummary summarize(const OnnxModel& model) {
  ModelSummary s;
  const auto& g = model.graph();
  s.ir_version = model.ir_version;
  s.opset = model.opset;
  s.producer = model.proto->producer_name() + (model.proto->producer_version().empty() ? "" : " " + model.proto->producer_version());
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) {
    inits.insert(t.name());
    ++s.initializer_count;
    int64_t n = 1;
    for (auto d : t.dims()) n *= d;
    s.parameter_count += n;
  }
  for (const auto& vi : g.input())
    if (!inits.count(vi.name())) s.inputs.push_back(io_of(vi));
  for (const auto& vi : g.output()) s.outputs.push_back(io_of(vi));
  count_ops(g, s);
  return s;
}

}  // namespace ironmill::formats::onnx
