// kjv-llama-5m perplexity on the engine, chunked at 256 (llama-perplexity's protocol), against Hugging
// Face's figure in golden/kjv-llama-5m/golden.json (46.2383 over 15367 scored tokens). Disabled in the
// unit run (it scores 31k tokens); ctest runs it as perplexity/engine-kjv-chunked.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/language_model.h"
#include "formats/tokenizer/tokenizer.h"
#include "frontends/templates/perplexity.h"

namespace ironmill::engine {
namespace {

TEST(EnginePerplexityKjv, DISABLED_ChunkedMatchesHuggingFace) {
  const std::string dir = std::string(IRONMILL_SOURCE_DIR) + "/golden/kjv-llama-5m";
  std::ifstream gin(dir + "/golden.json");
  const auto g = nlohmann::json::parse(gin);
  std::ifstream tin(dir + "/kjv-test.txt", std::ios::binary);
  std::stringstream ss;
  ss << tin.rdbuf();
  auto tok = formats::tokenizer::load_tokenizer(dir);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  auto ids = (*tok)->encode(ss.str(), {.add_special_tokens = false});
  ASSERT_TRUE(ids.ok());
  auto lm = open_engine_language_model(dir);
  ASSERT_TRUE(lm.ok()) << lm.status().message();
  auto protocol = templates::parse_perplexity_protocol("chunked:256");
  ASSERT_TRUE(protocol.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = templates::perplexity(**lm, *ids, *protocol);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::cout << "engine kjv chunked:256 ppl " << r->ppl << " over " << r->scored << " tokens in " << s << " s\n";
  const double hf = g["ppl_kjv_test_chunked_ctx256"][0].get<double>();
  EXPECT_EQ(r->scored, g["ppl_kjv_test_chunked_ctx256"][1].get<int64_t>());
  EXPECT_NEAR(r->ppl, hf, 1e-3 * hf);
}

}  // namespace
}  // namespace ironmill::engine
