#include "passes/ane/cpu_prologue_split.h"

#include "../pass_test_support.h"
#include "passes/rewrite.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

// A decode step's cache write: row `position` of `cache` [4, 3] becomes `x`, through an int32 one-hot
// (equal + cast) that the ANE cannot compute. Also outputs the one-hot itself.
mil::Program cache_write() {
  mil::Program p;
  mil::Builder b(p);
  auto cache = b.input("k_cache", fp32_type({4, 3}));
  auto pos = b.input("position", int32_type({1}));
  auto x = b.input("x", fp32_type({1, 3}));
  auto hit = b.op("equal", {{"x", int32_vector({0, 1, 2, 3})}, {"y", pos}});
  auto w = b.op("cast", {{"x", hit}, {"dtype", string_scalar("fp32")}});
  auto w2 = b.op("reshape", {{"x", w}, {"shape", int32_vector({4, 1})}});
  auto keep = b.op("sub", {{"x", fp32_scalar(1.0)}, {"y", w2}});
  auto upd = b.op("add", {{"x", b.op("mul", {{"x", cache}, {"y", keep}})}, {"y", b.op("mul", {{"x", x}, {"y", w2}})}});
  b.output(upd);
  b.output(w);
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(CpuPrologueSplit, IntegerPositionMathMovesToTheCpuAndTheChainComputesTheCacheWrite) {
  const mil::Program original = cache_write();
  mil::Program p = original;
  PassManager pm;
  pm.add(std::make_unique<CpuPrologueSplitPass>());
  ASSERT_TRUE(pm.run(p).ok());
  ASSERT_NE(p.function("main_cpu_prologue"), nullptr);
  const mil::Function& ane = *p.function("main");
  // No integer/bool value is left in the ANE function; its inputs are the cache, x and the float mask.
  const auto types = value_types(ane);
  for (const auto& op : ane.body.operations)
    if (op.type != "const") {
      EXPECT_FALSE(has_integer_or_bool_tensor(op, types)) << op.type;
    }
  for (const auto& in : ane.inputs) EXPECT_NE(in.type.dtype, DType::kInt32) << in.name;
  EXPECT_EQ(ane.body.outputs.size(), 1u);  // the one-hot output is the prologue's
  const mil::Tensor cache = ramp(DType::kFp32, {4, 3}, 0.5, -2), x = fp32_tensor({1, 3}, {7, 8, 9});
  for (int64_t pos = 0; pos < 4; ++pos) {
    backends::NamedValues in{{"k_cache", cache}, {"x", x}, {"position", int32_vector({pos})}};
    auto pro = run_on_reference(only(p, "main_cpu_prologue"), in);
    ASSERT_TRUE(pro.ok()) << pro.status().message();
    backends::NamedValues ane_in;
    for (const auto& i : ane.inputs) ane_in[i.name] = pro->count(i.name) ? pro->at(i.name) : in.at(i.name);
    auto out = run_outputs_on_reference(only(p, "main"), ane_in);
    ASSERT_TRUE(out.ok()) << out.status().message();
    // Independent expectation: the cache with row `pos` replaced by x.
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 3; ++c)
        EXPECT_EQ((*out)[0].get_f64(r * 3 + c), r == pos ? x.get_f64(c) : cache.get_f64(r * 3 + c)) << r << "," << c;
    const auto& onehot = std::get<mil::Tensor>(pro->at(original.functions[0].body.outputs[1]));
    for (int64_t r = 0; r < 4; ++r) EXPECT_EQ(onehot.get_f64(r), r == pos ? 1.0 : 0.0);
  }
  // Idempotent: the new main has nothing left for the CPU.
  mil::Program twice = p;
  auto changed = CpuPrologueSplitPass().run(twice);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  EXPECT_EQ(mil::print_mil_text(twice), mil::print_mil_text(p));
}

TEST(CpuPrologueSplit, AllFloatProgramIsUnchanged) {
  mil::Program p;
  mil::Builder b(p);
  b.output(b.op("relu", {{"x", b.input("x", fp32_type({2, 2}))}}));
  ASSERT_TRUE(b.finish().ok());
  auto changed = CpuPrologueSplitPass().run(p);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  EXPECT_EQ(p.functions.size(), 1u);
  mil::Program missing;
  EXPECT_FALSE(CpuPrologueSplitPass(has_integer_or_bool_tensor, "decode").run(missing).ok());
}

}  // namespace
}  // namespace ironmill::passes::ane
