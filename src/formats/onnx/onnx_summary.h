// What `ironmill inspect model.onnx` shows: graph inputs/outputs, op histogram, parameter count.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "formats/onnx/onnx_model.h"

namespace ironmill::formats::onnx {

struct IoSummary {
  std::string name;
  std::string dtype;               // ONNX name, e.g. FLOAT, INT64
  std::vector<std::string> dims;   // numbers, symbolic names, or "?"
};

struct ModelSummary {
  int64_t ir_version = 0;
  int opset = 0;
  std::string producer;
  std::vector<IoSummary> inputs, outputs;  // inputs exclude initializers
  std::map<std::string, int64_t> op_histogram;  // op_type -> count (subgraphs included)
  int64_t node_count = 0;
  int64_t initializer_count = 0;
  int64_t parameter_count = 0;  // elements across all initializers
};

ModelSummary summarize(const OnnxModel& model);

}  // namespace ironmill::formats::onnx
