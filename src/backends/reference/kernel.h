// Reference interpreter kernels: one function per op, registered per family in kernels/<family>.cc.
// Numerics (DESIGN.md): fp32 storage, fp64 accumulation for reductions/norms/softmax; outputs are
// rounded to the op's declared output dtype (so fp16 ops round once, at the output).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "mil/ir.h"
#include "mil/op_registry.h"

namespace ironmill::backends::reference {

class KernelContext {
 public:
  virtual ~KernelContext() = default;
  virtual const mil::Operation& op() const = 0;
  virtual const mil::OpSchema& schema() const = 0;
  virtual int opset() const = 0;

  // True if the input was bound explicitly (defaults do not count).
  virtual bool has(const std::string& input) const = 0;
  // The input's value, or its schema default when unbound. Error if absent and no default.
  virtual Result<RtValue> value(const std::string& input) const = 0;
  virtual Result<mil::Tensor> tensor(const std::string& input) const = 0;
  virtual Result<std::vector<RtValue>> tuple(const std::string& input) const = 0;
  // Scalar / vector conveniences with clear errors.
  Result<int64_t> get_int(const std::string& input) const;
  Result<std::vector<int64_t>> get_ints(const std::string& input) const;
  Result<double> get_float(const std::string& input) const;
  Result<bool> get_bool(const std::string& input) const;
  Result<std::string> get_string(const std::string& input) const;

  // Declared output types (from the program / inference). Kernels produce tensors of these dtypes.
  virtual const std::vector<mil::NamedType>& outputs() const = 0;
  virtual void set_output(size_t index, RtValue value) = 0;

  // Runs nested block `index` with `inputs` bound to its block inputs; returns its outputs.
  virtual Result<std::vector<RtValue>> run_block(size_t index, const std::vector<RtValue>& inputs) = 0;

  Status error(const std::string& msg) const;  // "`op` (name): msg"
};

using KernelFn = std::function<Status(KernelContext&)>;

class KernelTable {
 public:
  static const KernelTable& get();
  const KernelFn* find(const std::string& op) const;
  void add(const std::string& op, KernelFn fn) { kernels_[op] = std::move(fn); }
  std::vector<std::string> names() const;

 private:
  KernelTable();
  std::map<std::string, KernelFn> kernels_;
};

#define IM_X(f) void register_##f##_kernels(KernelTable& t);
IM_OP_FAMILIES(IM_X)
#undef IM_X

// Shared helpers for kernels.
namespace kutil {
// Row-major strides of a shape.
std::vector<int64_t> strides_of(const mil::Shape& s);
// Broadcast index mapping: for each output element, the flat index into `in` (numpy broadcasting).
std::vector<int64_t> broadcast_index(const mil::Shape& out, const mil::Shape& in);
// Output dtype of output `i` of the op.
mil::DType out_dtype(const KernelContext& c, size_t i = 0);
// `axis` in [-rank, rank) made non-negative; otherwise the error "<what> <axis> out of range for rank <rank>".
Result<int64_t> normalize_axis(const KernelContext& c, int64_t axis, int64_t rank, const std::string& what = "axis");
// Advances a row-major coordinate within `shape`; after the last one it wraps to all zeros.
void next_coord(std::vector<int64_t>& coord, const mil::Shape& shape);
// Flat offset of a coordinate: the sum of coord[d] * strides[d].
int64_t flat_offset(const std::vector<int64_t>& coord, const std::vector<int64_t>& strides);
}  // namespace kutil

}  // namespace ironmill::backends::reference
