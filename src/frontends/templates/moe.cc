// DeepSeek V3 mixture of experts: sigmoid router scores, top-k chosen on score + correction bias,
// weights = the chosen scores (normalised when norm_topk_prob) x routed_scaling_factor, plus the shared
// experts. Every expert is evaluated densely and weighted (0 for experts not chosen), which is exact
// and keeps shapes static.
#include "frontends/templates/layers.h"

namespace ironmill::templates {

std::string gated_mlp(LayerContext& x, const std::string& p, const std::string& in, int64_t inter);

std::string moe_mlp(LayerContext& x, int64_t l, const std::string& in) {
  Graph& g = x.g;
  const auto& c = x.cfg;
  const auto& m = *c.moe;
  const int64_t E = m.num_experts, D = c.hidden_size, K = m.num_experts_per_tok;
  const std::string p = "model.layers." + std::to_string(l) + ".mlp.";
  if (m.n_group != m.topk_group) {
    g.fail(unsupported(c.source + ": MoE group-limited routing (`n_group` " + std::to_string(m.n_group) +
                       " != `topk_group` " + std::to_string(m.topk_group) + ") is not supported"));
    return {};
  }
  std::string scores = g.unary("sigmoid", g.op("linear", {{"x", in}, {"weight", g.weight(p + "gate.weight", {E, D})}}));
  std::string choice = g.add(scores, g.weight(p + "gate.e_score_correction_bias", {E}));
  auto top = g.ops("topk", {{"x", choice}, {"k", mil::Tensor::scalar_i64(mil::DType::kInt32, K)},
                            {"axis", mil::Tensor::scalar_i64(mil::DType::kInt32, -1)}});
  if (top.empty()) return {};
  std::string kth = g.slice(top[0], -1, K - 1, K);
  std::string chosen = g.op("greater_equal", {{"x", choice}, {"y", kth}});
  std::string w = g.op("select", {{"cond", chosen}, {"a", scores}, {"b", mil::Tensor::scalar_f64(mil::DType::kFp32, 0.0)}});
  if (m.norm_topk_prob) w = g.div(w, g.add_scalar(g.reduce("reduce_sum", w, -1, true), 1e-20));
  w = g.scale(w, m.routed_scaling_factor);
  std::string out;
  for (int64_t e = 0; e < E; ++e) {
    std::string y = g.mul(gated_mlp(x, p + "experts." + std::to_string(e) + ".", in, m.moe_intermediate_size),
                          g.slice(w, -1, e, e + 1));
    out = out.empty() ? y : g.add(out, y);
  }
  if (m.num_shared_experts > 0)
    out = g.add(out, gated_mlp(x, p + "shared_experts.", in, m.moe_intermediate_size * m.num_shared_experts));
  return out;
}

}  // namespace ironmill::templates
