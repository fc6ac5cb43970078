// ggml tensor types as stored in GGUF files: id, name, block size, bytes per block.
// One X-macro list (ids from ggml.h, sizes from ggml-common.h's static_asserts) drives the enum, the
// names and the size table. Ids 4, 5 and 31-33, 36-38 were removed from ggml and are invalid here too.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace ironmill::formats::gguf {

// X(enumerator, id, ggml type_name, elements per block, bytes per block)
#define IM_GGML_TYPES(X)              \
  X(kF32, 0, "f32", 1, 4)             \
  X(kF16, 1, "f16", 1, 2)             \
  X(kQ4_0, 2, "q4_0", 32, 18)         \
  X(kQ4_1, 3, "q4_1", 32, 20)         \
  X(kQ5_0, 6, "q5_0", 32, 22)         \
  X(kQ5_1, 7, "q5_1", 32, 24)         \
  X(kQ8_0, 8, "q8_0", 32, 34)         \
  X(kQ8_1, 9, "q8_1", 32, 36)         \
  X(kQ2_K, 10, "q2_K", 256, 84)       \
  X(kQ3_K, 11, "q3_K", 256, 110)      \
  X(kQ4_K, 12, "q4_K", 256, 144)      \
  X(kQ5_K, 13, "q5_K", 256, 176)      \
  X(kQ6_K, 14, "q6_K", 256, 210)      \
  X(kQ8_K, 15, "q8_K", 256, 292)      \
  X(kIQ2_XXS, 16, "iq2_xxs", 256, 66) \
  X(kIQ2_XS, 17, "iq2_xs", 256, 74)   \
  X(kIQ3_XXS, 18, "iq3_xxs", 256, 98) \
  X(kIQ1_S, 19, "iq1_s", 256, 50)     \
  X(kIQ4_NL, 20, "iq4_nl", 32, 18)    \
  X(kIQ3_S, 21, "iq3_s", 256, 110)    \
  X(kIQ2_S, 22, "iq2_s", 256, 82)     \
  X(kIQ4_XS, 23, "iq4_xs", 256, 136)  \
  X(kI8, 24, "i8", 1, 1)              \
  X(kI16, 25, "i16", 1, 2)            \
  X(kI32, 26, "i32", 1, 4)            \
  X(kI64, 27, "i64", 1, 8)            \
  X(kF64, 28, "f64", 1, 8)            \
  X(kIQ1_M, 29, "iq1_m", 256, 56)     \
  X(kBF16, 30, "bf16", 1, 2)          \
  X(kTQ1_0, 34, "tq1_0", 256, 54)     \
  X(kTQ2_0, 35, "tq2_0", 256, 66)     \
  X(kMXFP4, 39, "mxfp4", 32, 17)      \
  X(kNVFP4, 40, "nvfp4", 64, 36)      \
  X(kQ1_0, 41, "q1_0", 128, 18)       \
  X(kQ2_0, 42, "q2_0", 64, 18)

enum class GgmlType : uint32_t {
#define IM_X(e, id, name, blck, size) e = id,
  IM_GGML_TYPES(IM_X)
#undef IM_X
};

// One past the largest id ggml knows (GGML_TYPE_COUNT in the llama.cpp this was checked against).
inline constexpr uint32_t kGgmlTypeIdEnd = 43;

struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;
  int64_t block_size;  // elements per block
  uint64_t type_size;  // bytes per block
  bool quantized;      // block_size > 1
};

// nullptr for an id that is not (or no longer) a ggml type.
const GgmlTypeTraits* ggml_type_traits(uint32_t id);
const GgmlTypeTraits& ggml_type_traits(GgmlType type);
std::string_view ggml_type_name(GgmlType type);
std::optional<GgmlType> ggml_type_from_name(std::string_view name);
// Bytes of `n` elements (n must be a multiple of the block size).
uint64_t ggml_row_size(GgmlType type, int64_t n);

}  // namespace ironmill::formats::gguf
