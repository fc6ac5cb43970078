// Multi-component Core ML models in the style of ANEMLL and candle-coreml: a JSON model config names
// each component's package (embeddings, transformer chunks, LM head) with its input/output tensor
// shapes; the runner chains them by tensor name and stitches an LM head split into `logits1..N`
// (needed when the vocabulary exceeds 65,536) back into one logits tensor along the last axis.
//
// Config (schema ironmill.coreml-components/1), paths relative to the config file:
//   {"schema": "ironmill.coreml-components/1",
//    "components": [{"name": "embeddings", "role": "embeddings", "package": "emb.mlpackage",
//                    "function": "",               // optional: one function of a multi-function package
//                    "inputs": {"input_ids": [1, 8]}, "outputs": {"hidden": [1, 8, 64]}}, ...]}
// role is one of embeddings | transformer | lm_head; components run in the listed order.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "mil/ir.h"

namespace ironmill::backends::coreml {

struct ComponentSpec {
  std::string name, role, package, function;
  std::map<std::string, mil::Shape> inputs, outputs;  // declared tensor shapes (checked at run time)
};

struct MultiComponentConfig {
  std::vector<ComponentSpec> components;
};

Result<MultiComponentConfig> load_component_config(const std::string& path);
Status write_component_config(const std::string& path, const MultiComponentConfig& config);

class MultiComponentModel {
 public:
  static Result<std::unique_ptr<MultiComponentModel>> open(const std::string& config_path);
  // Runs every component in order. Returns all tensors produced; an LM head split into logits1..N is
  // also returned stitched as "logits".
  Result<NamedValues> run(const NamedValues& inputs);

 private:
  struct Loaded {
    ComponentSpec spec;
    std::unique_ptr<Executable> exe;
  };
  std::vector<Loaded> components_;
};

// An LM head program: `hidden` [.., D] x weight [V, D] -> logits1..N, the vocabulary cut into `parts`
// near-equal slices (N = parts; parts = 1 gives a single `logits` output). Weights go to weight.bin.
Result<mil::Program> split_lm_head_program(const mil::Type& hidden_type, const mil::Tensor& weight, int parts,
                                           const std::string& opset = "ios18");

// Concatenates logits1..N (numeric order) along the last axis; error if a part is missing or shapes differ.
Result<mil::Tensor> stitch_logits(const NamedValues& outputs);

}  // namespace ironmill::backends::coreml
