#include "formats/gguf/ggml_types.h"

#include <array>

namespace ironmill::formats::gguf {
namespace {

constexpr GgmlTypeTraits kTraits[] = {
#define IM_X(e, id, name, blck, size) {GgmlType::e, name, blck, size, (blck) > 1},
    IM_GGML_TYPES(IM_X)
#undef IM_X
};

// id -> index into kTraits, -1 where the id is not a type.
constexpr std::array<int, kGgmlTypeIdEnd> make_index() {
  std::array<int, kGgmlTypeIdEnd> idx{};
  for (auto& i : idx) i = -1;
  for (int i = 0; i < static_cast<int>(std::size(kTraits)); ++i) idx[static_cast<uint32_t>(kTraits[i].type)] = i;
  return idx;
}
constexpr auto kIndex = make_index();

#define IM_X(e, id, name, blck, size) static_assert((id) < kGgmlTypeIdEnd, "ggml type id out of range");
IM_GGML_TYPES(IM_X)
#undef IM_X

}  // namespace

const GgmlTypeTraits* ggml_type_traits(uint32_t id) {
  if (id >= kGgmlTypeIdEnd || kIndex[id] < 0) return nullptr;
  return &kTraits[kIndex[id]];
}

const GgmlTypeTraits& ggml_type_traits(GgmlType type) { return *ggml_type_traits(static_cast<uint32_t>(type)); }

std::string_view ggml_type_name(GgmlType type) { return ggml_type_traits(type).name; }

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  for (const auto& t : kTraits)
    if (t.name == name) return t.type;
  return std::nullopt;
}

uint64_t ggml_row_size(GgmlType type, int64_t n) {
  const auto& t = ggml_type_traits(type);
  return t.type_size * static_cast<uint64_t>(n / t.block_size);
}

}  // namespace ironmill::formats::gguf
