// The MIL IR: Program -> Function (opset) -> Block -> Operation, values referred to by SSA name.
// Mirrors MIL.proto (reference/coreml-format.md §3) so the proto writer and the text printer are 1:1.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mil/tensor.h"
#include "mil/type.h"
#include "util/status.h"

namespace ironmill::mil {

// A weight stored in a MIL blob file (weight.bin); `offset` is the blob *metadata* offset.
struct BlobFileRef {
  std::string path;
  uint64_t offset = 0;
  bool operator==(const BlobFileRef&) const = default;
};

// A weight that lives in a mapped external file (SafeTensors/GGUF) and is materialised on first use,
// so a large model is never copied twice.
class LazyTensorSource {
 public:
  virtual ~LazyTensorSource() = default;
  virtual Result<Tensor> load() const = 0;
  virtual std::string describe() const = 0;  // e.g. "model.safetensors:layers.0.wq"
};

// A constant: an immediate tensor, a blob reference, a lazily loaded external tensor, or a
// tuple / list / dict of constants. `type` is always set.
struct Value {
  struct Tuple { std::vector<Value> elems; };
  struct List { std::vector<Value> elems; };
  struct Dict { std::vector<std::pair<Value, Value>> items; };
  Type type;
  std::variant<Tensor, BlobFileRef, std::shared_ptr<const LazyTensorSource>, Tuple, List, Dict> data;

  static Value of(Tensor t) {
    Value v;
    v.type = Type::tensor(t.dtype(), t.shape());
    v.data = std::move(t);
    return v;
  }
  bool is_tensor() const { return std::holds_alternative<Tensor>(data); }
  const Tensor& tensor() const { return std::get<Tensor>(data); }
};

// One binding inside an argument: a reference to an earlier value, or an inline constant.
struct Binding {
  std::string name;            // set when bound to a value
  std::optional<Value> value;  // set when bound inline
  static Binding ref(std::string n) { Binding b; b.name = std::move(n); return b; }
  static Binding constant(Value v) { Binding b; b.value = std::move(v); return b; }
  bool is_ref() const { return !value.has_value(); }
};

// An input argument. Several bindings only for variadic (tuple) parameters like concat `values`.
struct Argument {
  std::vector<Binding> bindings;
  bool is_tuple = false;  // printed as `(a, b)` even with one element
};

struct NamedType {
  std::string name;
  Type type;
};

struct Block;

struct Operation {
  std::string type;                          // op name, e.g. "conv"
  std::map<std::string, Argument> inputs;    // sorted: the printer lists params alphabetically, like Core ML
  std::vector<NamedType> outputs;
  std::vector<Block> blocks;                 // cond: [true, false]; while_loop: [cond, body]
  std::map<std::string, Value> attributes;   // always "name"; const: "val"; iOS16/17 constexpr params

  std::string name() const;                  // attributes["name"] or the first output name
  const Argument* input(const std::string& n) const {
    auto it = inputs.find(n);
    return it == inputs.end() ? nullptr : &it->second;
  }
};

struct Block {
  std::vector<NamedType> inputs;             // only nested blocks have inputs
  std::vector<Operation> operations;         // topologically sorted
  std::vector<std::string> outputs;          // names returned
};

struct Function {
  std::string name = "main";
  std::string opset = "ios18";               // text tag: ios15..ios18
  std::vector<NamedType> inputs;
  Block body;
  std::map<std::string, Value> attributes;
};

struct Program {
  std::string text_version = "1.3";          // "1.0" or "1.3": picks the MIL text dialect
  std::vector<Function> functions;           // in declaration order
  std::map<std::string, Value> attributes;   // e.g. buildInfo

  bool legacy_text() const { return text_version == "1.0"; }
  const Function* function(const std::string& name) const;
  Function* function(const std::string& name);
  size_t op_count() const;  // all operations including nested blocks
};

// ios15 -> 15 ... ios18 -> 18; nullopt for an unknown tag.
std::optional<int> opset_version(const std::string& tag);
// "CoreML5".."CoreML8" <-> "ios15".."ios18"
std::optional<std::string> opset_tag_from_proto(const std::string& proto_opset);
std::string opset_proto_from_tag(const std::string& tag);

}  // namespace ironmill::mil
