// Type inference of the elementwise and activation families: broadcasting, output dtypes, and clear
// errors (naming op and input) for bad programs.
#include <gtest/gtest.h>

#include <string>

#include "mil/builder.h"
#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

Tensor f32(Shape s, double v = 0.5) {
  std::vector<double> d(static_cast<size_t>(shape_numel(s)), v);
  return Tensor::from_f64(DType::kFp32, s, d);
}
Tensor f32v(Shape s, std::vector<double> v) { return Tensor::from_f64(DType::kFp32, s, v); }

struct Built {
  Program prog;
  Status status;
  Type out;
};

// Builds `op` on fp32 input `x` of type `xt` plus the given extra inputs; returns the first error.
template <class F>
Built build(const std::string& opset, F body) {
  Built r;
  Builder b(r.prog, "main", opset);
  std::string out = body(b);
  if (b.status().ok() && !out.empty()) {
    b.output(out);
    r.out = *b.type_of(out);
  }
  r.status = b.finish();
  return r;
}

void expect_error(const Built& r, const std::string& op, const std::string& input, const std::string& what) {
  ASSERT_FALSE(r.status.ok()) << "expected an error from " << op;
  const std::string& m = r.status.message();
  EXPECT_NE(m.find("`" + op + "`"), std::string::npos) << m;
  if (!input.empty()) {
    EXPECT_NE(m.find("input `" + input + "`"), std::string::npos) << m;
  }
  EXPECT_NE(m.find(what), std::string::npos) << m;
}

TEST(ElementwiseInfer, BinaryBroadcastsNumpyStyle) {
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2, 1, 4}));
    auto y = b.input("y", Type::tensor(DType::kFp32, {3, 1}));
    return b.op("add", {{"x", x}, {"y", y}});
  });
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.out, Type::tensor(DType::kFp32, {2, 3, 4}));
}

TEST(ElementwiseInfer, BroadcastPropagatesUnknownDimsAndRank) {
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {kUnknownDim, 4}));
    auto y = b.input("y", Type::tensor(DType::kFp32, {1, 4}));
    return b.op("mul", {{"x", x}, {"y", y}});
  });
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.out, Type::tensor(DType::kFp32, {kUnknownDim, 4}));
  auto u = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::unknown_rank(DType::kInt32));
    auto y = b.input("y", Type::tensor(DType::kInt32, {3}));
    return b.op("greater", {{"x", x}, {"y", y}});
  });
  ASSERT_TRUE(u.status.ok()) << u.status.message();
  EXPECT_FALSE(u.out.rank_known);
  EXPECT_EQ(u.out.dtype, DType::kBool);
}

TEST(ElementwiseInfer, IncompatibleShapesNameTheInput) {
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2, 3}));
    auto y = b.input("y", Type::tensor(DType::kFp32, {4}));
    return b.op("sub", {{"x", x}, {"y", y}});
  });
  expect_error(r, "sub", "y", "does not broadcast");
}

TEST(ElementwiseInfer, MismatchedDtypesAreRejected) {
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2}));
    auto y = b.input("y", Type::tensor(DType::kInt32, {2}));
    return b.op("add", {{"x", x}, {"y", y}});
  });
  expect_error(r, "add", "y", "must match");
}

TEST(ElementwiseInfer, ComparisonsAndLogicalOpsReturnBool) {
  for (const char* op : {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}) {
    auto r = build("ios18", [op](Builder& b) {
      auto x = b.input("x", Type::tensor(DType::kFp16, {2, 3}));
      auto y = b.input("y", Type::tensor(DType::kFp16, {3}));
      return b.op(op, {{"x", x}, {"y", y}});
    });
    ASSERT_TRUE(r.status.ok()) << op << ": " << r.status.message();
    EXPECT_EQ(r.out, Type::tensor(DType::kBool, {2, 3})) << op;
  }
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2}));
    auto y = b.input("y", Type::tensor(DType::kFp32, {2}));
    return b.op("logical_and", {{"x", x}, {"y", y}});
  });
  expect_error(r, "logical_and", "x", "not allowed");
}

TEST(ElementwiseInfer, SelectBroadcastsAllThree) {
  auto r = build("ios18", [](Builder& b) {
    auto c = b.input("c", Type::tensor(DType::kBool, {2, 1, 1}));
    auto a = b.input("a", Type::tensor(DType::kInt32, {3, 1}));
    auto e = b.input("e", Type::tensor(DType::kInt32, {4}));
    return b.op("select", {{"cond", c}, {"a", a}, {"b", e}});
  });
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.out, Type::tensor(DType::kInt32, {2, 3, 4}));
}

TEST(ElementwiseInfer, CastTargets) {
  auto ok = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {kUnknownDim, 2}));
    return b.op("cast", {{"x", x}, {"dtype", Tensor::scalar_string("int8")}});
  });
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(ok.out, Type::tensor(DType::kInt8, {kUnknownDim, 2}));

  auto old = build("ios16", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2}));
    return b.op("cast", {{"x", x}, {"dtype", Tensor::scalar_string("uint8")}});
  });
  expect_error(old, "cast", "dtype", "needs opset ios17");

  auto bad = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2}));
    return b.op("cast", {{"x", x}, {"dtype", Tensor::scalar_string("float32")}});
  });
  expect_error(bad, "cast", "dtype", "unsupported cast target \"float32\"");
}

TEST(ElementwiseInfer, ClipOrderIsStrictFromIos17) {
  auto make = [](const std::string& opset) {
    return build(opset, [](Builder& b) {
      auto x = b.input("x", Type::tensor(DType::kFp32, {3}));
      return b.op("clip", {{"x", x}, {"alpha", f32({}, 2.0)}, {"beta", f32({}, 1.0)}});
    });
  };
  EXPECT_TRUE(make("ios15").status.ok());
  expect_error(make("ios17"), "clip", "alpha", "smaller than `beta`");
}

TEST(ElementwiseInfer, ScalarParametersMustBeScalars) {
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {3}));
    return b.op("threshold", {{"x", x}, {"alpha", f32({2})}});
  });
  expect_error(r, "threshold", "alpha", "must be a scalar");
  auto e = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {3}));
    return b.op("rsqrt", {{"x", x}, {"epsilon", f32({1, 2})}});
  });
  expect_error(e, "rsqrt", "epsilon", "must be a scalar");
  // A single-element [1] parameter is accepted.
  auto one = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp16, {3}));
    return b.op("leaky_relu", {{"x", x}, {"alpha", f32({1})}});
  });
  EXPECT_TRUE(one.status.ok()) << one.status.message();
}

TEST(ElementwiseInfer, IosVariantsGovernParameterDtypes) {
  // iOS15 epsilon shares x's dtype; iOS17 lets it differ.
  auto make = [](const std::string& opset) {
    return build(opset, [](Builder& b) {
      auto x = b.input("x", Type::tensor(DType::kFp16, {3}));
      return b.op("inverse", {{"x", x}, {"epsilon", f32({}, 0.1)}});
    });
  };
  expect_error(make("ios16"), "inverse", "epsilon", "must match");
  EXPECT_TRUE(make("ios17").status.ok());
}

TEST(ActivationInfer, GeluModeIsValidated) {
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {3}));
    return b.op("gelu", {{"x", x}, {"mode", Tensor::scalar_string("tanh")}});
  });
  expect_error(r, "gelu", "mode", "unrecognized value \"tanh\"");
  auto d = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp16, {3}));
    return b.op("gelu", {{"x", x}});
  });
  ASSERT_TRUE(d.status.ok()) << d.status.message();
  EXPECT_EQ(d.out, Type::tensor(DType::kFp16, {3}));
}

TEST(ActivationInfer, SoftmaxAxisInRange) {
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2, 3}));
    return b.op("softmax", {{"x", x}, {"axis", Tensor::scalar_i64(DType::kInt32, 2)}});
  });
  expect_error(r, "softmax", "axis", "out of range");
  auto ok = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2, 3}));
    return b.op("softmax", {{"x", x}, {"axis", Tensor::scalar_i64(DType::kInt32, -2)}});
  });
  EXPECT_TRUE(ok.status.ok()) << ok.status.message();
}

TEST(ActivationInfer, PreluShapes) {
  auto rank2 = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2, 3}));
    return b.op("prelu", {{"x", x}, {"alpha", f32({3})}});
  });
  expect_error(rank2, "prelu", "x", "rank 3, 4 or 5");
  auto len = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {1, 3, 2, 2}));
    return b.op("prelu", {{"x", x}, {"alpha", f32({4})}});
  });
  expect_error(len, "prelu", "alpha", "channel dimension");
  auto rank3 = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {1, 2, 5}));
    return b.op("prelu", {{"x", x}, {"alpha", f32v({2}, {0.1, 0.2})}});
  });
  expect_error(rank3, "prelu", "alpha", "all alpha values are equal");
  auto ok = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {1, 2, 5}));
    return b.op("prelu", {{"x", x}, {"alpha", f32v({2}, {0.1, 0.1})}});
  });
  EXPECT_TRUE(ok.status.ok()) << ok.status.message();
}

TEST(ActivationInfer, SoftplusParametricShapes) {
  auto r = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2, 3}));
    return b.op("softplus_parametric", {{"x", x}, {"alpha", f32({3})}, {"beta", f32({3})}});
  });
  expect_error(r, "softplus_parametric", "x", "at least rank 3");
  auto beta = build("ios18", [](Builder& b) {
    auto x = b.input("x", Type::tensor(DType::kFp32, {2, 3, 4}));
    return b.op("softplus_parametric", {{"x", x}, {"alpha", f32({3})}, {"beta", f32({3, 1})}});
  });
  expect_error(beta, "softplus_parametric", "beta", "must be rank 1");
}

}  // namespace
}  // namespace ironmill::mil
