// Jinja subset renderer for chat templates (see chat_template.h for what is covered). Three stages:
// the lexer splits the source into text and tags, applying Jinja's whitespace rules (trim_blocks,
// lstrip_blocks, '-' / '+' modifiers, one trailing newline dropped); a recursive-descent parser with
// jinja2's precedence builds a tree; a tree walker evaluates it over Python-like values. Errors are values
// that name the byte offset of the tag or expression.
#include "formats/tokenizer/chat_template.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>
#include <variant>
#include <vector>

#include "formats/gguf/gguf.h"

namespace ironmill::formats::tokenizer {
namespace {

using ojson = nlohmann::ordered_json;

// ---------------------------------------------------------------- values (Python semantics)

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, as Python dicts

struct Value {
  enum Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace };
  Kind kind = kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // kString; kUndefined: what was undefined (for messages)
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;  // kDict, kNamespace (mutable through `set ns.x`)
  bool tuple = false;          // a kList written as (a, b): printed as a Python tuple

  static Value undefined(std::string hint) { Value v; v.s = std::move(hint); return v; }
  static Value none() { Value v; v.kind = kNone; return v; }
  static Value boolean(bool x) { Value v; v.kind = kBool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = kInt; v.i = x; return v; }
  static Value real(double x) { Value v; v.kind = kFloat; v.f = x; return v; }
  static Value str(std::string x) { Value v; v.kind = kString; v.s = std::move(x); return v; }
  static Value make_list(List l = {}) { Value v; v.kind = kList; v.list = std::make_shared<List>(std::move(l)); return v; }
  static Value make_dict(Dict d = {}, Kind k = kDict) { Value v; v.kind = k; v.dict = std::make_shared<Dict>(std::move(d)); return v; }

  bool is_number() const { return kind == kInt || kind == kFloat || kind == kBool; }
  double as_double() const { return kind == kFloat ? f : kind == kBool ? (b ? 1 : 0) : static_cast<double>(i); }
  int64_t as_int() const { return kind == kBool ? (b ? 1 : 0) : kind == kFloat ? static_cast<int64_t>(f) : i; }
  const Value* find(const std::string& key) const {
    if (!dict) return nullptr;
    for (const auto& [k, v] : *dict)
      if (k == key) return &v;
    return nullptr;
  }
};

Value from_json(const ojson& j) {
  switch (j.type()) {
    case ojson::value_t::null: return Value::none();
    case ojson::value_t::boolean: return Value::boolean(j.get<bool>());
    case ojson::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case ojson::value_t::number_unsigned: return Value::integer(static_cast<int64_t>(j.get<uint64_t>()));
    case ojson::value_t::number_float: return Value::real(j.get<double>());
    case ojson::value_t::string: return Value::str(j.get<std::string>());
    case ojson::value_t::array: {
      List l;
      for (const auto& e : j) l.push_back(from_json(e));
      return Value::make_list(std::move(l));
    }
    case ojson::value_t::object: {
      Dict d;
      for (const auto& [k, v] : j.items()) d.emplace_back(k, from_json(v));
      return Value::make_dict(std::move(d));
    }
    default: return Value::none();
  }
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::kUndefined:
    case Value::kNone: return false;
    case Value::kBool: return v.b;
    case Value::kInt: return v.i != 0;
    case Value::kFloat: return v.f != 0;
    case Value::kString: return !v.s.empty();
    case Value::kList: return !v.list->empty();
    case Value::kDict: return !v.dict->empty();
    case Value::kNamespace: return true;
  }
  return false;
}

// Python's repr(float): the shortest digits that round-trip, exponent form outside [1e-4, 1e16).
std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  char buf[64];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  std::string e(buf);  // d.ddde[+-]XX
  const size_t epos = e.find('e');
  std::string mant = e.substr(0, epos);
  const int exp = std::stoi(e.substr(epos + 1));
  const bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp < -4 || exp >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else {
    const size_t point = static_cast<size_t>(exp) + 1;
    if (digits.size() <= point) out = digits + std::string(point - digits.size(), '0') + ".0";
    else out = digits.substr(0, point) + "." + digits.substr(point);
  }
  return neg ? "-" + out : out;
}

std::string py_repr_str(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out + q;
}

std::string repr(const Value& v);
// Python str(): what {{ }} prints.
std::string to_str(const Value& v) {
  switch (v.kind) {
    case Value::kUndefined: return "";
    case Value::kNone: return "None";
    case Value::kBool: return v.b ? "True" : "False";
    case Value::kInt: return std::to_string(v.i);
    case Value::kFloat: return float_repr(v.f);
    case Value::kString: return v.s;
    default: return repr(v);
  }
}
std::string repr(const Value& v) {
  switch (v.kind) {
    case Value::kString: return py_repr_str(v.s);
    case Value::kList: {
      std::string out = v.tuple ? "(" : "[";
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + repr((*v.list)[k]);
      if (v.tuple && v.list->size() == 1) out += ",";
      return out + (v.tuple ? ")" : "]");
    }
    case Value::kDict: {
      std::string out = "{";
      for (size_t k = 0; k < v.dict->size(); ++k)
        out += (k ? ", " : "") + py_repr_str((*v.dict)[k].first) + ": " + repr((*v.dict)[k].second);
      return out + "}";
    }
    case Value::kNamespace: return "<Namespace>";
    default: return to_str(v);
  }
}

// json.dumps(x, ensure_ascii=False) with Python's separators.
Status to_json(const Value& v, int indent, int depth, std::string& out) {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.kind) {
    case Value::kNone: out += "null"; return Status::Ok();
    case Value::kBool: out += v.b ? "true" : "false"; return Status::Ok();
    case Value::kInt: out += std::to_string(v.i); return Status::Ok();
    case Value::kFloat:
      out += std::isnan(v.f) ? "NaN" : std::isinf(v.f) ? (v.f < 0 ? "-Infinity" : "Infinity") : float_repr(v.f);
      return Status::Ok();
    case Value::kString: {
      out += '"';
      for (unsigned char c : v.s) {
        switch (c) {
          case '"': out += "\\\""; break;
          case '\\': out += "\\\\"; break;
          case '\n': out += "\\n"; break;
          case '\r': out += "\\r"; break;
          case '\t': out += "\\t"; break;
          case '\b': out += "\\b"; break;
          case '\f': out += "\\f"; break;
          default:
            if (c < 0x20) {
              char b[8];
              std::snprintf(b, sizeof b, "\\u%04x", c);
              out += b;
            } else {
              out += static_cast<char>(c);
            }
        }
      }
      out += '"';
      return Status::Ok();
    }
    case Value::kList: {
      if (v.list->empty()) return out += "[]", Status::Ok();
      out += '[';
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        IM_RETURN_IF_ERROR(to_json((*v.list)[k], indent, depth + 1, out));
      }
      newline(depth);
      out += ']';
      return Status::Ok();
    }
    case Value::kDict: {
      if (v.dict->empty()) return out += "{}", Status::Ok();
      out += '{';
      for (size_t k = 0; k < v.dict->size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        IM_RETURN_IF_ERROR(to_json(Value::str((*v.dict)[k].first), indent, depth + 1, out));
        out += ": ";
        IM_RETURN_IF_ERROR(to_json((*v.dict)[k].second, indent, depth + 1, out));
      }
      newline(depth);
      out += '}';
      return Status::Ok();
    }
    case Value::kUndefined: return invalid_argument("tojson: " + v.s + " is undefined");
    case Value::kNamespace: return invalid_argument("tojson: a namespace is not JSON serializable");
  }
  return Status::Ok();
}

// UTF-8 code points (Python indexes strings by code point).
std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (size_t k = 0; k < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    n = std::min(n, s.size() - k);
    out.push_back(s.substr(k, n));
    k += n;
  }
  return out;
}

// Python str.isspace() code points, as UTF-8.
bool is_space_cp(const std::string& cp) {
  static const char* const kSpaces[] = {"\t", "\n", "\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x1f", " ",
                                        "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
                                        "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85",
                                        "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89",
                                        "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
                                        "\xe2\x81\x9f", "\xe3\x80\x80"};
  for (const char* sp : kSpaces)
    if (cp == sp) return true;
  return false;
}

// str.strip / lstrip / rstrip; chars: nullptr = whitespace.
std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right) {
  const auto cps = code_points(s);
  std::vector<std::string> set;
  if (chars) set = code_points(*chars);
  auto strip_it = [&](const std::string& cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_space_cp(cp);
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  std::string out;
  for (size_t k = b; k < e; ++k) out += cps[k];
  return out;
}

std::string ascii_map(std::string s, int (*f)(int)) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x80) c = static_cast<char>(f(c));
  return s;
}
std::string py_title(const std::string& s) {
  std::string out = s;
  bool prev_cased = false;
  for (char& c : out) {
    const bool alpha = std::isalpha(static_cast<unsigned char>(c)) != 0;
    if (alpha) c = static_cast<char>(prev_cased ? std::tolower(c) : std::toupper(c));
    prev_cased = alpha;
  }
  return out;
}
std::string py_capitalize(const std::string& s) {
  std::string out = ascii_map(s, [](int c) { return std::tolower(c); });
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Value::kFloat || b.kind == Value::kFloat) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::kUndefined:
    case Value::kNone: return true;
    case Value::kString: return a.s == b.s;
    case Value::kList:
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!values_equal((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Value::kDict:
      if (a.dict->size() != b.dict->size()) return false;
      for (const auto& [k, v] : *a.dict) {
        const Value* o = b.find(k);
        if (!o || !values_equal(v, *o)) return false;
      }
      return true;
    case Value::kNamespace: return a.dict == b.dict;
    default: return false;
  }
}

const char* kind_name(const Value& v) {
  switch (v.kind) {
    case Value::kUndefined: return "undefined";
    case Value::kNone: return "none";
    case Value::kBool: return "bool";
    case Value::kInt: return "int";
    case Value::kFloat: return "float";
    case Value::kString: return "string";
    case Value::kList: return "list";
    case Value::kDict: return "dict";
    case Value::kNamespace: return "namespace";
  }
  return "?";
}

// ---------------------------------------------------------------- lexer

struct Token {
  enum Kind { kName, kString, kInt, kFloat, kOp, kEnd };
  Kind kind = kEnd;
  std::string text;  // name, decoded string, operator
  int64_t i = 0;
  double f = 0;
  size_t offset = 0;
};

// A piece of the template: raw text, or the tokens of one {{ }} / {% %} tag.
struct Piece {
  enum Kind { kText, kExpr, kStmt };
  Kind kind = kText;
  std::string text;
  std::vector<Token> tokens;  // ends with kEnd
  size_t offset = 0;
};

Status syntax_error(size_t offset, const std::string& what) {
  return parse_error("chat template offset " + std::to_string(offset) + ": " + what);
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Tokens of a tag body starting at `pos`, up to its closing delimiter `close` ("}}" or "%}"), which may be
// preceded by '-' (strip whitespace after) or '+' (no trim_blocks). Sets pos past the delimiter.
Result<std::vector<Token>> lex_tag(const std::string& src, size_t& pos, const std::string& close, char& end_mod,
                                   size_t tag_offset) {
  std::vector<Token> out;
  static const char* const kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                     "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "="};
  end_mod = 0;
  int braces = 0;  // open `{` of dict literals: a `}}` inside one closes the dict, not the tag (as jinja2)
  while (true) {
    while (pos < src.size() && std::isspace(static_cast<unsigned char>(src[pos]))) ++pos;
    if (pos >= src.size()) return syntax_error(tag_offset, "tag is not closed (expected `" + close + "`)");
    if (braces > 0 && src[pos] == '}') {
      Token t;
      t.offset = pos++;
      t.kind = Token::kOp;
      t.text = "}";
      --braces;
      out.push_back(std::move(t));
      continue;
    }
    if ((src[pos] == '-' || src[pos] == '+') && src.compare(pos + 1, close.size(), close) == 0) {
      end_mod = src[pos];
      pos += 1 + close.size();
      break;
    }
    if (src.compare(pos, close.size(), close) == 0) {
      pos += close.size();
      break;
    }
    Token t;
    t.offset = pos;
    const char c = src[pos];
    if (is_name_start(c)) {
      size_t e = pos;
      while (e < src.size() && is_name_char(src[e])) ++e;
      t.kind = Token::kName;
      t.text = src.substr(pos, e - pos);
      pos = e;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t e = pos;
      bool real = false;
      while (e < src.size() && (std::isdigit(static_cast<unsigned char>(src[e])) || src[e] == '_')) ++e;
      if (e + 1 < src.size() && src[e] == '.' && std::isdigit(static_cast<unsigned char>(src[e + 1]))) {
        real = true;
        ++e;
        while (e < src.size() && (std::isdigit(static_cast<unsigned char>(src[e])) || src[e] == '_')) ++e;
      }
      if (e < src.size() && (src[e] == 'e' || src[e] == 'E')) {
        size_t x = e + 1;
        if (x < src.size() && (src[x] == '+' || src[x] == '-')) ++x;
        if (x < src.size() && std::isdigit(static_cast<unsigned char>(src[x]))) {
          real = true;
          e = x;
          while (e < src.size() && std::isdigit(static_cast<unsigned char>(src[e]))) ++e;
        }
      }
      std::string num = src.substr(pos, e - pos);
      num.erase(std::remove(num.begin(), num.end(), '_'), num.end());
      if (real) {
        t.kind = Token::kFloat;
        t.f = std::strtod(num.c_str(), nullptr);
      } else {
        t.kind = Token::kInt;
        t.i = std::strtoll(num.c_str(), nullptr, 10);
      }
      pos = e;
    } else if (c == '\'' || c == '"') {
      size_t e = pos + 1;
      std::string s;
      for (;; ++e) {
        if (e >= src.size()) return syntax_error(pos, "string literal is not closed");
        if (src[e] == c) break;
        if (src[e] != '\\' || e + 1 >= src.size()) {
          s += src[e];
          continue;
        }
        const char x = src[++e];
        switch (x) {
          case 'n': s += '\n'; break;
          case 't': s += '\t'; break;
          case 'r': s += '\r'; break;
          case '0': s += '\0'; break;
          case '\\': s += '\\'; break;
          case '\'': s += '\''; break;
          case '"': s += '"'; break;
          case '\n': break;
          case 'x':
          case 'u':
          case 'U': {
            const size_t n = x == 'x' ? 2 : x == 'u' ? 4 : 8;
            if (e + n >= src.size()) return syntax_error(e, "truncated \\" + std::string(1, x) + " escape");
            const uint32_t cp = static_cast<uint32_t>(std::stoul(src.substr(e + 1, n), nullptr, 16));
            e += n;
            if (cp < 0x80) s += static_cast<char>(cp);
            else if (cp < 0x800) s += static_cast<char>(0xC0 | (cp >> 6)), s += static_cast<char>(0x80 | (cp & 0x3F));
            else if (cp < 0x10000)
              s += static_cast<char>(0xE0 | (cp >> 12)), s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                  s += static_cast<char>(0x80 | (cp & 0x3F));
            else
              s += static_cast<char>(0xF0 | (cp >> 18)), s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                  s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), s += static_cast<char>(0x80 | (cp & 0x3F));
            break;
          }
          default: s += '\\', s += x;  // Python keeps unknown escapes
        }
      }
      t.kind = Token::kString;
      t.text = std::move(s);
      pos = e + 1;
    } else {
      bool found = false;
      for (const char* op : kOps) {
        const size_t n = std::char_traits<char>::length(op);
        if (src.compare(pos, n, op) == 0) {
          t.kind = Token::kOp;
          t.text = op;
          pos += n;
          found = true;
          break;
        }
      }
      if (!found) return syntax_error(pos, std::string("unexpected character `") + c + "`");
      if (t.text == "{") ++braces;
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.offset = pos;
  out.push_back(end);
  return out;
}

bool only_blanks(const std::string& s, size_t from) {
  for (size_t k = from; k < s.size(); ++k)
    if (s[k] != ' ' && s[k] != '\t') return false;
  return true;
}
void rstrip_ws(std::string& s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
}

Result<std::vector<Piece>> lex(std::string src) {
  // jinja2 normalizes newlines and drops one trailing newline (keep_trailing_newline=False).
  std::string norm;
  for (size_t k = 0; k < src.size(); ++k) {
    if (src[k] == '\r') {
      norm += '\n';
      if (k + 1 < src.size() && src[k + 1] == '\n') ++k;
    } else {
      norm += src[k];
    }
  }
  // Offsets in messages refer to the normalized text (the same as the source without \r).
  src = std::move(norm);
  if (!src.empty() && src.back() == '\n') src.pop_back();

  std::vector<Piece> out;
  size_t pos = 0;
  bool line_starting = true;  // the previous tag ended a line (jinja2's lstrip_blocks condition)
  while (pos <= src.size()) {
    size_t tag = std::string::npos;
    for (size_t k = pos; k + 1 < src.size(); ++k)
      if (src[k] == '{' && (src[k + 1] == '{' || src[k + 1] == '%' || src[k + 1] == '#')) {
        tag = k;
        break;
      }
    std::string text = src.substr(pos, (tag == std::string::npos ? src.size() : tag) - pos);
    if (tag == std::string::npos) {
      if (!text.empty()) out.push_back({Piece::kText, std::move(text), {}, pos});
      break;
    }
    const char kind = src[tag + 1];
    const char start_mod = tag + 2 < src.size() ? src[tag + 2] : 0;
    size_t body = tag + 2;
    if (start_mod == '-') {
      rstrip_ws(text);
      ++body;
    } else if (start_mod == '+' && kind != '{') {
      ++body;
    } else if (kind != '{') {
      // lstrip_blocks: blanks between the line start and a block/comment tag go.
      const size_t nl = text.rfind('\n');
      const size_t line = nl == std::string::npos ? 0 : nl + 1;
      if ((nl != std::string::npos || line_starting) && only_blanks(text, line)) text.resize(line);
    }
    if (!text.empty()) out.push_back({Piece::kText, std::move(text), {}, pos});
    char end_mod = 0;
    if (kind == '#') {
      const size_t close = src.find("#}", body);
      if (close == std::string::npos) return syntax_error(tag, "comment is not closed (expected `#}`)");
      end_mod = close > body && (src[close - 1] == '-' || src[close - 1] == '+') ? src[close - 1] : 0;
      pos = close + 2;
    } else {
      Piece p;
      p.kind = kind == '{' ? Piece::kExpr : Piece::kStmt;
      p.offset = tag;
      IM_ASSIGN_OR_RETURN(p.tokens, lex_tag(src, body, kind == '{' ? "}}" : "%}", end_mod, tag));
      pos = body;
      out.push_back(std::move(p));
    }
    const size_t tag_end = pos;
    if (end_mod == '-') {
      while (pos < src.size() && std::isspace(static_cast<unsigned char>(src[pos]))) ++pos;
    } else if (kind != '{' && end_mod != '+' && pos < src.size() && src[pos] == '\n') {
      ++pos;  // trim_blocks
    }
    line_starting = pos > tag_end ? src[pos - 1] == '\n' : false;
    if (pos == src.size()) break;
  }
  return out;
}

// ---------------------------------------------------------------- syntax tree

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
struct Expr {
  enum Kind { kLiteral, kName, kAttr, kItem, kSlice, kCall, kFilter, kTest, kUnary, kBinary, kCompare, kAnd, kOr,
              kNot, kCond, kList, kDict };
  Kind kind;
  size_t offset = 0;
  Value literal;
  std::string name;        // kName, kAttr, kFilter, kTest, kUnary/kBinary operator
  std::vector<ExprPtr> a;  // operands / arguments (kSlice: obj, start?, stop?, step? as null slots)
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare
  bool negated = false;          // kTest
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;
struct Node {
  enum Kind { kText, kOutput, kIf, kFor, kSet, kBreak, kContinue };
  Kind kind;
  size_t offset = 0;
  std::string text;                                  // kText
  ExprPtr expr;                                      // kOutput, kSet value, kFor iterable
  std::vector<std::pair<ExprPtr, Body>> branches;    // kIf (cond, body)
  Body body, else_body;                              // kFor; kIf else
  std::vector<std::string> targets;                  // kFor loop variables; kSet: name [, attribute]
  ExprPtr filter;                                    // kFor `if`
};

class Parser {
 public:
  explicit Parser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

  Result<Body> parse_template() {
    Body body;
    std::string end;
    IM_RETURN_IF_ERROR(parse_body(body, {}, end));
    return body;
  }

 private:
  // Parses nodes until a {% KEYWORD %} in `ends` (left in `end`, its tokens current) or the end.
  Status parse_body(Body& body, const std::vector<std::string>& ends, std::string& end) {
    while (pi_ < pieces_.size()) {
      Piece& p = pieces_[pi_];
      if (p.kind == Piece::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::kText;
        n->text = p.text;
        body.push_back(std::move(n));
        ++pi_;
        continue;
      }
      toks_ = &p.tokens;
      ti_ = 0;
      if (p.kind == Piece::kExpr) {
        auto n = std::make_unique<Node>();
        n->kind = Node::kOutput;
        n->offset = p.offset;
        IM_ASSIGN_OR_RETURN(n->expr, parse_expr());
        IM_RETURN_IF_ERROR(expect_end());
        body.push_back(std::move(n));
        ++pi_;
        continue;
      }
      const Token& kw = cur();
      if (kw.kind != Token::kName) return syntax_error(kw.offset, "expected a statement keyword");
      if (std::find(ends.begin(), ends.end(), kw.text) != ends.end()) {
        end = kw.text;
        ++ti_;
        return Status::Ok();
      }
      const size_t off = p.offset;
      ++ti_;
      if (kw.text == "if") {
        IM_RETURN_IF_ERROR(parse_if(body, off));
      } else if (kw.text == "for") {
        IM_RETURN_IF_ERROR(parse_for(body, off));
      } else if (kw.text == "set") {
        IM_RETURN_IF_ERROR(parse_set(body, off));
      } else if (kw.text == "break" || kw.text == "continue") {
        auto n = std::make_unique<Node>();
        n->kind = kw.text == "break" ? Node::kBreak : Node::kContinue;
        n->offset = off;
        IM_RETURN_IF_ERROR(expect_end());
        body.push_back(std::move(n));
        ++pi_;
      } else {
        return syntax_error(kw.offset, "unsupported or unexpected statement `" + kw.text + "`");
      }
    }
    if (!ends.empty()) {
      std::string want;
      for (const auto& e : ends) want += (want.empty() ? "" : " / ") + e;
      return syntax_error(pieces_.empty() ? 0 : pieces_.back().offset, "missing {% " + want + " %} before the end");
    }
    return Status::Ok();
  }

  Status parse_if(Body& body, size_t off) {
    auto n = std::make_unique<Node>();
    n->kind = Node::kIf;
    n->offset = off;
    while (true) {
      IM_ASSIGN_OR_RETURN(ExprPtr cond, parse_expr());
      IM_RETURN_IF_ERROR(expect_end());
      ++pi_;
      Body b;
      std::string end;
      IM_RETURN_IF_ERROR(parse_body(b, {"elif", "else", "endif"}, end));
      n->branches.emplace_back(std::move(cond), std::move(b));
      if (end == "elif") continue;
      if (end == "else") {
        IM_RETURN_IF_ERROR(expect_end());
        ++pi_;
        IM_RETURN_IF_ERROR(parse_body(n->else_body, {"endif"}, end));
      }
      IM_RETURN_IF_ERROR(expect_end());
      ++pi_;
      break;
    }
    body.push_back(std::move(n));
    return Status::Ok();
  }

  Status parse_for(Body& body, size_t off) {
    auto n = std::make_unique<Node>();
    n->kind = Node::kFor;
    n->offset = off;
    bool paren = accept_op("(");
    while (true) {
      if (cur().kind != Token::kName) return syntax_error(cur().offset, "expected a loop variable name");
      n->targets.push_back(cur().text);
      ++ti_;
      if (!accept_op(",")) break;
    }
    if (paren && !accept_op(")")) return syntax_error(cur().offset, "expected `)`");
    if (!accept_name("in")) return syntax_error(cur().offset, "expected `in` in the for statement");
    IM_ASSIGN_OR_RETURN(n->expr, parse_or());  // not parse_expr: `if` here filters the loop
    if (accept_name("if")) {
      IM_ASSIGN_OR_RETURN(n->filter, parse_or());
    }
    if (cur().kind == Token::kName && cur().text == "recursive") return syntax_error(cur().offset, "recursive loops are not supported");
    IM_RETURN_IF_ERROR(expect_end());
    ++pi_;
    std::string end;
    IM_RETURN_IF_ERROR(parse_body(n->body, {"else", "endfor"}, end));
    if (end == "else") {
      IM_RETURN_IF_ERROR(expect_end());
      ++pi_;
      IM_RETURN_IF_ERROR(parse_body(n->else_body, {"endfor"}, end));
    }
    IM_RETURN_IF_ERROR(expect_end());
    ++pi_;
    body.push_back(std::move(n));
    return Status::Ok();
  }

  Status parse_set(Body& body, size_t off) {
    auto n = std::make_unique<Node>();
    n->kind = Node::kSet;
    n->offset = off;
    if (cur().kind != Token::kName) return syntax_error(cur().offset, "expected a variable name after `set`");
    n->targets.push_back(cur().text);
    ++ti_;
    if (accept_op(".")) {
      if (cur().kind != Token::kName) return syntax_error(cur().offset, "expected an attribute name");
      n->targets.push_back(cur().text);
      ++ti_;
    }
    if (cur().kind == Token::kOp && cur().text == ",")
      return syntax_error(cur().offset, "tuple assignment in `set` is not supported");
    if (!accept_op("="))
      return syntax_error(cur().offset, "expected `=` (block assignment {% set x %}...{% endset %} is not supported)");
    IM_ASSIGN_OR_RETURN(n->expr, parse_expr());
    IM_RETURN_IF_ERROR(expect_end());
    ++pi_;
    body.push_back(std::move(n));
    return Status::Ok();
  }

  // ---- expressions, jinja2's precedence: condexpr < or < and < not < compare < + - < ~ < * / // % < ** <
  // unary < postfix / filters / tests.
  const Token& cur() const { return (*toks_)[ti_]; }
  bool is_op(const char* op) const { return cur().kind == Token::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().kind == Token::kName && cur().text == n; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    ++ti_;
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    ++ti_;
    return true;
  }
  Status expect_end() {
    if (cur().kind != Token::kEnd)
      return syntax_error(cur().offset, "unexpected `" + (cur().kind == Token::kString ? "'" + cur().text + "'" : cur().text) +
                                            "` (expected the end of the tag)");
    return Status::Ok();
  }
  static ExprPtr node(Expr::Kind k, size_t off) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->offset = off;
    return e;
  }

  Result<ExprPtr> parse_expr() {
    IM_ASSIGN_OR_RETURN(ExprPtr e, parse_or());
    while (is_name("if")) {
      const size_t off = cur().offset;
      ++ti_;
      IM_ASSIGN_OR_RETURN(ExprPtr cond, parse_or());
      ExprPtr other;
      if (accept_name("else")) {
        IM_ASSIGN_OR_RETURN(other, parse_expr());
      }
      auto c = node(Expr::kCond, off);
      c->a.push_back(std::move(cond));
      c->a.push_back(std::move(e));
      c->a.push_back(std::move(other));  // may be null: undefined
      e = std::move(c);
    }
    return e;
  }
  Result<ExprPtr> parse_or() {
    IM_ASSIGN_OR_RETURN(ExprPtr e, parse_and());
    while (is_name("or")) {
      auto n = node(Expr::kOr, cur().offset);
      ++ti_;
      IM_ASSIGN_OR_RETURN(ExprPtr r, parse_and());
      n->a.push_back(std::move(e));
      n->a.push_back(std::move(r));
      e = std::move(n);
    }
    return e;
  }
  Result<ExprPtr> parse_and() {
    IM_ASSIGN_OR_RETURN(ExprPtr e, parse_not());
    while (is_name("and")) {
      auto n = node(Expr::kAnd, cur().offset);
      ++ti_;
      IM_ASSIGN_OR_RETURN(ExprPtr r, parse_not());
      n->a.push_back(std::move(e));
      n->a.push_back(std::move(r));
      e = std::move(n);
    }
    return e;
  }
  Result<ExprPtr> parse_not() {
    if (is_name("not")) {
      auto n = node(Expr::kNot, cur().offset);
      ++ti_;
      IM_ASSIGN_OR_RETURN(ExprPtr x, parse_not());
      n->a.push_back(std::move(x));
      return n;
    }
    return parse_compare();
  }
  Result<ExprPtr> parse_compare() {
    IM_ASSIGN_OR_RETURN(ExprPtr e, parse_math1());
    ExprPtr cmp;
    while (true) {
      std::string op;
      const size_t off = cur().offset;
      if (cur().kind == Token::kOp &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" || cur().text == "<=" ||
           cur().text == ">=")) {
        op = cur().text;
        ++ti_;
      } else if (is_name("in")) {
        op = "in";
        ++ti_;
      } else if (is_name("not") && ti_ + 1 < toks_->size() && (*toks_)[ti_ + 1].kind == Token::kName &&
                 (*toks_)[ti_ + 1].text == "in") {
        op = "not in";
        ti_ += 2;
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(Expr::kCompare, off);
        cmp->a.push_back(std::move(e));
      }
      IM_ASSIGN_OR_RETURN(ExprPtr r, parse_math1());
      cmp->ops.push_back(op);
      cmp->a.push_back(std::move(r));
    }
    return cmp ? std::move(cmp) : std::move(e);
  }
  Result<ExprPtr> binary_chain(Result<ExprPtr> (Parser::*next)(), std::initializer_list<const char*> ops) {
    IM_ASSIGN_OR_RETURN(ExprPtr e, (this->*next)());
    while (true) {
      const char* hit = nullptr;
      for (const char* op : ops)
        if (is_op(op)) hit = op;
      if (!hit) break;
      auto n = node(Expr::kBinary, cur().offset);
      n->name = hit;
      ++ti_;
      IM_ASSIGN_OR_RETURN(ExprPtr r, (this->*next)());
      n->a.push_back(std::move(e));
      n->a.push_back(std::move(r));
      e = std::move(n);
    }
    return e;
  }
  Result<ExprPtr> parse_math1() { return binary_chain(&Parser::parse_concat, {"+", "-"}); }
  Result<ExprPtr> parse_concat() { return binary_chain(&Parser::parse_math2, {"~"}); }
  Result<ExprPtr> parse_math2() { return binary_chain(&Parser::parse_pow, {"*", "/", "//", "%"}); }
  Result<ExprPtr> parse_pow() { return binary_chain(&Parser::parse_unary_filtered, {"**"}); }
  Result<ExprPtr> parse_unary_filtered() { return parse_unary(true); }
  Result<ExprPtr> parse_unary(bool with_filter) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = node(Expr::kUnary, cur().offset);
      e->name = cur().text;
      ++ti_;
      IM_ASSIGN_OR_RETURN(ExprPtr x, parse_unary(false));
      e->a.push_back(std::move(x));
    } else {
      IM_ASSIGN_OR_RETURN(e, parse_primary());
    }
    IM_ASSIGN_OR_RETURN(e, parse_postfix(std::move(e)));
    if (with_filter) {
      IM_ASSIGN_OR_RETURN(e, parse_filters(std::move(e)));
    }
    return e;
  }
  Result<ExprPtr> parse_primary() {
    const Token& t = cur();
    switch (t.kind) {
      case Token::kName: {
        ++ti_;
        auto lit = [&](Value v) {
          auto e = node(Expr::kLiteral, t.offset);
          e->literal = std::move(v);
          return e;
        };
        if (t.text == "true" || t.text == "True") return lit(Value::boolean(true));
        if (t.text == "false" || t.text == "False") return lit(Value::boolean(false));
        if (t.text == "none" || t.text == "None") return lit(Value::none());
        auto e = node(Expr::kName, t.offset);
        e->name = t.text;
        return e;
      }
      case Token::kString: {
        auto e = node(Expr::kLiteral, t.offset);
        std::string s = t.text;
        ++ti_;
        while (cur().kind == Token::kString) s += cur().text, ++ti_;  // adjacent literals concatenate
        e->literal = Value::str(std::move(s));
        return e;
      }
      case Token::kInt:
      case Token::kFloat: {
        auto e = node(Expr::kLiteral, t.offset);
        e->literal = t.kind == Token::kInt ? Value::integer(t.i) : Value::real(t.f);
        ++ti_;
        return e;
      }
      case Token::kOp:
        if (t.text == "(") {
          ++ti_;
          IM_ASSIGN_OR_RETURN(ExprPtr e, parse_expr());
          if (is_op(",")) {  // a tuple: a list value
            auto l = node(Expr::kList, t.offset);
            l->name = "tuple";
            l->a.push_back(std::move(e));
            while (accept_op(",")) {
              if (is_op(")")) break;
              IM_ASSIGN_OR_RETURN(ExprPtr x, parse_expr());
              l->a.push_back(std::move(x));
            }
            e = std::move(l);
          }
          if (!accept_op(")")) return syntax_error(cur().offset, "expected `)`");
          return e;
        }
        if (t.text == "[") {
          ++ti_;
          auto l = node(Expr::kList, t.offset);
          while (!is_op("]")) {
            IM_ASSIGN_OR_RETURN(ExprPtr x, parse_expr());
            l->a.push_back(std::move(x));
            if (!accept_op(",")) break;
          }
          if (!accept_op("]")) return syntax_error(cur().offset, "expected `]`");
          return l;
        }
        if (t.text == "{") {
          ++ti_;
          auto d = node(Expr::kDict, t.offset);
          while (!is_op("}")) {
            IM_ASSIGN_OR_RETURN(ExprPtr k, parse_expr());
            if (!accept_op(":")) return syntax_error(cur().offset, "expected `:` in a dict literal");
            IM_ASSIGN_OR_RETURN(ExprPtr v, parse_expr());
            d->a.push_back(std::move(k));
            d->a.push_back(std::move(v));
            if (!accept_op(",")) break;
          }
          if (!accept_op("}")) return syntax_error(cur().offset, "expected `}`");
          return d;
        }
        break;
      default: break;
    }
    if (t.kind == Token::kEnd) return syntax_error(t.offset, "expected an expression");
    return syntax_error(t.offset, "unexpected `" + t.text + "`");
  }
  Status parse_args(Expr& call) {  // after '('
    while (!is_op(")")) {
      if (cur().kind == Token::kName && ti_ + 1 < toks_->size() && (*toks_)[ti_ + 1].kind == Token::kOp &&
          (*toks_)[ti_ + 1].text == "=") {
        std::string k = cur().text;
        ti_ += 2;
        IM_ASSIGN_OR_RETURN(ExprPtr v, parse_expr());
        call.kwargs.emplace_back(std::move(k), std::move(v));
      } else {
        if (!call.kwargs.empty()) return syntax_error(cur().offset, "positional argument after a keyword argument");
        IM_ASSIGN_OR_RETURN(ExprPtr v, parse_expr());
        call.a.push_back(std::move(v));
      }
      if (!accept_op(",")) break;
    }
    if (!accept_op(")")) return syntax_error(cur().offset, "expected `)` after the arguments");
    return Status::Ok();
  }
  Result<ExprPtr> parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        ++ti_;
        if (cur().kind != Token::kName && cur().kind != Token::kInt)
          return syntax_error(cur().offset, "expected an attribute name after `.`");
        auto n = node(Expr::kAttr, cur().offset);
        n->name = cur().kind == Token::kName ? cur().text : std::to_string(cur().i);
        ++ti_;
        n->a.push_back(std::move(e));
        e = std::move(n);
      } else if (is_op("[")) {
        const size_t off = cur().offset;
        ++ti_;
        std::vector<ExprPtr> parts(3);
        bool slice = false;
        for (int k = 0; k < 3; ++k) {
          if (!is_op(":") && !is_op("]")) {
            IM_ASSIGN_OR_RETURN(parts[static_cast<size_t>(k)], parse_expr());
          }
          if (k < 2 && accept_op(":")) {
            slice = true;
            continue;
          }
          break;
        }
        if (!accept_op("]")) return syntax_error(cur().offset, "expected `]`");
        if (!slice && !parts[0]) return syntax_error(off, "empty subscript");
        auto n = node(slice ? Expr::kSlice : Expr::kItem, off);
        n->a.push_back(std::move(e));
        if (slice)
          for (auto& p : parts) n->a.push_back(std::move(p));
        else
          n->a.push_back(std::move(parts[0]));
        e = std::move(n);
      } else if (is_op("(")) {
        auto n = node(Expr::kCall, cur().offset);
        ++ti_;
        n->a.push_back(std::move(e));
        IM_RETURN_IF_ERROR(parse_args(*n));
        e = std::move(n);
      } else {
        return e;
      }
    }
  }
  Result<ExprPtr> parse_filters(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        ++ti_;
        if (cur().kind != Token::kName) return syntax_error(cur().offset, "expected a filter name after `|`");
        auto n = node(Expr::kFilter, cur().offset);
        n->name = cur().text;
        ++ti_;
        n->a.push_back(std::move(e));
        if (accept_op("(")) IM_RETURN_IF_ERROR(parse_args(*n));
        e = std::move(n);
      } else if (is_name("is")) {
        ++ti_;
        auto n = node(Expr::kTest, cur().offset);
        n->negated = accept_name("not");
        if (cur().kind != Token::kName) return syntax_error(cur().offset, "expected a test name after `is`");
        n->name = cur().text;
        ++ti_;
        n->a.push_back(std::move(e));
        if (accept_op("(")) {
          IM_RETURN_IF_ERROR(parse_args(*n));
        } else if (cur().kind == Token::kString || cur().kind == Token::kInt || cur().kind == Token::kFloat ||
                   (cur().kind == Token::kName && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("in") && !is_name("not"))) {
          IM_ASSIGN_OR_RETURN(ExprPtr arg, parse_primary());  // `x is divisibleby 3`, `x is sameas none`
          n->a.push_back(std::move(arg));
        }
        e = std::move(n);
      } else {
        return e;
      }
    }
  }

  std::vector<Piece> pieces_;
  size_t pi_ = 0;
  const std::vector<Token>* toks_ = nullptr;
  size_t ti_ = 0;
};

// ---------------------------------------------------------------- evaluation

Status eval_error(size_t offset, const std::string& what) {
  return invalid_argument("chat template offset " + std::to_string(offset) + ": " + what);
}

enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  explicit Renderer(const ojson& context) {
    frames_.emplace_back();
    if (context.is_object())
      for (const auto& [k, v] : context.items()) frames_[0][k] = from_json(v);
  }

  Status render(const Body& body, std::string& out) {
    Flow f = Flow::kNormal;
    return exec(body, out, f);
  }

 private:
  using Frame = std::unordered_map<std::string, Value>;

  Value lookup(const std::string& name) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return Value::undefined("'" + name + "'");
  }

  Status exec(const Body& body, std::string& out, Flow& flow) {
    for (const auto& n : body) {
      switch (n->kind) {
        case Node::kText: out += n->text; break;
        case Node::kOutput: {
          IM_ASSIGN_OR_RETURN(Value v, eval(*n->expr));
          out += to_str(v);
          break;
        }
        case Node::kIf: {
          bool done = false;
          for (const auto& [cond, b] : n->branches) {
            IM_ASSIGN_OR_RETURN(Value c, eval(*cond));
            if (truthy(c)) {
              IM_RETURN_IF_ERROR(exec(b, out, flow));
              done = true;
              break;
            }
          }
          if (!done) IM_RETURN_IF_ERROR(exec(n->else_body, out, flow));
          if (flow != Flow::kNormal) return Status::Ok();
          break;
        }
        case Node::kFor: IM_RETURN_IF_ERROR(exec_for(*n, out)); break;
        case Node::kSet: {
          IM_ASSIGN_OR_RETURN(Value v, eval(*n->expr));
          if (n->targets.size() == 1) {
            frames_.back()[n->targets[0]] = std::move(v);
          } else {
            Value ns = lookup(n->targets[0]);
            if (ns.kind != Value::kNamespace)
              return eval_error(n->offset, "`set " + n->targets[0] + "." + n->targets[1] + "`: " + n->targets[0] +
                                               " is not a namespace()");
            bool found = false;
            for (auto& [k, x] : *ns.dict)
              if (k == n->targets[1]) x = v, found = true;
            if (!found) ns.dict->emplace_back(n->targets[1], std::move(v));
          }
          break;
        }
        case Node::kBreak: flow = Flow::kBreak; return Status::Ok();
        case Node::kContinue: flow = Flow::kContinue; return Status::Ok();
      }
    }
    return Status::Ok();
  }

  Result<List> iterate(const Value& v, size_t offset) {
    switch (v.kind) {
      case Value::kUndefined: return List{};
      case Value::kList: return *v.list;
      case Value::kDict: {
        List keys;
        for (const auto& [k, x] : *v.dict) keys.push_back(Value::str(k));
        return keys;
      }
      case Value::kString: {
        List cps;
        for (auto& c : code_points(v.s)) cps.push_back(Value::str(c));
        return cps;
      }
      default: return eval_error(offset, std::string("cannot iterate over a ") + kind_name(v));
    }
  }

  Status bind_targets(const Node& n, const Value& item, Frame& frame) {
    if (n.targets.size() == 1) {
      frame[n.targets[0]] = item;
      return Status::Ok();
    }
    if (item.kind != Value::kList || item.list->size() != n.targets.size())
      return eval_error(n.offset, "cannot unpack the loop item into " + std::to_string(n.targets.size()) + " names");
    for (size_t k = 0; k < n.targets.size(); ++k) frame[n.targets[k]] = (*item.list)[k];
    return Status::Ok();
  }

  Status exec_for(const Node& n, std::string& out) {
    IM_ASSIGN_OR_RETURN(Value seq, eval(*n.expr));
    IM_ASSIGN_OR_RETURN(List all, iterate(seq, n.expr->offset));
    List items;
    if (n.filter) {  // the filter runs first: loop.* count the kept items
      for (const auto& it : all) {
        frames_.emplace_back();
        Status s = bind_targets(n, it, frames_.back());
        Result<Value> keep = s.ok() ? eval(*n.filter) : Result<Value>(s);
        frames_.pop_back();
        if (!keep.ok()) return keep.status();
        if (truthy(*keep)) items.push_back(it);
      }
    } else {
      items = std::move(all);
    }
    if (items.empty()) {
      Flow f = Flow::kNormal;
      return exec(n.else_body, out, f);
    }
    const int64_t len = static_cast<int64_t>(items.size());
    for (int64_t k = 0; k < len; ++k) {
      // A fresh frame per iteration: jinja2 does not carry a loop body's `set` into the next iteration.
      frames_.emplace_back();
      Dict loop = {{"index", Value::integer(k + 1)},
                   {"index0", Value::integer(k)},
                   {"revindex", Value::integer(len - k)},
                   {"revindex0", Value::integer(len - k - 1)},
                   {"first", Value::boolean(k == 0)},
                   {"last", Value::boolean(k == len - 1)},
                   {"length", Value::integer(len)},
                   {"depth", Value::integer(1)},
                   {"depth0", Value::integer(0)},
                   {"previtem", k > 0 ? items[static_cast<size_t>(k - 1)] : Value::undefined("loop.previtem")},
                   {"nextitem", k + 1 < len ? items[static_cast<size_t>(k + 1)] : Value::undefined("loop.nextitem")}};
      frames_.back()["loop"] = Value::make_dict(std::move(loop));
      Status s = bind_targets(n, items[static_cast<size_t>(k)], frames_.back());
      Flow flow = Flow::kNormal;
      if (s.ok()) s = exec(n.body, out, flow);
      frames_.pop_back();
      IM_RETURN_IF_ERROR(s);
      if (flow == Flow::kBreak) break;
    }
    return Status::Ok();
  }

  static Status need_defined(const Value& v, size_t offset) {
    if (v.kind == Value::kUndefined) return eval_error(offset, v.s + " is undefined");
    return Status::Ok();
  }

  Result<Value> get_attr(const Value& obj, const std::string& name, size_t offset) {
    IM_RETURN_IF_ERROR(need_defined(obj, offset));
    if (obj.kind == Value::kDict || obj.kind == Value::kNamespace) {
      if (const Value* v = obj.find(name)) return *v;
      return Value::undefined("'" + std::string(kind_name(obj)) + " object' has no attribute '" + name + "'");
    }
    return Value::undefined("'" + std::string(kind_name(obj)) + " object' has no attribute '" + name + "'");
  }

  static int64_t norm_index(int64_t i, int64_t n) { return i < 0 ? i + n : i; }

  Result<Value> get_item(const Value& obj, const Value& key, size_t offset) {
    IM_RETURN_IF_ERROR(need_defined(obj, offset));
    if (obj.kind == Value::kDict || obj.kind == Value::kNamespace) {
      if (key.kind != Value::kString) return Value::undefined("a non-string dict key");
      if (const Value* v = obj.find(key.s)) return *v;
      return Value::undefined("'" + std::string(kind_name(obj)) + " object' has no attribute '" + key.s + "'");
    }
    if ((obj.kind == Value::kList || obj.kind == Value::kString) && (key.kind == Value::kInt || key.kind == Value::kBool)) {
      if (obj.kind == Value::kList) {
        const int64_t n = static_cast<int64_t>(obj.list->size()), i = norm_index(key.as_int(), n);
        if (i < 0 || i >= n) return Value::undefined("list index " + std::to_string(key.as_int()) + " (out of range)");
        return (*obj.list)[static_cast<size_t>(i)];
      }
      const auto cps = code_points(obj.s);
      const int64_t n = static_cast<int64_t>(cps.size()), i = norm_index(key.as_int(), n);
      if (i < 0 || i >= n) return Value::undefined("string index " + std::to_string(key.as_int()) + " (out of range)");
      return Value::str(cps[static_cast<size_t>(i)]);
    }
    if (key.kind == Value::kString) return get_attr(obj, key.s, offset);
    return eval_error(offset, std::string("cannot subscript a ") + kind_name(obj) + " with a " + kind_name(key));
  }

  Result<Value> slice(const Value& obj, const Value* start, const Value* stop, const Value* step, size_t offset) {
    IM_RETURN_IF_ERROR(need_defined(obj, offset));
    auto as_opt = [&](const Value* v) -> Result<std::optional<int64_t>> {
      if (!v || v->kind == Value::kNone) return std::optional<int64_t>();
      if (v->kind != Value::kInt && v->kind != Value::kBool) return eval_error(offset, "slice indices must be integers");
      return std::optional<int64_t>(v->as_int());
    };
    IM_ASSIGN_OR_RETURN(auto a, as_opt(start));
    IM_ASSIGN_OR_RETURN(auto b, as_opt(stop));
    IM_ASSIGN_OR_RETURN(auto c, as_opt(step));
    const int64_t st = c.value_or(1);
    if (st == 0) return eval_error(offset, "slice step cannot be zero");
    std::vector<Value> elems;
    std::vector<std::string> cps;
    int64_t n = 0;
    if (obj.kind == Value::kList) n = static_cast<int64_t>(obj.list->size());
    else if (obj.kind == Value::kString) cps = code_points(obj.s), n = static_cast<int64_t>(cps.size());
    else return eval_error(offset, std::string("cannot slice a ") + kind_name(obj));
    // Python's slice.indices().
    auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
      if (!v) return dflt;
      int64_t x = *v < 0 ? *v + n : *v;
      if (st > 0) return std::clamp<int64_t>(x, 0, n);
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t lo = clamp(a, st > 0 ? 0 : n - 1), hi = clamp(b, st > 0 ? n : -1);
    List outl;
    std::string outs;
    for (int64_t k = lo; st > 0 ? k < hi : k > hi; k += st) {
      if (obj.kind == Value::kList) outl.push_back((*obj.list)[static_cast<size_t>(k)]);
      else outs += cps[static_cast<size_t>(k)];
    }
    return obj.kind == Value::kList ? Value::make_list(std::move(outl)) : Value::str(std::move(outs));
  }

  Result<bool> contains(const Value& hay, const Value& needle, size_t offset) {
    switch (hay.kind) {
      case Value::kString:
        if (needle.kind != Value::kString) return eval_error(offset, "'in <string>' needs a string on the left");
        return hay.s.find(needle.s) != std::string::npos;
      case Value::kList:
        for (const auto& x : *hay.list)
          if (values_equal(x, needle)) return true;
        return false;
      case Value::kDict:
      case Value::kNamespace: return needle.kind == Value::kString && hay.find(needle.s) != nullptr;
      case Value::kUndefined: return eval_error(offset, hay.s + " is undefined");
      default: return eval_error(offset, std::string("`in` on a ") + kind_name(hay));
    }
  }

  Result<bool> compare(const std::string& op, const Value& l, const Value& r, size_t offset) {
    if (op == "==") return values_equal(l, r);
    if (op == "!=") return !values_equal(l, r);
    if (op == "in") return contains(r, l, offset);
    if (op == "not in") {
      IM_ASSIGN_OR_RETURN(bool c, contains(r, l, offset));
      return !c;
    }
    int c = 0;
    if (l.is_number() && r.is_number()) {
      const double a = l.as_double(), b = r.as_double();
      c = a < b ? -1 : a > b ? 1 : 0;
    } else if (l.kind == Value::kString && r.kind == Value::kString) {
      c = l.s.compare(r.s);
    } else {
      return eval_error(offset, "`" + op + "` between a " + kind_name(l) + " and a " + kind_name(r));
    }
    if (op == "<") return c < 0;
    if (op == ">") return c > 0;
    if (op == "<=") return c <= 0;
    return c >= 0;
  }

  Result<Value> arith(const std::string& op, const Value& l, const Value& r, size_t offset) {
    if (op == "~") return Value::str(to_str(l) + to_str(r));
    IM_RETURN_IF_ERROR(need_defined(l, offset));
    IM_RETURN_IF_ERROR(need_defined(r, offset));
    if (op == "+") {
      if (l.kind == Value::kString && r.kind == Value::kString) return Value::str(l.s + r.s);
      if (l.kind == Value::kList && r.kind == Value::kList) {
        List x = *l.list;
        x.insert(x.end(), r.list->begin(), r.list->end());
        return Value::make_list(std::move(x));
      }
    }
    if (op == "*" && ((l.kind == Value::kString && r.kind == Value::kInt) || (l.kind == Value::kInt && r.kind == Value::kString))) {
      const Value& s = l.kind == Value::kString ? l : r;
      std::string out;
      for (int64_t k = 0; k < (l.kind == Value::kInt ? l.i : r.i); ++k) out += s.s;
      return Value::str(out);
    }
    if (!l.is_number() || !r.is_number())
      return eval_error(offset, "`" + op + "` between a " + kind_name(l) + " and a " + kind_name(r));
    const bool ints = l.kind != Value::kFloat && r.kind != Value::kFloat;
    if (op == "/") {
      if (r.as_double() == 0) return eval_error(offset, "division by zero");
      return Value::real(l.as_double() / r.as_double());
    }
    if (ints) {
      const int64_t a = l.as_int(), b = r.as_int();
      if (op == "+") return Value::integer(a + b);
      if (op == "-") return Value::integer(a - b);
      if (op == "*") return Value::integer(a * b);
      if (op == "**") {
        if (b < 0) return Value::real(std::pow(static_cast<double>(a), static_cast<double>(b)));
        int64_t p = 1;
        for (int64_t k = 0; k < b; ++k) p *= a;
        return Value::integer(p);
      }
      if (b == 0) return eval_error(offset, "division by zero");
      int64_t q = a / b, m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) --q, m += b;  // Python floors
      return Value::integer(op == "//" ? q : m);
    }
    const double a = l.as_double(), b = r.as_double();
    if (op == "+") return Value::real(a + b);
    if (op == "-") return Value::real(a - b);
    if (op == "*") return Value::real(a * b);
    if (op == "**") return Value::real(std::pow(a, b));
    if (b == 0) return eval_error(offset, "division by zero");
    if (op == "//") return Value::real(std::floor(a / b));
    double m = std::fmod(a, b);
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return Value::real(m);
  }

  struct Args {
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    const Value* get(size_t i, const char* name) const {
      if (i < pos.size()) return &pos[i];
      for (const auto& [k, v] : kw)
        if (k == name) return &v;
      return nullptr;
    }
  };
  Result<Args> eval_args(const Expr& e, size_t first) {
    Args a;
    for (size_t k = first; k < e.a.size(); ++k) {
      IM_ASSIGN_OR_RETURN(Value v, eval(*e.a[k]));
      a.pos.push_back(std::move(v));
    }
    for (const auto& [k, x] : e.kwargs) {
      IM_ASSIGN_OR_RETURN(Value v, eval(*x));
      a.kw.emplace_back(k, std::move(v));
    }
    return a;
  }

  static Result<std::string> str_arg(const Args& a, size_t i, const char* name, const std::string& fn, size_t offset) {
    const Value* v = a.get(i, name);
    if (!v || v->kind != Value::kString) return eval_error(offset, fn + ": argument `" + name + "` must be a string");
    return v->s;
  }

  Result<int64_t> length_of(const Value& v, size_t offset) {
    switch (v.kind) {
      case Value::kUndefined: return int64_t{0};
      case Value::kString: return static_cast<int64_t>(code_points(v.s).size());
      case Value::kList: return static_cast<int64_t>(v.list->size());
      case Value::kDict:
      case Value::kNamespace: return static_cast<int64_t>(v.dict->size());
      default: return eval_error(offset, std::string("length of a ") + kind_name(v));
    }
  }

  Result<Value> filter(const std::string& name, const Value& v, const Args& a, size_t offset) {
    auto need_string = [&]() -> Status {
      if (v.kind != Value::kString) return eval_error(offset, "filter `" + name + "` needs a string, got a " + kind_name(v));
      return Status::Ok();
    };
    if (name == "safe") return v;
    if (name == "length" || name == "count") {
      IM_ASSIGN_OR_RETURN(int64_t n, length_of(v, offset));
      return Value::integer(n);
    }
    if (name == "string") return Value::str(to_str(v));
    if (name == "tojson") {
      int indent = -1;
      if (const Value* i = a.get(0, "indent"); i && i->kind != Value::kNone) indent = static_cast<int>(i->as_int());
      for (const auto& [k, x] : a.kw)
        if (k != "indent" && !(k == "ensure_ascii" && !truthy(x)))
          return eval_error(offset, "tojson: argument `" + k + "` is not supported");
      std::string out;
      Status s = to_json(v, indent, 0, out);
      if (!s.ok()) return eval_error(offset, s.message());
      return Value::str(out);
    }
    if (name == "default" || name == "d") {
      const Value* dflt = a.get(0, "default_value");
      const Value* boolean = a.get(1, "boolean");
      const bool use = v.kind == Value::kUndefined || (boolean && truthy(*boolean) && !truthy(v));
      return use ? (dflt ? *dflt : Value::str("")) : v;
    }
    if (name == "first" || name == "last") {
      IM_ASSIGN_OR_RETURN(List l, iterate(v, offset));
      if (l.empty()) return Value::undefined("`" + name + "` of an empty sequence");
      return name == "first" ? l.front() : l.back();
    }
    if (name == "join") {
      IM_ASSIGN_OR_RETURN(List l, iterate(v, offset));
      std::string sep;
      if (const Value* s = a.get(0, "d")) sep = to_str(*s);
      std::string out;
      for (size_t k = 0; k < l.size(); ++k) out += (k ? sep : "") + to_str(l[k]);
      return Value::str(out);
    }
    if (name == "list") {
      IM_ASSIGN_OR_RETURN(List l, iterate(v, offset));
      return Value::make_list(std::move(l));
    }
    if (name == "reverse") {
      if (v.kind == Value::kString) {
        auto cps = code_points(v.s);
        std::string out;
        for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
        return Value::str(out);
      }
      IM_ASSIGN_OR_RETURN(List l, iterate(v, offset));
      std::reverse(l.begin(), l.end());
      return Value::make_list(std::move(l));
    }
    if (name == "items") {
      if (v.kind == Value::kUndefined) return Value::make_list();
      if (v.kind != Value::kDict) return eval_error(offset, std::string("filter `items` needs a dict, got a ") + kind_name(v));
      List l;
      for (const auto& [k, x] : *v.dict) l.push_back(Value::make_list({Value::str(k), x}));
      return Value::make_list(std::move(l));
    }
    if (name == "int") {
      if (v.is_number()) return Value::integer(v.as_int());
      if (v.kind == Value::kString) {
        char* end = nullptr;
        const long long x = std::strtoll(v.s.c_str(), &end, 10);
        return Value::integer(end && *end == 0 && !v.s.empty() ? x : 0);
      }
      return Value::integer(0);
    }
    if (name == "float") {
      if (v.is_number()) return Value::real(v.as_double());
      if (v.kind == Value::kString) {
        char* end = nullptr;
        const double x = std::strtod(v.s.c_str(), &end);
        return Value::real(end && *end == 0 && !v.s.empty() ? x : 0.0);
      }
      return Value::real(0.0);
    }
    if (name == "abs") {
      if (v.kind == Value::kFloat) return Value::real(std::fabs(v.f));
      if (v.is_number()) return Value::integer(std::llabs(v.as_int()));
      return eval_error(offset, std::string("filter `abs` of a ") + kind_name(v));
    }
    // The string filters.
    if (name == "trim" || name == "upper" || name == "lower" || name == "capitalize" || name == "title" ||
        name == "replace") {
      IM_RETURN_IF_ERROR(need_string());
      if (name == "trim") {
        const Value* chars = a.get(0, "chars");
        return Value::str(py_strip(v.s, chars && chars->kind == Value::kString ? &chars->s : nullptr, true, true));
      }
      if (name == "upper") return Value::str(ascii_map(v.s, [](int c) { return std::toupper(c); }));
      if (name == "lower") return Value::str(ascii_map(v.s, [](int c) { return std::tolower(c); }));
      if (name == "capitalize") return Value::str(py_capitalize(v.s));
      if (name == "title") return Value::str(py_title(v.s));
      return str_method("replace", v, a, offset);
    }
    return eval_error(offset, "unsupported filter `" + name + "`");
  }

  Result<bool> test(const std::string& name, const Value& v, const Args& a, size_t offset) {
    if (name == "defined") return v.kind != Value::kUndefined;
    if (name == "undefined") return v.kind == Value::kUndefined;
    if (name == "none") return v.kind == Value::kNone;
    if (name == "string") return v.kind == Value::kString;
    if (name == "number") return v.is_number() && v.kind != Value::kBool;
    if (name == "integer") return v.kind == Value::kInt;
    if (name == "float") return v.kind == Value::kFloat;
    if (name == "boolean") return v.kind == Value::kBool;
    if (name == "true") return v.kind == Value::kBool && v.b;
    if (name == "false") return v.kind == Value::kBool && !v.b;
    if (name == "mapping") return v.kind == Value::kDict;
    if (name == "sequence") return v.kind == Value::kList || v.kind == Value::kString || v.kind == Value::kDict;
    if (name == "iterable") return v.kind == Value::kList || v.kind == Value::kString || v.kind == Value::kDict;
    if (name == "odd" || name == "even" || name == "divisibleby") {
      if (v.kind != Value::kInt) return eval_error(offset, "test `" + name + "` needs an integer");
      if (name == "odd") return v.i % 2 != 0;
      if (name == "even") return v.i % 2 == 0;
      const Value* d = a.get(0, "num");
      if (!d || !d->is_number() || d->as_int() == 0) return eval_error(offset, "divisibleby needs a non-zero number");
      return v.i % d->as_int() == 0;
    }
    if (name == "eq" || name == "equalto" || name == "sameas" || name == "ne" || name == "lt" || name == "gt" ||
        name == "le" || name == "ge") {
      const Value* o = a.get(0, "other");
      if (!o) return eval_error(offset, "test `" + name + "` needs an argument");
      if (name == "sameas") return values_equal(v, *o) && v.kind == o->kind;
      static const std::map<std::string, std::string> kOps = {{"eq", "=="}, {"equalto", "=="}, {"ne", "!="},
                                                              {"lt", "<"},  {"gt", ">"},       {"le", "<="},
                                                              {"ge", ">="}};
      return compare(kOps.at(name), v, *o, offset);
    }
    return eval_error(offset, "unsupported test `" + name + "`");
  }

  Result<Value> str_method(const std::string& m, const Value& s, const Args& a, size_t offset) {
    const std::string fn = "str." + m;
    if (m == "strip" || m == "lstrip" || m == "rstrip") {
      const Value* chars = a.get(0, "chars");
      const std::string* cs = chars && chars->kind == Value::kString ? &chars->s : nullptr;
      return Value::str(py_strip(s.s, cs, m != "rstrip", m != "lstrip"));
    }
    if (m == "startswith" || m == "endswith") {
      const Value* p = a.get(0, "prefix");
      if (!p) return eval_error(offset, fn + ": missing argument");
      std::vector<std::string> options;
      if (p->kind == Value::kString) options.push_back(p->s);
      else if (p->kind == Value::kList)
        for (const auto& x : *p->list) options.push_back(to_str(x));
      else return eval_error(offset, fn + ": argument must be a string or a tuple of strings");
      for (const auto& o : options) {
        if (o.size() > s.s.size()) continue;
        if (m == "startswith" ? s.s.compare(0, o.size(), o) == 0 : s.s.compare(s.s.size() - o.size(), o.size(), o) == 0)
          return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    if (m == "upper") return Value::str(ascii_map(s.s, [](int c) { return std::toupper(c); }));
    if (m == "lower") return Value::str(ascii_map(s.s, [](int c) { return std::tolower(c); }));
    if (m == "title") return Value::str(py_title(s.s));
    if (m == "capitalize") return Value::str(py_capitalize(s.s));
    if (m == "replace") {
      IM_ASSIGN_OR_RETURN(std::string from, str_arg(a, 0, "old", fn, offset));
      IM_ASSIGN_OR_RETURN(std::string to, str_arg(a, 1, "new", fn, offset));
      int64_t count = -1;
      if (const Value* c = a.get(2, "count")) count = c->as_int();
      std::string out;
      size_t pos = 0;
      for (int64_t n = 0; count < 0 || n < count; ++n) {
        if (from.empty()) break;  // Python inserts between code points; templates do not do that
        const size_t hit = s.s.find(from, pos);
        if (hit == std::string::npos) break;
        out += s.s.substr(pos, hit - pos) + to;
        pos = hit + from.size();
      }
      return Value::str(out + s.s.substr(pos));
    }
    if (m == "split") {
      List parts;
      const Value* sep = a.get(0, "sep");
      int64_t maxsplit = -1;
      if (const Value* x = a.get(1, "maxsplit")) maxsplit = x->as_int();
      if (!sep || sep->kind == Value::kNone) {
        std::istringstream in(s.s);
        std::string w;
        while (in >> w) parts.push_back(Value::str(w));
        if (maxsplit >= 0) return eval_error(offset, fn + ": maxsplit without a separator is not supported");
      } else {
        if (sep->kind != Value::kString || sep->s.empty()) return eval_error(offset, fn + ": bad separator");
        size_t pos = 0;
        for (int64_t n = 0; maxsplit < 0 || n < maxsplit; ++n) {
          const size_t hit = s.s.find(sep->s, pos);
          if (hit == std::string::npos) break;
          parts.push_back(Value::str(s.s.substr(pos, hit - pos)));
          pos = hit + sep->s.size();
        }
        parts.push_back(Value::str(s.s.substr(pos)));
      }
      return Value::make_list(std::move(parts));
    }
    if (m == "join") {
      const Value* l = a.get(0, "iterable");
      if (!l) return eval_error(offset, fn + ": missing argument");
      IM_ASSIGN_OR_RETURN(List items, iterate(*l, offset));
      std::string out;
      for (size_t k = 0; k < items.size(); ++k) {
        if (items[k].kind != Value::kString) return eval_error(offset, fn + ": items must be strings");
        out += (k ? s.s : "") + items[k].s;
      }
      return Value::str(out);
    }
    return eval_error(offset, "unsupported string method `" + m + "`");
  }

  Result<Value> dict_method(const std::string& m, const Value& d, const Args& a, size_t offset) {
    if (m == "items" || m == "keys" || m == "values") {
      List l;
      for (const auto& [k, x] : *d.dict)
        l.push_back(m == "items" ? Value::make_list({Value::str(k), x}) : m == "keys" ? Value::str(k) : x);
      return Value::make_list(std::move(l));
    }
    if (m == "get") {
      const Value* k = a.get(0, "key");
      if (!k) return eval_error(offset, "dict.get: missing key");
      if (k->kind == Value::kString)
        if (const Value* v = d.find(k->s)) return *v;
      const Value* dflt = a.get(1, "default");
      return dflt ? *dflt : Value::none();
    }
    return eval_error(offset, "unsupported dict method `" + m + "`");
  }

  Result<Value> call(const Expr& e) {
    const Expr& callee = *e.a[0];
    IM_ASSIGN_OR_RETURN(Args args, eval_args(e, 1));
    if (callee.kind == Expr::kAttr) {  // a method
      IM_ASSIGN_OR_RETURN(Value obj, eval(*callee.a[0]));
      IM_RETURN_IF_ERROR(need_defined(obj, callee.offset));
      if (obj.kind == Value::kString) return str_method(callee.name, obj, args, callee.offset);
      if (obj.kind == Value::kDict) {
        if (const Value* v = obj.find(callee.name); v && v->kind != Value::kUndefined)
          return eval_error(callee.offset, "`" + callee.name + "` is a dict entry, not callable");
        return dict_method(callee.name, obj, args, callee.offset);
      }
      return eval_error(callee.offset, std::string("unsupported method `") + callee.name + "` of a " + kind_name(obj));
    }
    if (callee.kind != Expr::kName) return eval_error(callee.offset, "this expression is not callable");
    const std::string& fn = callee.name;
    if (fn == "raise_exception") {
      const Value* msg = args.get(0, "message");
      // The template's own error message, as transformers raises it (TemplateError(message)).
      return invalid_argument("chat template raised: " + (msg ? to_str(*msg) : std::string()));
    }
    if (fn == "namespace") {
      Dict d;
      if (!args.pos.empty()) {
        if (args.pos.size() != 1 || args.pos[0].kind != Value::kDict)
          return eval_error(callee.offset, "namespace() takes keyword arguments (or one dict)");
        d = *args.pos[0].dict;
      }
      for (auto& [k, v] : args.kw) d.emplace_back(k, v);
      return Value::make_dict(std::move(d), Value::kNamespace);
    }
    if (fn == "range") {
      if (args.pos.empty() || args.pos.size() > 3) return eval_error(callee.offset, "range() takes 1 to 3 arguments");
      for (const auto& v : args.pos)
        if (v.kind != Value::kInt) return eval_error(callee.offset, "range() arguments must be integers");
      int64_t lo = 0, hi = 0, st = 1;
      if (args.pos.size() == 1) hi = args.pos[0].i;
      else lo = args.pos[0].i, hi = args.pos[1].i;
      if (args.pos.size() == 3) st = args.pos[2].i;
      if (st == 0) return eval_error(callee.offset, "range() step cannot be zero");
      List l;
      for (int64_t k = lo; st > 0 ? k < hi : k > hi; k += st) l.push_back(Value::integer(k));
      return Value::make_list(std::move(l));
    }
    if (lookup(fn).kind == Value::kUndefined) return eval_error(callee.offset, "'" + fn + "' is undefined");
    return eval_error(callee.offset, "'" + fn + "' is not a supported function");
  }

  Result<Value> eval(const Expr& e) {
    switch (e.kind) {
      case Expr::kLiteral: return e.literal;
      case Expr::kName: return lookup(e.name);
      case Expr::kAttr: {
        IM_ASSIGN_OR_RETURN(Value o, eval(*e.a[0]));
        return get_attr(o, e.name, e.offset);
      }
      case Expr::kItem: {
        IM_ASSIGN_OR_RETURN(Value o, eval(*e.a[0]));
        IM_ASSIGN_OR_RETURN(Value k, eval(*e.a[1]));
        return get_item(o, k, e.offset);
      }
      case Expr::kSlice: {
        IM_ASSIGN_OR_RETURN(Value o, eval(*e.a[0]));
        Value parts[3];
        for (int k = 0; k < 3; ++k)
          if (e.a[static_cast<size_t>(k + 1)]) {
            IM_ASSIGN_OR_RETURN(parts[k], eval(*e.a[static_cast<size_t>(k + 1)]));
          }
        auto p = [&](int k) { return e.a[static_cast<size_t>(k + 1)] ? &parts[k] : nullptr; };
        return slice(o, p(0), p(1), p(2), e.offset);
      }
      case Expr::kCall: return call(e);
      case Expr::kFilter: {
        IM_ASSIGN_OR_RETURN(Value v, eval(*e.a[0]));
        IM_ASSIGN_OR_RETURN(Args args, eval_args(e, 1));
        return filter(e.name, v, args, e.offset);
      }
      case Expr::kTest: {
        IM_ASSIGN_OR_RETURN(Value v, eval(*e.a[0]));
        IM_ASSIGN_OR_RETURN(Args args, eval_args(e, 1));
        IM_ASSIGN_OR_RETURN(bool r, test(e.name, v, args, e.offset));
        return Value::boolean(r != e.negated);
      }
      case Expr::kUnary: {
        IM_ASSIGN_OR_RETURN(Value v, eval(*e.a[0]));
        if (!v.is_number()) return eval_error(e.offset, std::string("unary `") + e.name + "` of a " + kind_name(v));
        if (e.name == "+") return v.kind == Value::kFloat ? v : Value::integer(v.as_int());
        return v.kind == Value::kFloat ? Value::real(-v.f) : Value::integer(-v.as_int());
      }
      case Expr::kBinary: {
        IM_ASSIGN_OR_RETURN(Value l, eval(*e.a[0]));
        IM_ASSIGN_OR_RETURN(Value r, eval(*e.a[1]));
        return arith(e.name, l, r, e.offset);
      }
      case Expr::kCompare: {
        IM_ASSIGN_OR_RETURN(Value l, eval(*e.a[0]));
        for (size_t k = 0; k < e.ops.size(); ++k) {
          IM_ASSIGN_OR_RETURN(Value r, eval(*e.a[k + 1]));
          IM_ASSIGN_OR_RETURN(bool ok, compare(e.ops[k], l, r, e.offset));
          if (!ok) return Value::boolean(false);
          l = std::move(r);
        }
        return Value::boolean(true);
      }
      case Expr::kAnd:
      case Expr::kOr: {  // Python returns the deciding operand
        IM_ASSIGN_OR_RETURN(Value l, eval(*e.a[0]));
        if (truthy(l) == (e.kind == Expr::kOr)) return l;
        return eval(*e.a[1]);
      }
      case Expr::kNot: {
        IM_ASSIGN_OR_RETURN(Value v, eval(*e.a[0]));
        return Value::boolean(!truthy(v));
      }
      case Expr::kCond: {
        IM_ASSIGN_OR_RETURN(Value c, eval(*e.a[0]));
        if (truthy(c)) return eval(*e.a[1]);
        if (!e.a[2]) return Value::undefined("the else branch of a conditional expression");
        return eval(*e.a[2]);
      }
      case Expr::kList: {
        List l;
        for (const auto& x : e.a) {
          IM_ASSIGN_OR_RETURN(Value v, eval(*x));
          l.push_back(std::move(v));
        }
        Value out = Value::make_list(std::move(l));
        out.tuple = e.name == "tuple";
        return out;
      }
      case Expr::kDict: {
        Dict d;
        for (size_t k = 0; k + 1 < e.a.size(); k += 2) {
          IM_ASSIGN_OR_RETURN(Value key, eval(*e.a[k]));
          if (key.kind != Value::kString) return eval_error(e.a[k]->offset, "dict literal keys must be strings");
          IM_ASSIGN_OR_RETURN(Value v, eval(*e.a[k + 1]));
          bool found = false;
          for (auto& [kk, vv] : d)
            if (kk == key.s) vv = v, found = true;
          if (!found) d.emplace_back(key.s, std::move(v));
        }
        return Value::make_dict(std::move(d));
      }
    }
    return eval_error(e.offset, "internal: unknown expression");
  }

  std::vector<Frame> frames_;
};

}  // namespace

struct ChatTemplate::Impl {
  Body body;
};

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  IM_ASSIGN_OR_RETURN(std::vector<Piece> pieces, lex(std::string(source)));
  Parser p(std::move(pieces));
  auto impl = std::make_shared<Impl>();
  IM_ASSIGN_OR_RETURN(impl->body, p.parse_template());
  ChatTemplate t;
  t.impl_ = std::move(impl);
  return t;
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context) const {
  Renderer r(context);
  std::string out;
  IM_RETURN_IF_ERROR(r.render(impl_->body, out));
  return out;
}

Result<std::string> render_chat_template(std::string_view source, const nlohmann::ordered_json& context) {
  IM_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::parse(source));
  return t.render(context);
}

namespace {
Result<std::string> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return io_error(p.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string token_text(const ojson& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return "";
}
}  // namespace

Result<std::optional<ModelChatTemplate>> load_chat_template(const std::filesystem::path& model_dir,
                                                            const std::string& name) {
  namespace fs = std::filesystem;
  ModelChatTemplate t;
  std::error_code ec;
  if (fs::is_regular_file(model_dir, ec) && (model_dir.extension() == ".gguf" || model_dir.extension() == ".GGUF")) {
    // GGUF: tokenizer.chat_template (or tokenizer.chat_template.NAME), BOS/EOS text from the vocabulary.
    IM_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(model_dir.string()));
    const std::string key = name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name;
    if (!f.find(key)) return std::optional<ModelChatTemplate>();
    IM_ASSIGN_OR_RETURN(t.source, f.get_string(key));
    t.origin = model_dir.string() + ": " + key;
    auto token = [&](const char* id_key) -> std::string {
      auto id = f.get_uint(id_key);
      auto tokens = f.get_array("tokenizer.ggml.tokens");
      if (!id.ok() || !tokens.ok() || *id >= (*tokens)->items.size()) return "";
      const std::string* s = (*tokens)->items[*id].as_string();
      return s ? *s : "";
    };
    t.bos_token = token("tokenizer.ggml.bos_token_id");
    t.eos_token = token("tokenizer.ggml.eos_token_id");
    return std::optional<ModelChatTemplate>(std::move(t));
  }
  const fs::path cfg_path = model_dir / "tokenizer_config.json";
  ojson cfg;
  if (fs::is_regular_file(cfg_path)) {
    IM_ASSIGN_OR_RETURN(std::string text, read_file(cfg_path));
    cfg = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
    if (cfg.is_discarded() || !cfg.is_object()) return parse_error(cfg_path.string() + ": not a JSON object");
    if (cfg.contains("bos_token")) t.bos_token = token_text(cfg["bos_token"]);
    if (cfg.contains("eos_token")) t.eos_token = token_text(cfg["eos_token"]);
  }
  if (!fs::is_regular_file(cfg_path) && fs::is_regular_file(model_dir / "tokenizer.gguf"))
    return load_chat_template(model_dir / "tokenizer.gguf", name);  // a bundle compiled from a GGUF file
  const fs::path jinja = model_dir / "chat_template.jinja";
  if (fs::is_regular_file(jinja)) {
    IM_ASSIGN_OR_RETURN(t.source, read_file(jinja));
    t.origin = jinja.string();
    return std::optional<ModelChatTemplate>(std::move(t));
  }
  if (!cfg.is_object() || !cfg.contains("chat_template") || cfg["chat_template"].is_null())
    return std::optional<ModelChatTemplate>();
  const ojson& ct = cfg["chat_template"];
  if (ct.is_string()) {
    t.source = ct.get<std::string>();
    t.origin = cfg_path.string() + ": chat_template";
    return std::optional<ModelChatTemplate>(std::move(t));
  }
  if (!ct.is_array()) return parse_error(cfg_path.string() + ": chat_template: neither a string nor a list");
  std::string names;
  for (size_t k = 0; k < ct.size(); ++k) {
    const ojson& e = ct[k];
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("template") ||
        !e["template"].is_string())
      return parse_error(cfg_path.string() + ": chat_template[" + std::to_string(k) +
                         "]: expected {\"name\": string, \"template\": string}");
    names += (names.empty() ? "" : ", ") + e["name"].get<std::string>();
    if (e["name"] == name) {
      t.source = e["template"].get<std::string>();
      t.origin = cfg_path.string() + ": chat_template[" + std::to_string(k) + "] (" + name + ")";
      return std::optional<ModelChatTemplate>(std::move(t));
    }
  }
  return not_found(cfg_path.string() + ": chat_template: no template named `" + name + "` (has " + names + ")");
}

}  // namespace ironmill::formats::tokenizer
