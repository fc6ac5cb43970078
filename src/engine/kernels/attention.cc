// Flash-decoding attention for one query token over an fp32 KV ring buffer. The attended positions are
// cut into chunks of kChunk keys; every (head, chunk) pair is an independent task computing its scores,
// their max m, sum l = sum exp(s - m) and the unnormalized sum of exp(s - m) * v. The caller then merges
// the chunks of each head by rescaling with exp(m_c - max_c m_c). Chunk partials live in a thread_local
// buffer of the caller that only grows.
#include <cmath>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/kernels/matvec_internal.h"

namespace ironmill::engine {
namespace {
constexpr int64_t kChunk = 256;

thread_local std::vector<float> t_partials;

struct AttentionJob {
  const float* q;
  const KvCacheView* kv;
  const AttentionParams* p;
  int64_t start, n_keys, n_chunks;
  float* partials;  // per task: [m, l, acc[head_dim]]
  detail::FloatDot dot;

  void run_task(int64_t task) const {
    const int64_t hd = p->head_dim;
    const int64_t h = task / n_chunks, c = task % n_chunks;
    const int64_t kvh = h / (p->n_heads / p->n_kv_heads);
    const float* qh = q + h * hd;
    const int64_t t0 = start + c * kChunk;
    const int64_t t1 = t0 + kChunk < start + n_keys ? t0 + kChunk : start + n_keys;
    float scores[kChunk];
    float m = -INFINITY;
    for (int64_t t = t0; t < t1; ++t) {
      const float* k = kv->k + (t % kv->capacity) * kv->slot_stride + kvh * kv->head_stride;
      float s = p->scale * dot(reinterpret_cast<const uint8_t*>(k), qh, hd);
      if (p->softcap > 0) s = p->softcap * std::tanh(s / p->softcap);
      scores[t - t0] = s;
      m = s > m ? s : m;
    }
    float* out = partials + task * (hd + 2);
    float* acc = out + 2;
    for (int64_t d = 0; d < hd; ++d) acc[d] = 0;
    double l = 0;
    for (int64_t t = t0; t < t1; ++t) {
      const float e = std::exp(scores[t - t0] - m);
      l += e;
      const float* v = kv->v + (t % kv->capacity) * kv->slot_stride + kvh * kv->head_stride;
      for (int64_t d = 0; d < hd; ++d) acc[d] += e * v[d];
    }
    out[0] = m;
    out[1] = static_cast<float>(l);
  }
};
}  // namespace

void attention_decode(const float* q, const KvCacheView& kv, int64_t pos, const AttentionParams& p, float* out,
                      ThreadPool& pool) {
  const int64_t hd = p.head_dim;
  int64_t start = 0;
  if (p.window > 0 && pos - p.window + 1 > start) start = pos - p.window + 1;
  if (pos - kv.capacity + 1 > start) start = pos - kv.capacity + 1;  // older slots were overwritten
  const int64_t n_keys = pos - start + 1;
  const int64_t n_chunks = (n_keys + kChunk - 1) / kChunk;
  const int64_t tasks = p.n_heads * n_chunks;
  if (t_partials.size() < static_cast<size_t>(tasks * (hd + 2))) t_partials.resize(static_cast<size_t>(tasks * (hd + 2)));
  const detail::FloatDot dot =
      active_kernel_isa() == KernelIsa::kAvx2 ? detail::avx2_dots()->f32 : detail::scalar_dots().f32;
  AttentionJob job{q, &kv, &p, start, n_keys, n_chunks, t_partials.data(), dot};
  if (pool.size() > 1 && tasks > 1 && n_keys * p.n_heads * hd > 16384) {
    const std::function<void(int64_t, int64_t)> body = [&job](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) job.run_task(t);
    };
    pool.parallel_for(tasks, body);
  } else {
    for (int64_t t = 0; t < tasks; ++t) job.run_task(t);
  }
  for (int64_t h = 0; h < p.n_heads; ++h) {
    const float* part = job.partials + h * n_chunks * (hd + 2);
    float m = -INFINITY;
    for (int64_t c = 0; c < n_chunks; ++c) m = part[c * (hd + 2)] > m ? part[c * (hd + 2)] : m;
    float* o = out + h * hd;
    for (int64_t d = 0; d < hd; ++d) o[d] = 0;
    double l = 0;
    for (int64_t c = 0; c < n_chunks; ++c) {
      const float* pc = part + c * (hd + 2);
      const float w = std::exp(pc[0] - m);
      l += w * pc[1];
      for (int64_t d = 0; d < hd; ++d) o[d] += w * pc[2 + d];
    }
    const float inv = static_cast<float>(1.0 / l);
    for (int64_t d = 0; d < hd; ++d) o[d] *= inv;
  }
}

}  // namespace ironmill::engine
