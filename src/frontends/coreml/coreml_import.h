// Core ML model files -> MIL: `.mlpackage` directories and bare `.mlmodel` files holding an ML Program.
// The inverse of formats/coreml/model_writer.h: reading what we wrote and writing it again gives the
// same protobuf bytes and the same weight.bin.
#pragma once
#include <memory>
#include <string>

#include "Model.pb.h"
#include "formats/coreml/milblob.h"
#include "formats/coreml/model_info.h"
#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::frontends::coreml {

struct ImportOptions {
  // true: blob constants become zero-copy tensor views over the mapped weight.bin (sub-byte ones are
  // unpacked); false: they stay BLOBFILE references, resolved later through `weights`.
  bool materialize_blobs = true;
};

struct CoreMLModel {
  mil::Program program;
  formats::coreml::ModelInfo info;
  CoreML::Specification::Model proto;                     // as parsed
  std::shared_ptr<formats::coreml::BlobReader> weights;   // null when the model has no weight file
  std::string model_path;                                 // the .mlmodel inside (or the file itself)
  std::string weights_path;
  // Resolves BLOBFILE(@model_path/weights/weight.bin, offset) against `weights`.
  Result<mil::Tensor> resolve_blob(const mil::BlobFileRef& ref, const mil::Type& type) const;
};

// Reads an `.mlpackage` directory or an `.mlmodel` file (weights, if any, from `weights/` beside it).
Result<CoreMLModel> load_coreml(const std::string& path, const ImportOptions& options = {});

// Parses serialized Model bytes; `weights` may be null. `name` is used in errors.
Result<CoreMLModel> import_model_bytes(const std::string& bytes, std::shared_ptr<formats::coreml::BlobReader> weights,
                                       const std::string& name, const ImportOptions& options = {});

}  // namespace ironmill::frontends::coreml
