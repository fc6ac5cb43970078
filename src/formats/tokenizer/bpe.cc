#include "formats/tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "formats/hf/json_file.h"
#include "formats/tokenizer/unicode.h"

namespace ironmill::formats::tokenizer {

using nlohmann::json;

Result<BpeModel> BpeModel::from_json(const json& model, const std::string& source) {
  BpeModel m;
  const std::string where = source + ": model";
  auto get_string_opt = [&](const char* key, std::optional<std::string>& out) -> Status {
    auto it = model.find(key);
    if (it == model.end() || it->is_null()) return Status::Ok();
    if (!it->is_string()) return invalid_argument(where + "." + key + " must be a string or null, got " + hf::json_type_name(*it));
    out = it->get<std::string>();
    return Status::Ok();
  };
  auto get_bool = [&](const char* key, bool& out) -> Status {
    auto it = model.find(key);
    if (it == model.end() || it->is_null()) return Status::Ok();
    if (!it->is_boolean()) return invalid_argument(where + "." + key + " must be a boolean, got " + hf::json_type_name(*it));
    out = it->get<bool>();
    return Status::Ok();
  };
  IM_RETURN_IF_ERROR(get_string_opt("unk_token", m.unk_token_));
  std::optional<std::string> s;
  IM_RETURN_IF_ERROR(get_string_opt("continuing_subword_prefix", s));
  m.continuing_subword_prefix_ = s.value_or("");
  s.reset();
  IM_RETURN_IF_ERROR(get_string_opt("end_of_word_suffix", s));
  m.end_of_word_suffix_ = s.value_or("");
  IM_RETURN_IF_ERROR(get_bool("fuse_unk", m.fuse_unk_));
  IM_RETURN_IF_ERROR(get_bool("byte_fallback", m.byte_fallback_));
  IM_RETURN_IF_ERROR(get_bool("ignore_merges", m.ignore_merges_));
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    if (!it->is_number()) return invalid_argument(where + ".dropout must be a number or null");
    if (it->get<double>() > 0.0)
      return unsupported(where + ".dropout is " + std::to_string(it->get<double>()) +
                         ": BPE dropout is a training-time randomization and is not supported");
  }

  auto v = model.find("vocab");
  if (v == model.end()) return invalid_argument(where + ": missing 'vocab'");
  if (!v->is_object()) return invalid_argument(where + ".vocab must be an object of token -> id, got " + hf::json_type_name(*v));
  m.vocab_.reserve(v->size());
  std::unordered_map<int32_t, std::string> seen;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > INT32_MAX)
      return invalid_argument(where + ".vocab['" + it.key() + "'] must be a non-negative integer id");
    const auto id = static_cast<int32_t>(it->get<int64_t>());
    if (auto [prev, fresh] = seen.emplace(id, it.key()); !fresh)
      return invalid_argument(where + ".vocab: id " + std::to_string(id) + " is used by both '" + prev->second +
                              "' and '" + it.key() + "'");
    m.vocab_.emplace(it.key(), id);
    m.max_id_ = std::max(m.max_id_, id);
  }
  if (m.unk_token_ && !m.vocab_.count(*m.unk_token_))
    return invalid_argument(where + ".unk_token '" + *m.unk_token_ + "' is not in the vocab");
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = m.vocab_.find(name);
    m.byte_ids_[b] = it == m.vocab_.end() ? -1 : it->second;
  }

  auto mg = model.find("merges");
  if (mg == model.end()) return invalid_argument(where + ": missing 'merges'");
  if (!mg->is_array()) return invalid_argument(where + ".merges must be an array, got " + hf::json_type_name(*mg));
  m.merges_.reserve(mg->size());
  const size_t prefix_len = m.continuing_subword_prefix_.size();
  for (size_t rank = 0; rank < mg->size(); ++rank) {
    const json& e = (*mg)[rank];
    const std::string at = where + ".merges[" + std::to_string(rank) + "]";
    std::string a, b;
    if (e.is_string()) {  // "a b"
      const std::string line = e.get<std::string>();
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
        return invalid_argument(at + ": '" + line + "' is not two tokens separated by one space");
      a = line.substr(0, sp);
      b = line.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      return invalid_argument(at + ": expected \"a b\" or [\"a\", \"b\"], got " + e.dump());
    }
    auto ia = m.vocab_.find(a), ib = m.vocab_.find(b);
    if (ia == m.vocab_.end()) return invalid_argument(at + ": token '" + a + "' is not in the vocab");
    if (ib == m.vocab_.end()) return invalid_argument(at + ": token '" + b + "' is not in the vocab");
    // With a continuing-subword prefix, "a" + "##b" merges to "ab".
    std::string merged = a;
    merged += (prefix_len && b.compare(0, prefix_len, m.continuing_subword_prefix_) == 0) ? b.substr(prefix_len) : b;
    auto im = m.vocab_.find(merged);
    if (im == m.vocab_.end()) return invalid_argument(at + ": merged token '" + merged + "' is not in the vocab");
    // A repeated pair keeps its first (lowest) rank.
    m.merges_.emplace(pair_key(ia->second, ib->second), Merge{static_cast<int32_t>(rank), im->second});
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::merge_symbols(std::vector<int32_t>& ids) const {
  const int n = static_cast<int>(ids.size());
  if (n < 2) return;
  std::vector<int> next(n), prev(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) next[i] = i + 1 < n ? i + 1 : -1, prev[i] = i - 1;
  struct Cand {
    int32_t rank;
    int pos;
    int32_t new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto consider = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = merges_.find(pair_key(ids[pos], ids[next[pos]]));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.new_id});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    auto it = merges_.find(pair_key(ids[c.pos], ids[next[c.pos]]));
    if (it == merges_.end() || it->second.new_id != c.new_id || it->second.rank != c.rank) continue;  // stale
    const int right = next[c.pos];
    ids[c.pos] = c.new_id;
    alive[right] = 0;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    consider(prev[c.pos]);
    consider(c.pos);
  }
  int w = 0;
  for (int i = 0; i >= 0 && i < n; i = next[i]) ids[w++] = ids[i];
  ids.resize(w);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> ids;
  ids.reserve(word.size());
  int32_t pending_unk = -1;  // a run of unknowns fused into one (fuse_unk)
  std::string s;
  for (size_t i = 0; i < word.size();) {
    const size_t start = i;
    decode_utf8(word, i);
    s.clear();
    if (start > 0) s += continuing_subword_prefix_;
    s.append(word.substr(start, i - start));
    if (i == word.size()) s += end_of_word_suffix_;
    if (auto it = vocab_.find(s); it != vocab_.end()) {
      if (pending_unk >= 0) ids.push_back(pending_unk), pending_unk = -1;
      ids.push_back(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char b : s) all &= byte_ids_[b] >= 0;
      if (all) {  // as HF: a pending unknown is not flushed before byte tokens
        for (unsigned char b : s) ids.push_back(byte_ids_[b]);
        continue;
      }
    }
    if (unk_token_) {
      const int32_t unk = vocab_.at(*unk_token_);
      if (pending_unk >= 0 && !fuse_unk_) ids.push_back(pending_unk);
      pending_unk = unk;
    }
    // Without an unknown token the character is dropped, as HF does.
  }
  if (pending_unk >= 0) ids.push_back(pending_unk);
  merge_symbols(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace ironmill::formats::tokenizer
