#include "mil/tensor.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "util/float16.h"

namespace ironmill::mil {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
std::string shape_to_string(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

namespace {
class OwnedBuffer final : public Buffer {
 public:
  explicit OwnedBuffer(size_t n) : bytes_(n, 0) {}
  const uint8_t* data() const override { return bytes_.data(); }
  size_t size() const override { return bytes_.size(); }
  uint8_t* mutable_data() { return bytes_.data(); }

 private:
  std::vector<uint8_t> bytes_;
};

template <class T> T rd(const uint8_t* p) { T v; std::memcpy(&v, p, sizeof(T)); return v; }
template <class T> void wr(uint8_t* p, T v) { std::memcpy(p, &v, sizeof(T)); }

// double -> integer with C++ truncation toward zero, saturating (and NaN -> 0) so nothing is UB.
int64_t trunc_sat(double v, int64_t lo, uint64_t hi) {
  if (std::isnan(v)) return 0;
  v = std::trunc(v);
  if (v <= static_cast<double>(lo)) return lo;
  if (v >= static_cast<double>(hi)) return static_cast<int64_t>(std::min<uint64_t>(hi, INT64_MAX));
  return static_cast<int64_t>(v);
}
}  // namespace

double load_f64(DType t, const uint8_t* p) {
  switch (t) {
    case DType::kBool: return p[0] ? 1.0 : 0.0;
    case DType::kFp16: return fp16_bits_to_fp32(rd<uint16_t>(p));
    case DType::kBf16: return bf16_bits_to_fp32(rd<uint16_t>(p));
    case DType::kFp32: return rd<float>(p);
    case DType::kFp64: return rd<double>(p);
    case DType::kFp8E4M3FN: return fp8e4m3fn_bits_to_fp32(p[0]);
    case DType::kFp8E5M2: return fp8e5m2_bits_to_fp32(p[0]);
    case DType::kUint64: return static_cast<double>(rd<uint64_t>(p));
    case DType::kString: return 0.0;
    default: return static_cast<double>(load_i64(t, p));
  }
}

int64_t load_i64(DType t, const uint8_t* p) {
  switch (t) {
    case DType::kBool: return p[0] ? 1 : 0;
    case DType::kInt4: case DType::kInt8: return rd<int8_t>(p);
    case DType::kInt16: return rd<int16_t>(p);
    case DType::kInt32: return rd<int32_t>(p);
    case DType::kInt64: return rd<int64_t>(p);
    case DType::kUint1: case DType::kUint2: case DType::kUint3: case DType::kUint4: case DType::kUint6:
    case DType::kUint8: return p[0];
    case DType::kUint16: return rd<uint16_t>(p);
    case DType::kUint32: return rd<uint32_t>(p);
    case DType::kUint64: return static_cast<int64_t>(rd<uint64_t>(p));
    case DType::kString: return 0;
    default: return trunc_sat(load_f64(t, p), INT64_MIN, INT64_MAX);
  }
}

void store_f64(DType t, uint8_t* p, double v) {
  switch (t) {
    case DType::kBool: p[0] = (v != 0.0) ? 1 : 0; return;
    case DType::kFp16: wr<uint16_t>(p, fp64_to_fp16_bits(v)); return;
    case DType::kBf16: wr<uint16_t>(p, fp32_to_bf16_bits(static_cast<float>(v))); return;
    case DType::kFp32: wr<float>(p, static_cast<float>(v)); return;
    case DType::kFp64: wr<double>(p, v); return;
    case DType::kFp8E4M3FN: p[0] = fp32_to_fp8e4m3fn_bits(static_cast<float>(v)); return;
    case DType::kFp8E5M2: p[0] = fp32_to_fp8e5m2_bits(static_cast<float>(v)); return;
    case DType::kString: return;
    default: store_i64(t, p, trunc_sat(v, int_min(t), int_max(t))); return;
  }
}

void store_i64(DType t, uint8_t* p, int64_t v) {
  if (is_float(t)) { store_f64(t, p, static_cast<double>(v)); return; }
  if (t != DType::kBool && t != DType::kString && t != DType::kUint64) {
    // Saturate into range; sub-byte values keep one per byte.
    if (v < int_min(t)) v = int_min(t);
    if (v >= 0 && static_cast<uint64_t>(v) > int_max(t)) v = static_cast<int64_t>(int_max(t));
  }
  switch (t) {
    case DType::kBool: p[0] = v != 0; return;
    case DType::kInt4: case DType::kInt8: wr<int8_t>(p, static_cast<int8_t>(v)); return;
    case DType::kInt16: wr<int16_t>(p, static_cast<int16_t>(v)); return;
    case DType::kInt32: wr<int32_t>(p, static_cast<int32_t>(v)); return;
    case DType::kInt64: wr<int64_t>(p, v); return;
    case DType::kUint1: case DType::kUint2: case DType::kUint3: case DType::kUint4: case DType::kUint6:
    case DType::kUint8: p[0] = static_cast<uint8_t>(v); return;
    case DType::kUint16: wr<uint16_t>(p, static_cast<uint16_t>(v)); return;
    case DType::kUint32: wr<uint32_t>(p, static_cast<uint32_t>(v)); return;
    case DType::kUint64: wr<uint64_t>(p, static_cast<uint64_t>(v)); return;
    default: return;
  }
}

Tensor::Tensor() : Tensor(DType::kFp32, {}) {}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  if (dtype_ == DType::kString) {
    strings_ = std::make_shared<std::vector<std::string>>(static_cast<size_t>(numel()));
    buffer_ = std::make_shared<OwnedBuffer>(0);
  } else {
    buffer_ = std::make_shared<OwnedBuffer>(nbytes());
  }
}

Result<Tensor> Tensor::view(DType dtype, Shape shape, std::shared_ptr<const Buffer> buffer, size_t offset) {
  if (dtype == DType::kString) return invalid_argument("a string tensor cannot view raw bytes");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  for (int64_t d : t.shape_)
    if (d < 0) return invalid_argument("tensor view with negative dimension " + shape_to_string(t.shape_));
  if (offset > buffer->size() || t.nbytes() > buffer->size() - offset)
    return invalid_argument("tensor view of " + std::to_string(t.nbytes()) + " bytes at offset " +
                            std::to_string(offset) + " exceeds buffer of " + std::to_string(buffer->size()) + " bytes");
  t.buffer_ = std::move(buffer);
  t.offset_ = offset;
  return t;
}

const uint8_t* Tensor::raw() const { return buffer_->data() + offset_; }

uint8_t* Tensor::mutable_raw() {
  auto* owned = dynamic_cast<const OwnedBuffer*>(buffer_.get());
  if (!owned || buffer_.use_count() > 1 || offset_ != 0) {
    auto copy = std::make_shared<OwnedBuffer>(nbytes());
    if (nbytes()) std::memcpy(copy->mutable_data(), raw(), nbytes());
    buffer_ = copy;
    offset_ = 0;
    return copy->mutable_data();
  }
  return const_cast<OwnedBuffer*>(owned)->mutable_data();
}

std::vector<std::string>& Tensor::mutable_strings() {
  if (strings_.use_count() > 1) strings_ = std::make_shared<std::vector<std::string>>(*strings_);
  return *strings_;
}

double Tensor::get_f64(int64_t i) const { return load_f64(dtype_, raw() + i * dtype_element_bytes(dtype_)); }
int64_t Tensor::get_i64(int64_t i) const { return load_i64(dtype_, raw() + i * dtype_element_bytes(dtype_)); }
void Tensor::set_f64(int64_t i, double v) { store_f64(dtype_, mutable_raw() + i * dtype_element_bytes(dtype_), v); }
void Tensor::set_i64(int64_t i, int64_t v) { store_i64(dtype_, mutable_raw() + i * dtype_element_bytes(dtype_), v); }

Tensor Tensor::from_f64(DType dtype, Shape shape, std::span<const double> values) {
  Tensor t(dtype, std::move(shape));
  uint8_t* p = t.mutable_raw();
  const int eb = dtype_element_bytes(dtype);
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.numel(); ++i) store_f64(dtype, p + i * eb, values[i]);
  return t;
}
Tensor Tensor::from_f32(DType dtype, Shape shape, std::span<const float> values) {
  std::vector<double> d(values.begin(), values.end());
  return from_f64(dtype, std::move(shape), d);
}
Tensor Tensor::from_i64(DType dtype, Shape shape, std::span<const int64_t> values) {
  Tensor t(dtype, std::move(shape));
  uint8_t* p = t.mutable_raw();
  const int eb = dtype_element_bytes(dtype);
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.numel(); ++i) store_i64(dtype, p + i * eb, values[i]);
  return t;
}
Tensor Tensor::from_strings(Shape shape, std::vector<std::string> values) {
  Tensor t(DType::kString, std::move(shape));
  values.resize(static_cast<size_t>(t.numel()));
  *t.strings_ = std::move(values);
  return t;
}

std::vector<double> Tensor::to_f64() const {
  std::vector<double> r(static_cast<size_t>(numel()));
  const int eb = dtype_element_bytes(dtype_);
  const uint8_t* p = raw();
  for (size_t i = 0; i < r.size(); ++i) r[i] = load_f64(dtype_, p + i * eb);
  return r;
}
std::vector<float> Tensor::to_f32() const {
  if (dtype_ == DType::kFp32) return std::vector<float>(data<float>(), data<float>() + numel());
  std::vector<float> r(static_cast<size_t>(numel()));
  const int eb = dtype_element_bytes(dtype_);
  const uint8_t* p = raw();
  for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<float>(load_f64(dtype_, p + i * eb));
  return r;
}
std::vector<int64_t> Tensor::to_i64() const {
  std::vector<int64_t> r(static_cast<size_t>(numel()));
  const int eb = dtype_element_bytes(dtype_);
  const uint8_t* p = raw();
  for (size_t i = 0; i < r.size(); ++i) r[i] = load_i64(dtype_, p + i * eb);
  return r;
}

Result<Tensor> Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel())
    return invalid_argument("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::cast_to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out(dtype, shape_);
  const int64_t n = numel();
  const int ib = dtype_element_bytes(dtype_), ob = dtype_element_bytes(dtype);
  const uint8_t* src = raw();
  uint8_t* dst = out.mutable_raw();
  const bool exact_int = (is_int(dtype_) || dtype_ == DType::kBool) && (is_int(dtype) || dtype == DType::kBool);
  for (int64_t i = 0; i < n; ++i) {
    if (exact_int) store_i64(dtype, dst + i * ob, load_i64(dtype_, src + i * ib));
    else store_f64(dtype, dst + i * ob, load_f64(dtype_, src + i * ib));
  }
  return out;
}

bool Tensor::identical(const Tensor& o) const {
  if (dtype_ != o.dtype_ || shape_ != o.shape_) return false;
  if (dtype_ == DType::kString) return *strings_ == *o.strings_;
  return nbytes() == 0 || std::memcmp(raw(), o.raw(), nbytes()) == 0;
}

std::string Tensor::debug_string(int64_t max_elements) const {
  std::ostringstream os;
  os << dtype_name(dtype_) << shape_to_string(shape_) << "{";
  const int64_t n = std::min(numel(), max_elements);
  for (int64_t i = 0; i < n; ++i) {
    if (i) os << ", ";
    if (dtype_ == DType::kString) os << '"' << get_string(i) << '"';
    else if (is_float(dtype_)) os << get_f64(i);
    else os << get_i64(i);
  }
  if (numel() > n) os << ", ...";
  os << "}";
  return os.str();
}

}  // namespace ironmill::mil
