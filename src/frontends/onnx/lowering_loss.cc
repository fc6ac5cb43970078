// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: default-domain ONNX ops that are plain
// computations at inference time, decomposed into log-softmax, a gather along the class axis, weights,
// ignore_index masking and a reduction.
#include "frontends/onnx/lowering.h"
#include "frontends/onnx/onnx_importer.h"

namespace ironmill::frontends::onnx {
using mil::DType;

namespace {

// loss[n, d...] = -input[n, target[n, d...], d...] * weight[target] (0 where target == ignore_index),
// then reduced: "none" keeps it, "sum" adds it up, "mean" divides the sum by the sum of the weights used.
Result<std::string> nll(LowerContext& c, const std::string& input, int target_index, int weight_index) {
  IM_ASSIGN_OR_RETURN(std::string target, c.in(target_index));
  target = emit_cast(c, target, DType::kInt32);
  const DType dt = value_dtype(c, input);
  std::string reduction = c.as("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean") return c.fail("reduction '" + reduction + "'");
  std::string ignored, safe_target = target;
  if (c.has_attr("ignore_index")) {
    ignored = c.op("equal", {{"x", target}, {"y", si32(c.ai("ignore_index", 0))}});
    // ignore_index may lie outside [0, C): gather class 0 there and zero its weight.
    safe_target = c.op("select", {{"cond", ignored}, {"a", si32(0)}, {"b", target}});
  }
  auto picked = c.op("gather_along_axis", {{"x", input}, {"indices", c.op("expand_dims", {{"x", safe_target}, {"axes", ti32({1})}})},
                                          {"axis", si32(1)}});
  picked = c.op("squeeze", {{"x", picked}, {"axes", ti32({1})}});
  std::string w;
  if (c.has_input(weight_index)) {
    IM_ASSIGN_OR_RETURN(std::string weight, c.in(weight_index));
    w = c.op("gather", {{"x", weight}, {"indices", safe_target}, {"axis", si32(0)}});
  } else {
    w = c.op("fill_like", {{"ref_tensor", picked}, {"value", sf(dt, 1)}});
  }
  if (!ignored.empty()) w = c.op("select", {{"cond", ignored}, {"a", sf(dt, 0)}, {"b", w}});
  auto loss = c.op("mul", {{"x", picked}, {"y", c.op("mul", {{"x", w}, {"y", sf(dt, -1)}})}});
  if (reduction == "none") return loss;
  auto total = c.op("reduce_sum", {{"x", loss}, {"keep_dims", sbool(false)}});
  if (reduction == "sum") return total;
  return c.op("real_div", {{"x", total}, {"y", c.op("reduce_sum", {{"x", w}, {"keep_dims", sbool(false)}})}});
}

Status lower_nll_loss(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string input, c.in(0));
  IM_ASSIGN_OR_RETURN(std::string loss, nll(c, input, 1, 2));
  c.set_out(0, loss);
  return Status::Ok();
}

Status lower_softmax_cross_entropy(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string scores, c.in(0));
  // log_softmax over the class axis (1), in the max-shifted form.
  auto lse = c.op("reduce_log_sum_exp", {{"x", scores}, {"axes", ti32({1})}, {"keep_dims", sbool(true)}});
  auto log_prob = c.op("sub", {{"x", scores}, {"y", lse}});
  IM_ASSIGN_OR_RETURN(std::string loss, nll(c, log_prob, 1, 2));
  c.set_out(0, loss);
  if (c.has_output(1)) c.set_out(1, log_prob);
  return Status::Ok();
}

}  // namespace

void add_loss_lowerings(std::map<std::string, Lowering>& t) {
  t["NegativeLogLikelihoodLoss"] = {lower_nll_loss, nullptr};
  t["SoftmaxCrossEntropyLoss"] = {lower_softmax_cross_entropy, nullptr};
}

}  // namespace ironmill::frontends::onnx
