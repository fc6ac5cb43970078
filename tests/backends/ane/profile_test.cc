// ANE chip profiles: every rule carries a source, every op named exists in the registry, inheritance
// and overrides, and the loader's errors name the file and field.
#include "backends/ane/profile.h"

#include <gtest/gtest.h>

#include "ane_test_support.h"
#include "mil/op_registry.h"

namespace ironmill::backends::ane {
namespace {

using ironmill::testing::expect_error_contains;
using ironmill::testing::expect_profile;

TEST(AneProfile, TheThreeChipProfilesLoad) {
  auto names = profile_names();
  for (const char* n : {"m1", "m3_pro", "m4"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n << " profile missing";
  for (const auto& n : names) {
    auto p = load_profile(n);
    EXPECT_TRUE(p.ok()) << n << ": " << p.status().message();
  }
}

TEST(AneProfile, EveryRuleHasAKnownSource) {
  for (const auto& n : profile_names()) {
    AneProfile p = expect_profile(n);
    auto check = [&](const RuleInfo& r, const std::string& what) {
      EXPECT_FALSE(r.source.empty()) << n << ": " << what;
      EXPECT_TRUE(p.sources.count(r.source)) << n << ": " << what << " cites unknown source " << r.source;
    };
    check(p.default_rule, "default_rule");
    for (const auto& [op, r] : p.ops) {
      check(r, "ops." + op);
      EXPECT_NE(mil::OpRegistry::get().find(op), nullptr) << n << ": " << op << " is not a registered op";
    }
    for (const auto& r : p.required_inputs) check(r, "required_inputs " + r.op);
    for (const auto& r : p.const_inputs) check(r, "const_inputs " + r.op);
    for (const auto& r : p.casts) check(r, "cast_paths");
    for (const auto& [k, r] : p.dtypes) check(r, "dtypes." + k);
    for (const auto& [k, r] : p.limits) check(r, "limits." + k);
    for (const auto& [k, r] : p.program_rules) check(r, "program_rules." + k);
    for (const auto& r : p.warnings) check(r, "warnings." + r.rule);
    // The rules the issue names must all be present.
    for (const char* k : {"max_dim", "max_conv_kernel", "io_wide_short", "min_buffer_bytes", "compile_budget",
                          "weight_file_bytes", "residency_bytes", "error14_bytes"})
      EXPECT_TRUE(p.limits.count(k)) << n << " lacks limits." << k;
    for (const char* k : {"function_inputs", "function_outputs", "int4", "integer_arithmetic"})
      EXPECT_TRUE(p.dtypes.count(k)) << n << " lacks dtypes." << k;
    EXPECT_FALSE(p.required_inputs.empty());
  }
}

TEST(AneProfile, PublishedFindingsAreEncoded) {
  AneProfile p = expect_profile("m3_pro");
  // ironmill-notes.md §5.1: facts of the published table.
  EXPECT_EQ(p.op_rule("add").status, OpStatus::kEval);
  EXPECT_DOUBLE_EQ(*p.op_rule("add").max_err, 0.038);
  EXPECT_EQ(p.op_rule("relu6").status, OpStatus::kCompile);
  EXPECT_EQ(p.op_rule("mod").status, OpStatus::kRejected);
  EXPECT_EQ(p.op_rule("reshape").status, OpStatus::kIntermediate);
  EXPECT_EQ(p.op_rule("gather").status, OpStatus::kRejected);
  // Ops nobody verified get the default rule, which is a rejection with a source.
  EXPECT_EQ(p.op_rule("lstm").status, OpStatus::kRejected);
  EXPECT_EQ(p.op_rule("lstm").source, p.default_rule.source);
  const CastRule* c = p.cast_rule(mil::DType::kFp16, mil::DType::kInt32);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, OpStatus::kRejected);
  EXPECT_EQ(p.limit("compile_budget"), 119);
  EXPECT_EQ(p.limit("weight_file_bytes"), 2147483648LL);
}

TEST(AneProfile, ConflictingSourcesSayWhichIsFollowed) {
  AneProfile m3 = expect_profile("m3_pro"), m4 = expect_profile("m4"), m1 = expect_profile("m1");
  EXPECT_FALSE(m3.limits.at("max_dim").disagreement.empty());
  EXPECT_FALSE(m3.limits.at("min_buffer_bytes").disagreement.empty());
  EXPECT_FALSE(m3.op_rule("concat").disagreement.empty());
  // Per-generation limits (anchors.md §7.5): 16384 through A15, 65536 from A16.
  EXPECT_EQ(m1.limit("max_dim"), 16384);
  EXPECT_EQ(m4.limit("max_dim"), 65536);
  EXPECT_EQ(m1.limit("max_conv_kernel"), 13);
  EXPECT_EQ(m4.limit("min_buffer_bytes"), 49152);
  EXPECT_EQ(m3.limit("min_buffer_bytes"), 16384);
  // Inherited rules keep the parent's source.
  EXPECT_EQ(m4.op_rule("add").source, m3.op_rule("add").source);
  EXPECT_EQ(m4.inherits, "m3_pro");
}

const char* kMinimal = R"({"schema": "ironmill.ane-profile/1", "name": "t",
  "sources": {"s": "a source"},
  "default_rule": {"status": "rejected", "source": "s"},
  "ops": [OPS]})";

std::string with_ops(const std::string& ops) {
  std::string s = kMinimal;
  s.replace(s.find("OPS"), 3, ops);
  return s;
}

TEST(AneProfile, LoaderErrorsNameTheField) {
  EXPECT_TRUE(parse_profile(with_ops(R"({"op": "add", "status": "eval", "source": "s"})"), "t.json", nullptr).ok());
  expect_error_contains(parse_profile(with_ops(R"({"op": "add", "status": "eval"})"), "t.json", nullptr).status(),
                        {"t.json", "ops[0].source", "needs a source"});
  expect_error_contains(parse_profile(with_ops(R"({"op": "add", "status": "eval", "source": "nope"})"), "t.json", nullptr).status(),
                        {"ops[0].source", "unknown source key `nope`"});
  expect_error_contains(parse_profile(with_ops(R"({"op": "neg", "status": "rejected", "source": "s"})"), "t.json", nullptr).status(),
                        {"ops[0].op", "`neg` is not a registered MIL op"});
  expect_error_contains(parse_profile(with_ops(R"({"op": "add", "status": "maybe", "source": "s"})"), "t.json", nullptr).status(),
                        {"ops[0].status", "unknown status `maybe`"});
  expect_error_contains(parse_profile("{", "t.json", nullptr).status(), {"t.json", "not valid JSON"});
  expect_error_contains(load_profile("no_such_chip").status(), {"no ANE profile `no_such_chip`", "m3_pro"});
  expect_error_contains(load_profile("../etc").status(), {"letters, digits"});
}

}  // namespace
}  // namespace ironmill::backends::ane
