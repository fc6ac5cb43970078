// The decode engine: golden parity against the Hugging Face goldens (oracle: golden/<case>/), KV-cache
// behaviour (decode after prefill and truncate-then-decode against fresh prefills), error values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/language_model.h"
#include "frontends/templates/golden_parity.h"

namespace ironmill::engine {
namespace {

std::string golden_dir(const std::string& c) { return std::string(IRONMILL_SOURCE_DIR) + "/golden/" + c; }

class EngineGoldenParity : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineGoldenParity, MatchesHuggingFace) {
  register_engine_language_model();
  templates::ParityResult r = templates::run_golden_case(golden_dir(GetParam()), "engine", templates::ParityGates{});
  ASSERT_TRUE(r.error.empty()) << r.error;
  double worst = 1.0;
  for (const auto& c : r.checks) worst = std::min(worst, c.min_cosine);
  std::cout << std::setprecision(9) << GetParam() << ": " << r.checks.size() << " checks, worst cosine " << worst << "\n";
  for (const auto& c : r.checks)
    EXPECT_TRUE(c.pass) << GetParam() << " " << c.name << ": min cosine " << c.min_cosine << ", max |d| " << c.max_abs
                        << " (max |ref| " << c.max_ref << ") " << c.detail;
  EXPECT_TRUE(r.pass);
}

INSTANTIATE_TEST_SUITE_P(Cases, EngineGoldenParity,
                         ::testing::Values("llama", "llama-tied-gqa1", "mistral-sw", "qwen2", "qwen3", "gemma2", "gemma3",
                                           "gemma4", "qwen3_5", "deepseek_v3", "kjv-llama-5m"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

double max_rel_diff(std::span<const float> a, std::span<const float> b) {
  double m = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
    ref = std::max(ref, static_cast<double>(std::fabs(b[i])));
  }
  return m / ref;
}

std::vector<int32_t> sequence(int64_t n, int64_t vocab) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>((i * 37 + 11) % vocab));
  return ids;
}

// mistral-sw has a sliding window of 8; with prefill chunks of 4 its ring buffer holds 11 positions, so a
// 20-token sequence wraps around it. gemma2 mixes sliding and global layers; gemma4 adds KV-shared layers
// (reading an earlier layer's ring buffer) and per-layer inputs. deepseek_v3 caches only the MLA latent and
// k_rope, and routes each token through its MoE experts (prefill batches the rows routed to one expert).
class EngineCache : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineCache, DecodeAfterPrefillEqualsPrefillOfTheLongerSequence) {
  EngineOptions o;
  o.prefill_chunk = 4;
  auto e = Engine::open(golden_dir(GetParam()), o);
  ASSERT_TRUE(e.ok()) << e.status().message();
  Engine& eng = **e;
  const auto ids = sequence(20, eng.vocab_size());
  for (int64_t split : {1, 5, 13}) {
    eng.reset();
    ASSERT_TRUE(eng.prefill(std::span(ids).first(static_cast<size_t>(split))).ok());
    std::vector<float> stepped;
    for (int64_t t = split; t < 20; ++t) {
      auto l = eng.decode_step(ids[static_cast<size_t>(t)]);
      ASSERT_TRUE(l.ok()) << l.status().message();
      stepped.assign(l->begin(), l->end());
    }
    EXPECT_EQ(eng.seq_pos(), 20);
    eng.reset();
    auto full = eng.prefill(ids);
    ASSERT_TRUE(full.ok());
    EXPECT_LT(max_rel_diff(stepped, *full), 1e-5) << "split " << split;
  }
}

TEST_P(EngineCache, TruncateThenDecodeEqualsFresh) {
  EngineOptions o;
  o.prefill_chunk = 4;
  auto e = Engine::open(golden_dir(GetParam()), o);
  ASSERT_TRUE(e.ok()) << e.status().message();
  Engine& eng = **e;
  const auto ids = sequence(16, eng.vocab_size());
  ASSERT_TRUE(eng.prefill(ids).ok());
  ASSERT_TRUE(eng.truncate_to(14).ok());
  EXPECT_EQ(eng.seq_pos(), 14);
  auto l = eng.decode_step(7);
  ASSERT_TRUE(l.ok());
  std::vector<float> after(l->begin(), l->end());
  std::vector<int32_t> fresh(ids.begin(), ids.begin() + 14);
  fresh.push_back(7);
  eng.reset();
  auto f = eng.prefill(fresh);
  ASSERT_TRUE(f.ok());
  EXPECT_LT(max_rel_diff(after, *f), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Models, EngineCache, ::testing::Values("llama", "mistral-sw", "gemma2", "gemma4", "deepseek_v3"));

// Qwen3.5's gated delta-net layers carry a recurrent state: stepping equals one prefill, and truncation
// can only go back to 0 (the state of earlier positions is gone).
TEST(EngineRecurrentState, DeltaNetDecodeEqualsPrefillAndTruncationIsLimited) {
  EngineOptions o;
  o.prefill_chunk = 4;
  auto e = Engine::open(golden_dir("qwen3_5"), o);
  ASSERT_TRUE(e.ok()) << e.status().message();
  Engine& eng = **e;
  const auto ids = sequence(12, eng.vocab_size());
  ASSERT_TRUE(eng.prefill(std::span(ids).first(5)).ok());
  std::vector<float> stepped;
  for (size_t t = 5; t < ids.size(); ++t) {
    auto l = eng.decode_step(ids[t]);
    ASSERT_TRUE(l.ok());
    stepped.assign(l->begin(), l->end());
  }
  EXPECT_FALSE(eng.truncate_to(6).ok());
  ASSERT_TRUE(eng.truncate_to(0).ok());  // = reset: the state is cleared
  auto full = eng.prefill(ids);
  ASSERT_TRUE(full.ok());
  EXPECT_LT(max_rel_diff(stepped, *full), 1e-5);
}

TEST(EngineCacheLimits, TruncatingPastTheRingBufferIsAnError) {
  EngineOptions o;
  o.prefill_chunk = 4;
  auto e = Engine::open(golden_dir("mistral-sw"), o);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*e)->prefill(sequence(30, (*e)->vocab_size())).ok());
  Status s = (*e)->truncate_to(10);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("sliding-window"), std::string::npos) << s.message();
  EXPECT_EQ((*e)->seq_pos(), 30);
}

TEST(EngineErrors, BadTokensAndFullSequences) {
  EngineOptions o;
  o.max_seq_len = 8;
  auto e = Engine::open(golden_dir("llama"), o);
  ASSERT_TRUE(e.ok());
  Engine& eng = **e;
  std::vector<int32_t> bad{1, static_cast<int32_t>(eng.vocab_size())};
  auto r = eng.prefill(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("index 1"), std::string::npos) << r.status().message();
  EXPECT_FALSE(eng.prefill(sequence(9, eng.vocab_size())).ok());
  ASSERT_TRUE(eng.prefill(sequence(8, eng.vocab_size())).ok());
  EXPECT_FALSE(eng.decode_step(1).ok());
  EXPECT_FALSE(eng.truncate_to(9).ok());
}

TEST(EngineErrors, MissingModelNamesThePath) {
  auto e = Engine::open("/nonexistent/model-dir");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("/nonexistent/model-dir"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace ironmill::engine
