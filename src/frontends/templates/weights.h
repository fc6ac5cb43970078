// Where a template's weights come from: tensors by Hugging Face name, with shapes checked against what
// the architecture expects, handed to the IR as lazily loaded fp32 constants (the checkpoint stays mapped;
// nothing is copied until a backend materialises the constant).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::templates {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::string describe() const = 0;                       // e.g. the checkpoint path
  virtual std::vector<std::string> names() const = 0;             // every tensor, sorted
  // How the file itself names tensor `name`, for messages (GGUF: "blk.1.attn_k.weight (HF name ...)").
  virtual std::string stored_name(const std::string& name) const { return name; }
  virtual std::optional<mil::Shape> shape(const std::string& name) const = 0;
  virtual std::optional<mil::DType> dtype(const std::string& name) const = 0;  // as stored
  // The tensor as an fp32 constant (lazy: loaded and widened on first use).
  virtual Result<mil::Value> fp32_constant(const std::string& name) const = 0;
  // The tensor itself, widened to fp32 now (for small tensors read at build time, e.g. norms fused in).
  virtual Result<mil::Tensor> fp32_tensor(const std::string& name) const = 0;
};

// A SafeTensors checkpoint: a .safetensors file, an index .json, or a directory holding one.
Result<std::unique_ptr<WeightSource>> open_safetensors_weights(const std::string& path);

}  // namespace ironmill::templates
