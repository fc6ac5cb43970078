// Multi-component models (ANEMLL / candle-coreml style): embeddings -> 2 transformer chunks -> an LM
// head split into logits1..2 (vocabulary 70,000 > 65,536), each its own .mlpackage, chained by the JSON
// component config. The stitched logits must equal those of one package holding the whole network.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "backends/coreml/coreml_backend.h"
#include "backends/coreml/multi_component.h"
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

constexpr int64_t kVocab = 70000, kDim = 8, kSeq = 4;

Tensor pseudo_random(mil::Shape shape, double scale, uint32_t seed) {
  std::vector<double> v(static_cast<size_t>(mil::shape_numel(shape)));
  uint32_t x = seed;
  for (auto& e : v) {
    x = x * 1664525u + 1013904223u;
    e = scale * (double(x >> 8) / double(1 << 24) - 0.5);
  }
  return Tensor::from_f64(DType::kFp32, std::move(shape), v);
}

void rename_output(mil::Program& p, size_t i, const std::string& name) {
  mil::Function& f = p.functions.back();
  for (auto& op : f.body.operations)
    if (!op.outputs.empty() && op.outputs[0].name == f.body.outputs[i]) op.outputs[0].name = name;
  f.body.outputs[i] = name;
}

struct Weights {
  Tensor embed = pseudo_random({kVocab, kDim}, 1.0, 1);
  Tensor w1 = pseudo_random({kDim, kDim}, 0.5, 2);
  Tensor w2 = pseudo_random({kDim, kDim}, 0.5, 3);
  Tensor head = pseudo_random({kVocab, kDim}, 1.0, 4);
};

// One "transformer chunk": h + relu(linear(h)).
std::string chunk(mil::Builder& b, const std::string& h, const Tensor& w) {
  auto y = b.op("relu", {{"x", b.op("linear", {{"x", h}, {"weight", w}})}});
  return b.op("add", {{"x", h}, {"y", y}});
}

TEST(MultiComponent, SplitPipelineEqualsTheSinglePackage) {
  const Weights w;
  const Type ids_t = Type::tensor(DType::kInt32, {1, kSeq});
  const Type hid_t = Type::tensor(DType::kFp32, {1, kSeq, kDim});
  const std::string dir = (fs::temp_directory_path() / ("ironmill_mc_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  fs::create_directories(dir);

  // The whole network in one package.
  mil::Program whole;
  {
    mil::Builder b(whole, "main", "ios18");
    auto ids = b.input("input_ids", ids_t);
    auto h = b.op("gather", {{"x", w.embed}, {"indices", ids}, {"axis", testing::int32_scalar(0)}});
    h = chunk(b, chunk(b, h, w.w1), w.w2);
    b.output(b.op("linear", {{"x", h}, {"weight", w.head}}));
    ASSERT_TRUE(b.finish().ok()) << b.status().message();
    rename_output(whole, 0, "logits");
  }
  ASSERT_TRUE(fc::write_mlpackage(dir + "/whole.mlpackage", whole, {}).ok());

  // The same network as four components.
  MultiComponentConfig cfg;
  {
    mil::Program p;
    mil::Builder b(p, "main", "ios18");
    auto ids = b.input("input_ids", ids_t);
    b.output(b.op("gather", {{"x", w.embed}, {"indices", ids}, {"axis", testing::int32_scalar(0)}}));
    ASSERT_TRUE(b.finish().ok()) << b.status().message();
    rename_output(p, 0, "embeds");
    ASSERT_TRUE(fc::write_mlpackage(dir + "/embeddings.mlpackage", p, {}).ok());
    cfg.components.push_back({"embeddings", "embeddings", dir + "/embeddings.mlpackage", "",
                              {{"input_ids", {1, kSeq}}}, {{"embeds", {1, kSeq, kDim}}}});
  }
  const char* names[2][3] = {{"chunk1", "embeds", "h1"}, {"chunk2", "h1", "hidden"}};
  for (int k = 0; k < 2; ++k) {
    mil::Program p;
    mil::Builder b(p, "main", "ios18");
    b.output(chunk(b, b.input(names[k][1], hid_t), k == 0 ? w.w1 : w.w2));
    ASSERT_TRUE(b.finish().ok()) << b.status().message();
    rename_output(p, 0, names[k][2]);
    const std::string pkg = dir + "/" + names[k][0] + ".mlpackage";
    ASSERT_TRUE(fc::write_mlpackage(pkg, p, {}).ok());
    cfg.components.push_back({names[k][0], "transformer", pkg, "", {{names[k][1], {1, kSeq, kDim}}},
                              {{names[k][2], {1, kSeq, kDim}}}});
  }
  auto head = split_lm_head_program(hid_t, w.head, 2);
  ASSERT_TRUE(head.ok()) << head.status().message();
  ASSERT_TRUE(fc::write_mlpackage(dir + "/lm_head.mlpackage", *head, {}).ok());
  cfg.components.push_back({"lm_head", "lm_head", dir + "/lm_head.mlpackage", "", {{"hidden", {1, kSeq, kDim}}},
                            {{"logits1", {1, kSeq, kVocab / 2}}, {"logits2", {1, kSeq, kVocab / 2}}}});
  ASSERT_TRUE(write_component_config(dir + "/model.json", cfg).ok());

  const Tensor ids = Tensor::from_i64(DType::kInt32, {1, kSeq}, std::vector<int64_t>{5, 69999, 65536, 1234});
  auto single = load_package(dir + "/whole.mlpackage");
  ASSERT_TRUE(single.ok()) << single.status().message();
  auto want = (*single)->run({{"input_ids", ids}});
  ASSERT_TRUE(want.ok()) << want.status().message();
  auto mc = MultiComponentModel::open(dir + "/model.json");
  ASSERT_TRUE(mc.ok()) << mc.status().message();
  auto got = (*mc)->run({{"input_ids", ids}});
  ASSERT_TRUE(got.ok()) << got.status().message();
  const Tensor& a = std::get<Tensor>(got->at("logits"));
  const Tensor& e = std::get<Tensor>(want->at("logits"));
  EXPECT_EQ(a.shape(), (mil::Shape{1, kSeq, kVocab}));
  EXPECT_TRUE(a.identical(e)) << "stitched logits differ from the single package";

  // A wrong shape in the config is caught with the component and tensor named.
  cfg.components[1].inputs["embeds"] = {1, kSeq + 1, kDim};
  ASSERT_TRUE(write_component_config(dir + "/bad.json", cfg).ok());
  auto bad = MultiComponentModel::open(dir + "/bad.json");
  ASSERT_TRUE(bad.ok());
  testing::expect_error_contains((*bad)->run({{"input_ids", ids}}).status(), {"chunk1", "embeds", "declares"});
  fs::remove_all(dir);
}

TEST(MultiComponent, StitchRejectsMismatchedParts) {
  NamedValues v;
  v["logits1"] = Tensor(DType::kFp32, {1, 3});
  v["logits2"] = Tensor(DType::kFp32, {2, 3});
  testing::expect_error_contains(stitch_logits(v).status(), {"logits2", "incompatible"});
  NamedValues ok;
  ok["logits1"] = Tensor::from_f64(DType::kFp32, {2, 1}, std::vector<double>{1, 2});
  ok["logits2"] = Tensor::from_f64(DType::kFp32, {2, 2}, std::vector<double>{3, 4, 5, 6});
  auto s = stitch_logits(ok);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->to_f64(), (std::vector<double>{1, 3, 4, 2, 5, 6}));
}

}  // namespace
}  // namespace ironmill::backends::coreml
