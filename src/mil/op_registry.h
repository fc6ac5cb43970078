// Op schemas: one per MIL op, built from ops/op_list.def. The schema says which inputs an op takes
// (dtype domains, constness, defaults), and holds the op's type inference and extra verification.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mil/dtype.h"
#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::mil {

enum class InputKind : uint8_t { kTensor, kTuple, kList, kState, kAny };

struct InputSpec {
  std::string name;
  InputKind kind = InputKind::kTensor;
  std::string domain;             // type-domain letter(s), e.g. "T"; empty when the dtype is fixed
  std::vector<DType> allowed;     // fixed dtype or the domain's members
  bool must_be_const = false;
  bool optional = false;
  std::optional<std::string> default_spec;  // raw default text from the signature ("1s", "-1", "F", ...)
};

// One signature of an op, valid from `since` on (a later variant replaces it).
struct OpVariant {
  int since = 15;
  std::vector<InputSpec> inputs;
  std::map<std::string, std::vector<DType>> domains;
  const InputSpec* input(const std::string& name) const;
};

class InferContext;
using InferFn = std::function<Result<std::vector<Type>>(InferContext&)>;

struct OpSchema {
  std::string name;
  std::string family;            // file in ops/ and reference/kernels/ that implements it
  int since = 15;
  std::vector<OpVariant> variants;  // ascending `since`
  InferFn infer;                 // set by the family's register function
  int num_blocks = 0;            // nested blocks (cond 2, while_loop 2)
  bool params_in_attributes_before_ios18 = false;  // iOS16/17 constexpr ops

  // The signature in force for a function of opset `opset` (15..18); null if the op is newer.
  const OpVariant* variant_for(int opset) const;
};

class OpRegistry {
 public:
  static const OpRegistry& get();
  const OpSchema* find(const std::string& name) const;
  const std::vector<const OpSchema*>& all() const { return ordered_; }  // alphabetical
  size_t size() const { return ordered_.size(); }
  std::vector<std::string> families() const;

  // Registration hooks used by ops/<family>.cc.
  OpSchema* mutable_schema(const std::string& name);

 private:
  OpRegistry();
  std::map<std::string, OpSchema> schemas_;
  std::vector<const OpSchema*> ordered_;
};

// Parses one signature string (grammar in op_list.def). Exposed for tests.
Result<OpVariant> parse_signature(int since, const std::string& signature, const std::string& domains);

// ---- Type inference context ------------------------------------------------------------------------

// What inference and verification can see of an operation: input types, constant values where
// they are known at compile time (const ops, inline values, defaults), and the opset.
class InferContext {
 public:
  using TypeLookup = std::function<const Type*(const std::string& name)>;
  using ConstLookup = std::function<const Value*(const std::string& name)>;
  InferContext(const Operation& op, const OpSchema& schema, const OpVariant& variant, int opset, TypeLookup types,
               ConstLookup consts);

  const Operation& op() const { return op_; }
  const OpSchema& schema() const { return schema_; }
  const OpVariant& variant() const { return variant_; }
  int opset() const { return opset_; }

  bool has(const std::string& input) const;  // bound explicitly (not via default)
  // Type of an input (explicit or defaulted); null if absent without default.
  const Type* type(const std::string& input) const;
  // Element types of a tuple input.
  std::vector<const Type*> tuple_types(const std::string& input) const;
  // Compile-time values of a tuple input's elements (null where an element is not a known constant).
  std::vector<const Value*> tuple_consts(const std::string& input) const;
  // Compile-time value of an input if known (explicit const, or default); null otherwise.
  const Value* const_value(const std::string& input) const;
  const Tensor* const_tensor(const std::string& input) const;
  // Convenience getters; fail with a message naming the op and input when the value is unknown.
  Result<int64_t> const_int(const std::string& input) const;
  Result<std::vector<int64_t>> const_ints(const std::string& input) const;
  Result<double> const_float(const std::string& input) const;
  Result<bool> const_bool(const std::string& input) const;
  Result<std::string> const_string(const std::string& input) const;

  // Tensor type of input `x` (error if absent or not a tensor).
  Result<Type> tensor_type(const std::string& input) const;
  // Builds "`conv` input `weight`: <msg>" errors.
  Status error(const std::string& input, const std::string& msg) const;
  Status op_error(const std::string& msg) const;

  // Nested blocks' output types (for cond / while_loop), filled by the verifier.
  std::vector<std::vector<Type>> block_output_types;

 private:
  const Operation& op_;
  const OpSchema& schema_;
  const OpVariant& variant_;
  int opset_;
  TypeLookup types_;
  ConstLookup consts_;
  mutable std::map<std::string, Value> defaults_;    // materialised defaults
  mutable std::map<std::string, Type> inline_types_;
};

// Materialises the default of `spec` for `op` (needs the other inputs' types for 1s/0s, dtypes...).
// Returns nullopt when the input has no default.
Result<std::optional<Value>> resolve_default(const InputSpec& spec, const InferContext& ctx);

// Registration functions implemented by each family file in ops/.
#define IM_OP_FAMILIES(X) \
  X(elementwise) X(activation) X(reduction) X(linalg) X(attention) X(conv) X(normalization) X(shape) \
  X(gather_scatter) X(image) X(recurrent) X(random) X(quantization) X(state) X(control)

#define IM_X(f) void register_##f##_ops(OpRegistry& r);
IM_OP_FAMILIES(IM_X)
#undef IM_X

// Shared inference helpers for the family files.
namespace infer {
// numpy broadcasting of two shapes (unknown dims propagate); error names both shapes.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);
// Normalises a possibly negative axis against `rank`; error when out of range.
Result<int64_t> normalize_axis(int64_t axis, int64_t rank);
// Output = same type as input `x`.
InferFn same_as(const std::string& input);
}  // namespace infer

}  // namespace ironmill::mil
