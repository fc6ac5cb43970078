// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}): vocab, ranked merges, unknown
// token, byte fallback, continuing-subword prefix / end-of-word suffix, ignore_merges.
// Merging follows HF: repeatedly merge the adjacent pair of lowest rank (leftmost on ties).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/status.h"

namespace ironmill::formats::tokenizer {

class BpeModel {
 public:
  // `model` is the "model" object; `source` prefixes errors.
  static Result<BpeModel> from_json(const nlohmann::json& model, const std::string& source);

  // Appends the ids of one pre-token.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }
  std::optional<int32_t> token_to_id(std::string_view token) const;
  int32_t max_id() const { return max_id_; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct Merge {
    int32_t rank, new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_symbols(std::vector<int32_t>& ids) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int32_t byte_ids_[256];  // <0xXX> tokens for byte fallback, -1 when absent
  int32_t max_id_ = -1;
};

}  // namespace ironmill::formats::tokenizer
