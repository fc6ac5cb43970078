// The engine's forward pass. Prefill runs in chunks of up to `prefill_chunk` tokens: projections are
// batched (matmul), then each token's K/V goes into the cache and each query attends over the cache
// (flash-decoding kernel), so prefill and decode share one code path. The math follows the architecture
// templates (frontends/templates/layers.cc, decoder.cc), which pass the Hugging Face goldens.
#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "engine/kernels/kernels.h"
#include "engine/weights.h"
#include "mil/tensor.h"

namespace ironmill::engine {

using formats::hf::LayerType;
using formats::hf::ModelConfig;
using formats::hf::ModelFamily;

namespace {

bool is_gemma(ModelFamily f) {
  return f == ModelFamily::kGemma || f == ModelFamily::kGemma2 || f == ModelFamily::kGemma3 ||
         f == ModelFamily::kGemma4;
}

std::string layer_prefix(int64_t l) { return "model.layers." + std::to_string(l) + "."; }

struct KvCache {
  std::vector<float> k, v;
  int64_t capacity = 0, kv_heads = 0, head_dim = 0;
  KvCacheView view() const {
    return {k.data(), v.data(), capacity, kv_heads * head_dim, head_dim};
  }
};

struct Linear {
  WeightMatrix w;
  std::vector<float> bias;  // empty: none
};

struct Layer {
  formats::hf::LayerConfig cfg;
  std::vector<float> input_norm, post_attention_norm, pre_feedforward_norm, post_feedforward_norm;
  std::vector<float> q_norm, k_norm;
  Linear q, k, v, o, gate, up, down;
  std::vector<float> inv_freq;  // rotary_dim / 2 entries
  int64_t rotary_dim = 0;
  // Gemma 4: per-layer input gate/projection/norm and the layer scalar (empty / 1 when absent).
  Linear ple_gate, ple_proj;
  std::vector<float> ple_norm;
  float layer_scalar = 1.0f;
  // Qwen3.5 gated delta net (templates/gdn.cc).
  bool linear = false;
  Linear in_qkv, in_z, in_b, in_a, out_proj;
  std::vector<float> conv_w, A, dt_bias, gdn_norm;  // [conv_dim, K], exp(A_log) [Hv], [Hv], [dv]
  int64_t state = 0;  // index into Impl::gdn
  int64_t cache = 0;  // index into Impl::caches (this layer's own, or the KV-source layer's)
  bool owns_cache = true;
  AttentionParams attn;
  // DeepSeek multi-latent attention (templates/mla.cc) with weight absorption: the cache holds only the
  // normed latent c_kv and the roped shared k_rope per position; kv_b_proj is split per head at load.
  bool mla = false;
  Linear q_a, q_b, kv_a;                // q_a -> q_a_norm -> q_b (q_lora_rank); else `q` is q_proj
  std::vector<float> q_a_norm, kv_a_norm;
  std::vector<float> w_uk_t, w_uv;      // fp32 [H, r, dn] (W_UK_h transposed), [H, dv, r] (W_UV_h)
  float rope_gain = 1.0f;               // yarn attention_factor: HF multiplies cos and sin by it
  // DeepSeek mixture of experts (templates/moe.cc); the dense gate/up/down above are then unused.
  bool moe = false;
  std::vector<float> router, router_bias;     // gate.weight [E, D] in fp32, e_score_correction_bias [E]
  std::vector<Linear> experts;                // [E * 3]: gate_proj, up_proj, down_proj of each expert
  Linear shared_gate, shared_up, shared_down;  // rows == 0 when there are no shared experts
};

// The inverse RoPE frequencies exactly as the templates compute them (graph.cc inverse_frequencies): fp32
// exponent, double pow of the fp32 theta, fp32 reciprocal, rounded through the checkpoint's float dtype.
std::vector<float> inverse_frequencies(const formats::hf::RopeParameters& r, int64_t head_dim, mil::DType freq_dtype,
                                       int64_t* rotary_dim_out) {
  int64_t rotary_dim, freq_dim, active_pairs;
  if (r.type == "proportional") {
    rotary_dim = freq_dim = head_dim;
    active_pairs = static_cast<int64_t>(r.partial_rotary_factor * static_cast<double>(head_dim)) / 2;
  } else {
    rotary_dim = static_cast<int64_t>(static_cast<double>(head_dim) * r.partial_rotary_factor);
    rotary_dim -= rotary_dim % 2;
    freq_dim = rotary_dim;
    active_pairs = rotary_dim / 2;
  }
  std::vector<float> inv(static_cast<size_t>(rotary_dim / 2), 0.0f);
  for (int64_t i = 0; i < std::min(active_pairs, rotary_dim / 2); ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(freq_dim);
    const float p = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(r.theta)), static_cast<double>(e)));
    uint8_t bits[8];
    mil::store_f64(freq_dtype, bits, static_cast<double>(1.0f / p));
    inv[static_cast<size_t>(i)] = static_cast<float>(mil::load_f64(freq_dtype, bits));
  }
  *rotary_dim_out = rotary_dim;
  return inv;
}

// YaRN inverse frequencies as HF's _compute_yarn_parameters (transformers 5.17), in the same fp32 steps:
// interpolated (1 / (factor * theta^(2i/dim))) and extrapolated (1 / theta^(2i/dim)) frequencies blended by a
// linear ramp over the correction range of beta_fast/beta_slow rotations in the original context (truncated to
// whole dims). *attention_factor: the cos/sin multiplier (get_mscale(factor, mscale) / get_mscale(factor,
// mscale_all_dim) when both are set, else get_mscale(factor), unless the config gives it).
std::vector<float> yarn_inverse_frequencies(const formats::hf::RopeParameters& r, int64_t dim, mil::DType freq_dtype,
                                            float* attention_factor) {
  const double base = r.theta, factor = *r.factor;
  const double orig = static_cast<double>(*r.original_max_position_embeddings);
  const auto get_mscale = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
  if (r.attention_factor) *attention_factor = static_cast<float>(*r.attention_factor);
  else if (r.mscale && r.mscale_all_dim && *r.mscale != 0 && *r.mscale_all_dim != 0)
    *attention_factor = static_cast<float>(get_mscale(factor, *r.mscale) / get_mscale(factor, *r.mscale_all_dim));
  else *attention_factor = static_cast<float>(get_mscale(factor, 1.0));
  const double beta_fast = r.beta_fast && *r.beta_fast != 0 ? *r.beta_fast : 32.0;
  const double beta_slow = r.beta_slow && *r.beta_slow != 0 ? *r.beta_slow : 1.0;
  const double pi = 3.14159265358979323846;
  const auto correction_dim = [&](double rotations) {
    return (static_cast<double>(dim) * std::log(orig / (rotations * 2 * pi))) / (2 * std::log(base));
  };
  double low = std::max(std::floor(correction_dim(beta_fast)), 0.0);
  double high = std::min(std::ceil(correction_dim(beta_slow)), static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  std::vector<float> inv(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    const float pos = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(base)), static_cast<double>(e)));
    const float extrap = 1.0f / pos;
    const float interp = 1.0f / (static_cast<float>(factor) * pos);
    const float ramp = std::clamp((static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low), 0.0f, 1.0f);
    const float ef = 1.0f - ramp;
    const float v = interp * (1.0f - ef) + extrap * ef;
    uint8_t bits[8];
    mil::store_f64(freq_dtype, bits, static_cast<double>(v));
    inv[static_cast<size_t>(i)] = static_cast<float>(mil::load_f64(freq_dtype, bits));
  }
  return inv;
}

}  // namespace

struct Engine::Impl {
  ModelConfig cfg;
  std::unique_ptr<WeightStore> store;
  std::unique_ptr<ThreadPool> pool;
  int64_t max_seq = 0, chunk = 0;
  int64_t D = 0, V = 0;
  float eps = 1e-6f;
  uint32_t norm_flags = kNormPlain;
  bool qk_norm = false, sandwich = false, embed_scale = false, gelu = false, v_norm = false;
  float final_softcap = 0;
  RopeStyle rope_style = RopeStyle::kRotateHalf;

  WeightMatrix embed, lm_head;
  // Gemma 4 per-layer embeddings: table [Vp, L*P], model projection [L*P, D], norm [P]; P = 0 when absent.
  int64_t ple_dim = 0;
  WeightMatrix ple_table;
  Linear ple_model_proj;
  std::vector<float> ple_proj_norm;
  std::vector<float> ple, ple_tmp, ple_row;  // [chunk, L*P], [chunk, P], [L*P]
  std::vector<float> final_norm;
  std::vector<Layer> layers;
  std::vector<KvCache> caches;
  struct GdnState {
    std::vector<float> conv, ssm;  // [conv_dim, K - 1] (oldest first), [Hv, dk, dv]
  };
  std::vector<GdnState> gdn;
  bool gated_attention = false;  // Qwen3.5: q_proj rows per head are [q_h; gate_h]
  std::vector<float> gq, gz, gb, ga, gy;  // GDN scratch
  std::vector<float> qgate;               // [chunk, H * hd] attention output gates
  int64_t pos = 0;
  std::vector<int64_t> window_keep;  // per cache: how many positions a ring buffer holds (0: all)

  // Scratch, [chunk, ...].
  std::vector<float> x, a, q, k, v, att, o, g, u, logits;
  // DeepSeek scratch. MLA: q_a [chunk, qr], kv_a [chunk, r + dr], per head latent query and output [H, r],
  // scores [H, max_seq]. MoE: routing [chunk, K], the rows routed to one expert and their outputs.
  std::vector<float> mla_qa, mla_kv, mla_qlat, mla_olat, mla_scores;
  std::vector<int64_t> moe_idx, moe_rows;
  std::vector<float> moe_w, moe_row_w, moe_scores, moe_choice, moe_group, moe_x, moe_g, moe_u, moe_y;
  std::vector<uint8_t> moe_group_kept;

  Status load(const EngineOptions& opt);
  Result<Linear> linear(const std::string& prefix, int64_t rows, int64_t cols, bool bias) const;
  void project(const Linear& lin, const float* in, int64_t n, float* out) const;
  void attention(Layer& L, int64_t n, int64_t p0);
  void delta_net(Layer& L, int64_t n);
  void mlp(const Layer& L, int64_t n);
  Status load_mla(Layer& L, int64_t l, mil::DType freq_dtype);
  Status load_moe(Layer& L, int64_t l);
  void mla_attention(Layer& L, int64_t n, int64_t p0);
  void moe_route(const Layer& L, const float* xt, int64_t* idx, float* w);
  void moe_mlp(const Layer& L, int64_t n);
  void per_layer_inputs(const int32_t* ids, int64_t n);
  void per_layer_tail(const Layer& L, size_t l, int64_t n);
  void forward(const int32_t* ids, int64_t n, PrefillExtras* extras, int64_t row0, bool last_logits);
};

Result<Linear> Engine::Impl::linear(const std::string& prefix, int64_t rows, int64_t cols, bool bias) const {
  Linear lin;
  IM_ASSIGN_OR_RETURN(lin.w, store->matrix(prefix + ".weight", rows, cols));
  if (bias) {
    IM_ASSIGN_OR_RETURN(lin.bias, store->vector(prefix + ".bias", rows));
  }
  return lin;
}

Status Engine::Impl::load(const EngineOptions& opt) {
  const ModelConfig& c = cfg;
  const std::string who = c.source + ": engine: ";
  if (std::count(c.layer_types.begin(), c.layer_types.end(), LayerType::kLinearAttention) && !c.linear_attention)
    return invalid_argument(who + "linear_attention layers without a linear-attention config");
  if ((c.mla || c.moe) && c.family != ModelFamily::kDeepseekV3)
    return unsupported(who + "multi-latent attention and mixture-of-experts MLPs are implemented for deepseek_v3 only");
  if (c.moe && (c.moe->scoring_func != "sigmoid" || c.moe->topk_method != "noaux_tc"))
    return unsupported(who + "MoE `scoring_func` `" + c.moe->scoring_func + "` / `topk_method` `" + c.moe->topk_method +
                       "` (supported: sigmoid / noaux_tc)");
  for (const auto& lc : c.layers)
    if (lc.rope.type != "default" && lc.rope.type != "proportional" && !(lc.rope.type == "yarn" && c.mla))
      return unsupported(who + "rope type `" + lc.rope.type + "` is not supported" +
                         (lc.rope.type == "yarn" ? " (yarn: DeepSeek multi-latent attention only)" : ""));

  D = c.hidden_size;
  V = c.vocab_size;
  eps = static_cast<float>(c.rms_norm_eps);
  const bool gemma = is_gemma(c.family);
  if ((gemma && c.family != ModelFamily::kGemma4) || c.family == ModelFamily::kQwen3_5) norm_flags = kNormOnePlusWeight;
  qk_norm = c.family == ModelFamily::kQwen3 || c.family == ModelFamily::kQwen3_5 || c.family == ModelFamily::kGemma3 ||
            c.family == ModelFamily::kGemma4;
  sandwich = c.family == ModelFamily::kGemma2 || c.family == ModelFamily::kGemma3 || c.family == ModelFamily::kGemma4;
  embed_scale = gemma;
  gelu = gemma || c.hidden_act == "gelu_pytorch_tanh" || c.hidden_act == "gelu_tanh";
  v_norm = c.family == ModelFamily::kGemma4;
  final_softcap = c.final_logit_softcapping ? static_cast<float>(*c.final_logit_softcapping) : 0.0f;
  rope_style = c.rope_interleave || store->qk_rows_interleaved() ? RopeStyle::kInterleaved : RopeStyle::kRotateHalf;

  int64_t ms = opt.max_seq_len > 0 ? opt.max_seq_len
                                   : (c.max_position_embeddings > 0 ? std::min<int64_t>(c.max_position_embeddings, 4096) : 4096);
  max_seq = ms;
  chunk = std::max<int64_t>(1, std::min(opt.prefill_chunk, max_seq));
  const int threads = opt.threads > 0 ? opt.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  pool = std::make_unique<ThreadPool>(threads);

  IM_ASSIGN_OR_RETURN(embed, store->matrix("model.embed_tokens.weight", V, D));
  if (store->has("lm_head.weight")) {
    IM_ASSIGN_OR_RETURN(lm_head, store->matrix("lm_head.weight", V, D));
  } else if (c.tie_word_embeddings) {
    lm_head = embed;
  } else {
    return not_found(store->describe() + ": missing tensor `lm_head.weight` (tie_word_embeddings is false)");
  }
  IM_ASSIGN_OR_RETURN(final_norm, store->vector("model.norm.weight", D));
  if (c.per_layer_input) {
    ple_dim = c.per_layer_input->hidden_size;
    const int64_t LP = c.num_hidden_layers * ple_dim;
    IM_ASSIGN_OR_RETURN(ple_table, store->matrix("model.embed_tokens_per_layer.weight", c.per_layer_input->vocab_size, LP));
    IM_ASSIGN_OR_RETURN(ple_model_proj, linear("model.per_layer_model_projection", LP, D, false));
    IM_ASSIGN_OR_RETURN(ple_proj_norm, store->vector("model.per_layer_projection_norm.weight", ple_dim));
  }

  // Half-precision checkpoints carry RoPE frequencies rounded to their dtype (templates' RopeSpec::freq_dtype).
  mil::DType freq_dtype = mil::DType::kFp32;
  if (embed.format == WeightFormat::kF16) freq_dtype = mil::DType::kFp16;
  if (embed.format == WeightFormat::kBF16) freq_dtype = mil::DType::kBf16;

  int64_t max_q = 0, max_kv = 0, max_inter = 0;
  layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    Layer& L = layers[static_cast<size_t>(l)];
    L.cfg = c.layers[static_cast<size_t>(l)];
    const auto& lc = L.cfg;
    const std::string p = layer_prefix(l);
    const int64_t H = lc.num_attention_heads, KVH = lc.num_key_value_heads, hd = lc.head_dim;
    IM_ASSIGN_OR_RETURN(L.input_norm, store->vector(p + "input_layernorm.weight", D));
    IM_ASSIGN_OR_RETURN(L.post_attention_norm, store->vector(p + "post_attention_layernorm.weight", D));
    if (sandwich) {
      IM_ASSIGN_OR_RETURN(L.pre_feedforward_norm, store->vector(p + "pre_feedforward_layernorm.weight", D));
      IM_ASSIGN_OR_RETURN(L.post_feedforward_norm, store->vector(p + "post_feedforward_layernorm.weight", D));
    }
    const std::string m = p + "mlp.";
    if (lc.moe) {
      IM_RETURN_IF_ERROR(load_moe(L, l));
      max_inter = std::max(max_inter, c.moe->moe_intermediate_size * c.moe->num_shared_experts);
    } else {
      IM_ASSIGN_OR_RETURN(L.gate, linear(m + "gate_proj", lc.intermediate_size, D, c.mlp_bias));
      IM_ASSIGN_OR_RETURN(L.up, linear(m + "up_proj", lc.intermediate_size, D, c.mlp_bias));
      IM_ASSIGN_OR_RETURN(L.down, linear(m + "down_proj", D, lc.intermediate_size, c.mlp_bias));
      max_inter = std::max(max_inter, lc.intermediate_size);
    }
    if (c.mla) {
      IM_RETURN_IF_ERROR(load_mla(L, l, freq_dtype));
      const auto& ml = *c.mla;
      max_q = std::max(max_q, H * std::max(ml.qk_head_dim, ml.v_head_dim));
      continue;
    }
    if (lc.type == LayerType::kLinearAttention) {
      const auto& la = *c.linear_attention;
      const int64_t Hk = la.num_key_heads, Hv = la.num_value_heads, dk = la.key_head_dim, dv = la.value_head_dim;
      const int64_t K = la.conv_kernel_dim, conv_dim = 2 * Hk * dk + Hv * dv;
      if (Hk <= 0 || Hv % Hk != 0 || K < 1) return invalid_argument(who + "linear attention heads/kernel do not fit");
      const std::string g = p + "linear_attn.";
      L.linear = true;
      IM_ASSIGN_OR_RETURN(L.in_qkv, linear(g + "in_proj_qkv", conv_dim, D, false));
      IM_ASSIGN_OR_RETURN(L.in_z, linear(g + "in_proj_z", Hv * dv, D, false));
      IM_ASSIGN_OR_RETURN(L.in_b, linear(g + "in_proj_b", Hv, D, false));
      IM_ASSIGN_OR_RETURN(L.in_a, linear(g + "in_proj_a", Hv, D, false));
      IM_ASSIGN_OR_RETURN(L.out_proj, linear(g + "out_proj", D, Hv * dv, false));
      IM_ASSIGN_OR_RETURN(L.conv_w, store->vector(g + "conv1d.weight", conv_dim * K));
      IM_ASSIGN_OR_RETURN(L.A, store->vector(g + "A_log", Hv));
      for (float& v : L.A) v = std::exp(v);
      IM_ASSIGN_OR_RETURN(L.dt_bias, store->vector(g + "dt_bias", Hv));
      IM_ASSIGN_OR_RETURN(L.gdn_norm, store->vector(g + "norm.weight", dv));
      GdnState st;
      st.conv.assign(static_cast<size_t>(conv_dim * (K - 1)), 0.0f);
      st.ssm.assign(static_cast<size_t>(Hv * dk * dv), 0.0f);
      L.state = static_cast<int64_t>(gdn.size());
      gdn.push_back(std::move(st));
      gq.resize(std::max(gq.size(), static_cast<size_t>(chunk * conv_dim)));
      gz.resize(std::max(gz.size(), static_cast<size_t>(chunk * Hv * dv)));
      gy.resize(std::max(gy.size(), static_cast<size_t>(chunk * Hv * dv)));
      gb.resize(std::max(gb.size(), static_cast<size_t>(chunk * Hv)));
      ga.resize(std::max(ga.size(), static_cast<size_t>(chunk * Hv)));
      continue;
    }
    gated_attention = c.attn_output_gate;
    const std::string a = p + "self_attn.";
    IM_ASSIGN_OR_RETURN(L.q, linear(a + "q_proj", H * hd * (c.attn_output_gate ? 2 : 1), D, c.qkv_bias));
    if (lc.kv_source_layer == l) {
      IM_ASSIGN_OR_RETURN(L.k, linear(a + "k_proj", KVH * hd, D, c.qkv_bias));
      IM_ASSIGN_OR_RETURN(L.v, linear(a + "v_proj", KVH * hd, D, c.qkv_bias));
    }
    IM_ASSIGN_OR_RETURN(L.o, linear(a + "o_proj", D, H * hd, c.attention_bias));
    if (qk_norm) {
      IM_ASSIGN_OR_RETURN(L.q_norm, store->vector(a + "q_norm.weight", hd));
      if (lc.kv_source_layer == l) {
        IM_ASSIGN_OR_RETURN(L.k_norm, store->vector(a + "k_norm.weight", hd));
      }
    }
    if (ple_dim > 0) {
      IM_ASSIGN_OR_RETURN(L.ple_gate, linear(p + "per_layer_input_gate", ple_dim, D, false));
      IM_ASSIGN_OR_RETURN(L.ple_proj, linear(p + "per_layer_projection", D, ple_dim, false));
      IM_ASSIGN_OR_RETURN(L.ple_norm, store->vector(p + "post_per_layer_input_norm.weight", D));
    }
    if (store->has(p + "layer_scalar")) {
      IM_ASSIGN_OR_RETURN(auto ls, store->vector(p + "layer_scalar", 1));
      L.layer_scalar = ls[0];
    }
    L.inv_freq = inverse_frequencies(lc.rope, hd, freq_dtype, &L.rotary_dim);

    L.attn.n_heads = H;
    L.attn.n_kv_heads = KVH;
    L.attn.head_dim = hd;
    double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    if (c.family == ModelFamily::kGemma4) scale = 1.0;
    else if (c.query_pre_attn_scalar) scale = 1.0 / std::sqrt(*c.query_pre_attn_scalar);
    L.attn.scale = static_cast<float>(scale);
    L.attn.softcap = c.attn_logit_softcapping ? static_cast<float>(*c.attn_logit_softcapping) : 0.0f;
    L.attn.window = lc.sliding_window.value_or(0);
    if (H % KVH != 0) return invalid_argument(who + "layer " + std::to_string(l) + ": heads not a multiple of kv heads");

    if (lc.kv_source_layer == l) {
      KvCache kv;
      kv.kv_heads = KVH;
      kv.head_dim = hd;
      // A sliding layer keeps window + chunk - 1 positions: a whole prefill chunk is written before its
      // queries attend, and the first query of the chunk still needs the window behind it.
      kv.capacity = L.attn.window > 0 ? std::min(max_seq, L.attn.window + chunk - 1) : max_seq;
      kv.k.assign(static_cast<size_t>(kv.capacity * KVH * hd), 0.0f);
      kv.v.assign(kv.k.size(), 0.0f);
      L.cache = static_cast<int64_t>(caches.size());
      window_keep.push_back(kv.capacity < max_seq ? kv.capacity : 0);
      caches.push_back(std::move(kv));
    } else {
      L.owns_cache = false;
      L.cache = layers[static_cast<size_t>(lc.kv_source_layer)].cache;
    }
    max_q = std::max(max_q, H * hd * (c.attn_output_gate ? 2 : 1));
    max_kv = std::max(max_kv, KVH * hd);
  }
  const auto sz = [&](int64_t per) { return static_cast<size_t>(chunk * per); };
  x.resize(sz(D));
  a.resize(sz(D));
  o.resize(sz(D));
  q.resize(sz(max_q));
  att.resize(sz(max_q));
  if (gated_attention) qgate.resize(sz(max_q));
  k.resize(sz(max_kv));
  v.resize(sz(max_kv));
  g.resize(sz(max_inter));
  u.resize(sz(max_inter));
  logits.resize(static_cast<size_t>(V));
  if (ple_dim > 0) {
    ple.resize(sz(c.num_hidden_layers * ple_dim));
    ple_tmp.resize(sz(ple_dim));
    ple_row.resize(static_cast<size_t>(c.num_hidden_layers * ple_dim));
  }
  return Status::Ok();
}

void Engine::Impl::project(const Linear& lin, const float* in, int64_t n, float* out) const {
  if (n == 1) matvec(lin.w, in, out, *pool);
  else matmul(lin.w, in, n, out, *pool);
  if (!lin.bias.empty())
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < lin.w.rows; ++i) out[t * lin.w.rows + i] += lin.bias[static_cast<size_t>(i)];
}

void Engine::Impl::attention(Layer& L, int64_t n, int64_t p0) {
  const int64_t H = L.attn.n_heads, KVH = L.attn.n_kv_heads, hd = L.attn.head_dim;
  KvCache& kv = caches[static_cast<size_t>(L.cache)];
  project(L.q, a.data(), n, q.data());
  if (gated_attention) {
    // Rows per head are [q_h; gate_h]: keep the gates in `g` and pack the queries to [n, H, hd].
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* src = q.data() + (t * H + h) * 2 * hd;
        std::copy_n(src + hd, hd, qgate.data() + (t * H + h) * hd);
      }
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < H; ++h) std::copy_n(q.data() + (t * H + h) * 2 * hd, hd, att.data() + (t * H + h) * hd);
    std::copy_n(att.data(), n * H * hd, q.data());
  }
  if (L.owns_cache) {
    project(L.k, a.data(), n, k.data());
    project(L.v, a.data(), n, v.data());
  }
  for (int64_t t = 0; t < n; ++t) {
    const int64_t p = p0 + t;
    float* qt = q.data() + t * H * hd;
    if (qk_norm) rmsnorm_heads(qt, H, hd, L.q_norm.data(), eps, norm_flags);
    rope(qt, H, hd, L.rotary_dim, p, L.inv_freq.data(), rope_style);
    if (!L.owns_cache) continue;
    float* kt = k.data() + t * KVH * hd;
    float* vt = v.data() + t * KVH * hd;
    if (qk_norm) rmsnorm_heads(kt, KVH, hd, L.k_norm.data(), eps, norm_flags);
    if (v_norm) rmsnorm_heads(vt, KVH, hd, nullptr, eps, kNormPlain);
    rope(kt, KVH, hd, L.rotary_dim, p, L.inv_freq.data(), rope_style);
    const int64_t slot = p % kv.capacity;
    std::copy_n(kt, KVH * hd, kv.k.data() + slot * KVH * hd);
    std::copy_n(vt, KVH * hd, kv.v.data() + slot * KVH * hd);
  }
  const KvCacheView view = kv.view();
  for (int64_t t = 0; t < n; ++t)
    attention_decode(q.data() + t * H * hd, view, p0 + t, L.attn, att.data() + t * H * hd, *pool);
  if (gated_attention)
    for (int64_t i = 0; i < n * H * hd; ++i) att[static_cast<size_t>(i)] *= 1.0f / (1.0f + std::exp(-qgate[static_cast<size_t>(i)]));
  project(L.o, att.data(), n, o.data());
}

// Gated delta net over n tokens, sequentially through the conv and recurrent state (templates/gdn.cc).
void Engine::Impl::delta_net(Layer& L, int64_t n) {
  const auto& la = *cfg.linear_attention;
  const int64_t Hk = la.num_key_heads, Hv = la.num_value_heads, dk = la.key_head_dim, dv = la.value_head_dim;
  const int64_t K = la.conv_kernel_dim, key_dim = Hk * dk, value_dim = Hv * dv, conv_dim = 2 * key_dim + value_dim;
  GdnState& st = gdn[static_cast<size_t>(L.state)];
  project(L.in_qkv, a.data(), n, gq.data());
  project(L.in_z, a.data(), n, gz.data());
  project(L.in_b, a.data(), n, gb.data());
  project(L.in_a, a.data(), n, ga.data());
  const float qscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dk)));
  for (int64_t t = 0; t < n; ++t) {
    float* u = gq.data() + t * conv_dim;
    // Causal depthwise conv: the K-1 cached inputs then this one; SiLU.
    for (int64_t ch = 0; ch < conv_dim; ++ch) {
      float* hist = st.conv.data() + ch * (K - 1);
      const float* w = L.conv_w.data() + ch * K;
      float acc = 0;
      for (int64_t j = 0; j < K - 1; ++j) acc += hist[j] * w[j];
      acc += u[ch] * w[K - 1];
      for (int64_t j = 0; j + 1 < K - 1; ++j) hist[j] = hist[j + 1];
      if (K > 1) hist[K - 2] = u[ch];
      u[ch] = acc / (1.0f + std::exp(-acc));
    }
    auto l2norm = [](float* v, int64_t d) {
      double ss = 0;
      for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(v[i]) * v[i];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss + 1e-6));
      for (int64_t i = 0; i < d; ++i) v[i] *= inv;
    };
    for (int64_t h = 0; h < Hk; ++h) {
      l2norm(u + h * dk, dk);
      for (int64_t i = 0; i < dk; ++i) u[h * dk + i] *= qscale;
      l2norm(u + key_dim + h * dk, dk);
    }
    const float* qv = u;
    const float* kv = u + key_dim;
    const float* vv = u + 2 * key_dim;
    float* y = gy.data() + t * value_dim;
    for (int64_t h = 0; h < Hv; ++h) {
      const int64_t kh = h / (Hv / Hk);
      const float* qh = qv + kh * dk;
      const float* kh_ = kv + kh * dk;
      const float* vh = vv + h * dv;
      const float beta = 1.0f / (1.0f + std::exp(-gb[static_cast<size_t>(t * Hv + h)]));
      const float xa = ga[static_cast<size_t>(t * Hv + h)] + L.dt_bias[static_cast<size_t>(h)];
      const float sp = xa > 20.0f ? xa : std::log1p(std::exp(xa));
      const float decay = std::exp(-L.A[static_cast<size_t>(h)] * sp);
      float* S = st.ssm.data() + h * dk * dv;
      for (int64_t i = 0; i < dk * dv; ++i) S[i] *= decay;
      float* oh = y + h * dv;
      for (int64_t j = 0; j < dv; ++j) {
        float mem = 0;
        for (int64_t i = 0; i < dk; ++i) mem += kh_[i] * S[i * dv + j];
        oh[j] = (vh[j] - mem) * beta;  // delta, reused below
      }
      for (int64_t i = 0; i < dk; ++i)
        for (int64_t j = 0; j < dv; ++j) S[i * dv + j] += kh_[i] * oh[j];
      for (int64_t j = 0; j < dv; ++j) {
        float acc = 0;
        for (int64_t i = 0; i < dk; ++i) acc += qh[i] * S[i * dv + j];
        oh[j] = acc;
      }
      add_rmsnorm(oh, nullptr, L.gdn_norm.data(), dv, eps, kNormPlain, oh);
      const float* zh = gz.data() + t * value_dim + h * dv;
      for (int64_t j = 0; j < dv; ++j) oh[j] *= zh[j] / (1.0f + std::exp(-zh[j]));
    }
  }
  project(L.out_proj, gy.data(), n, o.data());
}

void Engine::Impl::mlp(const Layer& L, int64_t n) {
  const int64_t I = L.cfg.intermediate_size;
  project(L.gate, a.data(), n, g.data());
  project(L.up, a.data(), n, u.data());
  if (gelu) geglu(g.data(), u.data(), g.data(), n * I, GeluKind::kTanh);
  else swiglu(g.data(), u.data(), g.data(), n * I);
  project(L.down, g.data(), n, o.data());
}

// DeepSeek MLA weights and cache (HF DeepseekV3Attention). kv_b_proj rows per head are [k_nope (dn); v (dv)],
// each [r] wide; they are widened to fp32 once here, W_UK transposed so the query absorption reads rows.
Status Engine::Impl::load_mla(Layer& L, int64_t l, mil::DType freq_dtype) {
  const ModelConfig& c = cfg;
  const auto& m = *c.mla;
  const auto& lc = L.cfg;
  const int64_t H = lc.num_attention_heads, dn = m.qk_nope_head_dim, dr = m.qk_rope_head_dim, dqk = m.qk_head_dim;
  const int64_t dv = m.v_head_dim, r = m.kv_lora_rank;
  const std::string a = layer_prefix(l) + "self_attn.";
  if (dr % 2 != 0)
    return invalid_argument(c.source + ": engine: `qk_rope_head_dim` " + std::to_string(dr) + " is odd (RoPE rotates pairs)");
  if (lc.sliding_window)
    return unsupported(c.source + ": engine: layer " + std::to_string(l) + ": sliding-window multi-latent attention");
  L.mla = true;
  if (m.q_lora_rank) {
    const int64_t qr = *m.q_lora_rank;
    IM_ASSIGN_OR_RETURN(L.q_a, linear(a + "q_a_proj", qr, D, c.attention_bias));
    IM_ASSIGN_OR_RETURN(L.q_a_norm, store->vector(a + "q_a_layernorm.weight", qr));
    IM_ASSIGN_OR_RETURN(L.q_b, linear(a + "q_b_proj", H * dqk, qr, false));
    mla_qa.resize(std::max(mla_qa.size(), static_cast<size_t>(chunk * qr)));
  } else {
    IM_ASSIGN_OR_RETURN(L.q, linear(a + "q_proj", H * dqk, D, false));
  }
  IM_ASSIGN_OR_RETURN(L.kv_a, linear(a + "kv_a_proj_with_mqa", r + dr, D, c.attention_bias));
  IM_ASSIGN_OR_RETURN(L.kv_a_norm, store->vector(a + "kv_a_layernorm.weight", r));
  IM_ASSIGN_OR_RETURN(WeightMatrix kv_b, store->matrix(a + "kv_b_proj.weight", H * (dn + dv), r));
  IM_ASSIGN_OR_RETURN(L.o, linear(a + "o_proj", D, H * dv, c.attention_bias));
  L.w_uk_t.assign(static_cast<size_t>(H * r * dn), 0.0f);
  L.w_uv.assign(static_cast<size_t>(H * dv * r), 0.0f);
  std::vector<float> row(static_cast<size_t>(r));
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < dn; ++i) {
      dequantize_row(kv_b, h * (dn + dv) + i, row.data());
      for (int64_t j = 0; j < r; ++j) L.w_uk_t[static_cast<size_t>((h * r + j) * dn + i)] = row[static_cast<size_t>(j)];
    }
    for (int64_t i = 0; i < dv; ++i)
      dequantize_row(kv_b, h * (dn + dv) + dn + i, L.w_uv.data() + (h * dv + i) * r);
  }
  double scale = 1.0 / std::sqrt(static_cast<double>(dqk));  // HF: qk_head_dim^-0.5
  if (lc.rope.type == "yarn") {
    if (!lc.rope.original_max_position_embeddings)
      return invalid_argument(c.source + ": engine: yarn rope without `rope_parameters.original_max_position_embeddings`");
    L.inv_freq = yarn_inverse_frequencies(lc.rope, dr, freq_dtype, &L.rope_gain);
    L.rotary_dim = dr;
    // HF yarn_apply_mscale: scaling *= mscale^2, mscale = 0.1 * mscale_all_dim * ln(factor) + 1 (factor > 1).
    const auto& rp = lc.rope;
    if (rp.mscale_all_dim && *rp.mscale_all_dim != 0 && *rp.factor > 1) {
      const double ms = 0.1 * *rp.mscale_all_dim * std::log(*rp.factor) + 1.0;
      scale *= ms * ms;
    }
  } else {
    L.inv_freq = inverse_frequencies(lc.rope, dr, freq_dtype, &L.rotary_dim);
  }
  L.attn.n_heads = H;
  L.attn.n_kv_heads = 1;
  L.attn.head_dim = dqk;
  L.attn.scale = static_cast<float>(scale);
  // The layer's cache: k holds c_kv [max_seq, r], v holds k_rope [max_seq, dr] (one shared "head" each).
  KvCache kv;
  kv.kv_heads = 1;
  kv.head_dim = r;
  kv.capacity = max_seq;
  kv.k.assign(static_cast<size_t>(max_seq * r), 0.0f);
  kv.v.assign(static_cast<size_t>(max_seq * dr), 0.0f);
  L.cache = static_cast<int64_t>(caches.size());
  window_keep.push_back(0);
  caches.push_back(std::move(kv));
  mla_kv.resize(std::max(mla_kv.size(), static_cast<size_t>(chunk * (r + dr))));
  mla_qlat.resize(std::max(mla_qlat.size(), static_cast<size_t>(H * r)));
  mla_olat.resize(std::max(mla_olat.size(), static_cast<size_t>(H * r)));
  mla_scores.resize(std::max(mla_scores.size(), static_cast<size_t>(H * max_seq)));
  return Status::Ok();
}

// DeepSeek MoE weights (HF DeepseekV3MoE): router gate + correction bias, routed experts, shared experts.
Status Engine::Impl::load_moe(Layer& L, int64_t l) {
  const ModelConfig& c = cfg;
  const auto& m = *c.moe;
  const int64_t E = m.num_experts, K = m.num_experts_per_tok, I = m.moe_intermediate_size;
  const std::string who = c.source + ": engine: ";
  if (m.n_group <= 0 || E % m.n_group != 0)
    return invalid_argument(who + "`n_group` " + std::to_string(m.n_group) + " does not divide `n_routed_experts` " +
                            std::to_string(E));
  if (m.topk_group <= 0 || m.topk_group > m.n_group)
    return invalid_argument(who + "`topk_group` " + std::to_string(m.topk_group) + " is not in [1, `n_group` " +
                            std::to_string(m.n_group) + "]");
  if (m.n_group > 1 && E / m.n_group < 2)
    return invalid_argument(who + "group-limited routing scores each group by its top 2 experts, but groups have " +
                            std::to_string(E / m.n_group));
  if (K > m.topk_group * (E / m.n_group))
    return invalid_argument(who + "`num_experts_per_tok` " + std::to_string(K) + " exceeds the experts of `topk_group` groups");
  const std::string p = layer_prefix(l) + "mlp.";
  L.moe = true;
  IM_ASSIGN_OR_RETURN(L.router, store->vector(p + "gate.weight", E * D));
  IM_ASSIGN_OR_RETURN(L.router_bias, store->vector(p + "gate.e_score_correction_bias", E));
  L.experts.clear();
  for (int64_t e = 0; e < E; ++e) {
    const std::string x = p + "experts." + std::to_string(e) + ".";
    IM_ASSIGN_OR_RETURN(Linear gate, linear(x + "gate_proj", I, D, false));
    IM_ASSIGN_OR_RETURN(Linear up, linear(x + "up_proj", I, D, false));
    IM_ASSIGN_OR_RETURN(Linear down, linear(x + "down_proj", D, I, false));
    L.experts.push_back(std::move(gate));
    L.experts.push_back(std::move(up));
    L.experts.push_back(std::move(down));
  }
  if (m.num_shared_experts > 0) {
    const int64_t Is = I * m.num_shared_experts;
    IM_ASSIGN_OR_RETURN(L.shared_gate, linear(p + "shared_experts.gate_proj", Is, D, false));
    IM_ASSIGN_OR_RETURN(L.shared_up, linear(p + "shared_experts.up_proj", Is, D, false));
    IM_ASSIGN_OR_RETURN(L.shared_down, linear(p + "shared_experts.down_proj", D, Is, false));
  }
  const auto grow = [](std::vector<float>& v, int64_t n) { v.resize(std::max(v.size(), static_cast<size_t>(n))); };
  moe_idx.resize(std::max(moe_idx.size(), static_cast<size_t>(chunk * K)));
  moe_rows.resize(std::max(moe_rows.size(), static_cast<size_t>(chunk)));
  grow(moe_w, chunk * K);
  grow(moe_row_w, chunk);
  grow(moe_scores, E);
  grow(moe_choice, E);
  grow(moe_group, m.n_group);
  moe_group_kept.resize(std::max(moe_group_kept.size(), static_cast<size_t>(m.n_group)));
  grow(moe_x, chunk * D);
  grow(moe_g, chunk * I);
  grow(moe_u, chunk * I);
  grow(moe_y, chunk * D);
  return Status::Ok();
}

// MLA over n tokens at p0.. with the absorbed weights: per head, q_lat = W_UK^T q_nope, score_s = scale *
// (q_lat . c_kv_s + q_rope . k_rope_s), o_lat = sum_s p_s c_kv_s, v = W_UV o_lat. Equal to HF's expanded
// form since k_nope_s = W_UK c_kv_s and v_s = W_UV c_kv_s.
void Engine::Impl::mla_attention(Layer& L, int64_t n, int64_t p0) {
  const auto& m = *cfg.mla;
  const int64_t H = L.attn.n_heads, dn = m.qk_nope_head_dim, dr = m.qk_rope_head_dim, dqk = m.qk_head_dim;
  const int64_t dv = m.v_head_dim, r = m.kv_lora_rank;
  KvCache& kv = caches[static_cast<size_t>(L.cache)];
  if (m.q_lora_rank) {
    const int64_t qr = *m.q_lora_rank;
    project(L.q_a, a.data(), n, mla_qa.data());
    for (int64_t t = 0; t < n; ++t)
      add_rmsnorm(mla_qa.data() + t * qr, nullptr, L.q_a_norm.data(), qr, eps, kNormPlain, mla_qa.data() + t * qr);
    project(L.q_b, mla_qa.data(), n, q.data());
  } else {
    project(L.q, a.data(), n, q.data());
  }
  project(L.kv_a, a.data(), n, mla_kv.data());
  for (int64_t t = 0; t < n; ++t) {
    const int64_t p = p0 + t;
    float* ck = mla_kv.data() + t * (r + dr);
    add_rmsnorm(ck, nullptr, L.kv_a_norm.data(), r, eps, kNormPlain, ck);
    float* qt = q.data() + t * H * dqk;
    rope(ck + r, 1, dr, dr, p, L.inv_freq.data(), rope_style);
    rope(qt + dn, H, dqk, dr, p, L.inv_freq.data(), rope_style);  // the rope part of each head
    if (L.rope_gain != 1.0f) {
      for (int64_t j = 0; j < dr; ++j) ck[r + j] *= L.rope_gain;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j < dr; ++j) qt[h * dqk + dn + j] *= L.rope_gain;
    }
    std::copy_n(ck, r, kv.k.data() + p * r);
    std::copy_n(ck + r, dr, kv.v.data() + p * dr);
  }
  const float scale = L.attn.scale;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t S = p0 + t + 1;  // positions [0, p] (the cache is not a ring: capacity = max_seq)
    const float* qt = q.data() + t * H * dqk;
    float* out = att.data() + t * H * dv;
    pool->parallel_for(H, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) {
        const float* qn = qt + h * dqk;
        const float* qrp = qn + dn;
        float* ql = mla_qlat.data() + h * r;
        for (int64_t j = 0; j < r; ++j) {
          const float* w = L.w_uk_t.data() + (h * r + j) * dn;
          float acc = 0;
          for (int64_t i = 0; i < dn; ++i) acc += w[i] * qn[i];
          ql[j] = acc;
        }
        float* sc = mla_scores.data() + h * max_seq;
        for (int64_t s = 0; s < S; ++s) {
          const float* c = kv.k.data() + s * r;
          const float* kr = kv.v.data() + s * dr;
          float acc = 0;
          for (int64_t j = 0; j < r; ++j) acc += ql[j] * c[j];
          for (int64_t j = 0; j < dr; ++j) acc += qrp[j] * kr[j];
          sc[s] = acc * scale;
        }
        softmax(sc, S);
        float* ol = mla_olat.data() + h * r;
        std::fill_n(ol, r, 0.0f);
        for (int64_t s = 0; s < S; ++s) {
          const float* c = kv.k.data() + s * r;
          const float ps = sc[s];
          for (int64_t j = 0; j < r; ++j) ol[j] += ps * c[j];
        }
        for (int64_t i = 0; i < dv; ++i) {
          const float* w = L.w_uv.data() + (h * dv + i) * r;
          float acc = 0;
          for (int64_t j = 0; j < r; ++j) acc += w[j] * ol[j];
          out[h * dv + i] = acc;
        }
      }
    });
  }
  project(L.o, att.data(), n, o.data());
}

// HF DeepseekV3MoE.route_tokens_to_experts: sigmoid scores; selection on scores + correction bias, limited to
// the topk_group groups with the best sum of their top-2 biased scores (experts outside them count as 0.0, as in
// HF's masked_fill); weights are the unbiased scores of the chosen experts, normalised (norm_topk_prob, + 1e-20)
// and times routed_scaling_factor. Ties go to the lower index.
void Engine::Impl::moe_route(const Layer& L, const float* xt, int64_t* idx, float* w) {
  const auto& m = *cfg.moe;
  const int64_t E = m.num_experts, K = m.num_experts_per_tok, G = m.n_group, per = E / G;
  float* sc = moe_scores.data();
  float* ch = moe_choice.data();
  for (int64_t e = 0; e < E; ++e) {
    const float* we = L.router.data() + e * D;
    float acc = 0;
    for (int64_t i = 0; i < D; ++i) acc += we[i] * xt[i];
    sc[e] = 1.0f / (1.0f + std::exp(-acc));
    ch[e] = sc[e] + L.router_bias[static_cast<size_t>(e)];
  }
  // The index of the largest of v[0..n) not yet taken (taken marked through `used`).
  const auto best = [](const float* v, int64_t n, const auto& used) {
    int64_t b = -1;
    for (int64_t i = 0; i < n; ++i)
      if (!used(i) && (b < 0 || v[i] > v[b])) b = i;
    return b;
  };
  if (G > 1) {
    float* gs = moe_group.data();
    for (int64_t gi = 0; gi < G; ++gi) {
      const float* cg = ch + gi * per;
      const int64_t b0 = best(cg, per, [](int64_t) { return false; });
      const int64_t b1 = best(cg, per, [&](int64_t i) { return i == b0; });
      gs[gi] = cg[b0] + cg[b1];
    }
    // Keep the topk_group best groups; the others' experts get 0.0 (HF's masked_fill).
    uint8_t* kept = moe_group_kept.data();
    std::fill_n(kept, G, uint8_t{0});
    for (int64_t k = 0; k < m.topk_group; ++k) kept[best(gs, G, [&](int64_t i) { return kept[i] != 0; })] = 1;
    for (int64_t gi = 0; gi < G; ++gi)
      if (!kept[gi]) std::fill_n(ch + gi * per, per, 0.0f);
  }
  float sum = 0;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t b = best(ch, E, [&](int64_t i) {
      for (int64_t j = 0; j < k; ++j)
        if (idx[j] == i) return true;
      return false;
    });
    idx[k] = b;
    w[k] = sc[b];
    sum += w[k];
  }
  const float rs = static_cast<float>(m.routed_scaling_factor);
  for (int64_t k = 0; k < K; ++k) w[k] = (m.norm_topk_prob ? w[k] / (sum + 1e-20f) : w[k]) * rs;
}

// Shared experts over all n rows (batched), then each routed expert over the rows routed to it (gathered,
// batched through the stored-format matmul), added with its routing weight.
void Engine::Impl::moe_mlp(const Layer& L, int64_t n) {
  const auto& m = *cfg.moe;
  const int64_t E = m.num_experts, K = m.num_experts_per_tok, I = m.moe_intermediate_size;
  if (L.shared_gate.w.rows > 0) {
    const int64_t Is = L.shared_gate.w.rows;
    project(L.shared_gate, a.data(), n, g.data());
    project(L.shared_up, a.data(), n, u.data());
    swiglu(g.data(), u.data(), g.data(), n * Is);
    project(L.shared_down, g.data(), n, o.data());
  } else {
    std::fill_n(o.data(), n * D, 0.0f);
  }
  for (int64_t t = 0; t < n; ++t) moe_route(L, a.data() + t * D, moe_idx.data() + t * K, moe_w.data() + t * K);
  for (int64_t e = 0; e < E; ++e) {
    int64_t cnt = 0;
    for (int64_t t = 0; t < n; ++t)
      for (int64_t k = 0; k < K; ++k)
        if (moe_idx[static_cast<size_t>(t * K + k)] == e) {
          std::copy_n(a.data() + t * D, D, moe_x.data() + cnt * D);
          moe_rows[static_cast<size_t>(cnt)] = t;
          moe_row_w[static_cast<size_t>(cnt)] = moe_w[static_cast<size_t>(t * K + k)];
          ++cnt;
        }
    if (cnt == 0) continue;
    const Linear* ex = L.experts.data() + e * 3;
    project(ex[0], moe_x.data(), cnt, moe_g.data());
    project(ex[1], moe_x.data(), cnt, moe_u.data());
    swiglu(moe_g.data(), moe_u.data(), moe_g.data(), cnt * I);
    project(ex[2], moe_g.data(), cnt, moe_y.data());
    for (int64_t c = 0; c < cnt; ++c) {
      float* ot = o.data() + moe_rows[static_cast<size_t>(c)] * D;
      const float* yt = moe_y.data() + c * D;
      const float wc = moe_row_w[static_cast<size_t>(c)];
      for (int64_t i = 0; i < D; ++i) ot[i] += wc * yt[i];
    }
  }
}

// Gemma 4 (templates/ple.cc): (embed_tokens_per_layer(ids) * sqrt(P) + RMSNorm(per_layer_model_projection(h0) /
// sqrt(D))) / sqrt(2), [n, L, P], from the scaled embeddings in x.
void Engine::Impl::per_layer_inputs(const int32_t* ids, int64_t n) {
  const int64_t L = static_cast<int64_t>(layers.size()), P = ple_dim, LP = L * P;
  project(ple_model_proj, x.data(), n, ple.data());
  const float dscale = static_cast<float>(std::pow(static_cast<double>(D), -0.5));
  const float pscale = static_cast<float>(std::sqrt(static_cast<double>(P)));
  const float half = static_cast<float>(std::pow(2.0, -0.5));
  for (int64_t t = 0; t < n; ++t) {
    float* pt = ple.data() + t * LP;
    for (int64_t i = 0; i < LP; ++i) pt[i] *= dscale;
    for (int64_t l = 0; l < L; ++l) add_rmsnorm(pt + l * P, nullptr, ple_proj_norm.data(), P, eps, norm_flags, pt + l * P);
    dequantize_row(ple_table, ids[t], ple_row.data());
    for (int64_t i = 0; i < LP; ++i) pt[i] = (pt[i] + ple_row[static_cast<size_t>(i)] * pscale) * half;
  }
}

// Gemma 4 layer tail: h += RMSNorm(per_layer_projection(gelu_tanh(per_layer_input_gate(h)) * ple[:, l])); h *= scalar.
void Engine::Impl::per_layer_tail(const Layer& L, size_t l, int64_t n) {
  const int64_t P = ple_dim, LP = static_cast<int64_t>(layers.size()) * P;
  project(L.ple_gate, x.data(), n, ple_tmp.data());
  for (int64_t t = 0; t < n; ++t)
    geglu(ple_tmp.data() + t * P, ple.data() + t * LP + static_cast<int64_t>(l) * P, ple_tmp.data() + t * P, P, GeluKind::kTanh);
  project(L.ple_proj, ple_tmp.data(), n, o.data());
  for (int64_t t = 0; t < n; ++t) {
    float* ot = o.data() + t * D;
    float* xt = x.data() + t * D;
    add_rmsnorm(ot, nullptr, L.ple_norm.data(), D, eps, norm_flags, ot);
    for (int64_t i = 0; i < D; ++i) xt[i] = (xt[i] + ot[i]) * L.layer_scalar;
  }
}

// One chunk of n tokens at positions pos..pos+n-1. extras rows start at row0.
void Engine::Impl::forward(const int32_t* ids, int64_t n, PrefillExtras* extras, int64_t row0, bool last_logits) {
  const float escale = static_cast<float>(std::sqrt(static_cast<double>(D)));
  for (int64_t t = 0; t < n; ++t) {
    float* xt = x.data() + t * D;
    dequantize_row(embed, ids[t], xt);
    if (embed_scale)
      for (int64_t i = 0; i < D; ++i) xt[i] *= escale;
  }
  if (ple_dim > 0) per_layer_inputs(ids, n);
  const bool hidden = extras && extras->hidden_states;
  auto save_hidden = [&](size_t index, const float* src) {
    std::copy_n(src, n * D, extras->hidden[index].data() + row0 * D);
  };
  if (hidden) save_hidden(0, x.data());
  for (size_t l = 0; l < layers.size(); ++l) {
    Layer& L = layers[l];
    for (int64_t t = 0; t < n; ++t)
      add_rmsnorm(x.data() + t * D, nullptr, L.input_norm.data(), D, eps, norm_flags, a.data() + t * D);
    if (L.linear) delta_net(L, n);
    else if (L.mla) mla_attention(L, n, pos);
    else attention(L, n, pos);
    const float* second_norm = L.post_attention_norm.data();
    if (sandwich) {
      for (int64_t t = 0; t < n; ++t)
        add_rmsnorm(o.data() + t * D, nullptr, L.post_attention_norm.data(), D, eps, norm_flags, o.data() + t * D);
      second_norm = L.pre_feedforward_norm.data();
    }
    for (int64_t t = 0; t < n; ++t)
      add_rmsnorm(x.data() + t * D, o.data() + t * D, second_norm, D, eps, norm_flags, a.data() + t * D);
    if (L.moe) moe_mlp(L, n);
    else mlp(L, n);
    for (int64_t t = 0; t < n; ++t) {
      float* ot = o.data() + t * D;
      if (sandwich) add_rmsnorm(ot, nullptr, L.post_feedforward_norm.data(), D, eps, norm_flags, ot);
      float* xt = x.data() + t * D;
      for (int64_t i = 0; i < D; ++i) xt[i] += ot[i];
    }
    if (ple_dim > 0) per_layer_tail(L, l, n);
    else if (L.layer_scalar != 1.0f)
      for (int64_t i = 0; i < n * D; ++i) x[static_cast<size_t>(i)] *= L.layer_scalar;
    if (hidden && l + 1 < layers.size()) save_hidden(l + 1, x.data());
  }
  pos += n;
  const bool all = extras && extras->all_logits;
  if (!all && !hidden && !last_logits) return;
  const int64_t first = all || hidden ? 0 : n - 1;
  for (int64_t t = first; t < n; ++t)
    add_rmsnorm(x.data() + t * D, nullptr, final_norm.data(), D, eps, norm_flags, a.data() + t * D);
  if (hidden) save_hidden(layers.size(), a.data());
  if (all) {
    float* out = extras->logits.data() + row0 * V;
    if (n == 1) matvec(lm_head, a.data(), out, *pool);
    else matmul(lm_head, a.data(), n, out, *pool);
    if (final_softcap > 0) softcap(out, n * V, final_softcap);
    if (last_logits) std::copy_n(out + (n - 1) * V, V, logits.data());
  } else if (last_logits) {
    matvec(lm_head, a.data() + (n - 1) * D, logits.data(), *pool);
    if (final_softcap > 0) softcap(logits.data(), V, final_softcap);
  }
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::open(const std::string& path, const EngineOptions& options) {
  auto impl = std::make_unique<Impl>();
  IM_ASSIGN_OR_RETURN(LoadedWeights w, load_weights(path));
  impl->cfg = std::move(w.config);
  impl->store = std::move(w.store);
  IM_RETURN_IF_ERROR(impl->load(options));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const ModelConfig& Engine::config() const { return impl_->cfg; }
std::string Engine::describe() const {
  return impl_->store->describe() + " (embeddings " + std::string(weight_format_name(impl_->embed.format)) + ")";
}
int64_t Engine::vocab_size() const { return impl_->V; }
int64_t Engine::seq_pos() const { return impl_->pos; }
int64_t Engine::max_seq_len() const { return impl_->max_seq; }

Result<std::span<const float>> Engine::prefill(std::span<const int32_t> tokens, PrefillExtras* extras) {
  Impl& m = *impl_;
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0) return invalid_argument("engine prefill: no tokens");
  if (m.pos + T > m.max_seq)
    return invalid_argument("engine prefill: " + std::to_string(T) + " tokens at position " + std::to_string(m.pos) +
                            " exceed the maximum sequence length " + std::to_string(m.max_seq));
  for (int64_t i = 0; i < T; ++i)
    if (tokens[static_cast<size_t>(i)] < 0 || tokens[static_cast<size_t>(i)] >= m.V)
      return invalid_argument("engine prefill: token " + std::to_string(tokens[static_cast<size_t>(i)]) + " at index " +
                              std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(m.V) + ")");
  if (extras) {
    if (extras->all_logits) extras->logits.assign(static_cast<size_t>(T * m.V), 0.0f);
    if (extras->hidden_states)
      extras->hidden.assign(m.layers.size() + 1, std::vector<float>(static_cast<size_t>(T * m.D), 0.0f));
  }
  for (int64_t s = 0; s < T; s += m.chunk) {
    const int64_t n = std::min(m.chunk, T - s);
    m.forward(tokens.data() + s, n, extras, s, s + n == T);
  }
  return std::span<const float>(m.logits);
}

Result<std::span<const float>> Engine::decode_step(int32_t token) {
  Impl& m = *impl_;
  if (m.pos + 1 > m.max_seq)
    return invalid_argument("engine decode_step: the sequence is full (" + std::to_string(m.max_seq) + " positions)");
  if (token < 0 || token >= m.V)
    return invalid_argument("engine decode_step: token " + std::to_string(token) + " is outside the vocabulary [0, " +
                            std::to_string(m.V) + ")");
  m.forward(&token, 1, nullptr, 0, true);
  return std::span<const float>(m.logits);
}

void Engine::reset() {
  impl_->pos = 0;
  for (auto& st : impl_->gdn) {
    std::fill(st.conv.begin(), st.conv.end(), 0.0f);
    std::fill(st.ssm.begin(), st.ssm.end(), 0.0f);
  }
}

Status Engine::truncate_to(int64_t p) {
  Impl& m = *impl_;
  if (p < 0 || p > m.pos)
    return invalid_argument("engine truncate_to(" + std::to_string(p) + "): outside [0, " + std::to_string(m.pos) + "]");
  if (!m.gdn.empty() && p != m.pos && p != 0)
    return invalid_argument("engine truncate_to(" + std::to_string(p) +
                            "): gated delta-net layers keep only the latest recurrent state (truncate to 0 or " +
                            std::to_string(m.pos) + ")");
  if (!m.gdn.empty() && p == 0) {
    reset();
    return Status::Ok();
  }
  for (size_t c = 0; c < m.caches.size(); ++c) {
    const int64_t keep = m.window_keep[c];
    if (keep == 0 || p == m.pos) continue;
    // Positions [m.pos - keep, m.pos) are in the ring; decoding at p needs [p - window, p).
    int64_t window = 0;
    for (const auto& L : m.layers)
      if (L.cache == static_cast<int64_t>(c)) window = std::max(window, L.attn.window);
    const int64_t need_from = std::max<int64_t>(0, p - window);
    if (need_from < m.pos - keep)
      return invalid_argument("engine truncate_to(" + std::to_string(p) + "): a sliding-window cache holds only positions [" +
                              std::to_string(m.pos - keep) + ", " + std::to_string(m.pos) + ")");
  }
  m.pos = p;
  return Status::Ok();
}

}  // namespace ironmill::engine
