// Reference kernels for the random ops.
//
// The generator is std::mt19937_64 seeded with `seed`; seed < 0 (the default -1) means "not reproducible" and
// seeds from std::random_device. Distributions are derived by hand from the raw 64-bit stream (the std::
// distributions are implementation-defined), so a given seed gives the same values on every platform:
//   uniform:   u = (bits >> 11) * 2^-53 in [0, 1);  low + (high - low) * u, redrawn if rounding reaches high
//   normal:    Box-Muller, mean + stddev * sqrt(-2 ln(1 - u1)) * cos(2 pi u2)
//   bernoulli: 1 if u < prob else 0
//   categorical: per distribution row, p = softmax(logits) (mode "logits") or p = x / sum(x) (mode "probs");
//                each of the `size` draws is the first class whose cumulative probability exceeds u * sum(p).
// Outputs hold the sampled values (categorical: class indices) in the output dtype.
#include <cmath>
#include <numbers>
#include <random>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

class Rng {
 public:
  explicit Rng(int64_t seed) : g_(seed >= 0 ? static_cast<uint64_t>(seed) : std::random_device{}()) {}
  double uniform() { return static_cast<double>(g_() >> 11) * 0x1.0p-53; }
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 g_;
};

// Rounds v to dtype `dt` and back.
double round_to(DType dt, double v) {
  uint8_t buf[8] = {};
  mil::store_f64(dt, buf, v);
  return mil::load_f64(dt, buf);
}

Result<Shape> target_shape(const KernelContext& c) {
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> s, c.get_ints("shape"));
  for (int64_t d : s)
    if (d < 0) return c.error("shape dims must be >= 0, got " + std::to_string(d));
  return Shape(s.begin(), s.end());
}

template <class F>
Status fill(KernelContext& c, F draw) {
  IM_ASSIGN_OR_RETURN(Shape shape, target_shape(c));
  IM_ASSIGN_OR_RETURN(int64_t seed, c.get_int("seed"));
  Rng rng(seed);
  std::vector<double> v(static_cast<size_t>(mil::shape_numel(shape)));
  for (auto& e : v) e = draw(rng);
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), shape, v));
  return Status::Ok();
}

Status bernoulli(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(double p, c.get_float("prob"));
  if (!(p >= 0 && p <= 1)) return c.error("prob must be in [0, 1], got " + std::to_string(p));
  return fill(c, [p](Rng& r) { return r.uniform() < p ? 1.0 : 0.0; });
}

Status normal(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(double mean, c.get_float("mean"));
  IM_ASSIGN_OR_RETURN(double sd, c.get_float("stddev"));
  if (!(sd >= 0)) return c.error("stddev must be >= 0, got " + std::to_string(sd));
  return fill(c, [mean, sd](Rng& r) { return mean + sd * r.normal(); });
}

Status uniform(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(double lo, c.get_float("low"));
  IM_ASSIGN_OR_RETURN(double hi, c.get_float("high"));
  if (hi < lo) return c.error("high (" + std::to_string(hi) + ") must be >= low (" + std::to_string(lo) + ")");
  const DType dt = kutil::out_dtype(c);
  return fill(c, [lo, hi, dt](Rng& r) {
    if (hi == lo) return lo;
    for (int tries = 0; tries < 64; ++tries) {
      const double v = lo + (hi - lo) * r.uniform();
      if (round_to(dt, v) < hi) return v;  // [low, high): never let rounding produce `high`
    }
    return lo;
  });
}

Status categorical(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::string mode, c.get_string("mode"));
  IM_ASSIGN_OR_RETURN(int64_t size, c.get_int("size"));
  IM_ASSIGN_OR_RETURN(int64_t seed, c.get_int("seed"));
  if (mode != "logits" && mode != "probs") return c.error("unknown mode \"" + mode + "\"");
  if (x.rank() < 1 || x.dim(-1) <= 0) return c.error("x needs a non-empty last axis, got " + mil::shape_to_string(x.shape()));
  if (size <= 0) return c.error("size must be > 0");
  const int64_t K = x.dim(-1), rows = x.numel() / K;
  const std::vector<double> v = x.to_f64();
  Rng rng(seed);
  std::vector<double> out;
  out.reserve(static_cast<size_t>(rows * size));
  std::vector<double> p(static_cast<size_t>(K));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = v.data() + r * K;
    double total = 0;
    if (mode == "logits") {
      double mx = -INFINITY;
      for (int64_t k = 0; k < K; ++k) mx = std::max(mx, row[k]);
      if (!std::isfinite(mx)) return c.error("distribution " + std::to_string(r) + " has no finite logit");
      for (int64_t k = 0; k < K; ++k) total += p[static_cast<size_t>(k)] = std::exp(row[k] - mx);
    } else {
      for (int64_t k = 0; k < K; ++k) {
        if (!(row[k] >= 0)) return c.error("probs must be >= 0, got " + std::to_string(row[k]));
        total += p[static_cast<size_t>(k)] = row[k];
      }
      if (!(total > 0) || !std::isfinite(total)) return c.error("distribution " + std::to_string(r) + " has no mass");
    }
    for (int64_t s = 0; s < size; ++s) {
      const double target = rng.uniform() * total;
      double cum = 0;
      int64_t pick = K - 1;
      for (int64_t k = 0; k < K; ++k) {
        cum += p[static_cast<size_t>(k)];
        if (cum > target && p[static_cast<size_t>(k)] > 0) {
          pick = k;
          break;
        }
      }
      while (pick > 0 && p[static_cast<size_t>(pick)] == 0) --pick;  // rounding fell off the end
      out.push_back(static_cast<double>(pick));
    }
  }
  Shape shape = x.shape();
  shape.back() = size;
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), shape, out));
  return Status::Ok();
}

}  // namespace

void register_random_kernels(KernelTable& t) {
  t.add("random_bernoulli", bernoulli);
  t.add("random_normal", normal);
  t.add("random_uniform", uniform);
  t.add("random_categorical", categorical);
}

}  // namespace ironmill::backends::reference
