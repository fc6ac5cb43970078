// Perplexity of a token stream under a template's prefill function, with the two protocols of the
// fixtures README:
//   chunked:N       llama.cpp's llama-perplexity: floor(tokens/N) chunks of N tokens, each from an empty
//                   cache; score the tokens at positions N/2+1 .. N-1 of each chunk; no BOS inserted.
//   sliding:W:S     Hugging Face's sliding window: windows of W tokens starting every S tokens; each window
//                   scores only the tokens the previous one did not (the first: all but its first token).
// PPL = exp(mean NLL), NLL from a float64 log-softmax of the logits.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "frontends/templates/runner.h"

namespace ironmill::templates {

struct PerplexityProtocol {
  enum class Kind { kChunked, kSliding } kind = Kind::kChunked;
  int64_t context = 256;
  int64_t stride = 0;  // sliding only
  std::string spelling() const;
};
// "chunked:256" or "sliding:512:256".
Result<PerplexityProtocol> parse_perplexity_protocol(const std::string& text);

struct PerplexityResult {
  double ppl = 0.0;
  double nll_sum = 0.0;
  int64_t scored = 0;   // tokens whose NLL was summed
  int64_t windows = 0;  // chunks or windows evaluated
  int64_t tokens = 0;   // length of the stream
};

// `progress(done, total, nll_sum, scored)` is called after each window (may be empty).
Result<PerplexityResult> perplexity(LanguageModel& runner, std::span<const int32_t> tokens, const PerplexityProtocol& protocol,
                                    const std::function<void(int64_t, int64_t, double, int64_t)>& progress = {});

}  // namespace ironmill::templates
