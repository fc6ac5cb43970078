// The registry is the one source of truth: these tests fail if any op lacks a schema, a type
// inference, a reference kernel or an op-eval case.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "backends/reference/kernel.h"
#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

TEST(OpRegistry, HoldsTheWholeIos15To18Opset) {
  const auto& r = OpRegistry::get();
  EXPECT_EQ(r.size(), 168u);  // coreml-format.md §5: 167 coremltools ops + write_state
  for (const char* n : {"conv", "scaled_dot_product_attention", "constexpr_blockwise_shift_scale", "while_loop",
                        "read_state", "write_state", "slice_update", "list_scatter", "classify"})
    EXPECT_NE(r.find(n), nullptr) << n;
}

TEST(OpRegistry, EverySignatureParses) {
  for (const auto* s : OpRegistry::get().all()) {
    EXPECT_EQ(s->family.rfind("BROKEN", 0), std::string::npos) << s->name << ": " << s->family;
    EXPECT_FALSE(s->variants.empty()) << s->name;
  }
}

TEST(OpRegistry, VariantsFollowOpsets) {
  const auto* g = OpRegistry::get().find("gather");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->variant_for(15)->input("batch_dims"), nullptr);
  EXPECT_NE(g->variant_for(16)->input("batch_dims"), nullptr);
  EXPECT_NE(g->variant_for(18)->input("validate_indices"), nullptr);
  EXPECT_EQ(OpRegistry::get().find("scaled_dot_product_attention")->variant_for(17), nullptr);
}

TEST(OpRegistry, EveryOpHasTypeInference) {
  for (const auto* s : OpRegistry::get().all())
    if (s->name != "const") EXPECT_TRUE(static_cast<bool>(s->infer)) << s->name << " has no type inference";
}

TEST(OpRegistry, EveryOpHasAReferenceKernel) {
  const auto& k = backends::reference::KernelTable::get();
  for (const auto* s : OpRegistry::get().all())
    if (s->name != "const") EXPECT_NE(k.find(s->name), nullptr) << s->name << " has no reference kernel";
}

TEST(OpRegistry, EveryOpHasAnOpEvalCase) {
  namespace fs = std::filesystem;
  std::set<std::string> covered;
  const fs::path dir = fs::path(IRONMILL_SOURCE_DIR) / "op_eval" / "cases";
  ASSERT_TRUE(fs::exists(dir));
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    ++n;
    const std::string stem = e.path().stem().string();
    covered.insert(stem.substr(0, stem.find("__")));
  }
  EXPECT_GE(n, 250u);
  for (const auto* s : OpRegistry::get().all()) EXPECT_TRUE(covered.count(s->name)) << s->name << " has no op-eval case";
}

TEST(OpSignature, ParsesFlagsAndDefaults) {
  auto v = parse_signature(15, R"(x:T, pad_type:str c ="valid", bias:T c ?, strides:i32 c =1s)", "T={f16,f32}");
  ASSERT_TRUE(v.ok()) << v.status().message();
  ASSERT_EQ(v->inputs.size(), 4u);
  EXPECT_EQ(v->inputs[0].domain, "T");
  EXPECT_EQ(v->inputs[0].allowed.size(), 2u);
  EXPECT_TRUE(v->inputs[1].must_be_const);
  EXPECT_EQ(*v->inputs[1].default_spec, "\"valid\"");
  EXPECT_TRUE(v->inputs[2].optional);
  EXPECT_FALSE(v->inputs[2].default_spec.has_value());
  EXPECT_EQ(*v->inputs[3].default_spec, "1s");
  EXPECT_FALSE(parse_signature(15, "x:Q", "T={f16}").ok());
}

}  // namespace
}  // namespace ironmill::mil
