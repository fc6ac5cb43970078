// MIL text parser (and the syntax text_printer.cc writes). Grammar, whitespace-insensitive:
//
//   program    := `program` `(` VERSION `)` attrs? `{` function* `}`
//   function   := `func` NAME `<` OPSET `>` `(` (TYPE NAME),* `)` attrs? `{` statement* `}` `->` `(` NAME,* `)` `;`
//   statement  := outputs? OPNAME `(` (NAME `=` argument),* `)` attrs? block* `;`
//   outputs    := (TYPE NAME),+ `=`            (also accepted: `(` (TYPE NAME),+ `)` `=`)
//   block      := (`(` (TYPE NAME),* `)`)? `{` statement* `}` `->` `(` NAME,* `)`
//   argument   := binding | `(` binding,* `)`  (the parenthesised form is a tuple: Argument::is_tuple)
//   binding    := NAME | literal
//   attrs      := `[` (NAME `=` literal),* `]`
//   literal    := TYPE `(` body `)`
//   body       := tensor-data | `BLOBFILE(path = literal, offset = literal)`
//               | `[` element,* `]` (list) | `(` element,* `)` (tuple) | `{` (`{` element `,` element `}`),* `}` (dict)
//   element    := literal | tensor-data   (bare data takes the declared element type)
//   tensor-data:= scalar | `[` tensor-data,* `]`   (one bracket level per dimension; `[]` for empty)
//   scalar     := NUMBER | `-`/`+` NUMBER | `inf` | `nan` | `true` | `false` | STRING
//   TYPE       := DTYPE | `tensor<` DTYPE `,` (`[` (INT|`?`),* `]` | `*`) `>` | `list<` TYPE `,` (INT|`?`) `>`
//               | `tuple<` TYPE,* `>` | `dict<` TYPE `,` TYPE `>` | `state<` TYPE `>`
//   NAME       := identifier `[A-Za-z_][A-Za-z0-9_@]*` | STRING (any other name is printed quoted)
//
// Nested blocks (cond: [then, else]; while_loop: [cond, body]) follow the op's attribute bracket, one
// after another, before the statement's `;`. A block with inputs lists them like function parameters:
//
//   int32 i_out, tensor<fp32, [2]> acc_out = while_loop(loop_vars = (i, acc))[name = string("loop")]
//       (int32 i_c, tensor<fp32, [2]> acc_c) {
//           bool go = less(x = i_c, y = n)[name = string("go")];
//       } -> (go)
//       (int32 i_b, tensor<fp32, [2]> acc_b) {
//           int32 i_n = add(x = i_b, y = one)[name = string("i_n")];
//       } -> (i_n, acc_b);
//
// A statement with no outputs starts with the op name (`write_state(data = d, input = s)[...];`).
// Scalars are `int32(1)` or `tensor<int32, []>(1)` in either dialect; the printer picks one by
// Program::text_version ("1.0" = legacy). Floats are C hex-floats or decimals, plus `inf`, `-inf`, `nan`.
// Strings escape `\"`, `\\`, `\n`, `\t`, `\r` and `\xNN`. `//` comments run to end of line.
// Errors are "<file>:<line>:<column>: message", columns counted in bytes from 1. Nesting (types,
// literals, tensor brackets, blocks) is limited to kMaxDepth levels so hostile input cannot exhaust the stack.
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "mil/text.h"
#include "mil/text_lexer.h"

namespace ironmill::mil {
namespace {

using text::Lexer;
using text::Tok;
using text::Token;

constexpr int kMaxDepth = 128;

class Parser {
 public:
  Parser(std::string_view src, std::string_view filename) : lex_(src), src_(src), filename_(filename) {
    cur_ = lex_.next();
  }

  Result<Program> run() {
    Program p;
    if (!program(p)) return parse_error(err_);
    return p;
  }

 private:
  // ---- tokens and errors ---------------------------------------------------------------------------

  const Token& peek2() {
    if (!has2_) {
      nxt_ = lex_.next();
      has2_ = true;
    }
    return nxt_;
  }
  void advance() {
    if (has2_) {
      cur_ = nxt_;
      has2_ = false;
    } else {
      cur_ = lex_.next();
    }
  }
  bool accept(char c) {
    if (!cur_.is(c)) return false;
    advance();
    return true;
  }

  static std::string clip(std::string_view s) {
    return s.size() <= 40 ? std::string(s) : std::string(s.substr(0, 37)) + "...";
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEof: return "end of input";
      case Tok::kString: return "string " + clip(t.text);
      case Tok::kNumber: return "number `" + clip(t.text) + "`";
      default: return "`" + clip(t.text) + "`";
    }
  }

  bool fail_pos(size_t pos, const std::string& msg) {
    if (!err_.empty()) return false;
    size_t line = 1, line_start = 0;
    pos = std::min(pos, src_.size());
    for (size_t i = 0; i < pos; ++i)
      if (src_[i] == '\n') ++line, line_start = i + 1;
    err_ = std::string(filename_) + ":" + std::to_string(line) + ":" + std::to_string(pos - line_start + 1) + ": " + msg;
    return false;
  }
  bool fail_at(const Token& t, const std::string& msg) {
    if (t.kind == Tok::kError) return fail_pos(t.pos, lex_.error_message());
    return fail_pos(t.pos, msg);
  }
  bool fail(const std::string& msg) { return fail_at(cur_, msg); }
  // "expected <what>, got <current token>"
  bool fail_expected(const std::string& what) { return fail("expected " + what + ", got " + describe(cur_)); }
  bool expect(char c, const char* context) {
    if (accept(c)) return true;
    return fail_expected(std::string("`") + c + "` " + context);
  }
  // Same, with the context built only on failure (keeps the hot path free of string building).
  template <class F>
  bool expect_lazy(char c, F&& context) {
    if (accept(c)) return true;
    return fail_expected(std::string("`") + c + "` " + context());
  }

  struct Deeper {
    explicit Deeper(Parser& p) : p_(p) { ok = ++p_.depth_ <= kMaxDepth; }
    ~Deeper() { --p_.depth_; }
    Parser& p_;
    bool ok;
  };
  bool too_deep() { return fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels"); }

  // ---- names and strings ---------------------------------------------------------------------------

  // Decodes the string token `t` (with quotes) into `out`.
  bool decode_string(const Token& t, std::string& out) {
    std::string_view s = t.text.substr(1, t.text.size() - 2);
    if (s.find('\\') == std::string_view::npos) {
      out.assign(s);
      return true;
    }
    out.clear();
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (c != '\\') {
        out += c;
        continue;
      }
      const size_t at = t.pos + 1 + i;
      if (++i >= s.size()) return fail_pos(at, "unfinished escape in string");
      switch (s[i]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case 'x': {
          auto hex = [](char h) -> int {
            if (h >= '0' && h <= '9') return h - '0';
            if (h >= 'a' && h <= 'f') return h - 'a' + 10;
            if (h >= 'A' && h <= 'F') return h - 'A' + 10;
            return -1;
          };
          const int hi = i + 1 < s.size() ? hex(s[i + 1]) : -1;
          const int lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
          if (hi < 0 || lo < 0) return fail_pos(at, "`\\x` needs two hex digits");
          out += static_cast<char>(hi * 16 + lo);
          i += 2;
          break;
        }
        default: {
          const unsigned char u = static_cast<unsigned char>(s[i]);
          std::string shown = (u >= 0x21 && u < 0x7f) ? std::string(1, s[i]) : "\\x..";
          return fail_pos(at, "unknown escape `\\" + shown + "` in string");
        }
      }
    }
    return true;
  }

  bool name(std::string& out, const char* what) {
    if (cur_.kind == Tok::kIdent) {
      out.assign(cur_.text);
      advance();
      return true;
    }
    if (cur_.kind == Tok::kString) {
      if (!decode_string(cur_, out)) return false;
      advance();
      return true;
    }
    return fail_expected(what);
  }

  bool names_list(std::vector<std::string>& out, const char* what) {
    if (!expect_lazy('(', [&] { return std::string("to open the ") + what; })) return false;
    if (!cur_.is(')')) {
      do {
        std::string n;
        if (!name(n, "a value name")) return false;
        out.push_back(std::move(n));
      } while (accept(','));
    }
    return expect_lazy(')', [&] { return std::string("to close the ") + what; });
  }

  bool typed_names(std::vector<NamedType>& out, char close, const char* what) {
    if (cur_.is(close)) return true;
    do {
      NamedType nt;
      if (!type(nt.type)) return false;
      if (!name(nt.name, "a name after the type")) return false;
      out.push_back(std::move(nt));
    } while (accept(','));
    return true;
  }

  // ---- structure -----------------------------------------------------------------------------------

  bool program(Program& p) {
    if (!cur_.is_ident("program")) return fail_expected("`program(VERSION)` at the start of the input");
    advance();
    if (!expect('(', "after `program`")) return false;
    if (cur_.kind != Tok::kNumber) return fail_expected("the program version (e.g. `1.3`)");
    p.text_version.assign(cur_.text);
    advance();
    if (!expect(')', "after the program version")) return false;
    if (cur_.is('[') && !attributes(p.attributes)) return false;
    if (!expect('{', "to open the program body")) return false;
    while (cur_.is_ident("func")) {
      Function f;
      if (!function(f)) return false;
      p.functions.push_back(std::move(f));
    }
    if (!accept('}')) return fail_expected("`func` or `}`");
    if (cur_.kind != Tok::kEof) return fail_expected("end of input after the program");
    return true;
  }

  bool function(Function& f) {
    advance();  // func
    if (!name(f.name, "a function name after `func`")) return false;
    if (!expect_lazy('<', [&] { return "before the opset of function `" + f.name + "`"; })) return false;
    if (!name(f.opset, "an opset (e.g. `ios18`)")) return false;
    if (!expect('>', "after the opset")) return false;
    if (!expect_lazy('(', [&] { return "to open the parameter list of function `" + f.name + "`"; })) return false;
    if (!typed_names(f.inputs, ')', "parameter list")) return false;
    if (!expect(')', "after the parameter list")) return false;
    if (cur_.is('[') && !attributes(f.attributes)) return false;
    if (!expect_lazy('{', [&] { return "to open the body of function `" + f.name + "`"; })) return false;
    if (!block_body(f.body)) return false;
    return expect_lazy(';', [&] { return "after the outputs of function `" + f.name + "`"; });
  }

  // Statements up to `}`, then `-> (outputs)`.
  bool block_body(Block& b) {
    while (!cur_.is('}')) {
      if (cur_.kind == Tok::kEof) return fail_expected("`}` to close the block");
      Operation op;
      if (!statement(op)) return false;
      b.operations.push_back(std::move(op));
    }
    advance();
    if (cur_.kind != Tok::kArrow) return fail_expected("`->` and the block outputs after `}`");
    advance();
    return names_list(b.outputs, "block output list");
  }

  bool statement(Operation& op) {
    const bool named = cur_.kind == Tok::kIdent || cur_.kind == Tok::kString;
    if (!named && !cur_.is('(')) return fail_expected("an operation or `}`");
    if (!(named && peek2().is('('))) {  // outputs first
      const bool paren = accept('(');
      if (!typed_names(op.outputs, '=', "output list")) return false;
      if (op.outputs.empty()) return fail_expected("an output type");
      if (paren && !expect(')', "after the output list")) return false;
      if (!expect('=', "after the outputs of an operation")) return false;
    }
    if (!name(op.type, "an operation name")) return false;
    if (!expect_lazy('(', [&] { return "after operation name `" + op.type + "`"; })) return false;
    if (!cur_.is(')')) {
      do {
        const Token key_tok = cur_;
        std::string key;
        if (!name(key, "a parameter name")) return false;
        if (!expect_lazy('=', [&] { return "after parameter `" + key + "`"; })) return false;
        Argument arg;
        if (!argument(arg)) return false;
        if (!op.inputs.emplace(std::move(key), std::move(arg)).second)
          return fail_at(key_tok, "duplicate parameter `" + std::string(key_tok.text) + "`");
      } while (accept(','));
    }
    if (!expect(')', "after argument list")) return false;
    if (cur_.is('[') && !attributes(op.attributes)) return false;
    while (cur_.is('{') || cur_.is('(')) {
      Deeper g(*this);
      if (!g.ok) return too_deep();
      Block b;
      if (accept('(')) {
        if (!typed_names(b.inputs, ')', "block input list")) return false;
        if (!expect(')', "after the block inputs")) return false;
      }
      if (!expect('{', "to open a nested block")) return false;
      if (!block_body(b)) return false;
      op.blocks.push_back(std::move(b));
    }
    return expect_lazy(';', [&] { return "after operation `" + op.type + "`"; });
  }

  bool argument(Argument& a) {
    if (accept('(')) {
      a.is_tuple = true;
      if (!cur_.is(')')) {
        do {
          Binding b;
          if (!binding(b)) return false;
          a.bindings.push_back(std::move(b));
        } while (accept(','));
      }
      return expect(')', "to close the tuple argument");
    }
    Binding b;
    if (!binding(b)) return false;
    a.bindings.push_back(std::move(b));
    return true;
  }

  bool binding(Binding& b) {
    if (cur_.kind == Tok::kString || (cur_.kind == Tok::kIdent && !peek2().is('(') && !peek2().is('<')))
      return name(b.name, "a value name");
    if (cur_.kind != Tok::kIdent) return fail_expected("a value name or a literal");
    Value v;
    if (!literal(v)) return false;
    b.value = std::move(v);
    return true;
  }

  bool attributes(std::map<std::string, Value>& m) {
    advance();  // [
    if (!cur_.is(']')) {
      do {
        const Token key_tok = cur_;
        std::string key;
        if (!name(key, "an attribute name")) return false;
        if (!expect_lazy('=', [&] { return "after attribute `" + key + "`"; })) return false;
        Value v;
        if (!literal(v)) return false;
        if (!m.emplace(std::move(key), std::move(v)).second)
          return fail_at(key_tok, "duplicate attribute `" + std::string(key_tok.text) + "`");
      } while (accept(','));
    }
    return expect(']', "to close the attribute list");
  }

  // ---- types ---------------------------------------------------------------------------------------

  bool dtype(DType& dt) {
    if (cur_.kind != Tok::kIdent) return fail_expected("a dtype");
    auto d = dtype_from_name(cur_.text);
    if (!d) return fail("unknown dtype `" + clip(cur_.text) + "`");
    dt = *d;
    advance();
    return true;
  }

  // A non-negative integer (dimension or list length).
  bool size_value(int64_t& v, const char* what) {
    if (cur_.kind != Tok::kNumber) return fail_expected(std::string(what) + " (a non-negative integer or `?`)");
    const std::string_view s = cur_.text;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec == std::errc::result_out_of_range) return fail(std::string(what) + " `" + clip(s) + "` is out of range");
    if (r.ec != std::errc() || r.ptr != s.data() + s.size())
      return fail_expected(std::string(what) + " (a non-negative integer or `?`)");
    advance();
    return true;
  }

  bool type(Type& t) {
    Deeper g(*this);
    if (!g.ok) return too_deep();
    if (cur_.kind != Tok::kIdent) return fail_expected("a type");
    const Token tt = cur_;
    const std::string_view w = cur_.text;
    if (w == "tensor" || w == "list" || w == "tuple" || w == "dict" || w == "state") {
      advance();
      if (!expect_lazy('<', [&] { return "after `" + std::string(w) + "`"; })) return false;
      if (w == "tensor") {
        t.kind = Type::Kind::kTensor;
        if (!dtype(t.dtype)) return false;
        if (!expect(',', "after the tensor dtype")) return false;
        if (accept('*')) {
          t.rank_known = false;
        } else {
          if (!expect('[', "to open the tensor shape (or `*` for unknown rank)")) return false;
          if (!cur_.is(']')) {
            do {
              int64_t d = kUnknownDim;
              if (!accept('?') && !size_value(d, "a dimension")) return false;
              t.dims.push_back(d);
            } while (accept(','));
          }
          if (!expect(']', "to close the tensor shape")) return false;
        }
      } else if (w == "list") {
        t.kind = Type::Kind::kList;
        t.children.resize(1);
        if (!type(t.children[0])) return false;
        if (!expect(',', "after the list element type")) return false;
        if (!accept('?') && !size_value(t.list_length, "a list length")) return false;
      } else if (w == "tuple") {
        t.kind = Type::Kind::kTuple;
        if (!cur_.is('>')) {
          do {
            t.children.emplace_back();
            if (!type(t.children.back())) return false;
          } while (accept(','));
        }
      } else if (w == "dict") {
        t.kind = Type::Kind::kDict;
        t.children.resize(2);
        if (!type(t.children[0])) return false;
        if (!expect(',', "after the dict key type")) return false;
        if (!type(t.children[1])) return false;
      } else {
        t.kind = Type::Kind::kState;
        t.children.resize(1);
        if (!type(t.children[0])) return false;
      }
      return expect_lazy('>', [&] { return "to close `" + std::string(w) + "<...>`"; });
    }
    auto d = dtype_from_name(w);
    if (!d) return fail_at(tt, "unknown type `" + clip(w) + "`");
    advance();
    t = Type::scalar(*d);
    return true;
  }

  // ---- literals ------------------------------------------------------------------------------------

  bool literal(Value& v) {
    Deeper g(*this);
    if (!g.ok) return too_deep();
    if (!type(v.type)) return false;
    if (!expect_lazy('(', [&] { return "after the literal's type " + type_to_string(v.type); })) return false;
    if (!literal_body(v)) return false;
    return expect(')', "to close the literal");
  }

  bool literal_body(Value& v) {
    const Type& t = v.type;
    if (cur_.is_ident("BLOBFILE") && peek2().is('(')) return blobfile(v);
    if (cur_.is('{')) {
      advance();
      const bool typed = t.kind == Type::Kind::kDict && t.children.size() == 2;
      Value::Dict d;
      if (!cur_.is('}')) {
        do {
          if (!expect('{', "to open a dict entry `{key, value}`")) return false;
          std::pair<Value, Value> kv;
          if (!element(kv.first, typed ? &t.children[0] : nullptr)) return false;
          if (!expect(',', "between a dict key and its value")) return false;
          if (!element(kv.second, typed ? &t.children[1] : nullptr)) return false;
          if (!expect('}', "to close a dict entry")) return false;
          d.items.push_back(std::move(kv));
        } while (accept(','));
      }
      v.data = std::move(d);
      return expect('}', "to close the dict literal");
    }
    if (cur_.is('(')) {
      advance();
      const bool typed = t.kind == Type::Kind::kTuple;
      Value::Tuple tu;
      if (!cur_.is(')')) {
        do {
          const size_t i = tu.elems.size();
          tu.elems.emplace_back();
          if (!element(tu.elems.back(), typed && i < t.children.size() ? &t.children[i] : nullptr)) return false;
        } while (accept(','));
      }
      v.data = std::move(tu);
      return expect(')', "to close the tuple literal");
    }
    if (cur_.is('[') && t.kind == Type::Kind::kList) {
      advance();
      const Type* et = t.children.empty() ? nullptr : &t.children[0];
      Value::List li;
      if (!cur_.is(']')) {
        do {
          li.elems.emplace_back();
          if (!element(li.elems.back(), et)) return false;
        } while (accept(','));
      }
      v.data = std::move(li);
      return expect(']', "to close the list literal");
    }
    if (!t.is_tensor()) return fail_expected("a value for " + type_to_string(t));
    Tensor tensor;
    if (!tensor_data(t, tensor)) return false;
    v.data = std::move(tensor);
    return true;
  }

  // An element of a compound literal: a full literal, or bare tensor data of the declared type.
  bool element(Value& v, const Type* declared) {
    Deeper g(*this);
    if (!g.ok) return too_deep();
    if (cur_.kind == Tok::kIdent && (peek2().is('(') || peek2().is('<'))) return literal(v);
    if (!declared || !declared->is_tensor()) return fail_expected("a typed literal (`TYPE(value)`)");
    v.type = *declared;
    Tensor t;
    if (!tensor_data(*declared, t)) return false;
    v.data = std::move(t);
    return true;
  }

  bool blobfile(Value& v) {
    advance();  // BLOBFILE
    advance();  // (
    BlobFileRef ref;
    if (!cur_.is_ident("path")) return fail_expected("`path` in BLOBFILE(path = ..., offset = ...)");
    advance();
    if (!expect('=', "after `path`")) return false;
    const Token path_tok = cur_;
    Value path;
    if (!literal(path)) return false;
    if (!path.is_tensor() || path.tensor().dtype() != DType::kString || path.tensor().numel() != 1)
      return fail_at(path_tok, "BLOBFILE path must be a string scalar, e.g. string(\"@model_path/weights/weight.bin\")");
    ref.path = path.tensor().get_string(0);
    if (!expect(',', "after the BLOBFILE path")) return false;
    if (!cur_.is_ident("offset")) return fail_expected("`offset` in BLOBFILE(path = ..., offset = ...)");
    advance();
    if (!expect('=', "after `offset`")) return false;
    const Token off_tok = cur_;
    Value off;
    if (!literal(off)) return false;
    if (!off.is_tensor() || !is_int(off.tensor().dtype()) || off.tensor().numel() != 1)
      return fail_at(off_tok, "BLOBFILE offset must be an integer scalar, e.g. uint64(64)");
    const Tensor& ot = off.tensor();
    if (ot.dtype() == DType::kUint64) {
      std::memcpy(&ref.offset, ot.raw(), 8);
    } else {
      const int64_t o = ot.get_i64(0);
      if (o < 0) return fail_at(off_tok, "BLOBFILE offset must not be negative");
      ref.offset = static_cast<uint64_t>(o);
    }
    if (!expect(')', "to close BLOBFILE(...)")) return false;
    v.data = std::move(ref);
    return true;
  }

  // ---- tensor data ---------------------------------------------------------------------------------

  struct Sink {
    DType dt;
    size_t eb;
    std::vector<uint8_t> bytes;
    std::vector<std::string> strings;
    size_t count = 0;
  };

  bool float_token(double& d) {
    const std::string_view s = cur_.text;
    std::from_chars_result r;
    const char* end = s.data() + s.size();
    if (s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
      r = std::from_chars(s.data() + 2, end, d, std::chars_format::hex);
    else
      r = std::from_chars(s.data(), end, d, std::chars_format::general);
    if (r.ec == std::errc::result_out_of_range) return fail("number `" + clip(s) + "` is out of range");
    if (r.ec != std::errc() || r.ptr != end) return fail("malformed number `" + clip(s) + "`");
    advance();
    return true;
  }

  bool scalar(Sink& k) {
    const DType dt = k.dt;
    if (dt == DType::kString) {
      if (cur_.kind != Tok::kString) return fail_expected("a string literal");
      std::string s;
      if (!decode_string(cur_, s)) return false;
      advance();
      k.strings.push_back(std::move(s));
      ++k.count;
      return true;
    }
    const size_t at = k.bytes.size();
    k.bytes.resize(at + k.eb);
    uint8_t* dst = k.bytes.data() + at;
    ++k.count;
    if (dt == DType::kBool) {
      if (cur_.is_ident("true")) dst[0] = 1;
      else if (cur_.is_ident("false")) dst[0] = 0;
      else return fail_expected("`true` or `false`");
      advance();
      return true;
    }
    const Token start = cur_;
    bool neg = false;
    if (cur_.is('-') || cur_.is('+')) {
      neg = cur_.is('-');
      advance();
    }
    if (is_float(dt)) {
      double d;
      if (cur_.is_ident("inf")) {
        d = std::numeric_limits<double>::infinity();
        advance();
      } else if (cur_.is_ident("nan")) {
        d = std::numeric_limits<double>::quiet_NaN();
        advance();
      } else if (cur_.kind == Tok::kNumber) {
        if (!float_token(d)) return false;
      } else {
        return fail_expected(std::string("a number for ") + std::string(dtype_name(dt)));
      }
      store_f64(dt, dst, neg ? -d : d);
      return true;
    }
    // Integers: decimal digits only, range-checked against the dtype.
    if (cur_.kind != Tok::kNumber) return fail_expected(std::string("an integer for ") + std::string(dtype_name(dt)));
    const std::string_view s = cur_.text;
    uint64_t mag = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), mag);
    if (r.ec == std::errc() && r.ptr != s.data() + s.size()) r.ec = std::errc::invalid_argument;
    if (r.ec == std::errc::invalid_argument)
      return fail_expected(std::string("an integer for ") + std::string(dtype_name(dt)) + " (decimal digits)");
    auto out_of_range = [&] {
      return fail_at(start, "integer `" + std::string(neg ? "-" : "") + clip(s) + "` is out of range for " +
                                std::string(dtype_name(dt)));
    };
    if (r.ec == std::errc::result_out_of_range) return out_of_range();
    if (dt == DType::kUint64) {
      if (neg && mag != 0) return out_of_range();
      std::memcpy(dst, &mag, 8);
    } else {
      int64_t v;
      if (neg) {
        if (mag > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) return out_of_range();
        v = mag == static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1 ? std::numeric_limits<int64_t>::min()
                                                                                   : -static_cast<int64_t>(mag);
      } else {
        if (mag > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return out_of_range();
        v = static_cast<int64_t>(mag);
      }
      if (v < int_min(dt) || (v > 0 && static_cast<uint64_t>(v) > int_max(dt))) return out_of_range();
      store_i64(dt, dst, v);
    }
    advance();
    return true;
  }

  // Data checked against a fully known shape.
  bool fixed_data(const Shape& dims, size_t level, Sink& k) {
    if (level == dims.size()) return scalar(k);
    Deeper g(*this);
    if (!g.ok) return too_deep();
    if (!accept('['))
      return fail_expected("`[` for dimension " + std::to_string(level) + " (size " + std::to_string(dims[level]) +
                           ") of the tensor literal");
    for (int64_t i = 0; i < dims[level]; ++i) {
      if (i && !accept(',')) {
        if (cur_.is(']'))
          return fail("tensor literal has " + std::to_string(i) + " elements in dimension " + std::to_string(level) +
                      ", its type says " + std::to_string(dims[level]));
        return fail_expected("`,` or `]` in the tensor literal");
      }
      if (!fixed_data(dims, level + 1, k)) return false;
    }
    if (cur_.is(','))
      return fail("tensor literal has more than " + std::to_string(dims[level]) + " elements in dimension " +
                  std::to_string(level) + ", its type says " + std::to_string(dims[level]));
    return expect_lazy(']', [&] { return "to close dimension " + std::to_string(level) + " of the tensor literal"; });
  }

  // Data of unknown shape: the bracket structure gives it (and must be rectangular).
  bool free_data(size_t level, std::vector<int64_t>& counts, int64_t& leaf_depth, Sink& k) {
    if (!cur_.is('[')) {
      if (leaf_depth < 0) leaf_depth = static_cast<int64_t>(level);
      else if (leaf_depth != static_cast<int64_t>(level)) return fail("tensor literal is not rectangular (mixed nesting)");
      return scalar(k);
    }
    Deeper g(*this);
    if (!g.ok) return too_deep();
    const Token open = cur_;
    advance();
    int64_t n = 0;
    if (!cur_.is(']')) {
      do {
        if (!free_data(level + 1, counts, leaf_depth, k)) return false;
        ++n;
      } while (accept(','));
    }
    if (!expect(']', "to close a tensor literal dimension")) return false;
    if (counts.size() <= level) counts.resize(level + 1, -1);
    if (counts[level] < 0) counts[level] = n;
    else if (counts[level] != n)
      return fail_at(open, "tensor literal is not rectangular: " + std::to_string(n) + " elements in dimension " +
                               std::to_string(level) + " here, " + std::to_string(counts[level]) + " before");
    if (leaf_depth >= 0 && static_cast<int64_t>(level) >= leaf_depth)
      return fail_at(open, "tensor literal is not rectangular (mixed nesting)");
    return true;
  }

  // numel of `dims` without overflow in any left-to-right prefix product (what shape_numel computes).
  static bool safe_numel(const Shape& dims, int64_t& n) {
    n = 1;
    for (int64_t d : dims) {
      if (d < 0) return false;
      if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return false;
      n *= d;
    }
    return true;
  }

  bool tensor_data(const Type& t, Tensor& out) {
    Sink k{t.dtype, static_cast<size_t>(dtype_element_bytes(t.dtype)), {}, {}, 0};
    const Token start = cur_;
    Shape shape;
    bool known = t.rank_known;
    for (int64_t d : t.dims) known = known && d >= 0;
    if (known) {
      int64_t n;
      if (!safe_numel(t.dims, n)) return fail("tensor type " + type_to_string(t) + " is too large for a literal");
      if (!fixed_data(t.dims, 0, k)) return false;
      shape = t.dims;
    } else {
      std::vector<int64_t> counts;
      int64_t leaf_depth = -1;
      if (!free_data(0, counts, leaf_depth, k)) return false;
      if (leaf_depth >= 0 && counts.size() != static_cast<size_t>(leaf_depth))
        return fail_at(start, "tensor literal is not rectangular (mixed nesting)");
      shape = std::move(counts);
      if (leaf_depth < 0 && t.rank_known)  // all empty: deeper sizes come from the type (unknown = 0)
        for (size_t i = shape.size(); i < t.dims.size(); ++i) shape.push_back(t.dims[i] < 0 ? 0 : t.dims[i]);
      if (t.rank_known) {
        if (shape.size() != t.dims.size())
          return fail_at(start, "tensor literal has rank " + std::to_string(shape.size()) + ", its type " +
                                    type_to_string(t) + " has rank " + std::to_string(t.dims.size()));
        for (size_t i = 0; i < shape.size(); ++i)
          if (t.dims[i] >= 0 && t.dims[i] != shape[i])
            return fail_at(start, "tensor literal has " + std::to_string(shape[i]) + " elements in dimension " +
                                      std::to_string(i) + ", its type says " + std::to_string(t.dims[i]));
      }
      int64_t n;
      if (!safe_numel(shape, n)) return fail_at(start, "tensor literal is too large");
    }
    if (k.dt == DType::kString) {
      out = Tensor::from_strings(std::move(shape), std::move(k.strings));
    } else {
      out = Tensor(k.dt, std::move(shape));
      if (k.bytes.size() != out.nbytes()) return fail_at(start, "tensor literal has the wrong number of elements");
      if (!k.bytes.empty()) std::memcpy(out.mutable_raw(), k.bytes.data(), k.bytes.size());
    }
    return true;
  }

  Lexer lex_;
  std::string_view src_;
  std::string_view filename_;
  Token cur_, nxt_;
  bool has2_ = false;
  int depth_ = 0;
  std::string err_;
};

}  // namespace

Result<Program> parse_mil_text(std::string_view text, std::string_view filename) {
  return Parser(text, filename).run();
}

}  // namespace ironmill::mil
