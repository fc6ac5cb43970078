// ane-draft-verifier-split: the model split for speculative decoding (ironmill-notes §3.3
// ModelSplitPass): the verifier is the whole function, the draft the same network cut after its first
// `draft_layers` layers. Layer boundaries are the norm ops that open a layer, as ironmill finds them
// (repeated `layer_norm`), plus the RMS-norm form our templates emit (`reduce_mean` of `x * x` or
// `square(x)`); boundary i is the i-th such op in program order (0-based). The draft keeps every op the
// input of boundary `draft_layers` depends on and returns that value (the hidden state entering it,
// under its own name; `draft_hidden` when it is a function input); run it through the verifier's remaining layers or a draft head to get tokens.
// Adds functions `<function>_draft` and `<function>_verifier`; the original stays. Idempotent: once
// both exist nothing changes.
#pragma once
#include <cstdint>
#include <vector>

#include "passes/pass.h"

namespace ironmill::passes::ane {

// Indices (into f.body.operations) of the layer-boundary norm ops, in order.
std::vector<size_t> layer_boundaries(const mil::Function& f);

class DraftVerifierSplitPass final : public Pass {
 public:
  explicit DraftVerifierSplitPass(int64_t draft_layers, std::string function = "main")
      : draft_layers_(draft_layers), function_(std::move(function)) {}
  std::string name() const override { return "ane-draft-verifier-split"; }
  Result<bool> run(mil::Program& program) override;

 private:
  int64_t draft_layers_;
  std::string function_;
};

}  // namespace ironmill::passes::ane
