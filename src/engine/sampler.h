// Token sampling for generation, in llama.cpp's (and ironmill's Sampler chain's) order: top-k -> top-p ->
// min-p on the temperature-1 distribution, then temperature, then a categorical draw from a seeded
// generator. Defaults are ironmill's GenParams (temperature 0.7, top_p 0.9, top_k 0 = off, min_p 0).
// Temperature <= 0 is greedy (argmax; ties go to the lowest id). Buffers are sized once per vocabulary,
// so sampling a token allocates nothing.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace ironmill::engine {

struct SamplingParams {
  float temperature = 0.7f;
  int64_t top_k = 0;    // 0: off
  float top_p = 0.9f;   // 1: off
  float min_p = 0.0f;   // 0: off; keeps tokens with p >= min_p * p_max
  uint64_t seed = 0;
};

class Sampler {
 public:
  Sampler(SamplingParams params, int64_t vocab_size);
  int32_t sample(std::span<const float> logits);
  // The distribution sample() draws from: probabilities [V], zero for masked tokens (tests).
  std::vector<float> distribution(std::span<const float> logits);
  const SamplingParams& params() const { return params_; }

 private:
  // Fills probs_ for the kept candidates (sorted by logit, descending); returns how many are kept.
  int64_t prepare(std::span<const float> logits);
  double next_uniform();  // [0, 1), xorshift64* (portable, seed-reproducible)

  SamplingParams params_;
  uint64_t state_;
  std::vector<int32_t> order_;
  std::vector<double> probs_;
};

}  // namespace ironmill::engine
