#include "frontends/gguf_export/gguf_export.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <numbers>
#include <optional>
#include <set>

#include "formats/gguf/quants.h"
#include "formats/safetensors/safetensors.h"

namespace ironmill::frontends::gguf_export {
namespace {

namespace gg = formats::gguf;
namespace hf = formats::hf;
namespace st = formats::safetensors;

constexpr uint32_t kGgmlQuantVersion = 2;  // GGML_QNT_VERSION

// llama_ftype for general.file_type (llama.h).
uint32_t file_type_of(gg::GgmlType t) {
  switch (t) {
    case gg::GgmlType::kF32: return 0;    // ALL_F32
    case gg::GgmlType::kF16: return 1;    // MOSTLY_F16
    case gg::GgmlType::kQ4_0: return 2;   // MOSTLY_Q4_0
    case gg::GgmlType::kQ8_0: return 7;   // MOSTLY_Q8_0
    case gg::GgmlType::kQ4_K: return 14;  // MOSTLY_Q4_K_S (every 2-D tensor Q4_K)
    case gg::GgmlType::kQ6_K: return 18;  // MOSTLY_Q6_K
    case gg::GgmlType::kBF16: return 32;  // MOSTLY_BF16
    default: return 0;
  }
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "model.layers.N.<rest>" -> (N, rest).
std::optional<std::pair<int64_t, std::string_view>> split_layer(std::string_view name) {
  constexpr std::string_view kPrefix = "model.layers.";
  if (!starts_with(name, kPrefix)) return std::nullopt;
  std::string_view rest = name.substr(kPrefix.size());
  size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string_view::npos) return std::nullopt;
  int64_t n = 0;
  for (char c : rest.substr(0, dot)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
    if (n > 1'000'000) return std::nullopt;
  }
  return std::make_pair(n, rest.substr(dot + 1));
}

struct LayerTensorName {
  std::string_view hf;
  std::string_view gguf;
};
// One table for both directions of the per-layer names (suffixes .weight / .bias are kept).
constexpr LayerTensorName kLayerNames[] = {
    {"input_layernorm", "attn_norm"},       {"post_attention_layernorm", "ffn_norm"},
    {"self_attn.q_proj", "attn_q"},         {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},         {"self_attn.o_proj", "attn_output"},
    {"self_attn.q_norm", "attn_q_norm"},    {"self_attn.k_norm", "attn_k_norm"},
    {"mlp.gate_proj", "ffn_gate"},          {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
};

// The rope_freqs.weight factors of llama3 rope scaling (conversion/llama.py generate_extra_tensors),
// computed in fp32 like the torch code for the frequencies, then in double (Python floats) per factor.
std::vector<float> llama3_rope_factors(const hf::RopeParameters& rope, int64_t dim) {
  const double factor = rope.factor.value_or(8.0);
  const double low_freq_factor = rope.low_freq_factor.value_or(1.0);
  const double high_freq_factor = rope.high_freq_factor.value_or(4.0);
  const double old_context_len = static_cast<double>(rope.original_max_position_embeddings.value_or(8192));
  const double low_freq_wavelen = old_context_len / low_freq_factor;
  const double high_freq_wavelen = old_context_len / high_freq_factor;
  std::vector<float> out;
  for (int64_t i = 0; i < dim; i += 2) {
    const float freq = 1.0f / std::pow(static_cast<float>(rope.theta), static_cast<float>(i) / static_cast<float>(dim));
    const double wavelen = 2 * std::numbers::pi / static_cast<double>(freq);
    double f;
    if (wavelen < high_freq_wavelen) f = 1;
    else if (wavelen > low_freq_wavelen) f = factor;
    else {
      const double smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      f = 1 / ((1 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

Status add_hparams(gg::Writer& w, const hf::ModelConfig& c, const std::string& arch, const std::string& name,
                   gg::GgmlType type, ExportResult& result) {
  auto u32 = [](int64_t v) { return gg::Value::u32(static_cast<uint32_t>(v)); };
  const std::string a = arch + ".";
  IM_RETURN_IF_ERROR(w.set("general.architecture", gg::Value::str(arch)));
  IM_RETURN_IF_ERROR(w.set("general.name", gg::Value::str(name)));
  IM_RETURN_IF_ERROR(w.set(a + "vocab_size", u32(c.vocab_size)));
  if (c.max_position_embeddings > 0) IM_RETURN_IF_ERROR(w.set(a + "context_length", u32(c.max_position_embeddings)));
  IM_RETURN_IF_ERROR(w.set(a + "embedding_length", u32(c.hidden_size)));
  IM_RETURN_IF_ERROR(w.set(a + "feed_forward_length", u32(c.intermediate_size)));
  IM_RETURN_IF_ERROR(w.set(a + "block_count", u32(c.num_hidden_layers)));
  IM_RETURN_IF_ERROR(w.set(a + "attention.head_count", u32(c.num_attention_heads)));
  IM_RETURN_IF_ERROR(w.set(a + "attention.head_count_kv", u32(c.num_key_value_heads)));
  const hf::RopeParameters& rope = c.rope;
  if (rope.type == "linear" && rope.factor) {
    IM_RETURN_IF_ERROR(w.set(a + "rope.scaling.type", gg::Value::str("linear")));
    IM_RETURN_IF_ERROR(w.set(a + "rope.scaling.factor", gg::Value::f32(static_cast<float>(*rope.factor))));
  } else if (rope.type == "yarn" && rope.factor) {
    IM_RETURN_IF_ERROR(w.set(a + "rope.scaling.type", gg::Value::str("yarn")));
    IM_RETURN_IF_ERROR(w.set(a + "rope.scaling.factor", gg::Value::f32(static_cast<float>(*rope.factor))));
    if (!rope.original_max_position_embeddings)
      return invalid_argument(c.source + ": yarn rope scaling without original_max_position_embeddings");
    IM_RETURN_IF_ERROR(w.set(a + "rope.scaling.original_context_length", u32(*rope.original_max_position_embeddings)));
    if (rope.attention_factor)
      IM_RETURN_IF_ERROR(
          w.set(a + "rope.scaling.yarn_attn_factor", gg::Value::f32(static_cast<float>(*rope.attention_factor))));
    if (rope.beta_fast)
      IM_RETURN_IF_ERROR(w.set(a + "rope.scaling.yarn_beta_fast", gg::Value::f32(static_cast<float>(*rope.beta_fast))));
    if (rope.beta_slow)
      IM_RETURN_IF_ERROR(w.set(a + "rope.scaling.yarn_beta_slow", gg::Value::f32(static_cast<float>(*rope.beta_slow))));
  } else if (rope.type != "default" && rope.type != "llama3" && !(rope.type == "linear" || rope.type == "yarn")) {
    return unsupported(c.source + ": rope type `" + rope.type + "` is not exported to GGUF (default, linear, yarn, llama3)");
  }
  IM_RETURN_IF_ERROR(w.set(a + "rope.freq_base", gg::Value::f32(static_cast<float>(rope.theta))));
  IM_RETURN_IF_ERROR(w.set(a + "attention.layer_norm_rms_epsilon", gg::Value::f32(static_cast<float>(c.rms_norm_eps))));
  const auto rot = static_cast<int64_t>(std::llround(static_cast<double>(c.head_dim) * rope.partial_rotary_factor));
  IM_RETURN_IF_ERROR(w.set(a + "rope.dimension_count", u32(rot)));
  if (c.head_dim_explicit) {
    IM_RETURN_IF_ERROR(w.set(a + "attention.key_length", u32(c.head_dim)));
    IM_RETURN_IF_ERROR(w.set(a + "attention.value_length", u32(c.head_dim)));
  }
  IM_RETURN_IF_ERROR(w.set("general.file_type", gg::Value::u32(file_type_of(type))));
  IM_RETURN_IF_ERROR(w.set("general.quantization_version", gg::Value::u32(kGgmlQuantVersion)));
  if (c.sliding_window && c.family == hf::ModelFamily::kMistral)
    result.warnings.push_back("sliding_window " + std::to_string(*c.sliding_window) +
                              " is not representable for GGUF arch `llama`; llama.cpp attends to the full context");
  return Status::Ok();
}

// Tensor bytes converted to `type` (rows of ne0 elements), from F32/F16/BF16 source bytes.
Result<std::vector<uint8_t>> convert(const mil::Tensor& t, const std::string& hf_name, gg::GgmlType type, int64_t ne0) {
  const int64_t n = t.numel();
  const int64_t nrows = ne0 == 0 ? 0 : n / ne0;
  std::vector<float> f = t.to_f32();
  if (type == gg::GgmlType::kF32) {
    std::vector<uint8_t> out(static_cast<size_t>(n) * 4);
    if (n) std::memcpy(out.data(), f.data(), out.size());
    return out;
  }
  std::vector<uint8_t> out(gg::ggml_row_size(type, ne0) * static_cast<size_t>(nrows));
  auto r = gg::quantize(type, f.data(), out.data(), nrows, ne0);
  if (!r.ok()) return r.status().with_context(hf_name);
  return out;
}

}  // namespace

Result<gg::GgmlType> parse_output_type(std::string_view name) {
  for (gg::GgmlType t : {gg::GgmlType::kF32, gg::GgmlType::kF16, gg::GgmlType::kBF16, gg::GgmlType::kQ8_0,
                         gg::GgmlType::kQ4_0, gg::GgmlType::kQ4_K, gg::GgmlType::kQ6_K}) {
    std::string tn(gg::ggml_type_name(t));
    std::string lower(name);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string tl = tn;
    for (auto& ch : tl) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == tl) return t;
  }
  return invalid_argument("unknown GGUF output type `" + std::string(name) +
                          "` (expected f32, f16, bf16, q8_0, q4_0, q4_k or q6_k)");
}

Result<std::string> gguf_arch(const hf::ModelConfig& c) {
  switch (c.family) {
    case hf::ModelFamily::kLlama:
    case hf::ModelFamily::kMistral: return std::string("llama");
    case hf::ModelFamily::kQwen2: return std::string("qwen2");
    case hf::ModelFamily::kQwen3: return std::string("qwen3");
    default:
      return unsupported(c.source + ": model_type `" + c.model_type +
                         "` is not exported to GGUF (llama, mistral, qwen2, qwen3 are)");
  }
}

Result<std::string> gguf_tensor_name(std::string_view hf_name) {
  if (hf_name == "model.embed_tokens.weight") return std::string("token_embd.weight");
  if (hf_name == "model.norm.weight") return std::string("output_norm.weight");
  if (hf_name == "lm_head.weight") return std::string("output.weight");
  if (auto layer = split_layer(hf_name)) {
    const auto [index, rest] = *layer;
    if (rest == "self_attn.rotary_emb.inv_freq") return std::string();
    for (const auto& ln : kLayerNames) {
      for (std::string_view suffix : {".weight", ".bias"}) {
        if (rest.size() == ln.hf.size() + suffix.size() && starts_with(rest, ln.hf) &&
            rest.substr(ln.hf.size()) == suffix)
          return "blk." + std::to_string(index) + "." + std::string(ln.gguf) + std::string(suffix);
      }
    }
  }
  return unsupported("tensor `" + std::string(hf_name) + "` has no GGUF equivalent in this exporter");
}

Result<std::string> hf_tensor_name(std::string_view gguf_name) {
  if (gguf_name == "token_embd.weight") return std::string("model.embed_tokens.weight");
  if (gguf_name == "output_norm.weight") return std::string("model.norm.weight");
  if (gguf_name == "output.weight") return std::string("lm_head.weight");
  constexpr std::string_view kBlk = "blk.";
  if (starts_with(gguf_name, kBlk)) {
    const std::string_view rest = gguf_name.substr(kBlk.size());
    const size_t dot = rest.find('.');
    const std::string_view index = rest.substr(0, dot);
    const bool digits = dot != std::string_view::npos && !index.empty() &&
                        std::all_of(index.begin(), index.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (digits) {
      const std::string_view tail = rest.substr(dot + 1);
      for (const auto& ln : kLayerNames)
        for (std::string_view suffix : {".weight", ".bias"})
          if (tail.size() == ln.gguf.size() + suffix.size() && starts_with(tail, ln.gguf) &&
              tail.substr(ln.gguf.size()) == suffix)
            return "model.layers." + std::string(index) + "." + std::string(ln.hf) + std::string(suffix);
    }
  }
  return unsupported("GGUF tensor `" + std::string(gguf_name) + "` has no Hugging Face equivalent in this template path");
}

gg::GgmlType fallback_type(gg::GgmlType requested, int64_t ne0) {
  const auto& tr = gg::ggml_type_traits(requested);
  if (ne0 % tr.block_size == 0) return requested;
  gg::GgmlType t = requested;
  if (requested == gg::GgmlType::kQ4_K) t = gg::GgmlType::kQ4_0;
  else if (requested == gg::GgmlType::kQ6_K) t = gg::GgmlType::kQ8_0;
  if (ne0 % gg::ggml_type_traits(t).block_size != 0) t = gg::GgmlType::kF16;
  return t;
}

Status permute_rows(const uint8_t* src, uint8_t* dst, int64_t rows, int64_t cols, size_t elem_bytes, int64_t n_head) {
  if (n_head <= 0 || rows % n_head != 0 || (rows / n_head) % 2 != 0)
    return invalid_argument("q/k permutation: " + std::to_string(rows) + " rows do not split into " +
                            std::to_string(n_head) + " heads of an even size");
  const int64_t hd = rows / n_head, half = hd / 2;
  const size_t row_bytes = static_cast<size_t>(cols) * elem_bytes;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i) {
        const int64_t from = h * hd + j * half + i, to = h * hd + 2 * i + j;
        std::memcpy(dst + static_cast<size_t>(to) * row_bytes, src + static_cast<size_t>(from) * row_bytes, row_bytes);
      }
  return Status::Ok();
}

Result<gg::Writer> build_gguf(const std::filesystem::path& model_dir, const ExportOptions& options,
                              ExportResult* result_out) {
  ExportResult result;
  const gg::GgmlType type = options.type;
  if (type != gg::GgmlType::kF32 && type != gg::GgmlType::kF16 && type != gg::GgmlType::kBF16 &&
      !gg::can_quantize(type))
    return invalid_argument("output type " + std::string(gg::ggml_type_name(type)) + " cannot be written");
  IM_ASSIGN_OR_RETURN(hf::ModelConfig config, hf::load_model_config(model_dir));
  IM_ASSIGN_OR_RETURN(result.arch, gguf_arch(config));
  IM_ASSIGN_OR_RETURN(st::Checkpoint ckpt, st::Checkpoint::open(model_dir.string()));
  const bool permute_qk = result.arch == "llama";

  gg::Writer w;
  std::string name = options.name;
  if (name.empty()) {
    auto canonical = std::filesystem::weakly_canonical(model_dir);
    name = canonical.filename().string();
    if (name.empty()) name = canonical.parent_path().filename().string();
  }
  IM_RETURN_IF_ERROR(add_hparams(w, config, result.arch, name, type, result));
  if (options.vocab) {
    IM_RETURN_IF_ERROR(options.vocab(model_dir, w).with_context("tokenizer metadata"));
    result.has_vocab = w.find("tokenizer.ggml.model") != nullptr;
  }

  // The tensors llama.cpp requires for these archs; checked up front so the error names what is missing.
  const auto names = ckpt.tensor_names();
  const std::set<std::string> present(names.begin(), names.end());
  std::vector<std::string> required = {"model.embed_tokens.weight", "model.norm.weight"};
  if (!config.tie_word_embeddings) required.push_back("lm_head.weight");
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* s : {"input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
                          "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
      required.push_back(p + s + ".weight");
    if (config.family == hf::ModelFamily::kQwen3)
      for (const char* s : {"self_attn.q_norm", "self_attn.k_norm"}) required.push_back(p + s + ".weight");
  }
  for (const auto& r : required)
    if (!present.count(r)) return not_found(model_dir.string() + ": checkpoint lacks tensor `" + r + "`");

  // llama.cpp's order: token_embd, rope_freqs, then per layer, then output_norm / output (any order
  // loads; this mirrors the converter for easier diffing).
  std::vector<std::string> order;
  order.push_back("model.embed_tokens.weight");
  for (const auto& n : names)
    if (split_layer(n)) order.push_back(n);
  std::stable_sort(order.begin() + 1, order.end(), [](const std::string& x, const std::string& y) {
    return split_layer(x)->first < split_layer(y)->first;
  });
  order.push_back("model.norm.weight");
  if (present.count("lm_head.weight") && !config.tie_word_embeddings) order.push_back("lm_head.weight");
  for (const auto& n : names) {
    if (n == "lm_head.weight" || n == "model.embed_tokens.weight" || n == "model.norm.weight" || split_layer(n))
      continue;
    IM_RETURN_IF_ERROR(gguf_tensor_name(n).status());  // an unknown top-level tensor: error naming it
  }

  bool rope_freqs_added = false;
  for (const auto& hf_name : order) {
    IM_ASSIGN_OR_RETURN(std::string gname, gguf_tensor_name(hf_name));
    if (gname.empty()) continue;
    if (auto layer = split_layer(hf_name); layer && layer->first >= config.num_hidden_layers)
      return invalid_argument(hf_name + ": layer index beyond num_hidden_layers " +
                              std::to_string(config.num_hidden_layers));
    IM_ASSIGN_OR_RETURN(mil::Tensor t, ckpt.tensor(hf_name));
    if (t.dtype() != mil::DType::kFp32 && t.dtype() != mil::DType::kFp16 && t.dtype() != mil::DType::kBf16)
      return unsupported(hf_name + ": dtype " + std::string(mil::dtype_name(t.dtype())) +
                         " (the exporter reads F32, F16 and BF16)");
    if (t.rank() < 1 || t.rank() > 2)
      return invalid_argument(hf_name + ": rank " + std::to_string(t.rank()) + " (expected 1 or 2)");
    std::vector<int64_t> ne(t.shape().rbegin(), t.shape().rend());

    // Shape checks against the config, where a mismatch would otherwise surface only in llama.cpp.
    const bool is_q = gname.find(".attn_q.") != std::string::npos;
    const bool is_k = gname.find(".attn_k.") != std::string::npos;
    if (is_q || is_k) {
      const int64_t heads = is_q ? config.num_attention_heads : config.num_key_value_heads;
      if (t.dim(0) != heads * config.head_dim)
        return invalid_argument(hf_name + ": " + std::to_string(t.dim(0)) + " rows, expected " +
                                std::to_string(heads) + " heads x head_dim " + std::to_string(config.head_dim));
    }
    if (gname == "token_embd.weight" && (t.rank() != 2 || t.dim(0) != config.vocab_size || t.dim(1) != config.hidden_size))
      return invalid_argument(hf_name + ": shape " + mil::shape_to_string(t.shape()) + ", expected [vocab_size " +
                              std::to_string(config.vocab_size) + ", hidden_size " +
                              std::to_string(config.hidden_size) + "]");

    // llama: HF rotate-half layout -> llama.cpp's interleaved rope pairs.
    bool permuted = false;
    if (permute_qk && (is_q || is_k)) {
      const int64_t heads = is_q ? config.num_attention_heads : config.num_key_value_heads;
      const int64_t rows = t.dim(0), cols = t.rank() == 2 ? t.dim(1) : 1;
      mil::Tensor p(t.dtype(), t.shape());
      IM_RETURN_IF_ERROR(permute_rows(t.raw(), p.mutable_raw(), rows, cols, mil::dtype_element_bytes(t.dtype()), heads)
                             .with_context(hf_name));
      t = std::move(p);
      permuted = true;
    }

    const gg::GgmlType out_type = t.rank() == 1 ? gg::GgmlType::kF32 : fallback_type(type, ne[0]);
    if (out_type == gg::GgmlType::kF32 && t.dtype() == mil::DType::kFp32) {
      IM_RETURN_IF_ERROR(w.add_tensor(gname, t));
    } else if (out_type == gg::GgmlType::kF16 && t.dtype() == mil::DType::kFp16) {
      IM_RETURN_IF_ERROR(w.add_tensor(gname, t));  // a view of the mapping: no copy
    } else if (out_type == gg::GgmlType::kBF16 && t.dtype() == mil::DType::kBf16) {
      IM_RETURN_IF_ERROR(w.add_tensor(gname, t));
    } else {
      IM_ASSIGN_OR_RETURN(auto bytes, convert(t, hf_name, out_type, ne[0]));
      IM_RETURN_IF_ERROR(w.add_tensor(gname, out_type, ne, std::move(bytes)));
    }
    result.tensors.push_back({hf_name, gname, out_type, ne, permuted});

    // rope_freqs goes right after token_embd, as the converter's extra tensors do.
    if (!rope_freqs_added && gname == "token_embd.weight" && config.rope.type == "llama3") {
      const auto factors = llama3_rope_factors(config.rope, config.head_dim);
      std::vector<uint8_t> bytes(factors.size() * 4);
      std::memcpy(bytes.data(), factors.data(), bytes.size());
      const std::vector<int64_t> fne = {static_cast<int64_t>(factors.size())};
      IM_RETURN_IF_ERROR(w.add_tensor("rope_freqs.weight", gg::GgmlType::kF32, fne, std::move(bytes)));
      result.tensors.push_back({"", "rope_freqs.weight", gg::GgmlType::kF32, fne, false});
      rope_freqs_added = true;
    }
  }
  if (result_out) *result_out = std::move(result);
  return w;
}

Result<ExportResult> export_gguf(const std::filesystem::path& model_dir, const std::string& out_path,
                                 const ExportOptions& options) {
  ExportResult result;
  IM_ASSIGN_OR_RETURN(gg::Writer w, build_gguf(model_dir, options, &result));
  IM_RETURN_IF_ERROR(w.write(out_path));
  std::error_code ec;
  result.file_bytes = std::filesystem::file_size(out_path, ec);
  return result;
}

}  // namespace ironmill::frontends::gguf_export
