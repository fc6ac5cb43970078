// Decompositions of ONNX ops without a direct MIL counterpart: BitShift, Compress, window generators,
// DFT / STFT (matmuls with constant cos/sin matrices), Det (2x2, 3x3), MaxUnpool (scatter), the integer
// quantized ops (computed in fp32, exact while sums stay below 2^24), DynamicQuantizeLinear,
// BatchNormalization in training mode, GridSample (gathers + weights on the runtime grid) and the
// optimizer updates of ai.onnx.preview.training.
#include <cmath>
#include <numeric>

#include "frontends/onnx/lowering.h"
#include "frontends/onnx/onnx_importer.h"

namespace ironmill::frontends::onnx {
using mil::DType;
using mil::Tensor;
using ::onnx::TensorProto;

namespace {

constexpr double kPi = 3.14159265358979323846;

std::string fconst(LowerContext& c, double v) { return c.b.constant(sf(DType::kFp32, v)); }

int rank_or(LowerContext& c, const std::string& n) { return c.type(n) ? c.type(n)->rank() : -1; }

// ---- BitShift: x * 2^y or floor(x / 2^y), wrapped to the unsigned width ------------------------------

Status lower_bitshift(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(std::string y, c.in(1));
  const int dt = c.onnx_dtype_in(0);
  if (dt == TensorProto::UINT32 || dt == TensorProto::UINT64) {
    // Carried as int32: exact only while values stay below 2^31 (the harness refuses larger inputs).
  }
  std::string p = c.op("pow", {{"x", si32(2)}, {"y", y}});
  std::string z;
  if (c.as("direction", "") == "LEFT") {
    z = c.op("mul", {{"x", x}, {"y", p}});
    if (dt == TensorProto::UINT8) z = c.op("mod", {{"x", z}, {"y", si32(256)}});
    if (dt == TensorProto::UINT16) z = c.op("mod", {{"x", z}, {"y", si32(65536)}});
  } else if (c.as("direction", "") == "RIGHT") {
    z = c.op("floor_div", {{"x", x}, {"y", p}});
  } else {
    return c.fail("direction must be LEFT or RIGHT");
  }
  c.set_out(0, z);
  return Status::Ok();
}

// ---- Compress: a gather of the positions where the (constant) condition is true ---------------------

Status lower_compress(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(auto dims, static_shape_of(c, x));
  IM_ASSIGN_OR_RETURN(auto cond, c.need_const(1, "condition"));
  int axis = 0;
  int64_t len = 0;
  if (c.has_attr("axis")) {
    axis = normalize_axis(c.ai("axis", 0), static_cast<int>(dims.size()));
    if (axis < 0 || axis >= static_cast<int>(dims.size())) return invalid_argument("axis out of range");
    len = dims[axis];
  } else {
    len = mil::shape_numel(dims);
    x = emit_reshape(c, x, {len});
  }
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < cond.numel() && i < len; ++i)
    if (cond.get_i64(i) != 0) keep.push_back(i);
  if (keep.empty()) return c.fail("Compress selecting nothing (an empty output) is not converted");
  c.set_out(0, c.op("gather", {{"x", x}, {"indices", ti32(keep)}, {"axis", si32(axis)}}));
  return Status::Ok();
}

// ---- Hann / Hamming / Blackman windows (size must be constant) ----------------------------------------

Lowering window(std::vector<double> a) {
  return {[a](LowerContext& c) -> Status {
            IM_ASSIGN_OR_RETURN(auto st, c.need_const(0, "size"));
            const int64_t size = st.get_i64(0);
            if (size < 1 || size > (1 << 24)) return invalid_argument("window size out of range");
            const bool periodic = c.ai("periodic", 1) != 0;
            IM_ASSIGN_OR_RETURN(DType dt, mil_dtype_for(static_cast<int>(c.ai("output_datatype", TensorProto::FLOAT))));
            if (!mil::is_float(dt)) return c.fail("window output_datatype must be a float type");
            const double N = static_cast<double>(periodic ? size : size - 1);
            // w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), generated from the constant size.
            Tensor w(dt, {size});
            for (int64_t n = 0; n < size; ++n)
              w.set_f64(n, a[0] - a[1] * std::cos(2 * kPi * n / N) + a[2] * std::cos(4 * kPi * n / N));
            c.set_out_const(0, w);
            return Status::Ok();
          },
          nullptr};
}

// ---- DFT and STFT ----------------------------------------------------------------------------------

// cos/sin of 2 pi k n / N for k < K (output bins), n < N (samples): [N, K], laid out for x[.., N] @ M.
std::pair<Tensor, Tensor> dft_matrices(int64_t N, int64_t K) {
  Tensor cs(DType::kFp32, {N, K}), sn(DType::kFp32, {N, K});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double th = 2 * kPi * static_cast<double>((k * n) % N) / static_cast<double>(N);
      cs.set_f64(n * K + k, std::cos(th));
      sn.set_f64(n * K + k, std::sin(th));
    }
  return {cs, sn};
}

// Transform along the last axis of re/im (im may be empty for a real signal): [.., N] -> [.., K] each.
std::pair<std::string, std::string> dft_last_axis(LowerContext& c, const std::string& re, const std::string& im, int64_t N,
                                                  int64_t K, bool inverse) {
  auto [cs, sn] = dft_matrices(N, K);
  std::string C = c.b.constant(cs), S = c.b.constant(sn);
  // forward: X = sum x (cos - i sin); inverse: x = (1/N) sum X (cos + i sin).
  const double sgn = inverse ? 1.0 : -1.0;
  std::string out_re = c.op("matmul", {{"x", re}, {"y", C}});
  std::string out_im = c.op("mul", {{"x", c.op("matmul", {{"x", re}, {"y", S}})}, {"y", sf(DType::kFp32, sgn)}});
  if (!im.empty()) {
    out_re = c.op("sub", {{"x", out_re}, {"y", c.op("mul", {{"x", c.op("matmul", {{"x", im}, {"y", S}})}, {"y", sf(DType::kFp32, sgn)}})}});
    out_im = c.op("add", {{"x", out_im}, {"y", c.op("matmul", {{"x", im}, {"y", C}})}});
  }
  if (inverse) {
    out_re = c.op("mul", {{"x", out_re}, {"y", sf(DType::kFp32, 1.0 / N)}});
    out_im = c.op("mul", {{"x", out_im}, {"y", sf(DType::kFp32, 1.0 / N)}});
  }
  return {out_re, out_im};
}

std::string last_component(LowerContext& c, const std::string& x, const mil::Shape& dims, int64_t k) {
  std::vector<int64_t> b(dims.size(), 0), s(dims.begin(), dims.end());
  b.back() = k;
  s.back() = 1;
  auto v = c.op("slice_by_size", {{"x", x}, {"begin", ti32(b)}, {"size", ti32(s)}});
  return c.op("squeeze", {{"x", v}, {"axes", ti32({static_cast<int64_t>(dims.size()) - 1})}});
}

Status lower_dft(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(auto dims, static_shape_of(c, x));
  const int r = static_cast<int>(dims.size());
  if (value_dtype(c, x) != DType::kFp32) return c.fail("DFT of a non-fp32 signal");
  if (c.has_input(1)) return c.fail("dft_length input is not converted");
  const int axis = normalize_axis(c.ai("axis", 1), r);
  if (axis <= 0 || axis >= r - 1) return invalid_argument("DFT axis must be a signal axis (not the batch or complex axis)");
  const bool inverse = c.ai("inverse", 0) != 0, onesided = c.ai("onesided", 0) != 0;
  const int64_t N = dims[axis], K = onesided ? N / 2 + 1 : N;
  std::string re = last_component(c, x, dims, 0), im = dims.back() == 2 ? last_component(c, x, dims, 1) : "";
  // Move the signal axis last (rank r-1 after dropping the complex axis), transform, move it back.
  std::vector<int64_t> perm(static_cast<size_t>(r - 1));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[axis], perm[r - 2]);
  auto move = [&](const std::string& v) { return axis == r - 2 ? v : c.op("transpose", {{"x", v}, {"perm", ti32(perm)}}); };
  auto [yr, yi] = dft_last_axis(c, move(re), im.empty() ? "" : move(im), N, K, inverse);
  c.set_out(0, c.op("stack", {{"values", std::vector<std::string>{move(yr), move(yi)}}, {"axis", si32(r - 1)}}));
  return Status::Ok();
}

Status lower_stft(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(auto dims, static_shape_of(c, x));
  if (dims.size() != 3 || dims[2] != 1) return c.fail("STFT of a complex or non-[batch, length, 1] signal");
  if (c.ai("onesided", 1) == 0) return c.fail("STFT onesided=0 is not converted");
  IM_ASSIGN_OR_RETURN(auto step_t, c.need_const(1, "frame_step"));
  const int64_t step = step_t.get_i64(0);
  int64_t len = 0;
  std::string win;
  if (c.has_input(2)) {
    IM_ASSIGN_OR_RETURN(win, c.in(2));
    IM_ASSIGN_OR_RETURN(auto ws, static_shape_of(c, win));
    len = ws[0];
  }
  if (c.has_input(3)) {
    IM_ASSIGN_OR_RETURN(auto lt, c.need_const(3, "frame_length"));
    len = lt.get_i64(0);
  }
  if (len <= 0 || step <= 0 || len > dims[1]) return c.fail("STFT needs a frame length (window or frame_length) and a positive step");
  const int64_t frames = (dims[1] - len) / step + 1, K = len / 2 + 1;
  Tensor idx(DType::kInt32, {frames, len});
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t n = 0; n < len; ++n) idx.set_i64(f * len + n, f * step + n);
  auto sig = c.op("squeeze", {{"x", x}, {"axes", ti32({2})}});                              // [B, L]
  auto fr = c.op("gather", {{"x", sig}, {"indices", c.b.constant(idx)}, {"axis", si32(1)}});  // [B, F, len]
  if (!win.empty()) fr = c.op("mul", {{"x", fr}, {"y", win}});
  auto [yr, yi] = dft_last_axis(c, fr, "", len, K, false);
  c.set_out(0, c.op("stack", {{"values", std::vector<std::string>{yr, yi}}, {"axis", si32(3)}}));
  return Status::Ok();
}

// ---- Det: closed forms for 2x2 and 3x3 matrices -------------------------------------------------------

Status lower_det(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(auto dims, static_shape_of(c, x));
  const int r = static_cast<int>(dims.size());
  if (r < 2 || dims[r - 1] != dims[r - 2]) return c.fail("Det needs square matrices");
  const int64_t n = dims[r - 1];
  if (n != 2 && n != 3) return c.fail("Det of " + std::to_string(n) + "x" + std::to_string(n) + " matrices (only 2x2 and 3x3 are decomposed)");
  auto e = [&](int64_t i, int64_t j) {
    std::vector<int64_t> b(static_cast<size_t>(r), 0), s(dims.begin(), dims.end());
    b[r - 2] = i; b[r - 1] = j; s[r - 2] = 1; s[r - 1] = 1;
    auto v = c.op("slice_by_size", {{"x", x}, {"begin", ti32(b)}, {"size", ti32(s)}});
    return c.op("squeeze", {{"x", v}, {"axes", ti32({r - 2, r - 1})}});
  };
  auto mul = [&](const std::string& a, const std::string& b) { return c.op("mul", {{"x", a}, {"y", b}}); };
  auto sub = [&](const std::string& a, const std::string& b) { return c.op("sub", {{"x", a}, {"y", b}}); };
  std::string d;
  if (n == 2) {
    d = sub(mul(e(0, 0), e(1, 1)), mul(e(0, 1), e(1, 0)));
  } else {
    auto m0 = sub(mul(e(1, 1), e(2, 2)), mul(e(1, 2), e(2, 1)));
    auto m1 = sub(mul(e(1, 0), e(2, 2)), mul(e(1, 2), e(2, 0)));
    auto m2 = sub(mul(e(1, 0), e(2, 1)), mul(e(1, 1), e(2, 0)));
    d = c.op("add", {{"x", sub(mul(e(0, 0), m0), mul(e(0, 1), m1))}, {"y", mul(e(0, 2), m2)}});
  }
  if (r == 2 && c.type(d) && c.type(d)->rank() != 0) d = emit_reshape(c, d, {});
  c.set_out(0, d);
  return Status::Ok();
}

// ---- MaxUnpool: scatter the values to their flat indices in a zero tensor ------------------------------

Status lower_max_unpool(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(std::string ind, c.in(1));
  IM_ASSIGN_OR_RETURN(auto dims, static_shape_of(c, x));
  const size_t n = dims.size() - 2;
  // The indices address the default output shape (the pooled input's original shape); a larger
  // output_shape only adds zeros at the end of each spatial axis (ONNX's reference does the same).
  std::vector<int64_t> out(dims.begin(), dims.end());
  auto k = c.aints("kernel_shape");
  auto s = c.aints("strides");
  auto p = c.aints("pads");
  if (k.size() != n) return c.fail("kernel_shape must have one entry per spatial axis");
  for (size_t i = 0; i < n; ++i) {
    int64_t st = s.empty() ? 1 : s[i], pb = p.empty() ? 0 : p[i], pe = p.empty() ? 0 : p[n + i];
    out[2 + i] = (dims[2 + i] - 1) * st + k[i] - pb - pe;
  }
  std::vector<int64_t> requested = out;
  if (c.has_input(2)) {
    IM_ASSIGN_OR_RETURN(auto os, c.need_const(2, "output_shape"));
    requested = os.to_i64();
    if (requested.size() != out.size()) return c.fail("output_shape has the wrong rank");
    for (size_t i = 0; i < out.size(); ++i)
      if (requested[i] < out[i] || (i < 2 && requested[i] != out[i])) return c.fail("output_shape smaller than the default output shape");
  }
  for (auto d : requested) if (d <= 0 || d > (1 << 24)) return invalid_argument("MaxUnpool output shape out of range");
  const int64_t total = mil::shape_numel(out), m = mil::shape_numel(dims);
  if (total > (1 << 26)) return c.fail("MaxUnpool output too large");
  auto zeros = c.b.constant(Tensor(value_dtype(c, x), {total}));
  auto y = c.op("scatter", {{"data", zeros}, {"indices", emit_reshape(c, emit_cast(c, ind, DType::kInt32), {m})},
                            {"updates", emit_reshape(c, x, {m})}, {"axis", si32(0)}, {"mode", sstr("update")}});
  y = emit_reshape(c, y, out);
  if (requested != out) {
    std::vector<int64_t> pads;
    for (size_t i = 0; i < out.size(); ++i) { pads.push_back(0); pads.push_back(requested[i] - out[i]); }
    y = c.op("pad", {{"x", y}, {"pad", ti32(pads)}, {"mode", sstr("constant")}, {"constant_val", sf(value_dtype(c, x), 0)}});
  }
  c.set_out(0, y);
  return Status::Ok();
}

// ---- integer and quantized linear algebra in fp32 -------------------------------------------------------

// (q - zero_point) as fp32; the zero point may be per-row/column (1-D) or scalar.
Result<std::string> centered(LowerContext& c, int q_index, int zp_index, const std::vector<int64_t>& zp_shape = {}) {
  IM_ASSIGN_OR_RETURN(std::string q, c.in(q_index));
  std::string f = emit_cast(c, q, DType::kFp32);
  if (!c.has_input(zp_index)) return f;
  IM_ASSIGN_OR_RETURN(std::string zp, c.in(zp_index));
  std::string z = emit_cast(c, zp, DType::kFp32);
  if (!zp_shape.empty() && rank_or(c, z) == 1) z = emit_reshape(c, z, zp_shape);
  return c.op("sub", {{"x", f}, {"y", z}});
}

// Rounds half to even (ONNX's rule for quantization), saturates to the target type, returns int32.
std::string requantize(LowerContext& c, const std::string& v, int onnx_dtype) {
  double lo = 0, hi = 255;
  if (onnx_dtype == TensorProto::INT8) { lo = -128; hi = 127; }
  auto r = c.op("round", {{"x", v}});
  r = c.op("minimum", {{"x", c.op("maximum", {{"x", r}, {"y", sf(DType::kFp32, lo)}})}, {"y", sf(DType::kFp32, hi)}});
  return c.op("cast", {{"x", r}, {"dtype", sstr("int32")}});
}

Status lower_matmul_integer(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(auto a, centered(c, 0, 2, {-1, 1}));
  IM_ASSIGN_OR_RETURN(auto b, centered(c, 1, 3));
  c.set_out(0, c.op("cast", {{"x", c.op("matmul", {{"x", a}, {"y", b}})}, {"dtype", sstr("int32")}}));
  return Status::Ok();
}

Result<std::string> conv_fp32(LowerContext& c, const std::string& x, const std::string& w) {
  IM_ASSIGN_OR_RETURN(auto xs, static_shape_of(c, x));
  IM_ASSIGN_OR_RETURN(auto ws, static_shape_of(c, w));
  const size_t n = xs.size() - 2;
  auto strides = c.aints("strides"), dil = c.aints("dilations"), pads = c.aints("pads");
  if (strides.empty()) strides.assign(n, 1);
  if (dil.empty()) dil.assign(n, 1);
  std::string auto_pad = c.as("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") return c.fail("auto_pad " + auto_pad + " on a quantized convolution");
  std::vector<int64_t> mil_pads(2 * n, 0);
  if (!pads.empty() && auto_pad == "NOTSET")
    for (size_t i = 0; i < n; ++i) { mil_pads[2 * i] = pads[i]; mil_pads[2 * i + 1] = pads[n + i]; }
  return c.op("conv", {{"x", x}, {"weight", w}, {"strides", ti32(strides)}, {"dilations", ti32(dil)}, {"pad_type", sstr("custom")},
                       {"pad", ti32(mil_pads)}, {"groups", si32(c.ai("group", 1))}});
}

Status lower_conv_integer(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(auto x, centered(c, 0, 2));
  IM_ASSIGN_OR_RETURN(auto w, centered(c, 1, 3, {-1, 1, 1, 1}));
  IM_ASSIGN_OR_RETURN(auto y, conv_fp32(c, x, w));
  c.set_out(0, c.op("cast", {{"x", y}, {"dtype", sstr("int32")}}));
  return Status::Ok();
}

Status lower_qlinear_matmul(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(auto a, centered(c, 0, 2, {-1, 1}));
  IM_ASSIGN_OR_RETURN(auto b, centered(c, 3, 5));
  IM_ASSIGN_OR_RETURN(std::string as, c.in(1));
  IM_ASSIGN_OR_RETURN(std::string bs, c.in(4));
  IM_ASSIGN_OR_RETURN(std::string ys, c.in(6));
  if (rank_or(c, as) == 1) as = emit_reshape(c, as, {-1, 1});
  auto acc = c.op("matmul", {{"x", c.op("mul", {{"x", a}, {"y", as}})}, {"y", c.op("mul", {{"x", b}, {"y", bs}})}});
  auto v = c.op("real_div", {{"x", acc}, {"y", ys}});
  if (c.has_input(7)) { IM_ASSIGN_OR_RETURN(std::string yz, c.in(7)); v = c.op("add", {{"x", v}, {"y", emit_cast(c, yz, DType::kFp32)}}); }
  c.set_out(0, requantize(c, v, c.has_input(7) ? c.onnx_dtype_in(7) : TensorProto::UINT8));
  return Status::Ok();
}

Status lower_qlinear_conv(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(auto x, centered(c, 0, 2));
  IM_ASSIGN_OR_RETURN(auto w, centered(c, 3, 5, {-1, 1, 1, 1}));
  IM_ASSIGN_OR_RETURN(std::string xs, c.in(1));
  IM_ASSIGN_OR_RETURN(std::string wsc, c.in(4));
  IM_ASSIGN_OR_RETURN(std::string ys, c.in(6));
  if (rank_or(c, wsc) == 1) wsc = emit_reshape(c, wsc, {-1, 1, 1, 1});
  IM_ASSIGN_OR_RETURN(auto acc, conv_fp32(c, c.op("mul", {{"x", x}, {"y", xs}}), c.op("mul", {{"x", w}, {"y", wsc}})));
  if (c.has_input(8)) {  // int32 bias, quantized with scale x_scale * w_scale
    IM_ASSIGN_OR_RETURN(std::string bias, c.in(8));
    auto bscale = c.op("mul", {{"x", xs}, {"y", wsc}});
    auto bf = c.op("mul", {{"x", emit_reshape(c, emit_cast(c, bias, DType::kFp32), {-1, 1, 1})}, {"y", emit_reshape(c, bscale, {-1, 1, 1})}});
    acc = c.op("add", {{"x", acc}, {"y", bf}});
  }
  auto v = c.op("real_div", {{"x", acc}, {"y", ys}});
  if (c.has_input(7)) { IM_ASSIGN_OR_RETURN(std::string yz, c.in(7)); v = c.op("add", {{"x", v}, {"y", emit_cast(c, yz, DType::kFp32)}}); }
  c.set_out(0, requantize(c, v, c.has_input(7) ? c.onnx_dtype_in(7) : TensorProto::UINT8));
  return Status::Ok();
}

Status lower_dynamic_quantize(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  auto mx = c.op("maximum", {{"x", c.op("reduce_max", {{"x", x}, {"keep_dims", sbool(false)}})}, {"y", sf(DType::kFp32, 0)}});
  auto mn = c.op("minimum", {{"x", c.op("reduce_min", {{"x", x}, {"keep_dims", sbool(false)}})}, {"y", sf(DType::kFp32, 0)}});
  auto scale = c.op("real_div", {{"x", c.op("sub", {{"x", mx}, {"y", mn}})}, {"y", sf(DType::kFp32, 255)}});
  auto zp_f = c.op("sub", {{"x", sf(DType::kFp32, 0)}, {"y", c.op("real_div", {{"x", mn}, {"y", scale}})}});
  auto zp = requantize(c, zp_f, TensorProto::UINT8);
  auto y = requantize(c, c.op("add", {{"x", c.op("round", {{"x", c.op("real_div", {{"x", x}, {"y", scale}})}})},
                                     {"y", emit_cast(c, zp, DType::kFp32)}}), TensorProto::UINT8);
  c.set_out(0, y);
  c.set_out(1, scale);
  c.set_out(2, zp);
  return Status::Ok();
}


// ---- optimizer updates (ai.onnx.preview.training): plain elementwise formulas on runtime inputs ----------

// Inputs R, T, then `groups` blocks of n tensors (X..., G..., [V...], [H...]); n from the input count.
struct OptimizerInputs {
  std::string r, t_f, t_positive;
  int n = 0;
};

Result<OptimizerInputs> optimizer_inputs(LowerContext& c, int groups) {
  OptimizerInputs o;
  if ((c.num_inputs() - 2) % groups != 0 || c.num_inputs() <= 2) return c.fail("unexpected number of inputs");
  o.n = (c.num_inputs() - 2) / groups;
  IM_ASSIGN_OR_RETURN(o.r, c.in(0));
  IM_ASSIGN_OR_RETURN(std::string t, c.in(1));
  o.t_f = emit_cast(c, t, DType::kFp32);
  o.t_positive = c.op("greater", {{"x", o.t_f}, {"y", sf(DType::kFp32, 0)}});
  return o;
}

std::string regularized(LowerContext& c, const std::string& x, const std::string& g) {
  return c.op("add", {{"x", c.op("mul", {{"x", x}, {"y", sf(DType::kFp32, c.af("norm_coefficient", 0.f))}})}, {"y", g}});
}

Status lower_adagrad(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(auto o, optimizer_inputs(c, 3));
  auto denom = c.op("add", {{"x", c.op("mul", {{"x", o.t_f}, {"y", sf(DType::kFp32, c.af("decay_factor", 0.f))}})}, {"y", sf(DType::kFp32, 1)}});
  auto r = c.op("real_div", {{"x", o.r}, {"y", denom}});
  for (int i = 0; i < o.n; ++i) {
    IM_ASSIGN_OR_RETURN(std::string x, c.in(2 + i));
    IM_ASSIGN_OR_RETURN(std::string g, c.in(2 + o.n + i));
    IM_ASSIGN_OR_RETURN(std::string h, c.in(2 + 2 * o.n + i));
    auto gr = regularized(c, x, g);
    auto h_new = c.op("add", {{"x", h}, {"y", c.op("mul", {{"x", gr}, {"y", gr}})}});
    auto h_sqrt = c.op("add", {{"x", c.op("sqrt", {{"x", h_new}})}, {"y", sf(DType::kFp32, c.af("epsilon", 0.f))}});
    auto x_new = c.op("sub", {{"x", x}, {"y", c.op("real_div", {{"x", c.op("mul", {{"x", gr}, {"y", r}})}, {"y", h_sqrt}})}});
    c.set_out(i, x_new);
    c.set_out(o.n + i, h_new);
  }
  return Status::Ok();
}

Status lower_momentum(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(auto o, optimizer_inputs(c, 3));
  const std::string mode = c.as("mode", "standard");
  if (mode != "standard" && mode != "nesterov") return c.fail("Momentum mode '" + mode + "'");
  const float alpha = c.af("alpha", 0.f);
  // beta applies from the second iteration on (T > 0); the first step takes the gradient as is.
  auto beta = c.op("select", {{"cond", o.t_positive}, {"a", sf(DType::kFp32, c.af("beta", 0.f))}, {"b", sf(DType::kFp32, 1)}});
  for (int i = 0; i < o.n; ++i) {
    IM_ASSIGN_OR_RETURN(std::string x, c.in(2 + i));
    IM_ASSIGN_OR_RETURN(std::string g, c.in(2 + o.n + i));
    IM_ASSIGN_OR_RETURN(std::string v, c.in(2 + 2 * o.n + i));
    auto gr = regularized(c, x, g);
    auto v_new = c.op("add", {{"x", c.op("mul", {{"x", v}, {"y", sf(DType::kFp32, alpha)}})}, {"y", c.op("mul", {{"x", gr}, {"y", beta}})}});
    auto step = mode == "standard" ? v_new : c.op("add", {{"x", gr}, {"y", c.op("mul", {{"x", v_new}, {"y", sf(DType::kFp32, alpha)}})}});
    c.set_out(i, c.op("sub", {{"x", x}, {"y", c.op("mul", {{"x", step}, {"y", o.r}})}}));
    c.set_out(o.n + i, v_new);
  }
  return Status::Ok();
}

Status lower_adam(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(auto o, optimizer_inputs(c, 4));
  const float alpha = c.af("alpha", 0.9f), beta = c.af("beta", 0.999f), eps = c.af("epsilon", 1e-6f);
  const float post = c.af("norm_coefficient_post", 0.f);
  // Bias-corrected rate r * sqrt(1 - beta^T) / (1 - alpha^T) when T > 0, else r.
  auto pw = [&](float base) { return c.op("pow", {{"x", sf(DType::kFp32, base)}, {"y", o.t_f}}); };
  auto one_minus = [&](const std::string& v) { return c.op("sub", {{"x", sf(DType::kFp32, 1)}, {"y", v}}); };
  auto corrected = c.op("real_div", {{"x", c.op("mul", {{"x", o.r}, {"y", c.op("sqrt", {{"x", one_minus(pw(beta))}})}})}, {"y", one_minus(pw(alpha))}});
  auto r = c.op("select", {{"cond", o.t_positive}, {"a", corrected}, {"b", o.r}});
  for (int i = 0; i < o.n; ++i) {
    IM_ASSIGN_OR_RETURN(std::string x, c.in(2 + i));
    IM_ASSIGN_OR_RETURN(std::string g, c.in(2 + o.n + i));
    IM_ASSIGN_OR_RETURN(std::string v, c.in(2 + 2 * o.n + i));
    IM_ASSIGN_OR_RETURN(std::string h, c.in(2 + 3 * o.n + i));
    auto gr = regularized(c, x, g);
    auto v_new = c.op("add", {{"x", c.op("mul", {{"x", v}, {"y", sf(DType::kFp32, alpha)}})}, {"y", c.op("mul", {{"x", gr}, {"y", sf(DType::kFp32, 1 - alpha)}})}});
    auto h_new = c.op("add", {{"x", c.op("mul", {{"x", h}, {"y", sf(DType::kFp32, beta)}})},
                              {"y", c.op("mul", {{"x", c.op("mul", {{"x", gr}, {"y", gr}})}, {"y", sf(DType::kFp32, 1 - beta)}})}});
    auto h_sqrt = c.op("add", {{"x", c.op("sqrt", {{"x", h_new}})}, {"y", sf(DType::kFp32, eps)}});
    auto x_new = c.op("sub", {{"x", x}, {"y", c.op("mul", {{"x", r}, {"y", c.op("real_div", {{"x", v_new}, {"y", h_sqrt}})}})}});
    c.set_out(i, c.op("mul", {{"x", x_new}, {"y", sf(DType::kFp32, 1 - post)}}));
    c.set_out(o.n + i, v_new);
    c.set_out(2 * o.n + i, h_new);
  }
  return Status::Ok();
}


// ---- GridSample (PyTorch grid_sample semantics, which ONNX specifies and its tests encode) ---------------

struct GridSampler {
  LowerContext& c;
  std::string xflat;  // [N, C, H*W]
  int64_t N, C, H, W, Ho, Wo;
  std::string padding;
  bool align;

  std::string f(double v) { return c.b.constant(sf(DType::kFp32, v)); }
  std::string add(const std::string& a, const std::string& b) { return c.op("add", {{"x", a}, {"y", b}}); }
  std::string sub(const std::string& a, const std::string& b) { return c.op("sub", {{"x", a}, {"y", b}}); }
  std::string mul(const std::string& a, const std::string& b) { return c.op("mul", {{"x", a}, {"y", b}}); }
  std::string floor(const std::string& a) { return c.op("floor", {{"x", a}}); }
  std::string clamp(const std::string& a, double lo, double hi) {
    return c.op("minimum", {{"x", c.op("maximum", {{"x", a}, {"y", f(lo)}})}, {"y", f(hi)}});
  }
  // grid coordinate in [-1, 1] -> pixel coordinate
  std::string unnormalize(const std::string& g, int64_t size) {
    if (align) return mul(add(g, f(1)), f((size - 1) / 2.0));
    return c.op("real_div", {{"x", sub(mul(add(g, f(1)), f(static_cast<double>(size))), f(1))}, {"y", f(2)}});
  }
  std::string reflect(const std::string& x, double twice_low, double twice_high) {
    if (twice_low == twice_high) return mul(x, f(0));
    const double mn = twice_low / 2, span = (twice_high - twice_low) / 2;
    auto a = c.op("abs", {{"x", sub(x, f(mn))}});
    auto flips = floor(c.op("real_div", {{"x", a}, {"y", f(span)}}));
    auto extra = sub(a, mul(flips, f(span)));
    auto even = c.op("equal", {{"x", sub(flips, mul(floor(mul(flips, f(0.5))), f(2)))}, {"y", f(0)}});
    return c.op("select", {{"cond", even}, {"a", add(extra, f(mn))}, {"b", add(sub(f(span), extra), f(mn))}});
  }
  // padding_mode applied to a source coordinate (border: clamp; reflection: reflect, then clamp)
  std::string pad_coord(const std::string& x, int64_t size) {
    if (padding == "border") return clamp(x, 0, static_cast<double>(size - 1));
    if (padding == "reflection") {
      auto r = align ? reflect(x, 0, 2.0 * (size - 1)) : reflect(x, -1, 2.0 * size - 1);
      return clamp(r, 0, static_cast<double>(size - 1));
    }
    return x;
  }
  // X at integer-valued coordinates (ix, iy: [N, Ho, Wo]); 0 outside the image -> [N, C, Ho, Wo]
  std::string fetch(const std::string& ix, const std::string& iy) {
    auto inside = c.op("logical_and", {{"x", c.op("logical_and", {{"x", c.op("greater_equal", {{"x", ix}, {"y", f(0)}})},
                                                                  {"y", c.op("less_equal", {{"x", ix}, {"y", f(static_cast<double>(W - 1))}})}})},
                                       {"y", c.op("logical_and", {{"x", c.op("greater_equal", {{"x", iy}, {"y", f(0)}})},
                                                                  {"y", c.op("less_equal", {{"x", iy}, {"y", f(static_cast<double>(H - 1))}})}})}});
    auto lin = add(mul(clamp(iy, 0, static_cast<double>(H - 1)), f(static_cast<double>(W))), clamp(ix, 0, static_cast<double>(W - 1)));
    auto idx = c.op("cast", {{"x", c.op("reshape", {{"x", lin}, {"shape", ti32({N, 1, Ho * Wo})}})}, {"dtype", sstr("int32")}});
    idx = c.op("tile", {{"x", idx}, {"reps", ti32({1, C, 1})}});
    auto v = c.op("reshape", {{"x", c.op("gather_along_axis", {{"x", xflat}, {"indices", idx}, {"axis", si32(2)}})}, {"shape", ti32({N, C, Ho, Wo})}});
    auto m = c.op("reshape", {{"x", c.op("cast", {{"x", inside}, {"dtype", sstr("fp32")}})}, {"shape", ti32({N, 1, Ho, Wo})}});
    return mul(v, m);
  }
  std::string weighted(const std::string& v, const std::string& w) {
    return mul(v, c.op("reshape", {{"x", w}, {"shape", ti32({N, 1, Ho, Wo})}}));
  }
  std::vector<std::string> cubic_weights(const std::string& t) {
    const double A = -0.75;
    auto one_minus = sub(f(1), t), t1 = add(t, f(1)), t2 = sub(f(2), t);
    auto outer = [&](const std::string& d) {  // ((A d - 5A) d + 8A) d - 4A
      return sub(mul(add(mul(sub(mul(d, f(A)), f(5 * A)), d), f(8 * A)), d), f(4 * A));
    };
    auto inner = [&](const std::string& d) {  // ((A + 2) d - (A + 3)) d d + 1
      return add(mul(mul(sub(mul(d, f(A + 2)), f(A + 3)), d), d), f(1));
    };
    return {outer(t1), inner(t), inner(one_minus), outer(t2)};
  }
};

Status lower_grid_sample(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(std::string grid, c.in(1));
  IM_ASSIGN_OR_RETURN(auto xs, static_shape_of(c, x));
  IM_ASSIGN_OR_RETURN(auto gs, static_shape_of(c, grid));
  if (xs.size() != 4 || gs.size() != 4 || gs[3] != 2) return c.fail("GridSample needs a 4-D input and an [N, H, W, 2] grid");
  if (value_dtype(c, x) != DType::kFp32) return c.fail("GridSample of a non-fp32 tensor");
  GridSampler s{c, "", xs[0], xs[1], xs[2], xs[3], gs[1], gs[2], c.as("padding_mode", "zeros"), c.ai("align_corners", 0) != 0};
  if (s.padding != "zeros" && s.padding != "border" && s.padding != "reflection") return c.fail("padding_mode '" + s.padding + "'");
  const std::string mode = c.as("mode", "bilinear");
  s.xflat = emit_reshape(c, x, {s.N, s.C, s.H * s.W});
  auto comp = [&](int64_t k) {
    auto v = c.op("slice_by_size", {{"x", grid}, {"begin", ti32({0, 0, 0, k})}, {"size", ti32({s.N, s.Ho, s.Wo, 1})}});
    return c.op("squeeze", {{"x", v}, {"axes", ti32({3})}});
  };
  auto ix = s.unnormalize(comp(0), s.W), iy = s.unnormalize(comp(1), s.H);
  std::string y;
  if (mode == "nearest") {
    y = s.fetch(c.op("round", {{"x", s.pad_coord(ix, s.W)}}), c.op("round", {{"x", s.pad_coord(iy, s.H)}}));
  } else if (mode == "bilinear") {
    ix = s.pad_coord(ix, s.W);
    iy = s.pad_coord(iy, s.H);
    auto x0 = s.floor(ix), y0 = s.floor(iy), x1 = s.add(x0, s.f(1)), y1 = s.add(y0, s.f(1));
    auto wx1 = s.sub(ix, x0), wy1 = s.sub(iy, y0), wx0 = s.sub(s.f(1), wx1), wy0 = s.sub(s.f(1), wy1);
    y = s.add(s.add(s.weighted(s.fetch(x0, y0), s.mul(wx0, wy0)), s.weighted(s.fetch(x1, y0), s.mul(wx1, wy0))),
              s.add(s.weighted(s.fetch(x0, y1), s.mul(wx0, wy1)), s.weighted(s.fetch(x1, y1), s.mul(wx1, wy1))));
  } else if (mode == "bicubic") {
    auto x0 = s.floor(ix), y0 = s.floor(iy);
    auto wx = s.cubic_weights(s.sub(ix, x0)), wy = s.cubic_weights(s.sub(iy, y0));
    for (int j = 0; j < 4; ++j) {
      auto yj = s.pad_coord(s.add(y0, s.f(j - 1.0)), s.H);
      for (int i = 0; i < 4; ++i) {
        auto xi = s.pad_coord(s.add(x0, s.f(i - 1.0)), s.W);
        auto term = s.weighted(s.fetch(xi, yj), s.mul(wx[i], wy[j]));
        y = y.empty() ? term : s.add(y, term);
      }
    }
  } else {
    return c.fail("GridSample mode '" + mode + "'");
  }
  c.set_out(0, y);
  return Status::Ok();
}

}  // namespace

// BatchNormalization with training_mode=1: batch statistics, plus the running-statistic updates.
Status lower_batch_norm_training(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  IM_ASSIGN_OR_RETURN(std::string scale, c.in(1));
  IM_ASSIGN_OR_RETURN(std::string bias, c.in(2));
  IM_ASSIGN_OR_RETURN(std::string mean_in, c.in(3));
  IM_ASSIGN_OR_RETURN(std::string var_in, c.in(4));
  const int r = rank_or(c, x);
  if (r < 2) return c.fail("input rank must be known and >= 2");
  std::vector<int64_t> axes{0}, cshape{-1};
  for (int i = 2; i < r; ++i) { axes.push_back(i); cshape.push_back(1); }
  const DType dt = value_dtype(c, x);
  auto mean_k = c.op("reduce_mean", {{"x", x}, {"axes", ti32(axes)}, {"keep_dims", sbool(true)}});
  auto diff = c.op("sub", {{"x", x}, {"y", mean_k}});
  auto var_k = c.op("reduce_mean", {{"x", c.op("mul", {{"x", diff}, {"y", diff}})}, {"axes", ti32(axes)}, {"keep_dims", sbool(true)}});
  auto denom = c.op("sqrt", {{"x", c.op("add", {{"x", var_k}, {"y", sf(dt, c.af("epsilon", 1e-5f))}})}});
  auto y = c.op("mul", {{"x", c.op("real_div", {{"x", diff}, {"y", denom}})}, {"y", emit_reshape(c, scale, cshape)}});
  c.set_out(0, c.op("add", {{"x", y}, {"y", emit_reshape(c, bias, cshape)}}));
  const double m = c.af("momentum", 0.9f);
  auto running = [&](const std::string& in, const std::string& batch_k) {
    auto batch = emit_reshape(c, batch_k, {-1});
    return c.op("add", {{"x", c.op("mul", {{"x", in}, {"y", sf(dt, m)}})}, {"y", c.op("mul", {{"x", batch}, {"y", sf(dt, 1 - m)}})}});
  };
  if (c.has_output(1)) c.set_out(1, running(mean_in, mean_k));
  if (c.has_output(2)) c.set_out(2, running(var_in, var_k));
  return Status::Ok();
}

void add_misc_lowerings(std::map<std::string, Lowering>& t) {
  t["BitShift"] = {lower_bitshift, nullptr};
  t["Compress"] = {lower_compress, nullptr};
  t["HannWindow"] = window({0.5, 0.5, 0});
  t["HammingWindow"] = window({25.0 / 46.0, 21.0 / 46.0, 0});
  t["BlackmanWindow"] = window({0.42, 0.5, 0.08});
  t["DFT"] = {lower_dft, nullptr};
  t["STFT"] = {lower_stft, nullptr};
  t["Det"] = {lower_det, nullptr};
  t["MaxUnpool"] = {lower_max_unpool, nullptr};
  t["MatMulInteger"] = {lower_matmul_integer, nullptr};
  t["ConvInteger"] = {lower_conv_integer, nullptr};
  t["QLinearMatMul"] = {lower_qlinear_matmul, nullptr};
  t["QLinearConv"] = {lower_qlinear_conv, nullptr};
  t["DynamicQuantizeLinear"] = {lower_dynamic_quantize, nullptr};
  t["GridSample"] = {lower_grid_sample, nullptr};
  t["Adagrad"] = {lower_adagrad, nullptr};
  t["Momentum"] = {lower_momentum, nullptr};
  t["Adam"] = {lower_adam, nullptr};
}

}  // namespace ironmill::frontends::onnx
