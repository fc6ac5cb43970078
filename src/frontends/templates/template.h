// Architecture templates: a Hugging Face checkpoint (config.json + SafeTensors) -> a MIL program with a
// `prefill` function (input_ids int32 [T] -> logits fp32 [T, V], hidden_0..hidden_L [T, H], and the
// cache it filled) and a single-step `decode` function (token int32 [1], position int32 [1], cache in ->
// logits [1, V], cache out). All shapes are static (T and the cache length C are fixed at build time),
// as Core ML and the ANE need. Supported: LLaMA, Mistral, Qwen2, Qwen3, Qwen3.5, Gemma 2/3/4, DeepSeek V3.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "formats/hf/model_config.h"
#include "frontends/templates/weights.h"
#include "mil/ir.h"

namespace ironmill::templates {

struct TemplateOptions {
  int64_t prefill_length = 0;  // T of `prefill`; 0: no prefill function
  int64_t max_context = 0;     // C, the cache length of `decode` and of prefill's cache outputs; 0: none
  bool hidden_states = true;   // prefill also returns hidden_0..hidden_L
};

// One recurrent-state tensor: decode takes it as input `name` and returns `name + "_out"`; prefill returns
// `name + "_out"` (the state after the prompt) when max_context > 0.
struct CacheTensor {
  std::string name;
  mil::Type type;
};

struct LlmProgram {
  mil::Program program;
  int64_t prefill_length = 0, max_context = 0;
  int64_t vocab_size = 0, hidden_size = 0;
  int64_t num_hidden_states = 0;  // L + 1 when hidden states are returned
  std::vector<CacheTensor> caches;
};

// Is this model_type / config handled by a template? (An error names the unsupported feature.)
Status check_supported(const formats::hf::ModelConfig& config);

Result<LlmProgram> build_llm(const formats::hf::ModelConfig& config, const WeightSource& weights,
                             const TemplateOptions& options);

// A loaded model: config + weights, from a directory with config.json and SafeTensors, or a .gguf file
// (LLaMA / Mistral / Qwen2 / Qwen3: config rebuilt from the GGUF metadata, quantized tensors served
// dequantized, q/k rows of arch "llama" moved back to HF's rotate-half order; gguf_model.cc).
struct LoadedModel {
  formats::hf::ModelConfig config;
  std::shared_ptr<WeightSource> weights;
};
Result<LoadedModel> load_model(const std::string& path);
Result<LoadedModel> load_gguf_model(const std::string& path);
bool is_gguf_path(const std::string& path);  // an existing regular file named *.gguf

}  // namespace ironmill::templates
