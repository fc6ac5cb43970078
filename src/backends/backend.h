// The backend interface (DESIGN.md §Backends): capability first, separate from execution.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "mil/ir.h"
#include "mil/tensor.h"
#include "util/status.h"

namespace ironmill::backends {

// A runtime value flowing between ops: tensors, plus the few non-tensor kinds MIL has.
struct ListValue {
  mil::Type elem_type;
  std::vector<mil::Tensor> items;
  bool dynamic_length = true;
};
struct StateValue {
  std::shared_ptr<mil::Tensor> tensor;  // shared: write_state mutates what read_state sees
};
struct DictValue {
  std::vector<std::pair<mil::Tensor, mil::Tensor>> items;  // scalar key -> scalar value
};
using RtValue = std::variant<mil::Tensor, ListValue, StateValue, DictValue>;
using NamedValues = std::map<std::string, RtValue>;

struct SupportVerdict {
  bool supported = false;
  std::string reason;  // why not (or which rule allowed it)
};

class Executable {
 public:
  virtual ~Executable() = default;
  virtual Result<NamedValues> run(const NamedValues& inputs) = 0;
};

struct CompileOptions {
  std::string function = "main";
  // Resolves BLOBFILE references (path as written in the program, metadata offset, declared type).
  std::function<Result<mil::Tensor>(const mil::BlobFileRef&, const mil::Type&)> blob_resolver;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual SupportVerdict supports(const mil::Operation& op, int opset) const = 0;
  virtual Result<std::unique_ptr<Executable>> compile(const mil::Program& program, const CompileOptions& options) = 0;
};

// Backends by name ("reference", later "coreml", "ane", "engine").
Result<std::unique_ptr<Backend>> make_backend(const std::string& name);
std::vector<std::string> backend_names();

}  // namespace ironmill::backends
