// SentencePiece `.model` files behind the Tokenizer interface, read natively (spm::Model, no
// libsentencepiece). Decoding is token by token with the library's rules: control pieces are
// invisible, <unk> decodes to its surface, byte pieces are bytes, '▁' is a space, and before any text
// the dummy prefix's '▁' is dropped (every leading '▁' when the model folds whitespace).
// tests/formats/oracle/sentencepiece_oracle_test.cc checks encode and decode against the library.
#include <fstream>
#include <memory>
#include <sstream>

#include "formats/tokenizer/sentencepiece_model.h"
#include "formats/tokenizer/spm_tokenizer.h"
#include "formats/tokenizer/tokenizer.h"

namespace ironmill::formats::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(spm::Model model, std::string source, std::string_view kind, bool add_bos)
      : model_(std::move(model)), source_(std::move(source)), kind_(kind), add_bos_(add_bos) {
    const spm::ModelProto& p = model_.proto();
    bos_ = model_.piece_to_id(p.bos_piece);
    eos_ = model_.piece_to_id(p.eos_piece);
    strip_first_space_ = p.add_dummy_prefix;
    strip_leading_spaces_ = p.remove_extra_whitespaces;
  }

  Result<std::vector<int32_t>> encode(std::string_view text, const EncodeOptions& options) const override {
    if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
      return invalid_argument("encode: text is not valid UTF-8 at byte offset " + std::to_string(bad));
    std::vector<int32_t> ids = model_.encode(text);
    // Like HF's Llama/Gemma SentencePiece tokenizers: special tokens mean a leading BOS.
    if (options.add_special_tokens && add_bos_ && bos_ >= 0) ids.insert(ids.begin(), bos_);
    return ids;
  }

  size_t vocab_size() const override { return model_.proto().pieces.size(); }
  std::optional<std::string> id_to_token(int32_t id) const override {
    if (!valid(id)) return std::nullopt;
    return model_.proto().pieces[id].text;
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    const int32_t id = model_.piece_to_id(token);
    if (id < 0) return std::nullopt;
    return id;
  }
  bool is_special(int32_t id) const override {
    if (!valid(id)) return false;
    const auto t = model_.proto().pieces[id].type;
    return t == spm::PieceType::kControl || t == spm::PieceType::kUnknown;
  }
  std::optional<int32_t> bos_id() const override { return bos_ >= 0 ? std::optional<int32_t>(bos_) : std::nullopt; }
  std::optional<int32_t> eos_id() const override { return eos_ >= 0 ? std::optional<int32_t>(eos_) : std::nullopt; }
  std::string_view kind() const override { return kind_; }

  Status decode_token(int32_t id, const DecodeOptions& options, DecodeState& state, std::string& bytes) const override {
    if (!valid(id))
      return invalid_argument("decode: token id " + std::to_string(id) + " is not in the vocabulary of " + source_ +
                              " (" + std::to_string(vocab_size()) + " ids)");
    ++state.tokens;
    const spm::Piece& piece = model_.proto().pieces[id];
    switch (piece.type) {
      case spm::PieceType::kControl: return Status::Ok();  // invisible
      case spm::PieceType::kUnknown:
        if (options.skip_special_tokens) return Status::Ok();
        bytes += model_.proto().unk_surface;
        state.any_text |= !model_.proto().unk_surface.empty();
        return Status::Ok();
      case spm::PieceType::kByte:  // "<0xAB>", checked when the model was built
        bytes.push_back(static_cast<char>(std::stoi(piece.text.substr(3, 2), nullptr, 16)));
        state.any_text = true;
        return Status::Ok();
      default: break;
    }
    std::string_view p = piece.text;
    // Leading '▁' before any text: with whitespace folding every one goes (as the library does), else only
    // the dummy prefix's.
    if (!state.any_text && p.substr(0, kSpace.size()) == kSpace &&
        (strip_leading_spaces_ || (strip_first_space_ && !state.prefix_consumed))) {
      p.remove_prefix(kSpace.size());
      state.prefix_consumed = true;
    }
    const size_t before = bytes.size();
    size_t prev = 0;
    for (size_t at; (at = p.find(kSpace, prev)) != std::string_view::npos; prev = at + kSpace.size()) {
      bytes.append(p.substr(prev, at - prev));
      bytes.push_back(' ');
    }
    bytes.append(p.substr(prev));
    state.any_text |= bytes.size() != before;
    return Status::Ok();
  }

 private:
  bool valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < model_.proto().pieces.size(); }

  spm::Model model_;
  std::string source_;
  std::string kind_;
  bool add_bos_ = true;
  int32_t bos_ = -1, eos_ = -1;
  bool strip_first_space_ = true;
  bool strip_leading_spaces_ = true;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_sentencepiece_tokenizer(spm::ModelProto proto, const std::string& source,
                                                                std::string_view kind, bool add_bos) {
  IM_ASSIGN_OR_RETURN(spm::Model model, spm::Model::create(std::move(proto), source));
  return std::unique_ptr<Tokenizer>(
      std::make_unique<SentencePieceTokenizer>(std::move(model), source, kind, add_bos));
}

Result<std::unique_ptr<Tokenizer>> load_sentencepiece(const std::filesystem::path& model_file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_file, ec)) return not_found(model_file.string() + ": no such file");
  std::ifstream in(model_file, std::ios::binary);
  if (!in) return not_found(model_file.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  IM_ASSIGN_OR_RETURN(spm::ModelProto proto, spm::parse_model_proto(bytes, model_file.string()));
  return make_sentencepiece_tokenizer(std::move(proto), model_file.string(), "sentencepiece", true);
}

}  // namespace ironmill::formats::tokenizer
