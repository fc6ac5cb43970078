// tokenizer.json (Hugging Face tokenizers): added tokens → normalizer → pre-tokenizer → BPE model →
// post-processor, and the decoder chain. Supported components (anything else is an error naming it):
//   normalizers:     NFC, NFD, Prepend, Replace, Strip, Sequence
//   pre-tokenizers:  ByteLevel, Split, Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, Sequence
//   models:          BPE
//   post-processors: ByteLevel, TemplateProcessing (single sequence), RobertaProcessing, BertProcessing, Sequence
//   decoders:        ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence
//
// Decoding runs the decoder chain on one token at a time (HF runs it on the list). The results are
// the same except in two corners, documented here: after a ByteFallback run that is not valid UTF-8
// HF writes one U+FFFD per byte token where we write one per maximal ill-formed subpart; and steps
// after a fusing step (ByteLevel, Fuse) see each token separately, so a Replace pattern spanning two
// tokens there is not replaced.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <unordered_map>

#include "formats/hf/json_file.h"
#include "formats/tokenizer/bpe.h"
#include "formats/tokenizer/pretokenizer.h"
#include "formats/tokenizer/tokenizer.h"
#include "formats/tokenizer/unicode.h"

namespace ironmill::formats::tokenizer {
namespace {

using nlohmann::json;

// A literal string or a regex, as the "pattern": {"String": ...} / {"Regex": ...} of HF components.
struct Pattern {
  std::string literal;
  std::optional<Regex> regex;

  static Pattern of(std::string literal) {
    Pattern p;
    p.literal = std::move(literal);
    return p;
  }

  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const {
    if (regex) return regex->find_all(text);
    std::vector<std::pair<size_t, size_t>> out;
    if (literal.empty()) return out;
    for (size_t at = text.find(literal); at != std::string_view::npos; at = text.find(literal, at + literal.size()))
      out.emplace_back(at, at + literal.size());
    return out;
  }
  std::string replace_all(std::string_view text, std::string_view content) const {
    std::string out;
    size_t prev = 0;
    for (auto [b, e] : find_all(text)) {
      out.append(text.substr(prev, b - prev));
      out.append(content);
      prev = e;
    }
    out.append(text.substr(prev));
    return out;
  }
};

// --- normalizers ------------------------------------------------------------------------------

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void apply(std::string& s) const = 0;
};

class NfcNormalizer final : public Normalizer {
 public:
  void apply(std::string& s) const override { s = nfc(s); }
};
class NfdNormalizer final : public Normalizer {
 public:
  void apply(std::string& s) const override { s = nfd(s); }
};
class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
  void apply(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};
class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(Pattern p, std::string c) : pattern_(std::move(p)), content_(std::move(c)) {}
  void apply(std::string& s) const override { s = pattern_.replace_all(s, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};
class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void apply(std::string& s) const override {
    const std::u32string u = to_utf32(s);
    size_t b = 0, e = u.size();
    if (left_)
      while (b < e && is_whitespace(u[b])) ++b;
    if (right_)
      while (e > b && is_whitespace(u[e - 1])) --e;
    s = to_utf8(std::u32string_view(u).substr(b, e - b));
  }

 private:
  bool left_, right_;
};

// --- pre-tokenizers ---------------------------------------------------------------------------

struct PreToken {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the input (Metaspace prepend_scheme "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void apply(std::vector<PreToken>& pieces) const = 0;

 protected:
  template <class F>
  static void split_each(std::vector<PreToken>& pieces, F&& split) {
    std::vector<PreToken> out;
    out.reserve(pieces.size());
    for (PreToken& p : pieces) {
      bool first = true;
      for (std::string& s : split(p)) {
        out.push_back({std::move(s), p.at_start && first});
        first = false;
      }
    }
    pieces = std::move(out);
  }
};

class ByteLevelPre final : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex, const Regex* gpt2)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex), gpt2_(gpt2) {}
  void apply(std::vector<PreToken>& pieces) const override {
    split_each(pieces, [&](PreToken& p) {
      if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
      std::vector<std::string> parts;
      if (use_regex_) parts = regex_split(*gpt2_, p.text);
      else parts.push_back(std::move(p.text));
      for (auto& s : parts) s = bytes_to_byte_level(s);
      return parts;
    });
  }

 private:
  bool add_prefix_space_, use_regex_;
  const Regex* gpt2_;
};

class SplitPre final : public PreTokenizer {
 public:
  SplitPre(Pattern p, SplitBehavior b, bool invert) : pattern_(std::move(p)), behavior_(b), invert_(invert) {}
  void apply(std::vector<PreToken>& pieces) const override {
    split_each(pieces, [&](PreToken& p) { return split_at_matches(p.text, pattern_.find_all(p.text), behavior_, invert_); });
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePre final : public PreTokenizer {
 public:
  MetaspacePre(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void apply(std::vector<PreToken>& pieces) const override {
    const Pattern space = Pattern::of(" "), repl = Pattern::of(replacement_);
    split_each(pieces, [&](PreToken& p) {
      std::string s = space.replace_all(p.text, replacement_);
      const bool starts = s.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && p.at_start)))
        s.insert(0, replacement_);
      if (!split_) return std::vector<std::string>{s};
      return split_at_matches(s, repl.find_all(s), SplitBehavior::kMergedWithNext);
    });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

// Splits on code points for which `pred` holds.
template <class Pred>
std::vector<std::pair<size_t, size_t>> char_matches(std::string_view text, Pred pred) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < text.size();) {
    const size_t b = i;
    const char32_t c = decode_utf8(text, i);
    if (pred(c)) out.emplace_back(b, i);
  }
  return out;
}

class DigitsPre final : public PreTokenizer {
 public:
  explicit DigitsPre(bool individual) : individual_(individual) {}
  void apply(std::vector<PreToken>& pieces) const override {
    split_each(pieces, [&](PreToken& p) {
      return split_at_matches(p.text, char_matches(p.text, is_number),
                              individual_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
    });
  }

 private:
  bool individual_;
};

bool is_punctuation(char32_t c) {
  if (c < 128) return std::ispunct(static_cast<int>(c)) != 0;
  return major_category(general_category(c)) == 'P';
}

class PunctuationPre final : public PreTokenizer {
 public:
  explicit PunctuationPre(SplitBehavior b) : behavior_(b) {}
  void apply(std::vector<PreToken>& pieces) const override {
    split_each(pieces, [&](PreToken& p) { return split_at_matches(p.text, char_matches(p.text, is_punctuation), behavior_); });
  }

 private:
  SplitBehavior behavior_;
};

class WhitespacePre final : public PreTokenizer {
 public:
  explicit WhitespacePre(Regex re) : re_(std::move(re)) {}
  void apply(std::vector<PreToken>& pieces) const override {
    split_each(pieces, [&](PreToken& p) { return regex_split(re_, p.text, SplitBehavior::kRemoved, /*invert=*/true); });
  }

 private:
  Regex re_;
};

class WhitespaceSplitPre final : public PreTokenizer {
 public:
  void apply(std::vector<PreToken>& pieces) const override {
    split_each(pieces, [&](PreToken& p) {
      return split_at_matches(p.text, char_matches(p.text, is_whitespace), SplitBehavior::kRemoved);
    });
  }
};

// --- decoders ---------------------------------------------------------------------------------

class DecoderStep {
 public:
  virtual ~DecoderStep() = default;
  // Transforms one token's text. `index` is the token's position in the decoded sequence
  // (always 0 after a fusing step: HF sees one joined string there).
  virtual void apply(std::string& piece, size_t index, DecodeState& state) const = 0;
};

class ByteLevelDec final : public DecoderStep {
 public:
  void apply(std::string& piece, size_t, DecodeState&) const override {
    std::string bytes;
    bytes.reserve(piece.size());
    for (size_t i = 0; i < piece.size();) {
      const int b = unicode_to_byte(decode_utf8(piece, i));
      if (b < 0) return;  // a character outside the byte alphabet: HF keeps the token as written
      bytes.push_back(static_cast<char>(b));
    }
    piece = std::move(bytes);
  }
};

class MetaspaceDec final : public DecoderStep {
 public:
  MetaspaceDec(std::string replacement, bool strip_first) : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void apply(std::string& piece, size_t index, DecodeState&) const override {
    piece = Pattern::of(replacement_).replace_all(piece, (index == 0 && strip_first_) ? "" : " ");
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class ReplaceDec final : public DecoderStep {
 public:
  ReplaceDec(Pattern p, std::string c) : pattern_(std::move(p)), content_(std::move(c)) {}
  void apply(std::string& piece, size_t, DecodeState&) const override { piece = pattern_.replace_all(piece, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class ByteFallbackDec final : public DecoderStep {
 public:
  void apply(std::string& piece, size_t, DecodeState&) const override {
    if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>' &&
        std::isxdigit(static_cast<unsigned char>(piece[3])) && std::isxdigit(static_cast<unsigned char>(piece[4])))
      piece = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  }
};

class JoinWithSpaceDec final : public DecoderStep {  // no decoder at all: HF joins tokens with " "
 public:
  void apply(std::string& piece, size_t index, DecodeState&) const override {
    if (index > 0) piece.insert(0, " ");
  }
};

class StripDec final : public DecoderStep {
 public:
  // Works on bytes: earlier steps (ByteFallback) may have left partial UTF-8 characters.
  StripDec(std::string content, size_t start, size_t stop, bool fused)
      : content_(std::move(content)), start_(start), stop_(stop), fused_(fused) {}
  void apply(std::string& piece, size_t, DecodeState& st) const override {
    const size_t n = content_.size();
    auto starts = [&](std::string_view s, size_t at) { return s.compare(at, n, content_) == 0; };
    if (!fused_) {  // per token
      size_t b = 0, e = piece.size();
      for (size_t k = 0; k < start_ && e - b >= n && starts(piece, b); ++k) b += n;
      for (size_t k = 0; k < stop_ && e - b >= n && starts(piece, e - n); ++k) e -= n;
      piece = piece.substr(b, e - b);
      return;
    }
    // Fused: the whole stream is one string; strip its first `start` and last `stop` characters.
    if (!st.strip_init) st.strip_left = start_, st.strip_init = true;
    size_t b = 0;
    while (st.strip_left > 0 && piece.size() - b >= n && starts(piece, b)) b += n, --st.strip_left;
    if (b < piece.size()) st.strip_left = 0;
    std::string rest = st.held + piece.substr(b);
    size_t e = rest.size();
    for (size_t k = 0; k < stop_ && e >= n && starts(rest, e - n); ++k) e -= n;
    st.held = rest.substr(e);  // dropped unless more text follows
    piece = rest.substr(0, e);
  }

 private:
  std::string content_;
  size_t start_, stop_;
  bool fused_;
};

// --- post-processors --------------------------------------------------------------------------

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void apply(std::vector<int32_t>& ids) const = 0;
};

// TemplateProcessing's "single" (and Roberta/Bert's cls + A + sep): ids before and after the sequence.
class WrapPost final : public PostProcessor {
 public:
  WrapPost(std::vector<int32_t> before, std::vector<int32_t> after) : before_(std::move(before)), after_(std::move(after)) {}
  void apply(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }

 private:
  std::vector<int32_t> before_, after_;
};

// --- the tokenizer ----------------------------------------------------------------------------

struct AddedToken {
  int32_t id = 0;
  std::string content;  // normalized when `normalized`
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// Added tokens matched on one text form (raw or normalized), longest first per leading byte.
struct AddedSet {
  std::array<std::vector<const AddedToken*>, 256> by_first;
  bool empty = true;
};

struct Segment {
  size_t b = 0, e = 0;
  int32_t id = -1;  // an added token, or -1 for text
};

class HfTokenizer final : public Tokenizer {
 public:
  Result<std::vector<int32_t>> encode(std::string_view text, const EncodeOptions& options) const override;
  size_t vocab_size() const override { return id_to_token_.size(); }
  std::optional<std::string> id_to_token(int32_t id) const override {
    if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_token_[id]) return std::nullopt;
    return id_to_token_[id];
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    if (auto it = added_by_content_.find(std::string(token)); it != added_by_content_.end()) return it->second;
    return model_.token_to_id(token);
  }
  bool is_special(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[id];
  }
  std::optional<int32_t> bos_id() const override { return bos_; }
  std::optional<int32_t> eos_id() const override { return eos_; }
  std::string_view kind() const override { return "hf-bpe"; }
  Status decode_token(int32_t id, const DecodeOptions& options, DecodeState& state, std::string& bytes) const override;
  void decode_finish(DecodeState& state, std::string& bytes) const override { state.held.clear(); }

  std::string source_;
  BpeModel model_;
  std::vector<std::string> id_to_token_;
  std::vector<char> has_token_, special_;
  std::vector<std::unique_ptr<AddedToken>> added_;
  std::unordered_map<std::string, int32_t> added_by_content_;
  AddedSet raw_added_, normalized_added_;
  std::unique_ptr<Regex> gpt2_;
  std::vector<std::unique_ptr<Normalizer>> normalizers_;
  std::vector<std::unique_ptr<PreTokenizer>> pre_tokenizers_;
  std::vector<std::unique_ptr<PostProcessor>> post_processors_;
  struct Step {
    std::unique_ptr<DecoderStep> step;
    bool after_fuse = false;
  };
  std::vector<Step> decoders_;
  std::optional<int32_t> bos_, eos_;

 private:
  std::vector<Segment> split_added(std::string_view text, const AddedSet& set, bool split_special) const;
};

bool is_word_char(char32_t c) { return is_alphanumeric(c) || c == '_'; }

std::vector<Segment> HfTokenizer::split_added(std::string_view text, const AddedSet& set, bool split_special) const {
  std::vector<Segment> out;
  if (set.empty) {
    if (!text.empty()) out.push_back({0, text.size(), -1});
    return out;
  }
  size_t start_offset = 0;
  for (size_t i = 0; i < text.size();) {
    const AddedToken* hit = nullptr;
    for (const AddedToken* t : set.by_first[static_cast<unsigned char>(text[i])])
      if (text.compare(i, t->content.size(), t->content) == 0) {
        hit = t;
        break;
      }
    if (!hit) {
      ++i;
      continue;
    }
    size_t start = i, stop = i + hit->content.size();
    i = stop;
    if (split_special && hit->special) continue;
    if (hit->single_word) {
      bool ok = true;
      if (start > 0) {  // the character before must not be part of a word
        size_t k = start - 1;
        while (k > 0 && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
        size_t kk = k;
        ok &= !is_word_char(decode_utf8(text, kk));
      }
      if (stop < text.size()) {
        size_t k = stop;
        ok &= !is_word_char(decode_utf8(text, k));
      }
      if (!ok) continue;
    }
    if (hit->lstrip) {
      size_t k = start;
      while (k > start_offset) {
        size_t c = k - 1;
        while (c > 0 && (static_cast<unsigned char>(text[c]) & 0xC0) == 0x80) --c;
        size_t cc = c;
        if (!is_whitespace(decode_utf8(text, cc))) break;
        k = c;
      }
      start = k;
    }
    if (hit->rstrip) {
      while (stop < text.size()) {
        size_t k = stop;
        if (!is_whitespace(decode_utf8(text, k))) break;
        stop = k;
      }
      i = stop;
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, hit->id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
  return out;
}

Result<std::vector<int32_t>> HfTokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
    return invalid_argument("encode: text is not valid UTF-8 at byte offset " + std::to_string(bad));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<PreToken> pieces;
  for (const Segment& seg : split_added(text, raw_added_, options.split_special_tokens)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    std::string norm(text.substr(seg.b, seg.e - seg.b));
    for (const auto& n : normalizers_) n->apply(norm);
    for (const Segment& sub : split_added(norm, normalized_added_, options.split_special_tokens)) {
      if (sub.id >= 0) {
        ids.push_back(sub.id);
        continue;
      }
      pieces.clear();
      pieces.push_back({norm.substr(sub.b, sub.e - sub.b), seg.b == 0 && sub.b == 0});
      for (const auto& p : pre_tokenizers_) p->apply(pieces);
      for (const PreToken& p : pieces) model_.tokenize(p.text, ids);
    }
  }
  if (options.add_special_tokens)
    for (const auto& p : post_processors_) p->apply(ids);
  return ids;
}

Status HfTokenizer::decode_token(int32_t id, const DecodeOptions& options, DecodeState& state, std::string& bytes) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_token_[id])
    return invalid_argument("decode: token id " + std::to_string(id) + " is not in the vocabulary of " + source_ +
                            " (" + std::to_string(id_to_token_.size()) + " ids)");
  if (options.skip_special_tokens && special_[id]) return Status::Ok();
  std::string piece = id_to_token_[id];
  for (const Step& s : decoders_) s.step->apply(piece, s.after_fuse ? 0 : state.tokens, state);
  ++state.tokens;
  bytes += piece;
  return Status::Ok();
}

// --- parsing ----------------------------------------------------------------------------------

class Parser {
 public:
  Parser(HfTokenizer& t, std::string source) : t_(t), source_(std::move(source)) {}

  Status err(const std::string& where, const std::string& what) const {
    return invalid_argument(source_ + ": " + where + ": " + what);
  }
  Status unknown(const std::string& where, const std::string& kind, const std::string& type, const char* supported) const {
    return unsupported(source_ + ": " + where + ": " + kind + " type '" + type + "' is not supported (supported: " +
                       supported + ")");
  }

  Result<std::string> type_of(const json& j, const std::string& where) const {
    if (!j.is_object()) return err(where, "expected an object, got " + hf::json_type_name(j));
    auto it = j.find("type");
    if (it == j.end() || !it->is_string()) return err(where, "missing 'type'");
    return it->get<std::string>();
  }
  Result<std::string> str(const json& j, const char* key, const std::string& where, std::optional<std::string> def = {}) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (def) return *def;
      return err(where, std::string("missing '") + key + "'");
    }
    if (!it->is_string()) return err(where, std::string("'") + key + "' must be a string, got " + hf::json_type_name(*it));
    return it->get<std::string>();
  }
  Result<bool> boolean(const json& j, const char* key, const std::string& where, bool def) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return def;
    if (!it->is_boolean()) return err(where, std::string("'") + key + "' must be a boolean, got " + hf::json_type_name(*it));
    return it->get<bool>();
  }
  Result<size_t> count(const json& j, const char* key, const std::string& where, size_t def) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return def;
    if (!it->is_number_unsigned()) return err(where, std::string("'") + key + "' must be a non-negative integer");
    return it->get<size_t>();
  }
  Result<const json*> array(const json& j, const char* key, const std::string& where) const {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) return err(where, std::string("'") + key + "' must be an array");
    return &*it;
  }

  Result<Pattern> pattern(const json& j, const std::string& where) const {
    auto it = j.find("pattern");
    if (it == j.end() || !it->is_object() || it->size() != 1)
      return err(where, "'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
    Pattern p;
    if (auto s = it->find("String"); s != it->end() && s->is_string()) {
      p.literal = s->get<std::string>();
      return p;
    }
    if (auto r = it->find("Regex"); r != it->end() && r->is_string()) {
      auto re = Regex::compile(r->get<std::string>());
      if (!re.ok()) return re.status().with_context(source_ + ": " + where);
      p.regex = std::move(*re);
      return p;
    }
    return err(where, "'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
  }

  Result<SplitBehavior> behavior(const json& j, const std::string& where, const char* def) const {
    IM_ASSIGN_OR_RETURN(std::string b, str(j, "behavior", where, std::string(def)));
    if (b == "Removed") return SplitBehavior::kRemoved;
    if (b == "Isolated") return SplitBehavior::kIsolated;
    if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
    if (b == "Contiguous") return SplitBehavior::kContiguous;
    return err(where, "unknown split behavior '" + b + "'");
  }

  Result<std::string> replacement(const json& j, const std::string& where) const {
    IM_ASSIGN_OR_RETURN(std::string r, str(j, "replacement", where, std::string("\xE2\x96\x81")));
    if (to_utf32(r).size() != 1) return err(where, "'replacement' must be one character, got '" + r + "'");
    return r;
  }
  Result<PrependScheme> prepend_scheme(const json& j, const std::string& where) const {
    if (auto it = j.find("prepend_scheme"); it != j.end() && !it->is_null()) {
      IM_ASSIGN_OR_RETURN(std::string s, str(j, "prepend_scheme", where));
      if (s == "always") return PrependScheme::kAlways;
      if (s == "first") return PrependScheme::kFirst;
      if (s == "never") return PrependScheme::kNever;
      return err(where, "unknown prepend_scheme '" + s + "'");
    }
    IM_ASSIGN_OR_RETURN(bool add, boolean(j, "add_prefix_space", where, true));  // before tokenizers 0.14
    return add ? PrependScheme::kAlways : PrependScheme::kNever;
  }

  Status normalizer(const json& j, const std::string& where) {
    if (j.is_null()) return Status::Ok();
    IM_ASSIGN_OR_RETURN(std::string type, type_of(j, where));
    if (type == "Sequence") {
      IM_ASSIGN_OR_RETURN(const json* list, array(j, "normalizers", where));
      for (size_t i = 0; i < list->size(); ++i)
        IM_RETURN_IF_ERROR(normalizer((*list)[i], where + ".normalizers[" + std::to_string(i) + "]"));
      return Status::Ok();
    }
    if (type == "NFC") t_.normalizers_.push_back(std::make_unique<NfcNormalizer>());
    else if (type == "NFD") t_.normalizers_.push_back(std::make_unique<NfdNormalizer>());
    else if (type == "Prepend") {
      IM_ASSIGN_OR_RETURN(std::string p, str(j, "prepend", where));
      t_.normalizers_.push_back(std::make_unique<PrependNormalizer>(std::move(p)));
    } else if (type == "Replace") {
      IM_ASSIGN_OR_RETURN(Pattern p, pattern(j, where));
      IM_ASSIGN_OR_RETURN(std::string c, str(j, "content", where));
      t_.normalizers_.push_back(std::make_unique<ReplaceNormalizer>(std::move(p), std::move(c)));
    } else if (type == "Strip") {
      IM_ASSIGN_OR_RETURN(bool l, boolean(j, "strip_left", where, true));
      IM_ASSIGN_OR_RETURN(bool r, boolean(j, "strip_right", where, true));
      t_.normalizers_.push_back(std::make_unique<StripNormalizer>(l, r));
    } else {
      return unknown(where, "normalizer", type, "NFC, NFD, Prepend, Replace, Strip, Sequence");
    }
    return Status::Ok();
  }

  Status pre_tokenizer(const json& j, const std::string& where) {
    if (j.is_null()) return Status::Ok();
    IM_ASSIGN_OR_RETURN(std::string type, type_of(j, where));
    if (type == "Sequence") {
      IM_ASSIGN_OR_RETURN(const json* list, array(j, "pretokenizers", where));
      for (size_t i = 0; i < list->size(); ++i)
        IM_RETURN_IF_ERROR(pre_tokenizer((*list)[i], where + ".pretokenizers[" + std::to_string(i) + "]"));
      return Status::Ok();
    }
    if (type == "ByteLevel") {
      IM_ASSIGN_OR_RETURN(bool prefix, boolean(j, "add_prefix_space", where, true));
      IM_ASSIGN_OR_RETURN(bool use_regex, boolean(j, "use_regex", where, true));
      if (!t_.gpt2_) {
        auto re = Regex::compile(kGpt2Pattern);
        if (!re.ok()) return re.status();
        t_.gpt2_ = std::make_unique<Regex>(std::move(*re));
      }
      t_.pre_tokenizers_.push_back(std::make_unique<ByteLevelPre>(prefix, use_regex, t_.gpt2_.get()));
    } else if (type == "Split") {
      IM_ASSIGN_OR_RETURN(Pattern p, pattern(j, where));
      IM_ASSIGN_OR_RETURN(SplitBehavior b, behavior(j, where, "Isolated"));
      IM_ASSIGN_OR_RETURN(bool invert, boolean(j, "invert", where, false));
      t_.pre_tokenizers_.push_back(std::make_unique<SplitPre>(std::move(p), b, invert));
    } else if (type == "Metaspace") {
      IM_ASSIGN_OR_RETURN(std::string r, replacement(j, where));
      IM_ASSIGN_OR_RETURN(PrependScheme s, prepend_scheme(j, where));
      IM_ASSIGN_OR_RETURN(bool split, boolean(j, "split", where, true));
      t_.pre_tokenizers_.push_back(std::make_unique<MetaspacePre>(std::move(r), s, split));
    } else if (type == "Digits") {
      IM_ASSIGN_OR_RETURN(bool individual, boolean(j, "individual_digits", where, false));
      t_.pre_tokenizers_.push_back(std::make_unique<DigitsPre>(individual));
    } else if (type == "Punctuation") {
      IM_ASSIGN_OR_RETURN(SplitBehavior b, behavior(j, where, "Isolated"));
      t_.pre_tokenizers_.push_back(std::make_unique<PunctuationPre>(b));
    } else if (type == "Whitespace") {
      auto re = Regex::compile(R"(\w+|[^\w\s]+)");
      if (!re.ok()) return re.status();
      t_.pre_tokenizers_.push_back(std::make_unique<WhitespacePre>(std::move(*re)));
    } else if (type == "WhitespaceSplit") {
      t_.pre_tokenizers_.push_back(std::make_unique<WhitespaceSplitPre>());
    } else {
      return unknown(where, "pre-tokenizer", type,
                     "ByteLevel, Split, Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, Sequence");
    }
    return Status::Ok();
  }

  Status decoder(const json& j, const std::string& where, bool& fused) {
    IM_ASSIGN_OR_RETURN(std::string type, type_of(j, where));
    if (type == "Sequence") {
      IM_ASSIGN_OR_RETURN(const json* list, array(j, "decoders", where));
      for (size_t i = 0; i < list->size(); ++i)
        IM_RETURN_IF_ERROR(decoder((*list)[i], where + ".decoders[" + std::to_string(i) + "]", fused));
      return Status::Ok();
    }
    std::unique_ptr<DecoderStep> step;
    bool fuses = false;
    if (type == "ByteLevel") {
      step = std::make_unique<ByteLevelDec>();
      fuses = true;
    } else if (type == "Metaspace") {
      IM_ASSIGN_OR_RETURN(std::string r, replacement(j, where));
      IM_ASSIGN_OR_RETURN(PrependScheme s, prepend_scheme(j, where));
      step = std::make_unique<MetaspaceDec>(std::move(r), s != PrependScheme::kNever);
    } else if (type == "Replace") {
      IM_ASSIGN_OR_RETURN(Pattern p, pattern(j, where));
      IM_ASSIGN_OR_RETURN(std::string c, str(j, "content", where));
      step = std::make_unique<ReplaceDec>(std::move(p), std::move(c));
    } else if (type == "ByteFallback") {
      step = std::make_unique<ByteFallbackDec>();
    } else if (type == "Fuse") {
      fused = true;
      return Status::Ok();
    } else if (type == "Strip") {
      IM_ASSIGN_OR_RETURN(std::string content, str(j, "content", where));
      const std::u32string c = to_utf32(content);
      if (c.size() != 1) return err(where, "'content' must be one character");
      IM_ASSIGN_OR_RETURN(size_t start, count(j, "start", where, 0));
      IM_ASSIGN_OR_RETURN(size_t stop, count(j, "stop", where, 0));
      step = std::make_unique<StripDec>(content, start, stop, fused);
      strip_stop_fused_ = fused && stop > 0;
      t_.decoders_.push_back({std::move(step), fused});
      return Status::Ok();
    } else {
      return unknown(where, "decoder", type, "ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence");
    }
    if (strip_stop_fused_)  // held-back text would pass through later steps out of order
      return unsupported(source_ + ": " + where + ": a decoder after a fused Strip with stop > 0 is not supported");
    t_.decoders_.push_back({std::move(step), fused});
    fused |= fuses;
    return Status::Ok();
  }

  // A post-processor's token reference: TemplateProcessing's special_tokens entry.
  Result<std::vector<int32_t>> template_ids(const json& specials, const std::string& name, const std::string& where) const {
    auto it = specials.find(name);
    if (it == specials.end() || !it->is_object()) return err(where, "special token '" + name + "' is not in special_tokens");
    auto ids = it->find("ids");
    if (ids == it->end() || !ids->is_array()) return err(where, "special token '" + name + "' has no 'ids'");
    std::vector<int32_t> out;
    for (const json& v : *ids) {
      if (!v.is_number_unsigned()) return err(where, "special token '" + name + "': ids must be non-negative integers");
      out.push_back(v.get<int32_t>());
    }
    return out;
  }

  Status post_processor(const json& j, const std::string& where) {
    if (j.is_null()) return Status::Ok();
    IM_ASSIGN_OR_RETURN(std::string type, type_of(j, where));
    if (type == "Sequence") {
      IM_ASSIGN_OR_RETURN(const json* list, array(j, "processors", where));
      for (size_t i = 0; i < list->size(); ++i)
        IM_RETURN_IF_ERROR(post_processor((*list)[i], where + ".processors[" + std::to_string(i) + "]"));
      return Status::Ok();
    }
    if (type == "ByteLevel") return Status::Ok();  // offsets only
    if (type == "TemplateProcessing") {
      IM_ASSIGN_OR_RETURN(const json* single, array(j, "single", where));
      const json empty = json::object();
      auto sp = j.find("special_tokens");
      const json& specials = (sp != j.end() && sp->is_object()) ? *sp : empty;
      std::vector<int32_t> before, after;
      bool seen_sequence = false;
      for (size_t i = 0; i < single->size(); ++i) {
        const json& item = (*single)[i];
        const std::string at = where + ".single[" + std::to_string(i) + "]";
        if (item.contains("Sequence")) {
          if (seen_sequence) return err(at, "the single template holds two sequences");
          seen_sequence = true;
          continue;
        }
        auto tok = item.find("SpecialToken");
        if (tok == item.end() || !tok->is_object()) return err(at, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
        IM_ASSIGN_OR_RETURN(std::string name, str(*tok, "id", at));
        IM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, template_ids(specials, name, at));
        auto& dst = seen_sequence ? after : before;
        dst.insert(dst.end(), ids.begin(), ids.end());
      }
      if (!seen_sequence) return err(where, "the single template has no {\"Sequence\": ...}");
      t_.post_processors_.push_back(std::make_unique<WrapPost>(std::move(before), std::move(after)));
      return Status::Ok();
    }
    if (type == "RobertaProcessing" || type == "BertProcessing") {
      auto pair_id = [&](const char* key) -> Result<int32_t> {
        auto it = j.find(key);
        if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_unsigned())
          return err(where, std::string("'") + key + "' must be [token, id]");
        return (*it)[1].get<int32_t>();
      };
      IM_ASSIGN_OR_RETURN(int32_t cls, pair_id("cls"));
      IM_ASSIGN_OR_RETURN(int32_t sep, pair_id("sep"));
      t_.post_processors_.push_back(std::make_unique<WrapPost>(std::vector<int32_t>{cls}, std::vector<int32_t>{sep}));
      return Status::Ok();
    }
    return unknown(where, "post-processor", type,
                   "ByteLevel, TemplateProcessing, RobertaProcessing, BertProcessing, Sequence");
  }

  Status added_tokens(const json& root) {
    auto it = root.find("added_tokens");
    if (it == root.end() || it->is_null()) return Status::Ok();
    if (!it->is_array()) return err("added_tokens", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!e.is_object()) return err(where, "must be an object");
      auto id = e.find("id");
      if (id == e.end() || !id->is_number_unsigned() || id->get<uint64_t>() > INT32_MAX)
        return err(where, "'id' must be a non-negative integer");
      auto t = std::make_unique<AddedToken>();
      t->id = id->get<int32_t>();
      IM_ASSIGN_OR_RETURN(t->content, str(e, "content", where));
      if (t->content.empty()) return err(where, "'content' is empty");
      IM_ASSIGN_OR_RETURN(t->single_word, boolean(e, "single_word", where, false));
      IM_ASSIGN_OR_RETURN(t->lstrip, boolean(e, "lstrip", where, false));
      IM_ASSIGN_OR_RETURN(t->rstrip, boolean(e, "rstrip", where, false));
      IM_ASSIGN_OR_RETURN(t->special, boolean(e, "special", where, false));
      IM_ASSIGN_OR_RETURN(t->normalized, boolean(e, "normalized", where, !t->special));
      t_.added_.push_back(std::move(t));
    }
    return Status::Ok();
  }

  Status finish_vocab() {
    int32_t max_id = t_.model_.max_id();
    for (const auto& a : t_.added_) max_id = std::max(max_id, a->id);
    const size_t n = static_cast<size_t>(max_id) + 1;
    t_.id_to_token_.assign(n, std::string());
    t_.has_token_.assign(n, 0);
    t_.special_.assign(n, 0);
    for (const auto& [tok, id] : t_.model_.vocab()) t_.id_to_token_[id] = tok, t_.has_token_[id] = 1;
    for (const auto& a : t_.added_) {
      t_.id_to_token_[a->id] = a->content;
      t_.has_token_[a->id] = 1;
      t_.special_[a->id] = a->special;
      t_.added_by_content_[a->content] = a->id;
      // Normalized added tokens are matched against normalized text, so normalize them too.
      if (a->normalized)
        for (const auto& nrm : t_.normalizers_) nrm->apply(a->content);
      AddedSet& set = a->normalized ? t_.normalized_added_ : t_.raw_added_;
      if (a->content.empty()) continue;
      set.by_first[static_cast<unsigned char>(a->content[0])].push_back(a.get());
      set.empty = false;
    }
    for (AddedSet* set : {&t_.raw_added_, &t_.normalized_added_})
      for (auto& bucket : set->by_first)
        std::stable_sort(bucket.begin(), bucket.end(),
                         [](const AddedToken* a, const AddedToken* b) { return a->content.size() > b->content.size(); });
    return Status::Ok();
  }

  // tokenizer_config.json: bos_token / eos_token as a string or {"content": ...}.
  Status special_names(std::string_view config_text) {
    if (config_text.empty()) return Status::Ok();
    IM_ASSIGN_OR_RETURN(json cfg, hf::parse_json(config_text, "tokenizer_config.json next to " + source_));
    if (!cfg.is_object()) return invalid_argument("tokenizer_config.json next to " + source_ + ": expected an object");
    auto lookup = [&](const char* key) -> std::optional<int32_t> {
      auto it = cfg.find(key);
      if (it == cfg.end()) return std::nullopt;
      std::string name;
      if (it->is_string()) name = it->get<std::string>();
      else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) name = (*it)["content"].get<std::string>();
      else return std::nullopt;
      return t_.token_to_id(name);
    };
    t_.bos_ = lookup("bos_token");
    t_.eos_ = lookup("eos_token");
    return Status::Ok();
  }

  Status parse(const json& root, std::string_view config_text) {
    if (!root.is_object()) return invalid_argument(source_ + ": expected a JSON object, got " + hf::json_type_name(root));
    auto model = root.find("model");
    if (model == root.end() || model->is_null()) return invalid_argument(source_ + ": missing 'model'");
    if (!model->is_object()) return err("model", "expected an object, got " + hf::json_type_name(*model));
    std::string type = "BPE";  // old files omit the type; HF then infers BPE from its fields
    if (auto ty = model->find("type"); ty != model->end()) {
      if (!ty->is_string()) return err("model", "'type' must be a string");
      type = ty->get<std::string>();
    } else if (!model->contains("merges")) {
      return err("model", "missing 'type'");
    }
    if (type != "BPE") return unknown("model", "model", type, "BPE");
    IM_ASSIGN_OR_RETURN(t_.model_, BpeModel::from_json(*model, source_));

    IM_RETURN_IF_ERROR(normalizer(root.value("normalizer", json()), "normalizer"));
    IM_RETURN_IF_ERROR(pre_tokenizer(root.value("pre_tokenizer", json()), "pre_tokenizer"));
    IM_RETURN_IF_ERROR(post_processor(root.value("post_processor", json()), "post_processor"));
    const json dec = root.value("decoder", json());
    if (dec.is_null()) {
      t_.decoders_.push_back({std::make_unique<JoinWithSpaceDec>(), false});
    } else {
      bool fused = false;
      IM_RETURN_IF_ERROR(decoder(dec, "decoder", fused));
    }
    IM_RETURN_IF_ERROR(added_tokens(root));
    IM_RETURN_IF_ERROR(finish_vocab());
    return special_names(config_text);
  }

 private:
  HfTokenizer& t_;
  std::string source_;
  bool strip_stop_fused_ = false;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> parse_hf_tokenizer(std::string_view tokenizer_json, const std::string& source,
                                                      std::string_view tokenizer_config_json) {
  IM_ASSIGN_OR_RETURN(json root, hf::parse_json(tokenizer_json, source));
  auto t = std::make_unique<HfTokenizer>();
  t->source_ = source;
  try {
    Parser parser(*t, source);
    IM_RETURN_IF_ERROR(parser.parse(root, tokenizer_config_json));
  } catch (const nlohmann::json::exception& e) {  // not expected after the type checks; never let one escape
    return parse_error(source + ": " + e.what());
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace ironmill::formats::tokenizer
