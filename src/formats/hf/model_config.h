// Hugging Face `config.json` → a typed model config for the architectures ironmill compiles:
// LLaMA, Mistral, Qwen2/3, Qwen3.5 (hybrid linear attention), Gemma 1-4, DeepSeek-V3 (MLA + MoE).
//
// What it reads (checked against the transformers 5.17 files in shared/fixtures/hf-tiny):
//   - a nested `text_config` object, when present, is the config (multimodal wrappers); the top level
//     still supplies `architectures` and, if the text config lacks them, tie_word_embeddings / dtype;
//   - `model_type` must be a known one (table in model_config.cc) and every entry of `architectures`
//     a known class; anything else is an error naming it;
//   - required: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size;
//     missing or mistyped fields are errors naming the field and the file;
//   - RoPE from the new `rope_parameters` (flat, or keyed by layer type as in Gemma 3/4) or the old
//     `rope_theta` + `rope_scaling` (+ Gemma 3's `rope_local_base_freq`);
//   - `layer_types` (or the rule the model's HF config class uses to derive it), per-layer overrides
//     (`per_layer_config`, `global_head_dim`, `num_global_key_value_heads`), KV-shared layers, MoE
//     layer placement; the result is one resolved LayerConfig per layer.
// Keys not modelled here stay available in `raw`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace ironmill::formats::hf {

enum class ModelFamily { kLlama, kMistral, kQwen2, kQwen3, kQwen3_5, kGemma, kGemma2, kGemma3, kGemma4, kDeepseekV3 };
std::string_view to_string(ModelFamily f);

enum class LayerType { kFullAttention, kSlidingAttention, kLinearAttention };
std::string_view to_string(LayerType t);  // the HF name: "full_attention", ...

struct RopeParameters {
  double theta = 10000.0;
  std::string type = "default";  // default, linear, dynamic, yarn, longrope, llama3, proportional
  // Fraction of head_dim that rotates. "proportional" keeps head_dim as the frequency denominator.
  double partial_rotary_factor = 1.0;
  std::optional<double> factor;
  std::optional<double> low_freq_factor, high_freq_factor;  // llama3
  std::optional<int64_t> original_max_position_embeddings;  // llama3, yarn, longrope
  std::optional<double> beta_fast, beta_slow, attention_factor, mscale, mscale_all_dim;  // yarn
  std::vector<double> short_factor, long_factor;                                          // longrope
};

// Multi-head latent attention (DeepSeek V2/V3).
struct MlaConfig {
  std::optional<int64_t> q_lora_rank;  // null: queries are projected directly
  int64_t kv_lora_rank = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_head_dim = 0;  // nope + rope
  int64_t v_head_dim = 0;
};

struct MoeConfig {
  int64_t num_experts = 0;           // n_routed_experts / num_experts
  int64_t num_experts_per_tok = 0;   // num_experts_per_tok / top_k_experts
  int64_t num_shared_experts = 0;    // n_shared_experts
  int64_t moe_intermediate_size = 0;
  int64_t first_k_dense_replace = 0;  // the first k layers keep a dense MLP
  int64_t moe_layer_freq = 1;
  int64_t n_group = 1, topk_group = 1;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  std::string scoring_func;  // DeepSeek: "sigmoid"
  std::string topk_method;   // DeepSeek: "noaux_tc"
};

// Gated delta-net layers (Qwen3.5 / Qwen3-Next `linear_attention`).
struct LinearAttentionConfig {
  int64_t key_head_dim = 0, value_head_dim = 0;
  int64_t num_key_heads = 0, num_value_heads = 0;
  int64_t conv_kernel_dim = 0;
};

// Gemma 4 per-layer embeddings (PLE).
struct PerLayerInputConfig {
  int64_t hidden_size = 0;  // hidden_size_per_layer_input
  int64_t vocab_size = 0;   // vocab_size_per_layer_input
};

// One decoder layer with every override applied.
struct LayerConfig {
  LayerType type = LayerType::kFullAttention;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  std::optional<int64_t> sliding_window;  // set for sliding_attention layers
  RopeParameters rope;
  int64_t kv_source_layer = 0;  // this layer's index unless it reuses an earlier layer's KV cache
  bool moe = false;             // MLP is a mixture of experts
};

struct ModelConfig {
  std::string source;  // the file read, for messages
  std::string model_type;
  ModelFamily family = ModelFamily::kLlama;
  std::vector<std::string> architectures;

  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // explicit, else hidden_size / num_attention_heads
  bool head_dim_explicit = false;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  std::string hidden_act;  // hidden_act or hidden_activation
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // o_proj too, where the family has one
  bool qkv_bias = false;        // q/k/v projections carry biases (always for Qwen2)
  bool mlp_bias = false;
  std::string dtype;  // "float32", "float16", "bfloat16"; empty when absent
  std::optional<int64_t> bos_token_id, pad_token_id;
  std::vector<int64_t> eos_token_ids;

  RopeParameters rope;  // the default (or the full-attention one when keyed by layer type)
  std::map<LayerType, RopeParameters> rope_by_layer_type;
  bool rope_interleave = false;

  std::vector<LayerType> layer_types;  // always num_hidden_layers entries
  bool layer_types_explicit = false;
  std::optional<int64_t> sliding_window;
  std::optional<double> attn_logit_softcapping, final_logit_softcapping;
  std::optional<double> query_pre_attn_scalar;

  std::optional<MlaConfig> mla;
  std::optional<MoeConfig> moe;
  std::optional<LinearAttentionConfig> linear_attention;
  bool attn_output_gate = false;  // full-attention output gate (Qwen3.5)
  std::optional<PerLayerInputConfig> per_layer_input;
  int64_t num_kv_shared_layers = 0;
  bool use_double_wide_mlp = false;
  bool attention_k_eq_v = false;

  std::vector<LayerConfig> layers;  // resolved, num_hidden_layers entries
  nlohmann::json raw;               // the (text) config object as read

  const RopeParameters& rope_for(LayerType t) const;
};

// `root` is the parsed config.json; `source` names it in errors.
Result<ModelConfig> parse_model_config(const nlohmann::json& root, const std::string& source);
// A config.json file, or a model directory holding one.
Result<ModelConfig> load_model_config(const std::filesystem::path& path);

}  // namespace ironmill::formats::hf
