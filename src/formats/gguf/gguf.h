// GGUF (ggml-org/ggml docs/gguf.md), versions 2 and 3, little-endian: reader over a memory map and an
// atomic writer. Tensor data is exposed as mil::Tensor views (plain types) or dequantized to fp32.
//
// Layout: magic "GGUF", u32 version, u64 n_tensors, u64 n_kv, n_kv key/value pairs, n_tensors tensor
// infos (name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset), zero padding to the alignment
// (general.alignment, default 32), then the data section; offsets are relative to its start.
//
// The reader performs every check of ggml's gguf.cpp (anchors.md §1.1.1), and reports the byte offset
// and the field that failed:
//   magic; version (0, 1, > 3, and the "endianness mismatch" pattern); n_tensors / n_kv beyond what the
//   remaining bytes could hold; strings over 1 GiB or past the end; empty, duplicate or > 65535-byte
//   keys; unknown value types; bools other than 0/1; arrays over 2^30 elements or past the end;
//   general.alignment not a u32 power of two; tensor names of 64+ bytes or duplicated; n_dims > 4;
//   negative dims; element count or byte size overflowing int64; unknown / removed ggml type ids;
//   ne[0] not a multiple of the block size; offsets not a multiple of the alignment; tensors
//   overlapping; (by default) tensors not packed in order at ggml's expected running offsets; tensor
//   data past the end of the file.
// Differences from ggml, on purpose: nested arrays are accepted (the spec allows them; ggml rejects
// them), up to kMaxArrayNesting levels; bools must be 0 or 1 (the spec's rule; ggml accepts any byte).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "formats/gguf/ggml_types.h"
#include "mil/ir.h"
#include "mil/tensor.h"
#include "util/status.h"

namespace ironmill::formats::gguf {

inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr uint64_t kMaxStringBytes = 1ull << 30;    // GGUF_MAX_STRING_LENGTH
inline constexpr uint64_t kMaxArrayElements = 1ull << 30;  // GGUF_MAX_ARRAY_ELEMENTS
inline constexpr uint64_t kMaxKeyBytes = 65535;            // the spec's key limit
inline constexpr uint64_t kMaxTensorNameBytes = 63;        // GGML_MAX_NAME - 1
inline constexpr uint32_t kMaxDims = 4;                    // GGML_MAX_DIMS
inline constexpr int kMaxArrayNesting = 8;

// Metadata value types; the numbers are the file's type ids and the index of Value::data.
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
inline constexpr uint32_t kValueTypeCount = 13;
std::string_view value_type_name(ValueType t);  // ggml's short names: u8, i8, ..., str, arr, f64

struct Value;
struct Array {
  ValueType type = ValueType::kUint8;  // element type (kArray for arrays of arrays)
  std::vector<Value> items;
};

struct Value {
  std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string, Array, uint64_t,
               int64_t, double>
      data;
  static_assert(std::variant_size_v<decltype(data)> == kValueTypeCount);

  ValueType type() const { return static_cast<ValueType>(data.index()); }
  template <class T>
  const T* get_if() const {
    return std::get_if<T>(&data);
  }

  // Typed constructors (a plain constructor would make 1 ambiguous between eleven types).
  static Value u8(uint8_t v) { return Value{v}; }
  static Value i8(int8_t v) { return Value{v}; }
  static Value u16(uint16_t v) { return Value{v}; }
  static Value i16(int16_t v) { return Value{v}; }
  static Value u32(uint32_t v) { return Value{v}; }
  static Value i32(int32_t v) { return Value{v}; }
  static Value f32(float v) { return Value{v}; }
  static Value boolean(bool v) { return Value{v}; }
  static Value str(std::string v) { return Value{std::move(v)}; }
  static Value u64(uint64_t v) { return Value{v}; }
  static Value i64(int64_t v) { return Value{v}; }
  static Value f64(double v) { return Value{v}; }
  static Value array(ValueType elem_type, std::vector<Value> items) {
    return Value{Array{elem_type, std::move(items)}};
  }
  static Value strings(const std::vector<std::string>& v);
  static Value f32s(const std::vector<float>& v);
  static Value i32s(const std::vector<int32_t>& v);

  // Any integer type whose value fits (nullopt otherwise, and for non-integers).
  std::optional<uint64_t> as_uint() const;
  std::optional<int64_t> as_int() const;
  // Any integer or float type, converted.
  std::optional<double> as_double() const;
  const std::string* as_string() const { return get_if<std::string>(); }
  const Array* as_array() const { return get_if<Array>(); }
  bool operator==(const Value& o) const;
  std::string debug_string(size_t max_items = 8) const;
};
inline bool operator==(const Array& a, const Array& b) { return a.type == b.type && a.items == b.items; }

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> ne;  // as stored: ne[0] is the fastest-varying (row) dimension
  uint64_t offset = 0;      // relative to the data section
  uint64_t nbytes = 0;
  int64_t numel() const;
  mil::Shape shape() const;  // row-major MIL shape: ne reversed
};

struct ReadOptions {
  // ggml requires each tensor at the running offset of the previous ones (each padded to the
  // alignment). Off: any aligned, non-overlapping placement inside the file is accepted.
  bool require_packed = true;
};

// One GGUF file, mapped. Cheap to copy (shared state).
class File {
 public:
  static Result<File> open(const std::string& path, const ReadOptions& options = {});
  static Result<File> parse(std::shared_ptr<const mil::Buffer> bytes, std::string name,
                            const ReadOptions& options = {});

  const std::string& name() const;
  uint32_t version() const;
  uint32_t alignment() const;
  uint64_t data_offset() const;                                        // absolute file offset of the data section
  const std::vector<std::pair<std::string, Value>>& metadata() const;  // in file order
  const Value* find(std::string_view key) const;
  // Typed getters: error naming the key when missing or of another type.
  Result<std::string> get_string(std::string_view key) const;
  Result<uint64_t> get_uint(std::string_view key) const;  // any integer type holding a non-negative value
  Result<double> get_float(std::string_view key) const;   // any float or integer type
  Result<const Array*> get_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const;  // in file order
  const TensorInfo* find_tensor(std::string_view tensor_name) const;
  std::shared_ptr<const mil::Buffer> buffer() const;
  // The tensor's bytes inside the mapping.
  Result<std::span<const uint8_t>> tensor_bytes(std::string_view tensor_name) const;
  // A view (no copy) for F32, F16, BF16, F64, I8, I16, I32, I64; an error for quantized types.
  Result<mil::Tensor> tensor(std::string_view tensor_name) const;
  // fp32 copy, for every type dequantize_row supports (including the plain float types).
  Result<mil::Tensor> dequantize(std::string_view tensor_name) const;
  // tensor() for plain types; dequantize() for quantized ones, on the first load() (then cached).
  Result<std::shared_ptr<const mil::LazyTensorSource>> lazy(std::string_view tensor_name) const;

  struct State;

 private:
  std::shared_ptr<const State> state_;
};

// Builds a GGUF file: key/value pairs and tensors in insertion order, each tensor at the next aligned
// offset (ggml's layout, so ggml reads what this writes and vice versa).
class Writer {
 public:
  explicit Writer(uint32_t version = 3) : version_(version) {}

  // Adds or replaces a key (a replaced key keeps its position). general.alignment must be a u32 power
  // of two and may only be set before tensors are added.
  Status set(const std::string& key, Value value);
  // Tensor bytes are referenced, not copied: `buffer` must stay alive (it is held) and hold `nbytes`
  // at `offset`. `ne` is in ggml order (ne[0] fastest).
  Status add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne,
                    std::shared_ptr<const mil::Buffer> buffer, size_t offset = 0);
  Status add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, std::vector<uint8_t> bytes);
  // F32/F16/BF16/F64/I8/I16/I32/I64 tensors from their MIL dtype; ne = shape reversed.
  Status add_tensor(const std::string& name, const mil::Tensor& tensor);

  uint32_t alignment() const { return alignment_; }
  // The value set for `key`, or nullptr.
  const Value* find(std::string_view key) const;
  Result<std::string> serialize() const;
  // Atomic (temporary sibling + rename); tensor data is streamed from the referenced buffers.
  Status write(const std::string& path) const;

 private:
  struct PendingTensor {
    TensorInfo info;
    std::shared_ptr<const mil::Buffer> buffer;
    size_t offset = 0;
    mil::Tensor keep_alive;  // for add_tensor(mil::Tensor): owns the storage
  };
  std::string header() const;  // everything before the data section, padded
  uint32_t version_;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_size_ = 0;  // running offset of the next tensor
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace ironmill::formats::gguf
