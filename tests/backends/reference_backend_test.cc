// End-to-end through the reference backend: compile checks, input validation, constants.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "backends/reference/interpreter.h"
#include "mil/builder.h"

namespace ironmill::backends {
namespace {
using mil::DType;
using mil::Tensor;
using mil::Type;

mil::Program add_relu_program() {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", Type::tensor(DType::kFp32, {2, 2}));
  auto c = b.constant(Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{-1.0, 0.5}));
  auto y = b.op("relu", {{"x", b.op("add", {{"x", x}, {"y", c}})}});
  b.output(y);
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(ReferenceBackend, RunsAProgram) {
  auto be = make_backend("reference");
  ASSERT_TRUE(be.ok());
  auto exe = (*be)->compile(add_relu_program(), {});
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  NamedValues in{{"x", Tensor::from_f64(DType::kFp32, {2, 2}, std::vector<double>{0.5, -1.0, 2.0, 0.25})}};
  auto out = (*exe)->run(in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  const auto& y = std::get<Tensor>(out->begin()->second);
  // relu(x + [-1, 0.5]) computed by hand.
  EXPECT_EQ(y.to_f64(), (std::vector<double>{0.0, 0.0, 1.0, 0.75}));
}

TEST(ReferenceBackend, RejectsBadInputs) {
  auto be = make_backend("reference");
  auto exe = (*be)->compile(add_relu_program(), {});
  ASSERT_TRUE(exe.ok());
  auto missing = (*exe)->run({});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing input `x`"), std::string::npos);
  auto wrong = (*exe)->run({{"x", Tensor(DType::kFp32, {3})}});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("expected tensor<fp32, [2, 2]>, got fp32[3]"), std::string::npos);
  auto extra = (*exe)->run({{"x", Tensor(DType::kFp32, {2, 2})}, {"z", Tensor()}});
  ASSERT_FALSE(extra.ok());
}

TEST(ReferenceBackend, UnknownBackendIsAnError) {
  auto be = make_backend("metal");
  ASSERT_FALSE(be.ok());
  EXPECT_NE(be.status().message().find("unknown backend `metal`"), std::string::npos);
}

TEST(ReferenceBackend, BlobWithoutResolverIsAnError) {
  mil::Value v;
  v.type = Type::tensor(DType::kFp16, {4});
  v.data = mil::BlobFileRef{"@model_path/weights/weight.bin", 64};
  auto r = reference::materialize(v, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("offset 64"), std::string::npos);
}

class CountingSource : public mil::LazyTensorSource {
 public:
  mutable int loads = 0;
  Result<Tensor> load() const override {
    ++loads;
    return Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{3, 4});
  }
  std::string describe() const override { return "test:counting"; }
};

TEST(ReferenceBackend, LazyExternalValuesLoadOnUse) {
  auto src = std::make_shared<CountingSource>();
  mil::Value v;
  v.type = Type::tensor(DType::kFp32, {2});
  v.data = std::shared_ptr<const mil::LazyTensorSource>(src);
  EXPECT_EQ(src->loads, 0);
  auto r = reference::materialize(v, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(src->loads, 1);
  EXPECT_EQ(std::get<Tensor>(*r).to_f64(), (std::vector<double>{3, 4}));
}

TEST(ReferenceBackend, SupportsReportsAReason) {
  reference::ReferenceBackend be;
  mil::Operation op;
  op.type = "frobnicate";
  auto v = be.supports(op, 18);
  EXPECT_FALSE(v.supported);
  EXPECT_EQ(v.reason, "unknown op");
}

}  // namespace
}  // namespace ironmill::backends
