// The one place the exporter meets the tokenizer: tokenizer.json -> tokenizer.ggml.* key/values is
// owned by src/formats/tokenizer/gguf_vocab.{h,cc} (write_gguf_vocab). A model directory without a
// tokenizer.json exports without a tokenizer (callers can pass their own ExportOptions::vocab).
#include "formats/tokenizer/gguf_vocab.h"
#include "frontends/gguf_export/gguf_export.h"

namespace ironmill::frontends::gguf_export {

VocabWriter default_vocab_writer() {
  return [](const std::filesystem::path& model_dir, formats::gguf::Writer& writer) -> Status {
    if (!std::filesystem::exists(model_dir / "tokenizer.json")) return Status::Ok();
    return formats::tokenizer::write_gguf_vocab(model_dir, writer);
  };
}

}  // namespace ironmill::frontends::gguf_export
