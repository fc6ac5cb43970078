// ane-op-substitution: rewrites ops the ANE compiler rejects (or has not been shown to accept) into
// chains of ops it accepts, keeping the semantics (checked against the reference interpreter):
//   gelu          -> 0.5·x·(1 + erf(x/√2))  (EXACT; erf is eval-verified on the ANE), or the tanh /
//                    sigmoid forms for the approximate modes
//   mul(a, sigmoid(a)) -> silu(a)
//   mod(x, y)     -> x − floor_div(x, y)·y
//   sinh / cosh   -> (exp(x) ∓ exp(−x)) / 2
//   sin / cos / tan -> range reduction to [−π, π] (round) + odd Taylor polynomial to r^15; tan = sin/cos
//   asin / acos   -> atan(x / sqrt(1 − x²)), π/2 − asin
//   logical_and / or / xor -> cast to fp16, mul / maximum / not_equal
//   batch_norm (constant statistics) -> mul + add with folded scale and shift
// (`neg` is not a MIL op: MIL programs spell it mul(x, −1) already.)
#pragma once
#include "passes/pass.h"

namespace ironmill::passes::ane {

class OpSubstitutionPass final : public Pass {
 public:
  std::string name() const override { return "ane-op-substitution"; }
  Result<bool> run(mil::Program& program) override;
};

}  // namespace ironmill::passes::ane
