// Weight compression shared by the ANE precision passes (layer schedule, per-expert quantization,
// codebook optimization): a float `const` weight is replaced in place — same output name, so no use
// is rewired — by an iOS18 constexpr op that decompresses it at load time:
//   fp16:        the values rounded to fp16 (kept in their dtype, so consumers' dtypes do not change)
//   int8:        constexpr_blockwise_shift_scale(data int8, scale [C0, 1, ...]): symmetric per output
//                channel, scale = max|w| / 127 (the ANE's INT8 is storage-only, anchors.md §6)
//   palettize_N: constexpr_lut_to_dense(indices uintN, lut [1.., 2^N, 1]): a per-tensor 1-D k-means
//                codebook (Lloyd iterations from quantile seeds; deterministic)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::passes::ane {

enum class WeightStrategy { kNone, kFp16, kInt8, kPalettize1, kPalettize2, kPalettize4, kPalettize6, kPalettize8 };

// "none", "fp16", "int8", "palettize_1bit" .. "palettize_8bit" (and "palettize_Nbit" for 1, 2, 4, 6, 8).
Result<WeightStrategy> parse_weight_strategy(const std::string& s);
std::string weight_strategy_name(WeightStrategy s);
int palette_bits(WeightStrategy s);  // 0 unless palettize

struct Codebook {
  std::vector<double> centroids;  // ascending
  std::vector<int64_t> index;     // per value, into centroids
};
// 1-D k-means with k = min(k, distinct values) clusters: seeds at the (i + 0.5) / k quantiles of the
// sorted values, then Lloyd iterations until assignments are stable (or `max_iters`).
Codebook kmeans_1d(const std::vector<double>& values, int k, int max_iters = 100);

// A float `const` op holding a tensor of at least `min_elements` elements.
bool is_float_weight_const(const mil::Operation& op, int64_t min_elements = 1);

// Rewrites `const_op` in place with `strategy`. Returns false (and leaves it) for kNone, for non-float
// or too-small consts, for an fp16 rounding that changes nothing, and for opsets before iOS18.
Result<bool> compress_weight(mil::Operation& const_op, WeightStrategy strategy, const std::string& opset);

}  // namespace ironmill::passes::ane
