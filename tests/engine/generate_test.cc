// Generation on the engine: kjv-llama-5m at temperature 0 reproduces the Hugging Face greedy text
// (golden/kjv-llama-5m/golden.json), stop tokens end generation, and the streamed text never splits a
// multi-byte UTF-8 character (the byte-level tokens 0xC3 0xA9 of "é" arrive as one piece).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/generate.h"

namespace ironmill::engine {
namespace {

const std::string kKjv = std::string(IRONMILL_SOURCE_DIR) + "/golden/kjv-llama-5m";

nlohmann::json golden() {
  std::ifstream in(kKjv + "/golden.json");
  return nlohmann::json::parse(in);
}

TEST(Generate, KjvGreedyTextMatchesHuggingFace) {
  const auto g = golden();
  auto tok = formats::tokenizer::load_tokenizer(kKjv);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  auto eng = Engine::open(kKjv);
  ASSERT_TRUE(eng.ok()) << eng.status().message();
  auto ids = (*tok)->encode(g["prompt"].get<std::string>());
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, g["prompt_ids"].get<std::vector<int32_t>>());
  GenerateParams p;
  p.sampling.temperature = 0;
  p.max_tokens = static_cast<int64_t>(g["greedy_ids"].size());
  std::string streamed;
  auto r = generate(**eng, **tok, *ids, p, [&](std::string_view s) { streamed += s; });
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->ids, g["greedy_ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(r->text, g["greedy_text"].get<std::string>());
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(r->stop_reason, "max_tokens");
}

TEST(Generate, StopTokenEndsGeneration) {
  const auto g = golden();
  auto tok = formats::tokenizer::load_tokenizer(kKjv);
  auto eng = Engine::open(kKjv);
  ASSERT_TRUE(tok.ok() && eng.ok());
  GenerateParams p;
  p.sampling.temperature = 0;
  p.max_tokens = 32;
  const auto greedy = g["greedy_ids"].get<std::vector<int32_t>>();
  p.stop_tokens = {greedy[3]};  // the 4th greedy token stops it
  auto r = generate(**eng, **tok, g["prompt_ids"].get<std::vector<int32_t>>(), p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stop_reason, "stop_token");
  EXPECT_EQ(r->ids, std::vector<int32_t>(greedy.begin(), greedy.begin() + 3));
}

TEST(Generate, SeededSamplingIsReproducible) {
  auto tok = formats::tokenizer::load_tokenizer(kKjv);
  auto eng = Engine::open(kKjv);
  ASSERT_TRUE(tok.ok() && eng.ok());
  GenerateParams p;  // GenParams defaults: temperature 0.7, top_p 0.9
  p.max_tokens = 16;
  p.sampling.seed = 7;
  const std::vector<int32_t> prompt = golden()["prompt_ids"].get<std::vector<int32_t>>();
  auto a = generate(**eng, **tok, prompt, p);
  (*eng)->reset();
  auto b = generate(**eng, **tok, prompt, p);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ids, b->ids);
  EXPECT_EQ(a->ids.size(), 16u);
}

TEST(Generate, StreamingHoldsIncompleteUtf8) {
  auto tok = formats::tokenizer::load_tokenizer(kKjv);
  ASSERT_TRUE(tok.ok());
  // Byte-level BPE: byte 0xC3 is the character U+00C3, byte 0xA9 is U+00A9.
  auto lead = (*tok)->token_to_id("\xC3\x83");
  auto cont = (*tok)->token_to_id("\xC2\xA9");
  ASSERT_TRUE(lead && cont) << "the byte-level alphabet has every byte";
  formats::tokenizer::StreamDecoder s(**tok);
  auto first = s.push(*lead);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "");  // half a character: held back
  auto second = s.push(*cont);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, "\xC3\xA9");  // é, whole
  auto dangling = s.push(*lead);
  ASSERT_TRUE(dangling.ok());
  EXPECT_EQ(*dangling, "");
  EXPECT_EQ(s.finish(), "\xEF\xBF\xBD");  // an unfinished character at the end becomes U+FFFD
}

}  // namespace
}  // namespace ironmill::engine
