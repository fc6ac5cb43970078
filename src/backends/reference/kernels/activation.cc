// Reference kernels for the activation ops (formulas from coremltools iOS15/activation.py).
// Computed in double from the stored values (alpha/beta as stored in their own dtype), rounded once
// to the output dtype. softmax accumulates in double.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Tensor;

double sigmoid(double v) {
  // Stable in both directions.
  if (v >= 0) return 1.0 / (1.0 + std::exp(-v));
  const double e = std::exp(v);
  return e / (1.0 + e);
}

// log(1 + e^v) without overflow.
double softplus(double v) { return std::log1p(std::exp(-std::fabs(v))) + std::max(v, 0.0); }

Status map_x(KernelContext& c, const std::function<double(double)>& f) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  auto v = x.to_f64();
  for (auto& e : v) e = f(e);
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), v));
  return Status::Ok();
}

KernelFn unary(std::function<double(double)> f) {
  return [f](KernelContext& c) -> Status { return map_x(c, f); };
}

// f(x, alpha)
KernelFn with_alpha(std::function<double(double, double)> f) {
  return [f](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(double a, c.get_float("alpha"));
    return map_x(c, [&](double v) { return f(v, a); });
  };
}

// f(x, alpha, beta)
KernelFn with_alpha_beta(std::function<double(double, double, double)> f) {
  return [f](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(double a, c.get_float("alpha"));
    IM_ASSIGN_OR_RETURN(double b, c.get_float("beta"));
    return map_x(c, [&](double v) { return f(v, a, b); });
  };
}

// Per-channel ops over x = [B, C, ...]: f(x, params[0][c], params[1][c], ...).
KernelFn per_channel(std::vector<std::string> names, std::function<double(double, const std::vector<double>&)> f) {
  return [names, f](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    if (x.rank() < 2) return c.error("`x` must have a channel dimension (rank >= 2), got " + mil::shape_to_string(x.shape()));
    const int64_t channels = x.dim(1);
    std::vector<std::vector<double>> params;
    for (const auto& n : names) {
      IM_ASSIGN_OR_RETURN(Tensor p, c.tensor(n));
      if (p.numel() != channels)
        return c.error("`" + n + "` has " + std::to_string(p.numel()) + " values, x has " + std::to_string(channels) +
                       " channels");
      params.push_back(p.to_f64());
    }
    int64_t inner = 1;
    for (int i = 2; i < x.rank(); ++i) inner *= x.dim(i);
    auto v = x.to_f64();
    std::vector<double> p(names.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const int64_t ch = (static_cast<int64_t>(i) / inner) % channels;
      for (size_t k = 0; k < names.size(); ++k) p[k] = params[k][ch];
      v[i] = f(v[i], p);
    }
    c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), v));
    return Status::Ok();
  };
}

}  // namespace

void register_activation_kernels(KernelTable& t) {
  t.add("relu", unary([](double v) { return std::isnan(v) ? v : std::max(v, 0.0); }));
  t.add("relu6", unary([](double v) { return std::isnan(v) ? v : std::min(std::max(v, 0.0), 6.0); }));
  t.add("sigmoid", unary(sigmoid));
  t.add("silu", unary([](double v) { return v * sigmoid(v); }));
  t.add("softplus", unary(softplus));
  t.add("softsign", unary([](double v) { return v / (1.0 + std::fabs(v)); }));

  // x >= 0 ? x : alpha * x
  t.add("leaky_relu", with_alpha([](double v, double a) { return v >= 0 ? v : a * v; }));
  // x > 0 ? x : alpha * (e^x - 1)
  t.add("elu", with_alpha([](double v, double a) { return v > 0 ? v : a * std::expm1(v); }));
  // x >= alpha ? x : 0
  t.add("thresholded_relu", with_alpha([](double v, double a) { return v >= a ? v : 0.0; }));

  // min(beta, x >= 0 ? x : alpha * x)
  t.add("clamped_relu", with_alpha_beta([](double v, double a, double b) {
          const double r = v >= 0 ? v : a * v;
          return std::isnan(r) ? r : std::min(r, b);
        }));
  t.add("linear_activation", with_alpha_beta([](double v, double a, double b) { return a * v + b; }));
  t.add("scaled_tanh", with_alpha_beta([](double v, double a, double b) { return a * std::tanh(b * v); }));
  // min(max(alpha * x + beta, 0), 1)
  t.add("sigmoid_hard", with_alpha_beta([](double v, double a, double b) {
          const double r = a * v + b;
          return std::isnan(r) ? r : std::min(std::max(r, 0.0), 1.0);
        }));

  t.add("gelu", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(std::string mode, c.get_string("mode"));
    if (mode == "EXACT") return map_x(c, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); });
    if (mode == "TANH_APPROXIMATION") {
      const double k = std::sqrt(2.0 / M_PI);
      return map_x(c, [k](double v) { return 0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v))); });
    }
    if (mode == "SIGMOID_APPROXIMATION") return map_x(c, [](double v) { return v * sigmoid(1.702 * v); });
    return c.error("unrecognized mode \"" + mode + "\"");
  });

  // prelu: x_i > 0 ? x_i : alpha[c] * x_i over channel dim 1.
  t.add("prelu", per_channel({"alpha"}, [](double v, const std::vector<double>& p) { return v > 0 ? v : p[0] * v; }));
  // softplus_parametric: alpha[c] * log(1 + e^(beta[c] * x)).
  t.add("softplus_parametric", per_channel({"alpha", "beta"}, [](double v, const std::vector<double>& p) {
          return p[0] * softplus(p[1] * v);
        }));

  // softmax along `axis`, max-subtracted, double accumulation.
  t.add("softmax", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    IM_ASSIGN_OR_RETURN(int64_t axis_in, c.get_int("axis"));
    auto ax = mil::infer::normalize_axis(axis_in, x.rank());
    if (!ax.ok()) return c.error("input `axis`: " + ax.status().message());
    const int axis = static_cast<int>(*ax);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x.dim(i);
    for (int i = axis + 1; i < x.rank(); ++i) inner *= x.dim(i);
    const int64_t n = x.dim(axis);
    auto v = x.to_f64();
    std::vector<double> e(static_cast<size_t>(n));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t in = 0; in < inner; ++in) {
        const int64_t base = o * n * inner + in;
        double m = -INFINITY;
        for (int64_t k = 0; k < n; ++k) m = std::max(m, v[base + k * inner]);
        double sum = 0;
        for (int64_t k = 0; k < n; ++k) sum += (e[k] = std::exp(v[base + k * inner] - m));
        for (int64_t k = 0; k < n; ++k) v[base + k * inner] = e[k] / sum;
      }
    }
    c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), v));
    return Status::Ok();
  });
}

}  // namespace ironmill::backends::reference
