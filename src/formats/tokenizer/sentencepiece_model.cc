#include "formats/tokenizer/sentencepiece_model.h"

#include <algorithm>
#include <cfloat>
#include <cstdio>
#include <cstring>
#include <functional>
#include <queue>

#include "formats/tokenizer/unicode.h"

namespace ironmill::formats::tokenizer::spm {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581

// Protobuf wire format over a byte range; errors name the file and the byte offset.
class Wire {
 public:
  Wire(std::string_view bytes, size_t base, const std::string& source)
      : data_(bytes), base_(base), source_(source) {}
  bool done() const { return pos_ >= data_.size(); }

  Status error(const std::string& what) const {
    return parse_error(source_ + ": not a SentencePiece model: " + what + " at byte " + std::to_string(base_ + pos_));
  }
  Result<uint64_t> varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return error("truncated varint");
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    return error("varint longer than 10 bytes");
  }
  // Reads a tag: field number and wire type.
  Status tag(uint32_t& field, uint32_t& type) {
    IM_ASSIGN_OR_RETURN(uint64_t t, varint());
    field = static_cast<uint32_t>(t >> 3);
    type = static_cast<uint32_t>(t & 7);
    if (field == 0) return error("field number 0");
    return Status::Ok();
  }
  Result<std::pair<std::string_view, size_t>> bytes() {  // (payload, its absolute offset)
    IM_ASSIGN_OR_RETURN(uint64_t n, varint());
    if (n > data_.size() - pos_) return error("length " + std::to_string(n) + " runs past the end");
    const size_t at = pos_;
    pos_ += n;
    return std::make_pair(data_.substr(at, n), base_ + at);
  }
  Result<uint32_t> fixed32() {
    if (data_.size() - pos_ < 4) return error("truncated fixed32");
    uint32_t v;
    std::memcpy(&v, data_.data() + pos_, 4);  // little-endian hosts only (x86, arm64)
    pos_ += 4;
    return v;
  }
  Status skip(uint32_t type) {
    switch (type) {
      case 0: return varint().status();
      case 1:
        if (data_.size() - pos_ < 8) return error("truncated fixed64");
        pos_ += 8;
        return Status::Ok();
      case 2: return bytes().status();
      case 5: return fixed32().status();
      default: return error("unsupported wire type " + std::to_string(type));
    }
  }
  Status expect(uint32_t type, uint32_t want, const char* field) {
    if (type != want) return error(std::string("field ") + field + " has wire type " + std::to_string(type));
    return Status::Ok();
  }

 private:
  std::string_view data_;
  size_t base_;
  size_t pos_ = 0;
  const std::string& source_;
};

Result<std::string> read_string(Wire& w, uint32_t type, const char* name) {
  IM_RETURN_IF_ERROR(w.expect(type, 2, name));
  IM_ASSIGN_OR_RETURN(auto b, w.bytes());
  return std::string(b.first);
}
Result<uint64_t> read_varint(Wire& w, uint32_t type, const char* name) {
  IM_RETURN_IF_ERROR(w.expect(type, 0, name));
  return w.varint();
}

Status parse_piece(std::string_view bytes, size_t base, const std::string& source, Piece& piece) {
  Wire w(bytes, base, source);
  while (!w.done()) {
    uint32_t field, type;
    IM_RETURN_IF_ERROR(w.tag(field, type));
    if (field == 1) {
      IM_ASSIGN_OR_RETURN(piece.text, read_string(w, type, "SentencePiece.piece"));
    } else if (field == 2) {
      IM_RETURN_IF_ERROR(w.expect(type, 5, "SentencePiece.score"));
      IM_ASSIGN_OR_RETURN(uint32_t bits, w.fixed32());
      std::memcpy(&piece.score, &bits, 4);
    } else if (field == 3) {
      IM_ASSIGN_OR_RETURN(uint64_t t, read_varint(w, type, "SentencePiece.type"));
      if (t < 1 || t > 6) return w.error("unknown piece type " + std::to_string(t));
      piece.type = static_cast<PieceType>(t);
    } else {
      IM_RETURN_IF_ERROR(w.skip(type));
    }
  }
  return Status::Ok();
}

Status parse_trainer_spec(std::string_view bytes, size_t base, const std::string& source, ModelProto& m) {
  Wire w(bytes, base, source);
  while (!w.done()) {
    uint32_t field, type;
    IM_RETURN_IF_ERROR(w.tag(field, type));
    switch (field) {
      case 3: {
        IM_ASSIGN_OR_RETURN(uint64_t t, read_varint(w, type, "TrainerSpec.model_type"));
        if (t < 1 || t > 4) return w.error("unknown model type " + std::to_string(t));
        m.model_type = static_cast<ModelType>(t);
        break;
      }
      case 24: {
        IM_ASSIGN_OR_RETURN(uint64_t v, read_varint(w, type, "TrainerSpec.treat_whitespace_as_suffix"));
        m.treat_whitespace_as_suffix = v != 0;
        break;
      }
      case 35: {
        IM_ASSIGN_OR_RETURN(uint64_t v, read_varint(w, type, "TrainerSpec.byte_fallback"));
        m.byte_fallback = v != 0;
        break;
      }
      case 44: { IM_ASSIGN_OR_RETURN(m.unk_surface, read_string(w, type, "TrainerSpec.unk_surface")); break; }
      case 46: { IM_ASSIGN_OR_RETURN(m.bos_piece, read_string(w, type, "TrainerSpec.bos_piece")); break; }
      case 47: { IM_ASSIGN_OR_RETURN(m.eos_piece, read_string(w, type, "TrainerSpec.eos_piece")); break; }
      case 48: { IM_ASSIGN_OR_RETURN(m.pad_piece, read_string(w, type, "TrainerSpec.pad_piece")); break; }
      default: IM_RETURN_IF_ERROR(w.skip(type));
    }
  }
  return Status::Ok();
}

Status parse_normalizer_spec(std::string_view bytes, size_t base, const std::string& source, ModelProto& m, bool denormalizer) {
  Wire w(bytes, base, source);
  while (!w.done()) {
    uint32_t field, type;
    IM_RETURN_IF_ERROR(w.tag(field, type));
    if (denormalizer) {
      if (field == 2 || field == 6) {
        IM_ASSIGN_OR_RETURN(std::string rules, read_string(w, type, "denormalizer_spec rules"));
        m.has_denormalizer_rules |= !rules.empty();
      } else {
        IM_RETURN_IF_ERROR(w.skip(type));
      }
      continue;
    }
    switch (field) {
      case 1: { IM_ASSIGN_OR_RETURN(m.normalizer_name, read_string(w, type, "NormalizerSpec.name")); break; }
      case 2: { IM_ASSIGN_OR_RETURN(m.precompiled_charsmap, read_string(w, type, "NormalizerSpec.precompiled_charsmap")); break; }
      case 3: {
        IM_ASSIGN_OR_RETURN(uint64_t v, read_varint(w, type, "NormalizerSpec.add_dummy_prefix"));
        m.add_dummy_prefix = v != 0;
        break;
      }
      case 4: {
        IM_ASSIGN_OR_RETURN(uint64_t v, read_varint(w, type, "NormalizerSpec.remove_extra_whitespaces"));
        m.remove_extra_whitespaces = v != 0;
        break;
      }
      case 5: {
        IM_ASSIGN_OR_RETURN(uint64_t v, read_varint(w, type, "NormalizerSpec.escape_whitespaces"));
        m.escape_whitespaces = v != 0;
        break;
      }
      default: IM_RETURN_IF_ERROR(w.skip(type));
    }
  }
  return Status::Ok();
}

// darts-clone unit accessors.
inline bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
inline uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
inline uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
inline uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

size_t utf8_len(std::string_view s) {  // length of the character at s[0] (1 for an ill-formed byte)
  size_t i = 0;
  decode_utf8(s, i);
  return std::max<size_t>(i, 1);
}

}  // namespace

Result<ModelProto> parse_model_proto(std::string_view bytes, const std::string& source) {
  ModelProto m;
  Wire w(bytes, 0, source);
  bool denormalizer = false;
  while (!w.done()) {
    uint32_t field, type;
    IM_RETURN_IF_ERROR(w.tag(field, type));
    if (field >= 1 && field <= 5 && field != 4) {
      IM_RETURN_IF_ERROR(w.expect(type, 2, "ModelProto message"));
      IM_ASSIGN_OR_RETURN(auto b, w.bytes());
      if (field == 1) {
        Piece p;
        IM_RETURN_IF_ERROR(parse_piece(b.first, b.second, source, p));
        m.pieces.push_back(std::move(p));
      } else if (field == 2) {
        IM_RETURN_IF_ERROR(parse_trainer_spec(b.first, b.second, source, m));
      } else if (field == 3) {
        IM_RETURN_IF_ERROR(parse_normalizer_spec(b.first, b.second, source, m, false));
      } else {
        denormalizer = true;
        IM_RETURN_IF_ERROR(parse_normalizer_spec(b.first, b.second, source, m, true));
      }
    } else {
      IM_RETURN_IF_ERROR(w.skip(type));
    }
  }
  (void)denormalizer;
  if (m.pieces.empty()) return parse_error(source + ": not a SentencePiece model: no pieces");
  return m;
}

Result<Model> Model::create(ModelProto proto, const std::string& source) {
  Model m;
  m.proto_ = std::move(proto);
  const ModelProto& p = m.proto_;
  if (p.model_type != ModelType::kUnigram && p.model_type != ModelType::kBpe)
    return unsupported(source + ": SentencePiece model type " + std::to_string(static_cast<int>(p.model_type)) +
                       " (WORD or CHAR) is not supported, only UNIGRAM and BPE");
  if (p.treat_whitespace_as_suffix)
    return unsupported(source + ": SentencePiece models with treat_whitespace_as_suffix are not supported");
  if (p.has_denormalizer_rules)
    return unsupported(source + ": SentencePiece models with denormalization rules are not supported");
  std::fill(std::begin(m.byte_ids_), std::end(m.byte_ids_), -1);
  m.min_score_ = FLT_MAX;
  m.max_score_ = FLT_MIN;  // as sentencepiece: the smallest positive float, not the lowest
  for (size_t i = 0; i < p.pieces.size(); ++i) {
    const Piece& piece = p.pieces[i];
    const auto id = static_cast<int32_t>(i);
    if (piece.text.empty()) return parse_error(source + ": SentencePiece piece " + std::to_string(i) + " is empty");
    if (find_invalid_utf8(piece.text) != std::string::npos)
      return parse_error(source + ": SentencePiece piece " + std::to_string(i) + " is not valid UTF-8");
    const bool normal = piece.type == PieceType::kNormal || piece.type == PieceType::kUserDefined ||
                        piece.type == PieceType::kUnused;
    auto& map = normal ? m.pieces_ : m.reserved_;
    if (!map.emplace(piece.text, id).second)
      return parse_error(source + ": SentencePiece piece '" + piece.text + "' is defined twice");
    if (piece.type == PieceType::kNormal) {
      m.min_score_ = std::min(m.min_score_, piece.score);
      m.max_score_ = std::max(m.max_score_, piece.score);
    }
    if (piece.type == PieceType::kUserDefined) m.user_defined_.push_back(piece.text);
    if (piece.type == PieceType::kUnknown) {
      if (m.unk_id_ >= 0) return parse_error(source + ": SentencePiece model has two unknown pieces");
      m.unk_id_ = id;
    }
    if (piece.type == PieceType::kByte) {
      unsigned b;
      char tail;
      if (piece.text.size() != 6 || std::sscanf(piece.text.c_str(), "<0x%2X%c", &b, &tail) != 2 || tail != '>')
        return parse_error(source + ": SentencePiece byte piece '" + piece.text + "' is not <0xXX>");
      m.byte_ids_[b] = id;
    }
    if (normal) m.max_piece_bytes_ = std::max(m.max_piece_bytes_, piece.text.size());
  }
  if (m.unk_id_ < 0) return parse_error(source + ": SentencePiece model has no unknown piece");
  if (p.byte_fallback)
    for (int b = 0; b < 256; ++b)
      if (m.byte_ids_[b] < 0) return parse_error(source + ": byte_fallback is on but byte piece " + std::to_string(b) + " is missing");

  if (!p.precompiled_charsmap.empty()) {
    const std::string& blob = p.precompiled_charsmap;
    uint32_t trie_bytes = 0;
    if (blob.size() < 4) return parse_error(source + ": precompiled_charsmap is truncated");
    std::memcpy(&trie_bytes, blob.data(), 4);
    if (trie_bytes % 4 != 0 || trie_bytes == 0 || trie_bytes > blob.size() - 4)
      return parse_error(source + ": precompiled_charsmap trie size " + std::to_string(trie_bytes) + " is invalid");
    m.trie_.resize(trie_bytes / 4);
    std::memcpy(m.trie_.data(), blob.data() + 4, trie_bytes);
    m.replacements_ = blob.substr(4 + trie_bytes);
  }
  return m;
}

int32_t Model::piece_to_id(std::string_view piece) const {
  if (auto it = reserved_.find(piece); it != reserved_.end()) return it->second;
  if (auto it = pieces_.find(piece); it != pieces_.end()) return it->second;
  return -1;
}

size_t Model::user_defined_prefix(std::string_view input) const {
  size_t best = 0;
  for (const std::string& u : user_defined_)
    if (u.size() > best && input.substr(0, u.size()) == u) best = u.size();
  return best;
}

std::pair<std::string_view, size_t> Model::normalize_prefix(std::string_view input) const {
  if (size_t n = user_defined_prefix(input)) return {input.substr(0, n), n};
  size_t longest = 0;
  uint32_t value = 0;
  if (!trie_.empty()) {  // darts-clone commonPrefixSearch, bounds-checked
    size_t node = 0;
    uint32_t unit = trie_[0];
    node ^= unit_offset(unit);
    for (size_t i = 0; i < input.size(); ++i) {
      const auto c = static_cast<uint8_t>(input[i]);
      node ^= c;
      if (node >= trie_.size()) break;
      unit = trie_[node];
      if (unit_label(unit) != c) break;
      node ^= unit_offset(unit);
      if (node >= trie_.size()) break;
      if (unit_has_leaf(unit)) {
        longest = i + 1;
        value = unit_value(trie_[node]);
      }
    }
  }
  if (longest > 0 && value < replacements_.size()) {
    const char* s = replacements_.data() + value;
    const size_t len = strnlen(s, replacements_.size() - value);
    return {std::string_view(s, len), longest};
  }
  size_t i = 0;
  bool ok = true;
  decode_utf8(input, i, &ok);
  if (!ok) return {"\xEF\xBF\xBD", 1};  // as sentencepiece: U+FFFD for one ill-formed byte
  return {input.substr(0, i), i};
}

std::string Model::normalize(std::string_view input) const {
  const ModelProto& p = proto_;
  const std::string_view space = p.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
  std::string out;
  out.reserve(input.size() * 3 / 2 + 3);
  if (p.remove_extra_whitespaces) {  // drop leading whitespace
    while (!input.empty()) {
      auto [sp, n] = normalize_prefix(input);
      if (sp != " ") break;
      input.remove_prefix(n);
    }
  }
  if (input.empty()) return out;
  if (p.add_dummy_prefix) out += space;
  bool prev_space = p.remove_extra_whitespaces;
  while (!input.empty()) {
    auto [sp, n] = normalize_prefix(input);
    while (prev_space && !sp.empty() && sp[0] == ' ') sp.remove_prefix(1);
    if (!sp.empty()) {
      for (char c : sp) {
        if (p.escape_whitespaces && c == ' ') out += kSpaceSymbol;
        else out.push_back(c);
      }
      prev_space = sp.back() == ' ';
    }
    input.remove_prefix(n);
    if (!p.remove_extra_whitespaces) prev_space = false;
  }
  if (p.remove_extra_whitespaces)
    while (out.size() >= space.size() && std::string_view(out).substr(out.size() - space.size()) == space)
      out.resize(out.size() - space.size());
  return out;
}

void Model::encode_unigram(const std::string& s, std::vector<std::pair<std::string_view, int32_t>>& out) const {
  struct Best {
    int32_t id = -1;
    float score = 0.0f;
    long starts_at = -1;
  };
  const long n = static_cast<long>(s.size());
  const float unk_score = min_score_ - 10.0f;  // sentencepiece's kUnkPenalty
  std::vector<Best> best(n + 1);
  const std::string_view sv(s);
  for (long start = 0; start < n;) {
    const float here = best[start].score;
    const long mblen = std::min<long>(static_cast<long>(utf8_len(sv.substr(start))), n - start);
    bool has_single = false;
    const long max_len = std::min<long>(static_cast<long>(max_piece_bytes_), n - start);
    for (long len = 1; len <= max_len; ++len) {
      auto it = pieces_.find(sv.substr(start, len));
      if (it == pieces_.end()) continue;
      const int32_t id = it->second;
      const Piece& piece = proto_.pieces[id];
      if (piece.type == PieceType::kUnused) continue;
      // User-defined symbols get a bonus so that they always win (same arithmetic as sentencepiece).
      const double score = piece.type == PieceType::kUserDefined ? (len * max_score_ - 0.1) : piece.score;
      const double candidate = score + here;
      Best& target = best[start + len];
      if (target.starts_at == -1 || candidate > target.score) {
        target.score = static_cast<float>(candidate);
        target.starts_at = start;
        target.id = id;
      }
      if (len == mblen) has_single = true;
    }
    if (!has_single) {
      Best& target = best[start + mblen];
      const double candidate = static_cast<double>(unk_score) + here;
      if (target.starts_at == -1 || candidate > target.score) {
        target.score = static_cast<float>(candidate);
        target.starts_at = start;
        target.id = unk_id_;
      }
    }
    start += mblen;
  }
  const size_t first = out.size();
  for (long end = n; end > 0;) {
    const Best& b = best[end];
    out.emplace_back(sv.substr(b.starts_at, end - b.starts_at), b.id);
    end = b.starts_at;
  }
  std::reverse(out.begin() + static_cast<long>(first), out.end());
}

void Model::encode_bpe(const std::string& s, std::vector<std::pair<std::string_view, int32_t>>& out) const {
  struct Symbol {
    long prev, next;
    bool freeze;
    std::string_view piece;
  };
  struct Pair {
    long left, right;
    float score;
    size_t size;
  };
  auto worse = [](const Pair& a, const Pair& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;
  std::vector<Symbol> symbols;
  std::string_view rest(s);
  for (long index = 0; !rest.empty(); ++index) {
    Symbol sym;
    size_t len = user_defined_prefix(rest);
    sym.freeze = len > 0;
    if (!len) len = utf8_len(rest);
    sym.piece = rest.substr(0, len);
    sym.prev = index - 1;
    rest.remove_prefix(len);
    sym.next = rest.empty() ? -1 : index + 1;
    symbols.push_back(sym);
  }
  if (symbols.empty()) return;
  auto maybe_add = [&](long left, long right) {
    if (left == -1 || right == -1 || symbols[left].freeze || symbols[right].freeze) return;
    const std::string_view piece(symbols[left].piece.data(), symbols[left].piece.size() + symbols[right].piece.size());
    auto it = pieces_.find(piece);
    if (it == pieces_.end()) return;
    agenda.push({left, right, proto_.pieces[it->second].score, piece.size()});
    if (proto_.pieces[it->second].type == PieceType::kUnused) rev_merge[piece] = {symbols[left].piece, symbols[right].piece};
  };
  for (size_t i = 1; i < symbols.size(); ++i) maybe_add(static_cast<long>(i) - 1, static_cast<long>(i));
  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol& l = symbols[top.left];
    Symbol& r = symbols[top.right];
    if (l.piece.empty() || r.piece.empty() || l.piece.size() + r.piece.size() != top.size) continue;  // stale
    l.piece = std::string_view(l.piece.data(), l.piece.size() + r.piece.size());
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = top.left;
    r.piece = std::string_view();
    maybe_add(l.prev, top.left);
    maybe_add(top.left, l.next);
  }
  std::function<void(std::string_view)> resegment = [&](std::string_view w) {
    int32_t id = piece_to_id(w);
    if (id < 0) id = unk_id_;
    if (proto_.pieces[id].type != PieceType::kUnused) {
      out.emplace_back(w, id);
      return;
    }
    auto it = rev_merge.find(w);
    if (it == rev_merge.end()) {
      out.emplace_back(w, id);
      return;
    }
    resegment(it->second.first);
    resegment(it->second.second);
  };
  for (long i = 0; i != -1; i = symbols[i].next) resegment(symbols[i].piece);
}

std::vector<int32_t> Model::encode(std::string_view text) const {
  const std::string normalized = normalize(text);
  std::vector<std::pair<std::string_view, int32_t>> pieces;
  if (proto_.model_type == ModelType::kBpe) encode_bpe(normalized, pieces);
  else encode_unigram(normalized, pieces);
  // As sentencepiece's processor (both model types): a run of unknown pieces becomes one <unk>.
  std::vector<std::pair<std::string_view, int32_t>> merged;
  merged.reserve(pieces.size());
  for (const auto& piece : pieces) {
    if (piece.second == unk_id_ && !merged.empty() && merged.back().second == unk_id_ &&
        merged.back().first.data() + merged.back().first.size() == piece.first.data()) {
      merged.back().first = std::string_view(merged.back().first.data(), merged.back().first.size() + piece.first.size());
      continue;
    }
    merged.push_back(piece);
  }
  std::vector<int32_t> ids;
  ids.reserve(merged.size());
  for (const auto& [surface, id] : merged) {
    if (id == unk_id_ && proto_.byte_fallback) {
      for (unsigned char b : surface) ids.push_back(byte_ids_[b]);
      continue;
    }
    ids.push_back(id);
  }
  return ids;
}

}  // namespace ironmill::formats::tokenizer::spm
