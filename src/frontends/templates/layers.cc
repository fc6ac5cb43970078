#include "frontends/templates/layers.h"

#include <cmath>

namespace ironmill::templates {

using formats::hf::LayerType;
using formats::hf::ModelConfig;
using formats::hf::ModelFamily;
using mil::DType;
using mil::Shape;
using mil::Tensor;

namespace {

std::string layer_prefix(int64_t l) { return "model.layers." + std::to_string(l) + "."; }

bool is_attention_layer(const ModelConfig& c, int64_t l) {
  return c.layers[static_cast<size_t>(l)].type != LayerType::kLinearAttention;
}

// Additive attention mask: [T, T] constant for prefill, [1, C] from `position` for decode.
// Position j is visible from i when j <= i and, with a sliding window W, i - j < W.
std::string mask_for(LayerContext& x, int64_t window) {
  if (auto it = x.masks.find(window); it != x.masks.end()) return it->second;
  Graph& g = x.g;
  std::string m;
  if (!x.decode) {
    const int64_t T = x.tokens;
    std::vector<double> v(static_cast<size_t>(T * T), 0.0);
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j)
        if (j > i || (window > 0 && i - j >= window)) v[static_cast<size_t>(i * T + j)] = -INFINITY;
    m = g.f32(v, {T, T});
  } else {
    const int64_t C = x.max_context;
    std::vector<int64_t> ar(static_cast<size_t>(C));
    for (int64_t j = 0; j < C; ++j) ar[static_cast<size_t>(j)] = j;
    std::string range = g.i32(ar, {C});
    std::string visible = g.op("less_equal", {{"x", range}, {"y", x.position}});
    if (window > 0) {
      std::string lo = g.op("sub", {{"x", x.position}, {"y", Tensor::from_i64(DType::kInt32, {1}, std::vector<int64_t>{window})}});
      visible = g.op("logical_and", {{"x", visible}, {"y", g.op("greater", {{"x", range}, {"y", lo}})}});
    }
    m = g.reshape(g.op("select", {{"cond", visible}, {"a", Tensor::scalar_f64(DType::kFp32, 0.0)},
                                  {"b", Tensor::scalar_f64(DType::kFp32, -INFINITY)}}),
                  {1, C});
  }
  x.masks[window] = m;
  return m;
}

// Decode: masks selecting the cache row at `position` (write) and the others (keep), [1, C, 1].
void ensure_write_masks(LayerContext& x) {
  if (!x.write_mask.empty()) return;
  Graph& g = x.g;
  const int64_t C = x.max_context;
  std::vector<int64_t> ar(static_cast<size_t>(C));
  for (int64_t j = 0; j < C; ++j) ar[static_cast<size_t>(j)] = j;
  std::string hit = g.op("equal", {{"x", g.i32(ar, {C})}, {"y", x.position}});
  x.write_mask = g.reshape(g.op("cast", {{"x", hit}, {"dtype", Tensor::scalar_string("fp32")}}), {1, C, 1});
  x.keep_mask = g.op("sub", {{"x", Tensor::scalar_f64(DType::kFp32, 1.0)}, {"y", x.write_mask}});
}

// Appends this call's rows [heads, tokens, d] to a cache of length C: decode writes row `position` of
// the incoming cache; prefill pads its rows with zeros to C. Returns the whole cache [heads, S, d]
// that attention reads (S = C for decode, T for prefill).
std::string update_cache(LayerContext& x, const std::string& cache_name, const std::string& rows, int64_t heads,
                         int64_t d) {
  Graph& g = x.g;
  if (x.decode) {
    ensure_write_masks(x);
    std::string updated = g.add(g.mul(x.cache_in.at(cache_name), x.keep_mask), g.mul(rows, x.write_mask));
    x.cache_out[cache_name] = updated;
    return updated;
  }
  if (x.max_context > 0) {
    const int64_t pad = x.max_context - x.tokens;
    x.cache_out[cache_name] =
        pad > 0 ? g.concat({rows, g.f32(std::vector<double>(static_cast<size_t>(heads * pad * d), 0.0), {heads, pad, d})}, 1)
                : rows;
  }
  return rows;
}

// cos/sin [T or 1, 1, head_dim] for this function's positions.
std::pair<std::string, std::string> rope_for(LayerContext& x, const RopeSpec& spec) {
  Graph& g = x.g;
  if (!x.decode) {
    auto [c, s] = g.rope_tables(spec, x.tokens);
    return {g.reshape(c, {x.tokens, 1, spec.head_dim}), g.reshape(s, {x.tokens, 1, spec.head_dim})};
  }
  auto [c, s] = g.rope_tables(spec, x.max_context);
  auto pick = [&](const std::string& t) {
    return g.reshape(g.op("gather", {{"x", t}, {"indices", x.position}, {"axis", Tensor::scalar_i64(DType::kInt32, 0)}}),
                     {1, 1, spec.head_dim});
  };
  return {pick(c), pick(s)};
}

}  // namespace

// Scaled dot-product attention with grouped KV heads: q [T, H, dk], k [KVH, S, dk], v [KVH, S, dv],
// mask [T, S] -> [T, H * dv]. Query head h reads KV head h / (H / KVH), as HF's repeat_kv.
std::string attend(Graph& g, const std::string& q, const std::string& k, const std::string& v, int64_t H, int64_t KVH,
                   int64_t T, int64_t S, int64_t dk, int64_t dv, double scaling, std::optional<double> softcap,
                   const std::string& mask) {
  const int64_t G = H / KVH;
  std::string qh = g.reshape(g.transpose(q, {1, 0, 2}), {KVH, G, T, dk});
  std::string scores = g.scale(g.matmul(qh, g.reshape(k, {KVH, 1, S, dk}), true), scaling);
  if (softcap) scores = g.softcap(scores, *softcap);
  std::string p = g.softmax(g.add(scores, mask), -1);
  std::string o = g.matmul(p, g.reshape(v, {KVH, 1, S, dv}));
  return g.reshape(g.transpose(g.reshape(o, {H, T, dv}), {1, 0, 2}), {T, H * dv});
}

namespace {

double attention_scaling(const ModelConfig& c, int64_t head_dim) {
  if (c.family == ModelFamily::kGemma4) return 1.0;  // q/k norms replace the 1/sqrt(d) scale
  if (c.query_pre_attn_scalar) return 1.0 / std::sqrt(*c.query_pre_attn_scalar);
  return 1.0 / std::sqrt(static_cast<double>(head_dim));
}

std::string self_attention(LayerContext& x, int64_t l, const std::string& in) {
  Graph& g = x.g;
  const ModelConfig& c = x.cfg;
  const auto& lc = c.layers[static_cast<size_t>(l)];
  const int64_t H = lc.num_attention_heads, KVH = lc.num_key_value_heads, hd = lc.head_dim, T = x.tokens;
  const int64_t D = c.hidden_size;
  const std::string p = layer_prefix(l) + "self_attn.";
  const bool gated = c.attn_output_gate;
  std::string q = g.linear(in, p + "q_proj", D, H * hd * (gated ? 2 : 1), c.qkv_bias);
  std::string gate;
  if (gated) {
    // q_proj rows are per head [q_h (hd rows); gate_h (hd rows)].
    std::string qg = g.reshape(q, {T, H, 2 * hd});
    gate = g.reshape(g.slice(qg, -1, hd, 2 * hd), {T, H * hd});
    q = g.slice(qg, -1, 0, hd);
  } else {
    q = g.reshape(q, {T, H, hd});
  }
  if (x.tr.qk_norm) q = g.rms_norm(q, p + "q_norm.weight", hd, c.rms_norm_eps, x.tr.norm);
  const RopeSpec spec = rope_spec(c, lc, hd, x.tr.rope_freq_dtype);
  auto [cos, sin] = rope_for(x, spec);
  q = g.apply_rope(q, spec, cos, sin);

  std::string k_all, v_all;
  int64_t S = x.decode ? x.max_context : T;
  if (lc.kv_source_layer != l) {
    k_all = x.kv_of_layer_k.at(lc.kv_source_layer);
    v_all = x.kv_of_layer_v.at(lc.kv_source_layer);
  } else {
    std::string k = g.reshape(g.linear(in, p + "k_proj", D, KVH * hd, c.qkv_bias), {T, KVH, hd});
    std::string v = g.reshape(g.linear(in, p + "v_proj", D, KVH * hd, c.qkv_bias), {T, KVH, hd});
    if (x.tr.qk_norm) k = g.rms_norm(k, p + "k_norm.weight", hd, c.rms_norm_eps, x.tr.norm);
    if (x.tr.v_norm) v = g.rms_norm(v, "", hd, c.rms_norm_eps, NormStyle::kNoWeight);
    k = g.apply_rope(k, spec, cos, sin);
    k = g.transpose(k, {1, 0, 2});
    v = g.transpose(v, {1, 0, 2});
    const std::string L = std::to_string(l);
    k_all = update_cache(x, "k_cache_" + L, k, KVH, hd);
    v_all = update_cache(x, "v_cache_" + L, v, KVH, hd);
    x.kv_of_layer_k[l] = k_all;
    x.kv_of_layer_v[l] = v_all;
  }
  std::string o = attend(g, q, k_all, v_all, H, KVH, T, S, hd, hd, attention_scaling(c, hd), c.attn_logit_softcapping,
                         mask_for(x, lc.sliding_window.value_or(0)));
  if (gated) o = g.mul(o, g.unary("sigmoid", gate));
  return g.linear(o, p + "o_proj", H * hd, D, c.attention_bias);
}

std::string dense_mlp(LayerContext& x, const std::string& p, const std::string& in, int64_t inter) {
  Graph& g = x.g;
  const int64_t D = x.cfg.hidden_size;
  std::string gate = g.linear(in, p + "gate_proj", D, inter, x.cfg.mlp_bias);
  std::string up = g.linear(in, p + "up_proj", D, inter, x.cfg.mlp_bias);
  std::string act = x.tr.gelu_mlp ? g.gelu_tanh(gate) : g.unary("silu", gate);
  return g.linear(g.mul(act, up), p + "down_proj", inter, D, x.cfg.mlp_bias);
}

}  // namespace

std::string gated_mlp(LayerContext& x, const std::string& p, const std::string& in, int64_t inter) {
  return dense_mlp(x, p, in, inter);
}
std::pair<std::string, std::string> rope_for_layer(LayerContext& x, const RopeSpec& spec) { return rope_for(x, spec); }
std::string update_layer_cache(LayerContext& x, const std::string& cache_name, const std::string& rows, int64_t heads,
                               int64_t d) {
  return update_cache(x, cache_name, rows, heads, d);
}
std::string layer_mask(LayerContext& x, int64_t window) { return mask_for(x, window); }

std::string gated_delta_net(LayerContext& x, int64_t l, const std::string& in);
std::string multi_latent_attention(LayerContext& x, int64_t l, const std::string& in);
std::string moe_mlp(LayerContext& x, int64_t l, const std::string& in);
std::string per_layer_input_block(LayerContext& x, int64_t l, const std::string& h);

std::vector<CacheTensor> cache_specs(const ModelConfig& c, int64_t C) {
  std::vector<CacheTensor> out;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const auto& lc = c.layers[static_cast<size_t>(l)];
    const std::string L = std::to_string(l);
    if (lc.type == LayerType::kLinearAttention) {
      const auto& la = *c.linear_attention;
      const int64_t conv_dim = 2 * la.num_key_heads * la.key_head_dim + la.num_value_heads * la.value_head_dim;
      out.push_back({"conv_state_" + L, mil::Type::tensor(DType::kFp32, {conv_dim, la.conv_kernel_dim - 1})});
      out.push_back({"ssm_state_" + L,
                     mil::Type::tensor(DType::kFp32, {la.num_value_heads, la.key_head_dim, la.value_head_dim})});
    } else if (c.mla) {
      out.push_back({"k_cache_" + L, mil::Type::tensor(DType::kFp32, {lc.num_attention_heads, C, c.mla->qk_head_dim})});
      out.push_back({"v_cache_" + L, mil::Type::tensor(DType::kFp32, {lc.num_attention_heads, C, c.mla->v_head_dim})});
    } else if (lc.kv_source_layer == l) {
      out.push_back({"k_cache_" + L, mil::Type::tensor(DType::kFp32, {lc.num_key_value_heads, C, lc.head_dim})});
      out.push_back({"v_cache_" + L, mil::Type::tensor(DType::kFp32, {lc.num_key_value_heads, C, lc.head_dim})});
    }
  }
  return out;
}

std::string decoder_layer(LayerContext& x, int64_t l, const std::string& h) {
  Graph& g = x.g;
  const ModelConfig& c = x.cfg;
  const auto& lc = c.layers[static_cast<size_t>(l)];
  const int64_t D = c.hidden_size;
  const double eps = c.rms_norm_eps;
  const std::string p = layer_prefix(l);
  std::string a = g.rms_norm(h, p + "input_layernorm.weight", D, eps, x.tr.norm);
  if (!is_attention_layer(c, l)) a = gated_delta_net(x, l, a);
  else if (c.mla) a = multi_latent_attention(x, l, a);
  else a = self_attention(x, l, a);
  if (x.tr.sandwich_norms) a = g.rms_norm(a, p + "post_attention_layernorm.weight", D, eps, x.tr.norm);
  std::string r = g.add(h, a);
  std::string n = g.rms_norm(r, p + (x.tr.sandwich_norms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"),
                             D, eps, x.tr.norm);
  std::string m = lc.moe ? moe_mlp(x, l, n) : dense_mlp(x, p + "mlp.", n, lc.intermediate_size);
  if (x.tr.sandwich_norms) m = g.rms_norm(m, p + "post_feedforward_layernorm.weight", D, eps, x.tr.norm);
  std::string out = g.add(r, m);
  if (c.family == ModelFamily::kGemma4) out = per_layer_input_block(x, l, out);
  return out;
}

}  // namespace ironmill::templates
