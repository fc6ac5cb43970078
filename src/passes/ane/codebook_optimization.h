// ane-codebook-optimization: palettizes the weights of conv / linear / matmul ops — each float const
// weight of at least `min_elements` elements becomes constexpr_lut_to_dense over a 2^bits-entry 1-D
// k-means codebook (weight_compression.h), the ANE's cheapest weight storage (it decompresses LUT
// weights on load; anchors.md §6). ironmill's pass of this name fuses RVQ gathers into a codebook
// gather op that MIL lacks; palettization is the codebook optimization MIL can express (issue 7).
// Idempotent: a palettized weight is no longer a float const.
#pragma once
#include <cstdint>

#include "passes/pass.h"

namespace ironmill::passes::ane {

class CodebookOptimizationPass final : public Pass {
 public:
  // bits in {1, 2, 4, 6, 8}.
  explicit CodebookOptimizationPass(int bits = 4, int64_t min_elements = 1024) : bits_(bits), min_elements_(min_elements) {}
  std::string name() const override { return "ane-codebook-optimization"; }
  Result<bool> run(mil::Program& program) override;

 private:
  int bits_;
  int64_t min_elements_;
};

}  // namespace ironmill::passes::ane
