// ane-per-expert-quantization: compresses a mixture-of-experts model's weights expert by expert
// (ironmill-notes §3.3 PerExpertQuantPass): rarely routed experts can take fewer bits than hot ones.
// A weight const belongs to expert E when its name contains `experts.E.` or `experts_E_` (HF tensor
// naming); `shared_expert` in the name marks the shared expert(s). Config as ironmill's JSON:
//   {"shared_strategy": "fp16", "default_strategy": "int8",
//    "experts": [{"expert_id": 0, "strategy": "fp16|int8|palettize_4bit|palettize_2bit|none", "activation_frequency": f}]}
// Weights of neither kind are left alone. Idempotent: a compressed weight is no longer a float const
// (and fp16 rounding of fp16-exact values changes nothing).
#pragma once
#include <map>
#include <optional>

#include "passes/ane/weight_compression.h"
#include "passes/pass.h"

namespace ironmill::passes::ane {

struct PerExpertConfig {
  WeightStrategy shared = WeightStrategy::kFp16;
  WeightStrategy default_strategy = WeightStrategy::kFp16;  // experts not listed
  std::map<int64_t, WeightStrategy> experts;
  std::map<int64_t, double> activation_frequency;  // informational (carried from the config)
};
Result<PerExpertConfig> parse_per_expert_config(const std::string& json_text);

// The expert id in a tensor/op name, -1 for a shared expert, nullopt for neither.
std::optional<int64_t> expert_of(const std::string& name);

class PerExpertQuantizationPass final : public Pass {
 public:
  explicit PerExpertQuantizationPass(PerExpertConfig config) : config_(std::move(config)) {}
  std::string name() const override { return "ane-per-expert-quantization"; }
  Result<bool> run(mil::Program& program) override;

 private:
  PerExpertConfig config_;
};

}  // namespace ironmill::passes::ane
