// Reference kernels for the recurrent ops (coremltools iOS15/17/18 recurrent.py semantics, as exercised by
// coremltools' own NumPy/PyTorch reference tests). State is kept in double; outputs round once.
//
//  lstm  gates (i, f, o, g):  i = ra(Wi x + Ri h + b_i + p_i*c_prev)   f = ra(Wf x + Rf h + b_f + p_f*c_prev)
//                             g = ca(Wg x + Rg h + b_g)                c = f*c_prev + i*g  (then clipped to ±clip)
//                             o = ra(Wo x + Ro h + b_o + p_o*c)        h = o * act(c)
//  gru   gates (r, o, z):     r = ra(Wr x + Rr h + b_r)   z = ra(Wz x + Rz h + b_z)
//        reset_after=false:   o = act(Wo x + Ro (r*h) + b_o)          (iOS15 semantics)
//        reset_after=true:    o = act(Wo x + ib_o + r*(Ro h + b_o))   (iOS18, torch.nn.GRU with input_bias = b_ih)
//                             h = (1-z)*o + z*h;  iOS18 input_bias is added to every gate's input term.
//  rnn                        h = act(W x + R h + b)
//  direction "reverse" walks x from the end; its output sequence is in processing order (out[k] is the state
//  after k+1 steps). "bidirectional" (lstm) concatenates [forward, backward] on the hidden axis with the backward
//  states time-aligned to x (torch layout); its last-step output is [forward final, backward final].
#include <algorithm>
#include <cmath>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::Tensor;

enum class Act { kSigmoid, kTanh, kRelu, kHardSigmoid, kLinear };

Result<Act> parse_act(const KernelContext& c, const std::string& s) {
  if (s == "sigmoid") return Act::kSigmoid;
  if (s == "tanh" || s == "scaled_tanh") return Act::kTanh;  // scaled_tanh with its defaults alpha = beta = 1
  if (s == "relu") return Act::kRelu;
  if (s == "hard_sigmoid" || s == "sigmoid_hard") return Act::kHardSigmoid;  // alpha 0.2, beta 0.5
  if (s == "linear") return Act::kLinear;                                    // alpha 1, beta 0
  return c.error("unsupported activation \"" + s + "\"");
}

double apply(Act a, double v) {
  switch (a) {
    case Act::kSigmoid: return 1.0 / (1.0 + std::exp(-v));
    case Act::kTanh: return std::tanh(v);
    case Act::kRelu: return v > 0 ? v : 0.0;
    case Act::kHardSigmoid: return std::clamp(0.2 * v + 0.5, 0.0, 1.0);
    case Act::kLinear: return v;
  }
  return v;
}

Result<Act> act_input(const KernelContext& c, const std::string& name) {
  IM_ASSIGN_OR_RETURN(std::string s, c.get_string(name));
  return parse_act(c, s);
}

// An optional vector input of `n` values (zeros when absent).
Result<std::vector<double>> optional_vec(const KernelContext& c, const std::string& name, int64_t n) {
  if (!c.has(name)) return std::vector<double>(static_cast<size_t>(n), 0.0);
  IM_ASSIGN_OR_RETURN(Tensor t, c.tensor(name));
  if (t.numel() != n) return c.error("`" + name + "` must have " + std::to_string(n) + " values, got " + mil::shape_to_string(t.shape()));
  return t.to_f64();
}

Result<std::vector<double>> matrix(const KernelContext& c, const std::string& name, int64_t rows, int64_t cols) {
  IM_ASSIGN_OR_RETURN(Tensor t, c.tensor(name));
  if (t.rank() != 2 || t.dim(0) != rows || t.dim(1) != cols)
    return c.error("`" + name + "` must be [" + std::to_string(rows) + ", " + std::to_string(cols) + "], got " +
                   mil::shape_to_string(t.shape()));
  return t.to_f64();
}

// y[r] = sum_k W[r, k] * v[k] for rows [r0, r0 + n).
void matvec(const std::vector<double>& W, int64_t cols, const double* v, int64_t r0, int64_t n, double* y) {
  for (int64_t r = 0; r < n; ++r) {
    const double* w = W.data() + (r0 + r) * cols;
    double acc = 0;
    for (int64_t k = 0; k < cols; ++k) acc += w[k] * v[k];
    y[r] = acc;
  }
}

struct SeqInput {
  Tensor x;
  int64_t s = 0, b = 0, I = 0;
  std::vector<double> v;
  const double* at(int64_t t, int64_t bi) const { return v.data() + (t * b + bi) * I; }
};

Result<SeqInput> seq_input(const KernelContext& c) {
  SeqInput in;
  IM_ASSIGN_OR_RETURN(in.x, c.tensor("x"));
  if (in.x.rank() != 3) return c.error("x must be [s, b, I], got " + mil::shape_to_string(in.x.shape()));
  in.s = in.x.dim(0), in.b = in.x.dim(1), in.I = in.x.dim(2);
  in.v = in.x.to_f64();
  return in;
}

Result<std::vector<double>> state(const KernelContext& c, const std::string& name, int64_t b, int64_t width) {
  IM_ASSIGN_OR_RETURN(Tensor t, c.tensor(name));
  if (t.rank() != 2 || t.dim(0) != b || t.dim(1) != width)
    return c.error("`" + name + "` must be [" + std::to_string(b) + ", " + std::to_string(width) + "], got " +
                   mil::shape_to_string(t.shape()));
  return t.to_f64();
}

// ---- lstm ----------------------------------------------------------------------------------------------

struct LstmDir {
  std::vector<double> wih, whh, bias, peep;
};

Result<LstmDir> lstm_dir(const KernelContext& c, bool back, int64_t H, int64_t I) {
  const std::string sfx = back ? "_back" : "";
  LstmDir d;
  IM_ASSIGN_OR_RETURN(d.wih, matrix(c, "weight_ih" + sfx, 4 * H, I));
  IM_ASSIGN_OR_RETURN(d.whh, matrix(c, "weight_hh" + sfx, 4 * H, H));
  IM_ASSIGN_OR_RETURN(d.bias, optional_vec(c, "bias" + sfx, 4 * H));
  IM_ASSIGN_OR_RETURN(d.peep, optional_vec(c, "peephole" + sfx, 3 * H));
  return d;
}

Status lstm(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(SeqInput in, seq_input(c));
  IM_ASSIGN_OR_RETURN(Tensor whh, c.tensor("weight_hh"));
  if (whh.rank() != 2) return c.error("weight_hh must be rank 2");
  const int64_t H = whh.dim(1), s = in.s, b = in.b, I = in.I;
  IM_ASSIGN_OR_RETURN(std::string dir, c.get_string("direction"));
  IM_ASSIGN_OR_RETURN(bool seq, c.get_bool("output_sequence"));
  IM_ASSIGN_OR_RETURN(Act ra, act_input(c, "recurrent_activation"));
  IM_ASSIGN_OR_RETURN(Act ca, act_input(c, "cell_activation"));
  IM_ASSIGN_OR_RETURN(Act act, act_input(c, "activation"));
  double clip = INFINITY;
  if (c.has("clip")) {
    IM_ASSIGN_OR_RETURN(clip, c.get_float("clip"));
  }
  if (dir != "forward" && dir != "reverse" && dir != "bidirectional") return c.error("unknown direction \"" + dir + "\"");
  const bool bi = dir == "bidirectional";
  const int64_t D = bi ? 2 : 1;
  IM_ASSIGN_OR_RETURN(std::vector<double> h0, state(c, "initial_h", b, D * H));
  IM_ASSIGN_OR_RETURN(std::vector<double> c0, state(c, "initial_c", b, D * H));
  std::vector<double> out(static_cast<size_t>((seq ? s : 1) * b * D * H), 0.0);
  std::vector<double> hn(static_cast<size_t>(b * D * H)), cn(static_cast<size_t>(b * D * H));
  std::vector<double> pre(static_cast<size_t>(4 * H)), tmp(static_cast<size_t>(4 * H));
  for (int64_t di = 0; di < D; ++di) {
    IM_ASSIGN_OR_RETURN(LstmDir w, lstm_dir(c, di == 1, H, I));
    const bool backward = di == 1 || dir == "reverse";
    for (int64_t bi_ = 0; bi_ < b; ++bi_) {
      std::vector<double> h(h0.begin() + (bi_ * D + di) * H, h0.begin() + (bi_ * D + di + 1) * H);
      std::vector<double> cs(c0.begin() + (bi_ * D + di) * H, c0.begin() + (bi_ * D + di + 1) * H);
      for (int64_t k = 0; k < s; ++k) {
        const int64_t t = backward ? s - 1 - k : k;
        matvec(w.wih, I, in.at(t, bi_), 0, 4 * H, pre.data());
        matvec(w.whh, H, h.data(), 0, 4 * H, tmp.data());
        for (int64_t j = 0; j < H; ++j) {
          auto z = [&](int g) { return pre[static_cast<size_t>(g * H + j)] + tmp[static_cast<size_t>(g * H + j)] + w.bias[static_cast<size_t>(g * H + j)]; };
          const double cp = cs[static_cast<size_t>(j)];
          const double ig = apply(ra, z(0) + w.peep[static_cast<size_t>(j)] * cp);
          const double fg = apply(ra, z(1) + w.peep[static_cast<size_t>(H + j)] * cp);
          const double gg = apply(ca, z(3));
          double cnew = fg * cp + ig * gg;
          cnew = std::clamp(cnew, -clip, clip);
          const double og = apply(ra, z(2) + w.peep[static_cast<size_t>(2 * H + j)] * cnew);
          cs[static_cast<size_t>(j)] = cnew;
          h[static_cast<size_t>(j)] = og * apply(act, cnew);
        }
        if (seq) {
          // reverse: processing order; bidirectional backward: aligned with x's time index.
          const int64_t slot = bi ? t : k;
          std::copy(h.begin(), h.end(), out.begin() + ((slot * b + bi_) * D + di) * H);
        }
      }
      std::copy(h.begin(), h.end(), hn.begin() + (bi_ * D + di) * H);
      std::copy(cs.begin(), cs.end(), cn.begin() + (bi_ * D + di) * H);
    }
  }
  if (!seq) out = hn;
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c, 0), {seq ? s : 1, b, D * H}, out));
  c.set_output(1, Tensor::from_f64(kutil::out_dtype(c, 1), {b, D * H}, hn));
  c.set_output(2, Tensor::from_f64(kutil::out_dtype(c, 2), {b, D * H}, cn));
  return Status::Ok();
}

// ---- gru / rnn -------------------------------------------------------------------------------------------

// `direction` of gru / rnn: "forward" or "reverse".
Result<std::string> forward_or_reverse(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(std::string dir, c.get_string("direction"));
  if (dir != "forward" && dir != "reverse") return c.error("unknown direction \"" + dir + "\"");
  return dir;
}

// Outputs of gru / rnn: the states [s, b, H] in processing order (only the last one, [1, b, H], unless
// `seq`) and the last state [b, H].
Status set_single_direction_outputs(KernelContext& c, bool seq, int64_t s, int64_t b, int64_t H, std::vector<double> out,
                                    const std::vector<double>& hn) {
  if (!seq) out = hn;
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c, 0), {seq ? s : 1, b, H}, out));
  c.set_output(1, Tensor::from_f64(kutil::out_dtype(c, 1), {b, H}, hn));
  return Status::Ok();
}

Status gru(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(SeqInput in, seq_input(c));
  IM_ASSIGN_OR_RETURN(Tensor whh_t, c.tensor("weight_hh"));
  if (whh_t.rank() != 2) return c.error("weight_hh must be rank 2");
  const int64_t H = whh_t.dim(1), s = in.s, b = in.b, I = in.I;
  IM_ASSIGN_OR_RETURN(std::vector<double> wih, matrix(c, "weight_ih", 3 * H, I));
  IM_ASSIGN_OR_RETURN(std::vector<double> whh, matrix(c, "weight_hh", 3 * H, H));
  IM_ASSIGN_OR_RETURN(std::vector<double> bias, optional_vec(c, "bias", 3 * H));
  std::vector<double> ibias(static_cast<size_t>(3 * H), 0.0);
  bool reset_after = false;
  if (c.opset() >= 18) {
    IM_ASSIGN_OR_RETURN(ibias, optional_vec(c, "input_bias", 3 * H));
    IM_ASSIGN_OR_RETURN(reset_after, c.get_bool("reset_after"));
  }
  IM_ASSIGN_OR_RETURN(std::string dir, forward_or_reverse(c));
  IM_ASSIGN_OR_RETURN(bool seq, c.get_bool("output_sequence"));
  IM_ASSIGN_OR_RETURN(Act ra, act_input(c, "recurrent_activation"));
  IM_ASSIGN_OR_RETURN(Act act, act_input(c, "activation"));
  IM_ASSIGN_OR_RETURN(std::vector<double> h0, state(c, "initial_h", b, H));
  std::vector<double> out(static_cast<size_t>((seq ? s : 1) * b * H), 0.0), hn(static_cast<size_t>(b * H));
  std::vector<double> xi(static_cast<size_t>(3 * H)), hh(static_cast<size_t>(3 * H)), rh(static_cast<size_t>(H)),
      oh(static_cast<size_t>(H));
  for (int64_t bi = 0; bi < b; ++bi) {
    std::vector<double> h(h0.begin() + bi * H, h0.begin() + (bi + 1) * H);
    for (int64_t k = 0; k < s; ++k) {
      const int64_t t = dir == "reverse" ? s - 1 - k : k;
      matvec(wih, I, in.at(t, bi), 0, 3 * H, xi.data());
      matvec(whh, H, h.data(), 0, 3 * H, hh.data());  // rows [H, 2H) only used when reset_after
      std::vector<double> r(static_cast<size_t>(H)), z(static_cast<size_t>(H));
      for (int64_t j = 0; j < H; ++j) {
        const size_t jr = static_cast<size_t>(j), jz = static_cast<size_t>(2 * H + j);
        r[jr] = apply(ra, xi[jr] + ibias[jr] + hh[jr] + bias[jr]);
        z[jr] = apply(ra, xi[jz] + ibias[jz] + hh[jz] + bias[jz]);
        rh[jr] = r[jr] * h[jr];
      }
      if (!reset_after) matvec(whh, H, rh.data(), H, H, oh.data());
      for (int64_t j = 0; j < H; ++j) {
        const size_t jj = static_cast<size_t>(j), jo = static_cast<size_t>(H + j);
        const double pre = reset_after ? xi[jo] + ibias[jo] + r[jj] * (hh[jo] + bias[jo])
                                       : xi[jo] + ibias[jo] + oh[jj] + bias[jo];
        const double o = apply(act, pre);
        h[jj] = (1 - z[jj]) * o + z[jj] * h[jj];
      }
      if (seq) std::copy(h.begin(), h.end(), out.begin() + (k * b + bi) * H);
    }
    std::copy(h.begin(), h.end(), hn.begin() + bi * H);
  }
  return set_single_direction_outputs(c, seq, s, b, H, std::move(out), hn);
}

Status rnn(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(SeqInput in, seq_input(c));
  IM_ASSIGN_OR_RETURN(Tensor wih_t, c.tensor("weight_ih"));
  if (wih_t.rank() != 2) return c.error("weight_ih must be rank 2");
  const int64_t H = wih_t.dim(0), s = in.s, b = in.b, I = in.I;
  IM_ASSIGN_OR_RETURN(std::vector<double> wih, matrix(c, "weight_ih", H, I));
  IM_ASSIGN_OR_RETURN(std::vector<double> whh, matrix(c, "weight_hh", H, H));
  IM_ASSIGN_OR_RETURN(std::vector<double> bias, optional_vec(c, "bias", H));
  IM_ASSIGN_OR_RETURN(std::string dir, forward_or_reverse(c));
  IM_ASSIGN_OR_RETURN(bool seq, c.get_bool("output_sequence"));
  IM_ASSIGN_OR_RETURN(Act act, act_input(c, "activation"));
  IM_ASSIGN_OR_RETURN(std::vector<double> h0, state(c, "initial_h", b, H));
  std::vector<double> out(static_cast<size_t>((seq ? s : 1) * b * H), 0.0), hn(static_cast<size_t>(b * H));
  std::vector<double> xi(static_cast<size_t>(H)), hh(static_cast<size_t>(H));
  for (int64_t bi = 0; bi < b; ++bi) {
    std::vector<double> h(h0.begin() + bi * H, h0.begin() + (bi + 1) * H);
    for (int64_t k = 0; k < s; ++k) {
      const int64_t t = dir == "reverse" ? s - 1 - k : k;
      matvec(wih, I, in.at(t, bi), 0, H, xi.data());
      matvec(whh, H, h.data(), 0, H, hh.data());
      for (int64_t j = 0; j < H; ++j) {
        const size_t jj = static_cast<size_t>(j);
        h[jj] = apply(act, xi[jj] + hh[jj] + bias[jj]);
      }
      if (seq) std::copy(h.begin(), h.end(), out.begin() + (k * b + bi) * H);
    }
    std::copy(h.begin(), h.end(), hn.begin() + bi * H);
  }
  return set_single_direction_outputs(c, seq, s, b, H, std::move(out), hn);
}

}  // namespace

void register_recurrent_kernels(KernelTable& t) {
  t.add("lstm", lstm);
  t.add("gru", gru);
  t.add("rnn", rnn);
}

}  // namespace ironmill::backends::reference
