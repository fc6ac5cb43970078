#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "mil/ir.h"
#include "mil/tensor.h"

namespace ironmill::mil {
namespace {

TEST(Tensor, Fp16StorageRoundsOnce) {
  // 1 + 2^-11 is a tie between 1.0 and 1 + 2^-10: round-to-nearest-even gives 1.0.
  std::vector<double> v{1.0 + std::ldexp(1.0, -11), 65504.0, 70000.0, std::ldexp(1.0, -24)};
  Tensor t = Tensor::from_f64(DType::kFp16, {4}, v);
  EXPECT_EQ(t.data<uint16_t>()[0], 0x3C00);
  EXPECT_EQ(t.get_f64(1), 65504.0);
  EXPECT_TRUE(std::isinf(t.get_f64(2)));
  EXPECT_EQ(t.data<uint16_t>()[3], 0x0001);
}

TEST(Tensor, IntegerConversionTruncatesAndSaturates) {
  std::vector<double> v{2.9, -2.9, 300.0, -300.0, NAN};
  Tensor t = Tensor::from_f64(DType::kInt8, {5}, v);
  EXPECT_EQ(t.to_i64(), (std::vector<int64_t>{2, -2, 127, -128, 0}));
  Tensor u = Tensor::from_i64(DType::kUint4, {3}, std::vector<int64_t>{3, 20, -1});
  EXPECT_EQ(u.to_i64(), (std::vector<int64_t>{3, 15, 0}));
}

TEST(Tensor, CastAndIdentity) {
  Tensor t = Tensor::from_f64(DType::kFp32, {2, 2}, std::vector<double>{1.5, -0.5, 3, 4});
  Tensor i = t.cast_to(DType::kInt32);
  EXPECT_EQ(i.to_i64(), (std::vector<int64_t>{1, 0, 3, 4}));
  Tensor b = t.cast_to(DType::kBool);
  EXPECT_EQ(b.to_i64(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_TRUE(t.identical(t.cast_to(DType::kFp32)));
  auto r = t.reshaped({4});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->shape(), Shape{4});
  EXPECT_FALSE(t.reshaped({3}).ok());
}

TEST(Tensor, CopyOnWriteKeepsSharedDataIntact) {
  Tensor a = Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{1, 2});
  Tensor b = a;
  b.set_f64(0, 9);
  EXPECT_EQ(a.get_f64(0), 1);
  EXPECT_EQ(b.get_f64(0), 9);
}

class VecBuffer : public Buffer {
 public:
  explicit VecBuffer(std::vector<uint8_t> b) : b_(std::move(b)) {}
  const uint8_t* data() const override { return b_.data(); }
  size_t size() const override { return b_.size(); }

 private:
  std::vector<uint8_t> b_;
};

TEST(Tensor, ViewChecksBounds) {
  auto buf = std::make_shared<VecBuffer>(std::vector<uint8_t>(16, 0));
  EXPECT_TRUE(Tensor::view(DType::kFp32, {4}, buf).ok());
  auto bad = Tensor::view(DType::kFp32, {4}, buf, 4);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("exceeds buffer of 16 bytes"), std::string::npos);
}

TEST(Opset, Tags) {
  EXPECT_EQ(opset_version("ios15"), 15);
  EXPECT_EQ(opset_version("ios18"), 18);
  EXPECT_FALSE(opset_version("ios14").has_value());
  EXPECT_EQ(opset_proto_from_tag("ios17"), "CoreML7");
  EXPECT_EQ(opset_tag_from_proto("CoreML8"), "ios18");
}

}  // namespace
}  // namespace ironmill::mil
