// Reference kernels for the attention ops.
//
// scaled_dot_product_attention = softmax(Q·Kᵀ/sqrt(E) + mask)·V in fp64 (one rounding at the output).
// Bool mask: keep where true (false -> -inf); float mask: added to the scores. A row with every score
// -inf gives NaN, as in PyTorch / coremltools' numpy value_inference.
#include <cmath>
#include <limits>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::Shape;
using mil::Tensor;

Status sdpa_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor q, c.tensor("query"));
  IM_ASSIGN_OR_RETURN(Tensor k, c.tensor("key"));
  IM_ASSIGN_OR_RETURN(Tensor v, c.tensor("value"));
  const int r = q.rank();
  if (r < 3 || k.rank() != r || v.rank() != r) return c.error("query, key and value need one rank >= 3");
  const int64_t L = q.dim(-2), E = q.dim(-1), S = k.dim(-2), EV = v.dim(-1);
  if (k.dim(-1) != E || v.dim(-2) != S) return c.error("query/key/value shapes do not agree");
  const Shape batch(q.shape().begin(), q.shape().end() - 2);
  if (Shape(k.shape().begin(), k.shape().end() - 2) != batch || Shape(v.shape().begin(), v.shape().end() - 2) != batch)
    return c.error("query, key and value batch dims differ");
  const int64_t nb = mil::shape_numel(batch);
  // Mask broadcast to [batch..., L, S].
  Shape full = batch;
  full.push_back(L);
  full.push_back(S);
  std::vector<double> mask;
  std::vector<int64_t> midx;
  bool has_mask = c.has("attn_mask"), bool_mask = false;
  if (has_mask) {
    IM_ASSIGN_OR_RETURN(Tensor m, c.tensor("attn_mask"));
    if (m.rank() > r) return c.error("attn_mask rank exceeds query's");
    midx = kutil::broadcast_index(full, m.shape());
    mask = m.to_f64();
    bool_mask = m.dtype() == mil::DType::kBool;
  }
  const auto qv = q.to_f64(), kv = k.to_f64(), vv = v.to_f64();
  const double scale = 1.0 / std::sqrt(static_cast<double>(E));
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> out(static_cast<size_t>(nb * L * EV), 0.0), s(static_cast<size_t>(S));
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t i = 0; i < L; ++i) {
      const double* qi = qv.data() + (b * L + i) * E;
      double mx = ninf;
      for (int64_t j = 0; j < S; ++j) {
        const double* kj = kv.data() + (b * S + j) * E;
        double acc = 0;
        for (int64_t e = 0; e < E; ++e) acc += qi[e] * kj[e];
        acc *= scale;
        if (has_mask) {
          const double m = mask[static_cast<size_t>(midx[static_cast<size_t>((b * L + i) * S + j)])];
          if (bool_mask) acc = m != 0 ? acc : ninf;
          else acc += m;
        }
        s[static_cast<size_t>(j)] = acc;
        if (std::isnan(acc) || std::isnan(mx)) mx = std::numeric_limits<double>::quiet_NaN();
        else mx = std::max(mx, acc);
      }
      double sum = 0;
      for (int64_t j = 0; j < S; ++j) sum += (s[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - mx));
      double* oi = out.data() + (b * L + i) * EV;
      for (int64_t j = 0; j < S; ++j) {
        const double w = s[static_cast<size_t>(j)] / sum;
        const double* vj = vv.data() + (b * S + j) * EV;
        for (int64_t e = 0; e < EV; ++e) oi[e] += w * vj[e];
      }
    }
  Shape os = batch;
  os.push_back(L);
  os.push_back(EV);
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), os, out));
  return Status::Ok();
}

}  // namespace

void register_attention_kernels(KernelTable& t) { t.add("scaled_dot_product_attention", sdpa_kernel); }

}  // namespace ironmill::backends::reference
