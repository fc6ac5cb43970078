// Tokenizers: HF parity on kjv-llama-5m (golden/kjv-llama-5m, made by transformers 5.17), the GPT-2
// split pattern on tricky strings (expected splits derived by hand from the regex), Unicode helpers,
// hand-built tokenizer.json variants (metaspace, byte fallback, templates), bad files, SentencePiece.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "formats/gguf/gguf.h"
#include "formats/tokenizer/gguf_vocab.h"
#include "formats/tokenizer/pretokenizer.h"
#include "formats/tokenizer/sentencepiece_model.h"
#include "formats/tokenizer/regex.h"
#include "formats/tokenizer/tokenizer.h"
#include "formats/tokenizer/unicode.h"

namespace {

namespace fs = std::filesystem;
using ironmill::ErrorCode;
using namespace ironmill::formats::tokenizer;
using nlohmann::json;
using Strings = std::vector<std::string>;

const fs::path kGolden = fs::path(IRONMILL_SOURCE_DIR) / "golden";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class KjvTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto t = load_tokenizer(kGolden / "kjv-llama-5m");
    ASSERT_TRUE(t.ok()) << t.status().message();
    tok_ = std::move(*t).release();
    golden_ = new json(json::parse(read_file(kGolden / "kjv-llama-5m" / "golden.json")));
    text_ = new std::string(read_file(kGolden / "kjv-llama-5m" / "kjv-test.txt"));
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete golden_;
    delete text_;
  }
  static Tokenizer* tok_;
  static json* golden_;
  static std::string* text_;
};
Tokenizer* KjvTokenizer::tok_ = nullptr;
json* KjvTokenizer::golden_ = nullptr;
std::string* KjvTokenizer::text_ = nullptr;

TEST_F(KjvTokenizer, Basics) {
  EXPECT_EQ(tok_->kind(), "hf-bpe");
  EXPECT_EQ(tok_->vocab_size(), 2048u);
  EXPECT_EQ(tok_->bos_id(), 0);
  EXPECT_EQ(tok_->eos_id(), 0);
  EXPECT_TRUE(tok_->is_special(0));
  EXPECT_FALSE(tok_->is_special(259));
  EXPECT_EQ(tok_->id_to_token(0), "<|endoftext|>");
  EXPECT_EQ(tok_->token_to_id("<|endoftext|>"), 0);
  EXPECT_EQ(tok_->token_to_id("\xC4\xA0" "a"), 260);  // "Ġa"
  EXPECT_FALSE(tok_->token_to_id("no such token").has_value());
}

TEST_F(KjvTokenizer, GoldenPromptEncodesToGoldenIds) {
  auto ids = tok_->encode(golden_->at("prompt").get<std::string>());
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_EQ(*ids, golden_->at("prompt_ids").get<std::vector<int32_t>>());
}

TEST_F(KjvTokenizer, TestSplitIs31083TokensAndRoundTrips) {
  auto ids = tok_->encode(*text_);
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  EXPECT_EQ(ids->size(), 31083u);
  EXPECT_EQ(ids->size(), golden_->at("test_tokens").get<size_t>());
  auto back = tok_->decode(*ids);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(*back == *text_) << "decode(encode(kjv-test.txt)) differs from the file";
}

TEST_F(KjvTokenizer, GreedyIdsDecodeToGreedyText) {
  auto text = tok_->decode(golden_->at("greedy_ids").get<std::vector<int32_t>>());
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, golden_->at("greedy_text").get<std::string>());
}

TEST_F(KjvTokenizer, StreamingDecodeEqualsFullDecode) {
  // Non-ASCII text falls back to byte tokens in this ASCII-trained vocab, so characters arrive in pieces.
  const std::string text = golden_->at("greedy_text").get<std::string>() + " Ünïcödé 你好 🙂 — ok\n" + text_->substr(0, 3000);
  auto ids = tok_->encode(text);
  ASSERT_TRUE(ids.ok());
  StreamDecoder stream(*tok_);
  std::string streamed;
  size_t empty_pushes = 0;
  for (int32_t id : *ids) {
    auto piece = stream.push(id);
    ASSERT_TRUE(piece.ok()) << piece.status().message();
    EXPECT_EQ(find_invalid_utf8(*piece), std::string::npos) << "a push emitted part of a character";
    empty_pushes += piece->empty();
    streamed += *piece;
  }
  streamed += stream.finish();
  EXPECT_EQ(streamed, text);
  EXPECT_GT(empty_pushes, 0u);  // some tokens ended inside a character and were held back
  auto full = tok_->decode(*ids);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(streamed, *full);
}

TEST_F(KjvTokenizer, StreamHoldsIncompleteCharacterUntilFinish) {
  auto ids = tok_->encode("🙂");
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 2u);
  StreamDecoder stream(*tok_);
  auto first = stream.push((*ids)[0]);  // only part of the emoji's 4 bytes
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");  // cut short: one U+FFFD, never a partial character
}

TEST_F(KjvTokenizer, SpecialTokens) {
  auto ids = tok_->encode("In the<|endoftext|>In the");
  ASSERT_TRUE(ids.ok());
  const std::vector<int32_t> in_the = *tok_->encode("In the");
  std::vector<int32_t> expect = in_the;
  expect.push_back(0);
  expect.insert(expect.end(), in_the.begin(), in_the.end());
  EXPECT_EQ(*ids, expect);

  EncodeOptions plain;
  plain.split_special_tokens = true;
  auto split = tok_->encode("<|endoftext|>", plain);
  ASSERT_TRUE(split.ok());
  EXPECT_GT(split->size(), 1u);
  EXPECT_EQ(std::count(split->begin(), split->end(), 0), 0);

  EXPECT_EQ(*tok_->decode(*ids), "In the<|endoftext|>In the");
  DecodeOptions skip;
  skip.skip_special_tokens = true;
  EXPECT_EQ(*tok_->decode(*ids, skip), "In theIn the");
}

TEST_F(KjvTokenizer, BadInputIsAnError) {
  auto e = tok_->encode(std::string("ok \xC3\x28 bad"));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("byte offset 3"), std::string::npos) << e.status().message();

  auto d = tok_->decode(std::vector<int32_t>{259, 2048});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("token id 2048"), std::string::npos) << d.status().message();
  EXPECT_FALSE(tok_->decode(std::vector<int32_t>{-1}).ok());

  auto empty = tok_->encode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// --- the GPT-2 pattern, splits derived by hand --------------------------------------------------

Strings gpt2(std::string_view text) {
  static const Regex re = *Regex::compile(kGpt2Pattern);
  return regex_split(re, text);
}

TEST(Gpt2Split, Contractions) {
  EXPECT_EQ(gpt2("I'm"), (Strings{"I", "'m"}));
  EXPECT_EQ(gpt2("don't you'll we've"), (Strings{"don", "'t", " you", "'ll", " we", "'ve"}));
  // Case-sensitive: "'M" is no contraction, so the apostrophe stands alone as punctuation.
  EXPECT_EQ(gpt2("I'M"), (Strings{"I", "'", "M"}));
}

TEST(Gpt2Split, Whitespace) {
  // \s+(?!\S) backs off one space so the last one joins the next word.
  EXPECT_EQ(gpt2("  spaces"), (Strings{" ", " spaces"}));
  EXPECT_EQ(gpt2("hello  world"), (Strings{"hello", " ", " world"}));
  EXPECT_EQ(gpt2("a \n"), (Strings{"a", " \n"}));
  EXPECT_EQ(gpt2("a\n\nb"), (Strings{"a", "\n", "\n", "b"}));
  EXPECT_EQ(gpt2("\t x"), (Strings{"\t", " x"}));
  EXPECT_EQ(gpt2("end   "), (Strings{"end", "   "}));
}

TEST(Gpt2Split, DigitsAndPunctuation) {
  EXPECT_EQ(gpt2("abc 12345 x1"), (Strings{"abc", " 12345", " x", "1"}));
  EXPECT_EQ(gpt2("3.14!?"), (Strings{"3", ".", "14", "!?"}));
  EXPECT_EQ(gpt2("Hello, world!"), (Strings{"Hello", ",", " world", "!"}));
  EXPECT_EQ(gpt2("x ½²"), (Strings{"x", " ½²"}));  // ½ (No) and ² (No) are \p{N}
}

TEST(Gpt2Split, UnicodeLettersCjkEmoji) {
  EXPECT_EQ(gpt2("Ünïcödé"), (Strings{"Ünïcödé"}));
  EXPECT_EQ(gpt2("say Ünïcödé"), (Strings{"say", " Ünïcödé"}));
  EXPECT_EQ(gpt2("你好世界"), (Strings{"你好世界"}));
  EXPECT_EQ(gpt2("你好，世界"), (Strings{"你好", "，", "世界"}));  // U+FF0C is punctuation
  EXPECT_EQ(gpt2("hi 🙂🙂!"), (Strings{"hi", " 🙂🙂!"}));          // emoji (So) and '!' share a run
  EXPECT_EQ(gpt2("e\xCC\x81t"), (Strings{"e", "\xCC\x81", "t"}));  // a combining mark (Mn) is no letter
  EXPECT_EQ(gpt2("Привет мир"), (Strings{"Привет", " мир"}));
}

TEST(RegexEngine, Llama3PatternFeatures) {
  auto re = Regex::compile(
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  ASSERT_TRUE(re.ok()) << re.status().message();
  EXPECT_EQ(regex_split(*re, "I'M 12345"), (Strings{"I", "'M", " ", "123", "45"}));
  EXPECT_EQ(regex_split(*re, "$hello\n\nx"), (Strings{"$hello", "\n\n", "x"}));
}

TEST(RegexEngine, DeepseekV3Patterns) {
  auto digits = Regex::compile(R"(\p{N}{1,3})");
  ASSERT_TRUE(digits.ok());
  EXPECT_EQ(regex_split(*digits, "x1234567"), (Strings{"x", "123", "456", "7"}));
  auto cjk = Regex::compile("[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+");
  ASSERT_TRUE(cjk.ok()) << cjk.status().message();
  EXPECT_EQ(regex_split(*cjk, "ab世界かなカナcd"), (Strings{"ab", "世界かなカナ", "cd"}));
  auto words = Regex::compile(
      R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  ASSERT_TRUE(words.ok()) << words.status().message();
  EXPECT_EQ(regex_split(*words, "Hi.NET café!!\n"), (Strings{"Hi", ".NET", " café", "!!\n"}));
  EXPECT_EQ(regex_split(*words, "a .b"), (Strings{"a", " .", "b"}));  // leftmost-first: " ?[P]+" wins
}

TEST(RegexEngine, SplitBehaviors) {
  auto re = Regex::compile("-");
  ASSERT_TRUE(re.ok());
  EXPECT_EQ(regex_split(*re, "a-b--c", SplitBehavior::kRemoved), (Strings{"a", "b", "c"}));
  EXPECT_EQ(regex_split(*re, "a-b--c", SplitBehavior::kIsolated), (Strings{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(regex_split(*re, "a-b--c", SplitBehavior::kMergedWithPrevious), (Strings{"a-", "b-", "-", "c"}));
  EXPECT_EQ(regex_split(*re, "a-b--c", SplitBehavior::kMergedWithNext), (Strings{"a", "-b", "-", "-c"}));
  EXPECT_EQ(regex_split(*re, "a-b--c", SplitBehavior::kContiguous), (Strings{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(regex_split(*re, "a-b", SplitBehavior::kRemoved, /*invert=*/true), (Strings{"-"}));
}

TEST(RegexEngine, ClassesQuantifiersAndErrors) {
  auto re = Regex::compile(R"([a-c\d]{2,3}?x|\x{4F60}|\u597D|[^\sa-z]+)");
  ASSERT_TRUE(re.ok()) << re.status().message();
  EXPECT_EQ(regex_split(*re, "ab1x QQ 你好"), (Strings{"ab1x", " ", "QQ", " ", "你", "好"}));
  for (const char* bad : {"(?<=a)b", "a{2", "[a-", "\\p{Nope}", "(a", "a)", "*a", "(a*)*", "a++", "\\b"}) {
    auto r = Regex::compile(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_NE(r.status().message().find("offset"), std::string::npos) << r.status().message();
  }
}

// --- Unicode helpers -----------------------------------------------------------------------

TEST(Unicode, Categories) {
  EXPECT_TRUE(is_letter(U'Ü'));
  EXPECT_TRUE(is_letter(U'你'));
  EXPECT_TRUE(is_number(U'٣'));  // Arabic-Indic three
  EXPECT_TRUE(is_whitespace(U'\u3000'));
  EXPECT_TRUE(is_whitespace(U'\u0085'));
  EXPECT_FALSE(is_whitespace(U'\u200B'));  // zero-width space is Cf, not White_Space
  EXPECT_EQ(general_category(U'🙂'), GeneralCategory::So);
  EXPECT_EQ(general_category(0x10FFFF), GeneralCategory::Cn);
}

TEST(Unicode, NfcAndNfd) {
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");                        // e + acute -> é
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");                     // Angstrom sign -> Å (singleton)
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // Hangul L V T -> 각
  EXPECT_EQ(nfc("a\xCC\x81\xCC\x97"), "\xC3\xA1\xCC\x97");        // reordered: a U+0317 U+0301 -> á U+0317
  EXPECT_EQ(nfc("A\xCC\x88\xCC\x84"), "\xC7\x9E");                // A + diaeresis + macron -> Ǟ
  EXPECT_EQ(nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");     // U+0958 is excluded from composition
  EXPECT_EQ(nfd("\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
}

TEST(Unicode, LossyUtf8MatchesBestPractice) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x99"), r);
  EXPECT_EQ(utf8_lossy("\xC3\x28"), r + "(");
  EXPECT_EQ(utf8_lossy("\xE0\x80\x80"), r + r + r);
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), r + r + r);  // a surrogate
  EXPECT_EQ(utf8_lossy("a\xFF" "b"), "a" + r + "b");
  EXPECT_EQ(utf8_lossy("\xF4\x90\x80\x80"), r + r + r + r);
  EXPECT_EQ(find_invalid_utf8("ok \xE2\x82"), 3u);
}

// --- hand-built tokenizer.json variants --------------------------------------------------------

// A Llama-2-style tokenizer: Prepend/Replace normalizers, byte-fallback BPE, Replace/ByteFallback/
// Fuse/Strip decoder, TemplateProcessing BOS.
json llama2_style() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const char* pieces[] = {"\xE2\x96\x81", "h", "e", "l", "o", "\xE2\x96\x81h", "ll", "\xE2\x96\x81he", "llo", "\xE2\x96\x81hello"};
  for (int i = 0; i < 10; ++i) vocab[pieces[i]] = 259 + i;
  return {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 0}, {"content", "<unk>"}, {"special", true}, {"normalized", false}},
        {{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
        {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", json::array()},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"byte_fallback", true},
        {"fuse_unk", true},
        {"vocab", vocab},
        {"merges", {"\xE2\x96\x81 h", "l l", "\xE2\x96\x81h e", "ll o", "\xE2\x96\x81he llo"}}}}};
}

std::unique_ptr<Tokenizer> parse(const json& j) {
  auto t = parse_hf_tokenizer(j.dump(), "mem/tokenizer.json");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(*t) : nullptr;
}

TEST(HfTokenizerVariants, Llama2StyleMetaspaceAndByteFallback) {
  auto t = parse(llama2_style());
  ASSERT_TRUE(t);
  auto ids = t->encode("hello hello");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 268, 268}));  // <s> ▁hello ▁hello
  DecodeOptions skip;
  skip.skip_special_tokens = true;
  EXPECT_EQ(*t->decode(*ids, skip), "hello hello");
  EXPECT_EQ(*t->decode(*ids), "<s> hello hello");

  EncodeOptions no_bos;
  no_bos.add_special_tokens = false;
  ids = t->encode("hé", no_bos);  // é is not in the vocab: its two bytes
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{264, 3 + 0xC3, 3 + 0xA9}));
  StreamDecoder stream(*t);
  EXPECT_EQ(*stream.push(264), "h");  // the leading space of the text is stripped
  EXPECT_EQ(*stream.push(3 + 0xC3), "");
  EXPECT_EQ(*stream.push(3 + 0xA9), "\xC3\xA9");
  EXPECT_EQ(stream.finish(), "");
}

TEST(HfTokenizerVariants, MergesAsArraysAndNfc) {
  json j = llama2_style();
  j["model"]["merges"] = json::array({json::array({"\xE2\x96\x81", "h"}), json::array({"l", "l"}),
                                      json::array({"\xE2\x96\x81h", "e"}), json::array({"ll", "o"}),
                                      json::array({"\xE2\x96\x81he", "llo"})});
  j["model"]["vocab"]["\xC3\xA9"] = 269;
  j["normalizer"]["normalizers"].insert(j["normalizer"]["normalizers"].begin(), json{{"type", "NFC"}});
  auto t = parse(j);
  ASSERT_TRUE(t);
  EncodeOptions no_bos;
  no_bos.add_special_tokens = false;
  EXPECT_EQ(*t->encode("hello", no_bos), (std::vector<int32_t>{268}));
  EXPECT_EQ(*t->encode("he\xCC\x81", no_bos), (std::vector<int32_t>{264, 269}));  // e + U+0301 -> é
}

TEST(HfTokenizerVariants, MetaspacePreTokenizerAndDecoder) {
  json j = llama2_style();
  j["normalizer"] = nullptr;
  j["post_processor"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", true}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", true}};
  auto t = parse(j);
  ASSERT_TRUE(t);
  auto ids = t->encode("hello hello");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{268, 268}));
  EXPECT_EQ(*t->decode(*ids), "hello hello");
  // "first": no prefix after an added token.
  ids = t->encode("<s>hello");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 260, 261, 267}));  // <s> h e llo
}

TEST(HfTokenizerVariants, AddedTokenStripOptions) {
  json j = llama2_style();
  j["normalizer"] = nullptr;
  j["post_processor"] = nullptr;
  j["added_tokens"].push_back({{"id", 300}, {"content", "<tool>"}, {"special", true}, {"normalized", false},
                               {"lstrip", true}, {"rstrip", true}});
  auto t = parse(j);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->vocab_size(), 301u);
  auto ids = t->encode("h  <tool>  h");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{260, 300, 260}));  // the spaces around <tool> are absorbed
  EXPECT_FALSE(t->id_to_token(299).has_value());           // a hole in the id space
}

TEST(HfTokenizerVariants, SplittingPreTokenizersAndNoDecoder) {
  // ignore_merges + whole-piece vocab entries make each pre-token one id, so the ids show the splits.
  json j = {{"model",
             {{"type", "BPE"},
              {"ignore_merges", true},
              {"vocab", {{"ab", 0}, {"1", 1}, {"2", 2}, {",", 3}, {"cd", 4}, {"a", 5}, {"b", 6}, {"c", 7}, {"d", 8}}},
              {"merges", json::array()}}},
            {"pre_tokenizer",
             {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "WhitespaceSplit"}},
                {{"type", "Digits"}, {"individual_digits", true}},
                {{"type", "Punctuation"}, {"behavior", "Isolated"}}}}}}};
  auto t = parse(j);
  ASSERT_TRUE(t);
  auto ids = t->encode("ab  12,cd");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(*t->decode(*ids), "ab 1 2 , cd");  // no decoder: HF joins tokens with spaces
}

TEST(HfTokenizerVariants, FusedStripHoldsTrailingCharacters) {
  json j = llama2_style();
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 1}}}}};
  auto t = parse(j);
  ASSERT_TRUE(t);
  const std::vector<int32_t> ids = {259, 268, 259};  // "▁" "▁hello" "▁" -> "  hello " -> " hello"
  EXPECT_EQ(*t->decode(ids), " hello");
  StreamDecoder stream(*t);
  EXPECT_EQ(*stream.push(259), "");       // the first space is stripped
  EXPECT_EQ(*stream.push(268), " hello");
  EXPECT_EQ(*stream.push(259), "");       // a trailing space is held back ...
  EXPECT_EQ(stream.finish(), "");         // ... and dropped at the end
}

// --- bad tokenizer.json files ------------------------------------------------------------------

void expect_error(const std::string& text, ErrorCode code, const std::string& needle) {
  auto t = parse_hf_tokenizer(text, "bad/tokenizer.json");
  ASSERT_FALSE(t.ok()) << "accepted: " << text.substr(0, 200);
  EXPECT_EQ(t.status().code(), code) << t.status().message();
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("bad/tokenizer.json"), std::string::npos) << t.status().message();
}

TEST(HfTokenizerErrors, BadFiles) {
  expect_error("garbage{", ErrorCode::kParse, "invalid JSON at byte");
  expect_error("[1, 2]", ErrorCode::kInvalidArgument, "expected a JSON object");
  expect_error(R"({"version": "1.0"})", ErrorCode::kInvalidArgument, "missing 'model'");

  json j = llama2_style();
  j["model"]["type"] = "WordPiece";
  expect_error(j.dump(), ErrorCode::kUnsupported, "'WordPiece'");

  j = llama2_style();
  j["model"]["merges"] = {"\xE2\x96\x81 h", "l l o"};
  expect_error(j.dump(), ErrorCode::kInvalidArgument, "model.merges[1]");

  j = llama2_style();
  j["model"]["merges"] = {"x y"};
  expect_error(j.dump(), ErrorCode::kInvalidArgument, "token 'x' is not in the vocab");

  j = llama2_style();
  j["model"]["merges"] = {"h e"};  // "he" is not in the vocab
  expect_error(j.dump(), ErrorCode::kInvalidArgument, "merged token 'he' is not in the vocab");

  j = llama2_style();
  j["model"]["merges"] = json::array({json::array({"h"})});
  expect_error(j.dump(), ErrorCode::kInvalidArgument, "model.merges[0]");

  j = llama2_style();
  j["model"].erase("vocab");
  expect_error(j.dump(), ErrorCode::kInvalidArgument, "missing 'vocab'");

  j = llama2_style();
  j["model"]["vocab"]["dup"] = 5;
  expect_error(j.dump(), ErrorCode::kInvalidArgument, "id 5 is used by both");

  j = llama2_style();
  j["normalizer"] = {{"type", "NFKC"}};
  expect_error(j.dump(), ErrorCode::kUnsupported, "normalizer type 'NFKC'");

  j = llama2_style();
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "BertPreTokenizer"}}}}};
  expect_error(j.dump(), ErrorCode::kUnsupported, "pre_tokenizer.pretokenizers[0]");

  j = llama2_style();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(?<=x)y"}}}, {"behavior", "Isolated"}};
  expect_error(j.dump(), ErrorCode::kParse, "lookbehind");

  j = llama2_style();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j.dump(), ErrorCode::kUnsupported, "decoder type 'WordPiece'");

  j = llama2_style();
  j["added_tokens"][0].erase("id");
  expect_error(j.dump(), ErrorCode::kInvalidArgument, "added_tokens[0]");
}

TEST(HfTokenizerErrors, LoadPaths) {
  auto t = load_tokenizer(kGolden / "no-such-dir");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), ErrorCode::kNotFound);
  t = load_tokenizer(kGolden);  // a directory without a tokenizer
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("neither tokenizer.json nor tokenizer.model"), std::string::npos);
}

// --- the vocabulary embedded in GGUF ----------------------------------------------------------
// llama.cpp's own tokenization of these files: tests/formats/oracle/tokenizer_llama_oracle_test.cc.

namespace gg = ironmill::formats::gguf;

const gg::Value* find_kv(const GgufMetadata& kv, std::string_view key) {
  for (const auto& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}

// Writes `kv` as a vocabulary-only GGUF and returns its path.
fs::path write_vocab_gguf(const GgufMetadata& kv, const std::string& name) {
  gg::Writer w;
  for (const auto& [k, v] : kv) EXPECT_TRUE(w.set(k, v).ok()) << k;
  const fs::path out = fs::temp_directory_path() / ("ironmill_tokenizer_test_" + name + ".gguf");
  EXPECT_TRUE(w.write(out.string()).ok());
  return out;
}

TEST(GgufVocab, KjvMetadataIsWhatLlamaCppNeeds) {
  auto kv = gguf_vocab_metadata(kGolden / "kjv-llama-5m");
  ASSERT_TRUE(kv.ok()) << kv.status().message();
  const json tj = json::parse(read_file(kGolden / "kjv-llama-5m" / "tokenizer.json"));
  // llamacpp-peer.md: model gpt2, pre gpt-2, <|endoftext|> (0) CONTROL and the rest NORMAL,
  // bos = eos = 0, add_bos_token false; merges as "a b" strings.
  EXPECT_EQ(*find_kv(*kv, "tokenizer.ggml.model")->as_string(), "gpt2");
  EXPECT_EQ(*find_kv(*kv, "tokenizer.ggml.pre")->as_string(), "gpt-2");
  const gg::Array* tokens = find_kv(*kv, "tokenizer.ggml.tokens")->as_array();
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->items.size(), tj["model"]["vocab"].size());
  for (const auto& [tok, id] : tj["model"]["vocab"].items())
    EXPECT_EQ(*tokens->items[id.get<size_t>()].as_string(), tok);
  const gg::Array* types = find_kv(*kv, "tokenizer.ggml.token_type")->as_array();
  ASSERT_NE(types, nullptr);
  ASSERT_EQ(types->items.size(), tokens->items.size());
  EXPECT_EQ(types->items[0].as_int(), 3);
  for (size_t i = 1; i < types->items.size(); ++i) ASSERT_EQ(types->items[i].as_int(), 1) << i;
  const gg::Array* merges = find_kv(*kv, "tokenizer.ggml.merges")->as_array();
  ASSERT_NE(merges, nullptr);
  ASSERT_EQ(merges->items.size(), tj["model"]["merges"].size());
  const json& m0 = tj["model"]["merges"][0];
  EXPECT_EQ(*merges->items[0].as_string(),
            m0.is_string() ? m0.get<std::string>() : m0[0].get<std::string>() + " " + m0[1].get<std::string>());
  EXPECT_EQ(find_kv(*kv, "tokenizer.ggml.bos_token_id")->as_uint(), 0u);
  EXPECT_EQ(find_kv(*kv, "tokenizer.ggml.eos_token_id")->as_uint(), 0u);
  EXPECT_EQ(*find_kv(*kv, "tokenizer.ggml.add_bos_token")->get_if<bool>(), false);
  EXPECT_EQ(find_kv(*kv, "tokenizer.ggml.unknown_token_id"), nullptr);  // byte-level BPE has none
}

TEST(GgufVocab, KjvGgufTokenizesLikeHuggingFace) {
  auto kv = gguf_vocab_metadata(kGolden / "kjv-llama-5m");
  ASSERT_TRUE(kv.ok()) << kv.status().message();
  const fs::path path = write_vocab_gguf(*kv, "kjv");
  auto t = load_tokenizer(path);
  fs::remove(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "gguf-gpt2");
  EXPECT_EQ((*t)->vocab_size(), 2048u);
  EXPECT_EQ((*t)->bos_id(), 0);
  EXPECT_EQ((*t)->eos_id(), 0);
  EXPECT_TRUE((*t)->is_special(0));
  const json golden = json::parse(read_file(kGolden / "kjv-llama-5m" / "golden.json"));
  auto prompt = (*t)->encode(golden["prompt"].get<std::string>());
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(*prompt, golden["prompt_ids"].get<std::vector<int32_t>>());  // no BOS: add_bos_token false
  const std::string text = read_file(kGolden / "kjv-llama-5m" / "kjv-test.txt");
  auto ids = (*t)->encode(text);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->size(), 31083u);
  auto back = (*t)->decode(*ids);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == text);
  auto greedy = (*t)->decode(golden["greedy_ids"].get<std::vector<int32_t>>());
  ASSERT_TRUE(greedy.ok());
  EXPECT_EQ(*greedy, golden["greedy_text"].get<std::string>());
}

// A "llama" (SentencePiece-style) GGUF vocabulary from a .model file's pieces.
GgufMetadata llama_vocab_from(const fs::path& model_file) {
  auto proto = spm::parse_model_proto(read_file(model_file), model_file.string());
  EXPECT_TRUE(proto.ok());
  Strings tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const auto& p : proto->pieces) {
    tokens.push_back(p.text);
    scores.push_back(p.score);
    types.push_back(static_cast<int32_t>(p.type));
  }
  GgufMetadata kv;
  kv.emplace_back("tokenizer.ggml.model", gg::Value::str("llama"));
  kv.emplace_back("tokenizer.ggml.tokens", gg::Value::strings(tokens));
  kv.emplace_back("tokenizer.ggml.scores", gg::Value::f32s(scores));
  kv.emplace_back("tokenizer.ggml.token_type", gg::Value::i32s(types));
  kv.emplace_back("tokenizer.ggml.bos_token_id", gg::Value::u32(1));
  kv.emplace_back("tokenizer.ggml.eos_token_id", gg::Value::u32(2));
  return kv;
}

TEST(GgufVocab, LlamaTypeRoundTripsAndAddsBos) {
  const fs::path path = write_vocab_gguf(llama_vocab_from(kGolden / "sentencepiece-kjv-tiny" / "kjv-tiny.model"), "spm");
  auto t = load_tokenizer(path);
  fs::remove(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "gguf-llama");
  EXPECT_EQ((*t)->vocab_size(), 400u);
  EXPECT_EQ((*t)->bos_id(), 1);
  for (const std::string text : {std::string("In the beginning God created the heaven and the earth."),
                                 std::string("  two  spaces and\nnewlines\n"), std::string("Ünïcödé 你好 🙂")}) {
    auto ids = (*t)->encode(text);
    ASSERT_TRUE(ids.ok());
    ASSERT_FALSE(ids->empty());
    EXPECT_EQ(ids->front(), 1);  // add_bos_token defaults to true for "llama"
    auto back = (*t)->decode(*ids);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, text);  // no whitespace folding in llama.cpp's SPM; bytes fall back to <0xXX>
  }
}

TEST(GgufVocab, BadVocabulariesNameTheKey) {
  const GgufMetadata good = *gguf_vocab_metadata(kGolden / "kjv-llama-5m");
  auto expect_error = [&](GgufMetadata kv, const std::string& name, const std::string& needle) {
    const fs::path path = write_vocab_gguf(kv, name);
    auto t = load_tokenizer(path);
    fs::remove(path);
    ASSERT_FALSE(t.ok()) << name;
    EXPECT_NE(t.status().message().find(needle), std::string::npos) << name << ": " << t.status().message();
  };
  auto with = [&](std::string key, gg::Value v) {
    GgufMetadata kv = good;
    bool found = false;
    for (auto& [k, val] : kv)
      if (k == key) val = v, found = true;
    if (!found) kv.emplace_back(key, v);
    return kv;
  };
  auto without = [&](std::string key) {
    GgufMetadata kv;
    for (const auto& e : good)
      if (e.first != key) kv.push_back(e);
    return kv;
  };
  expect_error(without("tokenizer.ggml.model"), "nomodel", "tokenizer.ggml.model: missing");
  expect_error(with("tokenizer.ggml.model", gg::Value::str("bert")), "bert", "tokenizer.ggml.model 'bert'");
  expect_error(with("tokenizer.ggml.model", gg::Value::u32(1)), "modeltype", "tokenizer.ggml.model: expected a string");
  expect_error(without("tokenizer.ggml.tokens"), "notokens", "tokenizer.ggml.tokens: missing");
  expect_error(with("tokenizer.ggml.tokens", gg::Value::i32s({1, 2})), "inttokens", "tokenizer.ggml.tokens: expected an array of strings");
  expect_error(with("tokenizer.ggml.tokens", gg::Value::strings({"a", ""})), "emptytoken", "tokenizer.ggml.tokens: entry 1");
  expect_error(without("tokenizer.ggml.merges"), "nomerges", "tokenizer.ggml.merges: missing");
  expect_error(with("tokenizer.ggml.merges", gg::Value::strings({"ab"})), "badmerge", "tokenizer.ggml.merges: entry 0 'ab'");
  expect_error(with("tokenizer.ggml.token_type", gg::Value::i32s({1, 1})), "shorttypes", "tokenizer.ggml.token_type: has 2 entries");
  std::vector<int32_t> types(2048, 1);
  types[7] = 9;
  expect_error(with("tokenizer.ggml.token_type", gg::Value::i32s(types)), "badtype", "tokenizer.ggml.token_type: entry 7");
  expect_error(with("tokenizer.ggml.bos_token_id", gg::Value::u32(5000)), "bigbos", "tokenizer.ggml.bos_token_id: token id 5000");
  expect_error(with("tokenizer.ggml.add_bos_token", gg::Value::u8(1)), "addbos", "tokenizer.ggml.add_bos_token: expected a bool");
  expect_error(with("tokenizer.ggml.pre", gg::Value::str("nonesuch")), "pre", "tokenizer.ggml.pre 'nonesuch'");
  GgufMetadata llama = llama_vocab_from(kGolden / "sentencepiece-kjv-tiny" / "kjv-tiny.model");
  GgufMetadata short_scores;
  for (const auto& e : llama)
    if (e.first != "tokenizer.ggml.scores") short_scores.push_back(e);
  short_scores.emplace_back("tokenizer.ggml.scores", gg::Value::f32s({1.0f}));
  expect_error(short_scores, "shortscores", "tokenizer.ggml.scores: has 1 entries for 400 tokens");

  // Not a GGUF at all, and a truncated one: the GGUF reader's errors, with the file name.
  const fs::path junk = fs::temp_directory_path() / "ironmill_tokenizer_test_junk.gguf";
  std::ofstream(junk) << "definitely not GGUF";
  auto t = load_tokenizer(junk);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("ironmill_tokenizer_test_junk.gguf"), std::string::npos) << t.status().message();
  const fs::path full = write_vocab_gguf(good, "full");
  const std::string bytes = read_file(full);
  fs::remove(full);
  for (size_t cut : {size_t{3}, size_t{24}, bytes.size() / 3, bytes.size() / 2, bytes.size() * 2 / 3}) {
    std::ofstream(junk, std::ios::binary) << bytes.substr(0, cut);
    auto r = load_tokenizer(junk);
    EXPECT_FALSE(r.ok()) << "cut at " << cut;
  }
  fs::remove(junk);
}

TEST(GgufVocab, ReverseRejectsWhatGgufCannotSay) {
  // A metaspace / byte-fallback (Llama-2 style) tokenizer.json has no "gpt2" form.
  const fs::path dir = fs::temp_directory_path() / "ironmill_tokenizer_test_metaspace";
  fs::create_directories(dir);
  json j = json::parse(read_file(kGolden / "kjv-llama-5m" / "tokenizer.json"));
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}, {"split", false}};
  std::ofstream(dir / "tokenizer.json") << j.dump();
  auto kv = gguf_vocab_metadata(dir);
  ASSERT_FALSE(kv.ok());
  EXPECT_NE(kv.status().message().find("no tokenizer.ggml.pre equivalent"), std::string::npos) << kv.status().message();
  fs::remove_all(dir);
  EXPECT_FALSE(gguf_vocab_metadata(kGolden / "no-such-dir").ok());
}

// --- SentencePiece -------------------------------------------------------------------------

// Ids against libsentencepiece: tests/formats/oracle/sentencepiece_oracle_test.cc. Here: what the
// model's PROVENANCE says it holds, and the round trip (identity normalization keeps the text).
TEST(SentencePiece, NativeModelLoadsAndRoundTrips) {
  const fs::path model = kGolden / "sentencepiece-kjv-tiny" / "kjv-tiny.model";
  auto t = load_tokenizer(model);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "sentencepiece");
  EXPECT_EQ((*t)->vocab_size(), 400u);
  EXPECT_EQ((*t)->bos_id(), 1);
  EXPECT_EQ((*t)->eos_id(), 2);
  EXPECT_EQ((*t)->id_to_token(0), "<unk>");
  EXPECT_EQ((*t)->id_to_token(3), "<0x00>");
  EXPECT_EQ((*t)->token_to_id("<0xFF>"), 258);
  EXPECT_TRUE((*t)->is_special(1));
  EXPECT_FALSE((*t)->is_special(3));
  EncodeOptions no_bos;
  no_bos.add_special_tokens = false;
  // Single spaces only: remove_extra_whitespaces folds runs, so those would not round-trip.
  for (const std::string text : {std::string("In the beginning God created the heaven and the earth."),
                                 std::string("Ünïcödé 你好 🙂 — ok")}) {
    auto ids = (*t)->encode(text, no_bos);
    ASSERT_TRUE(ids.ok());
    if (text[0] == 'I') EXPECT_LT(ids->size(), text.size() * 2 / 3);  // learned pieces span several bytes
    auto back = (*t)->decode(*ids);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, text);
  }
  auto with_bos = (*t)->encode("In the");
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ(with_bos->front(), 1);
  EXPECT_FALSE((*t)->decode(std::vector<int32_t>{400}).ok());
  EXPECT_FALSE((*t)->encode("bad \xFF utf8").ok());
}

// Every prefix and many corrupted copies of a real model: an error naming the file (and, for wire
// errors, the byte offset), or a model that still encodes; never a crash (run under ASan once).
TEST(SentencePiece, TruncatedAndCorruptedModels) {
  const std::string bytes = read_file(kGolden / "sentencepiece-kjv-tiny" / "kjv-tiny.model");
  ASSERT_GT(bytes.size(), 6000u);
  size_t errors = 0, with_offset = 0;
  auto check = [&](const std::string& data, const std::string& what) {
    auto proto = spm::parse_model_proto(data, "kjv-tiny.model");
    ironmill::Status st = proto.status();
    if (proto.ok()) {
      auto model = spm::Model::create(std::move(*proto), "kjv-tiny.model");
      st = model.status();
      if (model.ok()) {
        (void)model->encode("In the beginning God created the heaven and the earth.");
        return;
      }
    }
    ++errors;
    with_offset += st.message().find("at byte ") != std::string::npos;
    EXPECT_NE(st.message().find("kjv-tiny.model"), std::string::npos) << what << ": " << st.message();
  };
  for (size_t cut = 0; cut < bytes.size(); ++cut) check(bytes.substr(0, cut), "cut at " + std::to_string(cut));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 400; ++trial) {
    std::string data = bytes;
    for (int k = 0; k < 4; ++k) data[rng() % data.size()] = static_cast<char>(rng());
    check(data, "corruption " + std::to_string(trial));
  }
  EXPECT_GT(errors, bytes.size() / 2);
  EXPECT_GT(with_offset, 100u);
}

TEST(SentencePiece, NotAModel) {
  const fs::path tmp = fs::temp_directory_path() / "ironmill_tokenizer_test_bad.model";
  {
    std::ofstream(tmp) << "this is not a protobuf";
  }
  auto t = load_tokenizer(tmp);
  fs::remove(tmp);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("ironmill_tokenizer_test_bad.model"), std::string::npos) << t.status().message();
}

}  // namespace
