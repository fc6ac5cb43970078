// Perplexity protocols. The figures come from Hugging Face (fixtures' golden.json), never from us.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/tokenizer/tokenizer.h"
#include "frontends/templates/perplexity.h"

namespace ironmill::templates {
namespace {

const std::string kKjv = std::string(IRONMILL_SOURCE_DIR) + "/golden/kjv-llama-5m";

TEST(PerplexityProtocol, ParsesBothSpellingsAndRejectsOthers) {
  auto c = parse_perplexity_protocol("chunked:256");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, PerplexityProtocol::Kind::kChunked);
  EXPECT_EQ(c->context, 256);
  auto s = parse_perplexity_protocol("sliding:512:256");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, PerplexityProtocol::Kind::kSliding);
  EXPECT_EQ(s->context, 512);
  EXPECT_EQ(s->stride, 256);
  EXPECT_EQ(s->spelling(), "sliding:512:256");
  for (const char* bad : {"", "chunked", "chunked:", "chunked:1", "chunked:x", "sliding:512", "sliding:256:512",
                          "sliding:512:0", "window:512"})
    EXPECT_FALSE(parse_perplexity_protocol(bad).ok()) << bad;
}

// Token accounting of both protocols on a short stream (the tiny llama case; values are not checked here).
TEST(PerplexityProtocol, ScoresTheTokensEachProtocolDefines) {
  auto runner = LlmRunner::open(std::string(IRONMILL_SOURCE_DIR) + "/golden/llama", "reference");
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  std::vector<int32_t> ids;
  for (int i = 0; i < 45; ++i) ids.push_back((i * 37 + 11) % 512);
  auto chunked = perplexity(**runner, ids, *parse_perplexity_protocol("chunked:16"));
  ASSERT_TRUE(chunked.ok()) << chunked.status().message();
  EXPECT_EQ(chunked->windows, 2);        // floor(45 / 16)
  EXPECT_EQ(chunked->scored, 2 * 7);     // positions 9..15 of each chunk
  auto sliding = perplexity(**runner, ids, *parse_perplexity_protocol("sliding:16:8"));
  ASSERT_TRUE(sliding.ok()) << sliding.status().message();
  EXPECT_EQ(sliding->scored, 44);        // every token but the first, once
  EXPECT_EQ(sliding->windows, 5);        // begins 0, 8, 16, 24, 32 (the last reaches the end)
  EXPECT_GT(sliding->ppl, 1.0);
}

// kjv-llama-5m, chunked at 256 (llama-perplexity's protocol): HF's figure 46.2383 within 0.1 %.
// About 1-2 minutes on the reference backend, so it runs as its own ctest (label perplexity).
TEST(PerplexityKjv, DISABLED_ChunkedMatchesHuggingFace) {
  std::ifstream gj(kKjv + "/golden.json");
  auto golden = nlohmann::json::parse(gj);
  const double expected = golden["ppl_kjv_test_chunked_ctx256"][0].get<double>();
  std::ifstream in(kKjv + "/kjv-test.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  auto tok = formats::tokenizer::load_tokenizer(kKjv);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  formats::tokenizer::EncodeOptions eo;
  eo.add_special_tokens = false;
  auto ids = (*tok)->encode(ss.str(), eo);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), golden["test_tokens"].get<size_t>());
  auto runner = LlmRunner::open(kKjv, "reference");
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  auto r = perplexity(**runner, *ids, *parse_perplexity_protocol("chunked:256"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->scored, golden["ppl_kjv_test_chunked_ctx256"][1].get<int64_t>());
  EXPECT_EQ(r->windows, golden["ppl_kjv_test_chunked_ctx256"][2].get<int64_t>());
  EXPECT_NEAR(r->ppl, expected, 1e-3 * expected);
}

}  // namespace
}  // namespace ironmill::templates
