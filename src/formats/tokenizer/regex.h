// A small backtracking regex engine over Unicode code points, enough for the pre-tokenizer patterns
// of GPT-2, LLaMA-3, Qwen2, DeepSeek and friends (Oniguruma semantics: leftmost-first alternation).
//
// Supported: literals, `.`, classes `[...]` / `[^...]` with ranges, `\s \S \d \D \w \W`,
// `\p{X}` / `\P{X}` / `\pL` for general categories (one- or two-letter names), escapes
// `\r \n \t \f \v \xHH \x{H..} \uHHHH`, groups `(...)` `(?:...)` `(?i:...)` `(?i)`, lookahead
// `(?=...)` `(?!...)`, quantifiers `* + ? {n} {n,} {n,m}` (greedy or lazy), anchors `^ $ \A \z`.
// Case-insensitive matching folds ASCII letters (plus U+017F for s and U+212A for k, as Oniguruma).
// Anything else (backreferences, lookbehind, possessive quantifiers, class set operations) is a
// compile error naming the construct and its offset in the pattern.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace ironmill::formats::tokenizer {

class Regex {
 public:
  static Result<Regex> compile(std::string_view pattern);

  // Non-overlapping leftmost-first matches in `text` (valid UTF-8), as byte ranges [begin, end).
  // Empty matches are not reported.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  const std::string& pattern() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace ironmill::formats::tokenizer
