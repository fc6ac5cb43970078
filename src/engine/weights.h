// Where the engine's weights come from: a SafeTensors checkpoint (fp32 / fp16 / bf16 tensors) or a GGUF
// file (F32 / F16 / BF16 / Q4_0 / Q8_0 / Q4_K / Q6_K) or a .ironml-gpu bundle of those formats, looked up by
// Hugging Face tensor name. Matrices are handed to the kernels in their stored format, over the mapped file
// (no dequantized copy); small vectors (norm weights, biases) are widened to fp32 copies.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/kernels/kernels.h"
#include "formats/hf/model_config.h"
#include "util/status.h"

namespace ironmill::engine {

class WeightStore {
 public:
  virtual ~WeightStore() = default;
  virtual std::string describe() const = 0;
  virtual bool has(const std::string& hf_name) const = 0;
  // A [rows, cols] matrix in its stored format; an error names the tensor when missing or mis-shaped.
  virtual Result<WeightMatrix> matrix(const std::string& hf_name, int64_t rows, int64_t cols) const = 0;
  // An fp32 copy of a tensor of n elements.
  virtual Result<std::vector<float>> vector(const std::string& hf_name, int64_t n) const = 0;
  // GGUF arch "llama" stores q/k rows permuted to interleaved RoPE pairs (llama.cpp's layout): the engine
  // then rotates (2i, 2i+1) pairs instead of un-permuting the rows.
  virtual bool qk_rows_interleaved() const { return false; }
};

struct LoadedWeights {
  formats::hf::ModelConfig config;
  std::unique_ptr<WeightStore> store;
};

// A model directory (config.json + SafeTensors), a .gguf file (config from its metadata), or a
// NAME.ironml-gpu bundle directory (config from manifest.json's model_config; engine/bundle/gpu_bundle.h).
Result<LoadedWeights> load_weights(const std::string& path);
bool is_gpu_bundle_path(const std::string& path);  // named *.ironml-gpu (the loader then reports what is missing)

}  // namespace ironmill::engine
