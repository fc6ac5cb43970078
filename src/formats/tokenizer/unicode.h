// Unicode helpers for the tokenizers: UTF-8 coding, general categories, regex-style whitespace,
// NFC/NFD normalization, and lossy UTF-8 repair. Data comes from unicode_tables.cc (generated).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ironmill::formats::tokenizer {

// Same order as gen_unicode_tables.py's CATS.
enum class GeneralCategory : uint8_t {
  Cn, Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe,
  Pi, Pf, Po, Sm, Sc, Sk, So, Zs, Zl, Zp, Cc, Cf, Cs, Co,
};
constexpr int kGeneralCategoryCount = 30;

GeneralCategory general_category(char32_t cp);
// 'L', 'M', 'N', 'P', 'S', 'Z' or 'C'.
char major_category(GeneralCategory c);
// Bit i set for category i; `category_mask("L")` = Lu|Ll|Lt|Lm|Lo. 0 for an unknown name.
uint32_t category_mask(std::string_view name);

inline bool is_letter(char32_t cp) { return major_category(general_category(cp)) == 'L'; }
inline bool is_number(char32_t cp) { return major_category(general_category(cp)) == 'N'; }
// Regex `\s` (Oniguruma / Rust regex): \t \n \v \f \r, U+0085, and categories Zs, Zl, Zp.
bool is_whitespace(char32_t cp);
// Rust's char::is_alphanumeric (letters and numbers), used for added-token word boundaries.
inline bool is_alphanumeric(char32_t cp) { return is_letter(cp) || is_number(cp); }

int combining_class(char32_t cp);

// UTF-8. `decode_utf8` reads the code point at `s[i]` and advances `i`; on an ill-formed sequence it
// returns U+FFFD, advances past the maximal ill-formed subpart and sets `*ok = false` (if given).
char32_t decode_utf8(std::string_view s, size_t& i, bool* ok = nullptr);
void append_utf8(std::string& out, char32_t cp);
// Byte offset of the first ill-formed sequence, or npos when `s` is valid UTF-8.
size_t find_invalid_utf8(std::string_view s);
std::u32string to_utf32(std::string_view s);
std::string to_utf8(std::u32string_view s);

// Canonical normalization forms (no compatibility decompositions).
std::string nfc(std::string_view s);
std::string nfd(std::string_view s);

// Repairs ill-formed UTF-8 incrementally, replacing each maximal ill-formed subpart with U+FFFD (the
// Unicode "best practice", as Rust's String::from_utf8_lossy). Never emits part of a character:
// an incomplete sequence at the end of the input is held until more bytes or finish().
class Utf8Repairer {
 public:
  void feed(std::string_view bytes, std::string& out);
  void finish(std::string& out);
  bool pending() const { return len_ != 0; }

 private:
  void feed_byte(unsigned char b, std::string& out);
  unsigned char buf_[4] = {};
  int len_ = 0, need_ = 0;
};

// One-shot lossy conversion (same rules as Utf8Repairer).
std::string utf8_lossy(std::string_view bytes);

}  // namespace ironmill::formats::tokenizer
