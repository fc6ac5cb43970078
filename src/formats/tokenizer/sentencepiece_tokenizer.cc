// SentencePiece `.model` files through libsentencepiece (Debian libsentencepiece-dev), behind the
// Tokenizer interface. Encoding is the library's; decoding is token by token with the library's
// rules (control pieces are invisible, <unk> decodes to its surface, byte pieces are bytes, '▁' is
// a space and the first piece of the text loses its leading '▁' when the model adds a dummy
// prefix), which the tests check against the library's own DecodeIds.
#include <memory>

#include "formats/tokenizer/tokenizer.h"

#ifdef IRONMILL_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace ironmill::formats::tokenizer {

#ifdef IRONMILL_HAVE_SENTENCEPIECE
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> load(const std::filesystem::path& file) {
    auto t = std::make_unique<SentencePieceTokenizer>();
    t->source_ = file.string();
    const auto st = t->sp_.Load(file.string());
    if (!st.ok()) return parse_error(file.string() + ": not a SentencePiece model: " + st.ToString());
    const int n = t->sp_.GetPieceSize();
    // Does the first piece of a text lose its leading '▁'? Ask the library with a piece like "▁x".
    for (int id = 0; id < n; ++id) {
      if (t->sp_.IsControl(id) || t->sp_.IsUnknown(id) || t->sp_.IsByte(id)) continue;
      const std::string piece = t->sp_.IdToPiece(id);
      if (piece.size() > kSpace.size() && piece.compare(0, kSpace.size(), kSpace) == 0) {
        t->strip_first_space_ = t->sp_.DecodeIds({id}).compare(0, 1, " ") != 0;
        break;
      }
    }
    if (t->sp_.unk_id() >= 0) t->unk_surface_ = t->sp_.DecodeIds({t->sp_.unk_id()});
    return std::unique_ptr<Tokenizer>(std::move(t));
  }

  Result<std::vector<int32_t>> encode(std::string_view text, const EncodeOptions& options) const override {
    if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
      return invalid_argument("encode: text is not valid UTF-8 at byte offset " + std::to_string(bad));
    std::vector<int> ids;
    const auto st = sp_.Encode(std::string_view(text), &ids);
    if (!st.ok()) return internal_error(source_ + ": SentencePiece encode failed: " + st.ToString());
    std::vector<int32_t> out;
    out.reserve(ids.size() + 1);
    // Like HF's Llama/Gemma SentencePiece tokenizers: special tokens mean a leading BOS.
    if (options.add_special_tokens && sp_.bos_id() >= 0) out.push_back(sp_.bos_id());
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  }

  size_t vocab_size() const override { return static_cast<size_t>(sp_.GetPieceSize()); }
  std::optional<std::string> id_to_token(int32_t id) const override {
    if (id < 0 || id >= sp_.GetPieceSize()) return std::nullopt;
    return sp_.IdToPiece(id);
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    const int id = sp_.PieceToId(std::string_view(token));
    if (id == sp_.unk_id() && sp_.IdToPiece(id) != token) return std::nullopt;
    return id;
  }
  bool is_special(int32_t id) const override {
    return id >= 0 && id < sp_.GetPieceSize() && (sp_.IsControl(id) || sp_.IsUnknown(id));
  }
  std::optional<int32_t> bos_id() const override {
    return sp_.bos_id() >= 0 ? std::optional<int32_t>(sp_.bos_id()) : std::nullopt;
  }
  std::optional<int32_t> eos_id() const override {
    return sp_.eos_id() >= 0 ? std::optional<int32_t>(sp_.eos_id()) : std::nullopt;
  }
  std::string_view kind() const override { return "sentencepiece"; }

  Status decode_token(int32_t id, const DecodeOptions& options, DecodeState& state, std::string& bytes) const override {
    if (id < 0 || id >= sp_.GetPieceSize())
      return invalid_argument("decode: token id " + std::to_string(id) + " is not in the vocabulary of " + source_ +
                              " (" + std::to_string(sp_.GetPieceSize()) + " ids)");
    ++state.tokens;
    if (sp_.IsControl(id)) return Status::Ok();  // invisible
    if (sp_.IsUnknown(id)) {
      if (options.skip_special_tokens) return Status::Ok();
      bytes += unk_surface_;
      state.any_text |= !unk_surface_.empty();
      return Status::Ok();
    }
    std::string piece = sp_.IdToPiece(id);
    if (sp_.IsByte(id)) {  // "<0xAB>"
      bytes.push_back(static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
      state.any_text = true;
      return Status::Ok();
    }
    std::string_view p = piece;
    if (!state.any_text && strip_first_space_ && p.substr(0, kSpace.size()) == kSpace) p.remove_prefix(kSpace.size());
    std::string text;
    size_t prev = 0;
    for (size_t at; (at = p.find(kSpace, prev)) != std::string_view::npos; prev = at + kSpace.size()) {
      text.append(p.substr(prev, at - prev));
      text.push_back(' ');
    }
    text.append(p.substr(prev));
    state.any_text |= !text.empty();
    bytes += text;
    return Status::Ok();
  }

 private:
  sentencepiece::SentencePieceProcessor sp_;
  std::string source_;
  std::string unk_surface_ = " \xE2\x81\x87 ";
  bool strip_first_space_ = true;
};

}  // namespace

bool sentencepiece_available() { return true; }

Result<std::unique_ptr<Tokenizer>> load_sentencepiece(const std::filesystem::path& model_file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_file, ec)) return not_found(model_file.string() + ": no such file");
  return SentencePieceTokenizer::load(model_file);
}

#else

bool sentencepiece_available() { return false; }

Result<std::unique_ptr<Tokenizer>> load_sentencepiece(const std::filesystem::path& model_file) {
  return unsupported(model_file.string() + ": SentencePiece models need libsentencepiece, and this build has none");
}

#endif

}  // namespace ironmill::formats::tokenizer
