// Reference kernels of the elementwise / activation families: runtime edge cases that op-eval cases
// (which need a NumPy oracle) do not cover well.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "backends/backend.h"
#include "mil/builder.h"

namespace ironmill::backends {
namespace {

using mil::DType;
using mil::Tensor;
using mil::Type;

// Runs `op` with function inputs x (and y when given); returns the single output or the error.
Result<Tensor> run_op(const std::string& op, const Tensor& x, const Tensor* y = nullptr,
                      std::map<std::string, mil::Builder::Arg> extra = {}) {
  mil::Program prog;
  mil::Builder b(prog, "main", "ios18");
  std::map<std::string, mil::Builder::Arg> args = std::move(extra);
  args["x"] = b.input("x", Type::tensor(x.dtype(), x.shape()));
  if (y) args["y"] = b.input("y", Type::tensor(y->dtype(), y->shape()));
  auto out = b.op(op, args);
  if (!b.status().ok()) return b.status();
  b.output(out);
  IM_RETURN_IF_ERROR(b.finish());
  IM_ASSIGN_OR_RETURN(auto backend, make_backend("reference"));
  IM_ASSIGN_OR_RETURN(auto exe, backend->compile(prog, {}));
  NamedValues in{{"x", x}};
  if (y) in["y"] = *y;
  IM_ASSIGN_OR_RETURN(NamedValues res, exe->run(in));
  return std::get<Tensor>(res.at(out));
}

Tensor i32(std::vector<int64_t> v) { return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v); }
Tensor f32(std::vector<double> v) { return Tensor::from_f64(DType::kFp32, {static_cast<int64_t>(v.size())}, v); }

TEST(ElementwiseKernels, IntegerDivisionByZeroIsAnError) {
  Tensor x = i32({1, 2}), y = i32({1, 0});
  for (const char* op : {"real_div", "floor_div", "mod"}) {
    auto r = run_op(op, x, &y);
    ASSERT_FALSE(r.ok()) << op;
    EXPECT_NE(r.status().message().find(std::string("`") + op + "`"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("by zero"), std::string::npos) << r.status().message();
  }
}

TEST(ElementwiseKernels, IntegerPowNegativeExponentIsAnError) {
  Tensor x = i32({2}), y = i32({-1});
  auto r = run_op("pow", x, &y);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("negative exponent"), std::string::npos) << r.status().message();
}

TEST(ElementwiseKernels, IntegerDivisionRoundingModes) {
  Tensor x = i32({7, -7, 7, -7}), y = i32({2, 2, -2, -2});
  auto div = run_op("real_div", x, &y);  // truncates toward zero
  ASSERT_TRUE(div.ok()) << div.status().message();
  EXPECT_EQ(div->to_i64(), (std::vector<int64_t>{3, -3, -3, 3}));
  auto fdiv = run_op("floor_div", x, &y);
  ASSERT_TRUE(fdiv.ok());
  EXPECT_EQ(fdiv->to_i64(), (std::vector<int64_t>{3, -4, -4, 3}));
  auto mod = run_op("mod", x, &y);
  ASSERT_TRUE(mod.ok());
  EXPECT_EQ(mod->to_i64(), (std::vector<int64_t>{1, 1, -1, -1}));
}

TEST(ElementwiseKernels, CastNanAndSaturation) {
  Tensor x = f32({NAN, 0.0, -0.0, 3e9, -3e9});
  auto b = run_op("cast", x, nullptr, {{"dtype", Tensor::scalar_string("bool")}});
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->to_i64(), (std::vector<int64_t>{1, 0, 0, 1, 1}));
  auto i = run_op("cast", x, nullptr, {{"dtype", Tensor::scalar_string("int32")}});
  ASSERT_TRUE(i.ok()) << i.status().message();
  // NaN -> 0 and out-of-range saturates (numpy leaves both undefined).
  EXPECT_EQ(i->to_i64(), (std::vector<int64_t>{0, 0, 0, 2147483647, -2147483648LL}));
}

TEST(ElementwiseKernels, RoundHalfToEven) {
  auto r = run_op("round", f32({-2.5, -1.5, -0.5, 0.5, 1.5, 2.5}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->to_f64(), (std::vector<double>{-2, -2, -0.0, 0, 2, 2}));
}

TEST(ActivationKernels, SoftmaxIsStableAndNormalised) {
  auto r = run_op("softmax", f32({1000.0, 1000.0, -1000.0, 999.0}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  double sum = 0;
  for (double v : r->to_f64()) {
    EXPECT_TRUE(std::isfinite(v));
    sum += v;
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
}

TEST(ActivationKernels, SoftplusDoesNotOverflow) {
  auto r = run_op("softplus", f32({1000.0, -1000.0}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FLOAT_EQ(static_cast<float>(r->get_f64(0)), 1000.0f);
  EXPECT_EQ(r->get_f64(1), 0.0);
}

}  // namespace
}  // namespace ironmill::backends
