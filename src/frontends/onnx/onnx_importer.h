// ONNX graph -> mil::Program (function `main`). Capability (can this node be converted, and if not
// why) is decided by check_node() before any lowering runs, in the style of ONNX Runtime EPs; the
// ops we deliberately do not convert are listed once, with reasons, in unsupported_onnx_ops().
#pragma once
#include <map>
#include <string>
#include <vector>

#include "formats/onnx/onnx_model.h"
#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::frontends::onnx {

struct ImportOptions {
  std::string opset = "ios18";
  // Graph inputs bound to fixed values and converted as constants (e.g. a shape fed as an input).
  std::map<std::string, mil::Tensor> frozen_inputs;
};

struct IoInfo {
  std::string onnx_name;
  std::string mil_name;
  int onnx_dtype = 0;      // TensorProto.DataType of the ONNX value
  mil::Type type;          // its MIL type (int64 and other integers become int32)
};

struct ImportResult {
  mil::Program program;
  std::vector<IoInfo> inputs, outputs;
  // The model has fp64 values, converted as fp32 (MIL has no fp64 tensors; the same choice as coremltools).
  bool fp64_narrowed = false;
};

struct ImportError {
  Status status;
  // Graph inputs a node needed as constants (freeze them with ImportOptions::frozen_inputs to retry).
  std::vector<std::string> needs_constant;
};

// Converts a loaded model. On failure the status names the node and op type.
Result<ImportResult> import_model(const formats::onnx::OnnxModel& model, const ImportOptions& options = {},
                                  ImportError* error_detail = nullptr);

// Capability check for one node in a model of `opset`: empty string when convertible, else the reason.
std::string check_node(const ::onnx::NodeProto& node, int opset);

struct UnsupportedOp {
  const char* op_type;
  const char* reason;
};
// The one table of ONNX ops we do not convert, each with its reason.
const std::vector<UnsupportedOp>& unsupported_onnx_ops();
// ONNX op types with a lowering (sorted).
std::vector<std::string> converted_onnx_ops();

// The MIL element type a runtime ONNX value of `onnx_dtype` is carried in (fp64 as fp32); error when MIL
// cannot carry it.
Result<mil::DType> mil_dtype_for(int onnx_dtype);
// Narrows a tensor read from ONNX to the MIL dtype that carries it (int64 -> int32 saturating, fp64 -> fp32, ...).
Result<mil::Tensor> narrow_for_mil(const mil::Tensor& t);

}  // namespace ironmill::frontends::onnx
