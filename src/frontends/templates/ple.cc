// Gemma 4 per-layer embeddings (PLE) and the per-layer tail: each layer adds a gated projection of its
// slice of a [T, L, P] per-layer input, then multiplies by its `layer_scalar`.
#include <cmath>

#include "frontends/templates/layers.h"

namespace ironmill::templates {

using mil::DType;
using mil::Tensor;

// (embed_tokens_per_layer(ids) * sqrt(P) + RMSNorm(per_layer_model_projection(embeddings) / sqrt(D))) / sqrt(2)
std::string per_layer_inputs(LayerContext& x, const std::string& ids, const std::string& embeddings) {
  Graph& g = x.g;
  const auto& c = x.cfg;
  const int64_t L = c.num_hidden_layers, P = c.per_layer_input->hidden_size, Vp = c.per_layer_input->vocab_size;
  const int64_t D = c.hidden_size, T = x.tokens;
  std::string table = g.weight("model.embed_tokens_per_layer.weight", {Vp, L * P});
  std::string tok = g.op("gather", {{"x", table}, {"indices", ids}, {"axis", Tensor::scalar_i64(DType::kInt32, 0)}});
  tok = g.reshape(g.scale(tok, static_cast<float>(std::sqrt(static_cast<double>(P)))), {T, L, P});
  std::string proj = g.op("linear", {{"x", embeddings}, {"weight", g.weight("model.per_layer_model_projection.weight", {L * P, D})}});
  proj = g.reshape(g.scale(proj, static_cast<float>(std::pow(static_cast<double>(D), -0.5))), {T, L, P});
  proj = g.rms_norm(proj, "model.per_layer_projection_norm.weight", P, c.rms_norm_eps, x.tr.norm);
  return g.scale(g.add(proj, tok), static_cast<float>(std::pow(2.0, -0.5)));
}

std::string per_layer_input_block(LayerContext& x, int64_t l, const std::string& h) {
  Graph& g = x.g;
  const auto& c = x.cfg;
  const int64_t D = c.hidden_size, T = x.tokens;
  const std::string p = "model.layers." + std::to_string(l) + ".";
  std::string out = h;
  if (c.per_layer_input) {
    const int64_t P = c.per_layer_input->hidden_size;
    std::string gate = g.gelu_tanh(g.linear(h, p + "per_layer_input_gate", D, P));
    std::string slice = g.reshape(g.slice(x.per_layer_inputs, 1, l, l + 1), {T, P});
    std::string proj = g.linear(g.mul(gate, slice), p + "per_layer_projection", P, D);
    out = g.add(h, g.rms_norm(proj, p + "post_per_layer_input_norm.weight", D, c.rms_norm_eps, x.tr.norm));
  }
  if (g.has_weight(p + "layer_scalar")) out = g.mul(out, g.weight(p + "layer_scalar", {1}));
  return out;
}

}  // namespace ironmill::templates
