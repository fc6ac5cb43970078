#include "passes/ane/matmul_to_conv.h"

#include "passes/rewrite.h"

namespace ironmill::passes::ane {

Result<bool> MatmulToConvPass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions) {
    auto types = value_types(f);
    auto consts = const_values(f);
    auto& ops = f.body.operations;
    for (size_t i = 0; i < ops.size(); ++i) {
      const mil::Operation op = ops[i];
      if ((op.type != "linear" && op.type != "matmul") || op.outputs.size() != 1) continue;
      const mil::Argument* xa = op.input("x");
      if (!xa || xa->bindings.size() != 1 || !xa->bindings[0].is_ref()) continue;
      const std::string x = xa->bindings[0].name;
      const mil::Type xt = types[x];
      if (!xt.fully_known() || xt.rank() < 1 || !mil::is_float(xt.dtype)) continue;
      const mil::Value* w = const_binding(op, op.type == "linear" ? "weight" : "y", consts);
      if (!w || !w->is_tensor() || w->tensor().rank() != 2) continue;
      mil::Tensor W = w->tensor();  // linear: [Cout, Cin]; matmul: [Cin, Cout] unless transpose_y
      bool transposed = op.type == "linear";
      if (op.type == "matmul") {
        const mil::Value* tx = const_binding(op, "transpose_x", consts);
        const mil::Value* ty = const_binding(op, "transpose_y", consts);
        if (tx && tx->is_tensor() && tx->tensor().get_i64(0)) continue;
        transposed = ty && ty->is_tensor() && ty->tensor().get_i64(0);
      }
      const int64_t cout = transposed ? W.dim(0) : W.dim(1), cin = transposed ? W.dim(1) : W.dim(0);
      if (xt.dims.back() != cin) continue;
      mil::Tensor kernel(xt.dtype, {cout, cin, 1, 1});
      for (int64_t o = 0; o < cout; ++o)
        for (int64_t c = 0; c < cin; ++c)
          kernel.set_f64(o * cin + c, transposed ? W.get_f64(o * cin + c) : W.get_f64(c * cout + o));
      int64_t m = 1;
      for (int r = 0; r + 1 < xt.rank(); ++r) m *= xt.dims[r];
      const std::string out = op.outputs[0].name;
      OpEmitter e(f, out);
      auto x2 = e.emit("reshape", {{"x", use(x)}, {"shape", ints({m, cin})}});
      auto xc = e.emit("transpose", {{"x", use(x2)}, {"perm", ints({1, 0})}});
      auto x4 = e.emit("reshape", {{"x", use(xc)}, {"shape", ints({1, cin, 1, m})}});
      std::map<std::string, mil::Binding> conv_in = {{"x", use(x4)},
                                                     {"weight", tensor(kernel)},
                                                     {"strides", ints({1, 1})},
                                                     {"pad_type", str("valid")},
                                                     {"pad", ints({0, 0, 0, 0})},
                                                     {"dilations", ints({1, 1})},
                                                     {"groups", mil::Binding::constant(mil::Value::of(mil::Tensor::scalar_i64(mil::DType::kInt32, 1)))}};
      if (op.type == "linear")
        if (const mil::Value* b = const_binding(op, "bias", consts); b && b->is_tensor())
          conv_in["bias"] = tensor(b->tensor().cast_to(xt.dtype));
      auto y4 = e.emit("conv", conv_in);
      auto y2 = e.emit("reshape", {{"x", use(y4)}, {"shape", ints({cout, m})}});
      auto yt = e.emit("transpose", {{"x", use(y2)}, {"perm", ints({1, 0})}});
      mil::Shape oshape(xt.dims.begin(), xt.dims.end() - 1);
      oshape.push_back(cout);
      e.emit("reshape", {{"x", use(yt)}, {"shape", ints(oshape)}}, out);
      std::vector<mil::Operation> repl = std::move(e.ops());
      ops.erase(ops.begin() + static_cast<long>(i));
      ops.insert(ops.begin() + static_cast<long>(i), repl.begin(), repl.end());
      i += repl.size() - 1;
      consts = const_values(f);  // the edit moved the const ops
      changed = true;
    }
    if (changed) remove_dead_consts(f.body);
  }
  return changed;
}

}  // namespace ironmill::passes::ane
