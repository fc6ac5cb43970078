#include "passes/ane/op_splitting.h"

#include <cctype>
#include <cmath>
#include <cstring>

#include "passes/rewrite.h"

namespace ironmill::passes::ane {
namespace {

uint64_t type_bytes(const mil::Type& t) {
  if (!t.is_tensor() || !t.fully_known()) return 0;
  return static_cast<uint64_t>(mil::shape_numel(t.dims)) * mil::dtype_element_bytes(t.dtype);
}

// Rows [begin, end) of dimension 0.
mil::Tensor slice_rows(const mil::Tensor& t, int64_t begin, int64_t end) {
  mil::Shape s = t.shape();
  const int64_t row = t.numel() / s[0];
  s[0] = end - begin;
  mil::Tensor out(t.dtype(), s);
  const size_t eb = mil::dtype_element_bytes(t.dtype());
  std::memcpy(out.mutable_raw(), t.raw() + begin * row * eb, static_cast<size_t>((end - begin) * row) * eb);
  return out;
}

}  // namespace

Result<uint64_t> parse_memory_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return invalid_argument("memory size `" + text + "`: expected a number followed by B, K, KB, M, MB, G, GB, T or TB");
  double v = 0;
  try {
    v = std::stod(text.substr(0, i));
  } catch (...) {
    return invalid_argument("memory size `" + text + "`: bad number");
  }
  std::string unit;
  for (size_t j = i; j < text.size(); ++j)
    if (!std::isspace(static_cast<unsigned char>(text[j]))) unit += static_cast<char>(std::toupper(static_cast<unsigned char>(text[j])));
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB") mult = 1024.0;
  else if (unit == "M" || unit == "MB") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB") mult = 1024.0 * 1024 * 1024 * 1024;
  else return invalid_argument("memory size `" + text + "`: unknown unit `" + unit + "` (B, K/KB, M/MB, G/GB, T/TB)");
  const double bytes = v * mult;
  if (!(bytes >= 1) || bytes > 1.8e19) return invalid_argument("memory size `" + text + "`: must be at least 1 byte");
  return static_cast<uint64_t>(std::llround(bytes));
}

Result<bool> OpSplittingPass::run(mil::Program& program) {
  if (budget_ == 0) return invalid_argument("memory budget must be positive");
  bool changed = false;
  for (auto& f : program.functions) {
    auto types = value_types(f);
    auto consts = const_values(f);
    auto& ops = f.body.operations;
    for (size_t i = 0; i < ops.size(); ++i) {
      const mil::Operation op = ops[i];
      if ((op.type != "conv" && op.type != "linear") || op.outputs.size() != 1) continue;
      const mil::Value* w = const_binding(op, "weight", consts);
      const mil::Argument* xa = op.input("x");
      if (!w || !w->is_tensor() || !xa || !xa->bindings[0].is_ref()) continue;
      if (op.type == "conv") {
        const mil::Value* g = const_binding(op, "groups", consts);
        if (g && g->is_tensor() && g->tensor().get_i64(0) != 1) continue;
      }
      const mil::Tensor W = w->tensor();
      const uint64_t in_bytes = type_bytes(types[xa->bindings[0].name]);
      const uint64_t split_bytes = W.nbytes() + type_bytes(op.outputs[0].type);  // what tiling divides
      const int64_t cout = W.dim(0);
      if (in_bytes + split_bytes <= budget_ || cout < 2) continue;
      // Enough tiles that each tile (its weight and output slice plus the whole input) fits the budget,
      // so running the pass again changes nothing.
      const uint64_t room = budget_ > in_bytes ? budget_ - in_bytes : 0;
      const uint64_t per_channel = split_bytes / static_cast<uint64_t>(cout);
      const int64_t fit = per_channel ? static_cast<int64_t>(room / per_channel) : cout;  // channels per tile
      const int64_t tiles = fit <= 0 ? cout : std::min<int64_t>(cout, (cout + fit - 1) / fit);
      if (tiles < 2) continue;
      const mil::Value* b = const_binding(op, "bias", consts);
      const std::string out = op.outputs[0].name;
      OpEmitter e(f, out);
      mil::Argument parts;
      parts.is_tuple = true;
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t lo = t * cout / tiles, hi = (t + 1) * cout / tiles;
        mil::Operation part = op;
        part.inputs["weight"].bindings = {tensor(slice_rows(W, lo, hi))};
        if (b && b->is_tensor()) part.inputs["bias"].bindings = {tensor(slice_rows(b->tensor(), lo, hi))};
        const std::string pn = e.fresh("tile" + std::to_string(t));
        part.outputs = {{pn, mil::Type()}};
        part.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string(pn));
        e.ops().push_back(std::move(part));
        parts.bindings.push_back(use(pn));
      }
      const int64_t axis = op.type == "conv" ? 1 : -1;
      mil::Operation cat;
      cat.type = "concat";
      cat.inputs["values"] = parts;
      cat.inputs["axis"].bindings = {mil::Binding::constant(mil::Value::of(mil::Tensor::scalar_i64(mil::DType::kInt32, axis)))};
      cat.inputs["interleave"].bindings = {boolean(false)};
      cat.outputs = {{out, mil::Type()}};
      cat.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string(out));
      e.ops().push_back(std::move(cat));
      std::vector<mil::Operation> repl = std::move(e.ops());
      ops.erase(ops.begin() + static_cast<long>(i));
      ops.insert(ops.begin() + static_cast<long>(i), repl.begin(), repl.end());
      i += repl.size() - 1;
      consts = const_values(f);
      changed = true;
    }
    if (changed) remove_dead_consts(f.body);
  }
  return changed;
}

}  // namespace ironmill::passes::ane
