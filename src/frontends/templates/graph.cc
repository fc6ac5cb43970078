#include "frontends/templates/graph.h"

#include <algorithm>
#include <cmath>

namespace ironmill::templates {

using mil::DType;
using mil::Shape;
using mil::Tensor;

Graph::Graph(mil::Program& program, const std::string& function, const WeightSource& weights)
    : b_(program, function, "ios18"), weights_(weights) {}

Status Graph::status() const { return own_.ok() ? b_.status() : own_; }

void Graph::fail(Status s) {
  if (own_.ok() && b_.status().ok()) own_ = std::move(s);
}

std::string Graph::weight(const std::string& name, const Shape& expected) {
  if (!ok()) return {};
  auto s = weights_.shape(name);
  if (!s) {
    fail(not_found(weights_.describe() + ": missing tensor `" + weights_.stored_name(name) + "` (expected shape " +
                   mil::shape_to_string(expected) + ")"));
    return {};
  }
  if (*s != expected) {
    fail(invalid_argument(weights_.describe() + ": tensor `" + weights_.stored_name(name) + "` has shape " + mil::shape_to_string(*s) +
                          ", expected " + mil::shape_to_string(expected)));
    return {};
  }
  auto v = weights_.fp32_constant(name);
  if (!v.ok()) {
    fail(v.status());
    return {};
  }
  return b_.constant(*v);
}

std::optional<Tensor> Graph::weight_tensor(const std::string& name, const Shape& expected) {
  if (!ok()) return std::nullopt;
  auto s = weights_.shape(name);
  if (!s || *s != expected) {
    weight(name, expected);  // records the error
    return std::nullopt;
  }
  auto t = weights_.fp32_tensor(name);
  if (!t.ok()) {
    fail(t.status());
    return std::nullopt;
  }
  return *t;
}

std::string Graph::f32(const std::vector<double>& values, const Shape& shape) {
  return b_.constant(Tensor::from_f64(DType::kFp32, shape, values));
}

std::string Graph::i32(const std::vector<int64_t>& values, const Shape& shape) {
  return b_.constant(Tensor::from_i64(DType::kInt32, shape, values));
}

std::string Graph::op(const std::string& type, const std::map<std::string, mil::Builder::Arg>& inputs) {
  if (!ok()) return {};
  return b_.op(type, inputs);
}

std::vector<std::string> Graph::ops(const std::string& type, const std::map<std::string, mil::Builder::Arg>& inputs) {
  if (!ok()) return {};
  return b_.ops(type, inputs);
}

std::string Graph::scale(const std::string& x, double s) {
  return op("mul", {{"x", x}, {"y", Tensor::scalar_f64(DType::kFp32, s)}});
}

std::string Graph::add_scalar(const std::string& x, double s) {
  return op("add", {{"x", x}, {"y", Tensor::scalar_f64(DType::kFp32, s)}});
}

std::string Graph::reshape(const std::string& x, const Shape& shape) {
  return op("reshape", {{"x", x}, {"shape", Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(shape.size())}, shape)}});
}

std::string Graph::transpose(const std::string& x, const std::vector<int64_t>& perm) {
  return op("transpose", {{"x", x}, {"perm", Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(perm.size())}, perm)}});
}

std::string Graph::matmul(const std::string& x, const std::string& y, bool transpose_y) {
  return op("matmul", {{"x", x}, {"y", y}, {"transpose_x", Tensor::scalar_bool(false)},
                       {"transpose_y", Tensor::scalar_bool(transpose_y)}});
}

std::string Graph::softmax(const std::string& x, int64_t axis) {
  return op("softmax", {{"x", x}, {"axis", Tensor::scalar_i64(DType::kInt32, axis)}});
}

std::string Graph::concat(const std::vector<std::string>& xs, int64_t axis) {
  return op("concat", {{"values", xs}, {"axis", Tensor::scalar_i64(DType::kInt32, axis)},
                       {"interleave", Tensor::scalar_bool(false)}});
}

const Shape& Graph::shape(const std::string& x) {
  const mil::Type* t = b_.type_of(x);
  return t ? t->dims : empty_;
}

std::string Graph::slice(const std::string& x, int64_t axis, int64_t begin, int64_t end) {
  if (!ok()) return {};
  const Shape s = shape(x);
  const int64_t r = static_cast<int64_t>(s.size());
  if (axis < 0) axis += r;
  std::vector<int64_t> b(r, 0), e(s.begin(), s.end());
  b[axis] = begin;
  e[axis] = end;
  return op("slice_by_index", {{"x", x}, {"begin", Tensor::from_i64(DType::kInt32, {r}, b)},
                               {"end", Tensor::from_i64(DType::kInt32, {r}, e)}});
}

std::string Graph::reduce(const std::string& type, const std::string& x, int64_t axis, bool keep_dims) {
  return op(type, {{"x", x}, {"axes", Tensor::from_i64(DType::kInt32, {1}, std::vector<int64_t>{axis})},
                   {"keep_dims", Tensor::scalar_bool(keep_dims)}});
}

std::string Graph::gelu_tanh(const std::string& x) {
  return op("gelu", {{"x", x}, {"mode", Tensor::scalar_string("TANH_APPROXIMATION")}});
}

std::string Graph::softcap(const std::string& x, double cap) {
  return scale(unary("tanh", scale(x, 1.0 / cap)), cap);
}

std::string Graph::linear(const std::string& x, const std::string& prefix, int64_t in, int64_t out, bool bias) {
  std::string w = weight(prefix + ".weight", {out, in});
  if (!ok()) return {};
  std::map<std::string, mil::Builder::Arg> args{{"x", x}, {"weight", w}};
  if (bias) {
    std::string bn = weight(prefix + ".bias", {out});
    if (!ok()) return {};
    args["bias"] = bn;
  }
  return op("linear", args);
}

std::string Graph::rms_norm(const std::string& x, const std::string& weight_name, int64_t dim, double eps,
                            NormStyle style) {
  std::string ms = reduce("reduce_mean", mul(x, x), -1, true);
  std::string inv = op("rsqrt", {{"x", ms}, {"epsilon", Tensor::scalar_f64(DType::kFp32, eps)}});
  std::string y = mul(x, inv);
  if (style == NormStyle::kNoWeight) return y;
  std::string w = weight(weight_name, {dim});
  if (style == NormStyle::kOnePlusWeight) w = add_scalar(w, 1.0);
  return mul(y, w);
}

namespace {

// HF computes the angles in fp32: inv_freq = 1 / base^(2i/d) and angle = inv_freq * position, each
// rounded to fp32; we reproduce that rounding, then take cos/sin of the rounded angle.
std::vector<float> inverse_frequencies(const RopeSpec& s) {
  std::vector<float> inv(static_cast<size_t>(s.rotary_dim / 2), 0.0f);
  for (int64_t i = 0; i < std::min(s.active_pairs, s.rotary_dim / 2); ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(s.freq_dim);
    const float p = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(s.theta)), static_cast<double>(e)));
    uint8_t bits[8];
    mil::store_f64(s.freq_dtype, bits, static_cast<double>(1.0f / p));
    inv[static_cast<size_t>(i)] = static_cast<float>(mil::load_f64(s.freq_dtype, bits));
  }
  return inv;
}

}  // namespace

std::pair<std::string, std::string> Graph::rope_tables(const RopeSpec& spec, int64_t positions) {
  auto key = std::make_pair(spec, positions);
  if (auto it = rope_cache_.find(key); it != rope_cache_.end()) return it->second;
  const auto inv = inverse_frequencies(spec);
  const int64_t d = spec.head_dim, half = spec.rotary_dim / 2;
  std::vector<double> c(static_cast<size_t>(positions * d), 1.0), s(static_cast<size_t>(positions * d), 0.0);
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t j = 0; j < spec.rotary_dim; ++j) {
      const float angle = inv[static_cast<size_t>(j % half)] * static_cast<float>(p);
      c[static_cast<size_t>(p * d + j)] = static_cast<float>(std::cos(static_cast<double>(angle)) * spec.attention_scaling);
      s[static_cast<size_t>(p * d + j)] = static_cast<float>(std::sin(static_cast<double>(angle)) * spec.attention_scaling);
    }
  auto names = std::make_pair(f32(c, {positions, d}), f32(s, {positions, d}));
  rope_cache_[key] = names;
  return names;
}

std::string Graph::apply_rope(const std::string& x, const RopeSpec& spec, const std::string& cos,
                              const std::string& sin) {
  const int64_t d = spec.head_dim, half = spec.rotary_dim / 2;
  auto it = rotate_cache_.find(spec);
  std::string rot_name;
  if (it != rotate_cache_.end()) {
    rot_name = it->second;
  } else {
    // rotate_half over the rotary dims as a matrix: (x·R)[j] = -x[j+half] (j < half), x[j-half] (half <= j < rot).
    std::vector<double> r(static_cast<size_t>(d * d), 0.0);
    for (int64_t j = 0; j < half; ++j) r[static_cast<size_t>((j + half) * d + j)] = -1.0;
    for (int64_t j = half; j < spec.rotary_dim; ++j) r[static_cast<size_t>((j - half) * d + j)] = 1.0;
    rot_name = f32(r, {d, d});
    rotate_cache_[spec] = rot_name;
  }
  std::string xin = x;
  if (spec.interleaved) {
    // (x0, x1, x2, x3, ...) -> (x0, x2, ..., x1, x3, ...) over the rotary dims, then rotate halves.
    std::vector<double> p(static_cast<size_t>(d * d), 0.0);
    for (int64_t j = 0; j < d; ++j) {
      int64_t src = j;
      if (j < spec.rotary_dim) src = j < half ? 2 * j : 2 * (j - half) + 1;
      p[static_cast<size_t>(src * d + j)] = 1.0;
    }
    xin = matmul(x, f32(p, {d, d}));
  }
  return add(mul(xin, cos), mul(matmul(xin, rot_name), sin));
}

void rename_values(mil::Function& f, const std::map<std::string, std::string>& renames) {
  auto fix = [&](std::string& n) {
    auto it = renames.find(n);
    if (it != renames.end()) n = it->second;
  };
  for (auto& op : f.body.operations) {
    for (auto& o : op.outputs) fix(o.name);
    for (auto& [k, a] : op.inputs)
      for (auto& b : a.bindings)
        if (b.is_ref()) fix(b.name);
  }
  for (auto& o : f.body.outputs) fix(o);
}

}  // namespace ironmill::templates
