#include "frontends/templates/perplexity.h"

#include <cmath>
#include <string>
#include <vector>

namespace ironmill::templates {

std::string PerplexityProtocol::spelling() const {
  if (kind == Kind::kChunked) return "chunked:" + std::to_string(context);
  return "sliding:" + std::to_string(context) + ":" + std::to_string(stride);
}

Result<PerplexityProtocol> parse_perplexity_protocol(const std::string& text) {
  auto number = [&](const std::string& s) -> std::optional<int64_t> {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return std::stoll(s);
  };
  const std::string bad = "perplexity protocol `" + text + "`: expected chunked:N or sliding:W:S (N, W >= 2, 1 <= S <= W)";
  PerplexityProtocol p;
  if (text.rfind("chunked:", 0) == 0) {
    auto n = number(text.substr(8));
    if (!n || *n < 2) return invalid_argument(bad);
    p.kind = PerplexityProtocol::Kind::kChunked;
    p.context = *n;
    return p;
  }
  if (text.rfind("sliding:", 0) == 0) {
    const std::string rest = text.substr(8);
    const size_t colon = rest.find(':');
    if (colon == std::string::npos) return invalid_argument(bad);
    auto w = number(rest.substr(0, colon)), s = number(rest.substr(colon + 1));
    if (!w || !s || *w < 2 || *s < 1 || *s > *w) return invalid_argument(bad);
    p.kind = PerplexityProtocol::Kind::kSliding;
    p.context = *w;
    p.stride = *s;
    return p;
  }
  return invalid_argument(bad);
}

namespace {

// -log softmax(row)[target], in float64.
double nll(const float* row, int64_t vocab, int32_t target) {
  double m = -INFINITY;
  for (int64_t j = 0; j < vocab; ++j) m = std::max(m, static_cast<double>(row[j]));
  double sum = 0.0;
  for (int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(row[j]) - m);
  return std::log(sum) + m - static_cast<double>(row[target]);
}

}  // namespace

Result<PerplexityResult> perplexity(LanguageModel& runner, std::span<const int32_t> tokens, const PerplexityProtocol& p,
                                    const std::function<void(int64_t, int64_t, double, int64_t)>& progress) {
  PerplexityResult r;
  const int64_t N = static_cast<int64_t>(tokens.size());
  r.tokens = N;
  const int64_t V = runner.config().vocab_size;
  if (p.kind == PerplexityProtocol::Kind::kChunked) {
    const int64_t n = p.context, chunks = N / n;
    if (chunks == 0)
      return invalid_argument("perplexity: " + std::to_string(N) + " tokens, fewer than one chunk of " + std::to_string(n));
    const int64_t first = n / 2;
    for (int64_t c = 0; c < chunks; ++c) {
      IM_ASSIGN_OR_RETURN(PrefillResult out, runner.prefill(tokens.subspan(static_cast<size_t>(c * n), static_cast<size_t>(n))));
      for (int64_t i = first; i < n - 1; ++i) {
        r.nll_sum += nll(out.logits.data() + i * V, V, tokens[static_cast<size_t>(c * n + i + 1)]);
        ++r.scored;
      }
      ++r.windows;
      if (progress) progress(c + 1, chunks, r.nll_sum, r.scored);
    }
  } else {
    const int64_t W = p.context, S = p.stride;
    const int64_t total = N <= W ? 1 : (N - W + S - 1) / S + 1;
    int64_t prev_end = 0;
    for (int64_t begin = 0; begin < N; begin += S) {
      const int64_t end = std::min(begin + W, N), len = end - begin, target_len = end - prev_end;
      if (len < 2) break;
      IM_ASSIGN_OR_RETURN(PrefillResult out,
                          runner.prefill(tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(len))));
      // Labels at window positions j >= len - target_len (and j >= 1) are scored from the logits at j - 1.
      for (int64_t j = std::max<int64_t>(1, len - target_len); j < len; ++j) {
        r.nll_sum += nll(out.logits.data() + (j - 1) * V, V, tokens[static_cast<size_t>(begin + j)]);
        ++r.scored;
      }
      ++r.windows;
      if (progress) progress(r.windows, total, r.nll_sum, r.scored);
      prev_end = end;
      if (end == N) break;
    }
  }
  if (r.scored == 0) return invalid_argument("perplexity: no token was scored");
  r.ppl = std::exp(r.nll_sum / static_cast<double>(r.scored));
  return r;
}

}  // namespace ironmill::templates
