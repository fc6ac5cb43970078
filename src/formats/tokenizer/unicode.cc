#include "formats/tokenizer/unicode.h"

#include <algorithm>
#include <vector>

#include "formats/tokenizer/unicode_tables.h"

namespace ironmill::formats::tokenizer {
namespace {

using namespace tables;

template <class Range>
const Range* find_range(const Range* ranges, size_t count, char32_t cp) {
  const Range* end = ranges + count;
  const Range* it = std::upper_bound(ranges, end, cp, [](char32_t c, const Range& r) { return c < r.first; });
  if (it == ranges) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
}

// ASCII categories, filled on first use.
struct AsciiCategories {
  GeneralCategory cat[128];
  AsciiCategories() {
    for (char32_t c = 0; c < 128; ++c) {
      const CategoryRange* r = find_range(kCategoryRanges, kCategoryRangeCount, c);
      cat[c] = r ? static_cast<GeneralCategory>(r->category) : GeneralCategory::Cn;
    }
  }
};

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose(char32_t cp, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp < 0xC0) {
    out.push_back(cp);
    return;
  }
  const Decomposition* end = kDecompositions + kDecompositionCount;
  const Decomposition* it =
      std::lower_bound(kDecompositions, end, cp, [](const Decomposition& d, char32_t c) { return d.cp < c; });
  if (it == end || it->cp != cp) {
    out.push_back(cp);
    return;
  }
  decompose(it->first, out);
  if (it->second) decompose(it->second, out);
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composition* end = kCompositions + kCompositionCount;
  const Composition* it = std::lower_bound(kCompositions, end, std::make_pair(a, b), [](const Composition& c, auto key) {
    return c.first != key.first ? c.first < key.first : c.second < key.second;
  });
  return (it != end && it->first == a && it->second == b) ? it->cp : 0;
}

// Full canonical decomposition followed by the canonical ordering of combining marks.
std::u32string canonical_decomposition(std::string_view s) {
  std::u32string d;
  d.reserve(s.size());
  for (size_t i = 0; i < s.size();) decompose(decode_utf8(s, i), d);
  // Stable sort each run of non-starters by combining class (runs are short: insertion sort).
  for (size_t i = 1; i < d.size(); ++i) {
    const int cc = combining_class(d[i]);
    if (cc == 0) continue;
    size_t j = i;
    while (j > 0) {
      const int pc = combining_class(d[j - 1]);
      if (pc == 0 || pc <= cc) break;
      std::swap(d[j - 1], d[j]);
      --j;
    }
  }
  return d;
}

// Below U+0300 every character is a starter that no following character in that range composes
// with, so such text is already in NFC and NFD-equal to its NFC (except Latin-1 letters for NFD).
bool all_below(std::string_view s, unsigned char limit) {
  for (unsigned char c : s)
    if (c >= limit) return false;
  return true;
}

}  // namespace

GeneralCategory general_category(char32_t cp) {
  static const AsciiCategories ascii;
  if (cp < 128) return ascii.cat[cp];
  const CategoryRange* r = find_range(kCategoryRanges, kCategoryRangeCount, cp);
  return r ? static_cast<GeneralCategory>(r->category) : GeneralCategory::Cn;
}

char major_category(GeneralCategory c) {
  static constexpr char kMajor[kGeneralCategoryCount + 1] = "CLLLLLMMMNNNPPPPPPPSSSSZZZCCCC";
  return kMajor[static_cast<int>(c)];
}

uint32_t category_mask(std::string_view name) {
  static constexpr const char* kNames[kGeneralCategoryCount] = {
      "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
      "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
  uint32_t mask = 0;
  if (name.size() == 1) {
    for (int i = 0; i < kGeneralCategoryCount; ++i)
      if (kNames[i][0] == name[0]) mask |= 1u << i;
  } else if (name.size() == 2) {
    for (int i = 0; i < kGeneralCategoryCount; ++i)
      if (name == kNames[i]) mask |= 1u << i;
  }
  // Long names used in some patterns.
  if (name == "Letter") return category_mask("L");
  if (name == "Number") return category_mask("N");
  if (name == "Punctuation") return category_mask("P");
  if (name == "Symbol") return category_mask("S");
  if (name == "Mark") return category_mask("M");
  if (name == "Separator") return category_mask("Z");
  return mask;
}

bool is_whitespace(char32_t cp) {
  if (cp < 128) return (cp >= 9 && cp <= 13) || cp == ' ';
  if (cp == 0x85) return true;
  const GeneralCategory c = general_category(cp);
  return c == GeneralCategory::Zs || c == GeneralCategory::Zl || c == GeneralCategory::Zp;
}

int combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const CombiningRange* r = find_range(kCombiningRanges, kCombiningRangeCount, cp);
  return r ? r->ccc : 0;
}

char32_t decode_utf8(std::string_view s, size_t& i, bool* ok) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int need;
  char32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    ++i;
    if (ok) *ok = false;
    return 0xFFFD;
  }
  size_t j = i + 1;
  for (int k = 0; k < need; ++k, ++j) {
    if (j >= s.size()) {
      i = j;
      if (ok) *ok = false;
      return 0xFFFD;
    }
    const auto b = static_cast<unsigned char>(s[j]);
    if (b < lo || b > hi) {
      i = j;  // the offending byte starts the next sequence
      if (ok) *ok = false;
      return 0xFFFD;
    }
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
  }
  i = j;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t find_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t at = i;
    bool ok = true;
    decode_utf8(s, i, &ok);
    if (!ok) return at;
  }
  return std::string_view::npos;
}

std::u32string to_utf32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) out.push_back(decode_utf8(s, i));
  return out;
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

std::string nfd(std::string_view s) {
  if (all_below(s, 0xC3)) return std::string(s);  // ASCII and U+0080..U+00BF never decompose
  return to_utf8(canonical_decomposition(s));
}

std::string nfc(std::string_view s) {
  if (all_below(s, 0xCC)) return std::string(s);  // nothing at or above U+0300
  const std::u32string d = canonical_decomposition(s);
  std::u32string out;
  out.reserve(d.size());
  size_t starter = std::u32string::npos;
  int last_cc = 0;
  for (char32_t c : d) {
    const int cc = combining_class(c);
    if (starter != std::u32string::npos) {
      const bool adjacent = out.size() - 1 == starter;
      const bool blocked = !adjacent && (last_cc == 0 || last_cc >= cc);
      if (!blocked) {
        if (char32_t composed = compose_pair(out[starter], c)) {
          out[starter] = composed;
          continue;
        }
      }
    }
    if (cc == 0) starter = out.size();
    last_cc = cc;
    out.push_back(c);
  }
  return to_utf8(out);
}

void Utf8Repairer::feed_byte(unsigned char b, std::string& out) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  if (len_ == 0) {
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      return;
    }
    if (b >= 0xC2 && b <= 0xDF) need_ = 2;
    else if (b >= 0xE0 && b <= 0xEF) need_ = 3;
    else if (b >= 0xF0 && b <= 0xF4) need_ = 4;
    else {
      out += kReplacement;
      return;
    }
    buf_[len_++] = b;
    return;
  }
  unsigned char lo = 0x80, hi = 0xBF;
  if (len_ == 1) {
    if (buf_[0] == 0xE0) lo = 0xA0;
    if (buf_[0] == 0xED) hi = 0x9F;
    if (buf_[0] == 0xF0) lo = 0x90;
    if (buf_[0] == 0xF4) hi = 0x8F;
  }
  if (b < lo || b > hi) {  // the held prefix is a maximal ill-formed subpart; b starts anew
    out += kReplacement;
    len_ = 0;
    feed_byte(b, out);
    return;
  }
  buf_[len_++] = b;
  if (len_ == need_) {
    out.append(reinterpret_cast<const char*>(buf_), len_);
    len_ = 0;
  }
}

void Utf8Repairer::feed(std::string_view bytes, std::string& out) {
  for (char c : bytes) feed_byte(static_cast<unsigned char>(c), out);
}

void Utf8Repairer::finish(std::string& out) {
  if (len_) out += "\xEF\xBF\xBD";
  len_ = 0;
}

std::string utf8_lossy(std::string_view bytes) {
  if (find_invalid_utf8(bytes) == std::string_view::npos) return std::string(bytes);
  std::string out;
  Utf8Repairer r;
  r.feed(bytes, out);
  r.finish(out);
  return out;
}

}  // namespace ironmill::formats::tokenizer
