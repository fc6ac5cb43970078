// Decoder layers of the templates (internal to frontends/templates).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "formats/hf/model_config.h"
#include "frontends/templates/graph.h"
#include "frontends/templates/template.h"

namespace ironmill::templates {

// What distinguishes the families, as data.
struct Traits {
  bool gemma = false;
  NormStyle norm = NormStyle::kWeight;  // every RMSNorm of the model
  bool qk_norm = false;                 // per-head RMSNorm of q and k before RoPE
  bool v_norm = false;                  // per-head weightless RMSNorm of v (Gemma 4)
  bool sandwich_norms = false;          // post-attention and pre/post-feedforward norms (Gemma 2+)
  bool embed_scale = false;             // embeddings * sqrt(hidden_size)
  bool gelu_mlp = false;                // GeGLU (tanh approximation) instead of SwiGLU
  mil::DType rope_freq_dtype = mil::DType::kFp32;  // see RopeSpec::freq_dtype
};
Traits traits_for(const formats::hf::ModelConfig& c);
RopeSpec rope_spec(const formats::hf::ModelConfig& c, const formats::hf::LayerConfig& layer, int64_t head_dim,
                   mil::DType rope_freq_dtype);

struct LayerContext {
  Graph& g;
  const formats::hf::ModelConfig& cfg;
  Traits tr;
  bool decode = false;
  int64_t tokens = 0;       // T of this function (1 for decode)
  int64_t max_context = 0;  // C; 0 when no cache is kept
  std::string position;     // decode: int32 [1]
  std::map<std::string, std::string> cache_in;   // decode inputs by cache name
  std::set<std::string> cache_in_names;
  std::map<std::string, std::string> cache_out;  // cache name -> value to return
  std::map<int64_t, std::string> kv_of_layer_k, kv_of_layer_v;  // this call's K/V per layer (KV sharing)
  std::map<int64_t, std::string> masks;          // additive masks by sliding window (0 = causal)
  std::string keep_mask, write_mask;             // decode: cache rows kept / written at `position`
  std::string per_layer_inputs;                  // Gemma 4: [T, L, ple_h]
};

// The cache tensors of a model with cache length C (decode inputs, in declaration order).
std::vector<CacheTensor> cache_specs(const formats::hf::ModelConfig& c, int64_t max_context);

std::string decoder_layer(LayerContext& x, int64_t layer, const std::string& h);
std::string per_layer_inputs(LayerContext& x, const std::string& ids, const std::string& embeddings);

}  // namespace ironmill::templates
