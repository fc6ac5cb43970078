// The vocabulary embedded in GGUF files (tokenizer.ggml.*, anchors.md §1.1) <-> our tokenizers.
//
// Reading: `tokenizer.ggml.model` picks the tokenizer, as llama.cpp's llama_vocab::load does:
//   - "gpt2": byte-level BPE over `tokens` + `merges` ("a b" strings), with the pre-tokenizer regex of
//     `tokenizer.ggml.pre` (gpt-2 family, llama3 family (ignore_merges), qwen2 family, "default" when
//     absent). CONTROL tokens are special added tokens, USER_DEFINED ones plain added tokens.
//   - "llama": SentencePiece-style: `tokens` + `scores` + `token_type` (same numbering as
//     SentencePiece's piece types), score-ordered merges (llama.cpp's SPM tokenizer is a BPE over
//     scores, also for unigram-trained vocabularies), spaces as U+2581, a dummy prefix unless
//     `add_space_prefix` is false, byte fallback.
//   bos/eos from `bos_token_id` / `eos_token_id`; encode() prepends BOS when `add_bos_token` (default:
//   false for gpt2 except the llama3 family, true for llama). Errors name the key and the index.
// Writing: a tokenizer.json (+ tokenizer_config.json) model directory -> the same keys, for the GGUF
// exporter (byte-level BPE tokenizers only: that is what "gpt2" can express).
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf/gguf.h"
#include "formats/tokenizer/tokenizer.h"
#include "util/status.h"

namespace ironmill::formats::tokenizer {

// The tokenizer described by a GGUF file's tokenizer.ggml.* metadata.
Result<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const gguf::File& file);
Result<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const std::filesystem::path& gguf_path);

using GgufMetadata = std::vector<std::pair<std::string, gguf::Value>>;

// tokenizer.ggml.* key/values for a model directory's tokenizer.json (tokenizer_config.json, when
// present, names bos/eos/pad and add_bos_token/add_eos_token).
Result<GgufMetadata> gguf_vocab_metadata(const std::filesystem::path& model_dir);
// The same, added to `writer` (the exporter's VocabWriter).
Status write_gguf_vocab(const std::filesystem::path& model_dir, gguf::Writer& writer);

}  // namespace ironmill::formats::tokenizer
