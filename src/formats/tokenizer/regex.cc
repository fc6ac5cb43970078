#include "formats/tokenizer/regex.h"

#include <bitset>
#include <cctype>
#include <limits>

#include "formats/tokenizer/unicode.h"

namespace ironmill::formats::tokenizer {
namespace {

// --- character classes -------------------------------------------------------------------------

struct ClassItem {
  enum Kind { kRange, kCategories, kSpace } kind = kRange;
  char32_t lo = 0, hi = 0;  // kRange
  uint32_t categories = 0;  // kCategories: bit per GeneralCategory
  bool negated = false;     // \S, \P{..}, \D, \W
};

struct CharClass {
  std::vector<ClassItem> items;
  bool negated = false;
  std::bitset<128> ascii;  // precomputed answers for ASCII

  bool eval(char32_t cp, GeneralCategory cat) const {
    bool hit = false;
    for (const ClassItem& it : items) {
      bool m = false;
      switch (it.kind) {
        case ClassItem::kRange: m = cp >= it.lo && cp <= it.hi; break;
        case ClassItem::kCategories: m = (it.categories >> static_cast<int>(cat)) & 1u; break;
        case ClassItem::kSpace: m = is_whitespace(cp); break;
      }
      if (m != it.negated) {
        hit = true;
        break;
      }
    }
    return hit != negated;
  }
  void finalize() {
    for (char32_t c = 0; c < 128; ++c) ascii[c] = eval(c, general_category(c));
  }
  bool matches(char32_t cp, GeneralCategory cat) const { return cp < 128 ? ascii[cp] : eval(cp, cat); }
};

// --- AST -------------------------------------------------------------------------------------

constexpr int kInf = std::numeric_limits<int>::max();

struct Node {
  enum Kind { kEmpty, kClass, kConcat, kAlt, kRepeat, kLook, kBegin, kEnd } kind = kEmpty;
  int cls = -1;
  std::vector<std::unique_ptr<Node>> kids;
  int min = 0, max = 0;
  bool greedy = true;
  bool negate = false;  // kLook
};

bool nullable(const Node& n) {
  switch (n.kind) {
    case Node::kEmpty: case Node::kLook: case Node::kBegin: case Node::kEnd: return true;
    case Node::kClass: return false;
    case Node::kConcat:
      for (const auto& k : n.kids)
        if (!nullable(*k)) return false;
      return true;
    case Node::kAlt:
      for (const auto& k : n.kids)
        if (nullable(*k)) return true;
      return false;
    case Node::kRepeat: return n.min == 0 || nullable(*n.kids[0]);
  }
  return true;
}

// --- program ---------------------------------------------------------------------------------

struct Inst {
  enum Op { kClass, kSplit, kJmp, kMatch, kLook, kBegin, kEnd } op;
  int x = 0, y = 0;  // kSplit: preferred x, then y; kJmp: x; kClass: class index; kLook: sub-program
  bool negate = false;
};
using Program = std::vector<Inst>;

class Parser {
 public:
  Parser(std::string_view pattern, std::vector<CharClass>& classes) : p_(pattern), classes_(classes) {}

  Result<std::unique_ptr<Node>> parse() {
    IM_ASSIGN_OR_RETURN(auto n, parse_alt());
    if (pos_ < p_.size()) return err("unmatched ')'");
    return n;
  }

 private:
  Status err(const std::string& what) const {
    return parse_error("regex '" + std::string(p_) + "': " + what + " at offset " + std::to_string(pos_));
  }
  bool at_end() const { return pos_ >= p_.size(); }
  char peek() const { return p_[pos_]; }
  char32_t next_cp() { return decode_utf8(p_, pos_); }

  Result<std::unique_ptr<Node>> parse_alt() {
    auto alt = std::make_unique<Node>();
    alt->kind = Node::kAlt;
    const bool saved_icase = icase_;  // (?i) lasts to the end of the enclosing group
    for (;;) {
      IM_ASSIGN_OR_RETURN(auto c, parse_concat());
      alt->kids.push_back(std::move(c));
      if (!at_end() && peek() == '|') {
        ++pos_;
        continue;
      }
      break;
    }
    icase_ = saved_icase;
    if (alt->kids.size() == 1) return std::move(alt->kids[0]);
    return alt;
  }

  Result<std::unique_ptr<Node>> parse_concat() {
    auto cat = std::make_unique<Node>();
    cat->kind = Node::kConcat;
    while (!at_end() && peek() != '|' && peek() != ')') {
      IM_ASSIGN_OR_RETURN(auto atom, parse_atom());
      if (!atom) continue;  // a flag group like (?i) produces nothing
      IM_ASSIGN_OR_RETURN(auto rep, parse_quantifiers(std::move(atom)));
      cat->kids.push_back(std::move(rep));
    }
    if (cat->kids.size() == 1) return std::move(cat->kids[0]);
    return cat;
  }

  Result<int> parse_int() {
    size_t start = pos_;
    long v = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      v = v * 10 + (peek() - '0');
      if (v > 1000) return err("repetition count too large");
      ++pos_;
    }
    if (pos_ == start) return err("expected a number");
    return static_cast<int>(v);
  }

  Result<std::unique_ptr<Node>> parse_quantifiers(std::unique_ptr<Node> atom) {
    while (!at_end()) {
      int mn, mx;
      const char c = peek();
      if (c == '*') mn = 0, mx = kInf, ++pos_;
      else if (c == '+') mn = 1, mx = kInf, ++pos_;
      else if (c == '?') mn = 0, mx = 1, ++pos_;
      else if (c == '{') {
        const size_t save = pos_;
        ++pos_;
        if (at_end() || !(peek() >= '0' && peek() <= '9')) {  // a literal '{'
          pos_ = save;
          return atom;
        }
        IM_ASSIGN_OR_RETURN(mn, parse_int());
        mx = mn;
        if (!at_end() && peek() == ',') {
          ++pos_;
          if (!at_end() && peek() == '}') mx = kInf;
          else {
            IM_ASSIGN_OR_RETURN(mx, parse_int());
          }
        }
        if (at_end() || peek() != '}') return err("unterminated '{'");
        ++pos_;
        if (mx < mn) return err("repetition {n,m} with m < n");
      } else {
        return atom;
      }
      bool greedy = true;
      if (!at_end() && peek() == '?') greedy = false, ++pos_;
      else if (!at_end() && peek() == '+') return err("possessive quantifiers are not supported");
      if (mx == kInf && nullable(*atom)) return err("a repeated sub-expression that can match empty is not supported");
      auto rep = std::make_unique<Node>();
      rep->kind = Node::kRepeat;
      rep->min = mn;
      rep->max = mx;
      rep->greedy = greedy;
      rep->kids.push_back(std::move(atom));
      atom = std::move(rep);
    }
    return atom;
  }

  std::unique_ptr<Node> class_node(CharClass cls) {
    cls.finalize();
    classes_.push_back(std::move(cls));
    auto n = std::make_unique<Node>();
    n->kind = Node::kClass;
    n->cls = static_cast<int>(classes_.size()) - 1;
    return n;
  }

  // Adds `cp` (and its case variants when (?i) is on) to `cls`.
  void add_char(CharClass& cls, char32_t cp) const {
    cls.items.push_back({ClassItem::kRange, cp, cp});
    if (!icase_) return;
    auto add = [&](char32_t c) { cls.items.push_back({ClassItem::kRange, c, c}); };
    if (cp >= 'a' && cp <= 'z') add(cp - 32);
    if (cp >= 'A' && cp <= 'Z') add(cp + 32);
    if (cp == 's' || cp == 'S') add(0x17F);
    if (cp == 'k' || cp == 'K') add(0x212A);
  }

  void add_range(CharClass& cls, char32_t lo, char32_t hi) const {
    cls.items.push_back({ClassItem::kRange, lo, hi});
    if (!icase_) return;
    for (char32_t c = std::max<char32_t>(lo, 'A'); c <= std::min<char32_t>(hi, 'z'); ++c)
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) add_char(cls, c);
  }

  Result<uint32_t> parse_property() {
    // after "\p" or "\P"
    if (at_end()) return err("incomplete \\p");
    std::string name;
    if (peek() == '{') {
      ++pos_;
      while (!at_end() && peek() != '}') name.push_back(p_[pos_++]);
      if (at_end()) return err("unterminated \\p{");
      ++pos_;
    } else {
      name.push_back(p_[pos_++]);
    }
    const uint32_t mask = category_mask(name);
    if (!mask) return err("unknown Unicode property '" + name + "'");
    return mask;
  }

  Result<char32_t> parse_hex(int max_digits, bool braced) {
    char32_t v = 0;
    int n = 0;
    while (!at_end() && n < max_digits && std::isxdigit(static_cast<unsigned char>(peek()))) {
      const char c = peek();
      v = v * 16 + static_cast<char32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
      ++pos_;
      ++n;
    }
    if (n == 0) return err("expected hex digits");
    if (braced) {
      if (at_end() || peek() != '}') return err("unterminated \\x{");
      ++pos_;
    }
    if (v > 0x10FFFF) return err("code point out of range");
    return v;
  }

  // Parses an escape (after the backslash) into class items, or a single code point in `*literal`.
  // Returns false in `*is_anchor` cases handled by the caller.
  Status parse_escape(CharClass& cls, bool in_class) {
    if (at_end()) return err("trailing backslash");
    const char c = p_[pos_++];
    switch (c) {
      case 's': cls.items.push_back({ClassItem::kSpace}); return Status::Ok();
      case 'S': cls.items.push_back({ClassItem::kSpace, 0, 0, 0, true}); return Status::Ok();
      case 'd': case 'D':
        cls.items.push_back({ClassItem::kCategories, 0, 0, category_mask("Nd"), c == 'D'});
        return Status::Ok();
      case 'w': case 'W':
        cls.items.push_back({ClassItem::kCategories, 0, 0,
                             category_mask("L") | category_mask("M") | category_mask("Nd") | category_mask("Pc"),
                             c == 'W'});
        return Status::Ok();
      case 'p': case 'P': {
        IM_ASSIGN_OR_RETURN(uint32_t mask, parse_property());
        cls.items.push_back({ClassItem::kCategories, 0, 0, mask, c == 'P'});
        return Status::Ok();
      }
      case 'n': add_char(cls, '\n'); return Status::Ok();
      case 'r': add_char(cls, '\r'); return Status::Ok();
      case 't': add_char(cls, '\t'); return Status::Ok();
      case 'f': add_char(cls, '\f'); return Status::Ok();
      case 'v': add_char(cls, '\v'); return Status::Ok();
      case 'x': {
        const bool braced = !at_end() && peek() == '{';
        if (braced) ++pos_;
        IM_ASSIGN_OR_RETURN(char32_t v, parse_hex(braced ? 6 : 2, braced));
        add_char(cls, v);
        return Status::Ok();
      }
      case 'u': {
        IM_ASSIGN_OR_RETURN(char32_t v, parse_hex(4, false));
        add_char(cls, v);
        return Status::Ok();
      }
      default:
        if (std::isalnum(static_cast<unsigned char>(c))) {
          --pos_;
          return err(std::string("unsupported escape '\\") + c + "'");
        }
        --pos_;
        add_char(cls, next_cp());  // escaped punctuation or a UTF-8 character
        return Status::Ok();
    }
  }

  Result<std::unique_ptr<Node>> parse_class() {
    // after '['
    CharClass cls;
    if (!at_end() && peek() == '^') cls.negated = true, ++pos_;
    bool first = true;
    for (;;) {
      if (at_end()) return err("unterminated '['");
      if (peek() == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      if (peek() == '[') return err("nested classes and POSIX classes are not supported");
      if (p_.substr(pos_, 2) == "&&") return err("class intersection is not supported");
      char32_t lo;
      if (peek() == '\\') {
        ++pos_;
        CharClass tmp;
        const bool saved = icase_;
        icase_ = false;
        IM_RETURN_IF_ERROR(parse_escape(tmp, true));
        icase_ = saved;
        if (tmp.items.size() != 1 || tmp.items[0].kind != ClassItem::kRange) {
          for (auto& it : tmp.items) cls.items.push_back(it);
          continue;
        }
        lo = tmp.items[0].lo;
      } else {
        lo = next_cp();
      }
      // A range "lo-hi" (a '-' before ']' is literal).
      if (pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        char32_t hi;
        if (peek() == '\\') {
          ++pos_;
          CharClass tmp;
          const bool saved = icase_;
          icase_ = false;
          IM_RETURN_IF_ERROR(parse_escape(tmp, true));
          icase_ = saved;
          if (tmp.items.size() != 1 || tmp.items[0].kind != ClassItem::kRange) return err("bad class range");
          hi = tmp.items[0].lo;
        } else {
          hi = next_cp();
        }
        if (hi < lo) return err("class range out of order");
        add_range(cls, lo, hi);
      } else {
        add_char(cls, lo);
      }
    }
    return class_node(std::move(cls));
  }

  Result<std::unique_ptr<Node>> parse_atom() {
    const char c = peek();
    if (c == '(') {
      ++pos_;
      const bool saved_icase = icase_;
      std::unique_ptr<Node> look;
      if (p_.substr(pos_, 1) == "?") {
        ++pos_;
        if (at_end()) return err("incomplete group");
        const char g = peek();
        if (g == ':') {
          ++pos_;
        } else if (g == '=' || g == '!') {
          ++pos_;
          look = std::make_unique<Node>();
          look->kind = Node::kLook;
          look->negate = g == '!';
        } else if (g == '<' && pos_ + 1 < p_.size() && (p_[pos_ + 1] == '=' || p_[pos_ + 1] == '!')) {
          return err("lookbehind is not supported");
        } else if (g == 'i' || g == '-') {
          bool on = true, any = false;
          while (!at_end() && (peek() == 'i' || peek() == '-')) {
            if (peek() == '-') on = false;
            else icase_ = on, any = true;
            ++pos_;
          }
          if (!any || at_end()) return err("unsupported group flags");
          if (peek() == ')') {  // (?i): applies to the rest of the enclosing group
            ++pos_;
            return std::unique_ptr<Node>();
          }
          if (peek() != ':') return err("unsupported group flags");
          ++pos_;
        } else if (g == '<' || g == 'P') {  // named group: skip the name
          while (!at_end() && peek() != '>') ++pos_;
          if (at_end()) return err("unterminated group name");
          ++pos_;
        } else {
          return err(std::string("unsupported group '(?") + g + "'");
        }
      }
      IM_ASSIGN_OR_RETURN(auto inner, parse_alt());
      icase_ = saved_icase;
      if (at_end() || peek() != ')') return err("missing ')'");
      ++pos_;
      if (look) {
        look->kids.push_back(std::move(inner));
        return look;
      }
      return inner;
    }
    if (c == '[') {
      ++pos_;
      return parse_class();
    }
    if (c == '*' || c == '+' || c == '?') return err(std::string("nothing to repeat before '") + c + "'");
    if (c == '^' || c == '$') {
      ++pos_;
      auto n = std::make_unique<Node>();
      n->kind = c == '^' ? Node::kBegin : Node::kEnd;
      return n;
    }
    if (c == '.') {
      ++pos_;
      CharClass cls;
      cls.negated = true;
      cls.items.push_back({ClassItem::kRange, '\n', '\n'});
      return class_node(std::move(cls));
    }
    CharClass cls;
    if (c == '\\') {
      ++pos_;
      if (!at_end() && (peek() == 'A' || peek() == 'z')) {
        auto n = std::make_unique<Node>();
        n->kind = peek() == 'A' ? Node::kBegin : Node::kEnd;
        ++pos_;
        return n;
      }
      IM_RETURN_IF_ERROR(parse_escape(cls, false));
    } else {
      add_char(cls, next_cp());
    }
    return class_node(std::move(cls));
  }

  std::string_view p_;
  size_t pos_ = 0;
  bool icase_ = false;
  std::vector<CharClass>& classes_;
};

class Compiler {
 public:
  explicit Compiler(std::vector<Program>& programs) : programs_(programs) {}

  // Compiles `n` into a new program (ending in kMatch); returns its index.
  int compile_program(const Node& n) {
    const int index = static_cast<int>(programs_.size());
    programs_.emplace_back();
    Program prog;
    emit(n, prog);
    prog.push_back({Inst::kMatch});
    programs_[index] = std::move(prog);
    return index;
  }

 private:
  void emit(const Node& n, Program& p) {
    switch (n.kind) {
      case Node::kEmpty: return;
      case Node::kClass: p.push_back({Inst::kClass, n.cls}); return;
      case Node::kBegin: p.push_back({Inst::kBegin}); return;
      case Node::kEnd: p.push_back({Inst::kEnd}); return;
      case Node::kConcat:
        for (const auto& k : n.kids) emit(*k, p);
        return;
      case Node::kAlt: {
        std::vector<size_t> jumps;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 < n.kids.size()) {
            const size_t split = p.size();
            p.push_back({Inst::kSplit});
            p[split].x = static_cast<int>(p.size());
            emit(*n.kids[i], p);
            jumps.push_back(p.size());
            p.push_back({Inst::kJmp});
            p[split].y = static_cast<int>(p.size());
          } else {
            emit(*n.kids[i], p);
          }
        }
        for (size_t j : jumps) p[j].x = static_cast<int>(p.size());
        return;
      }
      case Node::kRepeat: {
        const Node& body = *n.kids[0];
        for (int i = 0; i < n.min; ++i) emit(body, p);
        if (n.max == kInf) {
          // L: split(body, out); body; jmp L; out:
          const size_t split = p.size();
          p.push_back({Inst::kSplit});
          const int body_at = static_cast<int>(p.size());
          emit(body, p);
          p.push_back({Inst::kJmp, static_cast<int>(split)});
          const int out = static_cast<int>(p.size());
          p[split].x = n.greedy ? body_at : out;
          p[split].y = n.greedy ? out : body_at;
          return;
        }
        // Optional copies: split(body, out); body; split(body, out); body; ... out:
        std::vector<size_t> splits;
        for (int i = n.min; i < n.max; ++i) {
          splits.push_back(p.size());
          p.push_back({Inst::kSplit});
          p[splits.back()].x = static_cast<int>(p.size());  // provisional: body
          emit(body, p);
        }
        const int out = static_cast<int>(p.size());
        for (size_t s : splits) {
          const int body_at = p[s].x;
          p[s].x = n.greedy ? body_at : out;
          p[s].y = n.greedy ? out : body_at;
        }
        return;
      }
      case Node::kLook: {
        const int sub = compile_program(*n.kids[0]);
        Inst look{Inst::kLook, sub};
        look.negate = n.negate;
        p.push_back(look);
        return;
      }
    }
  }

  std::vector<Program>& programs_;
};

}  // namespace

struct Regex::Impl {
  std::string pattern;
  std::vector<CharClass> classes;
  std::vector<Program> programs;  // programs[0] is the main one; others are lookahead bodies

  // Returns the end of the highest-priority match of programs[prog] starting at `start`, or -1.
  long run(int prog, const std::u32string& cps, const std::vector<GeneralCategory>& cats, long start,
           std::vector<std::pair<int, long>>& stack) const {
    const Program& p = programs[prog];
    const long n = static_cast<long>(cps.size());
    const size_t base = stack.size();
    stack.emplace_back(0, start);
    long result = -1;
    while (stack.size() > base) {
      auto [pc, sp] = stack.back();
      stack.pop_back();
      for (;;) {
        const Inst& in = p[pc];
        if (in.op == Inst::kClass) {
          if (sp < n && classes[in.x].matches(cps[sp], cats[sp])) {
            ++pc;
            ++sp;
            continue;
          }
          break;
        }
        if (in.op == Inst::kSplit) {
          stack.emplace_back(in.y, sp);
          pc = in.x;
          continue;
        }
        if (in.op == Inst::kJmp) {
          pc = in.x;
          continue;
        }
        if (in.op == Inst::kMatch) {
          result = sp;
          stack.resize(base);
          return result;
        }
        if (in.op == Inst::kLook) {
          const bool m = run(in.x, cps, cats, sp, stack) >= 0;
          if (m != in.negate) {
            ++pc;
            continue;
          }
          break;
        }
        if (in.op == Inst::kBegin) {
          if (sp == 0) {
            ++pc;
            continue;
          }
          break;
        }
        if (in.op == Inst::kEnd) {
          if (sp == n) {
            ++pc;
            continue;
          }
          break;
        }
        break;
      }
    }
    return result;
  }
};

Result<Regex> Regex::compile(std::string_view pattern) {
  auto impl = std::make_shared<Impl>();
  impl->pattern = std::string(pattern);
  if (find_invalid_utf8(pattern) != std::string_view::npos) return parse_error("regex pattern is not valid UTF-8");
  Parser parser(impl->pattern, impl->classes);
  IM_ASSIGN_OR_RETURN(auto ast, parser.parse());
  Compiler compiler(impl->programs);
  compiler.compile_program(*ast);
  Regex r;
  r.impl_ = std::move(impl);
  return r;
}

const std::string& Regex::pattern() const { return impl_->pattern; }

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::u32string cps;
  std::vector<size_t> offsets;  // byte offset of each code point, plus the end
  cps.reserve(text.size());
  offsets.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size();) {
    offsets.push_back(i);
    cps.push_back(decode_utf8(text, i));
  }
  offsets.push_back(text.size());
  std::vector<GeneralCategory> cats(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) cats[i] = general_category(cps[i]);

  std::vector<std::pair<size_t, size_t>> out;
  std::vector<std::pair<int, long>> stack;
  const long n = static_cast<long>(cps.size());
  for (long start = 0; start < n;) {
    const long end = impl_->run(0, cps, cats, start, stack);
    if (end > start) {
      out.emplace_back(offsets[start], offsets[end]);
      start = end;
    } else {
      ++start;
    }
  }
  return out;
}

}  // namespace ironmill::formats::tokenizer
