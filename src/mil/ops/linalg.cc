// Type inference and verification for the linalg ops (see ops/op_list.def for their signatures).
//
//  * matmul(x, y, transpose_x=F, transpose_y=F): numpy matmul with batch broadcasting; a 1-D x gets a
//    leading 1 and a 1-D y a trailing 1, removed from the result. transpose_x on a 1-D x is an error
//    (coremltools iOS15 type_inference); transpose_y on a 1-D y has no effect (coremltools docstring).
//    iOS17: x and y may differ in dtype only when exactly one of them is a `const`; the output takes the
//    non-const one's dtype (coremltools iOS17 linear.py).
//  * linear(x, weight [Dout, Din], bias [Dout] = 0): x·Wᵀ + b, output dtype = x dtype.
//  * einsum(values=(a, b), equation): coremltools documents only "nchw,nwhu->nchu" / "chw,whr->chr"; we
//    accept any 1- or 2-operand equation without ellipsis ("->" optional, numpy implicit output), with
//    size-1 dims broadcasting against the same letter elsewhere (as coremltools does for B and H).
#include <algorithm>
#include <cctype>
#include <map>

#include "mil/op_registry.h"

namespace ironmill::mil {

namespace {

struct EinsumSpec {
  std::vector<std::string> inputs;
  std::string output;
};

Result<EinsumSpec> parse_einsum(const InferContext& c, std::string eq, size_t n_operands) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  EinsumSpec s;
  std::string lhs = eq;
  bool explicit_out = false;
  auto arrow = eq.find("->");
  if (arrow != std::string::npos) {
    lhs = eq.substr(0, arrow);
    s.output = eq.substr(arrow + 2);
    explicit_out = true;
  }
  if (eq.find('.') != std::string::npos) return c.error("equation", "ellipsis (...) is not supported: \"" + eq + "\"");
  size_t start = 0;
  while (true) {
    auto comma = lhs.find(',', start);
    s.inputs.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (s.inputs.size() != n_operands)
    return c.error("equation", "\"" + eq + "\" names " + std::to_string(s.inputs.size()) + " operands, `values` has " +
                                   std::to_string(n_operands));
  std::map<char, int> count;
  for (const auto& in : s.inputs)
    for (char ch : in) {
      if (!std::isalpha(static_cast<unsigned char>(ch)))
        return c.error("equation", "unexpected character '" + std::string(1, ch) + "' in \"" + eq + "\"");
      ++count[ch];
    }
  if (!explicit_out) {
    for (auto& [ch, n] : count)
      if (n == 1) s.output += ch;  // numpy implicit mode: letters seen once, alphabetical
  }
  for (size_t i = 0; i < s.output.size(); ++i) {
    char ch = s.output[i];
    if (!count.count(ch))
      return c.error("equation", "output letter '" + std::string(1, ch) + "' does not appear in an input: \"" + eq + "\"");
    if (s.output.find(ch, i + 1) != std::string::npos)
      return c.error("equation", "output letter '" + std::string(1, ch) + "' repeated: \"" + eq + "\"");
  }
  return s;
}

Result<std::vector<Type>> infer_matmul(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type y, c.tensor_type("y"));
  IM_ASSIGN_OR_RETURN(bool tx, c.const_bool("transpose_x"));
  IM_ASSIGN_OR_RETURN(bool ty, c.const_bool("transpose_y"));
  DType out_dt = x.dtype;
  if (x.dtype != y.dtype) {
    const bool xc = c.const_value("x") != nullptr, yc = c.const_value("y") != nullptr;
    if (xc == yc)
      return c.error("y", "dtype " + std::string(dtype_name(y.dtype)) + " differs from x's " +
                              std::string(dtype_name(x.dtype)) + "; mixed dtypes need exactly one const operand");
    out_dt = xc ? y.dtype : x.dtype;
  }
  if (!x.rank_known || !y.rank_known) return std::vector<Type>{Type::unknown_rank(out_dt)};
  if (x.rank() < 1) return c.error("x", "rank >= 1 expected, got a scalar");
  if (y.rank() < 1) return c.error("y", "rank >= 1 expected, got a scalar");
  if (x.rank() == 1 && tx) return c.error("transpose_x", "x is rank 1, transpose_x=true is not allowed");
  Shape xs = x.dims, ys = y.dims;
  const bool x1 = xs.size() == 1, y1 = ys.size() == 1;
  if (x1) xs.insert(xs.begin(), 1);
  if (y1) ys.push_back(1);
  if (tx) std::swap(xs[xs.size() - 1], xs[xs.size() - 2]);
  if (ty && !y1) std::swap(ys[ys.size() - 1], ys[ys.size() - 2]);
  const int64_t kx = xs.back(), ky = ys[ys.size() - 2];
  if (kx >= 0 && ky >= 0 && kx != ky)
    return c.error("y", "inner dimensions differ: x " + shape_to_string(x.dims) + (tx ? " (transposed)" : "") + ", y " +
                            shape_to_string(y.dims) + (ty ? " (transposed)" : "") + " (" + std::to_string(kx) +
                            " vs " + std::to_string(ky) + ")");
  auto b = infer::broadcast_shapes(Shape(xs.begin(), xs.end() - 2), Shape(ys.begin(), ys.end() - 2));
  if (!b.ok()) return c.error("y", "batch dimensions do not broadcast: " + b.status().message());
  Shape out = *b;
  if (!x1) out.push_back(xs[xs.size() - 2]);
  if (!y1) out.push_back(ys.back());
  return std::vector<Type>{Type::tensor(out_dt, out)};
}

Result<std::vector<Type>> infer_linear(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type w, c.tensor_type("weight"));
  if (!w.rank_known || w.rank() != 2)
    return c.error("weight", "rank 2 [D_out, D_in] expected, got " + type_to_string(w));
  if (c.has("bias")) {
    IM_ASSIGN_OR_RETURN(Type b, c.tensor_type("bias"));
    if (!b.rank_known || b.rank() != 1 || (b.dims[0] >= 0 && w.dims[0] >= 0 && b.dims[0] != w.dims[0]))
      return c.error("bias", "shape [" + std::to_string(w.dims[0]) + "] expected, got " + type_to_string(b));
  }
  if (!x.rank_known) return std::vector<Type>{Type::unknown_rank(x.dtype)};
  if (x.rank() < 1) return c.error("x", "rank >= 1 expected, got a scalar");
  if (x.dims.back() >= 0 && w.dims[1] >= 0 && x.dims.back() != w.dims[1])
    return c.error("weight", "D_in " + std::to_string(w.dims[1]) + " does not match x's last dimension " +
                                 std::to_string(x.dims.back()) + " (x " + shape_to_string(x.dims) + ")");
  Shape out = x.dims;
  out.back() = w.dims[0];
  return std::vector<Type>{Type::tensor(x.dtype, out)};
}

Result<std::vector<Type>> infer_einsum(InferContext& c) {
  auto ts = c.tuple_types("values");
  if (ts.empty() || ts.size() > 2)
    return c.error("values", "1 or 2 tensors expected, got " + std::to_string(ts.size()));
  for (size_t i = 0; i < ts.size(); ++i) {
    if (!ts[i] || !ts[i]->is_tensor()) return c.error("values", "element " + std::to_string(i) + " is not a tensor");
    if (ts[i]->dtype != DType::kFp16 && ts[i]->dtype != DType::kFp32)
      return c.error("values", "element " + std::to_string(i) + ": dtype fp16 or fp32 expected, got " +
                                   std::string(dtype_name(ts[i]->dtype)));
    if (ts[i]->dtype != ts[0]->dtype)
      return c.error("values", "all operands must share one dtype, got " + std::string(dtype_name(ts[0]->dtype)) +
                                   " and " + std::string(dtype_name(ts[i]->dtype)));
  }
  IM_ASSIGN_OR_RETURN(std::string eq, c.const_string("equation"));
  IM_ASSIGN_OR_RETURN(EinsumSpec s, parse_einsum(c, eq, ts.size()));
  const DType dt = ts[0]->dtype;
  for (const auto* t : ts)
    if (!t->rank_known) return std::vector<Type>{Type::unknown_rank(dt)};
  // Letter sizes: a known size > 1 wins; 1 broadcasts; unknown only when nothing is known but 1s/unknowns.
  std::map<char, int64_t> size;
  std::map<char, bool> has_unknown;
  for (size_t i = 0; i < ts.size(); ++i) {
    const std::string& sub = s.inputs[i];
    if (static_cast<int>(sub.size()) != ts[i]->rank())
      return c.error("values", "operand " + std::to_string(i) + " has rank " + std::to_string(ts[i]->rank()) +
                                   " but \"" + sub + "\" names " + std::to_string(sub.size()) + " dimensions");
    for (size_t d = 0; d < sub.size(); ++d) {
      const char ch = sub[d];
      const int64_t v = ts[i]->dims[d];
      if (!size.count(ch)) size[ch] = 1;
      if (v < 0) { has_unknown[ch] = true; continue; }
      if (v == 1) continue;
      if (size[ch] != 1 && size[ch] != v)
        return c.error("values", "dimension '" + std::string(1, ch) + "' is " + std::to_string(size[ch]) +
                                     " in one place and " + std::to_string(v) + " in another (equation \"" + eq + "\")");
      size[ch] = v;
    }
  }
  Shape out;
  for (char ch : s.output) out.push_back(size[ch] == 1 && has_unknown[ch] ? kUnknownDim : size[ch]);
  return std::vector<Type>{Type::tensor(dt, out)};
}

}  // namespace

void register_linalg_ops(OpRegistry& r) {
  r.mutable_schema("matmul")->infer = infer_matmul;
  r.mutable_schema("linear")->infer = infer_linear;
  r.mutable_schema("einsum")->infer = infer_einsum;
}

}  // namespace ironmill::mil
