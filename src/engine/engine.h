// The decode engine (issue 8): its own forward pass over the CPU kernels (engine/kernels), no MIL.
// Loads a model directory (config.json + SafeTensors) or a GGUF file; keeps a preallocated KV cache
// (ring buffers for sliding-window layers) and scratch buffers sized at open(), so decode_step allocates
// nothing.
//
// Sequence API (as ironmill's InferenceEngine): prefill(tokens) appends the tokens at seq_pos() and returns
// the logits of the last one; decode_step(token) appends one; reset() empties the sequence; truncate_to(p)
// keeps positions [0, p). Logit spans stay valid until the next call.
//
// Supported: LLaMA, Mistral (sliding window), Qwen2 (qkv bias), Qwen3 (q/k norm), Gemma 2/3 ((1+w) norms,
// sandwich norms, embedding scaling, soft-capping, per-layer-type rope and windows), Gemma 4 (per-layer
// embeddings, KV-shared layers, v-norm, proportional rope, layer scalars), Qwen3.5 (gated delta-net layers
// with their conv + recurrent state, output-gated attention, partial rope), DeepSeek V3 (multi-latent
// attention with weight absorption: the cache holds only the normed latent c_kv and the shared roped k_rope
// per position; mixture of experts with sigmoid scores, correction-biased group-limited top-k, shared experts
// and dense first layers; yarn rope with its mscale on MLA layers). Other rope types (and yarn elsewhere) are
// rejected by open().
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/hf/model_config.h"
#include "util/status.h"

namespace ironmill::engine {

struct EngineOptions {
  int64_t max_seq_len = 0;     // 0: the config's max_position_embeddings, at most 4096
  int threads = 0;             // 0: std::thread::hardware_concurrency()
  int64_t prefill_chunk = 64;  // tokens per batched forward step of prefill (scratch is sized for it)
};

// Extra outputs of prefill, for parity and perplexity.
struct PrefillExtras {
  bool all_logits = false;     // logits of every prefilled position, [T, V]
  bool hidden_states = false;  // L + 1 entries of [T, H] (embeddings, each layer, the last one normed)
  std::vector<float> logits;
  std::vector<std::vector<float>> hidden;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> open(const std::string& path, const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const formats::hf::ModelConfig& config() const;
  std::string describe() const;  // the model path and weight formats
  int64_t vocab_size() const;
  int64_t seq_pos() const;
  int64_t max_seq_len() const;

  Result<std::span<const float>> prefill(std::span<const int32_t> tokens, PrefillExtras* extras = nullptr);
  Result<std::span<const float>> decode_step(int32_t token);
  void reset();
  // Keeps positions [0, pos). Sliding-window layers keep only the last positions in their ring buffer, so a
  // truncation further back than that is an error (the cache no longer holds what it would need).
  Status truncate_to(int64_t pos);

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ironmill::engine
