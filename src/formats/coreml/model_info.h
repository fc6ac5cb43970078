// What a Core ML model carries besides the MIL program: specification version, metadata, and the model
// description's flexible shapes. The writer derives everything else in the description (feature names,
// multi-array dtypes and shapes, states, functions) from the program, so (Program, ModelInfo) is a
// complete, lossless view of the models we write.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mil/tensor.h"

namespace ironmill::formats::coreml {

// An input's shape flexibility (ArrayFeatureType.ShapeFlexibility). Exactly one of the two is used.
struct ShapeFlexibility {
  mil::Shape default_shape;                              // ArrayFeatureType.shape
  std::vector<mil::Shape> enumerated;                    // enumeratedShapes
  std::vector<std::pair<int64_t, int64_t>> ranges;       // shapeRange: [lower, upper], upper -1 = unbounded
};

struct ModelMetadata {
  std::string short_description, version, author, license;
  std::map<std::string, std::string> user_defined;
  bool empty() const {
    return short_description.empty() && version.empty() && author.empty() && license.empty() && user_defined.empty();
  }
  bool operator==(const ModelMetadata&) const = default;
};

struct ModelInfo {
  int spec_version = 0;  // 0 = the lowest version (6..9) that can hold the program
  ModelMetadata metadata;
  std::map<std::string, ShapeFlexibility> flexible_inputs;   // by feature name
  std::map<std::string, std::string> feature_descriptions;   // feature name -> shortDescription
  // Multi-function description (ModelDescription.functions). Set for programs with several functions;
  // empty default_function with one function = the single-function layout.
  std::string default_function;
};

// specificationVersion <-> MIL opset tag: 6 ios15, 7 ios16, 8 ios17, 9 ios18.
inline int spec_for_opset(int opset) { return opset - 9; }
inline int opset_for_spec(int spec) { return spec + 9; }

}  // namespace ironmill::formats::coreml
