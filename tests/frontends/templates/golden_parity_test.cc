// Every golden case in golden/<case>/ against Hugging Face's outputs (transformers 5.17, fp32, eager):
// the expected values are HF's, never ours.
#include <gtest/gtest.h>

#include <string>

#include "frontends/templates/golden_parity.h"

namespace ironmill::templates {
namespace {

class GoldenParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenParity, ReferenceBackendMeetsEveryGate) {
  const std::string dir = std::string(IRONMILL_SOURCE_DIR) + "/golden/" + GetParam();
  ParityResult r = run_golden_case(dir, "reference", ParityGates{});
  ASSERT_TRUE(r.error.empty()) << r.error;
  // hf-tiny: prefill, L+1 hidden states, ids, decode, full; kjv: prefill, ids, decode.
  EXPECT_GE(r.checks.size(), 3u);
  for (const auto& c : r.checks)
    EXPECT_TRUE(c.pass) << GetParam() << " " << c.name << ": min cosine " << c.min_cosine << ", max |d| " << c.max_abs
                        << " (max |ref| " << c.max_ref << ") " << c.detail;
}

INSTANTIATE_TEST_SUITE_P(Templates, GoldenParity,
                         ::testing::Values("llama", "llama-tied-gqa1", "mistral-sw", "qwen2", "qwen3", "qwen3_5",
                                           "gemma2", "gemma3", "gemma4", "deepseek_v3", "kjv-llama-5m"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace ironmill::templates
