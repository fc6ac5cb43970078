// The one list of ONNX ops (default domain, opsets 1-17) we do not convert, each with its reason.
// check_node() consults it before looking for a lowering, so a model using one of these fails at
// import naming the node and the reason.
#include "frontends/onnx/onnx_importer.h"

namespace ironmill::frontends::onnx {

const std::vector<UnsupportedOp>& unsupported_onnx_ops() {
  static const std::vector<UnsupportedOp> table = {
      // Control flow and non-tensor values.
      {"Loop", "control flow with a run-time trip count / condition: MIL has while_loop, but Loop bodies are not converted (If and Scan are, by inlining)"},
      {"SequenceConstruct", "sequence values: MIL lists are not targeted by the converter"},
      {"SequenceEmpty", "sequence values: MIL lists are not targeted by the converter"},
      {"SequenceInsert", "sequence values: MIL lists are not targeted by the converter"},
      {"SequenceAt", "sequence values: MIL lists are not targeted by the converter"},
      {"SequenceErase", "sequence values: MIL lists are not targeted by the converter"},
      {"SequenceLength", "sequence values: MIL lists are not targeted by the converter"},
      {"SequenceMap", "sequence values with a subgraph: not implemented"},
      {"SplitToSequence", "sequence values: MIL lists are not targeted by the converter"},
      {"ConcatFromSequence", "sequence values: MIL lists are not targeted by the converter"},
      {"Optional", "optional values: no MIL equivalent"},
      {"OptionalGetElement", "optional values: no MIL equivalent"},
      {"OptionalHasElement", "optional values: no MIL equivalent"},
      // Strings.
      {"StringNormalizer", "string tensors: MIL has no string tensor ops"},
      {"TfIdfVectorizer", "string/n-gram featurizer: no MIL equivalent"},
      // Training-only ops (the training losses and the Adagrad/Adam/Momentum updates are converted: see
      // lowering_loss.cc, lowering_misc.cc).
      {"Gradient", "gradient op (ai.onnx.preview.training): not an inference op"},
      // Randomness: outputs cannot match a fixed expectation.
      {"Bernoulli", "random sampling: MIL random ops use their own generator, results are not reproducible"},
      {"RandomNormal", "random sampling: results are not reproducible"},
      {"RandomNormalLike", "random sampling: results are not reproducible"},
      {"RandomUniform", "random sampling: results are not reproducible"},
      {"RandomUniformLike", "random sampling: results are not reproducible"},
      {"Multinomial", "random sampling: results are not reproducible"},
      // Signal processing.
      {"MelWeightMatrix", "signal-processing generator (mel filter bank): not implemented"},
      // Ops without a MIL counterpart (and no decomposition written yet).
      {"Unique", "data-dependent output shapes (four outputs): no MIL op"},
      {"NonMaxSuppression", "MIL non_maximum_suppression returns padded boxes, not ONNX's [N,3] selected indices"},
      {"RoiAlign", "MIL crop_resize sampling differs from ONNX RoiAlign (sampling_ratio averaging)"},
      {"LpPool", "MIL has l2_pool only; general p not implemented"},
      {"GlobalLpPool", "MIL has l2_pool only; general p not implemented"},
      {"LpNormalization", "not implemented"},
      {"ImageScaler", "experimental op removed from ONNX"},
  };
  return table;
}

}  // namespace ironmill::frontends::onnx
