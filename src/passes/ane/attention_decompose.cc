#include "passes/ane/attention_decompose.h"

#include <cmath>
#include <limits>

#include "passes/rewrite.h"

namespace ironmill::passes::ane {

Result<bool> AttentionDecomposePass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions) {
    auto types = value_types(f);
    auto& ops = f.body.operations;
    for (size_t i = 0; i < ops.size(); ++i) {
      const mil::Operation op = ops[i];
      if (op.type != "scaled_dot_product_attention" || op.outputs.size() != 1) continue;
      auto bind = [&](const char* k) -> std::optional<mil::Binding> {
        const mil::Argument* a = op.input(k);
        if (!a || a->bindings.size() != 1) return std::nullopt;
        return a->bindings[0];
      };
      auto q = bind("query"), k = bind("key"), v = bind("value"), mask = bind("attn_mask");
      if (!q || !k || !v) return invalid_argument("`" + op.name() + "`: query, key and value are required");
      const mil::Type qt = q->is_ref() ? types[q->name] : q->value->type;
      const mil::Type kt = k->is_ref() ? types[k->name] : k->value->type;
      if (!qt.fully_known() || qt.rank() < 2 || !kt.fully_known())
        return unsupported("`" + op.name() + "`: attention decomposition needs static query/key shapes");
      const mil::DType dt = qt.dtype;
      const int64_t d = qt.dims.back(), L = qt.dims[qt.rank() - 2], S = kt.dims[kt.rank() - 2];
      const std::string out = op.outputs[0].name;
      OpEmitter e(f, out);
      auto scores = e.emit("matmul", {{"x", *q}, {"y", *k}, {"transpose_x", boolean(false)}, {"transpose_y", boolean(true)}});
      scores = e.emit("mul", {{"x", use(scores)}, {"y", scalar(dt, 1.0 / std::sqrt(static_cast<double>(d)))}});
      const double ninf = -std::numeric_limits<double>::infinity();
      if (mask) {
        const mil::Type mt = mask->is_ref() ? types[mask->name] : mask->value->type;
        mil::Binding additive = *mask;
        if (mt.dtype == mil::DType::kBool)
          additive = use(e.emit("select", {{"cond", *mask}, {"a", scalar(dt, 0.0)}, {"b", scalar(dt, ninf)}}));
        else if (mt.dtype != dt)
          additive = use(e.emit("cast", {{"x", *mask}, {"dtype", str(std::string(mil::dtype_name(dt)))}}));
        scores = e.emit("add", {{"x", use(scores)}, {"y", additive}});
      } else if (causal_) {
        std::vector<double> m(static_cast<size_t>(L * S));
        for (int64_t r = 0; r < L; ++r)
          for (int64_t c = 0; c < S; ++c) m[r * S + c] = c <= r + (S - L) ? 0.0 : ninf;
        scores = e.emit("add", {{"x", use(scores)}, {"y", tensor(mil::Tensor::from_f64(dt, {L, S}, m))}});
      }
      auto probs = e.emit("softmax", {{"x", use(scores)}, {"axis", mil::Binding::constant(mil::Value::of(mil::Tensor::scalar_i64(mil::DType::kInt32, -1)))}});
      e.emit("matmul", {{"x", use(probs)}, {"y", *v}, {"transpose_x", boolean(false)}, {"transpose_y", boolean(false)}}, out);
      std::vector<mil::Operation> repl = std::move(e.ops());
      ops.erase(ops.begin() + static_cast<long>(i));
      ops.insert(ops.begin() + static_cast<long>(i), repl.begin(), repl.end());
      i += repl.size() - 1;
      changed = true;
    }
  }
  return changed;
}

}  // namespace ironmill::passes::ane
