// Tokenizers behind one interface: Hugging Face `tokenizer.json` (BPE; byte-level, metaspace and
// byte-fallback variants), SentencePiece `.model` files (read natively) and the vocabulary embedded
// in GGUF files (gguf_vocab.h).
//
// Decoding is defined token by token (each id contributes bytes, given what came before), so the
// streaming decoder and the one-shot decode() are the same computation and always agree; neither
// ever emits part of a UTF-8 character. Ill-formed bytes (a lone byte-fallback token, say) become
// U+FFFD per maximal ill-formed subpart.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/tokenizer/unicode.h"
#include "util/status.h"

namespace ironmill::formats::tokenizer {

struct EncodeOptions {
  // Apply the tokenizer's post-processor (e.g. a BOS from TemplateProcessing). HF's default is true.
  bool add_special_tokens = true;
  // Treat special tokens written in the text as plain text instead of matching them.
  bool split_special_tokens = false;
};

struct DecodeOptions {
  bool skip_special_tokens = false;
};

// Per-stream state of the token-by-token decode (owned by StreamDecoder).
struct DecodeState {
  size_t tokens = 0;       // tokens handed to the decoder so far (skipped ones not counted)
  size_t strip_left = 0;   // leading characters a fused Strip decoder still removes
  bool strip_init = false;
  bool any_text = false;   // some non-empty text has been produced (SentencePiece's "bos whitespace")
  bool prefix_consumed = false;  // SentencePiece: the dummy-prefix '▁' was dropped (only ever one)
  std::string held;        // trailing text held back (a fused Strip with stop > 0)
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual Result<std::vector<int32_t>> encode(std::string_view text, const EncodeOptions& options = {}) const = 0;
  // Token-by-token decode of `ids` (see StreamDecoder); unknown ids are errors naming them.
  Result<std::string> decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const;

  // Ids are 0..vocab_size()-1 (added tokens included; there may be holes).
  virtual size_t vocab_size() const = 0;
  virtual std::optional<std::string> id_to_token(int32_t id) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  virtual std::optional<int32_t> bos_id() const { return std::nullopt; }
  virtual std::optional<int32_t> eos_id() const { return std::nullopt; }
  // "hf-bpe", "sentencepiece", "gguf-gpt2" or "gguf-llama".
  virtual std::string_view kind() const = 0;

  // The decode protocol: appends to `bytes` what token `id` contributes after the tokens already fed
  // through `state`. `decode_finish` appends what was held back at the end of the stream.
  virtual Status decode_token(int32_t id, const DecodeOptions& options, DecodeState& state, std::string& bytes) const = 0;
  virtual void decode_finish(DecodeState& state, std::string& bytes) const {}
};

// Incremental detokenization: push ids as they are generated and print what comes back.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options = {})
      : tokenizer_(tokenizer), options_(options) {}
  // The text that became complete with this token (possibly empty).
  Result<std::string> push(int32_t id);
  // What is still held: an incomplete UTF-8 sequence at the end becomes U+FFFD.
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  DecodeOptions options_;
  DecodeState state_;
  Utf8Repairer utf8_;
  std::string bytes_;
};

// A model directory (tokenizer.json, else tokenizer.model, else tokenizer.gguf) or one of those files, or a .gguf file
// (its tokenizer.ggml.* metadata). tokenizer_config.json next to a tokenizer.json supplies the
// BOS/EOS names.
Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::filesystem::path& path);

// tokenizer.json text; `tokenizer_config_json` is the text of tokenizer_config.json or empty.
Result<std::unique_ptr<Tokenizer>> parse_hf_tokenizer(std::string_view tokenizer_json, const std::string& source,
                                                      std::string_view tokenizer_config_json = {});

// A SentencePiece model file (UNIGRAM or BPE), read natively.
Result<std::unique_ptr<Tokenizer>> load_sentencepiece(const std::filesystem::path& model_file);

}  // namespace ironmill::formats::tokenizer
