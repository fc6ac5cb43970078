// compile_gpu_bundle: a GGUF file or an HF checkpoint directory -> .ironml-gpu, weights kept in their stored
// format where the engine has a kernel for it (no requantization: the bundle holds the same bytes).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/bundle/gpu_bundle.h"
#include "formats/gguf/gguf.h"
#include "formats/safetensors/safetensors.h"
#include "frontends/templates/template.h"

namespace ironmill::engine {
namespace {
namespace gg = formats::gguf;

std::optional<WeightFormat> engine_format(gg::GgmlType t) {
  switch (t) {
    case gg::GgmlType::kF32: return WeightFormat::kF32;
    case gg::GgmlType::kF16: return WeightFormat::kF16;
    case gg::GgmlType::kBF16: return WeightFormat::kBF16;
    case gg::GgmlType::kQ4_0: return WeightFormat::kQ4_0;
    case gg::GgmlType::kQ8_0: return WeightFormat::kQ8_0;
    case gg::GgmlType::kQ4_K: return WeightFormat::kQ4_K;
    case gg::GgmlType::kQ6_K: return WeightFormat::kQ6_K;
    default: return std::nullopt;
  }
}

nlohmann::json to_json(const gg::Value& v) {
  if (auto s = v.as_string()) return *s;
  if (auto b = v.get_if<bool>()) return *b;
  if (v.type() == gg::ValueType::kFloat32 || v.type() == gg::ValueType::kFloat64) return *v.as_double();
  if (auto i = v.as_int()) return *i;
  if (auto u = v.as_uint()) return *u;
  return nullptr;
}

Status compile_from_gguf(const std::string& input, const std::string& out) {
  IM_ASSIGN_OR_RETURN(gg::File f, gg::File::open(input));
  // config.json: the scalar metadata (arrays such as the vocabulary stay in the GGUF).
  nlohmann::json config = nlohmann::json::object();
  for (const auto& [k, v] : f.metadata())
    if (v.type() != gg::ValueType::kArray) config[k] = to_json(v);
  std::vector<BundleTensorSource> srcs;
  std::vector<mil::Tensor> widened;  // keeps dequantized copies alive until written
  widened.reserve(f.tensors().size());
  for (const auto& info : f.tensors()) {
    BundleTensorSource s;
    s.name = info.name;
    s.shape = info.shape();
    if (auto fmt = engine_format(info.type)) {
      s.format = *fmt;
      IM_ASSIGN_OR_RETURN(auto bytes, f.tensor_bytes(info.name));
      s.data = bytes.data();
    } else {
      IM_ASSIGN_OR_RETURN(mil::Tensor t, f.dequantize(info.name));
      widened.push_back(std::move(t));
      s.format = WeightFormat::kF32;
      s.data = widened.back().raw();
    }
    srcs.push_back(std::move(s));
  }
  // The engine's config: the HF config.json equivalent of the metadata, built by the same code the .gguf
  // loader uses (so a bundle and its GGUF source read the same config).
  IM_ASSIGN_OR_RETURN(templates::LoadedModel lm, templates::load_gguf_model(input));
  BundleModelInfo info;
  info.model_config_json = lm.config.raw.dump();
  info.tensor_names = "gguf";
  IM_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  info.qk_rows_interleaved = arch == "llama";
  // The tokenizer (and chat template) live in the GGUF metadata: a tensor-less copy of it travels with the
  // bundle as tokenizer.gguf, which generate/chat read (formats/tokenizer's GGUF vocabulary loader).
  gg::Writer meta;
  for (const auto& [k, v] : f.metadata())
    if (k != "general.alignment") IM_RETURN_IF_ERROR(meta.set(k, v));
  const std::string meta_path = out + ".tokenizer-" + std::to_string(::getpid()) + ".gguf";
  IM_RETURN_IF_ERROR(meta.write(meta_path));
  info.extra_files.emplace_back(meta_path, "tokenizer.gguf");
  Status s = write_gpu_bundle(out, config.dump(1), "gguf:" + std::filesystem::path(input).filename().string(), srcs, info);
  std::error_code ec;
  std::filesystem::remove(meta_path, ec);
  return s;
}

Status compile_from_hf(const std::string& input, const std::string& out) {
  std::ifstream cf(std::filesystem::path(input) / "config.json", std::ios::binary);
  if (!cf) return not_found(input + "/config.json: cannot open");
  std::stringstream ss;
  ss << cf.rdbuf();
  IM_ASSIGN_OR_RETURN(auto ckpt, formats::safetensors::Checkpoint::open(input));
  std::vector<BundleTensorSource> srcs;
  std::vector<mil::Tensor> views;
  const auto names = ckpt.tensor_names();
  views.reserve(names.size());
  for (const auto& name : names) {
    IM_ASSIGN_OR_RETURN(mil::Tensor t, ckpt.tensor(name));
    BundleTensorSource s;
    s.name = name;
    s.shape = t.shape().empty() ? std::vector<int64_t>{1} : t.shape();
    switch (t.dtype()) {
      case mil::DType::kFp32: s.format = WeightFormat::kF32; break;
      case mil::DType::kFp16: s.format = WeightFormat::kF16; break;
      case mil::DType::kBf16: s.format = WeightFormat::kBF16; break;
      default: return unsupported(input + ": tensor " + name + ": dtype not stored by the engine (F32/F16/BF16 only)");
    }
    views.push_back(std::move(t));
    s.data = views.back().raw();
    srcs.push_back(std::move(s));
  }
  BundleModelInfo info;
  info.model_config_json = ss.str();
  // The tokenizer travels with the bundle so generate/chat can open it alone.
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "chat_template.jinja",
                           "special_tokens_map.json", "generation_config.json"}) {
    const auto p = std::filesystem::path(input) / name;
    if (std::filesystem::is_regular_file(p)) info.extra_files.emplace_back(p.string(), name);
  }
  return write_gpu_bundle(out, ss.str(), "hf:" + std::filesystem::path(input).filename().string(), srcs, info);
}
}  // namespace

Status compile_gpu_bundle(const std::string& input, const std::string& out_path) {
  if (std::filesystem::is_directory(input)) return compile_from_hf(input, out_path);
  return compile_from_gguf(input, out_path);
}

}  // namespace ironmill::engine
