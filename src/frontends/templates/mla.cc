// DeepSeek V2/V3 multi-latent attention: queries through a low-rank bottleneck (q_a -> norm -> q_b),
// keys/values from a compressed latent (kv_a -> norm -> kv_b) plus one shared RoPE key per token; the
// rope/nope split of each head. The cache keeps the expanded per-head K and V (static [H, C, d]).
#include <cmath>

#include "frontends/templates/layers.h"

namespace ironmill::templates {

std::string attend(Graph& g, const std::string& q, const std::string& k, const std::string& v, int64_t H, int64_t KVH,
                   int64_t T, int64_t S, int64_t dk, int64_t dv, double scaling, std::optional<double> softcap,
                   const std::string& mask);
std::pair<std::string, std::string> rope_for_layer(LayerContext& x, const RopeSpec& spec);
std::string update_layer_cache(LayerContext& x, const std::string& cache_name, const std::string& rows, int64_t heads,
                               int64_t d);
std::string layer_mask(LayerContext& x, int64_t window);

std::string multi_latent_attention(LayerContext& x, int64_t l, const std::string& in) {
  Graph& g = x.g;
  const auto& c = x.cfg;
  const auto& m = *c.mla;
  const auto& lc = c.layers[static_cast<size_t>(l)];
  const int64_t H = lc.num_attention_heads, T = x.tokens, D = c.hidden_size;
  const int64_t dn = m.qk_nope_head_dim, dr = m.qk_rope_head_dim, dqk = m.qk_head_dim, dv = m.v_head_dim;
  const int64_t r = m.kv_lora_rank;
  const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
  const double eps = c.rms_norm_eps;
  if (lc.rope.type == "yarn") {
    g.fail(unsupported(c.source + ": layer " + std::to_string(l) +
                       ": yarn rope frequencies are not built by the templates (the decode engine runs them)"));
    return {};
  }

  std::string q;
  if (m.q_lora_rank) {
    const int64_t qr = *m.q_lora_rank;
    std::string qa = g.linear(in, p + "q_a_proj", D, qr, c.attention_bias);
    q = g.linear(g.rms_norm(qa, p + "q_a_layernorm.weight", qr, eps, NormStyle::kWeight), p + "q_b_proj", qr, H * dqk);
  } else {
    q = g.linear(in, p + "q_proj", D, H * dqk);
  }
  q = g.reshape(q, {T, H, dqk});
  std::string q_pass = g.slice(q, -1, 0, dn), q_rot = g.slice(q, -1, dn, dqk);

  std::string ckv = g.linear(in, p + "kv_a_proj_with_mqa", D, r + dr, c.attention_bias);
  std::string latent = g.rms_norm(g.slice(ckv, -1, 0, r), p + "kv_a_layernorm.weight", r, eps, NormStyle::kWeight);
  std::string k_rot = g.reshape(g.slice(ckv, -1, r, r + dr), {T, 1, dr});
  std::string kv = g.reshape(g.linear(latent, p + "kv_b_proj", r, H * (dn + dv)), {T, H, dn + dv});
  std::string k_nope = g.slice(kv, -1, 0, dn), v = g.slice(kv, -1, dn, dn + dv);

  const RopeSpec spec = rope_spec(c, lc, dr, x.tr.rope_freq_dtype);
  auto [cos, sin] = rope_for_layer(x, spec);
  q_rot = g.apply_rope(q_rot, spec, cos, sin);
  k_rot = g.apply_rope(k_rot, spec, cos, sin);
  k_rot = g.op("tile", {{"x", k_rot}, {"reps", mil::Tensor::from_i64(mil::DType::kInt32, {3}, std::vector<int64_t>{1, H, 1})}});
  q = g.concat({q_pass, q_rot}, -1);
  std::string k = g.concat({k_nope, k_rot}, -1);

  const std::string L = std::to_string(l);
  std::string k_all = update_layer_cache(x, "k_cache_" + L, g.transpose(k, {1, 0, 2}), H, dqk);
  std::string v_all = update_layer_cache(x, "v_cache_" + L, g.transpose(v, {1, 0, 2}), H, dv);
  double scaling = 1.0 / std::sqrt(static_cast<double>(dqk));
  if (lc.rope.type == "yarn" && lc.rope.mscale_all_dim && *lc.rope.mscale_all_dim != 0 && lc.rope.factor &&
      *lc.rope.factor > 1) {
    const double ms = 0.1 * *lc.rope.mscale_all_dim * std::log(*lc.rope.factor) + 1.0;
    scaling *= ms * ms;
  }
  const int64_t S = x.decode ? x.max_context : T;
  std::string o = attend(g, q, k_all, v_all, H, H, T, S, dqk, dv, scaling, std::nullopt,
                         layer_mask(x, lc.sliding_window.value_or(0)));
  return g.linear(o, p + "o_proj", H * dv, D, c.attention_bias);
}

}  // namespace ironmill::templates
