// Reference kernels for the elementwise ops.
// Floats are computed in double from the stored input values and rounded once to the output dtype.
// Integer ops are exact in 64-bit arithmetic and wrap to the output width like numpy's int32 arithmetic.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_integer_dtype(DType t) { return mil::is_int(t) || t == DType::kBool; }

// Two's-complement wrap of v into an integer dtype (numpy overflow and int->int astype behaviour).
int64_t wrap_to(DType t, int64_t v) {
  switch (t) {
    case DType::kInt8: return static_cast<int8_t>(static_cast<uint8_t>(v));
    case DType::kInt16: return static_cast<int16_t>(static_cast<uint16_t>(v));
    case DType::kInt32: return static_cast<int32_t>(static_cast<uint32_t>(v));
    case DType::kUint8: return static_cast<uint8_t>(v);
    case DType::kUint16: return static_cast<uint16_t>(v);
    case DType::kUint32: return static_cast<uint32_t>(v);
    case DType::kBool: return v != 0;
    default: return v;
  }
}

Tensor ints_out(DType t, const Shape& shape, std::vector<int64_t> v) {
  for (auto& e : v) e = wrap_to(t, e);
  return Tensor::from_i64(t, shape, v);
}

// ---- unary ---------------------------------------------------------------------------------------

using F1 = std::function<double(double)>;
using I1 = std::function<int64_t(int64_t)>;

KernelFn unary(F1 f, I1 fi = nullptr) {
  return [f, fi](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    const DType out = kutil::out_dtype(c);
    if (mil::is_int(x.dtype())) {
      if (!fi) return c.error("integer input not supported");
      auto v = x.to_i64();
      for (auto& e : v) e = fi(e);
      c.set_output(0, ints_out(out, x.shape(), std::move(v)));
      return Status::Ok();
    }
    auto v = x.to_f64();
    for (auto& e : v) e = f(e);
    c.set_output(0, Tensor::from_f64(out, x.shape(), v));
    return Status::Ok();
  };
}

// y = f(x + epsilon), epsilon a scalar (default materialised in x's dtype, as coremltools does).
KernelFn unary_eps(std::function<double(double)> f) {
  return [f](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    IM_ASSIGN_OR_RETURN(double eps, c.get_float("epsilon"));
    auto v = x.to_f64();
    for (auto& e : v) e = f(e + eps);
    c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), v));
    return Status::Ok();
  };
}

double sign_of(double v) {
  if (std::isnan(v)) return v;
  return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0);
}

// numpy's max/min: NaN propagates.
double np_max(double a, double b) { return (std::isnan(a) || std::isnan(b)) ? kNaN : (a >= b ? a : b); }
double np_min(double a, double b) { return (std::isnan(a) || std::isnan(b)) ? kNaN : (a <= b ? a : b); }

// numpy's npy_divmod for floats: floor division and the matching modulus (sign of the divisor).
double np_floordiv(double a, double b) {
  if (b == 0) return a / b;
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) div -= 1.0;
  }
  if (div != 0) {
    double fd = std::floor(div);
    if (div - fd > 0.5) fd += 1.0;
    return fd;
  }
  return std::copysign(0.0, a / b);
}
double np_mod(double a, double b) {
  double mod = std::fmod(a, b);
  if (b == 0) return mod;
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

// ---- binary --------------------------------------------------------------------------------------

struct Broadcast {
  Shape shape;
  std::vector<std::vector<int64_t>> index;  // per input: flat source index of each output element
};

Result<Broadcast> broadcast(KernelContext& c, const std::vector<const Tensor*>& ins,
                            const std::vector<std::string>& names) {
  Broadcast b;
  b.shape = ins[0]->shape();
  for (size_t i = 1; i < ins.size(); ++i) {
    auto s = mil::infer::broadcast_shapes(b.shape, ins[i]->shape());
    if (!s.ok())
      return c.error("input `" + names[i] + "` shape " + mil::shape_to_string(ins[i]->shape()) +
                     " does not broadcast with " + mil::shape_to_string(b.shape));
    b.shape = *s;
  }
  for (const Tensor* t : ins) b.index.push_back(kutil::broadcast_index(b.shape, t->shape()));
  return b;
}

using F2 = std::function<double(double, double)>;
// Integer functor: nullopt = undefined for these operands (the kernel reports `int_error`).
using I2 = std::function<std::optional<int64_t>(int64_t, int64_t)>;

KernelFn binary(F2 f, I2 fi = nullptr, std::string int_error = "") {
  return [f, fi, int_error](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    IM_ASSIGN_OR_RETURN(Tensor y, c.tensor("y"));
    IM_ASSIGN_OR_RETURN(Broadcast b, broadcast(c, {&x, &y}, {"x", "y"}));
    const DType out = kutil::out_dtype(c);
    const size_t n = b.index[0].size();
    if (is_integer_dtype(x.dtype()) && fi) {
      auto xv = x.to_i64(), yv = y.to_i64();
      std::vector<int64_t> r(n);
      for (size_t i = 0; i < n; ++i) {
        const int64_t a = xv[b.index[0][i]], d = yv[b.index[1][i]];
        auto v = fi(a, d);
        if (!v) return c.error(int_error + " (x = " + std::to_string(a) + ", y = " + std::to_string(d) + ")");
        r[i] = *v;
      }
      c.set_output(0, ints_out(out, b.shape, std::move(r)));
      return Status::Ok();
    }
    auto xv = x.to_f64(), yv = y.to_f64();
    std::vector<double> r(n);
    for (size_t i = 0; i < n; ++i) r[i] = f(xv[b.index[0][i]], yv[b.index[1][i]]);
    c.set_output(0, Tensor::from_f64(out, b.shape, r));
    return Status::Ok();
  };
}

// Comparisons and logical ops: computed on doubles (int32 and bool are exact there), bool output.
KernelFn predicate(std::function<bool(double, double)> f) {
  return binary([f](double a, double b) { return f(a, b) ? 1.0 : 0.0; });
}

std::optional<int64_t> int_pow(int64_t base, int64_t exp) {
  if (exp < 0) return std::nullopt;
  // Square-and-multiply with 32-bit wrap at each step (numpy's int32 power wraps the same way).
  uint32_t result = 1, b = static_cast<uint32_t>(base);
  while (exp > 0) {
    if (exp & 1) result *= b;
    b *= b;
    exp >>= 1;
  }
  return static_cast<int32_t>(result);
}

}  // namespace

void register_elementwise_kernels(KernelTable& t) {
  // Unary float ops.
  t.add("acos", unary([](double v) { return std::acos(v); }));
  t.add("asin", unary([](double v) { return std::asin(v); }));
  t.add("atan", unary([](double v) { return std::atan(v); }));
  t.add("atanh", unary([](double v) { return std::atanh(v); }));
  t.add("ceil", unary([](double v) { return std::ceil(v); }));
  t.add("cos", unary([](double v) { return std::cos(v); }));
  t.add("cosh", unary([](double v) { return std::cosh(v); }));
  t.add("erf", unary([](double v) { return std::erf(v); }));
  t.add("exp", unary([](double v) { return std::exp(v); }));
  t.add("floor", unary([](double v) { return std::floor(v); }));
  // numpy round: half to even (nearbyint in the default rounding mode).
  t.add("round", unary([](double v) { return std::nearbyint(v); }));
  t.add("sin", unary([](double v) { return std::sin(v); }));
  t.add("sinh", unary([](double v) { return std::sinh(v); }));
  t.add("sqrt", unary([](double v) { return std::sqrt(v); }));
  t.add("tan", unary([](double v) { return std::tan(v); }));
  t.add("tanh", unary([](double v) { return std::tanh(v); }));
  t.add("logical_not", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    auto v = x.to_i64();
    for (auto& e : v) e = e == 0 ? 1 : 0;
    c.set_output(0, Tensor::from_i64(DType::kBool, x.shape(), v));
    return Status::Ok();
  });

  // Unary ops that also take int32 (exact integer results, wrapping like numpy).
  t.add("abs", unary([](double v) { return std::fabs(v); }, [](int64_t v) { return v < 0 ? -v : v; }));
  t.add("sign", unary(sign_of, [](int64_t v) -> int64_t { return v > 0 ? 1 : (v < 0 ? -1 : 0); }));
  t.add("square", unary([](double v) { return v * v; }, [](int64_t v) { return v * v; }));
  // exp2 on int32: numpy computes 2.0**x and the int32 output truncates (2^-k -> 0).
  t.add("exp2", unary([](double v) { return std::exp2(v); },
                      [](int64_t v) -> int64_t {
                        if (v < 0) return 0;
                        if (v >= 63) return std::numeric_limits<int64_t>::max();
                        return int64_t{1} << v;
                      }));

  // y = f(x + epsilon).
  t.add("inverse", unary_eps([](double v) { return 1.0 / v; }));
  t.add("log", unary_eps([](double v) { return std::log(v); }));
  t.add("rsqrt", unary_eps([](double v) { return 1.0 / std::sqrt(v); }));

  // threshold(x, alpha) = max(x, alpha); exact for int32.
  t.add("threshold", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    const DType out = kutil::out_dtype(c);
    if (mil::is_int(x.dtype())) {
      IM_ASSIGN_OR_RETURN(int64_t a, c.get_int("alpha"));
      auto v = x.to_i64();
      for (auto& e : v) e = e < a ? a : e;
      c.set_output(0, ints_out(out, x.shape(), std::move(v)));
      return Status::Ok();
    }
    IM_ASSIGN_OR_RETURN(double a, c.get_float("alpha"));
    auto v = x.to_f64();
    for (auto& e : v) e = np_max(e, a);
    c.set_output(0, Tensor::from_f64(out, x.shape(), v));
    return Status::Ok();
  });

  // clip(x, alpha, beta) = min(max(x, alpha), beta) (coremltools value_inference; NaN propagates).
  t.add("clip", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    IM_ASSIGN_OR_RETURN(double a, c.get_float("alpha"));
    IM_ASSIGN_OR_RETURN(double b, c.get_float("beta"));
    auto v = x.to_f64();
    for (auto& e : v) e = np_min(np_max(e, a), b);
    c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), x.shape(), v));
    return Status::Ok();
  });

  // Binary arithmetic.
  t.add("add", binary([](double a, double b) { return a + b; },
                      [](int64_t a, int64_t b) -> std::optional<int64_t> { return a + b; }));
  t.add("sub", binary([](double a, double b) { return a - b; },
                      [](int64_t a, int64_t b) -> std::optional<int64_t> { return a - b; }));
  t.add("mul", binary([](double a, double b) { return a * b; },
                      [](int64_t a, int64_t b) -> std::optional<int64_t> { return a * b; }));
  // real_div on int32: coremltools declares an int32 output (value inference is operator.truediv); we
  // take the true quotient truncated toward zero, as numpy's astype(int32) of that quotient does.
  t.add("real_div", binary([](double a, double b) { return a / b; },
                           [](int64_t a, int64_t b) -> std::optional<int64_t> {
                             if (b == 0) return std::nullopt;
                             return a / b;  // C++ division truncates toward zero
                           },
                           "integer division by zero"));
  // floor_div = operator.floordiv (rounds toward -inf), mod = operator.mod (result has the divisor's sign).
  t.add("floor_div", binary(np_floordiv,
                            [](int64_t a, int64_t b) -> std::optional<int64_t> {
                              if (b == 0) return std::nullopt;
                              int64_t q = a / b;
                              if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
                              return q;
                            },
                            "integer division by zero"));
  t.add("mod", binary(np_mod,
                      [](int64_t a, int64_t b) -> std::optional<int64_t> {
                        if (b == 0) return std::nullopt;
                        int64_t r = a % b;
                        if (r != 0 && ((r < 0) != (b < 0))) r += b;
                        return r;
                      },
                      "integer modulo by zero"));
  // pow on int32: exact, wrapping; negative exponents are an error (numpy: "Integers to negative
  // integer powers are not allowed").
  t.add("pow", binary([](double a, double b) { return std::pow(a, b); }, int_pow,
                      "integer pow with a negative exponent is undefined"));
  t.add("maximum", binary(np_max, [](int64_t a, int64_t b) -> std::optional<int64_t> { return a > b ? a : b; }));
  t.add("minimum", binary(np_min, [](int64_t a, int64_t b) -> std::optional<int64_t> { return a < b ? a : b; }));

  // Comparisons (IEEE semantics: NaN compares unequal / false).
  t.add("equal", predicate([](double a, double b) { return a == b; }));
  t.add("not_equal", predicate([](double a, double b) { return a != b; }));
  t.add("less", predicate([](double a, double b) { return a < b; }));
  t.add("less_equal", predicate([](double a, double b) { return a <= b; }));
  t.add("greater", predicate([](double a, double b) { return a > b; }));
  t.add("greater_equal", predicate([](double a, double b) { return a >= b; }));
  t.add("logical_and", predicate([](double a, double b) { return a != 0 && b != 0; }));
  t.add("logical_or", predicate([](double a, double b) { return a != 0 || b != 0; }));
  t.add("logical_xor", predicate([](double a, double b) { return (a != 0) != (b != 0); }));

  // select(cond, a, b): element bits of a where cond, else of b; all three broadcast.
  t.add("select", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor cond, c.tensor("cond"));
    IM_ASSIGN_OR_RETURN(Tensor a, c.tensor("a"));
    IM_ASSIGN_OR_RETURN(Tensor b, c.tensor("b"));
    if (a.dtype() != b.dtype()) return c.error("`a` and `b` must have the same dtype");
    IM_ASSIGN_OR_RETURN(Broadcast bc, broadcast(c, {&cond, &a, &b}, {"cond", "a", "b"}));
    Tensor out(a.dtype(), bc.shape);
    const size_t eb = static_cast<size_t>(mil::dtype_element_bytes(a.dtype()));
    auto cv = cond.to_i64();
    uint8_t* dst = out.mutable_raw();
    const uint8_t* pa = a.raw();
    const uint8_t* pb = b.raw();
    for (size_t i = 0; i < bc.index[0].size(); ++i) {
      const bool take_a = cv[bc.index[0][i]] != 0;
      const uint8_t* src = take_a ? pa + bc.index[1][i] * eb : pb + bc.index[2][i] * eb;
      std::memcpy(dst + i * eb, src, eb);
    }
    c.set_output(0, std::move(out));
    return Status::Ok();
  });

  // cast(x, dtype). float -> int truncates toward zero (numpy astype; out-of-range saturates here, where
  // numpy is undefined); int -> narrower int wraps like numpy astype; anything -> bool is `x != 0`
  // (NaN -> true); -> float rounds once to nearest even.
  t.add("cast", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    const DType out = kutil::out_dtype(c);
    if (is_integer_dtype(x.dtype()) && mil::is_int(out)) {
      c.set_output(0, ints_out(out, x.shape(), x.to_i64()));
      return Status::Ok();
    }
    c.set_output(0, Tensor::from_f64(out, x.shape(), x.to_f64()));
    return Status::Ok();
  });
}

}  // namespace ironmill::backends::reference
