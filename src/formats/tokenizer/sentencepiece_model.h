// SentencePiece `.model` files read natively: the ModelProto protobuf (hand-decoded wire format), the
// normalizer (precompiled character map = a darts-clone double array + replacement strings, then the
// whitespace rules), and the unigram (Viterbi) and BPE (score-ordered merges) encoders, following
// google/sentencepiece 0.1.x. Checked against libsentencepiece itself by
// tests/formats/oracle/sentencepiece_oracle_test.cc (libsentencepiece cannot be linked into the main
// binaries: it carries a private protobuf 3.14 whose symbols clash with the system protobuf).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/status.h"

namespace ironmill::formats::tokenizer::spm {

enum class PieceType : uint8_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
enum class ModelType : uint8_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct Piece {
  std::string text;
  float score = 0.0f;
  PieceType type = PieceType::kNormal;
};

// The fields of ModelProto (sentencepiece_model.proto) that encoding and decoding use.
struct ModelProto {
  std::vector<Piece> pieces;
  // trainer_spec
  ModelType model_type = ModelType::kUnigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  std::string unk_surface = " \xE2\x81\x87 ";
  std::string bos_piece = "<s>", eos_piece = "</s>", pad_piece = "<pad>";
  // normalizer_spec
  std::string normalizer_name;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  // denormalizer_spec (decode-time rules; only its presence is recorded)
  bool has_denormalizer_rules = false;
};

Result<ModelProto> parse_model_proto(std::string_view bytes, const std::string& source);

// Heterogeneous lookup: find a std::string key by std::string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class Model {
 public:
  static Result<Model> create(ModelProto proto, const std::string& source);

  // The normalized text the encoder sees ('▁' for spaces, dummy prefix, NFKC-like map applied).
  std::string normalize(std::string_view text) const;
  // Ids of `text` (valid UTF-8), byte fallback applied; no BOS/EOS.
  std::vector<int32_t> encode(std::string_view text) const;

  const ModelProto& proto() const { return proto_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t piece_to_id(std::string_view piece) const;  // -1 when absent

 private:
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view input) const;
  size_t user_defined_prefix(std::string_view input) const;  // length of the longest user symbol, 0 if none
  void encode_unigram(const std::string& normalized, std::vector<std::pair<std::string_view, int32_t>>& out) const;
  void encode_bpe(const std::string& normalized, std::vector<std::pair<std::string_view, int32_t>>& out) const;

  ModelProto proto_;
  PieceMap pieces_;    // normal, user-defined, unused
  PieceMap reserved_;  // control, unknown, byte
  std::vector<std::string> user_defined_;
  size_t max_piece_bytes_ = 0;
  int32_t unk_id_ = -1;
  float min_score_ = 0.0f, max_score_ = 0.0f;
  int32_t byte_ids_[256];
  std::vector<uint32_t> trie_;  // precompiled charsmap: darts-clone units ...
  std::string replacements_;    // ... and the NUL-terminated replacement strings they point into
};

}  // namespace ironmill::formats::tokenizer::spm
