#include "formats/tokenizer/tokenizer.h"

#include "formats/hf/json_file.h"
#include "formats/tokenizer/gguf_vocab.h"

namespace ironmill::formats::tokenizer {

Result<std::string> Tokenizer::decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  StreamDecoder stream(*this, options);
  std::string out;
  for (int32_t id : ids) {
    IM_ASSIGN_OR_RETURN(std::string piece, stream.push(id));
    out += piece;
  }
  out += stream.finish();
  return out;
}

Result<std::string> StreamDecoder::push(int32_t id) {
  bytes_.clear();
  IM_RETURN_IF_ERROR(tokenizer_.decode_token(id, options_, state_, bytes_));
  std::string out;
  utf8_.feed(bytes_, out);
  return out;
}

std::string StreamDecoder::finish() {
  bytes_.clear();
  tokenizer_.decode_finish(state_, bytes_);
  std::string out;
  utf8_.feed(bytes_, out);
  utf8_.finish(out);
  state_ = DecodeState{};
  return out;
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(path, ec)) {
    if (std::filesystem::exists(path / "tokenizer.json", ec)) file = path / "tokenizer.json";
    else if (std::filesystem::exists(path / "tokenizer.model", ec)) file = path / "tokenizer.model";
    // A .ironml-gpu bundle compiled from a GGUF file keeps the GGUF's metadata as tokenizer.gguf.
    else if (std::filesystem::exists(path / "tokenizer.gguf", ec)) file = path / "tokenizer.gguf";
    else return not_found(path.string() + ": directory holds neither tokenizer.json nor tokenizer.model");
  } else if (!std::filesystem::exists(path, ec)) {
    return not_found(path.string() + ": no such file or directory");
  }
  if (file.extension() == ".model") return load_sentencepiece(file);
  if (file.extension() == ".gguf") return load_gguf_tokenizer(file);
  IM_ASSIGN_OR_RETURN(std::string text, hf::read_text_file(file));
  std::string config;
  const auto config_path = file.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path, ec)) {
    IM_ASSIGN_OR_RETURN(config, hf::read_text_file(config_path));
  }
  return parse_hf_tokenizer(text, file.string(), config);
}

}  // namespace ironmill::formats::tokenizer
