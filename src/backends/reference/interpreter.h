// The reference backend: executes every registered op with the oracle numerics (kernel.h).
#pragma once
#include <memory>

#include "backends/backend.h"

namespace ironmill::backends::reference {

class ReferenceBackend final : public Backend {
 public:
  std::string name() const override { return "reference"; }
  SupportVerdict supports(const mil::Operation& op, int opset) const override;
  Result<std::unique_ptr<Executable>> compile(const mil::Program& program, const CompileOptions& options) override;
};

// Materialises a constant Value (immediate, blob file, lazy external, list/dict) as a runtime value.
Result<RtValue> materialize(const mil::Value& v, const CompileOptions& options);

}  // namespace ironmill::backends::reference
