// MIL text printer. The syntax (including the nested-block form for cond / while_loop) is described
// at the top of text_parser.cc; this file writes exactly that, deterministically, into one buffer.
#include <charconv>
#include <cmath>
#include <cstring>

#include "mil/text.h"
#include "mil/text_lexer.h"

namespace ironmill::mil {
namespace {

using text::append_name;
using text::append_quoted;

class Printer {
 public:
  explicit Printer(const Program& p) : legacy_(p.legacy_text()) {}

  std::string run(const Program& p) {
    out_.reserve(4096 + p.op_count() * 96);
    out_ += "program(";
    out_ += p.text_version;
    out_ += ")\n";
    if (!p.attributes.empty()) {
      attributes(p.attributes);
      out_ += '\n';
    }
    out_ += "{\n";
    for (size_t i = 0; i < p.functions.size(); ++i) {
      if (i) out_ += '\n';
      function(p.functions[i]);
    }
    out_ += "}\n";
    return std::move(out_);
  }

 private:
  void indent(int n) { out_.append(static_cast<size_t>(n), ' '); }

  void type(const Type& t) { out_ += type_to_string(t, legacy_); }

  void typed_names(const std::vector<NamedType>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out_ += ", ";
      type(v[i].type);
      out_ += ' ';
      append_name(out_, v[i].name);
    }
  }

  void name_list(const std::vector<std::string>& v) {
    out_ += '(';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out_ += ", ";
      append_name(out_, v[i]);
    }
    out_ += ')';
  }

  void attributes(const std::map<std::string, Value>& attrs) {
    out_ += '[';
    bool first = true;
    for (const auto& [k, v] : attrs) {
      if (!first) out_ += ", ";
      first = false;
      append_name(out_, k);
      out_ += " = ";
      value(v);
    }
    out_ += ']';
  }

  void function(const Function& f) {
    indent(4);
    out_ += "func ";
    append_name(out_, f.name);
    out_ += '<';
    append_name(out_, f.opset);
    out_ += ">(";
    typed_names(f.inputs);
    out_ += ')';
    if (!f.attributes.empty()) {
      out_ += ' ';
      attributes(f.attributes);
    }
    out_ += " {\n";
    statements(f.body, 12);
    indent(8);
    out_ += "} -> ";
    name_list(f.body.outputs);
    out_ += ";\n";
  }

  void statements(const Block& b, int ind) {
    for (const auto& op : b.operations) statement(op, ind);
  }

  void binding(const Binding& b) {
    if (b.is_ref()) append_name(out_, b.name);
    else value(*b.value);
  }

  void statement(const Operation& op, int ind) {
    indent(ind);
    if (!op.outputs.empty()) {
      typed_names(op.outputs);
      out_ += " = ";
    }
    append_name(out_, op.type);
    out_ += '(';
    bool first = true;
    for (const auto& [k, arg] : op.inputs) {
      if (!first) out_ += ", ";
      first = false;
      append_name(out_, k);
      out_ += " = ";
      if (arg.is_tuple || arg.bindings.size() != 1) {
        out_ += '(';
        for (size_t i = 0; i < arg.bindings.size(); ++i) {
          if (i) out_ += ", ";
          binding(arg.bindings[i]);
        }
        out_ += ')';
      } else {
        binding(arg.bindings[0]);
      }
    }
    out_ += ')';
    if (!op.attributes.empty()) attributes(op.attributes);
    for (const auto& nb : op.blocks) {
      out_ += '\n';
      indent(ind + 4);
      if (!nb.inputs.empty()) {
        out_ += '(';
        typed_names(nb.inputs);
        out_ += ") ";
      }
      out_ += "{\n";
      statements(nb, ind + 8);
      indent(ind + 4);
      out_ += "} -> ";
      name_list(nb.outputs);
    }
    out_ += ";\n";
  }

  // ---- literals ----------------------------------------------------------------------------------

  void scalar_type_prefix(DType dt) {
    if (legacy_) {
      out_ += "tensor<";
      out_ += dtype_name(dt);
      out_ += ", []>";
    } else {
      out_ += dtype_name(dt);
    }
  }

  void value(const Value& v) {
    type(v.type);
    out_ += '(';
    value_body(v);
    out_ += ')';
  }

  // An element of a tuple / list / dict literal: bare data when its type is the declared one.
  void element(const Value& v, const Type* declared) {
    if (declared && v.is_tensor() && v.type.is_tensor() && v.type == *declared) tensor_data(v.tensor(), v.type);
    else value(v);
  }

  void value_body(const Value& v) {
    if (const auto* t = std::get_if<Tensor>(&v.data)) {
      tensor_data(*t, v.type);
    } else if (const auto* b = std::get_if<BlobFileRef>(&v.data)) {
      out_ += "BLOBFILE(path = ";
      scalar_type_prefix(DType::kString);
      out_ += '(';
      append_quoted(out_, b->path);
      out_ += "), offset = ";
      scalar_type_prefix(DType::kUint64);
      out_ += '(';
      number(b->offset);
      out_ += "))";
    } else if (const auto* lz = std::get_if<std::shared_ptr<const LazyTensorSource>>(&v.data)) {
      // Materialised: text has no notion of a lazily loaded external tensor.
      auto r = *lz ? (*lz)->load() : Result<Tensor>(internal_error("null lazy tensor"));
      if (r.ok()) tensor_data(*r, v.type);
      else out_ += "<unloadable: " + (*lz ? (*lz)->describe() : std::string("null")) + ">";
    } else if (const auto* tu = std::get_if<Value::Tuple>(&v.data)) {
      const bool k = v.type.kind == Type::Kind::kTuple;
      out_ += '(';
      for (size_t i = 0; i < tu->elems.size(); ++i) {
        if (i) out_ += ", ";
        element(tu->elems[i], k && i < v.type.children.size() ? &v.type.children[i] : nullptr);
      }
      out_ += ')';
    } else if (const auto* li = std::get_if<Value::List>(&v.data)) {
      const bool k = v.type.kind == Type::Kind::kList && !v.type.children.empty();
      out_ += '[';
      for (size_t i = 0; i < li->elems.size(); ++i) {
        if (i) out_ += ", ";
        element(li->elems[i], k ? &v.type.children[0] : nullptr);
      }
      out_ += ']';
    } else if (const auto* d = std::get_if<Value::Dict>(&v.data)) {
      const bool k = v.type.kind == Type::Kind::kDict && v.type.children.size() == 2;
      out_ += '{';
      for (size_t i = 0; i < d->items.size(); ++i) {
        if (i) out_ += ", ";
        out_ += '{';
        element(d->items[i].first, k ? &v.type.children[0] : nullptr);
        out_ += ", ";
        element(d->items[i].second, k ? &v.type.children[1] : nullptr);
        out_ += '}';
      }
      out_ += '}';
    }
  }

  template <class T> void number(T v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, r.ptr);
  }

  void hex_float(double d) {
    if (std::isnan(d)) {
      out_ += "nan";  // sign and payload are not kept: one spelling so printing is idempotent
      return;
    }
    if (std::signbit(d)) out_ += '-';
    d = std::fabs(d);
    if (std::isinf(d)) {
      out_ += "inf";
      return;
    }
    out_ += "0x";
    char buf[48];
    auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::hex);
    out_.append(buf, r.ptr);
  }

  void tensor_element(const Tensor& t, int64_t i) {
    const DType dt = t.dtype();
    switch (dt) {
      case DType::kString: append_quoted(out_, t.get_string(i)); return;
      case DType::kBool: out_ += t.get_i64(i) ? "true" : "false"; return;
      case DType::kUint64: {
        uint64_t u;
        std::memcpy(&u, t.raw() + i * 8, 8);
        number(u);
        return;
      }
      default:
        if (is_float(dt)) hex_float(t.get_f64(i));
        else number(t.get_i64(i));
    }
  }

  void tensor_dim(const Tensor& t, const Shape& s, size_t d, int64_t& idx) {
    if (d == s.size()) {
      tensor_element(t, idx++);
      return;
    }
    out_ += '[';
    const int64_t n = s[d] < 0 ? 0 : s[d];
    for (int64_t i = 0; i < n; ++i) {
      if (i) out_ += ", ";
      tensor_dim(t, s, d + 1, idx);
    }
    out_ += ']';
  }

  // Nested by the declared shape when it is fully known and holds as many elements as the tensor
  // (what the parser will rebuild), else by the tensor's own shape.
  void tensor_data(const Tensor& t, const Type& declared) {
    int64_t idx = 0;
    const bool by_type = declared.is_tensor() && declared.fully_known() && declared.dims != t.shape() &&
                         shape_numel(declared.dims) == t.numel();
    tensor_dim(t, by_type ? declared.dims : t.shape(), 0, idx);
  }

  bool legacy_;
  std::string out_;
};

}  // namespace

std::string print_mil_text(const Program& program) { return Printer(program).run(program); }

}  // namespace ironmill::mil
