// The SentencePiece-style Tokenizer over a native spm::ModelProto: used for `.model` files and for
// GGUF vocabularies of type "llama" (gguf_vocab.cc builds the proto from tokenizer.ggml.*).
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "formats/tokenizer/sentencepiece_model.h"
#include "formats/tokenizer/tokenizer.h"

namespace ironmill::formats::tokenizer {

// `kind` is what Tokenizer::kind() reports; `add_bos`: encode() with add_special_tokens prepends BOS.
Result<std::unique_ptr<Tokenizer>> make_sentencepiece_tokenizer(spm::ModelProto proto, const std::string& source,
                                                                std::string_view kind, bool add_bos);

}  // namespace ironmill::formats::tokenizer
