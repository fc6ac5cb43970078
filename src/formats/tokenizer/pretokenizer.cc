#include "formats/tokenizer/pretokenizer.h"

#include <algorithm>

#include "formats/tokenizer/unicode.h"

namespace ironmill::formats::tokenizer {
namespace {

struct ByteTables {
  std::array<std::string, 256> to_unicode;
  std::array<char32_t, 256> cp{};
  ByteTables() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      cp[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      append_utf8(to_unicode[b], cp[b]);
    }
  }
};
const ByteTables& byte_tables() {
  static const ByteTables t;
  return t;
}

}  // namespace

std::vector<std::string> split_at_matches(std::string_view text, const std::vector<std::pair<size_t, size_t>>& matches,
                                          SplitBehavior behavior, bool invert) {
  // (range, is_match) covering the whole text, as HF's Pattern::find_matches.
  struct Span {
    size_t b, e;
    bool match;
  };
  std::vector<Span> spans;
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev != b) spans.push_back({prev, b, false});
    spans.push_back({b, e, true});
    prev = e;
  }
  if (prev != text.size()) spans.push_back({prev, text.size(), false});
  if (invert)
    for (auto& s : spans) s.match = !s.match;

  struct Piece {
    size_t b, e;
    bool remove;
  };
  std::vector<Piece> pieces;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const auto& s : spans) pieces.push_back({s.b, s.e, false});
      break;
    case SplitBehavior::kRemoved:
      for (const auto& s : spans) pieces.push_back({s.b, s.e, s.match});
      break;
    case SplitBehavior::kContiguous: {
      bool previous = false;
      for (const auto& s : spans) {
        if (s.match == previous && !pieces.empty()) pieces.back().e = s.e;
        else pieces.push_back({s.b, s.e, false});
        previous = s.match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous = false;
      for (const auto& s : spans) {
        if (s.match && !previous && !pieces.empty()) pieces.back().e = s.e;
        else pieces.push_back({s.b, s.e, false});
        previous = s.match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !previous && !pieces.empty()) pieces.back().b = it->b;
        else pieces.push_back({it->b, it->e, false});
        previous = it->match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
  }
  std::vector<std::string> out;
  for (const auto& p : pieces)
    if (!p.remove && p.e > p.b) out.emplace_back(text.substr(p.b, p.e - p.b));
  return out;
}

std::vector<std::string> regex_split(const Regex& re, std::string_view text, SplitBehavior behavior, bool invert) {
  return split_at_matches(text, re.find_all(text), behavior, invert);
}

const std::array<std::string, 256>& byte_to_unicode() { return byte_tables().to_unicode; }

int unicode_to_byte(char32_t c) {
  if (c < 256) {
    const bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
    return printable ? static_cast<int>(c) : -1;
  }
  if (c >= 256 + 68) return -1;  // 68 = bytes outside the printable ranges
  static const auto inverse = [] {
    std::array<int, 68> inv{};
    const auto& t = byte_tables();
    for (int b = 0; b < 256; ++b)
      if (t.cp[b] >= 256) inv[t.cp[b] - 256] = b;
    return inv;
  }();
  return inverse[c - 256];
}

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& t = byte_tables().to_unicode;
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += t[b];
  return out;
}

}  // namespace ironmill::formats::tokenizer
