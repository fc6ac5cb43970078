// matvec / matmul / dequantize_row over the stored weight formats: picks the tile kernels (AVX2 or
// scalar), quantizes the activations once per call on the caller's thread when the format needs it, and
// splits rows over the pool. matvec is matmul with n = 1 (same tile kernels at T = 1). Scratch buffers are thread_local and only grow, so steady-state decode
// allocates nothing.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/kernels/matvec_internal.h"
#include "formats/gguf/quants.h"

namespace ironmill::engine {
namespace {
using detail::DotTable;
using detail::Q8Activation;

std::atomic<int> g_isa{static_cast<int>(KernelIsa::kAuto)};

const DotTable& dots() {
  const auto isa = static_cast<KernelIsa>(g_isa.load(std::memory_order_relaxed));
  if (isa != KernelIsa::kScalar && detail::avx2_dots() && detail::cpu_has_avx2()) return *detail::avx2_dots();
  return detail::scalar_dots();
}

// A 64-byte aligned buffer that only grows.
struct AlignedBuffer {
  void* p = nullptr;
  size_t cap = 0;
  ~AlignedBuffer() { std::free(p); }
  void* get(size_t bytes) {
    if (bytes > cap) {
      std::free(p);
      cap = (bytes + 63) / 64 * 64;
      p = std::aligned_alloc(64, cap);
    }
    return p;
  }
};

struct ActivationScratch {
  AlignedBuffer qs, d, dsum;
  // Quantizes n rows of `cols` floats (row stride cols); row t's blocks start at t * nb.
  void quantize(const float* x, int64_t n, int64_t cols) {
    const int64_t nb = (cols + 31) / 32;
    int8_t* q = static_cast<int8_t*>(qs.get(static_cast<size_t>(n * nb * 32)));
    float* dd = static_cast<float*>(d.get(static_cast<size_t>(n * nb) * 4));
    float* ds = static_cast<float*>(dsum.get(static_cast<size_t>(n * nb) * 4));
    for (int64_t t = 0; t < n; ++t) detail::quantize_activation_q8(x + t * cols, cols, q + t * nb * 32, dd + t * nb, ds + t * nb);
  }
  Q8Activation row(int64_t t, int64_t cols) const {
    const int64_t nb = (cols + 31) / 32;
    return Q8Activation{static_cast<const int8_t*>(qs.p) + t * nb * 32, static_cast<const float*>(d.p) + t * nb,
                        static_cast<const float*>(dsum.p) + t * nb, nb};
  }
};

thread_local ActivationScratch t_act;
thread_local AlignedBuffer t_xsum;

bool is_quantized(WeightFormat f) {
  return f == WeightFormat::kQ4_0 || f == WeightFormat::kQ8_0 || f == WeightFormat::kQ4_K ||
         f == WeightFormat::kQ6_K;
}

// Rows per task below which threading costs more than it saves (~16 KiB of weights per thread).
bool worth_threading(const WeightMatrix& w, int64_t n) {
  return static_cast<double>(w.rows) * static_cast<double>(w.row_bytes) * static_cast<double>(n) > 32768.0;
}

// y[t * rows + r] = W[r] . x[t] for t < n. All state lives in one struct so the std::function handed to
// the pool captures a single reference (stored inline: no allocation per call).
struct RowJob {
  const WeightMatrix* w;
  const float* x;
  int64_t n;
  float* y;
  const DotTable* t;
  const ActivationScratch* act = nullptr;  // quantized formats: the caller's thread_local
  const float* xsum = nullptr;             // int4: per-token group sums of x
  int64_t group = 0, ng = 0;

  // Row r against tokens [tok, tok + T): out[j] = W[r] . x[tok + j], through the T-token tile kernel.
  void tile(int64_t r, int64_t tok, int T, float* out) const {
    const WeightMatrix& m = *w;
    const uint8_t* row = m.data + r * m.row_bytes;
    const int64_t cols = m.cols;
    const float* xt = x + tok * cols;
    switch (m.format) {
      case WeightFormat::kQ4_0: t->q4_0_n[T - 1](row, act->row(tok, cols), cols, out); return;
      case WeightFormat::kQ8_0: t->q8_0_n[T - 1](row, act->row(tok, cols), cols, out); return;
      case WeightFormat::kQ4_K: t->q4_k_n[T - 1](row, act->row(tok, cols), cols, out); return;
      case WeightFormat::kQ6_K: t->q6_k_n[T - 1](row, act->row(tok, cols), cols, out); return;
      case WeightFormat::kF32: t->f32_n[T - 1](row, xt, cols, cols, out); return;
      case WeightFormat::kF16: t->f16_n[T - 1](row, xt, cols, cols, out); return;
      case WeightFormat::kBF16: t->bf16_n[T - 1](row, xt, cols, cols, out); return;
      case WeightFormat::kInt8PerChannel:
        t->i8_n[T - 1](row, xt, cols, cols, out);
        for (int j = 0; j < T; ++j) out[j] *= m.scales[r];
        return;
      case WeightFormat::kInt4PerGroup:
        t->i4_n[T - 1](row, xt, cols, m.scales + r * ng, m.zeros + r * ng, xsum + tok * ng, cols, group, out);
        return;
    }
  }
  // Tiles of 16 rows x kTileTokens (3 for float formats) tokens: each weight row is read from memory once per 16-row tile, and
  // from L1/L2 once per token tile, where its blocks are decoded once for all the tile's tokens.
  void run(int64_t begin, int64_t end) const {
    const WeightFormat f = w->format;
    const bool floats = f == WeightFormat::kF32 || f == WeightFormat::kF16 || f == WeightFormat::kBF16 ||
                        f == WeightFormat::kInt8PerChannel;
    // Float formats stream fp32 activations: take 3 tokens only while their rows and one weight row fit a
    // 32 KiB L1 (else 2; Qwen3-0.6B's F16 down projection, 3072 columns: 44-51 vs 38-43 GFLOP/s at 3).
    const bool fits3 = 3 * w->cols * 4 + static_cast<int64_t>(w->row_bytes) <= 32768;
    const int kT = floats ? (fits3 ? detail::kFloatTileTokens : 2) : detail::kTileTokens;
    const int64_t rows = w->rows;
    float out[detail::kTileTokens];
    for (int64_t r0 = begin; r0 < end; r0 += 16) {
      const int64_t r1 = r0 + 16 < end ? r0 + 16 : end;
      for (int64_t tok = 0; tok < n;) {
        // A remainder of kT + 1 goes as (kT - 1) + 2 rather than kT + 1: single-token tiles decode the
        // weights for one token only.
        const int64_t rem = n - tok;
        const int T = rem == kT + 1 ? kT - 1 : (rem < kT ? static_cast<int>(rem) : kT);
        for (int64_t r = r0; r < r1; ++r) {
          tile(r, tok, T, out);
          for (int j = 0; j < T; ++j) y[(tok + j) * rows + r] = out[j];
        }
        tok += T;
      }
    }
  }
};

void run_rows(const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  RowJob job{&w, x, n, y, &dots()};
  const int64_t rows = w.rows, cols = w.cols;
  if (is_quantized(w.format)) {
    t_act.quantize(x, n, cols);
    job.act = &t_act;
  } else if (w.format == WeightFormat::kInt4PerGroup) {
    job.group = w.group_size > 0 ? w.group_size : cols;
    job.ng = (cols + job.group - 1) / job.group;
    float* xs = static_cast<float*>(t_xsum.get(static_cast<size_t>(n * job.ng) * 4));
    for (int64_t tok = 0; tok < n; ++tok)
      for (int64_t g = 0; g < job.ng; ++g) {
        float s = 0;
        for (int64_t i = g * job.group; i < (g + 1) * job.group && i < cols; ++i) s += x[tok * cols + i];
        xs[tok * job.ng + g] = s;
      }
    job.xsum = xs;
  }
  if (pool.size() > 1 && worth_threading(w, n)) {
    // Split on 16-row tiles so no two threads write the same output cache line.
    const std::function<void(int64_t, int64_t)> tiled = [&job](int64_t b, int64_t e) {
      job.run(b * 16, e * 16 < job.w->rows ? e * 16 : job.w->rows);
    };
    pool.parallel_for((rows + 15) / 16, tiled);
  } else {
    job.run(0, rows);
  }
}
}  // namespace

std::string_view weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return "f32";
    case WeightFormat::kF16: return "f16";
    case WeightFormat::kBF16: return "bf16";
    case WeightFormat::kInt8PerChannel: return "int8_per_channel";
    case WeightFormat::kInt4PerGroup: return "int4_per_group";
    case WeightFormat::kQ4_0: return "q4_0";
    case WeightFormat::kQ8_0: return "q8_0";
    case WeightFormat::kQ4_K: return "q4_K";
    case WeightFormat::kQ6_K: return "q6_K";
  }
  return "?";
}

size_t weight_row_bytes(WeightFormat f, int64_t cols) {
  if (cols < 0) return 0;
  const auto c = static_cast<size_t>(cols);
  switch (f) {
    case WeightFormat::kF32: return 4 * c;
    case WeightFormat::kF16:
    case WeightFormat::kBF16: return 2 * c;
    case WeightFormat::kInt8PerChannel: return c;
    case WeightFormat::kInt4PerGroup: return (c + 1) / 2;
    case WeightFormat::kQ4_0: return c % 32 ? 0 : c / 32 * 18;
    case WeightFormat::kQ8_0: return c % 32 ? 0 : c / 32 * 34;
    case WeightFormat::kQ4_K: return c % 256 ? 0 : c / 256 * 144;
    case WeightFormat::kQ6_K: return c % 256 ? 0 : c / 256 * 210;
  }
  return 0;
}

void set_kernel_isa(KernelIsa isa) { g_isa.store(static_cast<int>(isa), std::memory_order_relaxed); }

KernelIsa active_kernel_isa() { return &dots() == &detail::scalar_dots() ? KernelIsa::kScalar : KernelIsa::kAvx2; }

void matvec(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool) { run_rows(w, x, 1, y, pool); }

void matmul(const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (n > 0) run_rows(w, x, n, y, pool);
}

void dequantize_row(const WeightMatrix& w, int64_t row, float* out) {
  using formats::gguf::GgmlType;
  const uint8_t* src = w.data + row * w.row_bytes;
  const int64_t cols = w.cols;
  switch (w.format) {
    case WeightFormat::kF32: std::memcpy(out, src, static_cast<size_t>(cols) * 4); return;
    case WeightFormat::kF16: (void)formats::gguf::dequantize_row(GgmlType::kF16, src, out, cols); return;
    case WeightFormat::kBF16: (void)formats::gguf::dequantize_row(GgmlType::kBF16, src, out, cols); return;
    case WeightFormat::kQ4_0: (void)formats::gguf::dequantize_row(GgmlType::kQ4_0, src, out, cols); return;
    case WeightFormat::kQ8_0: (void)formats::gguf::dequantize_row(GgmlType::kQ8_0, src, out, cols); return;
    case WeightFormat::kQ4_K: (void)formats::gguf::dequantize_row(GgmlType::kQ4_K, src, out, cols); return;
    case WeightFormat::kQ6_K: (void)formats::gguf::dequantize_row(GgmlType::kQ6_K, src, out, cols); return;
    case WeightFormat::kInt8PerChannel: {
      const auto* q = reinterpret_cast<const int8_t*>(src);
      for (int64_t i = 0; i < cols; ++i) out[i] = static_cast<float>(q[i]) * w.scales[row];
      return;
    }
    case WeightFormat::kInt4PerGroup: {
      const int64_t group = w.group_size > 0 ? w.group_size : cols;
      const int64_t ng = (cols + group - 1) / group;
      for (int64_t i = 0; i < cols; ++i) {
        const int q = i & 1 ? src[i / 2] >> 4 : src[i / 2] & 0xF;
        const int64_t g = i / group;
        out[i] = (static_cast<float>(q) - w.zeros[row * ng + g]) * w.scales[row * ng + g];
      }
      return;
    }
  }
}

}  // namespace ironmill::engine
