// Reference kernels for the conv family. conv / conv_quantized: im2col + fp64 GEMM (OpenBLAS) per
// (batch, group); conv_transpose: fp64 GEMM + col2im scatter-add; pools: direct window loops in fp64.
// Every op rounds once to the output dtype. Spatial ranks 1..3 are handled as 3-D with unit dims.
//
// Padding / output sizes mirror the inference in mil/ops/conv.cc (coremltools semantics). Pool windows:
// max/l2 look at in-bounds elements only; avg divides by the in-bounds count when
// exclude_padding_from_average, else by the window's overlap with the padded input (PyTorch's
// count_include_pad: the part of a ceil_mode window beyond the padding is not counted).
#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

// Geometry of one conv/pool, padded out to 3 spatial dims (leading unit dims).
struct Geo {
  int n = 0;                                  // real spatial rank
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0}, pa[3] = {0, 0, 0}, out[3] = {1, 1, 1};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

Result<std::vector<int64_t>> spatial(KernelContext& c, const std::string& name, int n) {
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> v, c.get_ints(name));
  if (static_cast<int>(v.size()) != n) return c.error("input `" + name + "`: " + std::to_string(n) + " values expected");
  return v;
}

// Fills in/k/s/d and the padding of `g` (n already set; in[] and k[] already set).
Status fill_padding(KernelContext& c, Geo& g) {
  IM_ASSIGN_OR_RETURN(std::string pt, c.get_string("pad_type"));
  std::transform(pt.begin(), pt.end(), pt.begin(), [](unsigned char ch) { return std::tolower(ch); });
  const int off = 3 - g.n;
  std::vector<int64_t> pad;
  if (pt == "custom") {
    IM_ASSIGN_OR_RETURN(pad, c.get_ints("pad"));
    if (static_cast<int>(pad.size()) != 2 * g.n) return c.error("input `pad`: " + std::to_string(2 * g.n) + " values expected");
  } else if (pt != "valid" && pt != "same" && pt != "same_lower") {
    return c.error("unknown pad_type \"" + pt + "\"");
  }
  for (int i = 0; i < g.n; ++i) {
    const int j = off + i;
    const int64_t keff = (g.k[j] - 1) * g.d[j] + 1;
    if (pt == "custom") {
      g.pb[j] = pad[static_cast<size_t>(2 * i)];
      g.pa[j] = pad[static_cast<size_t>(2 * i + 1)];
    } else if (pt == "same" || pt == "same_lower") {
      const int64_t total = std::max<int64_t>(0, g.s[j] * ((g.in[j] + g.s[j] - 1) / g.s[j]) - g.in[j] + keff - g.s[j]);
      const int64_t small = total / 2, big = total - small;
      g.pb[j] = pt == "same" ? small : big;
      g.pa[j] = pt == "same" ? big : small;
    }
  }
  return Status::Ok();
}

// Output sizes (ceil_mode as coremltools: see mil/ops/conv.cc).
Status fill_out(KernelContext& c, Geo& g, bool ceil_mode) {
  for (int j = 3 - g.n; j < 3; ++j) {
    const int64_t keff = (g.k[j] - 1) * g.d[j] + 1, pad = g.pb[j] + g.pa[j];
    const int64_t num = g.in[j] + pad - keff;
    auto floordiv = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
    int64_t o = ceil_mode ? floordiv(num + g.s[j] - 1, g.s[j]) + 1 : floordiv(num, g.s[j]) + 1;
    if (ceil_mode && pad > 0 && 2 * (o - 1) * g.s[j] >= 2 * g.in[j] + pad) --o;
    if (o <= 0) return c.error("non-positive output size " + std::to_string(o));
    g.out[j] = o;
  }
  return Status::Ok();
}

Result<Geo> conv_geo(KernelContext& c, const Tensor& x, const Shape& wshape, bool transpose) {
  Geo g;
  g.n = x.rank() - 2;
  if (g.n < 1 || g.n > 3 || static_cast<int>(wshape.size()) != x.rank())
    return c.error("x must be rank 3..5 and weight of the same rank");
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> st, spatial(c, "strides", g.n));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> dl, spatial(c, "dilations", g.n));
  const int off = 3 - g.n;
  for (int i = 0; i < g.n; ++i) {
    g.in[off + i] = x.dim(2 + i);
    g.k[off + i] = wshape[static_cast<size_t>(2 + i)];
    g.s[off + i] = st[static_cast<size_t>(i)];
    g.d[off + i] = dl[static_cast<size_t>(i)];
    if (g.s[off + i] < 1 || g.d[off + i] < 1) return c.error("strides and dilations must be positive");
  }
  if (!transpose) {
    IM_RETURN_IF_ERROR(fill_padding(c, g));
    IM_RETURN_IF_ERROR(fill_out(c, g, false));
  }
  return g;
}

// y[N, Cout, *O] = conv(x, w) + bias, with w given as fp64 values of shape [Cout, Cin/groups, *K].
Status run_conv(KernelContext& c, const Tensor& x, const Shape& wshape, const std::vector<double>& w,
                const std::vector<double>* bias) {
  IM_ASSIGN_OR_RETURN(Geo g, conv_geo(c, x, wshape, false));
  IM_ASSIGN_OR_RETURN(int64_t groups, c.get_int("groups"));
  const int64_t N = x.dim(0), Cin = x.dim(1), Cout = wshape[0];
  if (groups < 1 || Cin % groups || Cout % groups || Cin / groups != wshape[1])
    return c.error("channels do not match weight " + mil::shape_to_string(wshape) + " with groups " + std::to_string(groups));
  const int64_t cig = Cin / groups, cog = Cout / groups, K = g.k_size(), O = g.out_size(), I = g.in_size();
  const auto xv = x.to_f64();
  std::vector<double> out(static_cast<size_t>(N * Cout * O), 0.0), col(static_cast<size_t>(cig * K * O));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gr = 0; gr < groups; ++gr) {
      // im2col: rows (ci, kd, kh, kw), columns (od, oh, ow).
      for (int64_t ci = 0; ci < cig; ++ci) {
        const double* xp = xv.data() + (n * Cin + gr * cig + ci) * I;
        for (int64_t kd = 0; kd < g.k[0]; ++kd)
          for (int64_t kh = 0; kh < g.k[1]; ++kh)
            for (int64_t kw = 0; kw < g.k[2]; ++kw) {
              double* row = col.data() + ((ci * g.k[0] + kd) * g.k[1] * g.k[2] + kh * g.k[2] + kw) * O;
              for (int64_t od = 0; od < g.out[0]; ++od) {
                const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
                for (int64_t oh = 0; oh < g.out[1]; ++oh) {
                  const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
                  for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                    const int64_t iw = ow * g.s[2] - g.pb[2] + kw * g.d[2];
                    const bool in = id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2];
                    row[(od * g.out[1] + oh) * g.out[2] + ow] = in ? xp[(id * g.in[1] + ih) * g.in[2] + iw] : 0.0;
                  }
                }
              }
            }
      }
      double* op = out.data() + (n * Cout + gr * cog) * O;
      const double* wp = w.data() + gr * cog * cig * K;
      if (cig * K > 0 && O > 0 && cog > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(cog), static_cast<int>(O),
                    static_cast<int>(cig * K), 1.0, wp, static_cast<int>(cig * K), col.data(), static_cast<int>(O), 0.0,
                    op, static_cast<int>(O));
    }
  if (bias) {
    if (static_cast<int64_t>(bias->size()) != Cout) return c.error("bias must have C_out values");
    for (int64_t n = 0; n < N; ++n)
      for (int64_t co = 0; co < Cout; ++co)
        for (int64_t o = 0; o < O; ++o) out[static_cast<size_t>((n * Cout + co) * O + o)] += (*bias)[static_cast<size_t>(co)];
  }
  Shape os = {N, Cout};
  for (int j = 3 - g.n; j < 3; ++j) os.push_back(g.out[j]);
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), os, out));
  return Status::Ok();
}

Status conv_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor w, c.tensor("weight"));
  std::vector<double> b;
  if (c.has("bias")) {
    IM_ASSIGN_OR_RETURN(Tensor bt, c.tensor("bias"));
    b = bt.to_f64();
  }
  return run_conv(c, x, w.shape(), w.to_f64(), c.has("bias") ? &b : nullptr);
}

// conv_quantized, quantization_type "linear": W = W_q · quant_scale + quant_bias, with quant_scale /
// quant_bias scalar or per output channel (coremltools: "W_float = W_quantized * scale + bias").
// The optional `bias` (uint8 by the signature) is added as is, unscaled. "lut" is not implemented.
Status conv_quantized_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor wq, c.tensor("weight"));
  IM_ASSIGN_OR_RETURN(std::string qt, c.get_string("quantization_type"));
  IM_ASSIGN_OR_RETURN(int64_t nbits, c.get_int("nbits"));
  IM_ASSIGN_OR_RETURN(Tensor scale_t, c.tensor("quant_scale"));
  IM_ASSIGN_OR_RETURN(Tensor qbias_t, c.tensor("quant_bias"));
  if (qt != "linear") return unsupported("`conv_quantized` (" + c.op().name() + "): quantization_type \"" + qt + "\" is not implemented by the reference backend");
  if (wq.rank() < 1) return c.error("weight must have rank >= 1");
  const int64_t cout = wq.dim(0), per = cout ? wq.numel() / cout : 0;
  const auto scale = scale_t.to_f64(), qb = qbias_t.to_f64();
  auto pick = [&](const std::vector<double>& v, int64_t co) { return v.size() == 1 ? v[0] : v[static_cast<size_t>(co)]; };
  if ((scale.size() != 1 && static_cast<int64_t>(scale.size()) != cout) ||
      (qb.size() != 1 && static_cast<int64_t>(qb.size()) != cout))
    return c.error("quant_scale and quant_bias must hold 1 or C_out values");
  const auto q = wq.to_i64();
  std::vector<double> w(q.size());
  for (int64_t co = 0; co < cout; ++co)
    for (int64_t i = 0; i < per; ++i) {
      const int64_t e = q[static_cast<size_t>(co * per + i)];
      if (e >= (int64_t{1} << nbits)) return c.error("weight value " + std::to_string(e) + " exceeds nbits " + std::to_string(nbits));
      w[static_cast<size_t>(co * per + i)] = static_cast<double>(e) * pick(scale, co) + pick(qb, co);
    }
  std::vector<double> b;
  if (c.has("bias")) {
    IM_ASSIGN_OR_RETURN(Tensor bt, c.tensor("bias"));
    b = bt.to_f64();
  }
  return run_conv(c, x, wq.shape(), w, c.has("bias") ? &b : nullptr);
}

// out[o] (o in output coords) collects x[i]·w[k] for o + crop = i·s + k·d.
Status conv_transpose_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor wt, c.tensor("weight"));
  IM_ASSIGN_OR_RETURN(Geo g, conv_geo(c, x, wt.shape(), true));
  IM_ASSIGN_OR_RETURN(int64_t groups, c.get_int("groups"));
  IM_ASSIGN_OR_RETURN(std::string pt, c.get_string("pad_type"));
  std::transform(pt.begin(), pt.end(), pt.begin(), [](unsigned char ch) { return std::tolower(ch); });
  const int64_t N = x.dim(0), Cin = x.dim(1);
  if (groups < 1 || Cin % groups || wt.dim(0) != Cin) return c.error("weight dim 0 must be C_in, divisible by groups");
  const int64_t cig = Cin / groups, cog = wt.dim(1), Cout = cog * groups;
  const int off = 3 - g.n;
  std::vector<int64_t> pad, oshape;
  if (pt == "custom") {
    IM_ASSIGN_OR_RETURN(pad, c.get_ints("pad"));
    if (static_cast<int>(pad.size()) != 2 * g.n) return c.error("input `pad`: " + std::to_string(2 * g.n) + " values expected");
  } else if (pt != "valid" && pt != "same") {
    return c.error("unsupported pad_type \"" + pt + "\"");
  }
  if (c.has("output_shape")) {
    IM_ASSIGN_OR_RETURN(oshape, c.get_ints("output_shape"));
    if (static_cast<int>(oshape.size()) == g.n + 2) oshape.erase(oshape.begin(), oshape.begin() + 2);
    if (static_cast<int>(oshape.size()) != g.n) return c.error("output_shape has the wrong length");
  }
  int64_t crop[3] = {0, 0, 0};
  for (int i = 0; i < g.n; ++i) {
    const int j = off + i;
    const int64_t keff = (g.k[j] - 1) * g.d[j] + 1, full = g.s[j] * (g.in[j] - 1) + keff;
    int64_t o = full;
    if (pt == "same") o = g.s[j] * g.in[j];
    if (pt == "custom") { crop[j] = pad[static_cast<size_t>(2 * i)]; o = full - crop[j] - pad[static_cast<size_t>(2 * i + 1)]; }
    if (!oshape.empty()) o = oshape[static_cast<size_t>(i)];
    // "same" (TF semantics): the forward conv's padding for an output of size o.
    if (pt == "same") crop[j] = std::max<int64_t>(0, full - o) / 2;
    if (o <= 0) return c.error("non-positive output size");
    g.out[j] = o;
  }
  const int64_t K = g.k_size(), I = g.in_size(), O = g.out_size();
  const auto xv = x.to_f64(), wv = wt.to_f64();
  std::vector<double> out(static_cast<size_t>(N * Cout * O), 0.0), col(static_cast<size_t>(cog * K * I));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gr = 0; gr < groups; ++gr) {
      // col[(co, k), i] = sum_ci w[ci, co, k] · x[ci, i]
      const double* wp = wv.data() + gr * cig * cog * K;
      const double* xp = xv.data() + (n * Cin + gr * cig) * I;
      if (cig > 0 && cog * K > 0 && I > 0)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(cog * K), static_cast<int>(I),
                    static_cast<int>(cig), 1.0, wp, static_cast<int>(cog * K), xp, static_cast<int>(I), 0.0, col.data(),
                    static_cast<int>(I));
      else
        std::fill(col.begin(), col.end(), 0.0);
      for (int64_t co = 0; co < cog; ++co) {
        double* op = out.data() + (n * Cout + gr * cog + co) * O;
        for (int64_t kd = 0; kd < g.k[0]; ++kd)
          for (int64_t kh = 0; kh < g.k[1]; ++kh)
            for (int64_t kw = 0; kw < g.k[2]; ++kw) {
              const double* row = col.data() + (co * K + (kd * g.k[1] + kh) * g.k[2] + kw) * I;
              for (int64_t id = 0; id < g.in[0]; ++id) {
                const int64_t od = id * g.s[0] + kd * g.d[0] - crop[0];
                if (od < 0 || od >= g.out[0]) continue;
                for (int64_t ih = 0; ih < g.in[1]; ++ih) {
                  const int64_t oh = ih * g.s[1] + kh * g.d[1] - crop[1];
                  if (oh < 0 || oh >= g.out[1]) continue;
                  for (int64_t iw = 0; iw < g.in[2]; ++iw) {
                    const int64_t ow = iw * g.s[2] + kw * g.d[2] - crop[2];
                    if (ow < 0 || ow >= g.out[2]) continue;
                    op[(od * g.out[1] + oh) * g.out[2] + ow] += row[(id * g.in[1] + ih) * g.in[2] + iw];
                  }
                }
              }
            }
      }
    }
  if (c.has("bias")) {
    IM_ASSIGN_OR_RETURN(Tensor bt, c.tensor("bias"));
    const auto b = bt.to_f64();
    if (static_cast<int64_t>(b.size()) != Cout) return c.error("bias must have C_out values");
    for (int64_t n = 0; n < N; ++n)
      for (int64_t co = 0; co < Cout; ++co)
        for (int64_t o = 0; o < O; ++o) out[static_cast<size_t>((n * Cout + co) * O + o)] += b[static_cast<size_t>(co)];
  }
  Shape os = {N, Cout};
  for (int j = off; j < 3; ++j) os.push_back(g.out[j]);
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), os, out));
  return Status::Ok();
}

enum class Pool { kAvg, kMax, kL2 };

KernelFn pool_kernel(Pool kind) {
  return [kind](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    Geo g;
    g.n = x.rank() - 2;
    if (g.n < 1 || g.n > 3) return c.error("x must be rank 3..5");
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> ks, spatial(c, "kernel_sizes", g.n));
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> st, spatial(c, "strides", g.n));
    IM_ASSIGN_OR_RETURN(bool ceil_mode, c.get_bool("ceil_mode"));
    bool exclude = false;
    if (kind == Pool::kAvg) {
      IM_ASSIGN_OR_RETURN(exclude, c.get_bool("exclude_padding_from_average"));
    }
    const int off = 3 - g.n;
    for (int i = 0; i < g.n; ++i) {
      g.in[off + i] = x.dim(2 + i);
      g.k[off + i] = ks[static_cast<size_t>(i)];
      g.s[off + i] = st[static_cast<size_t>(i)];
      if (g.k[off + i] < 1 || g.s[off + i] < 1) return c.error("kernel_sizes and strides must be positive");
    }
    IM_RETURN_IF_ERROR(fill_padding(c, g));
    IM_RETURN_IF_ERROR(fill_out(c, g, ceil_mode));
    const int64_t NC = x.dim(0) * x.dim(1), I = g.in_size(), O = g.out_size();
    const auto xv = x.to_f64();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> out(static_cast<size_t>(NC * O));
    for (int64_t p = 0; p < NC; ++p) {
      const double* xp = xv.data() + p * I;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            const int64_t o[3] = {od, oh, ow};
            int64_t lo[3], hi[3], padded = 1;  // in-bounds window [lo, hi) and its overlap with the padded input
            for (int j = 0; j < 3; ++j) {
              const int64_t start = o[j] * g.s[j] - g.pb[j], end = start + g.k[j];
              padded *= std::min(end, g.in[j] + g.pa[j]) - std::max(start, -g.pb[j]);
              lo[j] = std::max<int64_t>(start, 0);
              hi[j] = std::min(end, g.in[j]);
            }
            double acc = kind == Pool::kMax ? -std::numeric_limits<double>::infinity() : 0.0;
            int64_t cnt = 0;
            for (int64_t id = lo[0]; id < hi[0]; ++id)
              for (int64_t ih = lo[1]; ih < hi[1]; ++ih)
                for (int64_t iw = lo[2]; iw < hi[2]; ++iw) {
                  const double e = xp[(id * g.in[1] + ih) * g.in[2] + iw];
                  ++cnt;
                  if (kind == Pool::kMax) acc = (std::isnan(e) || std::isnan(acc)) ? nan : std::max(acc, e);
                  else if (kind == Pool::kAvg) acc += e;
                  else acc += e * e;
                }
            if (kind == Pool::kAvg) acc /= static_cast<double>(exclude ? cnt : padded);
            if (kind == Pool::kL2) acc = std::sqrt(acc);
            out[static_cast<size_t>(p * O + (od * g.out[1] + oh) * g.out[2] + ow)] = acc;
          }
    }
    Shape os = {x.dim(0), x.dim(1)};
    for (int j = off; j < 3; ++j) os.push_back(g.out[j]);
    c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), os, out));
    return Status::Ok();
  };
}

}  // namespace

void register_conv_kernels(KernelTable& t) {
  t.add("conv", conv_kernel);
  t.add("conv_quantized", conv_quantized_kernel);
  t.add("conv_transpose", conv_transpose_kernel);
  t.add("avg_pool", pool_kernel(Pool::kAvg));
  t.add("max_pool", pool_kernel(Pool::kMax));
  t.add("l2_pool", pool_kernel(Pool::kL2));
}

}  // namespace ironmill::backends::reference
