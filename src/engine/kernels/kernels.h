// CPU kernels of the decode engine (issue 8). The interface is fixed here so the model code
// (src/engine/*.cc) and the kernels (src/engine/kernels/*.cc) can be written side by side.
//
// Weights stay in their stored format: matvec/matmul read the blocks directly (no dequantized copy).
// Matrices are row-major [rows, cols] in the PyTorch sense (y = W x, W has `rows` outputs); for GGUF
// that is ne[1] rows of ne[0] elements, each row a sequence of ggml blocks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace ironmill::engine {

enum class WeightFormat {
  kF32,
  kF16,
  kBF16,
  kInt8PerChannel,  // int8 [rows, cols], one fp32 scale per row: w = q * scale[row]
  kInt4PerGroup,    // uint4 [rows, cols] two per byte (low nibble first), per group of `group_size` along a
                    // row: w = (q - zero[row, g]) * scale[row, g], fp32 scale and zero
  kQ4_0,
  kQ8_0,
  kQ4_K,
  kQ6_K,
};
std::string_view weight_format_name(WeightFormat f);

struct WeightMatrix {
  WeightFormat format = WeightFormat::kF32;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;     // rows * row_bytes
  size_t row_bytes = 0;              // bytes of one row in `format`
  const float* scales = nullptr;     // kInt8PerChannel: [rows]; kInt4PerGroup: [rows, cols / group_size]
  const float* zeros = nullptr;      // kInt4PerGroup: [rows, cols / group_size]
  int64_t group_size = 0;            // kInt4PerGroup
  std::shared_ptr<const void> keep_alive;  // owns (or maps) the bytes above
};

// A fixed set of worker threads (created once; no allocation or thread creation per call).
class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads >= 1; 1 runs everything on the caller
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  int size() const;
  // Runs fn(begin, end) over [0, n) split into contiguous chunks, one per thread; returns when all are done.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// y[rows] = W x[cols] (fp32 accumulation).
void matvec(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool);
// Y[n, rows] = X[n, cols] W^T, for prefill (n tokens at once).
void matmul(const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool& pool);
// Row `row` of W widened to fp32 (embedding lookup from a quantized table).
void dequantize_row(const WeightMatrix& w, int64_t row, float* out);

// ---- Added by the kernels helper (E2); nothing above was changed. ----
// `row_bytes` is the row STRIDE: at least the packed size of a row (weight_row_bytes), larger when
// rows are padded (the .ironml-gpu bundle pads rows to 64 bytes).
// Packed bytes of one row of `cols` elements in `f` (0 when cols is not a multiple of the block size).
size_t weight_row_bytes(WeightFormat f, int64_t cols);
// Quantized formats (Q4_0, Q8_0, Q4_K, Q6_K) take the activation vector quantized to int8 blocks of 32
// (one fp32 scale each, llama.cpp's Q8 scheme) and use integer dot products; fp32/fp16/bf16/int8/int4
// multiply in fp32. AVX2+FMA+F16C code is chosen at run time; a portable scalar path computes the
// same integer sums. Exposed so tests and benches can pin one path.
enum class KernelIsa { kAuto, kScalar, kAvx2 };
void set_kernel_isa(KernelIsa isa);  // kAuto: AVX2 when the CPU has it
KernelIsa active_kernel_isa();       // kScalar or kAvx2

// ---- Model-side kernels (model_kernels.cc, attention.cc) ----
enum NormFlags : uint32_t {
  kNormPlain = 0,
  kNormOnePlusWeight = 1u << 0,  // Gemma / Qwen3.5: y = x_hat * (1 + w)
  kNormCentered = 1u << 1,       // subtract the mean first (x_hat = (x - mean) / sqrt(var + eps))
};
// Fused residual add + RMSNorm: x[i] += delta[i] (when delta != nullptr), then
// out = x / sqrt(mean(x^2) + eps) * w (w == nullptr: no weight). out may alias x when delta is null.
void add_rmsnorm(float* x, const float* delta, const float* w, int64_t n, float eps, uint32_t flags, float* out);
// In-place RMSNorm of n_heads consecutive vectors of head_dim (Qwen3 q/k norm), one shared weight [head_dim].
void rmsnorm_heads(float* x, int64_t n_heads, int64_t head_dim, const float* w, float eps, uint32_t flags);

enum class RopeStyle {
  kRotateHalf,   // HF / NeoX: pairs (i, i + rotary_dim/2)
  kInterleaved,  // GPT-J / llama.cpp "normal": pairs (2i, 2i+1)
};
// HF's default inverse frequencies in fp32: inv_freq[i] = 1 / theta^(2i / rotary_dim), i < rotary_dim/2.
void rope_inv_freq(int64_t rotary_dim, float theta, float* inv_freq);
// Rotates the first rotary_dim (even, <= head_dim) elements of each of n_heads heads (stride head_dim)
// by angle pos * inv_freq[i], computed in fp32 like HF (cos/sin of the fp32 product).
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, int64_t pos, const float* inv_freq,
          RopeStyle style);

enum class GeluKind { kTanh, kErf };
void swiglu(const float* gate, const float* up, float* out, int64_t n);  // silu(gate) * up
void geglu(const float* gate, const float* up, float* out, int64_t n, GeluKind kind);  // gelu(gate) * up
void softmax(float* x, int64_t n);  // in place, max-subtracted
void softcap(float* x, int64_t n, float cap);  // x = cap * tanh(x / cap) (Gemma logits)

// fp32 KV cache of one layer as a ring buffer: position p lives in slot p % capacity; element (slot, head, d)
// at k[slot * slot_stride + head * head_stride + d] (same for v).
struct KvCacheView {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t capacity = 0;
  int64_t slot_stride = 0;
  int64_t head_stride = 0;
};
struct AttentionParams {
  int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;  // GQA: query head h reads kv head h / (n_heads / n_kv_heads)
  float scale = 0;     // score = scale * q.k (usually 1/sqrt(head_dim))
  float softcap = 0;   // > 0: score = softcap * tanh(score / softcap) (Gemma 2)
  int64_t window = 0;  // > 0: attend to the last `window` positions only (sliding window)
};
// One query (q[n_heads, head_dim], at position pos) over positions [max(0, pos - window + 1, pos - capacity + 1),
// pos] of the cache (which must already hold pos); out[n_heads, head_dim]. Flash-decoding: keys are split into
// chunks processed in parallel with a running max/sum each, then merged.
void attention_decode(const float* q, const KvCacheView& kv, int64_t pos, const AttentionParams& p, float* out,
                      ThreadPool& pool);

}  // namespace ironmill::engine
