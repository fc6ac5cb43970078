// The ANE lowering pipeline, in order: op substitution, attention decomposition, matmul -> 1×1 conv,
// op splitting under the memory budget, fp16 precision, explicit required inputs, [1,C,1,S] I/O layout.
#pragma once
#include <cstdint>

#include "passes/ane/explicit_inputs.h"
#include "passes/ane/op_splitting.h"
#include "passes/pass.h"

namespace ironmill::passes::ane {

struct LoweringOptions {
  uint64_t memory_budget = kDefaultMemoryBudget;
  bool causal_attention = false;  // add an explicit causal mask to unmasked attention
  OpInputList explicit_inputs = default_explicit_inputs();
};

PassManager make_ane_pipeline(const LoweringOptions& options = {});

}  // namespace ironmill::passes::ane
