#include "passes/ane/layer_schedule.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

// One transformer block: q/k/v projections, softmax attention, o projection, residual, relu FFN.
struct Block {
  mil::Program p;
  std::map<std::string, std::string> linear_of;  // role -> output value name of its linear
};
Block transformer_block() {
  Block r;
  mil::Builder b(r.p);
  auto x = b.input("x", fp32_type({4, 8}));
  auto lin = [&](const std::string& role, const std::string& in, int64_t out, int64_t inn, double off) {
    auto y = b.op("linear", {{"x", in}, {"weight", b.constant(ramp(DType::kFp32, {out, inn}, 0.013, off), role + "_w")}});
    r.linear_of[role] = y;
    return y;
  };
  auto q = lin("q", x, 8, 8, -0.4), k = lin("k", x, 8, 8, -0.3), v = lin("v", x, 8, 8, -0.35);
  auto s = b.op("matmul", {{"x", q}, {"y", k}, {"transpose_x", bool_scalar(false)}, {"transpose_y", bool_scalar(true)}});
  auto a = b.op("matmul", {{"x", b.op("softmax", {{"x", s}, {"axis", int32_scalar(-1)}})}, {"y", v}});
  auto h = b.op("add", {{"x", x}, {"y", lin("o", a, 8, 8, -0.45)}});
  auto u = b.op("relu", {{"x", lin("up", h, 16, 8, -0.8)}});
  b.output(b.op("add", {{"x", h}, {"y", lin("down", u, 8, 16, -0.9)}}));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return r;
}

std::string op_name_of(const mil::Program& p, const std::string& out) {
  for (const auto& op : p.functions[0].body.operations)
    if (op.outputs.at(0).name == out) return op.name();
  return "";
}

TEST(LayerSchedule, ClassifiesAttentionAndFfnFromTheGraph) {
  Block blk = transformer_block();
  auto kinds = classify_layers(blk.p.functions[0]);
  for (const char* r : {"q", "k", "v", "o"}) EXPECT_EQ(kinds[op_name_of(blk.p, blk.linear_of[r])], "attention") << r;
  for (const char* r : {"up", "down"}) EXPECT_EQ(kinds[op_name_of(blk.p, blk.linear_of[r])], "ffn") << r;
}

TEST(LayerSchedule, AttentionInt8FfnFp16) {
  Block blk = transformer_block();
  auto s = parse_layer_strategies("attention=int8,ffn=fp16");
  ASSERT_TRUE(s.ok());
  // int8 weights of magnitude <= 0.5 err by <= 0.5/254 each; through the block that stays well under 0.05.
  auto r = check_pass(blk.p, LayerSchedulePass(*s), {{"x", ramp(DType::kFp32, {4, 8}, 0.05, -0.8)}}, 0.05);
  EXPECT_EQ(count_ops(r, "constexpr_blockwise_shift_scale"), 4);
  for (const auto& op : r.functions[0].body.operations)
    if (op.type == "const" && (op.outputs[0].name == "up_w" || op.outputs[0].name == "down_w")) {
      const auto& t = op.attributes.at("val").tensor();
      for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.get_f64(i), t.cast_to(DType::kFp16).get_f64(i));
    }
}

TEST(LayerSchedule, BadSpecsAreErrors) {
  EXPECT_FALSE(parse_layer_strategies("attention").ok());
  EXPECT_FALSE(parse_layer_strategies("mlp=fp16").ok());
  auto e = parse_layer_strategies("ffn=int4");
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(message_contains(e.status(), "ffn"));
}

}  // namespace
}  // namespace ironmill::passes::ane
