// SafeTensors (huggingface/safetensors): reader over a memory map, sharded checkpoints through
// model.safetensors.index.json, and an atomic writer.
//
// File layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data region.
// The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
// the data region) plus an optional "__metadata__" object of string -> string.
//
// Checks (each error names the file, the tensor and the numbers involved):
//   - the file holds the 8-byte length; N <= ReadOptions::max_header_bytes (100 MB, the reference
//     implementation's limit) and 8 + N <= file size;
//   - the header is valid UTF-8 JSON, an object starting with '{', without duplicate keys;
//   - every entry has a known dtype, a shape of non-negative integers, and data_offsets [begin, end]
//     with begin <= end <= size of the data region;
//   - end - begin == numel(shape) * element size (no overflow on the way);
//   - no two tensors overlap;
//   - no gaps: the tensors cover the data region exactly, as the reference implementation requires.
//     With ReadOptions::allow_gaps a gap (or trailing bytes) is a warning instead (File::warnings()).
//   - unknown keys inside a tensor entry are warnings, not errors.
// Tensors are exposed as mil::Tensor views that share the mapping (no copy). A tensor whose bytes
// are not aligned to its element size (only possible in files not written by the reference writer,
// which pads the header to 8 bytes) is copied instead, so kernels may dereference typed pointers.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mil/dtype.h"
#include "mil/ir.h"
#include "mil/tensor.h"
#include "util/status.h"

namespace ironmill::formats::safetensors {

// (SafeTensors dtype name, mil dtype). One list drives both directions. The order is the reference
// crate's Dtype enum order, which fixes the writer's tensor order.
#define IM_SAFETENSORS_DTYPES(X) \
  X("BOOL", kBool)               \
  X("U8", kUint8)                \
  X("I8", kInt8)                 \
  X("F8_E5M2", kFp8E5M2)         \
  X("F8_E4M3", kFp8E4M3FN)       \
  X("I16", kInt16)               \
  X("U16", kUint16)              \
  X("F16", kFp16)                \
  X("BF16", kBf16)               \
  X("I32", kInt32)               \
  X("U32", kUint32)              \
  X("F32", kFp32)                \
  X("F64", kFp64)                \
  X("I64", kInt64)               \
  X("U64", kUint64)

std::optional<mil::DType> from_safetensors_dtype(std::string_view name);
// nullopt for mil dtypes SafeTensors cannot store (string, sub-byte ints).
std::optional<std::string_view> to_safetensors_dtype(mil::DType dtype);

struct TensorInfo {
  std::string name;
  mil::DType dtype = mil::DType::kFp32;
  mil::Shape shape;
  uint64_t begin = 0;  // data_offsets, relative to the start of the data region
  uint64_t end = 0;
  uint64_t nbytes() const { return end - begin; }
};

struct ReadOptions {
  uint64_t max_header_bytes = 100'000'000;
  bool allow_gaps = false;
};

// One .safetensors file, mapped. Cheap to copy (shared state).
class File {
 public:
  static Result<File> open(const std::string& path, const ReadOptions& options = {});
  // Parses bytes already in memory; `name` is used in messages.
  static Result<File> parse(std::shared_ptr<const mil::Buffer> bytes, std::string name,
                            const ReadOptions& options = {});

  const std::string& name() const;
  const std::vector<TensorInfo>& tensors() const;  // in data-offset order
  const TensorInfo* find(std::string_view tensor_name) const;
  const std::map<std::string, std::string>& metadata() const;  // "__metadata__"
  uint64_t data_start() const;                                 // 8 + header length
  const std::vector<std::string>& warnings() const;
  std::shared_ptr<const mil::Buffer> buffer() const;

  // A view over the mapped bytes (see the note on alignment above).
  Result<mil::Tensor> tensor(std::string_view tensor_name) const;
  // A lazily loaded constant for the IR; describe() is "<file>:<tensor>".
  Result<std::shared_ptr<const mil::LazyTensorSource>> lazy(std::string_view tensor_name) const;

  struct State;

 private:
  std::shared_ptr<const State> state_;
};

// A checkpoint: one file, or shards listed by a model.safetensors.index.json
// ({"metadata": {...}, "weight_map": {tensor: shard file name}}).
class Checkpoint {
 public:
  // `path` is a .safetensors file, an index .json, or a directory holding model.safetensors or
  // model.safetensors.index.json. Shards are opened (mapped) up front and fully validated; every tensor
  // named in the weight map must exist in its shard. Tensors present in a shard but absent from the
  // weight map are ignored with a warning (as transformers does); shard paths must stay inside the
  // index's directory.
  static Result<Checkpoint> open(const std::string& path, const ReadOptions& options = {});

  std::vector<std::string> tensor_names() const;  // sorted
  const TensorInfo* find(std::string_view tensor_name) const;
  Result<mil::Tensor> tensor(std::string_view tensor_name) const;
  Result<std::shared_ptr<const mil::LazyTensorSource>> lazy(std::string_view tensor_name) const;
  const std::vector<File>& files() const { return files_; }
  // The index's "metadata" object; non-string values are kept as their JSON text (e.g. total_size).
  const std::map<std::string, std::string>& index_metadata() const { return index_metadata_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::vector<File> files_;
  std::map<std::string, size_t, std::less<>> where_;  // tensor -> index into files_
  std::map<std::string, std::string> index_metadata_;
  std::vector<std::string> warnings_;
};

struct NamedTensor {
  std::string name;
  mil::Tensor tensor;
};

// Writes tensors (any dtype in the list above) in the reference layout, byte-identical to the
// safetensors library: sorted by dtype (the list's order, last first; element sizes never increase
// along it) then name, "__metadata__" first, compact JSON padded with spaces to a multiple of 8, so
// every tensor is naturally aligned. Names must be unique, non-empty and not "__metadata__".
Result<std::string> serialize(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});
// Same bytes, written atomically (temporary sibling + rename); tensor data is streamed, not copied.
Status write(const std::string& path, const std::vector<NamedTensor>& tensors,
             const std::map<std::string, std::string>& metadata = {});

}  // namespace ironmill::formats::safetensors
