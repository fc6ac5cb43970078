// The `.mlpackage` directory (coreml-format.md §4.1–4.2): Manifest.json (UUID item entries),
// Data/com.apple.CoreML/model.mlmodel and Data/com.apple.CoreML/weights/weight.bin. Pure file layout:
// the bytes of the model and the weights come from the caller.
#pragma once
#include <optional>
#include <string>

#include "util/status.h"

namespace ironmill::formats::coreml {

inline constexpr const char* kPackageAuthor = "com.apple.CoreML";
inline constexpr const char* kModelFileName = "model.mlmodel";
inline constexpr const char* kWeightsDirName = "weights";
inline constexpr const char* kWeightsFileName = "weight.bin";
inline constexpr const char* kWeightsBlobPath = "@model_path/weights/weight.bin";

struct PackageContents {
  std::string model_bytes;             // serialized CoreML.Specification.Model
  std::optional<std::string> weights;  // weight.bin, when the model has blob weights
};

// Writes the package atomically: everything goes to a temporary sibling directory that is renamed over
// `dir` at the end, so a failure leaves no partial package (and an existing package is replaced whole).
Status write_package(const std::string& dir, const PackageContents& contents);

// Writes a bare `.mlmodel` file atomically (temp sibling + rename).
Status write_model_file(const std::string& path, const std::string& model_bytes);

struct PackageLayout {
  std::string model_path;     // absolute or relative to cwd, like `dir`
  std::string weights_dir;    // "" when the manifest has no weights item
  std::string root_identifier;
};

// Reads Manifest.json: checks fileFormatVersion, every item's four keys and that its path exists,
// and finds the root model. Errors name the manifest and the key.
Result<PackageLayout> read_package_layout(const std::string& dir);

// A random RFC 4122 version-4 UUID, uppercase (what macOS writes).
std::string make_uuid();

}  // namespace ironmill::formats::coreml
