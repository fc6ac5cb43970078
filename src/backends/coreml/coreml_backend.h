// The `coreml` backend's Linux half (DESIGN.md §Backends): a runner that executes an ML Program the
// way a Core ML package holds it. compile() serializes the program to Core ML protobuf + weight.bin
// bytes (formats/coreml), reads those bytes back (frontends/coreml) and runs what was read, so every
// run exercises the package round trip. Numerics: the program's own dtypes (fp16 tensors stay fp16
// between ops, each op's result rounded once to its declared dtype), computed by the reference
// kernels. No Apple hardware or Core ML runtime is involved; results are emulated.
#pragma once
#include <memory>
#include <string>

#include "backends/backend.h"

namespace ironmill::backends::coreml {

class CoreMLBackend final : public Backend {
 public:
  std::string name() const override { return "coreml"; }
  // Core ML's capability: the op exists in the function's opset and has a kernel here. Model-level
  // limits (multi-array I/O dtypes, fp16-only states, spec versions) are checked by compile().
  SupportVerdict supports(const mil::Operation& op, int opset) const override;
  Result<std::unique_ptr<Executable>> compile(const mil::Program& program, const CompileOptions& options) override;
};

std::unique_ptr<Backend> make_coreml_backend();

// Loads an .mlpackage / .mlmodel from disk and prepares function `function` for running.
Result<std::unique_ptr<Executable>> load_package(const std::string& path, const std::string& function = "");

}  // namespace ironmill::backends::coreml
