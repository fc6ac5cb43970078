// DeepSeek V3 on the decode engine beyond the hf-tiny parity case (engine_test.cc): the deepseek_v3-routing
// and deepseek_v3-yarn goldens (HF transformers) at the fp32 gates, prefill chunking does not change the logits (MoE rows gathered per expert, MLA
// cache written per chunk), and configs the engine does not implement are errors that name the field.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/engine.h"
#include "engine/language_model.h"
#include "frontends/templates/golden_parity.h"

namespace ironmill::engine {
namespace {

namespace fs = std::filesystem;

std::string golden_dir(const std::string& c) { return std::string(IRONMILL_SOURCE_DIR) + "/golden/" + c; }

std::vector<int32_t> sequence(int64_t n, int64_t vocab) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>((i * 53 + 7) % vocab));
  return ids;
}

// HF goldens made by golden/make_deepseek_cases.py: deepseek_v3-routing (group-limited routing, non-zero
// correction bias, norm_topk_prob false, q_proj queries) and deepseek_v3-yarn (yarn rope, factor 4 over 64
// original positions, mscale_all_dim 1; an 80-token prompt).
class EngineDeepseekGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineDeepseekGolden, MatchesHuggingFace) {
  register_engine_language_model();
  templates::ParityResult r = templates::run_golden_case(golden_dir(GetParam()), "engine", templates::ParityGates{});
  ASSERT_TRUE(r.error.empty()) << r.error;
  for (const auto& c : r.checks)
    EXPECT_TRUE(c.pass) << c.name << ": min cosine " << c.min_cosine << ", max |d| " << c.max_abs << " (max |ref| "
                        << c.max_ref << ") " << c.detail;
  EXPECT_TRUE(r.pass);
  EXPECT_GE(r.checks.size(), 5u);
}

INSTANTIATE_TEST_SUITE_P(Cases, EngineDeepseekGolden, ::testing::Values("deepseek_v3-routing", "deepseek_v3-yarn"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(EngineDeepseek, PrefillChunkSizeDoesNotChangeTheLogits) {
  std::vector<std::vector<float>> all;
  for (int64_t chunk : {1, 3, 64}) {
    EngineOptions o;
    o.prefill_chunk = chunk;
    auto e = Engine::open(golden_dir("deepseek_v3"), o);
    ASSERT_TRUE(e.ok()) << e.status().message();
    PrefillExtras x;
    x.all_logits = true;
    ASSERT_TRUE((*e)->prefill(sequence(19, (*e)->vocab_size()), &x).ok());
    all.push_back(std::move(x.logits));
  }
  for (size_t c = 1; c < all.size(); ++c) {
    ASSERT_EQ(all[c].size(), all[0].size());
    double m = 0, ref = 0;
    for (size_t i = 0; i < all[0].size(); ++i) {
      m = std::max(m, static_cast<double>(std::fabs(all[c][i] - all[0][i])));
      ref = std::max(ref, static_cast<double>(std::fabs(all[0][i])));
    }
    EXPECT_LT(m / ref, 1e-5) << "chunking " << c;
  }
}

// A copy of the fixture's config with `edit` applied, next to a link to its weights.
std::string edited_case(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const fs::path dir = fs::temp_directory_path() / ("ironmill-deepseek-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(golden_dir("deepseek_v3") + "/config.json"));
  edit(cfg);
  std::ofstream(dir / "config.json") << cfg.dump(2);
  fs::create_symlink(fs::path(golden_dir("deepseek_v3")) / "model.safetensors", dir / "model.safetensors");
  return dir.string();
}

TEST(EngineDeepseek, UnsupportedRoutingNamesTheField) {
  struct Case {
    std::string name, field;
    std::function<void(nlohmann::json&)> edit;
  };
  const std::vector<Case> cases = {
      {"softmax", "scoring_func", [](nlohmann::json& c) { c["scoring_func"] = "softmax"; }},
      {"groups", "n_group", [](nlohmann::json& c) { c["n_group"] = 3; }},
      {"topk-group", "topk_group", [](nlohmann::json& c) { c["n_group"] = 2; c["topk_group"] = 3; }},
  };
  for (const auto& c : cases) {
    const std::string dir = edited_case(c.name, c.edit);
    auto e = Engine::open(dir);
    EXPECT_FALSE(e.ok()) << c.name;
    if (!e.ok()) {
      EXPECT_NE(e.status().message().find(c.field), std::string::npos) << e.status().message();
    }
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace ironmill::engine
