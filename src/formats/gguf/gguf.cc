#include "formats/gguf/gguf.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "formats/gguf/quants.h"
#include "formats/mapped_file.h"

namespace ironmill::formats::gguf {

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kMaxVersion = 3;

// Smallest encoding of one value of each type, for "could n of these fit in the rest of the file".
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool: return 1;
    case ValueType::kUint16:
    case ValueType::kInt16: return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32: return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64: return 8;
    case ValueType::kString: return 8;     // the length
    case ValueType::kArray: return 4 + 8;  // element type + count
  }
  return 1;
}

std::string quote_name(std::string_view s) {
  std::string r = "'";
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7F) {
      static const char* kHex = "0123456789abcdef";
      r += "\\x";
      r += kHex[c >> 4];
      r += kHex[c & 15];
    } else {
      r += static_cast<char>(c);
    }
    if (r.size() > 120) {
      r += "...";
      break;
    }
  }
  return r + "'";
}

std::string ne_text(const std::vector<int64_t>& ne) {
  std::string s = "(";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + ")";
}

uint64_t align_up(uint64_t o, uint64_t a) { return o + (a - o % a) % a; }

// Bounds-checked little-endian reads; every failure names the field and the offset.
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& file) : p_(data), size_(size), file_(file) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  Status fail(uint64_t at, const std::string& what) const {
    return parse_error(file_ + ": offset " + std::to_string(at) + ": " + what);
  }
  Status need(uint64_t n, const std::string& what) const {
    if (n <= remaining()) return Status::Ok();
    return fail(pos_, "file truncated: " + what + " needs " + std::to_string(n) + " bytes, only " +
                          std::to_string(remaining()) + " remain (file size " + std::to_string(size_) + ")");
  }
  template <class T>
  Status read(T& v, const std::string& what) {
    IM_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status read_string(std::string& s, const std::string& what) {
    const uint64_t at = pos_;
    uint64_t n = 0;
    IM_RETURN_IF_ERROR(read(n, "length of " + what));
    if (n > kMaxStringBytes) return fail(at, what + " has length " + std::to_string(n) + ", over the 1 GiB limit");
    if (n > remaining())
      return fail(at, what + " has length " + std::to_string(n) + " but only " + std::to_string(remaining()) +
                          " bytes remain (file size " + std::to_string(size_) + ")");
    s.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(n));
    pos_ += n;
    return Status::Ok();
  }
  void seek(uint64_t pos) { pos_ = pos; }

 private:
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& file_;
};

Status read_value(Cursor& c, ValueType type, Value& out, const std::string& what, int depth);

template <class T>
Status read_scalar(Cursor& c, Value& out, const std::string& what) {
  T v{};
  IM_RETURN_IF_ERROR(c.read(v, what));
  out.data = v;
  return Status::Ok();
}

Status read_type(Cursor& c, ValueType& type, const std::string& what) {
  const uint64_t at = c.pos();
  uint32_t t = 0;
  IM_RETURN_IF_ERROR(c.read(t, "type of " + what));
  if (t >= kValueTypeCount)
    return c.fail(at, what + " has invalid value type " + std::to_string(t) + " (valid: 0..12)");
  type = static_cast<ValueType>(t);
  return Status::Ok();
}

Status read_array(Cursor& c, Value& out, const std::string& what, int depth) {
  if (depth >= kMaxArrayNesting)
    return c.fail(c.pos(), what + " nests arrays more than " + std::to_string(kMaxArrayNesting) + " levels deep");
  Array arr;
  IM_RETURN_IF_ERROR(read_type(c, arr.type, "element type of " + what));
  const uint64_t at = c.pos();
  uint64_t n = 0;
  IM_RETURN_IF_ERROR(c.read(n, "element count of " + what));
  if (n > kMaxArrayElements)
    return c.fail(
        at, what + " has " + std::to_string(n) + " elements, over the limit of " + std::to_string(kMaxArrayElements));
  const uint64_t min_size = min_encoded_size(arr.type);
  if (n > c.remaining() / min_size)
    return c.fail(at, what + " has " + std::to_string(n) + " elements of type " +
                          std::string(value_type_name(arr.type)) + ", which cannot fit in the " +
                          std::to_string(c.remaining()) + " remaining bytes");
  arr.items.resize(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i)
    IM_RETURN_IF_ERROR(read_value(c, arr.type, arr.items[i], what + "[" + std::to_string(i) + "]", depth + 1));
  out.data = std::move(arr);
  return Status::Ok();
}

Status read_value(Cursor& c, ValueType type, Value& out, const std::string& what, int depth) {
  switch (type) {
    case ValueType::kUint8: return read_scalar<uint8_t>(c, out, what);
    case ValueType::kInt8: return read_scalar<int8_t>(c, out, what);
    case ValueType::kUint16: return read_scalar<uint16_t>(c, out, what);
    case ValueType::kInt16: return read_scalar<int16_t>(c, out, what);
    case ValueType::kUint32: return read_scalar<uint32_t>(c, out, what);
    case ValueType::kInt32: return read_scalar<int32_t>(c, out, what);
    case ValueType::kFloat32: return read_scalar<float>(c, out, what);
    case ValueType::kUint64: return read_scalar<uint64_t>(c, out, what);
    case ValueType::kInt64: return read_scalar<int64_t>(c, out, what);
    case ValueType::kFloat64: return read_scalar<double>(c, out, what);
    case ValueType::kBool: {
      const uint64_t at = c.pos();
      uint8_t b = 0;
      IM_RETURN_IF_ERROR(c.read(b, what));
      if (b > 1)
        return c.fail(at, what + " is a bool with byte value " + std::to_string(b) + " (only 0 or 1 are valid)");
      out.data = b == 1;
      return Status::Ok();
    }
    case ValueType::kString: {
      std::string s;
      IM_RETURN_IF_ERROR(c.read_string(s, what));
      out.data = std::move(s);
      return Status::Ok();
    }
    case ValueType::kArray: return read_array(c, out, what, depth);
  }
  return internal_error("unreachable value type");
}

bool is_plain(GgmlType t, mil::DType* dtype) {
  switch (t) {
    case GgmlType::kF32: *dtype = mil::DType::kFp32; return true;
    case GgmlType::kF16: *dtype = mil::DType::kFp16; return true;
    case GgmlType::kBF16: *dtype = mil::DType::kBf16; return true;
    case GgmlType::kF64: *dtype = mil::DType::kFp64; return true;
    case GgmlType::kI8: *dtype = mil::DType::kInt8; return true;
    case GgmlType::kI16: *dtype = mil::DType::kInt16; return true;
    case GgmlType::kI32: *dtype = mil::DType::kInt32; return true;
    case GgmlType::kI64: *dtype = mil::DType::kInt64; return true;
    default: return false;
  }
}

std::optional<GgmlType> ggml_type_of(mil::DType d) {
  switch (d) {
    case mil::DType::kFp32: return GgmlType::kF32;
    case mil::DType::kFp16: return GgmlType::kF16;
    case mil::DType::kBf16: return GgmlType::kBF16;
    case mil::DType::kFp64: return GgmlType::kF64;
    case mil::DType::kInt8: return GgmlType::kI8;
    case mil::DType::kInt16: return GgmlType::kI16;
    case mil::DType::kInt32: return GgmlType::kI32;
    case mil::DType::kInt64: return GgmlType::kI64;
    default: return std::nullopt;
  }
}

// Validates a tensor's dims and type and computes its byte size (shared by reader and writer).
// Messages start with "tensor '<name>'".
Status check_tensor_shape(const std::string& name, uint32_t type_id, const std::vector<int64_t>& ne,
                          const GgmlTypeTraits** traits_out, uint64_t* nbytes_out) {
  const std::string where = "tensor " + quote_name(name);
  if (ne.size() > kMaxDims)
    return parse_error(where + " has " + std::to_string(ne.size()) + " dimensions, more than " +
                       std::to_string(kMaxDims));
  for (size_t j = 0; j < ne.size(); ++j)
    if (ne[j] < 0)
      return parse_error(where + " dimension " + std::to_string(j) + " has " + std::to_string(ne[j]) +
                         " elements (< 0)");
  int64_t numel = 1;
  bool zero = std::find(ne.begin(), ne.end(), 0) != ne.end();
  for (int64_t d : ne)
    if (!zero && __builtin_mul_overflow(numel, d, &numel))
      return parse_error(where + " with shape " + ne_text(ne) + " has more than INT64_MAX elements");
  if (zero) numel = 0;
  const GgmlTypeTraits* tr = ggml_type_traits(type_id);
  if (!tr) {
    std::string why = type_id < kGgmlTypeIdEnd ? " (an id removed from ggml)"
                                               : " (valid ids are below " + std::to_string(kGgmlTypeIdEnd) + ")";
    return parse_error(where + " has invalid ggml type " + std::to_string(type_id) + why);
  }
  const int64_t ne0 = ne.empty() ? 1 : ne[0];
  if (ne0 % tr->block_size != 0)
    return parse_error(where + " of type " + std::string(tr->name) + " has " + std::to_string(ne0) +
                       " elements per row, not a multiple of the block size " + std::to_string(tr->block_size));
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel / tr->block_size), tr->type_size, &nbytes) ||
      nbytes > static_cast<uint64_t>(INT64_MAX))
    return parse_error(where + " with shape " + ne_text(ne) + " of type " + std::string(tr->name) +
                       " has a byte size over INT64_MAX");
  *traits_out = tr;
  *nbytes_out = nbytes;
  return Status::Ok();
}

class GgufLazySource final : public mil::LazyTensorSource {
 public:
  GgufLazySource(File file, std::string name) : file_(std::move(file)), name_(std::move(name)) {}
  // Plain types are views (cheap to make again); quantized ones are dequantized once and cached.
  Result<mil::Tensor> load() const override {
    const TensorInfo* t = file_.find_tensor(name_);
    mil::DType d;
    if (t && is_plain(t->type, &d)) return file_.tensor(name_);
    std::lock_guard<std::mutex> lock(mu_);
    if (!cached_) {
      auto r = file_.dequantize(name_);
      if (!r.ok()) return r;
      cached_ = std::move(r).value();
    }
    return *cached_;
  }
  std::string describe() const override { return file_.name() + ":" + name_; }

 private:
  File file_;
  std::string name_;
  mutable std::mutex mu_;
  mutable std::optional<mil::Tensor> cached_;
};

}  // namespace

std::string_view value_type_name(ValueType t) {
  static constexpr std::string_view kNames[] = {"u8",   "i8",  "u16", "i16", "u32", "i32", "f32",
                                                "bool", "str", "arr", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < kValueTypeCount ? kNames[i] : "invalid";
}

// ---------------------------------------------------------------------------------------------
// Value

Value Value::strings(const std::vector<std::string>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(str(s));
  return array(ValueType::kString, std::move(items));
}
Value Value::f32s(const std::vector<float>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (float f : v) items.push_back(f32(f));
  return array(ValueType::kFloat32, std::move(items));
}
Value Value::i32s(const std::vector<int32_t>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (int32_t i : v) items.push_back(i32(i));
  return array(ValueType::kInt32, std::move(items));
}

std::optional<uint64_t> Value::as_uint() const {
  return std::visit(
      [](const auto& v) -> std::optional<uint64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>)
            if (v < 0) return std::nullopt;
          return static_cast<uint64_t>(v);
        }
        return std::nullopt;
      },
      data);
}

std::optional<int64_t> Value::as_int() const {
  return std::visit(
      [](const auto& v) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>)
            if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
          return static_cast<int64_t>(v);
        }
        return std::nullopt;
      },
      data);
}

std::optional<double> Value::as_double() const {
  return std::visit(
      [](const auto& v) -> std::optional<double> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) return static_cast<double>(v);
        return std::nullopt;
      },
      data);
}

bool Value::operator==(const Value& o) const {
  if (data.index() != o.data.index()) return false;
  // Floats compare by bits so NaN round trips compare equal.
  if (const float* a = get_if<float>()) return std::memcmp(a, o.get_if<float>(), 4) == 0;
  if (const double* a = get_if<double>()) return std::memcmp(a, o.get_if<double>(), 8) == 0;
  return data == o.data;
}

std::string Value::debug_string(size_t max_items) const {
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>)
          return quote_name(v);
        else if constexpr (std::is_same_v<T, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, Array>) {
          std::string s = "arr[" + std::string(value_type_name(v.type)) + ", " + std::to_string(v.items.size()) + "] {";
          for (size_t i = 0; i < v.items.size() && i < max_items; ++i)
            s += (i ? ", " : "") + v.items[i].debug_string(max_items);
          if (v.items.size() > max_items) s += ", ...";
          return s + "}";
        } else {
          return std::to_string(v);
        }
      },
      data);
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

mil::Shape TensorInfo::shape() const { return mil::Shape(ne.rbegin(), ne.rend()); }

// ---------------------------------------------------------------------------------------------
// Reader

struct File::State {
  std::string name;
  std::shared_ptr<const mil::Buffer> buffer;
  uint32_t version = 0;
  uint32_t alignment = kDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<std::pair<std::string, Value>> kv;
  std::unordered_map<std::string, size_t> kv_index;
  std::vector<TensorInfo> tensors;
  std::unordered_map<std::string, size_t> tensor_index;
};

Result<File> File::open(const std::string& path, const ReadOptions& options) {
  IM_ASSIGN_OR_RETURN(auto mapped, MappedFile::open(path));
  return parse(std::move(mapped), path, options);
}

Result<File> File::parse(std::shared_ptr<const mil::Buffer> bytes, std::string name, const ReadOptions& options) {
  // Allocation failures (a hostile file can ask for huge arrays) become errors, never exceptions.
  const std::string file_name = name;
  try {
    return [&]() -> Result<File> {
      auto st = std::make_shared<State>();
      st->name = std::move(name);
      st->buffer = std::move(bytes);
      const std::string& file = st->name;
      const uint64_t size = st->buffer->size();
      Cursor c(st->buffer->data(), size, file);

      // Header.
      char magic[4];
      IM_RETURN_IF_ERROR(c.read(magic, "magic"));
      if (std::memcmp(magic, kMagic, 4) != 0) {
        std::string shown;
        for (char ch : magic) shown += std::isprint(static_cast<unsigned char>(ch)) ? ch : '?';
        return c.fail(0, "invalid magic '" + shown + "', expected 'GGUF'");
      }
      IM_RETURN_IF_ERROR(c.read(st->version, "version"));
      if (st->version == 0) return c.fail(4, "bad GGUF version 0");
      if ((st->version & 0x0000FFFF) == 0)
        return c.fail(4, "GGUF version " + std::to_string(st->version) +
                             " is extremely large: the file is probably big-endian, which is not supported");
      if (st->version == 1) return c.fail(4, "GGUF version 1 is no longer supported (only 2 and 3)");
      if (st->version > kMaxVersion)
        return c.fail(4, "GGUF version " + std::to_string(st->version) + " is newer than supported (2 and 3)");
      uint64_t n_tensors = 0, n_kv = 0;
      IM_RETURN_IF_ERROR(c.read(n_tensors, "n_tensors"));
      IM_RETURN_IF_ERROR(c.read(n_kv, "n_kv"));
      // Each KV pair takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info 8 + 4 + 4 + 8.
      if (n_kv > c.remaining() / 13)
        return c.fail(16, "n_kv = " + std::to_string(n_kv) + " key-value pairs cannot fit in the " +
                              std::to_string(c.remaining()) + " remaining bytes");
      if (n_tensors > c.remaining() / 24)
        return c.fail(8, "n_tensors = " + std::to_string(n_tensors) + " tensor infos cannot fit in the " +
                             std::to_string(c.remaining()) + " remaining bytes");

      // Key/value pairs.
      st->kv.reserve(static_cast<size_t>(n_kv));
      for (uint64_t i = 0; i < n_kv; ++i) {
        const uint64_t at = c.pos();
        const std::string what = "key #" + std::to_string(i);
        std::string key;
        IM_RETURN_IF_ERROR(c.read_string(key, what));
        if (key.empty()) return c.fail(at, what + " is empty");
        if (key.size() > kMaxKeyBytes)
          return c.fail(at, what + " is " + std::to_string(key.size()) + " bytes long, over the 65535-byte limit");
        if (st->kv_index.count(key))
          return c.fail(at, "duplicate key " + quote_name(key) + " (key #" + std::to_string(i) + ")");
        ValueType type;
        IM_RETURN_IF_ERROR(read_type(c, type, "key " + quote_name(key)));
        Value v;
        IM_RETURN_IF_ERROR(read_value(c, type, v, "value of key " + quote_name(key), 0));
        st->kv_index.emplace(key, st->kv.size());
        st->kv.emplace_back(std::move(key), std::move(v));
      }
      if (auto it = st->kv_index.find("general.alignment"); it != st->kv_index.end()) {
        const Value& v = st->kv[it->second].second;
        const uint32_t* a = v.get_if<uint32_t>();
        if (!a)
          return parse_error(file + ": key 'general.alignment' must be of type u32 but is " +
                             std::string(value_type_name(v.type())));
        if (*a == 0 || (*a & (*a - 1)) != 0)
          return parse_error(file + ": general.alignment " + std::to_string(*a) + " is not a power of 2");
        st->alignment = *a;
      }

      // Tensor infos.
      st->tensors.reserve(static_cast<size_t>(n_tensors));
      for (uint64_t i = 0; i < n_tensors; ++i) {
        const uint64_t at = c.pos();
        TensorInfo t;
        IM_RETURN_IF_ERROR(c.read_string(t.name, "name of tensor #" + std::to_string(i)));
        if (t.name.size() > kMaxTensorNameBytes)
          return c.fail(at, "tensor #" + std::to_string(i) + " name " + quote_name(t.name) + " is " +
                                std::to_string(t.name.size()) + " bytes; ggml allows at most " +
                                std::to_string(kMaxTensorNameBytes));
        if (st->tensor_index.count(t.name))
          return c.fail(at, "duplicate tensor name " + quote_name(t.name) + " (tensor #" + std::to_string(i) + ")");
        const std::string where = "tensor " + quote_name(t.name);
        const uint64_t dims_at = c.pos();
        uint32_t n_dims = 0;
        IM_RETURN_IF_ERROR(c.read(n_dims, "n_dims of " + where));
        if (n_dims > kMaxDims)
          return c.fail(
              dims_at, where + " has " + std::to_string(n_dims) + " dimensions, more than " + std::to_string(kMaxDims));
        t.ne.resize(n_dims);
        for (uint32_t j = 0; j < n_dims; ++j)
          IM_RETURN_IF_ERROR(c.read(t.ne[j], "ne[" + std::to_string(j) + "] of " + where));
        uint32_t type_id = 0;
        const uint64_t type_at = c.pos();
        IM_RETURN_IF_ERROR(c.read(type_id, "type of " + where));
        const GgmlTypeTraits* tr = nullptr;
        if (Status s = check_tensor_shape(t.name, type_id, t.ne, &tr, &t.nbytes); !s.ok())
          return c.fail(type_at, s.message());
        t.type = tr->type;
        IM_RETURN_IF_ERROR(c.read(t.offset, "data offset of " + where));
        st->tensor_index.emplace(t.name, st->tensors.size());
        st->tensors.push_back(std::move(t));
      }

      // Data section: aligned start (ggml pads only when there are tensors).
      st->data_offset = c.pos();
      if (n_tensors > 0) {
        st->data_offset = align_up(c.pos(), st->alignment);
        if (st->data_offset > size)
          return c.fail(c.pos(), "padding to the data section (alignment " + std::to_string(st->alignment) +
                                     ") runs past the end of the file (size " + std::to_string(size) + ")");
      }
      const uint64_t data_size = size - st->data_offset;

      // Tensor placement.
      uint64_t expected = 0;  // ggml's running offset
      for (const TensorInfo& t : st->tensors) {
        const std::string where = file + ": tensor " + quote_name(t.name);
        if (t.offset % st->alignment != 0)
          return parse_error(where + " has data offset " + std::to_string(t.offset) +
                             ", not a multiple of the alignment " + std::to_string(st->alignment));
        if (t.offset > data_size || t.nbytes > data_size - t.offset)
          return parse_error(where + " data [" + std::to_string(st->data_offset + t.offset) + ", " +
                             std::to_string(st->data_offset + t.offset + t.nbytes) + ") (" + std::to_string(t.nbytes) +
                             " bytes at data offset " + std::to_string(t.offset) +
                             ") runs past the end of the file (size " + std::to_string(size) + ")");
        if (options.require_packed && t.offset != expected) {
          const std::string why =
              t.offset < expected ? " (it overlaps the previous tensor's padded data)" : " (there is a gap before it)";
          return parse_error(where + " has data offset " + std::to_string(t.offset) + ", expected " +
                             std::to_string(expected) + why);
        }
        expected += align_up(t.nbytes, st->alignment);
      }
      if (!options.require_packed) {
        std::vector<const TensorInfo*> order;
        for (const TensorInfo& t : st->tensors)
          if (t.nbytes > 0) order.push_back(&t);
        std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
        for (size_t i = 1; i < order.size(); ++i)
          if (order[i]->offset < order[i - 1]->offset + order[i - 1]->nbytes)
            return parse_error(
                file + ": tensor " + quote_name(order[i]->name) + " data [" + std::to_string(order[i]->offset) + ", " +
                std::to_string(order[i]->offset + order[i]->nbytes) + ") overlaps tensor " +
                quote_name(order[i - 1]->name) + " data [" + std::to_string(order[i - 1]->offset) + ", " +
                std::to_string(order[i - 1]->offset + order[i - 1]->nbytes) + ") (data-section offsets)");
      }
      File f;
      f.state_ = std::move(st);
      return f;
    }();
  } catch (const std::bad_alloc&) {
    return io_error(file_name + ": out of memory while reading the header");
  } catch (const std::length_error&) {
    return io_error(file_name + ": out of memory while reading the header");
  }
}

const std::string& File::name() const { return state_->name; }
uint32_t File::version() const { return state_->version; }
uint32_t File::alignment() const { return state_->alignment; }
uint64_t File::data_offset() const { return state_->data_offset; }
const std::vector<std::pair<std::string, Value>>& File::metadata() const { return state_->kv; }
const std::vector<TensorInfo>& File::tensors() const { return state_->tensors; }
std::shared_ptr<const mil::Buffer> File::buffer() const { return state_->buffer; }

const Value* File::find(std::string_view key) const {
  auto it = state_->kv_index.find(std::string(key));
  return it == state_->kv_index.end() ? nullptr : &state_->kv[it->second].second;
}

const TensorInfo* File::find_tensor(std::string_view tensor_name) const {
  auto it = state_->tensor_index.find(std::string(tensor_name));
  return it == state_->tensor_index.end() ? nullptr : &state_->tensors[it->second];
}

Result<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(name() + ": no key " + quote_name(key));
  if (!v->as_string())
    return invalid_argument(name() + ": key " + quote_name(key) + " is " + std::string(value_type_name(v->type())) +
                            ", not str");
  return *v->as_string();
}

Result<uint64_t> File::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(name() + ": no key " + quote_name(key));
  auto u = v->as_uint();
  if (!u)
    return invalid_argument(name() + ": key " + quote_name(key) + " = " + v->debug_string() +
                            " is not a non-negative integer");
  return *u;
}

Result<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(name() + ": no key " + quote_name(key));
  auto d = v->as_double();
  if (!d)
    return invalid_argument(name() + ": key " + quote_name(key) + " is " + std::string(value_type_name(v->type())) +
                            ", not a number");
  return *d;
}

Result<const Array*> File::get_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return not_found(name() + ": no key " + quote_name(key));
  if (!v->as_array())
    return invalid_argument(name() + ": key " + quote_name(key) + " is " + std::string(value_type_name(v->type())) +
                            ", not arr");
  return v->as_array();
}

Result<std::span<const uint8_t>> File::tensor_bytes(std::string_view tensor_name) const {
  const TensorInfo* t = find_tensor(tensor_name);
  if (!t) return not_found(name() + ": no tensor " + quote_name(tensor_name));
  return std::span<const uint8_t>(state_->buffer->data() + state_->data_offset + t->offset, t->nbytes);
}

Result<mil::Tensor> File::tensor(std::string_view tensor_name) const {
  const TensorInfo* t = find_tensor(tensor_name);
  if (!t) return not_found(name() + ": no tensor " + quote_name(tensor_name));
  mil::DType dtype;
  if (!is_plain(t->type, &dtype))
    return unsupported(name() + ": tensor " + quote_name(tensor_name) + " is " + std::string(ggml_type_name(t->type)) +
                       ", a quantized type: use dequantize()");
  const uint64_t offset = state_->data_offset + t->offset;
  const auto elem = static_cast<uintptr_t>(mil::dtype_element_bytes(dtype));
  if (t->nbytes > 0 && (reinterpret_cast<uintptr_t>(state_->buffer->data()) + offset) % elem != 0) {
    mil::Tensor copy(dtype, t->shape());  // alignment < element size: copy so typed access stays defined
    std::memcpy(copy.mutable_raw(), state_->buffer->data() + offset, t->nbytes);
    return copy;
  }
  auto v = mil::Tensor::view(dtype, t->shape(), state_->buffer, static_cast<size_t>(offset));
  if (!v.ok()) return v.status().with_context(name() + ": tensor " + quote_name(tensor_name));
  return v;
}

Result<mil::Tensor> File::dequantize(std::string_view tensor_name) const {
  const TensorInfo* t = find_tensor(tensor_name);
  if (!t) return not_found(name() + ": no tensor " + quote_name(tensor_name));
  if (!can_dequantize(t->type))
    return unsupported(name() + ": tensor " + quote_name(tensor_name) + " has type " +
                       std::string(ggml_type_name(t->type)) + ", which cannot be dequantized yet");
  mil::Tensor out(mil::DType::kFp32, t->shape());
  IM_RETURN_IF_ERROR(dequantize_row(t->type, state_->buffer->data() + state_->data_offset + t->offset,
                                    out.mutable_data<float>(), t->numel()));
  return out;
}

Result<std::shared_ptr<const mil::LazyTensorSource>> File::lazy(std::string_view tensor_name) const {
  if (!find_tensor(tensor_name)) return not_found(name() + ": no tensor " + quote_name(tensor_name));
  return std::shared_ptr<const mil::LazyTensorSource>(
      std::make_shared<GgufLazySource>(*this, std::string(tensor_name)));
}

// ---------------------------------------------------------------------------------------------
// Writer

namespace {

class ByteSink {
 public:
  void raw(const void* p, size_t n) { s_.append(static_cast<const char*>(p), n); }
  template <class T>
  void put(T v) {
    raw(&v, sizeof v);
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    raw(s.data(), s.size());
  }
  std::string& bytes() { return s_; }

 private:
  std::string s_;
};

void write_value(ByteSink& out, const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out.str(x);
        } else if constexpr (std::is_same_v<T, Array>) {
          out.put<uint32_t>(static_cast<uint32_t>(x.type));
          out.put<uint64_t>(x.items.size());
          for (const Value& item : x.items) write_value(out, item);
        } else if constexpr (std::is_same_v<T, bool>) {
          out.put<uint8_t>(x ? 1 : 0);
        } else {
          out.put<T>(x);
        }
      },
      v.data);
}

Status check_value(const Value& v, const std::string& what, int depth) {
  if (const std::string* s = v.as_string(); s && s->size() > kMaxStringBytes)
    return invalid_argument(what + " is a string over 1 GiB");
  if (const Array* a = v.as_array()) {
    if (depth >= kMaxArrayNesting) return invalid_argument(what + " nests arrays too deeply");
    if (static_cast<uint32_t>(a->type) >= kValueTypeCount)
      return invalid_argument(what + " has an invalid element type");
    if (a->items.size() > kMaxArrayElements) return invalid_argument(what + " has too many elements");
    for (size_t i = 0; i < a->items.size(); ++i) {
      if (a->items[i].type() != a->type)
        return invalid_argument(what + "[" + std::to_string(i) + "] is " +
                                std::string(value_type_name(a->items[i].type())) + " in an array of " +
                                std::string(value_type_name(a->type)));
      IM_RETURN_IF_ERROR(check_value(a->items[i], what + "[" + std::to_string(i) + "]", depth + 1));
    }
  }
  return Status::Ok();
}

}  // namespace

Status Writer::set(const std::string& key, Value value) {
  const std::string where = "gguf writer: key " + quote_name(key);
  if (key.empty()) return invalid_argument("gguf writer: empty key");
  if (key.size() > kMaxKeyBytes) return invalid_argument(where + " is over 65535 bytes");
  IM_RETURN_IF_ERROR(check_value(value, where, 0));
  if (key == "general.alignment") {
    const uint32_t* a = value.get_if<uint32_t>();
    if (!a) return invalid_argument(where + " must be u32, not " + std::string(value_type_name(value.type())));
    if (*a == 0 || (*a & (*a - 1)) != 0)
      return invalid_argument(where + " = " + std::to_string(*a) + " is not a power of 2");
    if (!tensors_.empty() && *a != alignment_)
      return invalid_argument(where + ": the alignment cannot change after tensors were added");
    alignment_ = *a;
  }
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return Status::Ok();
    }
  kv_.emplace_back(key, std::move(value));
  return Status::Ok();
}

const Value* Writer::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

Status Writer::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne,
                          std::shared_ptr<const mil::Buffer> buffer, size_t offset) {
  if (name.size() > kMaxTensorNameBytes)
    return invalid_argument("gguf writer: tensor name " + quote_name(name) + " is over " +
                            std::to_string(kMaxTensorNameBytes) + " bytes");
  for (const auto& t : tensors_)
    if (t.info.name == name) return invalid_argument("gguf writer: duplicate tensor name " + quote_name(name));
  PendingTensor p;
  p.info.name = name;
  p.info.ne = std::move(ne);
  const GgmlTypeTraits* tr = nullptr;
  if (Status s = check_tensor_shape(name, static_cast<uint32_t>(type), p.info.ne, &tr, &p.info.nbytes); !s.ok())
    return invalid_argument("gguf writer: " + s.message());
  p.info.type = type;
  if (!buffer || offset > buffer->size() || p.info.nbytes > buffer->size() - offset)
    return invalid_argument("gguf writer: tensor " + quote_name(name) + " needs " + std::to_string(p.info.nbytes) +
                            " bytes at buffer offset " + std::to_string(offset) + ", but the buffer holds " +
                            std::to_string(buffer ? buffer->size() : 0));
  p.info.offset = data_size_;
  p.buffer = std::move(buffer);
  p.offset = offset;
  data_size_ += align_up(p.info.nbytes, alignment_);
  tensors_.push_back(std::move(p));
  return Status::Ok();
}

Status Writer::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, std::vector<uint8_t> bytes) {
  const GgmlTypeTraits* tr = nullptr;
  uint64_t nbytes = 0;
  if (Status s = check_tensor_shape(name, static_cast<uint32_t>(type), ne, &tr, &nbytes); !s.ok())
    return invalid_argument("gguf writer: " + s.message());
  if (bytes.size() != nbytes)
    return invalid_argument("gguf writer: tensor " + quote_name(name) + " was given " + std::to_string(bytes.size()) +
                            " bytes, but " + std::string(tr->name) + " " + ne_text(ne) + " needs " +
                            std::to_string(nbytes));
  auto buf = std::make_shared<ByteBuffer>(std::string(bytes.begin(), bytes.end()));
  return add_tensor(name, type, std::move(ne), std::move(buf), 0);
}

Status Writer::add_tensor(const std::string& name, const mil::Tensor& tensor) {
  auto type = ggml_type_of(tensor.dtype());
  if (!type)
    return unsupported("gguf writer: tensor " + quote_name(name) + " has dtype " +
                       std::string(mil::dtype_name(tensor.dtype())) + ", which has no GGUF type");
  // Copy the tensor handle (cheap) so the storage outlives serialisation; view its bytes.
  struct TensorBuffer final : mil::Buffer {
    explicit TensorBuffer(mil::Tensor t) : t_(std::move(t)) {}
    const uint8_t* data() const override { return t_.raw(); }
    size_t size() const override { return t_.nbytes(); }
    mil::Tensor t_;
  };
  std::vector<int64_t> ne(tensor.shape().rbegin(), tensor.shape().rend());
  return add_tensor(name, *type, std::move(ne), std::make_shared<TensorBuffer>(tensor), 0);
}

std::string Writer::header() const {
  ByteSink out;
  out.raw(kMagic, 4);
  out.put<uint32_t>(version_);
  out.put<uint64_t>(tensors_.size());
  out.put<uint64_t>(kv_.size());
  for (const auto& [k, v] : kv_) {
    out.str(k);
    out.put<uint32_t>(static_cast<uint32_t>(v.type()));
    write_value(out, v);
  }
  for (const auto& t : tensors_) {
    out.str(t.info.name);
    out.put<uint32_t>(static_cast<uint32_t>(t.info.ne.size()));
    for (int64_t d : t.info.ne) out.put<int64_t>(d);
    out.put<uint32_t>(static_cast<uint32_t>(t.info.type));
    out.put<uint64_t>(t.info.offset);
  }
  // ggml pads the metadata to the alignment unconditionally.
  out.bytes().append(align_up(out.bytes().size(), alignment_) - out.bytes().size(), '\0');
  return std::move(out.bytes());
}

Result<std::string> Writer::serialize() const {
  if (version_ < 2 || version_ > kMaxVersion)
    return invalid_argument("gguf writer: version " + std::to_string(version_) + " (only 2 and 3)");
  std::string out = header();
  for (const auto& t : tensors_) {
    out.append(reinterpret_cast<const char*>(t.buffer->data() + t.offset), t.info.nbytes);
    out.append(align_up(t.info.nbytes, alignment_) - t.info.nbytes, '\0');
  }
  return out;
}

Status Writer::write(const std::string& path) const {
  if (version_ < 2 || version_ > kMaxVersion)
    return invalid_argument("gguf writer: version " + std::to_string(version_) + " (only 2 and 3)");
  IM_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::open(path));
  const std::string h = header();
  IM_RETURN_IF_ERROR(w->write(h.data(), h.size()));
  for (const auto& t : tensors_) {
    IM_RETURN_IF_ERROR(w->write(t.buffer->data() + t.offset, t.info.nbytes));
    IM_RETURN_IF_ERROR(w->write_zeros(align_up(t.info.nbytes, alignment_) - t.info.nbytes));
  }
  return w->commit();
}

}  // namespace ironmill::formats::gguf
