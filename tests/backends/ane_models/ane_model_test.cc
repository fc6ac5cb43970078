// LLM templates on the EMULATED ANE (backend ane-hybrid: fp16 between ops, CPU prologue for the
// gathers and position math): kjv-llama-5m decode steps and a perplexity prefix against the fp32
// reference backend. The full kjv perplexity and the golden parity rows run in mill-harness
// (README, ANE section); these keep ctest short.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/tokenizer/tokenizer.h"
#include "frontends/templates/perplexity.h"
#include "frontends/templates/runner.h"

namespace ironmill::templates {
namespace {

const std::string kKjv = std::string(IRONMILL_SOURCE_DIR) + "/golden/kjv-llama-5m";

std::vector<int32_t> kjv_tokens(size_t n) {
  std::ifstream in(kKjv + "/kjv-test.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  auto tok = formats::tokenizer::load_tokenizer(kKjv);
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  if (!tok.ok()) return {};
  formats::tokenizer::EncodeOptions eo;
  eo.add_special_tokens = false;
  auto ids = (*tok)->encode(ss.str(), eo);
  EXPECT_TRUE(ids.ok());
  if (!ids.ok()) return {};
  ids->resize(std::min(n, ids->size()));
  return *ids;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return ab / std::sqrt(aa * bb);
}

// Decode on the emulated ANE (the cache an explicit fp16 input/output, the position's mask, one-hot
// and RoPE rows computed on the CPU) follows the fp32 reference step by step.
TEST(AneModels, KjvDecodeStepsFollowTheReference) {
  const std::vector<int32_t> prompt = kjv_tokens(12);
  ASSERT_EQ(prompt.size(), 12u);
  auto ane = LlmRunner::open(kKjv, "ane-hybrid");
  auto ref = LlmRunner::open(kKjv, "reference");
  ASSERT_TRUE(ane.ok()) << ane.status().message();
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  const int64_t C = 20;
  auto pa = (*ane)->prefill(prompt, C);
  auto pr = (*ref)->prefill(prompt, C);
  ASSERT_TRUE(pa.ok()) << pa.status().message();
  ASSERT_TRUE(pr.ok()) << pr.status().message();
  backends::NamedValues ca = pa->cache, cr = pr->cache;
  for (int32_t step = 0; step < 6; ++step) {
    const int32_t token = prompt[static_cast<size_t>(step)] + 1;  // any in-vocabulary ids
    auto la = (*ane)->decode(token, static_cast<int32_t>(prompt.size()) + step, C, ca);
    auto lr = (*ref)->decode(token, static_cast<int32_t>(prompt.size()) + step, C, cr);
    ASSERT_TRUE(la.ok()) << la.status().message();
    ASSERT_TRUE(lr.ok()) << lr.status().message();
    EXPECT_GE(cosine(*la, *lr), 0.999) << "step " << step;
  }
}

// chunked:256 perplexity over the first 512 tokens (2 chunks): emulated ANE within 1 % of the
// reference backend on the same prefix.
TEST(AneModels, KjvPerplexityPrefixWithinOnePercentOfTheReference) {
  const std::vector<int32_t> ids = kjv_tokens(512);
  ASSERT_EQ(ids.size(), 512u);
  const auto protocol = parse_perplexity_protocol("chunked:256");
  ASSERT_TRUE(protocol.ok());
  auto ane = LlmRunner::open(kKjv, "ane-hybrid");
  auto ref = LlmRunner::open(kKjv, "reference");
  ASSERT_TRUE(ane.ok() && ref.ok());
  auto pa = perplexity(**ane, ids, *protocol);
  auto pr = perplexity(**ref, ids, *protocol);
  ASSERT_TRUE(pa.ok()) << pa.status().message();
  ASSERT_TRUE(pr.ok()) << pr.status().message();
  EXPECT_EQ(pa->windows, 2);
  EXPECT_EQ(pa->scored, pr->scored);
  EXPECT_NEAR(pa->ppl, pr->ppl, 0.01 * pr->ppl) << "emulated " << pa->ppl << " vs reference " << pr->ppl;
}

}  // namespace
}  // namespace ironmill::templates
