// Our native SentencePiece reader/encoder/decoder (formats/tokenizer/sentencepiece_model.h) against
// libsentencepiece itself (Debian libsentencepiece-dev 0.1.97), on three models trained offline with
// spm_train: unigram + byte fallback + identity normalization, BPE + user-defined symbols without the
// dummy prefix or whitespace folding, and unigram and BPE with the default nmt_nfkc precompiled
// charsmap and no byte fallback (so <unk> runs).
//
// Its own executable: libsentencepiece carries a private protobuf 3.14 that aborts when linked next to
// the system protobuf, so this links only ironmill_text (no ONNX/protobuf) and the library.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "formats/tokenizer/tokenizer.h"

#ifdef IRONMILL_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace {

namespace fs = std::filesystem;
using namespace ironmill::formats::tokenizer;

const fs::path kGolden = fs::path(IRONMILL_SOURCE_DIR) / "golden";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> texts() {
  const std::string kjv = read_file(kGolden / "kjv-llama-5m" / "kjv-test.txt");
  return {
      kjv.substr(0, 30000),
      kjv.substr(kjv.size() - 8000),
      "",
      " ",
      "   \n\t  ",
      "In the beginning",
      " leading space",
      "   three leading spaces",
      "  In  the   beginning  God\tcreated\n\nthe heaven.  ",
      "Ünïcödé 你好 🙂 — ok",
      "<|user|>LORD said<|user|> unto the LORDs <s> and </s> <unk>",
      // NFKC territory: fullwidth letters, ligatures, circled digits, compatibility spaces, combining marks.
      "ＬＯＲＤ ﬁnal ① ㍿ x\u3000y e\u0301 \u00C5 \u212B Ⅻ ½ \u00A0nbsp",
      "tab\there, cr\r\nlf, \x01 control \x7F del",
      "1234567890 3.14159 £100 €5 ¥",
  };
}

struct ModelCase {
  const char* dir;
  const char* file;
};
const ModelCase kModels[] = {
    {"sentencepiece-kjv-tiny", "kjv-tiny.model"},
    {"sentencepiece-kjv-tiny", "kjv-ws.model"},
    {"sentencepiece-kjv-bpe", "kjv-bpe.model"},
    {"sentencepiece-kjv-nfkc", "kjv-nfkc.model"},
    {"sentencepiece-kjv-nfkc", "kjv-bpe-nfkc.model"},
};

class SentencePieceOracle : public ::testing::TestWithParam<ModelCase> {};

TEST_P(SentencePieceOracle, EncodeAndDecodeMatchTheLibrary) {
#ifndef IRONMILL_HAVE_SENTENCEPIECE
  GTEST_SKIP() << "libsentencepiece not found by pkg-config (ci/setup.sh installs libsentencepiece-dev)";
#else
  const fs::path model = kGolden / GetParam().dir / GetParam().file;
  auto t = load_tokenizer(model);
  ASSERT_TRUE(t.ok()) << t.status().message();
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model.string()).ok());
  ASSERT_EQ((*t)->vocab_size(), static_cast<size_t>(sp.GetPieceSize()));
  EXPECT_EQ((*t)->bos_id().value_or(-1), sp.bos_id());
  EXPECT_EQ((*t)->eos_id().value_or(-1), sp.eos_id());
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    EXPECT_EQ((*t)->id_to_token(id).value_or("?"), sp.IdToPiece(id)) << id;
    EXPECT_EQ((*t)->is_special(id), sp.IsControl(id) || sp.IsUnknown(id)) << id;
  }

  EncodeOptions no_bos;
  no_bos.add_special_tokens = false;
  for (const std::string& text : texts()) {
    SCOPED_TRACE(text.substr(0, 60));
    auto ids = (*t)->encode(text, no_bos);
    ASSERT_TRUE(ids.ok()) << ids.status().message();
    std::vector<int> lib_ids;
    ASSERT_TRUE(sp.Encode(text, &lib_ids).ok());
    EXPECT_EQ(*ids, std::vector<int32_t>(lib_ids.begin(), lib_ids.end()));
    auto ours = (*t)->decode(*ids);
    ASSERT_TRUE(ours.ok());
    EXPECT_EQ(*ours, sp.DecodeIds(lib_ids));

    StreamDecoder stream(**t);
    std::string streamed;
    for (int32_t id : *ids) {
      auto piece = stream.push(id);
      ASSERT_TRUE(piece.ok());
      EXPECT_EQ(find_invalid_utf8(*piece), std::string::npos);
      streamed += *piece;
    }
    streamed += stream.finish();
    EXPECT_EQ(streamed, *ours);
  }

  // Decode of arbitrary id sequences (control, unknown and byte pieces anywhere, valid UTF-8 or not).
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> pick(0, sp.GetPieceSize() - 1), len(0, 12);
  int compared = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<int> lib_ids(len(rng));
    for (int& id : lib_ids) id = pick(rng);
    auto ours = (*t)->decode(std::vector<int32_t>(lib_ids.begin(), lib_ids.end()));
    ASSERT_TRUE(ours.ok());
    const std::string lib = sp.DecodeIds(lib_ids);
    // Ill-formed byte runs: the library writes U+FFFD per byte, we per maximal ill-formed subpart; the
    // token-level rules are what is compared, so only sequences whose bytes are well-formed count.
    if (lib.find("\xEF\xBF\xBD") != std::string::npos) continue;
    EXPECT_EQ(*ours, lib) << "trial " << trial;
    ++compared;
  }
  EXPECT_GT(compared, 20);

  auto with_bos = (*t)->encode("In the");
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ(with_bos->front(), sp.bos_id());
  EXPECT_FALSE((*t)->decode(std::vector<int32_t>{sp.GetPieceSize()}).ok());
#endif
}

INSTANTIATE_TEST_SUITE_P(Models, SentencePieceOracle, ::testing::ValuesIn(kModels),
                         [](const auto& info) {
                           std::string n = info.param.file;
                           n = n.substr(4, n.find('.') - 4);  // "kjv-bpe-nfkc.model" -> "bpe_nfkc"
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
