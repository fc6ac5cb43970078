#include "passes/ane/pipeline.h"

#include "passes/ane/attention_decompose.h"
#include "passes/ane/layout.h"
#include "passes/ane/matmul_to_conv.h"
#include "passes/ane/mixed_precision.h"
#include "passes/ane/op_substitution.h"

namespace ironmill::passes::ane {

PassManager make_ane_pipeline(const LoweringOptions& o) {
  PassManager pm;
  pm.add(std::make_unique<OpSubstitutionPass>())
      .add(std::make_unique<AttentionDecomposePass>(o.causal_attention))
      .add(std::make_unique<MatmulToConvPass>())
      .add(std::make_unique<OpSplittingPass>(o.memory_budget))
      .add(std::make_unique<MixedPrecisionPass>())
      .add(std::make_unique<ExplicitInputsPass>(o.explicit_inputs))
      .add(std::make_unique<LayoutPass>());
  return pm;
}

}  // namespace ironmill::passes::ane
