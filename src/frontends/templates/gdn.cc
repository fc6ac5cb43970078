// Qwen3.5 / Qwen3-Next gated delta-net (linear attention) layers. Per token, per value head h:
//   causal depthwise conv (kernel K) over [q k v], SiLU; q, k L2-normalised (eps 1e-6 inside rsqrt),
//   q / sqrt(dk); value head h reads key head h / (Hv / Hk);
//   beta = sigmoid(b), decay = exp(-exp(A_log) * softplus(a + dt_bias));
//   S <- decay * S;  S <- S + k (beta (v - kᵀS));  o = qᵀS      (S: [dk, dv])
//   y = RMSNorm(o) * w * SiLU(z), out_proj.
// The scan is unrolled over the static T tokens. State: conv_state [conv_dim, K-1] (the last K-1 conv
// inputs) and ssm_state [Hv, dk, dv].
#include <cmath>

#include "frontends/templates/layers.h"

namespace ironmill::templates {

using mil::DType;
using mil::Tensor;

std::string gated_delta_net(LayerContext& x, int64_t l, const std::string& in) {
  Graph& g = x.g;
  const auto& c = x.cfg;
  const auto& la = *c.linear_attention;
  const int64_t D = c.hidden_size, T = x.tokens;
  const int64_t Hk = la.num_key_heads, Hv = la.num_value_heads, dk = la.key_head_dim, dv = la.value_head_dim;
  const int64_t K = la.conv_kernel_dim, key_dim = Hk * dk, value_dim = Hv * dv, conv_dim = 2 * key_dim + value_dim;
  const std::string p = "model.layers." + std::to_string(l) + ".linear_attn.";
  const std::string L = std::to_string(l);
  if (Hv % Hk != 0) {
    g.fail(invalid_argument(c.source + ": `linear_num_value_heads` " + std::to_string(Hv) +
                            " is not a multiple of `linear_num_key_heads` " + std::to_string(Hk)));
    return {};
  }

  std::string qkv = g.linear(in, p + "in_proj_qkv", D, conv_dim);
  std::string z = g.reshape(g.linear(in, p + "in_proj_z", D, value_dim), {T, Hv, dv});
  std::string b = g.linear(in, p + "in_proj_b", D, Hv);
  std::string a = g.linear(in, p + "in_proj_a", D, Hv);

  // Causal depthwise conv over time: history (zeros, or the cached K-1 inputs) then this call's inputs.
  std::string xt = g.transpose(qkv, {1, 0});  // [conv_dim, T]
  std::string history = x.decode ? x.cache_in.at("conv_state_" + L)
                                 : g.f32(std::vector<double>(static_cast<size_t>(conv_dim * (K - 1)), 0.0), {conv_dim, K - 1});
  std::string xp = g.concat({history, xt}, 1);  // [conv_dim, T + K - 1]
  std::string w = g.reshape(g.weight(p + "conv1d.weight", {conv_dim, 1, K}), {conv_dim, K});
  std::string conv;
  for (int64_t j = 0; j < K; ++j) {
    std::string term = g.mul(g.slice(xp, 1, j, j + T), g.slice(w, 1, j, j + 1));
    conv = conv.empty() ? term : g.add(conv, term);
  }
  if (x.max_context > 0) x.cache_out["conv_state_" + L] = g.slice(xp, 1, T, T + K - 1);
  std::string u = g.transpose(g.unary("silu", conv), {1, 0});  // [T, conv_dim]

  auto l2norm = [&](const std::string& v) {
    std::string ss = g.reduce("reduce_sum", g.mul(v, v), -1, true);
    return g.mul(v, g.op("rsqrt", {{"x", ss}, {"epsilon", Tensor::scalar_f64(DType::kFp32, 1e-6)}}));
  };
  auto expand_heads = [&](const std::string& v) {  // [T, Hk, dk] -> [T, Hv, dk], consecutive value heads share
    if (Hv == Hk) return v;
    std::string t = g.op("tile", {{"x", g.reshape(v, {T, Hk, 1, dk})},
                                  {"reps", Tensor::from_i64(DType::kInt32, {4}, std::vector<int64_t>{1, 1, Hv / Hk, 1})}});
    return g.reshape(t, {T, Hv, dk});
  };
  std::string q = expand_heads(l2norm(g.reshape(g.slice(u, -1, 0, key_dim), {T, Hk, dk})));
  q = g.scale(q, 1.0 / std::sqrt(static_cast<double>(dk)));
  std::string k = expand_heads(l2norm(g.reshape(g.slice(u, -1, key_dim, 2 * key_dim), {T, Hk, dk})));
  std::string v = g.reshape(g.slice(u, -1, 2 * key_dim, conv_dim), {T, Hv, dv});

  std::string beta = g.unary("sigmoid", b);  // [T, Hv]
  std::string A = g.unary("exp", g.weight(p + "A_log", {Hv}));
  std::string sp = g.unary("softplus", g.add(a, g.weight(p + "dt_bias", {Hv})));
  std::string decay = g.unary("exp", g.mul(g.scale(A, -1.0), sp));  // [T, Hv]

  // Head-major views for the scan.
  std::string qh = g.transpose(q, {1, 0, 2});      // [Hv, T, dk]
  std::string kh = g.transpose(k, {1, 0, 2});      // [Hv, T, dk]
  std::string khT = g.transpose(k, {1, 2, 0});     // [Hv, dk, T]
  std::string vh = g.transpose(v, {1, 0, 2});      // [Hv, T, dv]
  std::string bh = g.reshape(g.transpose(beta, {1, 0}), {Hv, T, 1});
  std::string dh = g.reshape(g.transpose(decay, {1, 0}), {Hv, T, 1});
  std::string S = x.decode ? x.cache_in.at("ssm_state_" + L)
                           : g.f32(std::vector<double>(static_cast<size_t>(Hv * dk * dv), 0.0), {Hv, dk, dv});
  std::vector<std::string> outs;
  for (int64_t t = 0; t < T; ++t) {
    std::string q_t = g.slice(qh, 1, t, t + 1), k_t = g.slice(kh, 1, t, t + 1), kT_t = g.slice(khT, 2, t, t + 1);
    std::string v_t = g.slice(vh, 1, t, t + 1), b_t = g.slice(bh, 1, t, t + 1), d_t = g.slice(dh, 1, t, t + 1);
    S = g.mul(S, d_t);                                          // [Hv, dk, dv] * [Hv, 1, 1]
    std::string mem = g.matmul(k_t, S);                         // [Hv, 1, dv]
    std::string delta = g.mul(g.sub(v_t, mem), b_t);            // [Hv, 1, dv]
    S = g.add(S, g.matmul(kT_t, delta));                        // [Hv, dk, 1] x [Hv, 1, dv]
    outs.push_back(g.matmul(q_t, S));                           // [Hv, 1, dv]
  }
  if (x.max_context > 0) x.cache_out["ssm_state_" + L] = S;
  std::string o = g.transpose(outs.size() == 1 ? outs[0] : g.concat(outs, 1), {1, 0, 2});  // [T, Hv, dv]
  std::string y = g.mul(g.rms_norm(o, p + "norm.weight", dv, c.rms_norm_eps, NormStyle::kWeight), g.unary("silu", z));
  return g.linear(g.reshape(y, {T, value_dim}), p + "out_proj", value_dim, D);
}

}  // namespace ironmill::templates
