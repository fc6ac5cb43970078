// RNN, GRU and LSTM, unrolled over the (static) sequence length into matmuls and activations.
// ONNX's gate layouts (RNN: i; GRU: z, r, h; LSTM: i, o, f, c), GRU's linear_before_reset, LSTM
// peepholes (P = [Pi, Po, Pf]), directions, layout=1 and constant sequence_lens are handled here
// directly, where MIL's rnn/gru/lstm ops use other gate orders and have no linear_before_reset switch.
#include <algorithm>

#include "frontends/onnx/lowering.h"

namespace ironmill::frontends::onnx {
using mil::DType;
using mil::Tensor;

namespace {

enum class Cell { kRnn, kGru, kLstm };

// x[..., begin:begin+size along axis, ...] of a value with static shape `dims`.
std::string slice_axis(LowerContext& c, const std::string& x, const mil::Shape& dims, int axis, int64_t begin, int64_t size) {
  std::vector<int64_t> b(dims.size(), 0), s(dims.begin(), dims.end());
  b[axis] = begin;
  s[axis] = size;
  return c.op("slice_by_size", {{"x", x}, {"begin", ti32(b)}, {"size", ti32(s)}});
}

struct Activation {
  std::string name;
  float alpha = 0, beta = 0;
};

Result<std::string> activate(LowerContext& c, const Activation& a, const std::string& x) {
  std::string n = a.name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (n == "sigmoid") return c.op("sigmoid", {{"x", x}});
  if (n == "tanh") return c.op("tanh", {{"x", x}});
  if (n == "relu") return c.op("relu", {{"x", x}});
  if (n == "softsign") return c.op("softsign", {{"x", x}});
  if (n == "softplus") return c.op("softplus", {{"x", x}});
  return c.fail("recurrent activation '" + a.name + "' is not converted");
}

Status lower_recurrent(LowerContext& c, Cell cell) {
  const int gates = cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4;
  const int64_t H = c.ai("hidden_size", 0);
  if (H <= 0) return c.fail("hidden_size must be given");
  if (c.ai("input_forget", 0) != 0) return c.fail("LSTM input_forget=1 (coupled gates) is not converted");
  const std::string direction = c.as("direction", "forward");
  const int D = direction == "bidirectional" ? 2 : 1;
  const bool batch_first = c.ai("layout", 0) != 0;
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(std::string w, c.in(1));
  IM_ASSIGN_OR_RETURN(std::string r, c.in(2));
  IM_ASSIGN_OR_RETURN(auto xdims, static_shape_of(c, x));
  if (xdims.size() != 3) return c.fail("X must be rank 3");
  if (batch_first) {
    x = c.op("transpose", {{"x", x}, {"perm", ti32({1, 0, 2})}});
    xdims = {xdims[1], xdims[0], xdims[2]};
  }
  const int64_t T = xdims[0], B = xdims[1], I = xdims[2];
  const DType dt = value_dtype(c, x);
  IM_ASSIGN_OR_RETURN(auto wdims, static_shape_of(c, w));
  IM_ASSIGN_OR_RETURN(auto rdims, static_shape_of(c, r));
  if (wdims != mil::Shape{D, gates * H, I} || rdims != mil::Shape{D, gates * H, H})
    return invalid_argument("W / R shapes do not match hidden_size, direction and the input size");
  if (T <= 0 || B <= 0) return c.fail("empty sequence or batch");

  // Activations: ONNX lists them per direction (f, g[, h]).
  const int per_dir = cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 2 : 3;
  std::vector<Activation> acts;
  if (const auto* a = c.attr("activations")) {
    for (const auto& s : a->strings()) acts.push_back({s});
  }
  if (acts.empty()) {
    std::vector<std::string> def = cell == Cell::kRnn ? std::vector<std::string>{"Tanh"}
                                   : cell == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                        : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
    for (int d = 0; d < D; ++d)
      for (auto& n : def) acts.push_back({n});
  }
  if (static_cast<int>(acts.size()) == per_dir && D == 2) acts.insert(acts.end(), acts.begin(), acts.end());
  if (static_cast<int>(acts.size()) != per_dir * D) return c.fail("activations has the wrong number of entries");
  const bool has_clip = c.has_attr("clip");
  const float clip = c.af("clip", 0);
  auto clipped = [&](const std::string& v) {
    if (!has_clip) return v;
    return c.op("minimum", {{"x", c.op("maximum", {{"x", v}, {"y", sf(dt, -clip)}})}, {"y", sf(dt, clip)}});
  };

  // Constant sequence_lens: lengths shorter than T mask the steps past each batch entry's end.
  std::vector<int64_t> lens(static_cast<size_t>(B), T);
  if (c.has_input(4)) {
    IM_ASSIGN_OR_RETURN(auto lt, c.need_const(4, "sequence_lens"));
    lens = lt.to_i64();
    if (static_cast<int64_t>(lens.size()) != B) return c.fail("sequence_lens has the wrong length");
  }
  bool ragged = std::any_of(lens.begin(), lens.end(), [&](int64_t v) { return v != T; });
  if (ragged && direction != "forward") return c.fail("sequence_lens shorter than the sequence with a reverse direction");

  std::string init_h, init_c;
  if (c.has_input(5)) {
    IM_ASSIGN_OR_RETURN(init_h, c.in(5));
    if (batch_first) init_h = c.op("transpose", {{"x", init_h}, {"perm", ti32({1, 0, 2})}});
  }
  if (cell == Cell::kLstm && c.has_input(6)) {
    IM_ASSIGN_OR_RETURN(init_c, c.in(6));
    if (batch_first) init_c = c.op("transpose", {{"x", init_c}, {"perm", ti32({1, 0, 2})}});
  }
  std::string bias, peep;
  if (c.has_input(3)) { IM_ASSIGN_OR_RETURN(bias, c.in(3)); }
  if (cell == Cell::kLstm && c.has_input(7)) { IM_ASSIGN_OR_RETURN(peep, c.in(7)); }
  const bool linear_before_reset = cell == Cell::kGru && c.ai("linear_before_reset", 0) != 0;
  const int64_t GH = gates * H;

  std::vector<std::string> ys, hs, cs;
  for (int d = 0; d < D; ++d) {
    const bool reverse = direction == "reverse" || d == 1;
    auto pick = [&](const std::string& v, const mil::Shape& dims) {
      return c.op("squeeze", {{"x", slice_axis(c, v, dims, 0, d, 1)}, {"axes", ti32({0})}});
    };
    std::string wd = pick(w, {D, GH, I});  // [GH, I]
    std::string rd = pick(r, {D, GH, H});  // [GH, H]
    // X W^T + Wb (+ Rb, except GRU's h gate whose Rb sits inside the reset product): [T, B, GH].
    std::string xw = c.op("matmul", {{"x", x}, {"y", wd}, {"transpose_y", sbool(true)}});
    std::string rb_h;
    if (!bias.empty()) {
      std::string bd = pick(bias, {D, 2 * GH});
      std::string wb = slice_axis(c, bd, {2 * GH}, 0, 0, GH), rb = slice_axis(c, bd, {2 * GH}, 0, GH, GH);
      if (cell == Cell::kGru) {
        rb_h = slice_axis(c, rb, {GH}, 0, 2 * H, H);
        rb = c.op("concat", {{"values", std::vector<std::string>{slice_axis(c, rb, {GH}, 0, 0, 2 * H),
                                                                 c.b.constant(Tensor(dt, {H}))}}, {"axis", si32(0)}});
      }
      xw = c.op("add", {{"x", xw}, {"y", c.op("add", {{"x", wb}, {"y", rb}})}});
    }
    std::string pi, po, pf;
    if (!peep.empty()) {
      std::string pd = pick(peep, {D, 3 * H});
      pi = slice_axis(c, pd, {3 * H}, 0, 0, H);
      po = slice_axis(c, pd, {3 * H}, 0, H, H);
      pf = slice_axis(c, pd, {3 * H}, 0, 2 * H, H);
    }
    std::string h = init_h.empty() ? c.b.constant(Tensor(dt, {B, H})) : pick(init_h, {D, B, H});
    std::string cst = cell != Cell::kLstm ? "" : init_c.empty() ? c.b.constant(Tensor(dt, {B, H})) : pick(init_c, {D, B, H});
    std::string r_zr, r_h;
    if (cell == Cell::kGru) {
      r_zr = slice_axis(c, rd, {GH, H}, 0, 0, 2 * H);
      r_h = slice_axis(c, rd, {GH, H}, 0, 2 * H, H);
    }
    std::vector<std::string> y_steps(static_cast<size_t>(T));
    for (int64_t k = 0; k < T; ++k) {
      const int64_t t = reverse ? T - 1 - k : k;
      std::string xt = c.op("squeeze", {{"x", slice_axis(c, xw, {T, B, GH}, 0, t, 1)}, {"axes", ti32({0})}});  // [B, GH]
      auto gate = [&](const std::string& v, int64_t g, int64_t width) { return slice_axis(c, v, {B, width}, 1, g * H, H); };
      std::string h_new, c_new;
      if (cell == Cell::kRnn) {
        auto pre = c.op("add", {{"x", xt}, {"y", c.op("matmul", {{"x", h}, {"y", rd}, {"transpose_y", sbool(true)}})}});
        IM_ASSIGN_OR_RETURN(h_new, activate(c, acts[d * per_dir], clipped(pre)));
      } else if (cell == Cell::kGru) {
        auto hr = c.op("matmul", {{"x", h}, {"y", r_zr}, {"transpose_y", sbool(true)}});  // [B, 2H]
        IM_ASSIGN_OR_RETURN(auto z, activate(c, acts[d * per_dir], clipped(c.op("add", {{"x", gate(xt, 0, GH)}, {"y", gate(hr, 0, 2 * H)}}))));
        IM_ASSIGN_OR_RETURN(auto rg, activate(c, acts[d * per_dir], clipped(c.op("add", {{"x", gate(xt, 1, GH)}, {"y", gate(hr, 1, 2 * H)}}))));
        std::string rec;
        if (linear_before_reset) {
          rec = c.op("matmul", {{"x", h}, {"y", r_h}, {"transpose_y", sbool(true)}});
          if (!rb_h.empty()) rec = c.op("add", {{"x", rec}, {"y", rb_h}});
          rec = c.op("mul", {{"x", rg}, {"y", rec}});
        } else {
          rec = c.op("matmul", {{"x", c.op("mul", {{"x", rg}, {"y", h}})}, {"y", r_h}, {"transpose_y", sbool(true)}});
          if (!rb_h.empty()) rec = c.op("add", {{"x", rec}, {"y", rb_h}});
        }
        IM_ASSIGN_OR_RETURN(auto hh, activate(c, acts[d * per_dir + 1], clipped(c.op("add", {{"x", gate(xt, 2, GH)}, {"y", rec}}))));
        // H = (1 - z) * hh + z * H_prev = hh + z * (H_prev - hh)
        h_new = c.op("add", {{"x", hh}, {"y", c.op("mul", {{"x", z}, {"y", c.op("sub", {{"x", h}, {"y", hh}})}})}});
      } else {
        auto pre = c.op("add", {{"x", xt}, {"y", c.op("matmul", {{"x", h}, {"y", rd}, {"transpose_y", sbool(true)}})}});
        auto gi = gate(pre, 0, GH), go = gate(pre, 1, GH), gf = gate(pre, 2, GH), gc = gate(pre, 3, GH);
        if (!pi.empty()) {
          gi = c.op("add", {{"x", gi}, {"y", c.op("mul", {{"x", pi}, {"y", cst}})}});
          gf = c.op("add", {{"x", gf}, {"y", c.op("mul", {{"x", pf}, {"y", cst}})}});
        }
        IM_ASSIGN_OR_RETURN(auto it, activate(c, acts[d * per_dir], clipped(gi)));
        IM_ASSIGN_OR_RETURN(auto ft, activate(c, acts[d * per_dir], clipped(gf)));
        IM_ASSIGN_OR_RETURN(auto ct, activate(c, acts[d * per_dir + 1], clipped(gc)));
        c_new = c.op("add", {{"x", c.op("mul", {{"x", ft}, {"y", cst}})}, {"y", c.op("mul", {{"x", it}, {"y", ct}})}});
        if (!po.empty()) go = c.op("add", {{"x", go}, {"y", c.op("mul", {{"x", po}, {"y", c_new}})}});
        IM_ASSIGN_OR_RETURN(auto ot, activate(c, acts[d * per_dir], clipped(go)));
        IM_ASSIGN_OR_RETURN(auto hc, activate(c, acts[d * per_dir + 2], c_new));
        h_new = c.op("mul", {{"x", ot}, {"y", hc}});
      }
      std::string y_t = h_new;
      if (ragged) {  // past a batch entry's length: output 0, state unchanged
        Tensor live(DType::kBool, {B, 1});
        for (int64_t b = 0; b < B; ++b) live.set_i64(b, t < lens[static_cast<size_t>(b)] ? 1 : 0);
        std::string m = c.b.constant(live);
        y_t = c.op("select", {{"cond", m}, {"a", h_new}, {"b", sf(dt, 0)}});
        h_new = c.op("select", {{"cond", m}, {"a", h_new}, {"b", h}});
        if (!c_new.empty()) c_new = c.op("select", {{"cond", m}, {"a", c_new}, {"b", cst}});
      }
      h = h_new;
      if (!c_new.empty()) cst = c_new;
      y_steps[static_cast<size_t>(t)] = y_t;
    }
    ys.push_back(c.op("stack", {{"values", y_steps}, {"axis", si32(0)}}));  // [T, B, H]
    hs.push_back(h);
    cs.push_back(cst);
  }
  std::string y = c.op("stack", {{"values", ys}, {"axis", si32(1)}});  // [T, D, B, H]
  std::string yh = c.op("stack", {{"values", hs}, {"axis", si32(0)}});  // [D, B, H]
  std::string yc = cell == Cell::kLstm ? c.op("stack", {{"values", cs}, {"axis", si32(0)}}) : "";
  if (batch_first) {
    y = c.op("transpose", {{"x", y}, {"perm", ti32({2, 0, 1, 3})}});
    yh = c.op("transpose", {{"x", yh}, {"perm", ti32({1, 0, 2})}});
    if (!yc.empty()) yc = c.op("transpose", {{"x", yc}, {"perm", ti32({1, 0, 2})}});
  }
  c.set_out(0, y);
  c.set_out(1, yh);
  if (!yc.empty()) c.set_out(2, yc);
  return Status::Ok();
}

}  // namespace

void add_recurrent_lowerings(std::map<std::string, Lowering>& t) {
  t["RNN"] = {[](LowerContext& c) { return lower_recurrent(c, Cell::kRnn); }, nullptr};
  t["GRU"] = {[](LowerContext& c) { return lower_recurrent(c, Cell::kGru); }, nullptr};
  t["LSTM"] = {[](LowerContext& c) { return lower_recurrent(c, Cell::kLstm); }, nullptr};
}

}  // namespace ironmill::frontends::onnx
