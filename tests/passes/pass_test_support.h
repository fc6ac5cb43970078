// Checks every pass test makes: the rewritten program verifies, computes what the original computed
// on the reference interpreter (the oracle, itself checked against NumPy by op-eval), and a second
// run of the pass changes nothing (idempotence).
#pragma once
#include <gtest/gtest.h>

#include "../backends/ane/ane_test_support.h"
#include "mil/text.h"
#include "mil/verifier.h"
#include "passes/pass.h"

namespace ironmill::testing {

// Runs `pass` on `p` through a PassManager (which verifies), compares reference results before and
// after within `atol` (absolute), checks idempotence. Returns the rewritten program.
template <class PassT>
mil::Program check_pass(const mil::Program& original, PassT pass, const backends::NamedValues& inputs, double atol,
                        bool expect_change = true) {
  auto before = run_outputs_on_reference(original, inputs);
  EXPECT_TRUE(before.ok()) << before.status().message();
  mil::Program p = original;
  passes::PassManager pm;
  pm.add(std::make_unique<PassT>(pass));
  std::vector<std::string> log;
  Status s = pm.run(p, &log);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return p;
  EXPECT_EQ(log.at(0), pass.name() + (expect_change ? ": changed" : ": unchanged")) << mil::print_mil_text(p);
  auto after = run_outputs_on_reference(p, inputs);
  EXPECT_TRUE(after.ok()) << after.status().message() << "\n" << mil::print_mil_text(p);
  if (before.ok() && after.ok()) {
    EXPECT_EQ(before->size(), after->size());
    for (size_t i = 0; i < std::min(before->size(), after->size()); ++i) {
      EXPECT_EQ((*before)[i].shape(), (*after)[i].shape()) << "output " << i;
      auto e = compare((*after)[i], (*before)[i]);
      EXPECT_LE(e.max_abs, atol) << "output " << i << "\n" << mil::print_mil_text(p);
    }
  }
  // Idempotent: a second run reports no change and leaves the same text.
  const std::string once = mil::print_mil_text(p);
  mil::Program twice = p;
  auto changed = PassT(pass).run(twice);
  EXPECT_TRUE(changed.ok());
  if (changed.ok()) EXPECT_FALSE(*changed) << "second run changed the program";
  EXPECT_TRUE(mil::infer_and_verify(twice).ok());
  EXPECT_EQ(mil::print_mil_text(twice), once);
  return p;
}

// A program holding just function `fn` of `p`, renamed "main" (to run one half of a split on its own).
inline mil::Program only(const mil::Program& p, const std::string& fn) {
  mil::Program q;
  q.functions = {*p.function(fn)};
  q.functions[0].name = "main";
  return q;
}

inline int count_ops(const mil::Program& p, const std::string& type) {
  int n = 0;
  for (const auto& op : p.functions[0].body.operations) n += op.type == type;
  return n;
}

}  // namespace ironmill::testing
