#include "formats/tokenizer/gguf_vocab.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "formats/hf/json_file.h"
#include "formats/tokenizer/pretokenizer.h"
#include "formats/tokenizer/sentencepiece_model.h"
#include "formats/tokenizer/spm_tokenizer.h"

namespace ironmill::formats::tokenizer {
namespace {

using nlohmann::json;

// llama.cpp's token types (llama_token_type), the same numbers as SentencePiece's piece types.
enum TokenType : int32_t { kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// Pre-tokenizer regexes, as llama.cpp's llm_tokenizer_bpe runs them (src/llama-vocab.cpp); the llama3
// and qwen2 forms spell HF's (?i:'s|...) case-insensitive contractions out as classes.
constexpr const char* kLlama3Regex =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Regex =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// The same two as Hugging Face tokenizer.json files write them (for the reverse direction).
constexpr const char* kHfLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kHfQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// llama.cpp's fallback for a missing or "default" pre-tokenizer: four regexes applied in turn.
const char* const kDefaultRegexes[] = {
    R"([\p{P}\$\+<=>\^~\|]+)",
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
    R"(\p{N}+)",
    R"([0-9][0-9][0-9])",
};

const std::set<std::string> kGpt2Family = {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
                                           "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "jina-v1-en",
                                           "jina-v2-code", "roberta-bpe", "exaone4"};
const std::set<std::string> kLlama3Family = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
                                             "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"};
const std::set<std::string> kQwen2Family = {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"};

constexpr const char* kKeyModel = "tokenizer.ggml.model";
constexpr const char* kKeyPre = "tokenizer.ggml.pre";
constexpr const char* kKeyTokens = "tokenizer.ggml.tokens";
constexpr const char* kKeyScores = "tokenizer.ggml.scores";
constexpr const char* kKeyTypes = "tokenizer.ggml.token_type";
constexpr const char* kKeyMerges = "tokenizer.ggml.merges";
constexpr const char* kKeyBos = "tokenizer.ggml.bos_token_id";
constexpr const char* kKeyEos = "tokenizer.ggml.eos_token_id";
constexpr const char* kKeyUnk = "tokenizer.ggml.unknown_token_id";
constexpr const char* kKeyPad = "tokenizer.ggml.padding_token_id";
constexpr const char* kKeyAddBos = "tokenizer.ggml.add_bos_token";
constexpr const char* kKeyAddEos = "tokenizer.ggml.add_eos_token";
constexpr const char* kKeySpacePrefix = "tokenizer.ggml.add_space_prefix";

// Reads the tokenizer.ggml.* keys of one file; every error names the file and the key.
class VocabReader {
 public:
  explicit VocabReader(const gguf::File& file) : file_(file) {}

  Status err(const std::string& key, const std::string& what) const {
    return parse_error(file_.name() + ": " + key + ": " + what);
  }

  Result<std::vector<std::string>> strings(const char* key, bool required) const {
    const gguf::Value* v = file_.find(key);
    if (!v) {
      if (required) return err(key, "missing");
      return std::vector<std::string>{};
    }
    const gguf::Array* a = v->as_array();
    if (!a || a->type != gguf::ValueType::kString)
      return err(key, "expected an array of strings, got " + std::string(gguf::value_type_name(v->type())));
    std::vector<std::string> out;
    out.reserve(a->items.size());
    for (const gguf::Value& item : a->items) out.push_back(*item.as_string());
    return out;
  }
  // An optional numeric array of exactly `n` entries.
  Result<std::vector<double>> numbers(const char* key, size_t n) const {
    const gguf::Value* v = file_.find(key);
    if (!v) return std::vector<double>{};
    const gguf::Array* a = v->as_array();
    if (!a) return err(key, "expected an array, got " + std::string(gguf::value_type_name(v->type())));
    if (a->items.size() != n)
      return err(key, "has " + std::to_string(a->items.size()) + " entries for " + std::to_string(n) + " tokens");
    std::vector<double> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto d = a->items[i].as_double();
      if (!d) return err(key, "entry " + std::to_string(i) + " is not a number");
      out.push_back(*d);
    }
    return out;
  }
  // An optional token id; must name one of the n tokens.
  Result<std::optional<int32_t>> token_id(const char* key, size_t n) const {
    const gguf::Value* v = file_.find(key);
    if (!v) return std::optional<int32_t>{};
    auto id = v->as_int();
    if (!id) return err(key, "expected an integer, got " + std::string(gguf::value_type_name(v->type())));
    if (*id == -1) return std::optional<int32_t>{};  // llama.cpp's "none" (LLAMA_TOKEN_NULL)
    if (*id < 0 || static_cast<uint64_t>(*id) >= n)
      return err(key, "token id " + std::to_string(*id) + " is outside the vocabulary (" + std::to_string(n) + " tokens)");
    return std::optional<int32_t>(static_cast<int32_t>(*id));
  }
  Result<std::optional<bool>> flag(const char* key) const {
    const gguf::Value* v = file_.find(key);
    if (!v) return std::optional<bool>{};
    if (auto b = v->get_if<bool>()) return std::optional<bool>(*b);
    return err(key, "expected a bool, got " + std::string(gguf::value_type_name(v->type())));
  }

  const gguf::File& file() const { return file_; }

 private:
  const gguf::File& file_;
};

Result<std::vector<int32_t>> token_types(const VocabReader& r, size_t n) {
  IM_ASSIGN_OR_RETURN(std::vector<double> raw, r.numbers(kKeyTypes, n));
  std::vector<int32_t> types(n, kNormal);
  for (size_t i = 0; i < raw.size(); ++i) {
    const double t = raw[i];
    if (t != static_cast<int32_t>(t) || t < kUndefined || t > kByte)
      return r.err(kKeyTypes, "entry " + std::to_string(i) + " is not a token type (0..6): " + std::to_string(t));
    types[i] = t == kUndefined ? kNormal : static_cast<int32_t>(t);
  }
  return types;
}

// A Tokenizer that reports another kind() (the GGUF-built ones reuse the tokenizer.json pipeline).
class Renamed final : public Tokenizer {
 public:
  Renamed(std::unique_ptr<Tokenizer> inner, std::string kind) : inner_(std::move(inner)), kind_(std::move(kind)) {}
  Result<std::vector<int32_t>> encode(std::string_view text, const EncodeOptions& options) const override {
    return inner_->encode(text, options);
  }
  size_t vocab_size() const override { return inner_->vocab_size(); }
  std::optional<std::string> id_to_token(int32_t id) const override { return inner_->id_to_token(id); }
  std::optional<int32_t> token_to_id(std::string_view token) const override { return inner_->token_to_id(token); }
  bool is_special(int32_t id) const override { return inner_->is_special(id); }
  std::optional<int32_t> bos_id() const override { return inner_->bos_id(); }
  std::optional<int32_t> eos_id() const override { return inner_->eos_id(); }
  std::string_view kind() const override { return kind_; }
  Status decode_token(int32_t id, const DecodeOptions& options, DecodeState& state, std::string& bytes) const override {
    return inner_->decode_token(id, options, state, bytes);
  }
  void decode_finish(DecodeState& state, std::string& bytes) const override { inner_->decode_finish(state, bytes); }

 private:
  std::unique_ptr<Tokenizer> inner_;
  std::string kind_;
};

json split_isolated(const char* regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}
json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", use_regex}};
}

Result<std::unique_ptr<Tokenizer>> load_gpt2(const VocabReader& r, const std::vector<std::string>& tokens) {
  const size_t n = tokens.size();
  IM_ASSIGN_OR_RETURN(std::vector<int32_t> types, token_types(r, n));
  IM_ASSIGN_OR_RETURN(std::vector<std::string> merges, r.strings(kKeyMerges, true));

  std::string pre = "default";
  bool ignore_merges = false, default_add_bos = false;
  if (const gguf::Value* v = r.file().find(kKeyPre)) {
    if (!v->as_string()) return r.err(kKeyPre, "expected a string, got " + std::string(gguf::value_type_name(v->type())));
    pre = *v->as_string();
  }
  json pre_tokenizer;
  if (kGpt2Family.count(pre)) {
    pre_tokenizer = byte_level(true);  // HF's ByteLevel regex = llama.cpp's custom GPT-2 splitter
  } else if (kLlama3Family.count(pre)) {
    pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", {split_isolated(kLlama3Regex), byte_level(false)}}};
    ignore_merges = true;
    default_add_bos = true;
  } else if (kQwen2Family.count(pre)) {
    pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", {split_isolated(kQwen2Regex), byte_level(false)}}};
  } else if (pre == "default") {
    json seq = json::array();
    for (const char* re : kDefaultRegexes) seq.push_back(split_isolated(re));
    seq.push_back(byte_level(false));
    pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", seq}};
  } else {
    return unsupported(r.file().name() + ": " + kKeyPre + " '" + pre +
                       "' is not supported (supported: the gpt-2, llama3 and qwen2 families, default)");
  }

  json vocab = json::object();
  json added = json::array();
  for (size_t i = 0; i < n; ++i) {
    vocab.emplace(tokens[i], static_cast<int32_t>(i));  // a repeated token keeps its first id
    if (types[i] == kControl || types[i] == kUserDefined)
      added.push_back({{"id", i}, {"content", tokens[i]}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", types[i] == kControl}});
  }
  json merge_pairs = json::array();
  for (size_t i = 0; i < merges.size(); ++i) {
    const size_t at = merges[i].find(' ', 1);  // llama.cpp: the first space after the first byte
    if (at == std::string::npos)
      return r.err(kKeyMerges, "entry " + std::to_string(i) + " '" + merges[i] + "' is not two tokens separated by a space");
    merge_pairs.push_back({merges[i].substr(0, at), merges[i].substr(at + 1)});
  }

  IM_ASSIGN_OR_RETURN(std::optional<int32_t> bos, r.token_id(kKeyBos, n));
  IM_ASSIGN_OR_RETURN(std::optional<int32_t> eos, r.token_id(kKeyEos, n));
  IM_ASSIGN_OR_RETURN(std::optional<bool> add_bos_key, r.flag(kKeyAddBos));
  IM_ASSIGN_OR_RETURN(std::optional<bool> add_eos_key, r.flag(kKeyAddEos));
  const bool add_bos = add_bos_key.value_or(default_add_bos) && bos;
  const bool add_eos = add_eos_key.value_or(false) && eos;

  json root = {{"version", "1.0"},
               {"added_tokens", added},
               {"normalizer", nullptr},
               {"pre_tokenizer", pre_tokenizer},
               {"decoder", byte_level(true)},
               {"model",
                {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_pairs}, {"ignore_merges", ignore_merges},
                 {"byte_fallback", false}, {"unk_token", nullptr}}}};
  if (add_bos || add_eos) {
    json single = json::array(), specials = json::object();
    auto special = [&](int32_t id) {
      single.push_back({{"SpecialToken", {{"id", tokens[id]}, {"type_id", 0}}}});
      specials[tokens[id]] = {{"id", tokens[id]}, {"ids", {id}}, {"tokens", {tokens[id]}}};
    };
    if (add_bos) special(*bos);
    single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
    if (add_eos) special(*eos);
    root["post_processor"] = {{"type", "TemplateProcessing"}, {"single", single}, {"special_tokens", specials}};
  } else {
    root["post_processor"] = nullptr;
  }
  json config = json::object();
  if (bos) config["bos_token"] = tokens[*bos];
  if (eos) config["eos_token"] = tokens[*eos];
  IM_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> t,
                      parse_hf_tokenizer(root.dump(), r.file().name() + " (tokenizer.ggml.*)", config.dump()));
  return std::unique_ptr<Tokenizer>(std::make_unique<Renamed>(std::move(t), "gguf-gpt2"));
}

Result<std::unique_ptr<Tokenizer>> load_llama(const VocabReader& r, const std::vector<std::string>& tokens) {
  const size_t n = tokens.size();
  IM_ASSIGN_OR_RETURN(std::vector<int32_t> types, token_types(r, n));
  IM_ASSIGN_OR_RETURN(std::vector<double> scores, r.numbers(kKeyScores, n));
  IM_ASSIGN_OR_RETURN(std::optional<int32_t> bos, r.token_id(kKeyBos, n));
  IM_ASSIGN_OR_RETURN(std::optional<int32_t> eos, r.token_id(kKeyEos, n));
  IM_ASSIGN_OR_RETURN(std::optional<int32_t> unk, r.token_id(kKeyUnk, n));
  IM_ASSIGN_OR_RETURN(std::optional<bool> add_bos, r.flag(kKeyAddBos));
  IM_ASSIGN_OR_RETURN(std::optional<bool> space_prefix, r.flag(kKeySpacePrefix));

  spm::ModelProto proto;
  proto.model_type = spm::ModelType::kBpe;  // llama.cpp's SPM tokenizer merges by score
  proto.pieces.resize(n);
  size_t byte_pieces = 0;
  bool has_unknown = false;
  for (size_t i = 0; i < n; ++i) {
    spm::Piece& p = proto.pieces[i];
    p.text = tokens[i];
    p.score = scores.empty() ? 0.0f : static_cast<float>(scores[i]);
    p.type = static_cast<spm::PieceType>(types[i]);
    byte_pieces += types[i] == kByte;
    has_unknown |= types[i] == kUnknown;
  }
  // llama.cpp's SPM defaults: <unk> 0, <s> 1, </s> 2.
  const int32_t unk_id = unk.value_or(0);
  if (!has_unknown && static_cast<size_t>(unk_id) < n) proto.pieces[unk_id].type = spm::PieceType::kUnknown;
  const int32_t bos_id = bos.value_or(1), eos_id = eos.value_or(2);
  if (static_cast<size_t>(bos_id) < n) proto.bos_piece = tokens[bos_id];
  if (static_cast<size_t>(eos_id) < n) proto.eos_piece = tokens[eos_id];
  proto.byte_fallback = byte_pieces == 256;
  proto.add_dummy_prefix = space_prefix.value_or(true);
  proto.remove_extra_whitespaces = false;
  proto.escape_whitespaces = true;
  return make_sentencepiece_tokenizer(std::move(proto), r.file().name() + " (tokenizer.ggml.*)", "gguf-llama",
                                      add_bos.value_or(true));
}

// --- tokenizer.json -> tokenizer.ggml.* -------------------------------------------------------

std::optional<std::string> token_name(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return std::nullopt;
}

// The tokenizer.ggml.pre name whose llama.cpp splitting equals this byte-level pre_tokenizer.
Result<std::string> pre_name(const json& pre, const std::string& source) {
  auto is_byte_level = [](const json& j, bool want_regex) {
    return j.is_object() && j.value("type", "") == "ByteLevel" && !j.value("add_prefix_space", true) &&
           j.value("use_regex", true) == want_regex;
  };
  if (is_byte_level(pre, true)) return std::string("gpt-2");
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers") &&
      pre["pretokenizers"].is_array() && pre["pretokenizers"].size() == 2) {
    const json& split = pre["pretokenizers"][0];
    if (is_byte_level(pre["pretokenizers"][1], false) && split.is_object() && split.value("type", "") == "Split" &&
        split.value("behavior", "") == "Isolated" && !split.value("invert", false) && split.contains("pattern") &&
        split["pattern"].is_object() && split["pattern"].contains("Regex") && split["pattern"]["Regex"].is_string()) {
      const std::string re = split["pattern"]["Regex"].get<std::string>();
      if (re == kHfLlama3Regex || re == kLlama3Regex) return std::string("llama-bpe");
      if (re == kHfQwen2Regex || re == kQwen2Regex) return std::string("qwen2");
    }
  }
  return unsupported(source + ": pre_tokenizer " + pre.dump().substr(0, 200) +
                     " has no tokenizer.ggml.pre equivalent (supported: ByteLevel without prefix space = gpt-2, "
                     "Split(llama3 or qwen2 regex) + ByteLevel = llama-bpe / qwen2)");
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const gguf::File& file) {
  VocabReader r(file);
  const gguf::Value* model = file.find(kKeyModel);
  if (!model) return r.err(kKeyModel, "missing (the file carries no tokenizer)");
  if (!model->as_string()) return r.err(kKeyModel, "expected a string, got " + std::string(gguf::value_type_name(model->type())));
  const std::string& type = *model->as_string();
  if (type != "gpt2" && type != "llama")
    return unsupported(file.name() + ": " + kKeyModel + " '" + type + "' is not supported (supported: gpt2, llama)");
  IM_ASSIGN_OR_RETURN(std::vector<std::string> tokens, r.strings(kKeyTokens, true));
  if (tokens.empty()) return r.err(kKeyTokens, "is empty");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i].empty() || find_invalid_utf8(tokens[i]) != std::string::npos)
      return r.err(kKeyTokens, "entry " + std::to_string(i) + " is empty or not valid UTF-8");
  if (type == "gpt2") return load_gpt2(r, tokens);
  return load_llama(r, tokens);
}

Result<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const std::filesystem::path& gguf_path) {
  IM_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(gguf_path.string()));
  return load_gguf_tokenizer(file);
}

Result<GgufMetadata> gguf_vocab_metadata(const std::filesystem::path& model_dir) {
  const std::filesystem::path file = model_dir / "tokenizer.json";
  const std::string source = file.string();
  IM_ASSIGN_OR_RETURN(std::string text, hf::read_text_file(file));
  IM_ASSIGN_OR_RETURN(json root, hf::parse_json(text, source));
  json config = json::object();
  std::error_code ec;
  if (std::filesystem::exists(model_dir / "tokenizer_config.json", ec)) {
    IM_ASSIGN_OR_RETURN(std::string ctext, hf::read_text_file(model_dir / "tokenizer_config.json"));
    IM_ASSIGN_OR_RETURN(config, hf::parse_json(ctext, (model_dir / "tokenizer_config.json").string()));
    if (!config.is_object()) return invalid_argument((model_dir / "tokenizer_config.json").string() + ": expected an object");
  }
  // Our own parser first: whatever it rejects is not exported either.
  IM_RETURN_IF_ERROR(parse_hf_tokenizer(text, source, config.dump()).status());

  const json& model = root["model"];
  if (model.value("type", "BPE") != "BPE")
    return unsupported(source + ": model type '" + model.value("type", "") + "' has no GGUF vocabulary (only BPE)");
  if (model.value("byte_fallback", false) || (model.contains("continuing_subword_prefix") && !model["continuing_subword_prefix"].is_null()) ||
      (model.contains("end_of_word_suffix") && !model["end_of_word_suffix"].is_null()))
    return unsupported(source + ": model: byte_fallback / continuing_subword_prefix / end_of_word_suffix have no "
                       "tokenizer.ggml equivalent");
  const json normalizer = root.value("normalizer", json());
  // llama.cpp normalizes nothing; NFC (Qwen2) only matters for text that is not already NFC.
  if (!normalizer.is_null() && normalizer.value("type", "") != "NFC")
    return unsupported(source + ": normalizer " + normalizer.dump().substr(0, 200) + " has no tokenizer.ggml equivalent");
  IM_ASSIGN_OR_RETURN(std::string pre, pre_name(root.value("pre_tokenizer", json()), source));

  // Tokens by id: the model's vocabulary and the added tokens; holes become UNUSED "[PAD<id>]".
  std::vector<std::optional<std::string>> by_id;
  std::vector<int32_t> types;
  auto put = [&](size_t id, const std::string& tok, int32_t type) {
    if (id >= by_id.size()) {
      by_id.resize(id + 1);
      types.resize(id + 1, kUnused);
    }
    by_id[id] = tok;
    types[id] = type;
  };
  for (const auto& [tok, id] : model["vocab"].items()) put(id.get<size_t>(), tok, kNormal);
  if (root.contains("added_tokens") && root["added_tokens"].is_array())
    for (const json& a : root["added_tokens"])
      put(a["id"].get<size_t>(), a["content"].get<std::string>(), a.value("special", false) ? kControl : kUserDefined);
  std::vector<std::string> tokens(by_id.size());
  for (size_t i = 0; i < by_id.size(); ++i) tokens[i] = by_id[i] ? *by_id[i] : "[PAD" + std::to_string(i) + "]";

  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array())
    for (const json& m : model["merges"])
      merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());

  auto id_of = [&](const json& j) -> std::optional<uint32_t> {
    auto name = token_name(j);
    if (!name) return std::nullopt;
    for (size_t i = 0; i < tokens.size(); ++i)
      if (by_id[i] && *by_id[i] == *name) return static_cast<uint32_t>(i);
    return std::nullopt;
  };
  const auto bos = id_of(config.value("bos_token", json()));
  const auto eos = id_of(config.value("eos_token", json()));
  const auto pad = id_of(config.value("pad_token", json()));
  const auto unk = id_of(model.value("unk_token", json()));
  // add_bos/add_eos: tokenizer_config.json's flags, else what the post-processor adds.
  bool add_bos = false, add_eos = false;
  const json post = root.value("post_processor", json());
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" && post.contains("single") && post["single"].is_array()) {
    const json& single = post["single"];
    auto special_id = [&](const json& item) -> std::optional<uint32_t> {
      if (!item.contains("SpecialToken")) return std::nullopt;
      return id_of(item["SpecialToken"].value("id", json()));
    };
    if (!single.empty()) {
      add_bos = bos && special_id(single.front()) == bos;
      add_eos = eos && special_id(single.back()) == eos;
    }
  }
  if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) add_bos = config["add_bos_token"].get<bool>();
  if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) add_eos = config["add_eos_token"].get<bool>();

  GgufMetadata kv;
  kv.emplace_back(kKeyModel, gguf::Value::str("gpt2"));
  kv.emplace_back(kKeyPre, gguf::Value::str(pre));
  kv.emplace_back(kKeyTokens, gguf::Value::strings(tokens));
  kv.emplace_back(kKeyTypes, gguf::Value::i32s(types));
  kv.emplace_back(kKeyMerges, gguf::Value::strings(merges));
  if (bos) kv.emplace_back(kKeyBos, gguf::Value::u32(*bos));
  if (eos) kv.emplace_back(kKeyEos, gguf::Value::u32(*eos));
  if (unk) kv.emplace_back(kKeyUnk, gguf::Value::u32(*unk));
  if (pad) kv.emplace_back(kKeyPad, gguf::Value::u32(*pad));
  kv.emplace_back(kKeyAddBos, gguf::Value::boolean(add_bos));
  kv.emplace_back(kKeyAddEos, gguf::Value::boolean(add_eos));
  return kv;
}

Status write_gguf_vocab(const std::filesystem::path& model_dir, gguf::Writer& writer) {
  IM_ASSIGN_OR_RETURN(GgufMetadata kv, gguf_vocab_metadata(model_dir));
  for (auto& [key, value] : kv) IM_RETURN_IF_ERROR(writer.set(key, std::move(value)));
  return Status::Ok();
}

}  // namespace ironmill::formats::tokenizer
