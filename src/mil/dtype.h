// MIL element types. One X-macro list drives the enum, the text names (coremltools spelling) and the
// proto codes, so they cannot drift apart.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ironmill::mil {

// X(enumerator, MIL text name, Core ML proto DataType code, bits per element, in-memory bytes per element)
// In memory every element occupies a whole C type: sub-byte ints sit one per byte, fp16/bf16/fp8 as raw bits.
#define IM_DTYPES(X)                \
  X(kBool, "bool", 1, 8, 1)         \
  X(kString, "string", 2, 0, 0)     \
  X(kFp16, "fp16", 10, 16, 2)       \
  X(kFp32, "fp32", 11, 32, 4)       \
  X(kFp64, "fp64", 12, 64, 8)       \
  X(kBf16, "bf16", 13, 16, 2)       \
  X(kInt8, "int8", 21, 8, 1)        \
  X(kInt16, "int16", 22, 16, 2)     \
  X(kInt32, "int32", 23, 32, 4)     \
  X(kInt64, "int64", 24, 64, 8)     \
  X(kInt4, "int4", 25, 4, 1)        \
  X(kUint8, "uint8", 31, 8, 1)      \
  X(kUint16, "uint16", 32, 16, 2)   \
  X(kUint32, "uint32", 33, 32, 4)   \
  X(kUint64, "uint64", 34, 64, 8)   \
  X(kUint4, "uint4", 35, 4, 1)      \
  X(kUint2, "uint2", 36, 2, 1)      \
  X(kUint1, "uint1", 37, 1, 1)      \
  X(kUint6, "uint6", 38, 6, 1)      \
  X(kUint3, "uint3", 39, 3, 1)      \
  X(kFp8E4M3FN, "fp8e4m3fn", 40, 8, 1) \
  X(kFp8E5M2, "fp8e5m2", 41, 8, 1)

enum class DType : uint8_t {
#define IM_X(e, name, code, bits, bytes) e,
  IM_DTYPES(IM_X)
#undef IM_X
};

inline constexpr int kNumDTypes = 0
#define IM_X(e, name, code, bits, bytes) +1
    IM_DTYPES(IM_X)
#undef IM_X
    ;
static_assert(kNumDTypes == 22, "a dtype was added: update every table keyed by DType (tensor.cc conversions)");

std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);
int dtype_proto_code(DType t);
std::optional<DType> dtype_from_proto_code(int code);
int dtype_bits(DType t);              // storage bits on disk / in packed form (0 for string)
int dtype_element_bytes(DType t);     // bytes per element in memory (0 for string)

bool is_float(DType t);     // fp16, bf16, fp32, fp64, fp8*
bool is_int(DType t);       // signed and unsigned integers of any width
bool is_signed_int(DType t);
bool is_unsigned_int(DType t);
bool is_sub_byte(DType t);  // int4, uint1..uint6
// Integer range of an integer dtype (for saturation and validation).
int64_t int_min(DType t);
uint64_t int_max(DType t);

}  // namespace ironmill::mil
