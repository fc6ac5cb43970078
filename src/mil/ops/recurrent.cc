// Type inference and verification for the recurrent ops (see ops/op_list.def for their signatures).
// Layouts follow coremltools (iOS15 recurrent.py): x [s, b, I]; lstm weights [4H, *] in gate order
// (input, forget, output, cell); gru weights [3H, *] in gate order (reset, output/new, update); rnn [H, *].
#include <set>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

const std::set<std::string> kActivations = {"sigmoid", "tanh",   "relu",         "scaled_tanh",
                                            "hard_sigmoid", "sigmoid_hard", "linear"};

Status check_activation(InferContext& c, const std::string& input) {
  IM_ASSIGN_OR_RETURN(std::string a, c.const_string(input));
  if (!kActivations.count(a)) {
    std::string all;
    for (const auto& s : kActivations) all += (all.empty() ? "" : ", ") + s;
    return c.error(input, "activation must be one of {" + all + "}, got \"" + a + "\"");
  }
  return Status::Ok();
}

bool known(int64_t d) { return d >= 0; }

// Checks a tensor input against an expected shape (unknown dims on either side match).
Status expect_shape(InferContext& c, const std::string& input, const Shape& want, const std::string& what) {
  IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(input));
  if (!t.rank_known) return Status::Ok();
  bool ok = t.dims.size() == want.size();
  for (size_t i = 0; ok && i < want.size(); ++i)
    if (known(want[i]) && known(t.dims[i]) && want[i] != t.dims[i]) ok = false;
  if (!ok) return c.error(input, what + " " + shape_to_string(want) + " expected, got " + type_to_string(t));
  return Status::Ok();
}

struct RnnDims {
  Type x;
  int64_t s = kUnknownDim, b = kUnknownDim, I = kUnknownDim, H = kUnknownDim;
};

// Shared checks: x rank 3, weight_hh [G*H, H], weight_ih [G*H, I]; H from weight_hh (rnn: from weight_ih).
Result<RnnDims> rnn_dims(InferContext& c, int64_t gates, const std::string& ih, const std::string& hh) {
  RnnDims d;
  IM_ASSIGN_OR_RETURN(d.x, c.tensor_type("x"));
  if (d.x.rank_known) {
    if (d.x.rank() != 3) return c.error("x", "rank 3 [s, b, I] expected, got " + type_to_string(d.x));
    d.s = d.x.dims[0], d.b = d.x.dims[1], d.I = d.x.dims[2];
  }
  IM_ASSIGN_OR_RETURN(Type whh, c.tensor_type(hh));
  IM_ASSIGN_OR_RETURN(Type wih, c.tensor_type(ih));
  if (!whh.rank_known || whh.rank() != 2) return c.error(hh, "rank 2 expected, got " + type_to_string(whh));
  if (!wih.rank_known || wih.rank() != 2) return c.error(ih, "rank 2 expected, got " + type_to_string(wih));
  d.H = whh.dims[1];
  if (!known(d.H) && known(whh.dims[0])) d.H = whh.dims[0] / gates;
  if (!known(d.H) && known(wih.dims[0])) d.H = wih.dims[0] / gates;
  const int64_t GH = known(d.H) ? gates * d.H : kUnknownDim;
  IM_RETURN_IF_ERROR(expect_shape(c, hh, {GH, d.H}, "shape"));
  IM_RETURN_IF_ERROR(expect_shape(c, ih, {GH, d.I}, "shape"));
  return d;
}

Result<std::string> direction(InferContext& c, const std::set<std::string>& allowed) {
  IM_ASSIGN_OR_RETURN(std::string dir, c.const_string("direction"));
  if (!allowed.count(dir)) {
    std::string all;
    for (const auto& s : allowed) all += (all.empty() ? "" : ", ") + s;
    return c.error("direction", "must be one of {" + all + "}, got \"" + dir + "\"");
  }
  return dir;
}

Result<std::vector<Type>> infer_lstm(InferContext& c) {
  IM_ASSIGN_OR_RETURN(RnnDims d, rnn_dims(c, 4, "weight_ih", "weight_hh"));
  IM_ASSIGN_OR_RETURN(std::string dir, direction(c, {"forward", "reverse", "bidirectional"}));
  const bool bi = dir == "bidirectional";
  const int64_t H = d.H, GH = known(H) ? 4 * H : kUnknownDim;
  if (bi) {
    if (!c.has("weight_ih_back") || !c.has("weight_hh_back"))
      return c.op_error("bidirectional lstm needs `weight_ih_back` and `weight_hh_back`");
    IM_RETURN_IF_ERROR(expect_shape(c, "weight_ih_back", {GH, d.I}, "shape"));
    IM_RETURN_IF_ERROR(expect_shape(c, "weight_hh_back", {GH, H}, "shape"));
    if (c.has("bias_back")) IM_RETURN_IF_ERROR(expect_shape(c, "bias_back", {GH}, "shape"));
    if (c.has("peephole_back")) IM_RETURN_IF_ERROR(expect_shape(c, "peephole_back", {known(H) ? 3 * H : kUnknownDim}, "shape"));
  }
  if (c.has("bias")) IM_RETURN_IF_ERROR(expect_shape(c, "bias", {GH}, "shape"));
  if (c.has("peephole")) IM_RETURN_IF_ERROR(expect_shape(c, "peephole", {known(H) ? 3 * H : kUnknownDim}, "shape"));
  const int64_t DH = known(H) ? (bi ? 2 : 1) * H : kUnknownDim;
  IM_RETURN_IF_ERROR(expect_shape(c, "initial_h", {d.b, DH}, "shape [b, DIRECTIONS*H]"));
  IM_RETURN_IF_ERROR(expect_shape(c, "initial_c", {d.b, DH}, "shape [b, DIRECTIONS*H]"));
  if (c.has("clip")) {
    IM_ASSIGN_OR_RETURN(double clip, c.const_float("clip"));
    if (!(clip > 0)) return c.error("clip", "must be > 0, got " + std::to_string(clip));
  }
  IM_ASSIGN_OR_RETURN(bool seq, c.const_bool("output_sequence"));
  for (const char* a : {"recurrent_activation", "cell_activation", "activation"}) IM_RETURN_IF_ERROR(check_activation(c, a));
  const DType dt = d.x.dtype;
  return std::vector<Type>{Type::tensor(dt, {seq ? d.s : 1, d.b, DH}), Type::tensor(dt, {d.b, DH}),
                           Type::tensor(dt, {d.b, DH})};
}

Result<std::vector<Type>> infer_gru(InferContext& c) {
  IM_ASSIGN_OR_RETURN(RnnDims d, rnn_dims(c, 3, "weight_ih", "weight_hh"));
  IM_RETURN_IF_ERROR(direction(c, {"forward", "reverse"}).status());
  const int64_t GH = known(d.H) ? 3 * d.H : kUnknownDim;
  if (c.has("bias")) IM_RETURN_IF_ERROR(expect_shape(c, "bias", {GH}, "shape"));
  if (c.variant().input("input_bias") && c.has("input_bias")) IM_RETURN_IF_ERROR(expect_shape(c, "input_bias", {GH}, "shape"));
  if (c.variant().input("reset_after")) IM_RETURN_IF_ERROR(c.const_bool("reset_after").status());
  IM_RETURN_IF_ERROR(expect_shape(c, "initial_h", {d.b, d.H}, "shape [b, H]"));
  IM_ASSIGN_OR_RETURN(bool seq, c.const_bool("output_sequence"));
  for (const char* a : {"recurrent_activation", "activation"}) IM_RETURN_IF_ERROR(check_activation(c, a));
  return std::vector<Type>{Type::tensor(d.x.dtype, {seq ? d.s : 1, d.b, d.H}), Type::tensor(d.x.dtype, {d.b, d.H})};
}

Result<std::vector<Type>> infer_rnn(InferContext& c) {
  IM_ASSIGN_OR_RETURN(RnnDims d, rnn_dims(c, 1, "weight_ih", "weight_hh"));
  IM_RETURN_IF_ERROR(direction(c, {"forward", "reverse"}).status());
  if (c.has("bias")) IM_RETURN_IF_ERROR(expect_shape(c, "bias", {d.H}, "shape"));
  IM_RETURN_IF_ERROR(expect_shape(c, "initial_h", {d.b, d.H}, "shape [b, H]"));
  IM_ASSIGN_OR_RETURN(bool seq, c.const_bool("output_sequence"));
  IM_RETURN_IF_ERROR(check_activation(c, "activation"));
  return std::vector<Type>{Type::tensor(d.x.dtype, {seq ? d.s : 1, d.b, d.H}), Type::tensor(d.x.dtype, {d.b, d.H})};
}

}  // namespace

void register_recurrent_ops(OpRegistry& r) {
  r.mutable_schema("lstm")->infer = infer_lstm;
  r.mutable_schema("gru")->infer = infer_gru;
  r.mutable_schema("rnn")->infer = infer_rnn;
}

}  // namespace ironmill::mil
