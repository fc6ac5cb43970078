// ane-explicit-inputs: binds inputs the ANE compiler needs spelled out even though MIL gives them
// defaults — `epsilon` of rsqrt / log / inverse (without it the compiler rejects the op, ironmill's
// "epsilon discovery", ironmill-notes.md §5.2), `axes` / `epsilon` of layer_norm, `axis` of softmax.
// The bound value is the MIL default, so semantics do not change.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "passes/pass.h"

namespace ironmill::passes::ane {

using OpInputList = std::vector<std::pair<std::string, std::string>>;  // (op, input)
OpInputList default_explicit_inputs();

class ExplicitInputsPass final : public Pass {
 public:
  explicit ExplicitInputsPass(OpInputList list = default_explicit_inputs()) : list_(std::move(list)) {}
  std::string name() const override { return "ane-explicit-inputs"; }
  Result<bool> run(mil::Program& program) override;

 private:
  OpInputList list_;
};

}  // namespace ironmill::passes::ane
