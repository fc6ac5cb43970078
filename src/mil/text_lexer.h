// Tokenizer for MIL text (text_parser.cc) plus the lexical rules the printer shares with it
// (which names print bare, how strings are escaped). Internal to the mil library.
//
// Tokens: identifiers `[A-Za-z_][A-Za-z0-9_@]*`, numbers (decimal `12`, `1.5e-3`, hex-float `0x1.8p+1`;
// signs are separate `-` / `+` tokens), double-quoted strings (escapes \" \\ \n \t \r \xNN), the
// punctuation ( ) [ ] { } < > , = ; * ? - + and the arrow `->`. `//` starts a comment to end of line.
// The lexer works on a string_view and never copies: token text points into the source.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ironmill::mil::text {

enum class Tok : uint8_t { kEof, kIdent, kNumber, kString, kPunct, kArrow, kError };

struct Token {
  Tok kind = Tok::kEof;
  std::string_view text;  // the raw spelling (strings include their quotes)
  size_t pos = 0;         // byte offset in the source
  bool is(char c) const { return kind == Tok::kPunct && text.size() == 1 && text[0] == c; }
  bool is_ident(std::string_view s) const { return kind == Tok::kIdent && text == s; }
};

inline bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
inline bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9') || c == '@'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// True when `s` prints without quotes (MIL identifier regex, coreml-format.md §3).
inline bool is_plain_identifier(std::string_view s) {
  if (s.empty() || !is_ident_start(s[0])) return false;
  for (char c : s)
    if (!is_ident_char(c)) return false;
  return true;
}

// Appends `s` as a double-quoted string literal. Valid UTF-8 passes through; control characters,
// quotes, backslashes and bytes that are not part of valid UTF-8 are escaped, so the output is
// always valid UTF-8 and parses back to the same bytes.
inline void append_quoted(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // Multi-byte UTF-8: validate lead byte, continuation bytes, overlongs, surrogates, range.
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (cc & 0x3F);
    }
    if (ok) {
      if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        ok = false;
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    }
  }
  out += '"';
}

// Appends a name: bare when it is a plain identifier, quoted otherwise.
inline void append_name(std::string& out, std::string_view s) {
  if (is_plain_identifier(s)) out += s;
  else append_quoted(out, s);
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  // The next token. After an error token, keeps returning it.
  Token next() {
    if (failed_) return error_tok_;
    skip_space();
    Token t;
    t.pos = p_;
    if (p_ >= src_.size()) {
      t.kind = Tok::kEof;
      return t;
    }
    const char c = src_[p_];
    if (is_ident_start(c)) {
      size_t e = p_ + 1;
      while (e < src_.size() && is_ident_char(src_[e])) ++e;
      return take(t, Tok::kIdent, e);
    }
    if (is_digit(c) || (c == '.' && p_ + 1 < src_.size() && is_digit(src_[p_ + 1]))) return number(t);
    if (c == '"') return string(t);
    if (c == '-' && p_ + 1 < src_.size() && src_[p_ + 1] == '>') return take(t, Tok::kArrow, p_ + 2);
    switch (c) {
      case '(': case ')': case '[': case ']': case '{': case '}': case '<': case '>': case ',': case '=':
      case ';': case '*': case '?': case '-': case '+':
        return take(t, Tok::kPunct, p_ + 1);
      default: break;
    }
    static const char* kHex = "0123456789abcdef";
    std::string msg = "unexpected character ";
    const unsigned char uc = static_cast<unsigned char>(c);
    if (uc >= 0x21 && uc < 0x7f) {
      msg += '`';
      msg += c;
      msg += '`';
    } else {
      msg += "\\x";
      msg += kHex[uc >> 4];
      msg += kHex[uc & 15];
    }
    return fail(t, std::move(msg));
  }

  const std::string& error_message() const { return error_; }
  std::string_view source() const { return src_; }

 private:
  void skip_space() {
    while (p_ < src_.size()) {
      const char c = src_[p_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++p_;
      } else if (c == '/' && p_ + 1 < src_.size() && src_[p_ + 1] == '/') {
        while (p_ < src_.size() && src_[p_] != '\n') ++p_;
      } else {
        break;
      }
    }
  }
  Token take(Token t, Tok kind, size_t end) {
    t.kind = kind;
    t.text = src_.substr(p_, end - p_);
    p_ = end;
    return t;
  }
  Token fail(Token t, std::string msg) {
    failed_ = true;
    error_ = std::move(msg);
    t.kind = Tok::kError;
    t.text = src_.substr(t.pos, std::min<size_t>(1, src_.size() - t.pos));
    error_tok_ = t;
    return t;
  }
  static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
  Token number(Token t) {
    size_t e = p_;
    const size_t n = src_.size();
    if (src_[e] == '0' && e + 1 < n && (src_[e + 1] == 'x' || src_[e + 1] == 'X')) {
      e += 2;
      while (e < n && (is_hex(src_[e]) || src_[e] == '.')) ++e;
      if (e < n && (src_[e] == 'p' || src_[e] == 'P')) {
        ++e;
        if (e < n && (src_[e] == '+' || src_[e] == '-')) ++e;
        while (e < n && is_digit(src_[e])) ++e;
      }
    } else {
      while (e < n && (is_digit(src_[e]) || src_[e] == '.')) ++e;
      if (e < n && (src_[e] == 'e' || src_[e] == 'E')) {
        ++e;
        if (e < n && (src_[e] == '+' || src_[e] == '-')) ++e;
        while (e < n && is_digit(src_[e])) ++e;
      }
    }
    if (e < n && (is_ident_char(src_[e]) || src_[e] == '.')) {
      while (e < n && (is_ident_char(src_[e]) || src_[e] == '.')) ++e;
      std::string_view bad = src_.substr(p_, std::min<size_t>(e - p_, 40));
      return fail(t, "malformed number `" + std::string(bad) + "`");
    }
    return take(t, Tok::kNumber, e);
  }
  Token string(Token t) {
    size_t e = p_ + 1;
    const size_t n = src_.size();
    while (e < n && src_[e] != '"') {
      if (src_[e] == '\\') ++e;
      ++e;
    }
    if (e >= n) return fail(t, "unterminated string literal");
    return take(t, Tok::kString, e + 1);
  }

  std::string_view src_;
  size_t p_ = 0;
  bool failed_ = false;
  std::string error_;
  Token error_tok_;
};

}  // namespace ironmill::mil::text
