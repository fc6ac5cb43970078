// ane-layer-schedule: one weight strategy per layer kind (ironmill-notes §3.3 LayerSchedulePass,
// TOML `[layer_strategies] attention = "fp16", ffn = "int8", ...`). Kinds come from the graph, not
// from names: remove every weighted op (conv / linear / matmul with a const operand) and group the
// remaining ops into connected components; a weighted op whose input or output component holds a
// softmax is `attention` (q/k/v/o projections), else one next to an activation (relu, silu, gelu,
// sigmoid, tanh, ...) is `ffn`, else a conv is `conv` and anything else `other`. Norm weights (the
// const scale of layer_norm / batch_norm / instance_norm / rms-style mul after rsqrt) are `norm`.
// The strategy is applied to the const weights as in weight_compression.h. Idempotent.
#pragma once
#include <map>
#include <string>

#include "passes/ane/weight_compression.h"
#include "passes/pass.h"

namespace ironmill::passes::ane {

struct LayerStrategies {
  WeightStrategy attention = WeightStrategy::kNone, ffn = WeightStrategy::kNone, conv = WeightStrategy::kNone,
                 norm = WeightStrategy::kNone, other = WeightStrategy::kNone;
};
// "attention=fp16,ffn=int8,..." (keys conv, attention, ffn, norm, other).
Result<LayerStrategies> parse_layer_strategies(const std::string& spec);

// Kind of each weighted op (by op name) in `f`: attention | ffn | conv | norm | other.
std::map<std::string, std::string> classify_layers(const mil::Function& f);

class LayerSchedulePass final : public Pass {
 public:
  explicit LayerSchedulePass(LayerStrategies s) : s_(s) {}
  std::string name() const override { return "ane-layer-schedule"; }
  Result<bool> run(mil::Program& program) override;

 private:
  LayerStrategies s_;
};

}  // namespace ironmill::passes::ane
