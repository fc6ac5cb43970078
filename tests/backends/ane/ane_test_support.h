// Helpers for the ANE tests: deterministic ramps (ironmill's ane_op_eval inputs), tensor comparison,
// and running a program on the reference interpreter (the oracle, itself checked against NumPy).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../../test_support.h"
#include "backends/ane/profile.h"

namespace ironmill::testing {

// i * step + offset, i = 0..n-1 (ane_op_eval's ramps, e.g. (i - 512) * 0.02).
inline mil::Tensor ramp(mil::DType dt, mil::Shape s, double step, double offset = 0.0) {
  std::vector<double> v(static_cast<size_t>(mil::shape_numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * step + offset;
  return mil::Tensor::from_f64(dt, std::move(s), v);
}

struct ErrorStats {
  double max_abs = 0, nmse = 0;
};
inline ErrorStats compare(const mil::Tensor& a, const mil::Tensor& e) {
  ErrorStats s;
  double num = 0, den = 0;
  EXPECT_EQ(a.numel(), e.numel());
  for (int64_t i = 0; i < std::min(a.numel(), e.numel()); ++i) {
    const double d = a.get_f64(i) - e.get_f64(i);
    s.max_abs = std::max(s.max_abs, std::fabs(d));
    num += d * d;
    den += e.get_f64(i) * e.get_f64(i);
  }
  s.nmse = num / std::max(den, 1e-30);
  return s;
}

inline backends::ane::AneProfile expect_profile(const std::string& name = "m3_pro") {
  auto p = backends::ane::load_profile(name);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : backends::ane::AneProfile{};
}

}  // namespace ironmill::testing
