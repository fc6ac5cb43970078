// Text generation over the engine: prompt ids -> sampled tokens, streamed as UTF-8-safe text (the
// tokenizer's StreamDecoder holds back an incomplete multi-byte sequence until its last byte arrives).
// Stops at max_tokens, at a stop token (the params' list, else the tokenizer's / config's EOS ids), or
// when the sequence is full.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "formats/tokenizer/tokenizer.h"

namespace ironmill::engine {

struct GenerateParams {
  SamplingParams sampling;
  int64_t max_tokens = 512;
  std::vector<int32_t> stop_tokens;  // empty: the model's EOS ids
};

struct GenerateResult {
  std::vector<int32_t> ids;  // generated, the stop token excluded
  std::string text;
  std::string stop_reason;   // "stop_token", "max_tokens", "context_full"
  double prefill_seconds = 0, decode_seconds = 0;
  int64_t decode_tokens = 0;  // decode_step calls
};

// The stop ids generation uses when none are given: config eos_token_ids, plus the tokenizer's EOS.
std::vector<int32_t> default_stop_tokens(const Engine& engine, const formats::tokenizer::Tokenizer& tokenizer);

// Appends `prompt` to the engine's sequence and generates; on_text receives each complete piece of text.
Result<GenerateResult> generate(Engine& engine, const formats::tokenizer::Tokenizer& tokenizer,
                                std::span<const int32_t> prompt, const GenerateParams& params,
                                const std::function<void(std::string_view)>& on_text = {});

}  // namespace ironmill::engine
