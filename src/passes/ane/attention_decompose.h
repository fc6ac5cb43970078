// ane-attention-decompose: scaled_dot_product_attention -> matmul(Q, Kᵀ) · (1/√d) [+ mask] -> softmax
// -> matmul(·, V). The ANE's own SDPA ignores masks, so the mask becomes an explicit add (a bool mask
// becomes select(mask, 0, −inf)). d is read from the query's last dimension (ironmill falls back to a
// hard-coded 64 when an attribute is missing, a bug we do not copy). With `causal`, an unmasked SDPA
// gets an explicit lower-triangular mask.
#pragma once
#include "passes/pass.h"

namespace ironmill::passes::ane {

class AttentionDecomposePass final : public Pass {
 public:
  explicit AttentionDecomposePass(bool causal = false) : causal_(causal) {}
  std::string name() const override { return "ane-attention-decompose"; }
  Result<bool> run(mil::Program& program) override;

 private:
  bool causal_;
};

}  // namespace ironmill::passes::ane
