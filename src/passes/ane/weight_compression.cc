#include "passes/ane/weight_compression.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mil/op_registry.h"

namespace ironmill::passes::ane {

using mil::DType;
using mil::Tensor;

Result<WeightStrategy> parse_weight_strategy(const std::string& s) {
  if (s == "none") return WeightStrategy::kNone;
  if (s == "fp16") return WeightStrategy::kFp16;
  if (s == "int8") return WeightStrategy::kInt8;
  if (s == "palettize_1bit") return WeightStrategy::kPalettize1;
  if (s == "palettize_2bit") return WeightStrategy::kPalettize2;
  if (s == "palettize_4bit") return WeightStrategy::kPalettize4;
  if (s == "palettize_6bit") return WeightStrategy::kPalettize6;
  if (s == "palettize_8bit") return WeightStrategy::kPalettize8;
  return invalid_argument("unknown weight strategy `" + s +
                          "` (none, fp16, int8, palettize_1bit, palettize_2bit, palettize_4bit, palettize_6bit, palettize_8bit)");
}

int palette_bits(WeightStrategy s) {
  switch (s) {
    case WeightStrategy::kPalettize1: return 1;
    case WeightStrategy::kPalettize2: return 2;
    case WeightStrategy::kPalettize4: return 4;
    case WeightStrategy::kPalettize6: return 6;
    case WeightStrategy::kPalettize8: return 8;
    default: return 0;
  }
}

std::string weight_strategy_name(WeightStrategy s) {
  if (s == WeightStrategy::kNone) return "none";
  if (s == WeightStrategy::kFp16) return "fp16";
  if (s == WeightStrategy::kInt8) return "int8";
  return "palettize_" + std::to_string(palette_bits(s)) + "bit";
}

Codebook kmeans_1d(const std::vector<double>& values, int k, int max_iters) {
  Codebook cb;
  if (values.empty() || k < 1) return cb;
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  std::vector<double> distinct = sorted;
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  const size_t n = sorted.size();
  if (distinct.size() <= static_cast<size_t>(k)) {
    cb.centroids = distinct;  // exact: one entry per distinct value
  } else {
    for (int i = 0; i < k; ++i) {
      const size_t at = std::min(n - 1, static_cast<size_t>((i + 0.5) / k * static_cast<double>(n)));
      cb.centroids.push_back(sorted[at]);
    }
    cb.centroids.erase(std::unique(cb.centroids.begin(), cb.centroids.end()), cb.centroids.end());
  }
  // Assign to the nearest centroid (ties to the lower one); 1-D, so centroids stay sorted.
  auto assign = [&](double v) {
    auto it = std::lower_bound(cb.centroids.begin(), cb.centroids.end(), v);
    if (it == cb.centroids.end()) return static_cast<int64_t>(cb.centroids.size() - 1);
    const int64_t j = it - cb.centroids.begin();
    if (j > 0 && v - cb.centroids[static_cast<size_t>(j - 1)] <= *it - v) return j - 1;
    return j;
  };
  cb.index.assign(values.size(), -1);
  for (int iter = 0; iter < max_iters; ++iter) {
    bool moved = false;
    for (size_t i = 0; i < values.size(); ++i) {
      const int64_t j = assign(values[i]);
      moved |= j != cb.index[i];
      cb.index[i] = j;
    }
    if (!moved) break;
    std::vector<double> sum(cb.centroids.size(), 0.0);
    std::vector<int64_t> cnt(cb.centroids.size(), 0);
    for (size_t i = 0; i < values.size(); ++i) sum[static_cast<size_t>(cb.index[i])] += values[i], ++cnt[static_cast<size_t>(cb.index[i])];
    for (size_t j = 0; j < sum.size(); ++j)
      if (cnt[j] > 0) cb.centroids[j] = sum[j] / static_cast<double>(cnt[j]);  // an empty cluster keeps its seed
  }
  return cb;
}

bool is_float_weight_const(const mil::Operation& op, int64_t min_elements) {
  if (op.type != "const") return false;
  auto it = op.attributes.find("val");
  if (it == op.attributes.end() || !it->second.is_tensor()) return false;
  const Tensor& t = it->second.tensor();
  const DType d = t.dtype();
  return (d == DType::kFp32 || d == DType::kFp16 || d == DType::kFp64) && t.rank() >= 1 && t.numel() >= min_elements;
}

Result<bool> compress_weight(mil::Operation& op, WeightStrategy strategy, const std::string& opset) {
  if (strategy == WeightStrategy::kNone || !is_float_weight_const(op)) return false;
  if (mil::opset_version(opset).value_or(0) < 18) return false;
  const Tensor w = op.attributes.at("val").tensor();
  const int64_t n = w.numel();
  const std::string out = op.outputs.at(0).name;
  mil::Operation r;
  r.outputs = op.outputs;
  r.attributes["name"] = mil::Value::of(Tensor::scalar_string(out));
  if (strategy == WeightStrategy::kFp16) {
    Tensor rounded = w.cast_to(DType::kFp16).cast_to(w.dtype());
    bool same = true;
    for (int64_t i = 0; i < n && same; ++i) same = rounded.get_f64(i) == w.get_f64(i);
    if (same) return false;
    op.attributes["val"] = mil::Value::of(rounded);
    return true;
  }
  if (strategy == WeightStrategy::kInt8) {
    const int64_t c0 = w.shape()[0], inner = n / std::max<int64_t>(c0, 1);
    mil::Shape sshape(static_cast<size_t>(w.rank()), 1);
    sshape[0] = c0;
    Tensor scale(w.dtype(), sshape), data(DType::kInt8, w.shape());
    for (int64_t c = 0; c < c0; ++c) {
      double m = 0;
      for (int64_t i = 0; i < inner; ++i) m = std::max(m, std::fabs(w.get_f64(c * inner + i)));
      const double s = m > 0 ? m / 127.0 : 1.0;
      scale.set_f64(c, s);
      for (int64_t i = 0; i < inner; ++i)
        data.set_i64(c * inner + i, static_cast<int64_t>(std::clamp(std::nearbyint(w.get_f64(c * inner + i) / s), -127.0, 127.0)));
    }
    r.type = "constexpr_blockwise_shift_scale";
    r.inputs["data"].bindings = {mil::Binding::constant(mil::Value::of(data))};
    r.inputs["scale"].bindings = {mil::Binding::constant(mil::Value::of(scale))};
    op = std::move(r);
    return true;
  }
  const int bits = palette_bits(strategy);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = w.get_f64(i);
  Codebook cb = kmeans_1d(v, 1 << bits);
  const int64_t k = int64_t{1} << bits;
  mil::Shape lshape(static_cast<size_t>(w.rank()), 1);
  lshape.push_back(k);
  lshape.push_back(1);
  Tensor lut(w.dtype(), lshape);
  for (int64_t j = 0; j < k; ++j)  // unused entries repeat the last centroid
    lut.set_f64(j, cb.centroids[static_cast<size_t>(std::min<int64_t>(j, static_cast<int64_t>(cb.centroids.size()) - 1))]);
  static const DType kIndexTypes[] = {DType::kUint1, DType::kUint2, DType::kUint3, DType::kUint4,
                                      DType::kUint6, DType::kUint6, DType::kUint8, DType::kUint8};
  Tensor idx(kIndexTypes[bits - 1], w.shape());
  for (int64_t i = 0; i < n; ++i) idx.set_i64(i, cb.index[static_cast<size_t>(i)]);
  r.type = "constexpr_lut_to_dense";
  r.inputs["indices"].bindings = {mil::Binding::constant(mil::Value::of(idx))};
  r.inputs["lut"].bindings = {mil::Binding::constant(mil::Value::of(lut))};
  op = std::move(r);
  return true;
}

}  // namespace ironmill::passes::ane
