// GGUF files as template input (LLaMA / Mistral / Qwen2 / Qwen3, the architectures ironmill export-gguf
// writes and llama.cpp's converter produces under the same names).
//
// The config is rebuilt from GGUF metadata as the config.json the model came from would read
// ({arch}.embedding_length -> hidden_size, ...) and parsed by the same code as a checkpoint's, so every
// check and default is shared. Tensors are served under their Hugging Face names: quantized ones are
// dequantized (lazily, on first use) with our ggml-exact dequantizers, and for arch "llama" the q/k rows
// are moved back from llama.cpp's interleaved rope pairs to HF's rotate-half layout (the inverse of
// LlamaModel.permute), so the templates run unchanged.
#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/gguf/gguf.h"
#include "frontends/gguf_export/gguf_export.h"
#include "frontends/templates/template.h"

namespace ironmill::templates {
namespace {

namespace gg = formats::gguf;
using json = nlohmann::json;

struct ArchInfo {
  std::string_view gguf;
  std::string_view model_type;
  std::string_view architecture;
};
constexpr ArchInfo kArchs[] = {
    {"llama", "llama", "LlamaForCausalLM"},
    {"qwen2", "qwen2", "Qwen2ForCausalLM"},
    {"qwen3", "qwen3", "Qwen3ForCausalLM"},
};

// HF rotate-half row order <- llama.cpp interleaved pairs: row h*hd + 2i + j goes back to h*hd + j*hd/2 + i.
Status unpermute_rows(mil::Tensor& t, int64_t n_head, const std::string& where) {
  const int64_t rows = t.rank() >= 1 ? t.dim(0) : 0;
  const int64_t cols = t.rank() == 2 ? t.dim(1) : 1;
  if (n_head <= 0 || rows % n_head != 0 || (rows / n_head) % 2 != 0)
    return invalid_argument(where + ": " + std::to_string(rows) + " rows do not split into " + std::to_string(n_head) +
                            " heads of an even size (q/k rope un-permutation)");
  const int64_t hd = rows / n_head, half = hd / 2;
  std::vector<float> src(t.data<float>(), t.data<float>() + rows * cols);
  float* dst = t.mutable_data<float>();
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i)
        std::copy_n(src.data() + (h * hd + 2 * i + j) * cols, cols, dst + (h * hd + j * half + i) * cols);
  return Status::Ok();
}

class GgufTensorSource final : public mil::LazyTensorSource {
 public:
  GgufTensorSource(gg::File file, std::string gguf_name, int64_t unpermute_heads)
      : file_(std::move(file)), gguf_name_(std::move(gguf_name)), unpermute_heads_(unpermute_heads) {}
  Result<mil::Tensor> load() const override {
    IM_ASSIGN_OR_RETURN(mil::Tensor t, file_.dequantize(gguf_name_));
    if (unpermute_heads_ > 0) IM_RETURN_IF_ERROR(unpermute_rows(t, unpermute_heads_, describe()));
    return t;
  }
  std::string describe() const override { return file_.name() + ":" + gguf_name_; }

 private:
  gg::File file_;
  std::string gguf_name_;
  int64_t unpermute_heads_;
};

class GgufWeights final : public WeightSource {
 public:
  // unpermute: q/k projections (and their biases) of arch "llama" were permuted by the exporter.
  GgufWeights(gg::File file, std::map<std::string, std::string> hf_to_gguf, int64_t q_heads, int64_t kv_heads,
              bool unpermute)
      : file_(std::move(file)), hf_to_gguf_(std::move(hf_to_gguf)), q_heads_(q_heads), kv_heads_(kv_heads),
        unpermute_(unpermute) {}
  std::string describe() const override { return file_.name(); }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [hf, g] : hf_to_gguf_) out.push_back(hf);
    return out;
  }
  std::string stored_name(const std::string& name) const override {
    auto g = frontends::gguf_export::gguf_tensor_name(name);
    return g.ok() && !g->empty() ? *g + "` / HF `" + name : name;
  }
  std::optional<mil::Shape> shape(const std::string& name) const override {
    const gg::TensorInfo* info = info_for(name);
    if (!info) return std::nullopt;
    return info->shape();
  }
  std::optional<mil::DType> dtype(const std::string& name) const override {
    const gg::TensorInfo* info = info_for(name);
    if (!info) return std::nullopt;
    if (info->type == gg::GgmlType::kF16) return mil::DType::kFp16;
    if (info->type == gg::GgmlType::kBF16) return mil::DType::kBf16;
    return mil::DType::kFp32;  // F32, and quantized types (served dequantized)
  }
  Result<mil::Value> fp32_constant(const std::string& name) const override {
    IM_ASSIGN_OR_RETURN(auto src, source(name));
    mil::Value v;
    v.type = mil::Type::tensor(mil::DType::kFp32, info_for(name)->shape());
    v.data = std::shared_ptr<const mil::LazyTensorSource>(std::move(src));
    return v;
  }
  Result<mil::Tensor> fp32_tensor(const std::string& name) const override {
    IM_ASSIGN_OR_RETURN(auto src, source(name));
    return src->load();
  }

 private:
  const gg::TensorInfo* info_for(const std::string& hf_name) const {
    auto it = hf_to_gguf_.find(hf_name);
    return it == hf_to_gguf_.end() ? nullptr : file_.find_tensor(it->second);
  }
  Result<std::shared_ptr<GgufTensorSource>> source(const std::string& hf_name) const {
    auto it = hf_to_gguf_.find(hf_name);
    if (it == hf_to_gguf_.end()) {
      auto g = frontends::gguf_export::gguf_tensor_name(hf_name);
      return not_found(file_.name() + ": missing tensor `" + (g.ok() ? *g : hf_name) + "` (Hugging Face name `" +
                       hf_name + "`)");
    }
    int64_t heads = 0;
    if (unpermute_) {
      const std::string& g = it->second;
      auto has = [&](std::string_view part) { return g.find(part) != std::string::npos; };
      if (has(".attn_q.")) heads = q_heads_;
      else if (has(".attn_k.")) heads = kv_heads_;
    }
    return std::make_shared<GgufTensorSource>(file_, it->second, heads);
  }

  gg::File file_;
  std::map<std::string, std::string> hf_to_gguf_;
  int64_t q_heads_, kv_heads_;
  bool unpermute_;
};

// config.json equivalent of the GGUF hparams (the keys our exporter and llama.cpp's converter write).
Result<json> config_from_metadata(const gg::File& f, const ArchInfo& arch) {
  const std::string a = std::string(arch.gguf) + ".";
  auto uint_key = [&](const std::string& k) { return f.get_uint(a + k); };
  // Optional keys: absent -> nullopt; present with the wrong type -> the getter's error naming the key.
  auto opt_uint = [&](const std::string& k) -> Result<std::optional<uint64_t>> {
    if (!f.find(k)) return std::optional<uint64_t>();
    IM_ASSIGN_OR_RETURN(uint64_t v, f.get_uint(k));
    return std::optional<uint64_t>(v);
  };
  auto opt_float = [&](const std::string& k) -> Result<std::optional<double>> {
    if (!f.find(k)) return std::optional<double>();
    IM_ASSIGN_OR_RETURN(double v, f.get_float(k));
    return std::optional<double>(v);
  };
  json c;
  c["model_type"] = arch.model_type;
  c["architectures"] = json::array({arch.architecture});
  c["torch_dtype"] = "float32";
  IM_ASSIGN_OR_RETURN(uint64_t hidden, uint_key("embedding_length"));
  IM_ASSIGN_OR_RETURN(uint64_t ffn, uint_key("feed_forward_length"));
  IM_ASSIGN_OR_RETURN(uint64_t layers, uint_key("block_count"));
  IM_ASSIGN_OR_RETURN(uint64_t heads, uint_key("attention.head_count"));
  c["hidden_size"] = hidden;
  c["intermediate_size"] = ffn;
  c["num_hidden_layers"] = layers;
  c["num_attention_heads"] = heads;
  IM_ASSIGN_OR_RETURN(auto kv_heads, opt_uint(a + "attention.head_count_kv"));
  c["num_key_value_heads"] = kv_heads.value_or(heads);
  IM_ASSIGN_OR_RETURN(auto context, opt_uint(a + "context_length"));
  if (context) c["max_position_embeddings"] = *context;
  IM_ASSIGN_OR_RETURN(double eps, f.get_float(a + "attention.layer_norm_rms_epsilon"));
  c["rms_norm_eps"] = eps;
  IM_ASSIGN_OR_RETURN(auto theta, opt_float(a + "rope.freq_base"));
  c["rope_theta"] = theta.value_or(10000.0);
  int64_t head_dim = static_cast<int64_t>(hidden / std::max<uint64_t>(heads, 1));
  IM_ASSIGN_OR_RETURN(auto key_length, opt_uint(a + "attention.key_length"));
  IM_ASSIGN_OR_RETURN(auto value_length, opt_uint(a + "attention.value_length"));
  if (key_length) {
    if (value_length && *value_length != *key_length)
      return unsupported(f.name() + ": " + a + "attention.value_length differs from key_length (not a template case)");
    head_dim = static_cast<int64_t>(*key_length);
    c["head_dim"] = head_dim;
  }
  IM_ASSIGN_OR_RETURN(auto rot, opt_uint(a + "rope.dimension_count"));
  if (rot && static_cast<int64_t>(*rot) != head_dim)
    c["partial_rotary_factor"] = static_cast<double>(*rot) / static_cast<double>(head_dim);
  if (const gg::Value* st = f.find(a + "rope.scaling.type")) {
    const std::string* type = st->as_string();
    if (!type) return invalid_argument(f.name() + ": " + a + "rope.scaling.type is not a string");
    if (*type == "linear" || *type == "yarn") {
      json rs{{"rope_type", *type}};
      IM_ASSIGN_OR_RETURN(auto factor, opt_float(a + "rope.scaling.factor"));
      IM_ASSIGN_OR_RETURN(auto original, opt_uint(a + "rope.scaling.original_context_length"));
      IM_ASSIGN_OR_RETURN(auto attn_factor, opt_float(a + "rope.scaling.yarn_attn_factor"));
      IM_ASSIGN_OR_RETURN(auto beta_fast, opt_float(a + "rope.scaling.yarn_beta_fast"));
      IM_ASSIGN_OR_RETURN(auto beta_slow, opt_float(a + "rope.scaling.yarn_beta_slow"));
      if (factor) rs["factor"] = *factor;
      if (original) rs["original_max_position_embeddings"] = *original;
      if (attn_factor) rs["attention_factor"] = *attn_factor;
      if (beta_fast) rs["beta_fast"] = *beta_fast;
      if (beta_slow) rs["beta_slow"] = *beta_slow;
      c["rope_scaling"] = rs;
    } else if (*type != "none") {
      return unsupported(f.name() + ": " + a + "rope.scaling.type `" + *type + "` is not supported (linear, yarn)");
    }
  }
  if (f.find_tensor("rope_freqs.weight"))
    return unsupported(f.name() + ": tensor `rope_freqs.weight` (llama3 rope scaling factors) is not supported by "
                       "the GGUF template path; use the SafeTensors checkpoint");
  const gg::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) return not_found(f.name() + ": missing tensor `token_embd.weight`");
  c["vocab_size"] = embd->ne.size() == 2 ? embd->ne[1] : 0;
  IM_ASSIGN_OR_RETURN(auto vocab, opt_uint(a + "vocab_size"));
  if (vocab && static_cast<int64_t>(*vocab) != c["vocab_size"].get<int64_t>())
    return invalid_argument(f.name() + ": " + a + "vocab_size disagrees with token_embd.weight's rows");
  c["tie_word_embeddings"] = f.find_tensor("output.weight") == nullptr;
  const bool bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (arch.gguf == "llama") c["attention_bias"] = bias;
  if (arch.gguf == "qwen2" && !bias) return invalid_argument(f.name() + ": qwen2 without `blk.0.attn_q.bias`");
  IM_ASSIGN_OR_RETURN(auto bos, opt_uint("tokenizer.ggml.bos_token_id"));
  IM_ASSIGN_OR_RETURN(auto eos, opt_uint("tokenizer.ggml.eos_token_id"));
  if (bos) c["bos_token_id"] = *bos;
  if (eos) c["eos_token_id"] = *eos;
  return c;
}

}  // namespace

bool is_gguf_path(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".gguf" || ext == ".GGUF";
}

Result<LoadedModel> load_gguf_model(const std::string& path) {
  IM_ASSIGN_OR_RETURN(gg::File f, gg::File::open(path));
  IM_ASSIGN_OR_RETURN(std::string arch_name, f.get_string("general.architecture"));
  const ArchInfo* arch = nullptr;
  for (const auto& a : kArchs)
    if (a.gguf == arch_name) arch = &a;
  if (!arch)
    return unsupported(path + ": general.architecture `" + arch_name +
                       "` has no template (the GGUF path takes llama, qwen2, qwen3)");
  IM_ASSIGN_OR_RETURN(json cfg, config_from_metadata(f, *arch));
  LoadedModel m;
  IM_ASSIGN_OR_RETURN(m.config, formats::hf::parse_model_config(cfg, path + " (GGUF metadata)"));
  IM_RETURN_IF_ERROR(check_supported(m.config));

  std::map<std::string, std::string> names;
  for (const gg::TensorInfo& t : f.tensors()) {
    auto hf = frontends::gguf_export::hf_tensor_name(t.name);
    if (!hf.ok()) return unsupported(path + ": " + hf.status().message());
    names[*hf] = t.name;
  }
  m.weights = std::make_shared<GgufWeights>(f, std::move(names), m.config.num_attention_heads,
                                            m.config.num_key_value_heads, arch->gguf == "llama");
  return m;
}

}  // namespace ironmill::templates
