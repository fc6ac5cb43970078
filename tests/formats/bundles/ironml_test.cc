// .ironml bundles and MIL blob storage v2. Offsets are checked against the layout documented for
// coremltools' MILBlob writer (coreml-format.md §4.3: two fp32×500 blobs at offsets 64 and 2176).
#include "formats/bundles/ironml.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../../backends/ane/ane_test_support.h"
#include "formats/bundles/blob_storage.h"
#include "mil/text.h"

namespace ironmill::formats::bundles {
namespace {

using namespace ironmill::testing;
using mil::DType;
namespace fs = std::filesystem;

TEST(BlobStorage, OffsetsMatchTheMilBlobLayout) {
  BlobStorageWriter w;
  auto a = w.add(ramp(DType::kFp32, {500}, 1.0));
  auto b = w.add(ramp(DType::kFp32, {500}, -1.0));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, 64u);
  EXPECT_EQ(*b, 2176u);  // 64 + 64 + 2000 = 2128, aligned up to 64
  const auto& bytes = w.bytes();
  EXPECT_EQ(bytes[0], 2);  // count
  EXPECT_EQ(bytes[4], 2);  // version
  EXPECT_EQ(bytes[64], 0xEF);
  EXPECT_EQ(bytes[67], 0xDE);
  EXPECT_EQ(bytes[68], 2);  // BlobDataType Float32
  EXPECT_EQ(bytes[80], 128);  // data offset = metadata + 64
  EXPECT_EQ(bytes.size(), 2176u + 64 + 2000);  // not padded at the end
  auto back = read_blob(bytes, *b, DType::kFp32, {500}, "w.bin");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->identical(ramp(DType::kFp32, {500}, -1.0)));
}

TEST(BlobStorage, BadBlobsGiveErrorsWithTheOffset) {
  BlobStorageWriter w;
  ASSERT_TRUE(w.add(ramp(DType::kFp16, {10}, 1.0)).ok());
  auto bytes = w.bytes();
  expect_error_contains(read_blob(bytes, 64, DType::kFp32, {10}, "w.bin").status(), {"w.bin", "offset 64", "dtype code 1"});
  expect_error_contains(read_blob(bytes, 64, DType::kFp16, {11}, "w.bin").status(), {"holds 20 bytes", "needs 22"});
  expect_error_contains(read_blob(bytes, 4096, DType::kFp16, {10}, "w.bin").status(), {"outside the file"});
  bytes[64] = 0;
  expect_error_contains(read_blob(bytes, 64, DType::kFp16, {10}, "w.bin").status(), {"sentinel"});
}

mil::Program three_weights() {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp16, {1, 8, 1, 32}));
  auto w1 = b.constant(ramp(DType::kFp16, {1, 8, 1, 32}, 0.01), "w1");
  auto w2 = b.constant(ramp(DType::kFp16, {1, 8, 1, 32}, -0.02, 1), "w2");
  auto s = b.op("add", {{"x", x}, {"y", w1}});
  auto m = b.op("mul", {{"x", s}, {"y", w2}});
  // An inline 8x8x1x1 conv weight: hoisted into the blob too.
  b.output(b.op("conv", {{"x", m}, {"weight", ramp(DType::kFp16, {8, 8, 1, 1}, 0.01, -0.3)}, {"pad_type", string_scalar("valid")}}));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(Ironml, AnyNumberOfWeightsPerSubProgram) {
  auto sub = make_sub_program(three_weights(), "layer_0");
  ASSERT_TRUE(sub.ok()) << sub.status().message();
  EXPECT_NE(sub->mil_text.find("program(1.3)"), std::string::npos);
  EXPECT_NE(sub->mil_text.find("func main<ios18>"), std::string::npos);
  EXPECT_NE(sub->mil_text.find("@model_path/weights/layer_0.bin"), std::string::npos);
  EXPECT_EQ(sub->weights[0], 3);  // three blobs in one file
  EXPECT_NE(sub->mil_text.find("offset = uint64(64)"), std::string::npos);
  // Resolving every reference gives back the original values: same results on the reference.
  auto parsed = mil::parse_mil_text(sub->mil_text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_TRUE(resolve_weights(*parsed, *sub).ok());
  auto in = ramp(DType::kFp16, {1, 8, 1, 32}, 0.1, -5);
  auto a = expect_run_outputs(three_weights(), {{"x", in}});
  auto b = expect_run_outputs(*parsed, {{"x", in}});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(a[0].identical(b[0]));
}

TEST(Ironml, WriteReadRoundTripIsAtomic) {
  const fs::path dir = fs::temp_directory_path() / ("ironml_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  IronmlBundle bundle;
  auto s0 = make_sub_program(three_weights(), "layer_0");
  auto s1 = make_sub_program(three_weights(), "layer_1");
  ASSERT_TRUE(s0.ok() && s1.ok());
  bundle.sub_programs = {*s0, *s1};
  const std::string path = (dir / "model.ironml").string();
  ASSERT_TRUE(write_ironml(bundle, path).ok());
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename(), "model.ironml");  // no temp left
  EXPECT_TRUE(fs::exists(dir / "model.ironml" / "programs" / "layer_1.mil"));
  EXPECT_TRUE(fs::exists(dir / "model.ironml" / "weights" / "layer_0.bin"));
  auto back = read_ironml(path);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->sub_programs.size(), 2u);
  EXPECT_EQ(back->sub_programs[1].mil_text, s1->mil_text);
  EXPECT_EQ(back->sub_programs[0].weights, s0->weights);
  ASSERT_EQ(back->sub_programs[0].inputs.size(), 1u);
  EXPECT_EQ(back->sub_programs[0].inputs[0].dtype, "float16");
  EXPECT_EQ(back->sub_programs[0].inputs[0].shape, (std::vector<int64_t>{1, 8, 1, 32}));

  // Damage: a truncated weight file and a wrong manifest field are reported with the file and field.
  {
    std::ofstream(dir / "model.ironml" / "weights" / "layer_1.bin", std::ios::trunc) << "xx";
  }
  expect_error_contains(read_ironml(path).status(), {"weights/layer_1.bin"});
  ASSERT_TRUE(write_ironml(bundle, path).ok());
  {
    std::ifstream in(dir / "model.ironml" / "manifest.json");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string m = ss.str();
    m.replace(m.find("\"format_version\": 1"), 19, "\"format_version\": 7");
    std::ofstream(dir / "model.ironml" / "manifest.json", std::ios::trunc) << m;
  }
  expect_error_contains(read_ironml(path).status(), {"manifest.json", "format_version"});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ironmill::formats::bundles
