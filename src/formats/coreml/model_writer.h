// MIL program -> Core ML ML Program model (CoreML.Specification.Model with mlProgram), following the
// serialization conventions of coreml-format.md §1–3: specification versions 6–9, a model description
// derived from the program (multi-arrays, shape ranges / enumerated shapes, states, functions),
// metadata, large constants in weight.bin, iOS16/17 constexpr params as attributes and iOS18 ones as
// inline inputs (the IR already holds them that way). Serialization is deterministic (sorted maps), so
// writing the same program twice gives the same bytes.
#pragma once
#include <functional>
#include <string>

#include "Model.pb.h"
#include "formats/coreml/model_info.h"
#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::formats::coreml {

// Fetches the tensor behind a BLOBFILE reference of a program being re-written.
using BlobSource = std::function<Result<mil::Tensor>(const mil::BlobFileRef&, const mil::Type&)>;

struct WriteOptions {
  ModelInfo info;
  bool use_weight_file = true;  // false: every constant is immediate (bare .mlmodel)
  BlobSource blob_source;       // needed when the program holds BLOBFILE references
};

struct SerializedModel {
  CoreML::Specification::Model model;
  std::string model_bytes;
  std::optional<std::string> weights;  // weight.bin, when any constant went there
  int spec_version = 0;
};

// The lowest specification version that can hold `program` (and why), or an error when `requested`
// (non-zero) is too low.
Result<int> required_spec_version(const mil::Program& program, const ModelInfo& info, std::string* reason = nullptr);

Result<SerializedModel> serialize_model(const mil::Program& program, const WriteOptions& options);

// Deterministic bytes of a Model (map entries sorted by key).
std::string serialize_deterministic(const google::protobuf::MessageLite& message);

// serialize_model + write_package / write_model_file (atomic).
Status write_mlpackage(const std::string& dir, const mil::Program& program, const WriteOptions& options);
Status write_mlmodel(const std::string& path, const mil::Program& program, WriteOptions options);

}  // namespace ironmill::formats::coreml
