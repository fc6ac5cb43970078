// A dense tensor value: dtype + shape + storage. Storage is shared and may be a view over mapped
// memory (lazily loaded weights), so copying a Tensor never copies data.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mil/dtype.h"
#include "util/status.h"

namespace ironmill::mil {

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);
std::string shape_to_string(const Shape& s);

// Bytes behind a tensor. Owned buffers are mutable; external ones (mmap) are read-only views.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
};

class Tensor {
 public:
  Tensor();  // an fp32 scalar 0
  // Zero-filled tensor of the given type.
  Tensor(DType dtype, Shape shape);
  // A view over external bytes (no copy). `bytes` must hold numel * element_bytes.
  static Result<Tensor> view(DType dtype, Shape shape, std::shared_ptr<const Buffer> buffer, size_t offset = 0);

  // Builders that convert every element to `dtype` with that dtype's rules
  // (floats: round-to-nearest-even; ints: C++ truncation toward zero, saturated; bool: != 0).
  static Tensor from_f64(DType dtype, Shape shape, std::span<const double> values);
  static Tensor from_f32(DType dtype, Shape shape, std::span<const float> values);
  static Tensor from_i64(DType dtype, Shape shape, std::span<const int64_t> values);
  static Tensor from_strings(Shape shape, std::vector<std::string> values);
  static Tensor scalar_f64(DType dtype, double v) { return from_f64(dtype, {}, std::span<const double>(&v, 1)); }
  static Tensor scalar_i64(DType dtype, int64_t v) { return from_i64(dtype, {}, std::span<const int64_t>(&v, 1)); }
  static Tensor scalar_bool(bool v) { return scalar_i64(DType::kBool, v ? 1 : 0); }
  static Tensor scalar_string(std::string v) { return from_strings({}, {std::move(v)}); }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_element_bytes(dtype_); }

  // Raw element storage; T must match the in-memory element type (see dtype.h).
  template <class T> const T* data() const { return reinterpret_cast<const T*>(raw()); }
  template <class T> T* mutable_data() { return reinterpret_cast<T*>(mutable_raw()); }
  const uint8_t* raw() const;
  uint8_t* mutable_raw();  // copies first if the storage is shared or external

  // Element access with conversion (slow path, fine for the reference interpreter).
  double get_f64(int64_t i) const;
  int64_t get_i64(int64_t i) const;
  void set_f64(int64_t i, double v);  // converts with dtype rules
  void set_i64(int64_t i, int64_t v);
  const std::string& get_string(int64_t i) const { return (*strings_)[i]; }
  std::vector<std::string>& mutable_strings();

  std::vector<double> to_f64() const;
  std::vector<float> to_f32() const;
  std::vector<int64_t> to_i64() const;

  // Same data, new shape (numel must match).
  Result<Tensor> reshaped(Shape shape) const;
  // Element-wise conversion to another dtype with `cast` semantics.
  Tensor cast_to(DType dtype) const;
  // Exact equality of dtype, shape and bits (NaN == NaN when bits match).
  bool identical(const Tensor& other) const;
  std::string debug_string(int64_t max_elements = 16) const;

 private:
  DType dtype_ = DType::kFp32;
  Shape shape_;
  std::shared_ptr<const Buffer> buffer_;
  size_t offset_ = 0;
  std::shared_ptr<std::vector<std::string>> strings_;  // only for kString
};

// Converts one double to the element bits of `dtype` and back (shared by Tensor and the kernels).
void store_f64(DType dtype, uint8_t* dst, double v);
double load_f64(DType dtype, const uint8_t* src);
int64_t load_i64(DType dtype, const uint8_t* src);
void store_i64(DType dtype, uint8_t* dst, int64_t v);

}  // namespace ironmill::mil
