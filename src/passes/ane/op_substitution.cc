#include "passes/ane/op_substitution.h"

#include <cmath>

#include "passes/rewrite.h"

namespace ironmill::passes::ane {
namespace {

using mil::DType;

constexpr double kPi = 3.14159265358979323846;


std::string sin_of(OpEmitter& e, DType dt, const std::string& x, const std::string& out) {
  // r = x − 2π·round(x / 2π) lies in [−π, π].
  auto k = e.emit("round", {{"x", use(e.emit("mul", {{"x", use(x)}, {"y", scalar(dt, 1.0 / (2 * kPi))}}))}});
  auto r = e.emit("sub", {{"x", use(x)}, {"y", use(e.emit("mul", {{"x", use(k)}, {"y", scalar(dt, 2 * kPi)}}))}});
  auto r2 = e.emit("square", {{"x", use(r)}});
  // Horner in r²: sin r = r·(1 − r²/3! + r⁴/5! − … − r¹⁴/15!); truncation error < 1e-6 on [−π, π].
  const double coef[] = {1.0, -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880, -1.0 / 39916800, 1.0 / 6227020800.0,
                         -1.0 / 1307674368000.0};
  std::string p = e.emit("mul", {{"x", use(r2)}, {"y", scalar(dt, coef[7])}});
  for (int i = 6; i >= 1; --i) {
    p = e.emit("add", {{"x", use(p)}, {"y", scalar(dt, coef[i])}});
    p = e.emit("mul", {{"x", use(p)}, {"y", use(r2)}});
  }
  p = e.emit("add", {{"x", use(p)}, {"y", scalar(dt, 1.0)}});
  return e.emit("mul", {{"x", use(p)}, {"y", use(r)}}, out);
}

std::string asin_of(OpEmitter& e, DType dt, const std::string& x, const std::string& out) {
  auto one_minus = e.emit("sub", {{"x", scalar(dt, 1.0)}, {"y", use(e.emit("square", {{"x", use(x)}}))}});
  auto q = e.emit("real_div", {{"x", use(x)}, {"y", use(e.emit("sqrt", {{"x", use(one_minus)}}))}});
  return e.emit("atan", {{"x", use(q)}}, out);
}

}  // namespace

Result<bool> OpSubstitutionPass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions) {
    auto types = value_types(f);
    auto consts = const_values(f);
    auto& ops = f.body.operations;
    for (size_t i = 0; i < ops.size(); ++i) {
      const mil::Operation op = ops[i];  // copy: `ops` is edited below
      if (op.outputs.size() != 1) continue;
      const std::string out = op.outputs[0].name;
      auto in_name = [&](const char* k) -> std::string {
        const mil::Argument* a = op.input(k);
        return a && a->bindings.size() == 1 && a->bindings[0].is_ref() ? a->bindings[0].name : "";
      };
      const std::string x = in_name("x");
      const DType dt = op.outputs[0].type.dtype;
      OpEmitter e(f, out);
      bool rewrote = true;
      size_t erase_extra = SIZE_MAX;  // index of a producer made dead by the rewrite
      if (op.type == "gelu" && !x.empty()) {
        std::string mode = "EXACT";
        if (const mil::Value* m = const_binding(op, "mode", consts); m && m->is_tensor()) mode = m->tensor().get_string(0);
        if (mode == "TANH_APPROXIMATION") {
          auto x3 = e.emit("mul", {{"x", use(x)}, {"y", use(e.emit("square", {{"x", use(x)}}))}});
          auto inner = e.emit("add", {{"x", use(x)}, {"y", use(e.emit("mul", {{"x", use(x3)}, {"y", scalar(dt, 0.044715)}}))}});
          auto t = e.emit("tanh", {{"x", use(e.emit("mul", {{"x", use(inner)}, {"y", scalar(dt, std::sqrt(2.0 / kPi))}}))}});
          auto m = e.emit("mul", {{"x", use(x)}, {"y", use(e.emit("add", {{"x", use(t)}, {"y", scalar(dt, 1.0)}}))}});
          e.emit("mul", {{"x", use(m)}, {"y", scalar(dt, 0.5)}}, out);
        } else if (mode == "SIGMOID_APPROXIMATION") {
          auto s = e.emit("sigmoid", {{"x", use(e.emit("mul", {{"x", use(x)}, {"y", scalar(dt, 1.702)}}))}});
          e.emit("mul", {{"x", use(x)}, {"y", use(s)}}, out);
        } else {
          auto er = e.emit("erf", {{"x", use(e.emit("mul", {{"x", use(x)}, {"y", scalar(dt, 1.0 / std::sqrt(2.0))}}))}});
          auto m = e.emit("mul", {{"x", use(x)}, {"y", use(e.emit("add", {{"x", use(er)}, {"y", scalar(dt, 1.0)}}))}});
          e.emit("mul", {{"x", use(m)}, {"y", scalar(dt, 0.5)}}, out);
        }
      } else if (op.type == "mul" && !x.empty() && !in_name("y").empty()) {
        // mul(a, sigmoid(a)) in either order -> silu(a)
        rewrote = false;
        for (auto [a, s] : {std::pair{x, in_name("y")}, std::pair{in_name("y"), x}}) {
          for (size_t j = 0; j < i; ++j) {
            const auto& p = ops[j];
            if (p.type != "sigmoid" || p.outputs[0].name != s) continue;
            const mil::Argument* pa = p.input("x");
            if (!pa || pa->bindings.size() != 1 || !pa->bindings[0].is_ref() || pa->bindings[0].name != a) continue;
            e.emit("silu", {{"x", use(a)}}, out);
            if (count_uses(f.body, s, j + 1) == 1) erase_extra = j;
            rewrote = true;
            break;
          }
          if (rewrote) break;
        }
      } else if (op.type == "mod" && !x.empty() && mil::is_float(dt)) {
        const mil::Binding y = op.input("y")->bindings[0];
        auto q = e.emit("floor_div", {{"x", use(x)}, {"y", y}});
        e.emit("sub", {{"x", use(x)}, {"y", use(e.emit("mul", {{"x", use(q)}, {"y", y}}))}}, out);
      } else if ((op.type == "sinh" || op.type == "cosh") && !x.empty()) {
        auto ep = e.emit("exp", {{"x", use(x)}});
        auto en = e.emit("exp", {{"x", use(e.emit("mul", {{"x", use(x)}, {"y", scalar(dt, -1.0)}}))}});
        auto s = e.emit(op.type == "sinh" ? "sub" : "add", {{"x", use(ep)}, {"y", use(en)}});
        e.emit("mul", {{"x", use(s)}, {"y", scalar(dt, 0.5)}}, out);
      } else if (op.type == "sin" && !x.empty()) {
        sin_of(e, dt, x, out);
      } else if (op.type == "cos" && !x.empty()) {
        sin_of(e, dt, e.emit("add", {{"x", use(x)}, {"y", scalar(dt, kPi / 2)}}), out);
      } else if (op.type == "tan" && !x.empty()) {
        auto s = sin_of(e, dt, x, e.fresh("sin"));
        auto c = sin_of(e, dt, e.emit("add", {{"x", use(x)}, {"y", scalar(dt, kPi / 2)}}), e.fresh("cos"));
        e.emit("real_div", {{"x", use(s)}, {"y", use(c)}}, out);
      } else if (op.type == "asin" && !x.empty()) {
        asin_of(e, dt, x, out);
      } else if (op.type == "acos" && !x.empty()) {
        auto a = asin_of(e, dt, x, e.fresh("asin"));
        e.emit("sub", {{"x", scalar(dt, kPi / 2)}, {"y", use(a)}}, out);
      } else if ((op.type == "logical_and" || op.type == "logical_or" || op.type == "logical_xor") && !x.empty() &&
                 !in_name("y").empty()) {
        auto a = e.emit("cast", {{"x", use(x)}, {"dtype", str("fp16")}});
        auto b = e.emit("cast", {{"x", use(in_name("y"))}, {"dtype", str("fp16")}});
        if (op.type == "logical_xor") {
          e.emit("not_equal", {{"x", use(a)}, {"y", use(b)}}, out);
        } else {
          auto m = e.emit(op.type == "logical_and" ? "mul" : "maximum", {{"x", use(a)}, {"y", use(b)}});
          e.emit("cast", {{"x", use(m)}, {"dtype", str("bool")}}, out);
        }
      } else if (op.type == "batch_norm" && !x.empty() && types.count(x) && types[x].rank() >= 2) {
        const mil::Value* mean = const_binding(op, "mean", consts);
        const mil::Value* var = const_binding(op, "variance", consts);
        const mil::Value* gamma = const_binding(op, "gamma", consts);
        const mil::Value* beta = const_binding(op, "beta", consts);
        const mil::Value* eps = const_binding(op, "epsilon", consts);
        if (!mean || !var || !mean->is_tensor() || !var->is_tensor() || (gamma && !gamma->is_tensor()) ||
            (beta && !beta->is_tensor()) || (eps && !eps->is_tensor())) {
          rewrote = false;
        } else {
          const int64_t C = mean->tensor().numel();
          mil::Shape s(static_cast<size_t>(types[x].rank() - 1), 1);
          s[0] = C;
          const double epsilon = eps ? eps->tensor().get_f64(0) : 1e-5;
          std::vector<double> scale(C), shift(C);
          for (int64_t c = 0; c < C; ++c) {
            const double g = gamma ? gamma->tensor().get_f64(c) : 1.0, b = beta ? beta->tensor().get_f64(c) : 0.0;
            scale[c] = g / std::sqrt(var->tensor().get_f64(c) + epsilon);
            shift[c] = b - mean->tensor().get_f64(c) * scale[c];
          }
          auto m = e.emit("mul", {{"x", use(x)}, {"y", tensor(mil::Tensor::from_f64(dt, s, scale))}});
          e.emit("add", {{"x", use(m)}, {"y", tensor(mil::Tensor::from_f64(dt, s, shift))}}, out);
        }
      } else {
        rewrote = false;
      }
      if (!rewrote) continue;
      std::vector<mil::Operation> repl = std::move(e.ops());
      ops.erase(ops.begin() + static_cast<long>(i));
      ops.insert(ops.begin() + static_cast<long>(i), repl.begin(), repl.end());
      i += repl.size() - 1;
      if (erase_extra != SIZE_MAX) {
        ops.erase(ops.begin() + static_cast<long>(erase_extra));
        --i;
      }
      consts = const_values(f);  // the edit moved the const ops
      changed = true;
    }
  }
  return changed;
}

}  // namespace ironmill::passes::ane
