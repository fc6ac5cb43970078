// The ANE compile policy: per-op verdicts with rule and source, program-level rules (I/O layout and
// dtypes, the wide-short I/O rejection, standalone intermediates, size walls), INT4 warnings.
#include "backends/ane/policy.h"

#include <gtest/gtest.h>

#include "ane_test_support.h"

namespace ironmill::backends::ane {
namespace {

using ironmill::testing::expect_profile;
using mil::DType;
using mil::Type;

mil::Type f16(mil::Shape s) { return Type::tensor(DType::kFp16, std::move(s)); }

// main(x: fp16 [1,C,1,S]) -> op(x, extra...)
mil::Program unary(const std::string& op, mil::Shape s = {1, 32, 1, 32},
                   std::map<std::string, mil::Builder::Arg> extra = {}) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", f16(s));
  extra["x"] = x;
  b.output(b.op(op, extra));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

const OpVerdict& first_op(const PolicyReport& r) { return r.ops.at(0); }

TEST(AnePolicy, AcceptsVerifiedOpsAndCitesTheMeasurement) {
  AneProfile p = expect_profile();
  auto r = evaluate_program(unary("relu"), p);
  EXPECT_TRUE(r.compiles());
  EXPECT_EQ(first_op(r).status, OpStatus::kEval);
  EXPECT_EQ(first_op(r).source, "ironmill-5.1");
  auto c = evaluate_program(unary("relu6"), p);
  EXPECT_TRUE(c.compiles());
  EXPECT_EQ(first_op(c).status, OpStatus::kCompile);
}

TEST(AnePolicy, RejectsOpsTheCompilerRejects) {
  AneProfile p = expect_profile();
  for (const char* op : {"sin", "cos", "sinh", "reduce_prod", "gelu"}) {
    auto r = evaluate_program(unary(op), p);
    EXPECT_FALSE(r.compiles()) << op;
    EXPECT_EQ(first_op(r).status, OpStatus::kRejected) << op;
    EXPECT_EQ(first_op(r).rule, std::string("ops.") + op);
    EXPECT_EQ(r.fallback_ops(), 1);
  }
}

TEST(AnePolicy, EpsilonMustBeExplicit) {
  AneProfile p = expect_profile();
  auto without = evaluate_program(unary("rsqrt"), p);
  EXPECT_FALSE(without.compiles());
  EXPECT_EQ(first_op(without).rule, "required_inputs");
  EXPECT_EQ(first_op(without).source, "ironmill-5.2");
  auto with = evaluate_program(unary("rsqrt", {1, 32, 1, 32}, {{"epsilon", mil::Tensor::scalar_f64(DType::kFp16, 8e-6)}}), p);
  EXPECT_TRUE(with.compiles()) << report_to_text(with, p);
}

TEST(AnePolicy, IoRules) {
  AneProfile p = expect_profile();
  // Not [1,C,1,S].
  auto r = evaluate_program(unary("relu", {32, 32}), p);
  EXPECT_FALSE(r.compiles());
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings[0].rule, "program_rules.io_layout");
  // C > 768 with S < 32 (ironmill-notes.md §5.4).
  auto w = evaluate_program(unary("relu", {1, 1024, 1, 16}), p);
  EXPECT_FALSE(w.compiles());
  bool found = false;
  for (const auto& f : w.findings) found |= f.rule == "limits.io_wide_short";
  EXPECT_TRUE(found) << report_to_text(w, p);
  EXPECT_TRUE(evaluate_program(unary("relu", {1, 1024, 1, 32}), p).compiles());
  // int32 function inputs have no path.
  mil::Program ip;
  mil::Builder b(ip);
  auto x = b.input("x", Type::tensor(DType::kInt32, {1, 32, 1, 32}));
  b.output(b.op("abs", {{"x", x}}));
  ASSERT_TRUE(b.finish().ok());
  auto ir = evaluate_program(ip, p);
  EXPECT_FALSE(ir.compiles());
}

TEST(AnePolicy, DimensionLimitsFollowTheChip) {
  auto big = unary("relu", {1, 20000, 1, 32});
  EXPECT_FALSE(evaluate_program(big, expect_profile("m3_pro")).compiles());
  EXPECT_EQ(evaluate_program(big, expect_profile("m3_pro")).ops[0].rule, "limits.max_dim");
  EXPECT_TRUE(evaluate_program(big, expect_profile("m4")).compiles());
}

TEST(AnePolicy, StandaloneIntermediatesDoNotCompile) {
  AneProfile p = expect_profile();
  auto r = evaluate_program(unary("reshape", {1, 32, 1, 32}, {{"shape", ironmill::testing::int32_vector({1, 32, 1, 32})}}), p);
  EXPECT_EQ(first_op(r).status, OpStatus::kIntermediate);
  EXPECT_FALSE(r.compiles());
  EXPECT_EQ(r.findings.back().rule, "program_rules.standalone_intermediate");
}

TEST(AnePolicy, CastPaths) {
  AneProfile p = expect_profile();
  auto cast_to = [&](const char* dt) { return unary("cast", {1, 32, 1, 32}, {{"dtype", mil::Tensor::scalar_string(dt)}}); };
  auto to_bool = evaluate_program(cast_to("bool"), p);
  EXPECT_EQ(first_op(to_bool).status, OpStatus::kEval);
  auto to_i32 = evaluate_program(cast_to("int32"), p);
  EXPECT_EQ(first_op(to_i32).status, OpStatus::kRejected);
  auto to_f32 = evaluate_program(cast_to("fp32"), p);
  EXPECT_EQ(first_op(to_f32).status, OpStatus::kCompile);
}

mil::Program with_weight(mil::DType dt, mil::Shape shape, bool blockwise_int4 = false) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", f16({1, 32, 1, 32}));
  mil::Value w;
  w.type = Type::tensor(dt, shape);
  w.data = mil::BlobFileRef{"@model_path/weights/w.bin", 64};  // size from the type, no bytes needed
  auto c = b.constant(w, "w");
  if (blockwise_int4) {
    mil::Value scale;
    scale.type = Type::tensor(DType::kFp16, {shape[0], 1});
    scale.data = mil::BlobFileRef{"@model_path/weights/w.bin", 128};
    auto s = b.constant(scale, "s");
    auto d = b.op("constexpr_blockwise_shift_scale", {{"data", c}, {"scale", s}});
    (void)d;
  }
  b.output(b.op("relu", {{"x", x}}));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(AnePolicy, SizeWalls) {
  AneProfile p = expect_profile();
  // 300 MB fp16: over the ~250 MB residency size (warning), under the error -14 wall.
  auto r300 = evaluate_program(with_weight(DType::kFp16, {150, 1000, 1000}), p);
  EXPECT_TRUE(r300.compiles());
  ASSERT_EQ(r300.findings.size(), 1u);
  EXPECT_EQ(r300.findings[0].rule, "limits.residency_bytes");
  EXPECT_FALSE(r300.findings[0].error);
  // 1.2 GB: error -14.
  auto r1200 = evaluate_program(with_weight(DType::kFp16, {600, 1000, 1000}), p);
  EXPECT_FALSE(r1200.compiles());
  EXPECT_EQ(r1200.findings[0].rule, "limits.error14_bytes");
  // 2.4 GB: over the 2 GiB weight-file maximum.
  auto r2400 = evaluate_program(with_weight(DType::kFp16, {1200, 1000, 1000}), p);
  EXPECT_EQ(r2400.findings[0].rule, "limits.weight_file_bytes");
  EXPECT_NE(report_to_text(r2400, p).find("coremltools-2593"), std::string::npos);
}

TEST(AnePolicy, Int4IsRejectedAndPerBlockWarns) {
  AneProfile p = expect_profile();
  auto r = evaluate_program(with_weight(DType::kInt4, {64, 64}, /*blockwise_int4=*/true), p);
  EXPECT_FALSE(r.compiles());
  bool warned = false, rejected = false;
  for (const auto& f : r.findings) warned |= f.rule == "program_rules.int4_per_block_cpu" && !f.error;
  for (const auto& o : r.ops) rejected |= o.rule == "dtypes.int4";
  EXPECT_TRUE(warned) << report_to_text(r, p);
  EXPECT_TRUE(rejected);
}

TEST(AnePolicy, JsonReportIsLabelledEmulated) {
  AneProfile p = expect_profile();
  auto j = report_to_json(evaluate_program(unary("rsqrt"), p), p);
  EXPECT_NE(j.find("\"emulated\": true"), std::string::npos);
  EXPECT_NE(j.find("ironmill-5.2"), std::string::npos);
  EXPECT_NE(j.find("\"schema\": \"ironmill.ane-validate/1\""), std::string::npos);
}

}  // namespace
}  // namespace ironmill::backends::ane
