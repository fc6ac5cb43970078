// The .ironml-gpu bundle of the decode engine (ironmill-notes §4.3's layout, with the weights kept in the
// engine's stored formats so nothing is repacked at load time):
//   NAME.ironml-gpu/
//     manifest.json   {"format_version": 1, "engine": "ironmill-cpu", "row_alignment": 64, "source": ...,
//                      "tensors": {name: {"format": "q4_0"|"f16"|..., "shape": [...], "rows", "cols",
//                                         "row_stride", "file", ["scales_file", "zeros_file", "group_size"]}}}
//     config.json     the model's config (HF config.json verbatim; for a GGUF source, its scalar metadata)
//     weights/<sanitized name>.bin    rows of `row_stride` bytes (the packed row zero-padded to 64 bytes)
//     weights/<sanitized name>.scale / .zeros   fp32 (int8 per-channel / int4 per-group)
//   manifest.json also holds "model_config" (the HF config.json object the engine parses; for a GGUF source
//   it is rebuilt from the GGUF metadata as the template path does), "tensor_names" ("hf" or "gguf": which
//   naming the tensors keep) and "qk_rows_interleaved" (GGUF arch "llama": q/k rows in llama.cpp's rope
//   order). An HF source also gets its tokenizer files copied (tokenizer.json, tokenizer_config.json, ...), a
//   GGUF source a tensor-less copy of its metadata as tokenizer.gguf (vocabulary, chat template).
// Sanitized name: '.' and '/' become '_'. A tensor of shape [..., cols] is a matrix of prod(...) rows.
// Written atomically (temp sibling directory + rename); read through memory maps, every size checked.
#pragma once
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/kernels/kernels.h"
#include "util/status.h"

namespace ironmill::engine {

struct BundleTensorSource {
  std::string name;
  WeightFormat format = WeightFormat::kF32;
  std::vector<int64_t> shape;     // row-major, last dim = cols
  const uint8_t* data = nullptr;  // rows * weight_row_bytes(format, cols), packed
  const float* scales = nullptr;  // kInt8PerChannel: [rows]; kInt4PerGroup: [rows, ceil(cols / group)]
  const float* zeros = nullptr;   // kInt4PerGroup
  int64_t group_size = 0;
};

// What the engine needs besides the tensors (manifest fields model_config / tensor_names / qk_rows_interleaved).
struct BundleModelInfo {
  std::string model_config_json;  // empty: no model_config field
  std::string tensor_names = "hf";
  bool qk_rows_interleaved = false;
  std::vector<std::pair<std::string, std::string>> extra_files;  // (source path, name in the bundle root)
};

Status write_gpu_bundle(const std::string& path, std::string_view config_json, std::string_view source,
                        const std::vector<BundleTensorSource>& tensors, const BundleModelInfo& model = {});

struct LoadedBundle {
  std::string config_json;
  std::string source;
  std::map<std::string, std::vector<int64_t>> shapes;
  std::map<std::string, WeightMatrix> weights;  // views into the maps (keep_alive holds them)
  std::string model_config_json;                // manifest model_config, re-serialized; empty when absent
  std::string tensor_names = "hf";
  bool qk_rows_interleaved = false;
};
Result<LoadedBundle> open_gpu_bundle(const std::string& path);

// `ironmill compile INPUT --runtime gpu`: INPUT is a .gguf (F32/F16/BF16/Q4_0/Q8_0/Q4_K/Q6_K kept as stored,
// other ggml types dequantized to F32) or an HF checkpoint directory (F32/F16/BF16 SafeTensors).
Status compile_gpu_bundle(const std::string& input, const std::string& out_path);

std::string sanitize_tensor_name(std::string_view name);
std::optional<WeightFormat> weight_format_from_name(std::string_view name);

}  // namespace ironmill::engine
