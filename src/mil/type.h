// MIL value types: tensors (scalars are rank-0 tensors), lists, tuples, dicts and states.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mil/dtype.h"
#include "mil/tensor.h"

namespace ironmill::mil {

inline constexpr int64_t kUnknownDim = -1;  // printed `?`

struct Type {
  enum class Kind : uint8_t { kTensor, kList, kTuple, kDict, kState };
  Kind kind = Kind::kTensor;
  DType dtype = DType::kFp32;  // tensors only
  Shape dims;                  // tensors only; kUnknownDim for unknown sizes
  bool rank_known = true;      // false: variadic rank (`tensor<fp32, *>`)
  std::vector<Type> children;  // list: [elem]; tuple: elems; dict: [key, value]; state: [wrapped]
  int64_t list_length = kUnknownDim;

  static Type tensor(DType dt, Shape dims) { Type t; t.dtype = dt; t.dims = std::move(dims); return t; }
  static Type scalar(DType dt) { return tensor(dt, {}); }
  static Type unknown_rank(DType dt) { Type t; t.dtype = dt; t.rank_known = false; return t; }
  static Type list(Type elem, int64_t length = kUnknownDim) {
    Type t; t.kind = Kind::kList; t.children = {std::move(elem)}; t.list_length = length; return t;
  }
  static Type tuple(std::vector<Type> elems) { Type t; t.kind = Kind::kTuple; t.children = std::move(elems); return t; }
  static Type dict(Type key, Type value) {
    Type t; t.kind = Kind::kDict; t.children = {std::move(key), std::move(value)}; return t;
  }
  static Type state(Type wrapped) { Type t; t.kind = Kind::kState; t.children = {std::move(wrapped)}; return t; }

  bool is_tensor() const { return kind == Kind::kTensor; }
  bool is_scalar() const { return is_tensor() && rank_known && dims.empty(); }
  int rank() const { return rank_known ? static_cast<int>(dims.size()) : -1; }
  bool fully_known() const;  // tensor with known rank and all dims known
  bool operator==(const Type& o) const;
  bool operator!=(const Type& o) const { return !(*this == o); }
};

// MIL text spelling. `legacy_scalars` selects program(1.0) style (`tensor<int32, []>`) for scalars;
// program(1.3) prints scalars as the bare dtype (`int32`).
std::string type_to_string(const Type& t, bool legacy_scalars = false);
// True when a value of type `actual` may flow where `expected` is declared (unknown dims match anything).
bool type_compatible(const Type& expected, const Type& actual);

}  // namespace ironmill::mil
