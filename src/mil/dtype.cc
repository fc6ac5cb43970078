#include "mil/dtype.h"

#include <array>

namespace ironmill::mil {
namespace {
struct Info {
  std::string_view name;
  int code, bits, bytes;
};
constexpr std::array<Info, kNumDTypes> kInfo = {{
#define IM_X(e, name, code, bits, bytes) {name, code, bits, bytes},
    IM_DTYPES(IM_X)
#undef IM_X
}};
const Info& info(DType t) { return kInfo[static_cast<size_t>(t)]; }
}  // namespace

std::string_view dtype_name(DType t) { return info(t).name; }
std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kInfo.size(); ++i)
    if (kInfo[i].name == name) return static_cast<DType>(i);
  return std::nullopt;
}
int dtype_proto_code(DType t) { return info(t).code; }
std::optional<DType> dtype_from_proto_code(int code) {
  for (size_t i = 0; i < kInfo.size(); ++i)
    if (kInfo[i].code == code) return static_cast<DType>(i);
  return std::nullopt;
}
int dtype_bits(DType t) { return info(t).bits; }
int dtype_element_bytes(DType t) { return info(t).bytes; }

bool is_float(DType t) {
  switch (t) {
    case DType::kFp16: case DType::kFp32: case DType::kFp64: case DType::kBf16:
    case DType::kFp8E4M3FN: case DType::kFp8E5M2:
      return true;
    default:
      return false;
  }
}
bool is_signed_int(DType t) {
  switch (t) {
    case DType::kInt4: case DType::kInt8: case DType::kInt16: case DType::kInt32: case DType::kInt64:
      return true;
    default:
      return false;
  }
}
bool is_unsigned_int(DType t) {
  switch (t) {
    case DType::kUint1: case DType::kUint2: case DType::kUint3: case DType::kUint4: case DType::kUint6:
    case DType::kUint8: case DType::kUint16: case DType::kUint32: case DType::kUint64:
      return true;
    default:
      return false;
  }
}
bool is_int(DType t) { return is_signed_int(t) || is_unsigned_int(t); }
bool is_sub_byte(DType t) { return (is_int(t)) && dtype_bits(t) < 8; }
int64_t int_min(DType t) {
  if (!is_signed_int(t)) return 0;
  const int b = dtype_bits(t);
  return b == 64 ? INT64_MIN : -(int64_t{1} << (b - 1));
}
uint64_t int_max(DType t) {
  const int b = dtype_bits(t);
  if (is_signed_int(t)) return b == 64 ? INT64_MAX : (uint64_t{1} << (b - 1)) - 1;
  if (t == DType::kBool) return 1;
  return b == 64 ? UINT64_MAX : (uint64_t{1} << b) - 1;
}

}  // namespace ironmill::mil
