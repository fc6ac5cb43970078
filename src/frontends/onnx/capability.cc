// The one list of ONNX ops (default domain, opsets 1-17) we do not convert, each with its reason.
// check_node() consults it before looking for a lowering, so a model using one of these fails at
// import naming the node and the reason.
#include "frontends/onnx/onnx_importer.h"

namespace ironmill::frontends::onnx {

const std::vector<UnsupportedOp>& unsupported_onnx_ops() {
  static const std::vector<UnsupportedOp> table = {
      // Control flow and non-tensor values.
      {"If", "control flow with subgraphs: MIL has cond, but subgraph conversion is not implemented yet"},
      {"Loop", "control flow with subgraphs: MIL has while_loop, but subgraph conversion is not implemented yet"},
      {"Scan", "control flow with subgraphs: not implemented"},
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
      // Training-only ops.
      {"SoftmaxCrossEntropyLoss", "training loss: not an inference op"},
      {"NegativeLogLikelihoodLoss", "training loss: not an inference op"},
      {"Adagrad", "optimizer update (ai.onnx.preview.training): not an inference op"},
      {"Adam", "optimizer update (ai.onnx.preview.training): not an inference op"},
      {"Momentum", "optimizer update (ai.onnx.preview.training): not an inference op"},
      {"Gradient", "gradient op (ai.onnx.preview.training): not an inference op"},
      // Randomness: outputs cannot match a fixed expectation.
      {"Bernoulli", "random sampling: MIL random ops use their own generator, results are not reproducible"},
      {"RandomNormal", "random sampling: results are not reproducible"},
      {"RandomNormalLike", "random sampling: results are not reproducible"},
      {"RandomUniform", "random sampling: results are not reproducible"},
      {"RandomUniformLike", "random sampling: results are not reproducible"},
      {"Multinomial", "random sampling: results are not reproducible"},
      // Signal processing.
      {"DFT", "Fourier transform: MIL has no FFT op"},
      {"STFT", "Fourier transform: MIL has no FFT op"},
      {"MelWeightMatrix", "signal-processing generator: not implemented"},
      {"BlackmanWindow", "window generator: not implemented (int64 size input, fp64-sensitive)"},
      {"HammingWindow", "window generator: not implemented (int64 size input, fp64-sensitive)"},
      {"HannWindow", "window generator: not implemented (int64 size input, fp64-sensitive)"},
      // Integer-arithmetic quantized ops.
      {"ConvInteger", "integer-accumulating convolution: MIL conv is float-only"},
      {"MatMulInteger", "integer-accumulating matmul with uint8 zero points: not implemented"},
      {"QLinearConv", "quantized convolution with requantization: not implemented"},
      {"QLinearMatMul", "quantized matmul with requantization: not implemented"},
      {"DynamicQuantizeLinear", "dynamic quantization: not implemented"},
      {"BitShift", "bit shifts on unsigned integers: MIL has no shift op and computes integers as int32"},
      // Recurrent ops.
      {"RNN", "recurrent op: ONNX gate layout -> MIL rnn/gru/lstm mapping not implemented yet"},
      {"GRU", "recurrent op: ONNX gate layout -> MIL gru mapping not implemented yet (linear_before_reset differs)"},
      {"LSTM", "recurrent op: ONNX gate layout -> MIL lstm mapping not implemented yet"},
      // Ops without a MIL counterpart (and no decomposition written yet).
      {"Det", "matrix determinant: no MIL op"},
      {"Compress", "data-dependent output shape from a boolean mask: not implemented"},
      {"Unique", "data-dependent output shapes (four outputs): no MIL op"},
      {"MaxUnpool", "scatter by pooling indices: not implemented"},
      {"NonMaxSuppression", "MIL non_maximum_suppression returns padded boxes, not ONNX's [N,3] selected indices"},
      {"RoiAlign", "MIL crop_resize sampling differs from ONNX RoiAlign (sampling_ratio averaging)"},
      {"GridSample", "not implemented (MIL resample exists, mode/padding mapping not written)"},
      {"Resize", "not implemented yet (coordinate transformation modes need MIL resize/upsample mapping)"},
      {"Upsample", "deprecated; not implemented (see Resize)"},
      {"LpPool", "MIL has l2_pool only; general p not implemented"},
      {"GlobalLpPool", "MIL has l2_pool only; general p not implemented"},
      {"LpNormalization", "not implemented"},
      {"ImageScaler", "experimental op removed from ONNX"},
  };
  return table;
}

}  // namespace ironmill::frontends::onnx
