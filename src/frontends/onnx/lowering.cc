// ONNX op -> MIL lowerings. Where MIL requires a constant that ONNX allows at run time (batch_norm's
// statistics, clip's bounds, linear's weight), the op is decomposed into elementwise MIL ops instead.
#include "frontends/onnx/lowering.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "frontends/onnx/onnx_importer.h"

namespace ironmill::frontends::onnx {
using mil::DType;
using mil::Tensor;
using Ctx = LowerContext;

namespace {

#define IN(var, i) IM_ASSIGN_OR_RETURN(std::string var, c.in(i))
#define TYPE(var, name)                                                \
  const mil::Type* var##_p = c.type(name);                             \
  if (!var##_p) return internal_error("no type for '" + name + "'");   \
  const mil::Type var = *var##_p

std::string dtype_str(DType d) { return std::string(mil::dtype_name(d)); }

DType dtype_of(Ctx& c, const std::string& n) { return c.type(n) ? c.type(n)->dtype : DType::kFp32; }
int rank_of(Ctx& c, const std::string& n) { return c.type(n) ? c.type(n)->rank() : -1; }

Result<int> need_rank(Ctx& c, const std::string& n) {
  int r = rank_of(c, n);
  if (r < 0) return c.fail("input rank must be known");
  return r;
}
Result<mil::Shape> need_static_shape(Ctx& c, const std::string& n) {
  const mil::Type* t = c.type(n);
  if (!t || !t->fully_known()) return c.fail("needs a static input shape; '" + n + "' is " + (t ? mil::type_to_string(*t) : "untyped"));
  return t->dims;
}

std::string cast(Ctx& c, const std::string& x, DType to) {
  if (dtype_of(c, x) == to) return x;
  return c.op("cast", {{"x", x}, {"dtype", sstr(dtype_str(to))}});
}

std::string reshape(Ctx& c, const std::string& x, const std::vector<int64_t>& shape) {
  return c.op("reshape", {{"x", x}, {"shape", ti32(shape)}});
}

// [C] parameter -> [C, 1, ..., 1] so it broadcasts against an NC... tensor of rank `rank`.
std::string per_channel(Ctx& c, const std::string& p, int rank) {
  std::vector<int64_t> s = {-1};
  for (int i = 2; i < rank; ++i) s.push_back(1);
  return reshape(c, p, s);
}

Tensor scalar_like(Ctx& c, const std::string& x, double v) { return sf(dtype_of(c, x), v); }

std::vector<int64_t> to_ints(const Tensor& t) { return t.to_i64(); }

Lowering unary(const std::string& mil_op) {
  return {[mil_op](Ctx& c) -> Status {
            IN(x, 0);
            c.set_out(0, c.op(mil_op, {{"x", x}}));
            return Status::Ok();
          },
          nullptr};
}

Lowering binary(const std::string& mil_op) {
  return {[mil_op](Ctx& c) -> Status {
            IN(x, 0);
            IN(y, 1);
            c.set_out(0, c.op(mil_op, {{"x", x}, {"y", y}}));
            return Status::Ok();
          },
          nullptr};
}

Lowering variadic(const std::string& mil_op, bool mean = false) {
  return {[mil_op, mean](Ctx& c) -> Status {
            IN(acc, 0);
            for (int i = 1; i < c.num_inputs(); ++i) {
              IN(y, i);
              acc = c.op(mil_op, {{"x", acc}, {"y", y}});
            }
            if (c.num_inputs() == 1) acc = c.op("identity", {{"x", acc}});
            if (mean) acc = c.op("real_div", {{"x", acc}, {"y", scalar_like(c, acc, c.num_inputs())}});
            c.set_out(0, acc);
            return Status::Ok();
          },
          nullptr};
}

// x with attributes applied by a MIL activation taking alpha/beta constants.
Lowering activation(const std::string& mil_op, std::vector<std::pair<std::string, std::pair<std::string, float>>> params) {
  return {[mil_op, params](Ctx& c) -> Status {
            IN(x, 0);
            std::map<std::string, mil::Builder::Arg> args{{"x", x}};
            for (const auto& [mil_name, onnx] : params) args[mil_name] = scalar_like(c, x, c.af(onnx.first, onnx.second));
            c.set_out(0, c.op(mil_op, args));
            return Status::Ok();
          },
          nullptr};
}

std::string check_no_second_output(const ::onnx::NodeProto& n, const char* what) {
  for (int i = 1; i < n.output_size(); ++i)
    if (!n.output(i).empty()) return what;
  return "";
}

// ---- padding shared by conv and pools ---------------------------------------------------------------

// Explicit MIL pads ([b0, e0, b1, e1, ...]) from ONNX auto_pad / pads for a static input.
Result<std::vector<int64_t>> resolve_pads(Ctx& c, const mil::Shape& in_spatial, const std::vector<int64_t>& kernel,
                                          const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations) {
  const size_t n = in_spatial.size();
  std::string auto_pad = c.as("auto_pad", "NOTSET");
  std::vector<int64_t> out(2 * n, 0);
  if (auto_pad == "NOTSET") {
    auto pads = c.aints("pads");
    if (pads.empty()) return out;
    if (pads.size() != 2 * n) return c.fail("pads has " + std::to_string(pads.size()) + " values, expected " + std::to_string(2 * n));
    for (size_t i = 0; i < n; ++i) { out[2 * i] = pads[i]; out[2 * i + 1] = pads[n + i]; }
    return out;
  }
  if (auto_pad == "VALID") return out;
  if (auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") return c.fail("auto_pad " + auto_pad);
  for (size_t i = 0; i < n; ++i) {
    int64_t d = in_spatial[i], s = strides[i], k_eff = (kernel[i] - 1) * dilations[i] + 1;
    int64_t o = (d + s - 1) / s;
    int64_t total = std::max<int64_t>(0, (o - 1) * s + k_eff - d);
    int64_t small = total / 2, big = total - small;
    out[2 * i] = auto_pad == "SAME_UPPER" ? small : big;
    out[2 * i + 1] = auto_pad == "SAME_UPPER" ? big : small;
  }
  return out;
}

std::vector<int64_t> ints_or(const std::vector<int64_t>& v, size_t n, int64_t def) {
  return v.empty() ? std::vector<int64_t>(n, def) : v;
}

Status lower_conv(Ctx& c) {
  IN(x, 0);
  IN(w, 1);
  IM_ASSIGN_OR_RETURN(auto xs, need_static_shape(c, x));
  IM_ASSIGN_OR_RETURN(auto ws, need_static_shape(c, w));
  const size_t n = xs.size() - 2;
  std::vector<int64_t> kernel(ws.begin() + 2, ws.end());
  auto strides = ints_or(c.aints("strides"), n, 1), dil = ints_or(c.aints("dilations"), n, 1);
  IM_ASSIGN_OR_RETURN(auto pads, resolve_pads(c, mil::Shape(xs.begin() + 2, xs.end()), kernel, strides, dil));
  std::map<std::string, mil::Builder::Arg> args{{"x", x}, {"weight", w}, {"strides", ti32(strides)},
      {"dilations", ti32(dil)}, {"pad_type", sstr("custom")}, {"pad", ti32(pads)}, {"groups", si32(c.ai("group", 1))}};
  if (c.has_input(2)) { IN(bias, 2); args["bias"] = bias; }
  c.set_out(0, c.op("conv", args));
  return Status::Ok();
}

Status lower_conv_transpose(Ctx& c) {
  IN(x, 0);
  IN(w, 1);
  IM_ASSIGN_OR_RETURN(auto xs, need_static_shape(c, x));
  IM_ASSIGN_OR_RETURN(auto ws, need_static_shape(c, w));
  const size_t n = xs.size() - 2;
  const int64_t group = c.ai("group", 1);
  std::vector<int64_t> kernel(ws.begin() + 2, ws.end());
  auto strides = ints_or(c.aints("strides"), n, 1), dil = ints_or(c.aints("dilations"), n, 1);
  auto out_pad = ints_or(c.aints("output_padding"), n, 0);
  auto out_shape = c.aints("output_shape");
  std::string auto_pad = c.as("auto_pad", "NOTSET");
  std::vector<int64_t> pads(2 * n, 0);
  if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    if (!out_shape.empty() && out_shape.size() == n + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    for (size_t i = 0; i < n; ++i) {
      int64_t target = out_shape.empty() ? xs[2 + i] * strides[i] : out_shape[i];
      int64_t total = strides[i] * (xs[2 + i] - 1) + out_pad[i] + ((kernel[i] - 1) * dil[i] + 1) - target;
      if (total < 0) {  // output_shape beyond the full result: zero-extend at the end (before the bias)
        pads[2 * i] = 0;
        pads[2 * i + 1] = total;
        continue;
      }
      // ONNX: SAME_UPPER puts the extra padding at the start of the *input* (the end of the output).
      int64_t half = total / 2;
      pads[2 * i] = auto_pad == "SAME_UPPER" ? half : total - half;
      pads[2 * i + 1] = total - pads[2 * i];
    }
  } else {
    auto p = c.aints("pads");
    if (!p.empty())
      for (size_t i = 0; i < n; ++i) { pads[2 * i] = p[i]; pads[2 * i + 1] = p[n + i]; }
  }
  // MIL has no output_padding: run with pad_end reduced by output_padding (negative pad is not allowed,
  // so crop/extend afterwards), then add bias.
  std::vector<int64_t> mil_pads = pads, extra(n, 0);
  for (size_t i = 0; i < n; ++i) {
    int64_t end = pads[2 * i + 1] - out_pad[i];
    if (end < 0) { extra[i] = -end; end = 0; }
    mil_pads[2 * i + 1] = end;
  }
  std::string y = c.op("conv_transpose", {{"x", x}, {"weight", w}, {"strides", ti32(strides)}, {"dilations", ti32(dil)},
                                           {"pad_type", sstr("custom")}, {"pad", ti32(mil_pads)}, {"groups", si32(group)}});
  bool any_extra = std::any_of(extra.begin(), extra.end(), [](int64_t e) { return e > 0; });
  if (any_extra) {
    std::vector<int64_t> p(2 * (n + 2), 0);
    for (size_t i = 0; i < n; ++i) p[2 * (i + 2) + 1] = extra[i];
    y = c.op("pad", {{"x", y}, {"pad", ti32(p)}, {"mode", sstr("constant")}, {"constant_val", scalar_like(c, y, 0)}});
  }
  if (c.has_input(2)) {
    IN(bias, 2);
    y = c.op("add", {{"x", y}, {"y", per_channel(c, bias, static_cast<int>(n + 2))}});
  }
  c.set_out(0, y);
  return Status::Ok();
}

// MaxPool through a gather of every window (used for dilations, the Indices output and storage_order,
// which MIL max_pool lacks): pad with -inf, gather the K window elements of each of the O outputs with
// a constant index table, reduce_max over K; Indices map reduce_argmax back to flat input positions.
Status lower_max_pool_by_gather(Ctx& c, const std::string& x) {
  IM_ASSIGN_OR_RETURN(auto xs, need_static_shape(c, x));
  const size_t n = xs.size() - 2;
  auto kernel = c.aints("kernel_shape");
  if (kernel.size() != n) return c.fail("kernel_shape must have " + std::to_string(n) + " values");
  if (c.ai("ceil_mode", 0) != 0) return c.fail("ceil_mode=1 together with dilations or the Indices output");
  auto strides = ints_or(c.aints("strides"), n, 1), dil = ints_or(c.aints("dilations"), n, 1);
  IM_ASSIGN_OR_RETURN(auto pads, resolve_pads(c, mil::Shape(xs.begin() + 2, xs.end()), kernel, strides, dil));
  for (size_t i = 0; i < n; ++i)
    if (kernel[i] < 1 || strides[i] < 1 || dil[i] < 1) return invalid_argument("kernel_shape, strides and dilations must be positive");
  const bool column_major = c.ai("storage_order", 0) != 0;
  std::vector<int64_t> padded(n), out(n);
  int64_t P = 1, O = 1, K = 1, in_numel = 1;
  for (size_t i = 0; i < n; ++i) {
    padded[i] = xs[2 + i] + pads[2 * i] + pads[2 * i + 1];
    out[i] = (padded[i] - ((kernel[i] - 1) * dil[i] + 1)) / strides[i] + 1;
    if (out[i] <= 0) return c.fail("pooling window larger than the padded input");
    P *= padded[i]; O *= out[i]; K *= kernel[i]; in_numel *= xs[2 + i];
  }
  if (static_cast<double>(O) * static_cast<double>(K) > 64.0 * 1024 * 1024) return c.fail("pooling window table too large");
  Tensor gidx(DType::kInt32, {O * K}), orig(DType::kInt32, {O * K});
  std::vector<int64_t> oc(n, 0), kc(n, 0);
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t k = 0; k < K; ++k) {
      int64_t rem_o = o, rem_k = k;
      for (size_t i = n; i-- > 0;) { oc[i] = rem_o % out[i]; rem_o /= out[i]; kc[i] = rem_k % kernel[i]; rem_k /= kernel[i]; }
      int64_t flat_p = 0, flat_row = 0, flat_col = 0, stride_col = 1;
      bool inside = true;
      for (size_t i = 0; i < n; ++i) {
        int64_t p = oc[i] * strides[i] + kc[i] * dil[i];
        flat_p = flat_p * padded[i] + p;
        int64_t q = p - pads[2 * i];
        inside = inside && q >= 0 && q < xs[2 + i];
        flat_row = flat_row * xs[2 + i] + q;
      }
      for (size_t i = 0; i < n; ++i) {
        int64_t q = oc[i] * strides[i] + kc[i] * dil[i] - pads[2 * i];
        flat_col += q * stride_col;
        stride_col *= xs[2 + i];
      }
      gidx.set_i64(o * K + k, flat_p);
      orig.set_i64(o * K + k, inside ? (column_major ? flat_col : flat_row) : 0);
    }
  }
  const int64_t N = xs[0], C = xs[1];
  std::vector<int64_t> mil_pads;
  for (size_t i = 0; i < n; ++i) { mil_pads.push_back(pads[2 * i]); mil_pads.push_back(pads[2 * i + 1]); }
  std::vector<int64_t> full_pads = {0, 0, 0, 0};
  full_pads.insert(full_pads.end(), mil_pads.begin(), mil_pads.end());
  auto xp = c.op("pad", {{"x", x}, {"pad", ti32(full_pads)}, {"mode", sstr("constant")},
                         {"constant_val", scalar_like(c, x, -std::numeric_limits<double>::infinity())}});
  auto g = c.op("gather", {{"x", reshape(c, xp, {N, C, P})}, {"indices", c.b.constant(gidx)}, {"axis", si32(2)}});
  g = reshape(c, g, {N, C, O, K});
  std::vector<int64_t> out_shape = {N, C};
  out_shape.insert(out_shape.end(), out.begin(), out.end());
  c.set_out(0, reshape(c, c.op("reduce_max", {{"x", g}, {"axes", ti32({3})}, {"keep_dims", sbool(false)}}), out_shape));
  if (c.has_output(1)) {
    auto am = c.op("reduce_argmax", {{"x", g}, {"axis", si32(3)}, {"keep_dims", sbool(false)}});  // [N, C, O]
    std::vector<int64_t> base(static_cast<size_t>(O));
    for (int64_t o = 0; o < O; ++o) base[static_cast<size_t>(o)] = o * K;
    auto lin = c.op("add", {{"x", am}, {"y", ti32(base)}});
    auto flat = c.op("gather", {{"x", c.b.constant(orig)}, {"indices", lin}, {"axis", si32(0)}});  // [N, C, O]
    Tensor nc(DType::kInt32, {N, C, 1});
    for (int64_t i = 0; i < N * C; ++i) nc.set_i64(i, i * in_numel);
    c.set_out(1, reshape(c, c.op("add", {{"x", flat}, {"y", c.b.constant(nc)}}), out_shape));
  }
  return Status::Ok();
}

Lowering pool(bool is_max) {
  return {[is_max](Ctx& c) -> Status {
            IN(x_in, 0);
            // MIL pools are float-only: integers go through fp32 (exact below 2^24).
            const DType in_dt = dtype_of(c, x_in);
            std::string x = in_dt == DType::kInt32 ? cast(c, x_in, DType::kFp32) : x_in;
            IM_ASSIGN_OR_RETURN(auto xs, need_static_shape(c, x));
            const size_t n = xs.size() - 2;
            auto dil_attr = c.aints("dilations");
            bool dilated = std::any_of(dil_attr.begin(), dil_attr.end(), [](int64_t d) { return d != 1; });
            if (is_max && (dilated || c.has_output(1) || c.ai("storage_order", 0) != 0)) {
              IM_RETURN_IF_ERROR(lower_max_pool_by_gather(c, x));
              return Status::Ok();
            }
            auto kernel = c.aints("kernel_shape");
            if (kernel.size() != n) return c.fail("kernel_shape must have " + std::to_string(n) + " values");
            auto strides = ints_or(c.aints("strides"), n, 1), dil = std::vector<int64_t>(n, 1);
            IM_ASSIGN_OR_RETURN(auto pads, resolve_pads(c, mil::Shape(xs.begin() + 2, xs.end()), kernel, strides, dil));
            std::map<std::string, mil::Builder::Arg> args{{"x", x}, {"kernel_sizes", ti32(kernel)}, {"strides", ti32(strides)},
                {"pad_type", sstr("custom")}, {"pad", ti32(pads)}, {"ceil_mode", sbool(c.ai("ceil_mode", 0) != 0)}};
            if (!is_max) args["exclude_padding_from_average"] = sbool(c.ai("count_include_pad", 0) == 0);
            c.set_out(0, cast(c, c.op(is_max ? "max_pool" : "avg_pool", args), in_dt));
            return Status::Ok();
          },
          [is_max](const ::onnx::NodeProto& n, int) -> std::string {
            // MaxPool's dilations / Indices / storage_order go through lower_max_pool_by_gather.
            if (is_max) return "";
            for (const auto& a : n.attribute())
              if (a.name() == "dilations")
                for (auto d : a.ints()) if (d != 1) return "AveragePool with dilations != 1 (MIL pools have no dilation)";
            return "";
          }};
}

Lowering global_pool(const std::string& reduce) {
  return {[reduce](Ctx& c) -> Status {
            IN(x, 0);
            IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
            std::vector<int64_t> axes;
            for (int i = 2; i < r; ++i) axes.push_back(i);
            c.set_out(0, c.op(reduce, {{"x", x}, {"axes", ti32(axes)}, {"keep_dims", sbool(true)}}));
            return Status::Ok();
          },
          nullptr};
}

// ---- softmax family -----------------------------------------------------------------------------------

enum class SoftKind { kSoftmax, kLogSoftmax, kHardmax };

std::string soft_core(Ctx& c, const std::string& x, int axis, SoftKind k, const mil::Shape* dims) {
  switch (k) {
    case SoftKind::kSoftmax: return c.op("softmax", {{"x", x}, {"axis", si32(axis)}});
    case SoftKind::kLogSoftmax: {
      auto lse = c.op("reduce_log_sum_exp", {{"x", x}, {"axes", ti32({axis})}, {"keep_dims", sbool(true)}});
      return c.op("sub", {{"x", x}, {"y", lse}});
    }
    case SoftKind::kHardmax: {
      int64_t depth = (*dims)[axis < 0 ? axis + dims->size() : axis];
      auto idx = c.op("reduce_argmax", {{"x", x}, {"axis", si32(axis)}, {"keep_dims", sbool(false)}});
      return c.op("one_hot", {{"indices", idx}, {"one_hot_vector_size", si32(depth)}, {"axis", si32(axis)},
                              {"on_value", scalar_like(c, x, 1)}, {"off_value", scalar_like(c, x, 0)}});
    }
  }
  return "";
}

Lowering softmax_like(SoftKind k) {
  return {[k](Ctx& c) -> Status {
            IN(x, 0);
            IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
            if (c.opset >= 13) {
              int axis = normalize_axis(c.ai("axis", -1), r);
              const mil::Type* t = c.type(x);
              if (k == SoftKind::kHardmax && (!t->fully_known())) return c.fail("Hardmax needs a static shape");
              c.set_out(0, soft_core(c, x, axis, k, &t->dims));
              return Status::Ok();
            }
            // Before opset 13 the input is coerced to 2-D [prod(:axis), prod(axis:)].
            IM_ASSIGN_OR_RETURN(auto dims, need_static_shape(c, x));
            int axis = normalize_axis(c.ai("axis", 1), r);
            int64_t a = 1, b = 1;
            for (int i = 0; i < r; ++i) (i < axis ? a : b) *= dims[i];
            mil::Shape flat{a, b};
            auto y = soft_core(c, reshape(c, x, flat), 1, k, &flat);
            c.set_out(0, reshape(c, y, dims));
            return Status::Ok();
          },
          nullptr};
}

// ---- normalization ------------------------------------------------------------------------------------

Status lower_batch_norm(Ctx& c) {
  if (c.ai("training_mode", 0) != 0) return lower_batch_norm_training(c);
  IN(x, 0);
  IN(scale, 1);
  IN(bias, 2);
  IN(mean, 3);
  IN(var, 4);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  float eps = c.af("epsilon", 1e-5f);
  auto denom = c.op("sqrt", {{"x", c.op("add", {{"x", var}, {"y", scalar_like(c, var, eps)}})}});
  auto k = c.op("real_div", {{"x", scale}, {"y", denom}});
  auto y = c.op("mul", {{"x", c.op("sub", {{"x", x}, {"y", per_channel(c, mean, r)}})}, {"y", per_channel(c, k, r)}});
  c.set_out(0, c.op("add", {{"x", y}, {"y", per_channel(c, bias, r)}}));
  return Status::Ok();
}

std::string check_batch_norm(const ::onnx::NodeProto& n, int opset) {
  for (const auto& a : n.attribute())
    if (a.name() == "training_mode" && a.i() != 0) return "";  // batch statistics + running-stat outputs
  return check_no_second_output(n, "training outputs (running mean/var) are not converted");
}

Status lower_instance_norm(Ctx& c) {
  IN(x, 0);
  IN(scale, 1);
  IN(bias, 2);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  auto y = c.op("instance_norm", {{"x", x}, {"epsilon", scalar_like(c, x, c.af("epsilon", 1e-5f))}});
  y = c.op("mul", {{"x", y}, {"y", per_channel(c, scale, r)}});
  c.set_out(0, c.op("add", {{"x", y}, {"y", per_channel(c, bias, r)}}));
  return Status::Ok();
}

Status lower_layer_norm(Ctx& c) {
  IN(x, 0);
  IN(scale, 1);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  int axis = normalize_axis(c.ai("axis", -1), r);
  std::vector<int64_t> axes;
  for (int i = axis; i < r; ++i) axes.push_back(i);
  auto mean = c.op("reduce_mean", {{"x", x}, {"axes", ti32(axes)}, {"keep_dims", sbool(true)}});
  auto d = c.op("sub", {{"x", x}, {"y", mean}});
  auto var = c.op("reduce_mean", {{"x", c.op("mul", {{"x", d}, {"y", d}})}, {"axes", ti32(axes)}, {"keep_dims", sbool(true)}});
  auto inv = c.op("real_div", {{"x", scalar_like(c, x, 1)},
                              {"y", c.op("sqrt", {{"x", c.op("add", {{"x", var}, {"y", scalar_like(c, x, c.af("epsilon", 1e-5f))}})}})}});
  auto y = c.op("mul", {{"x", c.op("mul", {{"x", d}, {"y", inv}})}, {"y", scale}});
  if (c.has_input(2)) { IN(bias, 2); y = c.op("add", {{"x", y}, {"y", bias}}); }
  c.set_out(0, y);
  c.set_out(1, mean);
  c.set_out(2, inv);
  return Status::Ok();
}

Status lower_mvn(Ctx& c) {
  IN(x, 0);
  auto axes = c.aints("axes");
  if (!c.has_attr("axes")) axes = {0, 2, 3};
  auto mean = c.op("reduce_mean", {{"x", x}, {"axes", ti32(axes)}, {"keep_dims", sbool(true)}});
  auto d = c.op("sub", {{"x", x}, {"y", mean}});
  auto var = c.op("reduce_mean", {{"x", c.op("mul", {{"x", d}, {"y", d}})}, {"axes", ti32(axes)}, {"keep_dims", sbool(true)}});
  // ONNX's function body adds epsilon 1e-9 to the std-dev.
  auto sd = c.op("add", {{"x", c.op("sqrt", {{"x", var}})}, {"y", scalar_like(c, x, 1e-9)}});
  c.set_out(0, c.op("real_div", {{"x", d}, {"y", sd}}));
  return Status::Ok();
}

// ---- reductions ----------------------------------------------------------------------------------------

Lowering reduction(const std::string& mil_op, int axes_input_since) {
  return {[mil_op, axes_input_since](Ctx& c) -> Status {
            IN(x, 0);
            std::vector<int64_t> axes;
            if (c.opset >= axes_input_since) {
              if (c.has_input(1)) { IM_ASSIGN_OR_RETURN(auto t, c.need_const(1, "axes")); axes = to_ints(t); }
            } else {
              axes = c.aints("axes");
            }
            bool keep = c.ai("keepdims", 1) != 0;
            if (axes.empty() && c.ai("noop_with_empty_axes", 0) != 0) {
              c.set_out(0, c.op("identity", {{"x", x}}));
              return Status::Ok();
            }
            std::map<std::string, mil::Builder::Arg> args{{"x", x}, {"keep_dims", sbool(keep)}};
            if (!axes.empty()) args["axes"] = ti32(axes);
            c.set_out(0, c.op(mil_op, args));
            return Status::Ok();
          },
          nullptr};
}

Lowering arg_reduce(const std::string& mil_op) {
  return {[mil_op](Ctx& c) -> Status {
            IN(x, 0);
            IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
            int axis = normalize_axis(c.ai("axis", 0), r);
            bool keep = c.ai("keepdims", 1) != 0;
            if (c.ai("select_last_index", 0) == 0) {
              c.set_out(0, c.op(mil_op, {{"x", x}, {"axis", si32(axis)}, {"keep_dims", sbool(keep)}}));
              return Status::Ok();
            }
            // Last index among ties: search the reversed axis and map the index back.
            IM_ASSIGN_OR_RETURN(auto dims, need_static_shape(c, x));
            auto rev = c.op("reverse", {{"x", x}, {"axes", ti32({axis})}});
            auto idx = c.op(mil_op, {{"x", rev}, {"axis", si32(axis)}, {"keep_dims", sbool(keep)}});
            c.set_out(0, c.op("sub", {{"x", si32(dims[axis] - 1)}, {"y", idx}}));
            return Status::Ok();
          },
          nullptr};
}

// ---- shape ops -----------------------------------------------------------------------------------------

Status lower_reshape(Ctx& c) {
  IN(x, 0);
  std::optional<Tensor> shape_t;
  if (c.opset < 5) shape_t = ti32(c.aints("shape"));
  else shape_t = c.const_in(1);
  const bool allowzero = c.ai("allowzero", 0) != 0;
  if (!shape_t && allowzero) {
    IM_ASSIGN_OR_RETURN(auto t, c.need_const(1, "shape (allowzero=1)"));
    shape_t = t;
  }
  if (!shape_t) {
    // Resolve ONNX's "0 = copy this input dim" at run time so MIL reshape never sees a 0.
    IN(s, 1);
    const mil::Type* st = c.type(s);
    const mil::Type* xt = c.type(x);
    if (!st || st->rank() != 1 || st->dims[0] == mil::kUnknownDim || !xt || xt->rank() < 0) {
      // Length unknown: MIL reshape itself copies a 0 entry when len(shape) == rank(x).
      c.set_out(0, c.op("reshape", {{"x", x}, {"shape", s}}));
      return Status::Ok();
    }
    const int64_t L = st->dims[0], r = xt->rank();
    std::string xs = c.op("shape", {{"x", x}});
    if (L < r) xs = c.op("slice_by_index", {{"x", xs}, {"begin", ti32({0})}, {"end", ti32({L})}});
    else if (L > r) xs = c.op("concat", {{"values", std::vector<std::string>{xs, c.b.constant(ti32(std::vector<int64_t>(L - r, 1)))}}, {"axis", si32(0)}});
    auto zero = c.op("equal", {{"x", s}, {"y", si32(0)}});
    c.set_out(0, c.op("reshape", {{"x", x}, {"shape", c.op("select", {{"cond", zero}, {"a", xs}, {"b", s}})}}));
    return Status::Ok();
  }
  auto shape = to_ints(*shape_t);
  if (allowzero && std::count(shape.begin(), shape.end(), 0))
    return c.fail("allowzero=1 with a 0 in the shape (a zero-sized dim): MIL reshape reads 0 as 'copy this dim'");
  if (std::count(shape.begin(), shape.end(), 0)) {
    const mil::Type* t = c.type(x);
    for (size_t i = 0; i < shape.size(); ++i)
      if (shape[i] == 0) {
        if (!t || t->rank() <= static_cast<int>(i) || t->dims[i] == mil::kUnknownDim)
          return c.fail("shape entry 0 (copy dim " + std::to_string(i) + ") needs that input dim to be known");
        shape[i] = t->dims[i];
      }
  }
  c.set_out(0, reshape(c, x, shape));
  return Status::Ok();
}

Status lower_transpose(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  auto perm = c.aints("perm");
  if (perm.empty()) for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  c.set_out(0, c.op("transpose", {{"x", x}, {"perm", ti32(perm)}}));
  return Status::Ok();
}

Status lower_concat(Ctx& c) {
  std::vector<std::string> vals;
  for (int i = 0; i < c.num_inputs(); ++i) { IN(v, i); vals.push_back(v); }
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, vals[0]));
  c.set_out(0, c.op("concat", {{"values", vals}, {"axis", si32(normalize_axis(c.ai("axis", 0), r))}}));
  return Status::Ok();
}

Status lower_split(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  int axis = normalize_axis(c.ai("axis", 0), r);
  std::vector<int64_t> sizes;
  if (c.opset >= 13) {
    if (c.has_input(1)) { IM_ASSIGN_OR_RETURN(auto t, c.need_const(1, "split")); sizes = to_ints(t); }
  } else {
    sizes = c.aints("split");
  }
  std::map<std::string, mil::Builder::Arg> args{{"x", x}, {"axis", si32(axis)}};
  if (sizes.empty()) args["num_splits"] = si32(c.num_outputs());
  else args["split_sizes"] = ti32(sizes);
  auto outs = c.ops("split", args);
  for (size_t i = 0; i < outs.size(); ++i) c.set_out(static_cast<int>(i), outs[i]);
  return Status::Ok();
}

Status lower_slice(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(auto dims, need_static_shape(c, x));
  const int r = static_cast<int>(dims.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset < 10) {
    starts = c.aints("starts"); ends = c.aints("ends"); axes = c.aints("axes");
  } else {
    IM_ASSIGN_OR_RETURN(auto s, c.need_const(1, "starts")); starts = to_ints(s);
    IM_ASSIGN_OR_RETURN(auto e, c.need_const(2, "ends")); ends = to_ints(e);
    if (c.has_input(3)) { IM_ASSIGN_OR_RETURN(auto a, c.need_const(3, "axes")); axes = to_ints(a); }
    if (c.has_input(4)) { IM_ASSIGN_OR_RETURN(auto st, c.need_const(4, "steps")); steps = to_ints(st); }
  }
  if (axes.empty()) for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  std::vector<int64_t> begin(r, 0), end(dims.begin(), dims.end()), stride(r, 1);
  std::vector<int64_t> begin_mask(r, 0), end_mask(r, 0);
  // Constants were narrowed to int32 (saturating), so "to the end" arrives as INT32_MAX/MIN.
  for (size_t i = 0; i < axes.size(); ++i) {
    int a = normalize_axis(axes[i], r);
    if (a < 0 || a >= r) return c.fail("axis " + std::to_string(axes[i]) + " out of range");
    int64_t d = dims[a], s = starts[i], e = ends[i], st = steps[i];
    if (st == 0) return c.fail("step 0");
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, d); e = std::clamp<int64_t>(e, 0, d);
    } else {
      s = std::clamp<int64_t>(s, -1, d - 1); e = std::clamp<int64_t>(e, -1, d - 1);
      if (e == -1) end_mask[a] = 1;
      if (s == -1) { s = 0; e = 0; end_mask[a] = 0; }  // empty
    }
    begin[a] = s; end[a] = e; stride[a] = st;
  }
  auto bools = [](const std::vector<int64_t>& v) { return Tensor::from_i64(DType::kBool, {static_cast<int64_t>(v.size())}, v); };
  c.set_out(0, c.op("slice_by_index", {{"x", x}, {"begin", ti32(begin)}, {"end", ti32(end)}, {"stride", ti32(stride)},
                                       {"begin_mask", bools(begin_mask)}, {"end_mask", bools(end_mask)}}));
  return Status::Ok();
}

// Negative indices count from the end in ONNX; normalise them against the static axis size.
Result<std::string> normalized_indices(Ctx& c, int input, int64_t dim) {
  if (auto k = c.const_in(input)) {
    auto v = k->to_i64();
    for (auto& i : v) if (i < 0) i += dim;
    return c.b.constant(Tensor::from_i64(DType::kInt32, k->shape(), v));
  }
  IN(idx, input);
  auto neg = c.op("less", {{"x", idx}, {"y", si32(0)}});
  return c.op("select", {{"cond", neg}, {"a", c.op("add", {{"x", idx}, {"y", si32(dim)}})}, {"b", idx}});
}

Lowering gather_like(const std::string& mil_op) {
  return {[mil_op](Ctx& c) -> Status {
            IN(x, 0);
            IM_ASSIGN_OR_RETURN(auto dims, need_static_shape(c, x));
            int axis = normalize_axis(c.ai("axis", 0), static_cast<int>(dims.size()));
            if (axis < 0 || axis >= static_cast<int>(dims.size())) return invalid_argument("axis out of range");
            IM_ASSIGN_OR_RETURN(auto idx, normalized_indices(c, 1, dims[axis]));
            c.set_out(0, c.op(mil_op, {{"x", x}, {"indices", idx}, {"axis", si32(axis)}}));
            return Status::Ok();
          },
          nullptr};
}

Status lower_squeeze(Ctx& c) {
  IN(x, 0);
  std::vector<int64_t> axes;
  if (c.opset >= 13) {
    if (c.has_input(1)) { IM_ASSIGN_OR_RETURN(auto t, c.need_const(1, "axes")); axes = to_ints(t); }
  } else {
    axes = c.aints("axes");
  }
  std::map<std::string, mil::Builder::Arg> args{{"x", x}};
  if (!axes.empty()) args["axes"] = ti32(axes);
  c.set_out(0, c.op("squeeze", args));
  return Status::Ok();
}

Status lower_unsqueeze(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  std::vector<int64_t> axes;
  if (c.opset >= 13) { IM_ASSIGN_OR_RETURN(auto t, c.need_const(1, "axes")); axes = to_ints(t); }
  else axes = c.aints("axes");
  const int out_rank = r + static_cast<int>(axes.size());
  for (auto& a : axes) a = normalize_axis(a, out_rank);
  std::sort(axes.begin(), axes.end());
  c.set_out(0, c.op("expand_dims", {{"x", x}, {"axes", ti32(axes)}}));
  return Status::Ok();
}

Status lower_flatten(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(auto dims, need_static_shape(c, x));
  int axis = normalize_axis(c.ai("axis", 1), static_cast<int>(dims.size()));
  if (axis < 0 || axis > static_cast<int>(dims.size())) return invalid_argument("axis out of range");
  int64_t a = 1, b = 1;
  for (int i = 0; i < static_cast<int>(dims.size()); ++i) (i < axis ? a : b) *= dims[i];
  c.set_out(0, reshape(c, x, {a, b}));
  return Status::Ok();
}

Status lower_expand(Ctx& c) {
  IN(x, 0);
  IN(shape, 1);
  DType dt = dtype_of(c, x);
  if (dt == DType::kBool) {
    auto f = c.op("fill", {{"shape", shape}, {"value", sbool(false)}});
    c.set_out(0, c.op("logical_or", {{"x", x}, {"y", f}}));
  } else {
    auto f = c.op("fill", {{"shape", shape}, {"value", sf(dt, 0)}});
    c.set_out(0, c.op("add", {{"x", x}, {"y", f}}));
  }
  return Status::Ok();
}

Status lower_pad(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  std::vector<int64_t> pads;
  double value = 0;
  if (c.opset < 11) {
    pads = c.aints("pads");
    value = c.af("value", 0.f);
  } else {
    IM_ASSIGN_OR_RETURN(auto p, c.need_const(1, "pads")); pads = to_ints(p);
    if (c.has_input(2)) { IM_ASSIGN_OR_RETURN(auto v, c.need_const(2, "constant_value")); value = v.get_f64(0); }
  }
  if (static_cast<int>(pads.size()) != 2 * r) return c.fail("pads must have 2*rank values");
  std::vector<int64_t> mil_pads(2 * r);
  for (int i = 0; i < r; ++i) { mil_pads[2 * i] = pads[i]; mil_pads[2 * i + 1] = pads[r + i]; }
  std::string mode = c.as("mode", "constant");
  if (mode == "edge") mode = "replicate";
  // MIL pad is float-only: integers go through fp32 (exact below 2^24).
  DType dt = dtype_of(c, x);
  std::string xf = dt == DType::kInt32 ? cast(c, x, DType::kFp32) : x;
  auto y = c.op("pad", {{"x", xf}, {"pad", ti32(mil_pads)}, {"mode", sstr(mode)}, {"constant_val", scalar_like(c, xf, value)}});
  c.set_out(0, cast(c, y, dt));
  return Status::Ok();
}

Result<DType> cast_target(Ctx& c, int onnx_to) { return mil_dtype_for(onnx_to); }

Status lower_cast(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(DType to, cast_target(c, static_cast<int>(c.ai("to", 1))));
  c.set_out(0, dtype_of(c, x) == to ? c.op("identity", {{"x", x}}) : cast(c, x, to));
  return Status::Ok();
}

Status lower_cast_like(Ctx& c) {
  IN(x, 0);
  IN(t, 1);
  DType to = dtype_of(c, t);
  c.set_out(0, dtype_of(c, x) == to ? c.op("identity", {{"x", x}}) : cast(c, x, to));
  return Status::Ok();
}

std::string check_cast(const ::onnx::NodeProto& n, int) {
  for (const auto& a : n.attribute())
    if (a.name() == "to") {
      auto r = mil_dtype_for(static_cast<int>(a.i()));
      if (!r.ok()) return "Cast to " + r.status().message();
    }
  return "";
}

Status lower_clip(Ctx& c) {
  IN(x, 0);
  std::string y = x;
  if (c.opset < 11) {
    y = c.op("maximum", {{"x", y}, {"y", scalar_like(c, x, c.af("min", -std::numeric_limits<float>::infinity()))}});
    y = c.op("minimum", {{"x", y}, {"y", scalar_like(c, x, c.af("max", std::numeric_limits<float>::infinity()))}});
  } else {
    if (c.has_input(1)) { IN(lo, 1); y = c.op("maximum", {{"x", y}, {"y", lo}}); }
    if (c.has_input(2)) { IN(hi, 2); y = c.op("minimum", {{"x", y}, {"y", hi}}); }
    if (y == x) y = c.op("identity", {{"x", x}});
  }
  c.set_out(0, y);
  return Status::Ok();
}

Status lower_shape(Ctx& c) {
  IN(x, 0);
  const mil::Type* t = c.type(x);
  int r = t ? t->rank() : -1;
  int64_t start = c.ai("start", 0), end = c.ai("end", r);
  if (r >= 0) {
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r); end = std::clamp<int64_t>(end, 0, r);
  }
  if (t && t->fully_known()) {
    std::vector<int64_t> v(t->dims.begin() + start, t->dims.begin() + std::max(start, end));
    c.set_out_const(0, ti32(v));
    return Status::Ok();
  }
  auto s = c.op("shape", {{"x", x}});
  if (start != 0 || end != r)
    s = c.op("slice_by_index", {{"x", s}, {"begin", ti32({start})}, {"end", ti32({end})}});
  c.set_out(0, s);
  return Status::Ok();
}

Status lower_size(Ctx& c) {
  IN(x, 0);
  const mil::Type* t = c.type(x);
  if (t && t->fully_known()) { c.set_out_const(0, si32(mil::shape_numel(t->dims))); return Status::Ok(); }
  c.set_out(0, c.op("reduce_prod", {{"x", c.op("shape", {{"x", x}})}, {"keep_dims", sbool(false)}}));
  return Status::Ok();
}

Result<Tensor> attr_tensor(Ctx& c, const std::string& name) {
  const auto* a = c.attr(name);
  if (!a) return c.fail("attribute '" + name + "' missing");
  IM_ASSIGN_OR_RETURN(auto t, formats::onnx::tensor_from_proto(a->t(), ""));
  return narrow_for_mil(t);
}

Status lower_constant(Ctx& c) {
  if (c.has_attr("value")) { IM_ASSIGN_OR_RETURN(auto t, attr_tensor(c, "value")); c.set_out_const(0, t, c.attr("value")->t().data_type()); }
  else if (c.has_attr("value_float")) c.set_out_const(0, sf(DType::kFp32, c.af("value_float", 0)));
  else if (c.has_attr("value_int")) c.set_out_const(0, si32(c.ai("value_int", 0)));
  else if (c.has_attr("value_floats")) {
    auto f = c.afloats("value_floats");
    c.set_out_const(0, Tensor::from_f32(DType::kFp32, {static_cast<int64_t>(f.size())}, f));
  } else if (c.has_attr("value_ints")) c.set_out_const(0, ti32(c.aints("value_ints")));
  else return c.fail("Constant without a supported value attribute (sparse/string values are not converted)");
  return Status::Ok();
}

Status lower_constant_of_shape(Ctx& c) {
  Tensor value = sf(DType::kFp32, 0);
  if (c.has_attr("value")) {
    IM_ASSIGN_OR_RETURN(auto t, attr_tensor(c, "value"));
    IM_ASSIGN_OR_RETURN(value, t.reshaped({}));
  }
  if (auto s = c.const_in(0)) {
    auto dims = s->to_i64();
    Tensor out(value.dtype(), dims);
    for (int64_t i = 0; i < out.numel(); ++i) out.set_f64(i, value.get_f64(0));
    c.set_out_const(0, out);
    return Status::Ok();
  }
  IN(shape, 0);
  c.set_out(0, c.op("fill", {{"shape", shape}, {"value", value}}));
  return Status::Ok();
}

Status lower_range(Ctx& c) {
  auto s = c.const_in(0), e = c.const_in(1), d = c.const_in(2);
  if (s && e && d) {
    double st = s->get_f64(0), en = e->get_f64(0), de = d->get_f64(0);
    int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((en - st) / de)));
    std::vector<double> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = st + i * de;
    c.set_out_const(0, Tensor::from_f64(s->dtype(), {n}, v));
    return Status::Ok();
  }
  IN(start, 0);
  IN(limit, 1);
  IN(delta, 2);
  c.set_out(0, c.op("range_1d", {{"start", start}, {"end", limit}, {"step", delta}}));
  return Status::Ok();
}

Status lower_topk(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  int64_t k = 0;
  if (c.opset >= 10) { IM_ASSIGN_OR_RETURN(auto t, c.need_const(1, "K")); k = t.get_i64(0); }
  else k = c.ai("k", 1);
  auto outs = c.b.ops("topk", {{"x", x}, {"k", si32(k)}, {"axis", si32(normalize_axis(c.ai("axis", -1), r))},
                               {"ascending", sbool(c.ai("largest", 1) == 0)}, {"sort", sbool(c.ai("sorted", 1) != 0)}});
  for (size_t i = 0; i < outs.size(); ++i) c.set_out(static_cast<int>(i), outs[i]);
  return Status::Ok();
}

Status lower_cumsum(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  IM_ASSIGN_OR_RETURN(auto axis, c.need_const(1, "axis"));
  c.set_out(0, c.op("cumsum", {{"x", x}, {"axis", si32(normalize_axis(axis.get_i64(0), r))},
                               {"exclusive", sbool(c.ai("exclusive", 0) != 0)}, {"reverse", sbool(c.ai("reverse", 0) != 0)}}));
  return Status::Ok();
}

Status lower_gemm(Ctx& c) {
  IN(a, 0);
  IN(b, 1);
  auto y = c.op("matmul", {{"x", a}, {"y", b}, {"transpose_x", sbool(c.ai("transA", 0) != 0)},
                           {"transpose_y", sbool(c.ai("transB", 0) != 0)}});
  float alpha = c.af("alpha", 1.f), beta = c.af("beta", 1.f);
  if (alpha != 1.f) y = c.op("mul", {{"x", y}, {"y", scalar_like(c, y, alpha)}});
  if (c.has_input(2)) {
    IN(bias, 2);
    if (beta != 1.f) bias = c.op("mul", {{"x", bias}, {"y", scalar_like(c, bias, beta)}});
    y = c.op("add", {{"x", y}, {"y", bias}});
  }
  c.set_out(0, y);
  return Status::Ok();
}

Status lower_where(Ctx& c) {
  IN(cond, 0);
  IN(a, 1);
  IN(b, 2);
  c.set_out(0, c.op("select", {{"cond", cond}, {"a", a}, {"b", b}}));
  return Status::Ok();
}

Status lower_pow(Ctx& c) {
  IN(x, 0);
  IN(y, 1);
  c.set_out(0, c.op("pow", {{"x", x}, {"y", cast(c, y, dtype_of(c, x))}}));
  return Status::Ok();
}

Status lower_div(Ctx& c) {
  IN(x, 0);
  IN(y, 1);
  // ONNX integer Div truncates toward zero; MIL floor_div rounds down: identical for non-negative
  // operands, so compute |x| // |y| with the sign restored.
  if (dtype_of(c, x) == DType::kInt32) {
    auto q = c.op("floor_div", {{"x", c.op("abs", {{"x", x}})}, {"y", c.op("abs", {{"x", y}})}});
    auto sign = c.op("mul", {{"x", c.op("sign", {{"x", x}})}, {"y", c.op("sign", {{"x", y}})}});
    c.set_out(0, c.op("mul", {{"x", q}, {"y", sign}}));
  } else {
    c.set_out(0, c.op("real_div", {{"x", x}, {"y", y}}));
  }
  return Status::Ok();
}

Status lower_mod(Ctx& c) {
  IN(x, 0);
  IN(y, 1);
  if (c.ai("fmod", 0) == 0) { c.set_out(0, c.op("mod", {{"x", x}, {"y", y}})); return Status::Ok(); }
  // fmod: the result has the dividend's sign. fmod(x, y) = sign(x) * mod(|x|, |y|).
  auto m = c.op("mod", {{"x", c.op("abs", {{"x", x}})}, {"y", c.op("abs", {{"x", y}})}});
  auto sx = c.op("sign", {{"x", x}});
  // sign(0) = 0 would turn a zero remainder of a negative float into 0: that is the right value.
  c.set_out(0, c.op("mul", {{"x", m}, {"y", sx}}));
  return Status::Ok();
}

Status lower_neg(Ctx& c) {
  IN(x, 0);
  c.set_out(0, c.op("mul", {{"x", x}, {"y", scalar_like(c, x, -1)}}));
  return Status::Ok();
}

Status lower_reciprocal(Ctx& c) {
  IN(x, 0);
  c.set_out(0, c.op("real_div", {{"x", scalar_like(c, x, 1)}, {"y", x}}));
  return Status::Ok();
}

Status lower_identity(Ctx& c) {
  IN(x, 0);
  c.set_out(0, c.op("identity", {{"x", x}}));
  return Status::Ok();
}

Status lower_dropout(Ctx& c) {
  IN(x, 0);
  if (c.opset >= 12 && c.has_input(2)) {
    IM_ASSIGN_OR_RETURN(auto t, c.need_const(2, "training_mode"));
    if (t.get_i64(0) != 0) {
      // Training with ratio 0 keeps everything (deterministic); any other ratio draws a random mask.
      double ratio = 0.5;
      if (c.has_input(1)) { IM_ASSIGN_OR_RETURN(auto r, c.need_const(1, "ratio")); ratio = r.get_f64(0); }
      if (ratio != 0) return c.fail("training_mode=true with ratio > 0 (random mask) is not converted");
    }
  }
  c.set_out(0, c.op("identity", {{"x", x}}));
  if (c.has_output(1)) c.set_out(1, c.op("fill_like", {{"ref_tensor", x}, {"value", sbool(true)}}));
  return Status::Ok();
}

Status lower_prelu(Ctx& c) {
  IN(x, 0);
  IN(slope, 1);
  auto pos = c.op("relu", {{"x", x}});
  auto neg = c.op("mul", {{"x", slope}, {"y", c.op("minimum", {{"x", x}, {"y", scalar_like(c, x, 0)}})}});
  c.set_out(0, c.op("add", {{"x", pos}, {"y", neg}}));
  return Status::Ok();
}

Status lower_selu(Ctx& c) {
  IN(x, 0);
  float alpha = c.af("alpha", 1.67326319217681884765625f), gamma = c.af("gamma", 1.05070102214813232421875f);
  auto e = c.op("elu", {{"x", x}, {"alpha", scalar_like(c, x, alpha)}});
  c.set_out(0, c.op("mul", {{"x", e}, {"y", scalar_like(c, x, gamma)}}));
  return Status::Ok();
}

Status lower_celu(Ctx& c) {
  IN(x, 0);
  float alpha = c.af("alpha", 1.f);
  auto e = c.op("sub", {{"x", c.op("exp", {{"x", c.op("real_div", {{"x", x}, {"y", scalar_like(c, x, alpha)}})}})}, {"y", scalar_like(c, x, 1)}});
  auto neg = c.op("minimum", {{"x", scalar_like(c, x, 0)}, {"y", c.op("mul", {{"x", e}, {"y", scalar_like(c, x, alpha)}})}});
  c.set_out(0, c.op("add", {{"x", c.op("relu", {{"x", x}})}, {"y", neg}}));
  return Status::Ok();
}

// ONNX: x > alpha (strict); MIL thresholded_relu keeps x >= alpha, so select explicitly.
Status lower_thresholded_relu(Ctx& c) {
  IN(x, 0);
  auto keep = c.op("greater", {{"x", x}, {"y", scalar_like(c, x, c.af("alpha", 1.f))}});
  auto zero = c.op("mul", {{"x", x}, {"y", scalar_like(c, x, 0)}});
  c.set_out(0, c.op("select", {{"cond", keep}, {"a", x}, {"b", zero}}));
  return Status::Ok();
}

// acosh(x) = log(x + sqrt(x^2 - 1)); asinh(x) = log(x + sqrt(x^2 + 1)) (MIL has neither).
Status lower_acosh(Ctx& c) {
  IN(x, 0);
  auto r = c.op("sqrt", {{"x", c.op("sub", {{"x", c.op("mul", {{"x", x}, {"y", x}})}, {"y", scalar_like(c, x, 1)}})}});
  c.set_out(0, c.op("log", {{"x", c.op("add", {{"x", x}, {"y", r}})}}));
  return Status::Ok();
}
Status lower_asinh(Ctx& c) {
  IN(x, 0);
  auto r = c.op("sqrt", {{"x", c.op("add", {{"x", c.op("mul", {{"x", x}, {"y", x}})}, {"y", scalar_like(c, x, 1)}})}});
  c.set_out(0, c.op("log", {{"x", c.op("add", {{"x", x}, {"y", r}})}}));
  return Status::Ok();
}

Status lower_hard_swish(Ctx& c) {
  IN(x, 0);
  auto h = c.op("sigmoid_hard", {{"x", x}, {"alpha", scalar_like(c, x, 1.0 / 6)}, {"beta", scalar_like(c, x, 0.5)}});
  c.set_out(0, c.op("mul", {{"x", x}, {"y", h}}));
  return Status::Ok();
}

Status lower_shrink(Ctx& c) {
  IN(x, 0);
  float lambd = c.af("lambd", 0.5f), bias = c.af("bias", 0.f);
  auto lo = c.op("less", {{"x", x}, {"y", scalar_like(c, x, -lambd)}});
  auto hi = c.op("greater", {{"x", x}, {"y", scalar_like(c, x, lambd)}});
  auto zero = c.op("mul", {{"x", x}, {"y", scalar_like(c, x, 0)}});
  auto y = c.op("select", {{"cond", hi}, {"a", c.op("sub", {{"x", x}, {"y", scalar_like(c, x, bias)}})}, {"b", zero}});
  c.set_out(0, c.op("select", {{"cond", lo}, {"a", c.op("add", {{"x", x}, {"y", scalar_like(c, x, bias)}})}, {"b", y}}));
  return Status::Ok();
}

Status lower_isnan(Ctx& c) {
  IN(x, 0);
  c.set_out(0, c.op("not_equal", {{"x", x}, {"y", x}}));
  return Status::Ok();
}

Status lower_isinf(Ctx& c) {
  IN(x, 0);
  const double inf = std::numeric_limits<double>::infinity();
  bool pos = c.ai("detect_positive", 1) != 0, neg = c.ai("detect_negative", 1) != 0;
  auto p = c.op("equal", {{"x", x}, {"y", scalar_like(c, x, inf)}});
  auto n = c.op("equal", {{"x", x}, {"y", scalar_like(c, x, -inf)}});
  if (pos && neg) c.set_out(0, c.op("logical_or", {{"x", p}, {"y", n}}));
  else if (pos) c.set_out(0, p);
  else if (neg) c.set_out(0, n);
  else c.set_out(0, c.op("logical_and", {{"x", p}, {"y", n}}));
  return Status::Ok();
}

Status lower_depth_to_space(Ctx& c) {
  IN(x, 0);
  int64_t b = c.ai("blocksize", 1);
  if (c.as("mode", "DCR") == "CRD") c.set_out(0, c.op("pixel_shuffle", {{"x", x}, {"upscale_factor", si32(b)}}));
  else c.set_out(0, c.op("depth_to_space", {{"x", x}, {"block_size", si32(b)}}));
  return Status::Ok();
}

Status lower_space_to_depth(Ctx& c) {
  IN(x, 0);
  c.set_out(0, c.op("space_to_depth", {{"x", x}, {"block_size", si32(c.ai("blocksize", 1))}}));
  return Status::Ok();
}

Status lower_trilu(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(auto dims, need_static_shape(c, x));
  int64_t k = 0;
  if (c.has_input(1)) { IM_ASSIGN_OR_RETURN(auto t, c.need_const(1, "k")); k = t.get_i64(0); }
  const bool upper = c.ai("upper", 1) != 0;
  const int r = static_cast<int>(dims.size());
  if (r < 2) return c.fail("Trilu input rank must be >= 2");
  const int64_t H = dims[r - 2], W = dims[r - 1];
  Tensor mask(DType::kBool, {H, W});
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) mask.set_i64(i * W + j, upper ? (j - i >= k) : (j - i <= k));
  auto zero = c.op("mul", {{"x", x}, {"y", dtype_of(c, x) == DType::kInt32 ? si32(0) : scalar_like(c, x, 0)}});
  c.set_out(0, c.op("select", {{"cond", c.b.constant(mask)}, {"a", x}, {"b", zero}}));
  return Status::Ok();
}

Status lower_eye_like(Ctx& c) {
  IN(x, 0);
  IM_ASSIGN_OR_RETURN(auto dims, need_static_shape(c, x));
  DType dt = dtype_of(c, x);
  if (c.has_attr("dtype")) { IM_ASSIGN_OR_RETURN(dt, mil_dtype_for(static_cast<int>(c.ai("dtype", 1)))); }
  int64_t k = c.ai("k", 0);
  Tensor t(dt, dims);
  for (int64_t i = 0; i < dims[0]; ++i) {
    int64_t j = i + k;
    if (j >= 0 && j < dims[1]) t.set_f64(i * dims[1] + j, 1);
  }
  c.set_out_const(0, t);
  return Status::Ok();
}

// QuantizeLinear: y = saturate(round_half_even(x / scale) + zero_point), computed in fp32 and carried
// as int32 (MIL's runtime integer type); the saturation range comes from the zero point's ONNX dtype.
Status lower_quantize(Ctx& c) {
  IN(x, 0);
  IN(scale, 1);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  int axis = normalize_axis(c.ai("axis", 1), r);
  auto bcast = [&](const std::string& p) {
    int pr = rank_of(c, p);
    if (pr != 1 || r <= 1) return p;
    std::vector<int64_t> s(r, 1);
    s[axis] = -1;
    return reshape(c, p, s);
  };
  auto q = c.op("round", {{"x", c.op("real_div", {{"x", x}, {"y", bcast(scale)}})}});
  double lo = 0, hi = 255;
  if (c.has_input(2)) {
    IN(zp, 2);
    q = c.op("add", {{"x", q}, {"y", bcast(cast(c, zp, dtype_of(c, x)))}});
    if (c.onnx_dtype_in(2) == ::onnx::TensorProto::INT8) { lo = -128; hi = 127; }
  }
  q = c.op("minimum", {{"x", c.op("maximum", {{"x", q}, {"y", scalar_like(c, q, lo)}})}, {"y", scalar_like(c, q, hi)}});
  c.set_out(0, cast(c, q, DType::kInt32));
  return Status::Ok();
}

Status lower_dequantize(Ctx& c) {
  IN(x, 0);
  IN(scale, 1);
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, x));
  int axis = normalize_axis(c.ai("axis", 1), r);
  auto bcast = [&](const std::string& p) {
    int pr = rank_of(c, p);
    if (pr != 1 || r <= 1) return p;
    std::vector<int64_t> s(r, 1);
    s[axis] = -1;
    return reshape(c, p, s);
  };
  DType ft = dtype_of(c, scale);
  auto y = cast(c, x, ft);
  if (c.has_input(2)) { IN(zp, 2); y = c.op("sub", {{"x", y}, {"y", bcast(cast(c, zp, ft))}}); }
  c.set_out(0, c.op("mul", {{"x", y}, {"y", bcast(scale)}}));
  return Status::Ok();
}

Status lower_matmul(Ctx& c) {
  IN(a, 0);
  IN(b, 1);
  c.set_out(0, c.op("matmul", {{"x", a}, {"y", b}}));
  return Status::Ok();
}

// MIL einsum has no ellipsis: spell "..." out with unused letters (numpy rules: the ellipsis dims align
// from the right; an implicit output lists them first, then the letters used once, sorted).
Result<std::string> expand_einsum_ellipsis(Ctx& c, std::string eq, const std::vector<std::string>& vals) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  if (eq.find("...") == std::string::npos) return eq;
  auto arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow), rhs = arrow == std::string::npos ? "" : eq.substr(arrow + 2);
  std::vector<std::string> terms;
  for (size_t p = 0;;) {
    auto q = lhs.find(',', p);
    terms.push_back(lhs.substr(p, q == std::string::npos ? std::string::npos : q - p));
    if (q == std::string::npos) break;
    p = q + 1;
  }
  if (terms.size() != vals.size()) return c.fail("einsum equation has " + std::to_string(terms.size()) + " operands");
  std::string fresh;
  for (char ch = 'a'; ch <= 'z'; ++ch)
    if (eq.find(ch) == std::string::npos) fresh += ch;
  std::vector<int> ell(terms.size(), 0);
  int E = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    if (terms[i].find("...") == std::string::npos) continue;
    IM_ASSIGN_OR_RETURN(int r, need_rank(c, vals[i]));
    ell[i] = r - static_cast<int>(terms[i].size() - 3);
    if (ell[i] < 0) return c.fail("einsum operand " + std::to_string(i) + " has fewer dims than letters");
    E = std::max(E, ell[i]);
  }
  if (E > static_cast<int>(fresh.size())) return c.fail("einsum ellipsis covers too many dims");
  std::string all = fresh.substr(0, static_cast<size_t>(E));
  std::map<char, int> count;
  for (auto& t : terms) {
    for (char ch : t) if (ch != '.') ++count[ch];
    auto p = t.find("...");
    if (p != std::string::npos) {
      size_t i = &t - &terms[0];
      t.replace(p, 3, all.substr(static_cast<size_t>(E - ell[i])));
    }
  }
  if (arrow == std::string::npos) {
    rhs = all;
    for (auto& [ch, n] : count) if (n == 1) rhs += ch;
  } else {
    auto p = rhs.find("...");
    if (p != std::string::npos) rhs.replace(p, 3, all);
  }
  std::string out;
  for (size_t i = 0; i < terms.size(); ++i) out += (i ? "," : "") + terms[i];
  return out + "->" + rhs;
}

Status lower_einsum(Ctx& c) {
  std::vector<std::string> vals;
  for (int i = 0; i < c.num_inputs(); ++i) { IN(v, i); vals.push_back(v); }
  IM_ASSIGN_OR_RETURN(std::string eq, expand_einsum_ellipsis(c, c.as("equation", ""), vals));
  c.set_out(0, c.op("einsum", {{"values", vals}, {"equation", sstr(eq)}}));
  return Status::Ok();
}

Status lower_lrn(Ctx& c) {
  IN(x, 0);
  c.set_out(0, c.op("local_response_norm", {{"x", x}, {"size", si32(c.ai("size", 1))}, {"alpha", scalar_like(c, x, c.af("alpha", 1e-4f))},
                                            {"beta", scalar_like(c, x, c.af("beta", 0.75f))}, {"k", scalar_like(c, x, c.af("bias", 1.f))}}));
  return Status::Ok();
}

Status lower_tile(Ctx& c) {
  IN(x, 0);
  IN(reps, 1);
  c.set_out(0, c.op("tile", {{"x", x}, {"reps", reps}}));
  return Status::Ok();
}

Status lower_nonzero(Ctx& c) {
  IN(x, 0);
  auto nz = c.op("non_zero", {{"x", x}});
  c.set_out(0, c.op("transpose", {{"x", nz}, {"perm", ti32({1, 0})}}));
  return Status::Ok();
}

Status lower_gather_nd(Ctx& c) {
  IN(x, 0);
  IN(idx, 1);
  c.set_out(0, c.op("gather_nd", {{"x", x}, {"indices", idx}, {"batch_dims", si32(c.ai("batch_dims", 0))}}));
  return Status::Ok();
}

std::string reduction_mode(Ctx& c) {
  std::string r = c.as("reduction", "none");
  return r == "none" ? "update" : r;
}

Status lower_scatter_elements(Ctx& c) {
  IN(data, 0);
  IN(upd, 2);
  IM_ASSIGN_OR_RETURN(auto dims, need_static_shape(c, data));
  int axis = normalize_axis(c.ai("axis", 0), static_cast<int>(dims.size()));
  if (axis < 0 || axis >= static_cast<int>(dims.size())) return invalid_argument("axis out of range");
  IM_ASSIGN_OR_RETURN(auto idx, normalized_indices(c, 1, dims[axis]));
  c.set_out(0, c.op("scatter_along_axis", {{"data", data}, {"indices", idx}, {"updates", upd}, {"axis", si32(axis)},
                                           {"mode", sstr(reduction_mode(c))}}));
  return Status::Ok();
}

Status lower_scatter_nd(Ctx& c) {
  IN(data, 0);
  IN(idx, 1);
  IN(upd, 2);
  c.set_out(0, c.op("scatter_nd", {{"data", data}, {"indices", idx}, {"updates", upd}, {"mode", sstr(reduction_mode(c))}}));
  return Status::Ok();
}

Status lower_one_hot(Ctx& c) {
  IN(idx_in, 0);
  std::string idx = cast(c, idx_in, DType::kInt32);  // ONNX allows float indices (truncated)
  IM_ASSIGN_OR_RETURN(auto depth_t, c.need_const(1, "depth"));
  IM_ASSIGN_OR_RETURN(auto values, c.need_const(2, "values"));
  int64_t depth = static_cast<int64_t>(depth_t.get_f64(0));
  IM_ASSIGN_OR_RETURN(int r, need_rank(c, idx));
  // Negative indices count from the end of the depth axis.
  auto neg = c.op("less", {{"x", idx}, {"y", si32(0)}});
  auto fixed = c.op("select", {{"cond", neg}, {"a", c.op("add", {{"x", idx}, {"y", si32(depth)}})}, {"b", idx}});
  auto off = Tensor::scalar_f64(values.dtype(), values.get_f64(0)), on = Tensor::scalar_f64(values.dtype(), values.get_f64(1));
  c.set_out(0, c.op("one_hot", {{"indices", fixed}, {"one_hot_vector_size", si32(depth)},
                                {"axis", si32(normalize_axis(c.ai("axis", -1), r + 1))}, {"on_value", on}, {"off_value", off}}));
  return Status::Ok();
}

Status lower_reverse_sequence(Ctx& c) {
  IN(x, 0);
  IN(len, 1);
  c.set_out(0, c.op("reverse_sequence", {{"x", x}, {"lengths", len}, {"seq_axis", si32(c.ai("time_axis", 0))},
                                         {"batch_axis", si32(c.ai("batch_axis", 1))}}));
  return Status::Ok();
}

}  // namespace

Result<mil::Shape> static_shape_of(LowerContext& c, const std::string& n) { return need_static_shape(c, n); }

const std::map<std::string, Lowering>& lowering_table() {
  static const std::map<std::string, Lowering> table = [] {
    std::map<std::string, Lowering> t;
    for (auto [onnx, mil_op] : std::vector<std::pair<const char*, const char*>>{
             {"Abs", "abs"}, {"Acos", "acos"}, {"Asin", "asin"}, {"Atan", "atan"}, {"Atanh", "atanh"}, {"Ceil", "ceil"},
             {"Cos", "cos"}, {"Cosh", "cosh"}, {"Erf", "erf"}, {"Exp", "exp"}, {"Floor", "floor"}, {"Log", "log"},
             {"Not", "logical_not"}, {"Relu", "relu"}, {"Round", "round"}, {"Sigmoid", "sigmoid"}, {"Sign", "sign"},
             {"Sin", "sin"}, {"Sinh", "sinh"}, {"Softplus", "softplus"}, {"Softsign", "softsign"}, {"Sqrt", "sqrt"},
             {"Tan", "tan"}, {"Tanh", "tanh"}})
      t[onnx] = unary(mil_op);
    for (auto [onnx, mil_op] : std::vector<std::pair<const char*, const char*>>{
             {"Add", "add"}, {"Sub", "sub"}, {"Mul", "mul"}, {"Equal", "equal"}, {"Less", "less"}, {"Greater", "greater"},
             {"LessOrEqual", "less_equal"}, {"GreaterOrEqual", "greater_equal"}, {"And", "logical_and"},
             {"Or", "logical_or"}, {"Xor", "logical_xor"}})
      t[onnx] = binary(mil_op);
    t["Max"] = variadic("maximum");
    t["Min"] = variadic("minimum");
    t["Sum"] = variadic("add");
    t["Mean"] = variadic("add", true);
    t["Div"] = {lower_div, nullptr};
    t["Mod"] = {lower_mod, nullptr};
    t["Pow"] = {lower_pow, nullptr};
    t["Neg"] = {lower_neg, nullptr};
    t["Reciprocal"] = {lower_reciprocal, nullptr};
    t["Identity"] = {lower_identity, nullptr};
    t["Dropout"] = {lower_dropout, nullptr};
    t["IsNaN"] = {lower_isnan, nullptr};
    t["IsInf"] = {lower_isinf, nullptr};
    t["LeakyRelu"] = activation("leaky_relu", {{"alpha", {"alpha", 0.01f}}});
    t["Elu"] = activation("elu", {{"alpha", {"alpha", 1.f}}});
    t["HardSigmoid"] = activation("sigmoid_hard", {{"alpha", {"alpha", 0.2f}}, {"beta", {"beta", 0.5f}}});
    t["ThresholdedRelu"] = {lower_thresholded_relu, nullptr};
    t["Acosh"] = {lower_acosh, nullptr};
    t["Asinh"] = {lower_asinh, nullptr};
    t["Selu"] = {lower_selu, nullptr};
    t["Celu"] = {lower_celu, nullptr};
    t["HardSwish"] = {lower_hard_swish, nullptr};
    t["PRelu"] = {lower_prelu, nullptr};
    t["Shrink"] = {lower_shrink, nullptr};
    t["Softmax"] = softmax_like(SoftKind::kSoftmax);
    t["LogSoftmax"] = softmax_like(SoftKind::kLogSoftmax);
    t["Hardmax"] = softmax_like(SoftKind::kHardmax);
    t["MatMul"] = {lower_matmul, nullptr};
    t["Gemm"] = {lower_gemm, nullptr};
    t["Einsum"] = {lower_einsum, nullptr};
    t["Conv"] = {lower_conv, nullptr};
    t["ConvTranspose"] = {lower_conv_transpose, nullptr};
    t["MaxPool"] = pool(true);
    t["AveragePool"] = pool(false);
    t["GlobalAveragePool"] = global_pool("reduce_mean");
    t["GlobalMaxPool"] = global_pool("reduce_max");
    t["BatchNormalization"] = {lower_batch_norm, check_batch_norm};
    t["InstanceNormalization"] = {lower_instance_norm, nullptr};
    t["LayerNormalization"] = {lower_layer_norm, nullptr};
    t["MeanVarianceNormalization"] = {lower_mvn, nullptr};
    t["LRN"] = {lower_lrn, nullptr};
    t["ReduceSum"] = reduction("reduce_sum", 13);
    for (auto [onnx, mil_op] : std::vector<std::pair<const char*, const char*>>{
             {"ReduceMean", "reduce_mean"}, {"ReduceMax", "reduce_max"}, {"ReduceMin", "reduce_min"},
             {"ReduceProd", "reduce_prod"}, {"ReduceL1", "reduce_l1_norm"}, {"ReduceL2", "reduce_l2_norm"},
             {"ReduceLogSum", "reduce_log_sum"}, {"ReduceLogSumExp", "reduce_log_sum_exp"},
             {"ReduceSumSquare", "reduce_sum_square"}})
      t[onnx] = reduction(mil_op, 18);
    t["ArgMax"] = arg_reduce("reduce_argmax");
    t["ArgMin"] = arg_reduce("reduce_argmin");
    t["Reshape"] = {lower_reshape, nullptr};
    t["Transpose"] = {lower_transpose, nullptr};
    t["Concat"] = {lower_concat, nullptr};
    t["Split"] = {lower_split, nullptr};
    t["Slice"] = {lower_slice, nullptr};
    t["Gather"] = gather_like("gather");
    t["GatherElements"] = gather_like("gather_along_axis");
    t["GatherND"] = {lower_gather_nd, nullptr};
    t["ScatterElements"] = {lower_scatter_elements, nullptr};
    t["Scatter"] = {lower_scatter_elements, nullptr};
    t["ScatterND"] = {lower_scatter_nd, nullptr};
    t["Squeeze"] = {lower_squeeze, nullptr};
    t["Unsqueeze"] = {lower_unsqueeze, nullptr};
    t["Flatten"] = {lower_flatten, nullptr};
    t["Expand"] = {lower_expand, nullptr};
    t["Tile"] = {lower_tile, nullptr};
    t["Pad"] = {lower_pad, nullptr};
    t["Cast"] = {lower_cast, check_cast};
    t["CastLike"] = {lower_cast_like, nullptr};
    t["Where"] = {lower_where, nullptr};
    t["Clip"] = {lower_clip, nullptr};
    t["Shape"] = {lower_shape, nullptr};
    t["Size"] = {lower_size, nullptr};
    t["Constant"] = {lower_constant, nullptr};
    t["ConstantOfShape"] = {lower_constant_of_shape, nullptr};
    t["Range"] = {lower_range, nullptr};
    t["TopK"] = {lower_topk, nullptr};
    t["CumSum"] = {lower_cumsum, nullptr};
    t["DepthToSpace"] = {lower_depth_to_space, nullptr};
    t["SpaceToDepth"] = {lower_space_to_depth, nullptr};
    t["Trilu"] = {lower_trilu, nullptr};
    t["EyeLike"] = {lower_eye_like, nullptr};
    t["QuantizeLinear"] = {lower_quantize, nullptr};
    t["DequantizeLinear"] = {lower_dequantize, nullptr};
    t["NonZero"] = {lower_nonzero, nullptr};
    t["OneHot"] = {lower_one_hot, nullptr};
    t["ReverseSequence"] = {lower_reverse_sequence, nullptr};
    add_loss_lowerings(t);
    add_resize_lowerings(t);
    add_recurrent_lowerings(t);
    add_misc_lowerings(t);
    add_control_lowerings(t);
    return t;
  }();
  return table;
}

}  // namespace ironmill::frontends::onnx
