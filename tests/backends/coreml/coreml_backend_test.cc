// The `coreml` backend (Linux runner): runs packages read from disk, keeps fp16 values in fp16
// between ops, runs stateful and multi-function models, and refuses what Core ML cannot represent.
// Expected numbers come from NumPy (values quoted in the comments), never from our own code.
#include <gtest/gtest.h>

#include <filesystem>

#include "backends/backend.h"
#include "backends/coreml/coreml_backend.h"
#include "formats/coreml/model_writer.h"
#include "mil/builder.h"
#include "test_support.h"

namespace ironmill::backends::coreml {
namespace {
namespace fs = std::filesystem;
namespace fc = formats::coreml;
using mil::DType;
using mil::Tensor;
using mil::Type;

std::string tmpdir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("ironmill_coreml_be_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

TEST(CoreMLBackend, IsRegistered) {
  auto b = make_backend("coreml");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ((*b)->name(), "coreml");
  auto names = backend_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "coreml"), names.end());
}

TEST(CoreMLBackend, RunsAPackageFromDisk) {
  mil::Program p;
  mil::Builder b(p, "main", "ios17");
  auto x = b.input("x", Type::tensor(DType::kFp32, {1, 4}));
  auto w = Tensor::from_f64(DType::kFp32, {3, 4}, std::vector<double>{1, 2, 3, 4, -1, 0.5, 0.25, 2, 0, 0, 1, -1});
  auto bias = Tensor::from_f64(DType::kFp32, {3}, std::vector<double>{0.1, 0.2, 0.3});
  auto y = b.op("linear", {{"x", x}, {"weight", w}, {"bias", bias}});
  b.output(b.op("relu", {{"x", y}}));
  ASSERT_TRUE(b.finish().ok()) << b.status().message();
  const std::string dir = tmpdir("disk");
  const std::string pkg = dir + "/lin.mlpackage";
  ASSERT_TRUE(fc::write_mlpackage(pkg, p, {}).ok());
  ASSERT_TRUE(fs::exists(pkg + "/Data/com.apple.CoreML/weights/weight.bin")) << "the 12-element weight is a blob";
  auto exe = load_package(pkg);
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  auto out = (*exe)->run({{"x", Tensor::from_f64(DType::kFp32, {1, 4}, std::vector<double>{0.5, -1.0, 2.0, 0.25})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const auto& t = std::get<Tensor>(out->begin()->second);
  // numpy: np.maximum(x @ W.T + b, 0) = [[5.6, 0.2, 2.05]] (float32)
  const std::vector<float> want{5.6f, 0.2f, 2.05f};
  ASSERT_EQ(t.numel(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(t.to_f32()[i], want[i], 1e-6);
  fs::remove_all(dir);
}

TEST(CoreMLBackend, Fp16StaysFp16BetweenOps) {
  // (1 + 0.0003) in fp16 rounds back to 1.0 (numpy: np.float16(1) + np.float16(0.0003) == 1.0), so
  // (x + d) - x is 0 when the intermediate is held in fp16; it would be ~0.0003 in fp32.
  mil::Program p;
  mil::Builder b(p, "main", "ios16");
  auto x = b.input("x", Type::tensor(DType::kFp16, {1}));
  auto d = Tensor::from_f64(DType::kFp16, {1}, std::vector<double>{0.0003});
  auto s = b.op("add", {{"x", x}, {"y", d}});
  b.output(b.op("sub", {{"x", s}, {"y", x}}));
  ASSERT_TRUE(b.finish().ok()) << b.status().message();
  auto be = make_backend("coreml");
  auto exe = (*be)->compile(p, {});
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  auto out = (*exe)->run({{"x", Tensor::from_f64(DType::kFp16, {1}, std::vector<double>{1.0})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const auto& t = std::get<Tensor>(out->begin()->second);
  EXPECT_EQ(t.dtype(), DType::kFp16);
  EXPECT_EQ(t.get_f64(0), 0.0);
}

TEST(CoreMLBackend, StatefulKvCacheIsWritten) {
  mil::Program p;
  mil::Builder b(p, "main", "ios18");
  auto cache = b.input("cache", Type::state(Type::tensor(DType::kFp16, {1, 4})));
  auto x = b.input("x", Type::tensor(DType::kFp16, {1, 1}));
  auto cur = b.op("read_state", {{"input", cache}});
  auto upd = b.op("slice_update", {{"x", cur}, {"update", x}, {"begin", testing::int32_vector({0, 2})},
                                   {"end", testing::int32_vector({1, 3})}});
  b.ops("write_state", {{"input", cache}, {"data", upd}});
  b.output(b.op("reduce_sum", {{"x", upd}, {"axes", testing::int32_vector({1})}, {"keep_dims", testing::bool_scalar(false)}}));
  ASSERT_TRUE(b.finish().ok()) << b.status().message();
  auto be = make_backend("coreml");
  auto exe = (*be)->compile(p, {});
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  auto st = std::make_shared<Tensor>(Tensor::from_f64(DType::kFp16, {1, 4}, std::vector<double>{1, 2, 3, 4}));
  auto out = (*exe)->run({{"cache", StateValue{st}}, {"x", Tensor::from_f64(DType::kFp16, {1, 1}, std::vector<double>{10})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(st->to_f64(), (std::vector<double>{1, 2, 10, 4}));
  EXPECT_EQ(std::get<Tensor>(out->begin()->second).get_f64(0), 17.0);
}

TEST(CoreMLBackend, MultiFunctionPackageRunsTheChosenFunction) {
  mil::Program p;
  for (const char* fn : {"double_it", "negate"}) {
    mil::Builder b(p, fn, "ios18");
    auto x = b.input("x", Type::tensor(DType::kFp32, {2}));
    if (std::string(fn) == "double_it") b.output(b.op("add", {{"x", x}, {"y", x}}));
    else b.output(b.op("mul", {{"x", x}, {"y", testing::fp32_scalar(-1)}}));
    ASSERT_TRUE(b.finish().ok()) << b.status().message();
  }
  const std::string dir = tmpdir("multi");
  const std::string pkg = dir + "/mf.mlpackage";
  fc::WriteOptions wo;
  wo.info.default_function = "negate";
  ASSERT_TRUE(fc::write_mlpackage(pkg, p, wo).ok());
  auto in = Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{1.5, -2});
  auto def = load_package(pkg);
  ASSERT_TRUE(def.ok()) << def.status().message();
  EXPECT_EQ(std::get<Tensor>((*(*def)->run({{"x", in}})).begin()->second).to_f64(), (std::vector<double>{-1.5, 2}));
  auto dbl = load_package(pkg, "double_it");
  ASSERT_TRUE(dbl.ok());
  EXPECT_EQ(std::get<Tensor>((*(*dbl)->run({{"x", in}})).begin()->second).to_f64(), (std::vector<double>{3, -4}));
  fs::remove_all(dir);
}

TEST(CoreMLBackend, UnrepresentableModelsAreUnsupported) {
  mil::Program p;
  mil::Builder b(p, "main", "ios17");
  auto x = b.input("x", Type::tensor(DType::kBool, {3}));  // Core ML multi-arrays have no bool
  b.output(b.op("cast", {{"x", b.op("logical_not", {{"x", x}})}, {"dtype", testing::string_scalar("fp32")}}));
  ASSERT_TRUE(b.finish().ok()) << b.status().message();
  auto be = make_backend("coreml");
  auto exe = (*be)->compile(p, {});
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), ErrorCode::kUnsupported);
  testing::expect_error_contains(exe.status(), {"feature `x`", "bool"});
}

}  // namespace
}  // namespace ironmill::backends::coreml
