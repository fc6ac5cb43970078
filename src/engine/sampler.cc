#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ironmill::engine {

Sampler::Sampler(SamplingParams params, int64_t vocab_size)
    : params_(params), state_(params.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull),
      order_(static_cast<size_t>(vocab_size)), probs_(static_cast<size_t>(vocab_size)) {
  if (state_ == 0) state_ = 1;
}

double Sampler::next_uniform() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint64_t r = state_ * 0x2545F4914F6CDD1Dull;
  return static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

int64_t Sampler::prepare(std::span<const float> logits) {
  const int64_t V = static_cast<int64_t>(std::min(logits.size(), order_.size()));
  std::iota(order_.begin(), order_.begin() + V, 0);
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  int64_t keep = V;
  if (params_.top_k > 0 && params_.top_k < V) {
    keep = params_.top_k;
    std::partial_sort(order_.begin(), order_.begin() + keep, order_.begin() + V, by_logit);
  } else {
    std::sort(order_.begin(), order_.begin() + V, by_logit);
  }
  // Temperature-1 softmax over the kept candidates for the top-p / min-p masks.
  const double m = logits[order_[0]];
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) sum += probs_[i] = std::exp(static_cast<double>(logits[order_[i]]) - m);
  if (params_.top_p < 1.0f) {
    double cum = 0;
    int64_t n = 0;
    while (n < keep) {
      cum += probs_[n] / sum;
      ++n;
      if (cum >= params_.top_p) break;  // the smallest prefix whose mass reaches top_p
    }
    keep = std::max<int64_t>(n, 1);
  }
  if (params_.min_p > 0.0f) {
    const double floor = params_.min_p * probs_[0];  // probs_[0] is the largest
    int64_t n = 1;
    while (n < keep && probs_[n] >= floor) ++n;
    keep = n;
  }
  // Temperature on the survivors, renormalized.
  const double inv_t = 1.0 / params_.temperature;
  sum = 0;
  for (int64_t i = 0; i < keep; ++i)
    sum += probs_[i] = std::exp((static_cast<double>(logits[order_[i]]) - m) * inv_t);
  for (int64_t i = 0; i < keep; ++i) probs_[i] /= sum;
  return keep;
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.empty()) return -1;
  if (params_.temperature <= 0.0f) {
    int32_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i)
      if (logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
    return best;
  }
  const int64_t keep = prepare(logits);
  const double r = next_uniform();
  double cum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    cum += probs_[i];
    if (r < cum) return order_[i];
  }
  return order_[keep - 1];
}

std::vector<float> Sampler::distribution(std::span<const float> logits) {
  std::vector<float> out(logits.size(), 0.0f);
  if (logits.empty()) return out;
  if (params_.temperature <= 0.0f) {
    size_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i)
      if (logits[i] > logits[best]) best = i;
    out[best] = 1.0f;
    return out;
  }
  const int64_t keep = prepare(logits);
  for (int64_t i = 0; i < keep; ++i) out[static_cast<size_t>(order_[i])] = static_cast<float>(probs_[i]);
  return out;
}

}  // namespace ironmill::engine
