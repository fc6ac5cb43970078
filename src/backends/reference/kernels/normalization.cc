// Reference kernels for the normalization ops. Statistics (two-pass mean / biased variance) and the
// normalisation itself run in fp64; the result is rounded once to x's dtype. Parameters (gamma, beta,
// epsilon, ...) may have another float dtype from iOS17 on; they are read as fp64 either way.
#include <algorithm>
#include <cmath>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::Shape;
using mil::Tensor;

// Optional per-channel vector: the input's values, or `n` copies of `fill`.
Result<std::vector<double>> channel_param(KernelContext& c, const std::string& name, int64_t n, double fill) {
  if (!c.has(name)) return std::vector<double>(static_cast<size_t>(n), fill);
  IM_ASSIGN_OR_RETURN(Tensor t, c.tensor(name));
  if (t.numel() != n)
    return c.error("input `" + name + "`: " + std::to_string(n) + " values expected, got " + std::to_string(t.numel()));
  return t.to_f64();
}

Status batch_norm_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  if (x.rank() < 2) return c.error("x must have rank >= 2");
  const int64_t N = x.dim(0), C = x.dim(1), inner = C ? x.numel() / std::max<int64_t>(1, N * C) : 0;
  IM_ASSIGN_OR_RETURN(std::vector<double> mean, channel_param(c, "mean", C, 0));
  IM_ASSIGN_OR_RETURN(std::vector<double> var, channel_param(c, "variance", C, 1));
  IM_ASSIGN_OR_RETURN(std::vector<double> gamma, channel_param(c, "gamma", C, 1));
  IM_ASSIGN_OR_RETURN(std::vector<double> beta, channel_param(c, "beta", C, 0));
  IM_ASSIGN_OR_RETURN(double eps, c.get_float("epsilon"));
  auto v = x.to_f64();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < C; ++ch) {
      const double s = gamma[static_cast<size_t>(ch)] / std::sqrt(var[static_cast<size_t>(ch)] + eps);
      double* p = v.data() + (n * C + ch) * inner;
      for (int64_t i = 0; i < inner; ++i) p[i] = (p[i] - mean[static_cast<size_t>(ch)]) * s + beta[static_cast<size_t>(ch)];
    }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), v));
  return Status::Ok();
}

// Normalises each of `groups` runs of `len` contiguous values in place: (v - mean) / sqrt(var + eps).
void normalize_runs(double* v, int64_t groups, int64_t len, double eps) {
  for (int64_t g = 0; g < groups; ++g) {
    double* p = v + g * len;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < len; ++i) mean += p[i];
    mean /= static_cast<double>(len);
    for (int64_t i = 0; i < len; ++i) var += (p[i] - mean) * (p[i] - mean);
    var /= static_cast<double>(len);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < len; ++i) p[i] = (p[i] - mean) * inv;
  }
}

Status instance_norm_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  if (x.rank() < 3) return c.error("x must have rank >= 3");
  const int64_t N = x.dim(0), C = x.dim(1), inner = C && N ? x.numel() / (N * C) : 0;
  IM_ASSIGN_OR_RETURN(std::vector<double> gamma, channel_param(c, "gamma", C, 1));
  IM_ASSIGN_OR_RETURN(std::vector<double> beta, channel_param(c, "beta", C, 0));
  IM_ASSIGN_OR_RETURN(double eps, c.get_float("epsilon"));
  auto v = x.to_f64();
  if (inner > 0) normalize_runs(v.data(), N * C, inner, eps);
  for (int64_t g = 0; g < N * C; ++g)
    for (int64_t i = 0; i < inner; ++i) {
      double& e = v[static_cast<size_t>(g * inner + i)];
      e = e * gamma[static_cast<size_t>(g % C)] + beta[static_cast<size_t>(g % C)];
    }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), v));
  return Status::Ok();
}

Status layer_norm_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.get_ints("axes"));
  IM_ASSIGN_OR_RETURN(double eps, c.get_float("epsilon"));
  const int r = x.rank();
  std::vector<bool> norm(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    if (a < -r || a >= r) return c.error("axis " + std::to_string(a) + " out of range");
    norm[static_cast<size_t>(a < 0 ? a + r : a)] = true;
  }
  // Permute so the normalised dims (in increasing order) are innermost: then each group is contiguous.
  std::vector<int> perm;
  for (int i = 0; i < r; ++i)
    if (!norm[static_cast<size_t>(i)]) perm.push_back(i);
  int64_t len = 1;
  for (int i = 0; i < r; ++i)
    if (norm[static_cast<size_t>(i)]) { perm.push_back(i); len *= x.dim(i); }
  Shape ps;
  for (int p : perm) ps.push_back(x.dim(p));
  const auto in_st = kutil::strides_of(x.shape());
  const auto src = x.to_f64();
  const int64_t n = x.numel();
  std::vector<double> t(static_cast<size_t>(n));
  std::vector<int64_t> from(static_cast<size_t>(n));  // permuted flat index -> original flat index
  std::vector<int64_t> coord(static_cast<size_t>(r), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int d = 0; d < r; ++d) off += coord[static_cast<size_t>(d)] * in_st[static_cast<size_t>(perm[static_cast<size_t>(d)])];
    from[static_cast<size_t>(i)] = off;
    t[static_cast<size_t>(i)] = src[static_cast<size_t>(off)];
    kutil::next_coord(coord, ps);
  }
  IM_ASSIGN_OR_RETURN(std::vector<double> gamma, channel_param(c, "gamma", len, 1));
  IM_ASSIGN_OR_RETURN(std::vector<double> beta, channel_param(c, "beta", len, 0));
  if (len > 0) normalize_runs(t.data(), n / len, len, eps);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const size_t j = len > 0 ? static_cast<size_t>(i % len) : 0;
    out[static_cast<size_t>(from[static_cast<size_t>(i)])] = t[static_cast<size_t>(i)] * gamma[j] + beta[j];
  }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), out));
  return Status::Ok();
}

// x / sqrt(sum(x^2) + eps) over the last three dims, batched over the leading ones.
Status l2_norm_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(double eps, c.get_float("epsilon"));
  if (x.rank() < 3) return c.error("x must have rank >= 3");
  const int64_t len = x.dim(-1) * x.dim(-2) * x.dim(-3);
  auto v = x.to_f64();
  for (int64_t g = 0; len > 0 && g < x.numel() / len; ++g) {
    double* p = v.data() + g * len;
    double ss = 0;
    for (int64_t i = 0; i < len; ++i) ss += p[i] * p[i];
    const double inv = 1.0 / std::sqrt(ss + eps);
    for (int64_t i = 0; i < len; ++i) p[i] *= inv;
  }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), v));
  return Status::Ok();
}

// y = x / (k + alpha/size * sum_{window} x^2)^beta; the window over channels c is
// [c - size/2, c + (size-1)/2] clipped to [0, C) (PyTorch's local_response_norm / Caffe ACROSS_CHANNELS).
Status lrn_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(int64_t size, c.get_int("size"));
  IM_ASSIGN_OR_RETURN(double alpha, c.get_float("alpha"));
  IM_ASSIGN_OR_RETURN(double beta, c.get_float("beta"));
  IM_ASSIGN_OR_RETURN(double k, c.get_float("k"));
  if (x.rank() < 3) return c.error("x must have rank >= 3");
  if (size < 1) return c.error("size must be positive");
  const int64_t N = x.dim(0), C = x.dim(1), inner = N && C ? x.numel() / (N * C) : 0;
  const auto v = x.to_f64();
  std::vector<double> out(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t i = 0; i < inner; ++i) {
        double ss = 0;
        for (int64_t j = std::max<int64_t>(0, ch - size / 2); j <= std::min<int64_t>(C - 1, ch + (size - 1) / 2); ++j) {
          const double e = v[static_cast<size_t>((n * C + j) * inner + i)];
          ss += e * e;
        }
        const size_t p = static_cast<size_t>((n * C + ch) * inner + i);
        out[p] = v[p] / std::pow(k + alpha / static_cast<double>(size) * ss, beta);
      }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), out));
  return Status::Ok();
}

}  // namespace

void register_normalization_kernels(KernelTable& t) {
  t.add("batch_norm", batch_norm_kernel);
  t.add("instance_norm", instance_norm_kernel);
  t.add("layer_norm", layer_norm_kernel);
  t.add("l2_norm", l2_norm_kernel);
  t.add("local_response_norm", lrn_kernel);
}

}  // namespace ironmill::backends::reference
