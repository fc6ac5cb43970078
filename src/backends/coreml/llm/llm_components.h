// A template model cut into multi-component Core ML programs (ANEMLL / candle-coreml style):
// embeddings (input_ids [T] -> hidden_0 [T, H]), transformer chunks (hidden_a -> hidden_b over layers
// a..b-1; the chunk holding the last layer also applies the final norm) and an LM head split into
// logits1..N (backends/coreml/multi_component.h). The cuts are taken from the template's prefill
// function (built with hidden states) by a backward slice from each component's outputs, so every
// component computes exactly what the single program computes for those values.
#pragma once
#include <string>
#include <vector>

#include "backends/coreml/llm/llm_package.h"
#include "mil/ir.h"

namespace ironmill::backends::coreml {

// The ops of `fn` needed to compute `outputs` from `inputs` (values of `fn`, which become the new
// function's inputs) as a one-function program named `name`. An output that needs a function input of
// `fn` not listed in `inputs` is an error naming it. `renames` renames values of the new function.
Result<mil::Program> extract_segment(const mil::Function& fn, const std::vector<std::string>& inputs,
                                     const std::vector<std::string>& outputs, const std::string& name,
                                     const std::map<std::string, std::string>& renames = {});

struct ComponentRequest {
  std::string role;             // embeddings | transformer | lm_head
  int64_t first_layer = 0;      // transformer: layers [first_layer, last_layer] (inclusive)
  int64_t last_layer = -1;      // -1: the last layer
  int lm_head_parts = 1;        // lm_head: logits1..N (1: a single `logits`)
};

// One component program and its I/O names. Tensor names: input_ids, hidden_<a> between components,
// `hidden` for the LM head's input (the normed output of the last layer), logits1..N / logits.
struct ComponentProgram {
  mil::Program program;
  std::vector<std::string> inputs, outputs;
};
Result<ComponentProgram> build_component(const templates::LoadedModel& model, const ComponentRequest& request,
                                         int64_t prefill_length, Precision precision);

// The name of the tensor that feeds layer `l` (hidden_<l>), or `hidden` after the last layer.
std::string boundary_tensor(const templates::LoadedModel& model, int64_t layer);

}  // namespace ironmill::backends::coreml
