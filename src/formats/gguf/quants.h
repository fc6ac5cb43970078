// ggml block quantization: dequantize F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K to fp32
// and quantize fp32 to F16, BF16, Q4_0, Q8_0, Q4_K and Q6_K, bit-exact with llama.cpp's reference C
// (ggml-quants.c: dequantize_row_*, quantize_row_*_ref, and quantize_* with an importance matrix).
// The code follows ggml's arithmetic expression by expression, in fp32, because a different
// (even more accurate) order would change rounding and so the bytes of a model file. It is compiled
// with -ffp-contract=off for the same reason. Checked against libggml-base by
// tests/formats/oracle/gguf_ggml_oracle_test.cc.
//
// Inputs are assumed finite: like ggml, NaN or inf inputs give unspecified (but memory-safe) blocks.
#pragma once
#include <cstdint>

#include "formats/gguf/ggml_types.h"
#include "util/status.h"

namespace ironmill::formats::gguf {

bool can_dequantize(GgmlType type);
bool can_quantize(GgmlType type);

// Decodes `n` elements (a multiple of the block size) stored as `type` at `src` into `dst`.
// `src` needs no alignment.
Status dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

// Encodes nrows x n_per_row floats into `dst` (nrows * ggml_row_size(type, n_per_row) bytes), like
// ggml_quantize_chunk: with `imatrix` (n_per_row importance weights) Q4_0, Q4_K and Q6_K use ggml's
// weighted search; without it, the quantize_row_*_ref path. Q8_0, F16 and BF16 ignore imatrix.
// Returns the number of bytes written.
Result<uint64_t> quantize(GgmlType type, const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                          const float* imatrix = nullptr);

// ggml's fp16 conversions (round-to-nearest-even, NaN -> 0x7E00 with the sign kept), bit-identical to
// GGML_FP32_TO_FP16 / GGML_FP16_TO_FP32 and fast enough for per-element use.
uint16_t ggml_fp32_to_fp16(float f);
float ggml_fp16_to_fp32(uint16_t h);

}  // namespace ironmill::formats::gguf
