// Type inference and verification for the attention ops (see ops/op_list.def for their signatures).
//
// scaled_dot_product_attention(query [B,*,L,E], key [B,*,S,E], value [B,*,S,EV], attn_mask?) -> [B,*,L,EV]
// (coremltools iOS18 transformers.py): q/k/v share rank (>= 3) and batch dims exactly (no broadcasting
// between them); the mask's last dim is S and its leading dims broadcast against query's [B,*,L].
#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

Result<std::vector<Type>> infer_sdpa(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type q, c.tensor_type("query"));
  IM_ASSIGN_OR_RETURN(Type k, c.tensor_type("key"));
  IM_ASSIGN_OR_RETURN(Type v, c.tensor_type("value"));
  if (!q.rank_known || !k.rank_known || !v.rank_known) return std::vector<Type>{Type::unknown_rank(q.dtype)};
  if (q.rank() < 3) return c.error("query", "rank >= 3 expected ([B, *, L, E]), got rank " + std::to_string(q.rank()));
  if (k.rank() != q.rank()) return c.error("key", "rank " + std::to_string(q.rank()) + " expected (query's), got " + std::to_string(k.rank()));
  if (v.rank() != q.rank()) return c.error("value", "rank " + std::to_string(q.rank()) + " expected (query's), got " + std::to_string(v.rank()));
  const size_t r = q.dims.size();
  auto same = [](int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; };
  for (size_t i = 0; i + 2 < r; ++i) {
    if (!same(q.dims[i], k.dims[i]))
      return c.error("key", "batch dims " + shape_to_string(k.dims) + " differ from query's " + shape_to_string(q.dims));
    if (!same(q.dims[i], v.dims[i]))
      return c.error("value", "batch dims " + shape_to_string(v.dims) + " differ from query's " + shape_to_string(q.dims));
  }
  if (!same(q.dims[r - 1], k.dims[r - 1]))
    return c.error("key", "embedding size " + std::to_string(k.dims[r - 1]) + " differs from query's " + std::to_string(q.dims[r - 1]));
  if (!same(k.dims[r - 2], v.dims[r - 2]))
    return c.error("value", "sequence length " + std::to_string(v.dims[r - 2]) + " differs from key's " + std::to_string(k.dims[r - 2]));
  if (c.has("attn_mask")) {
    IM_ASSIGN_OR_RETURN(Type m, c.tensor_type("attn_mask"));
    if (m.rank_known) {
      if (m.rank() < 1) return c.error("attn_mask", "rank >= 1 expected, got a scalar");
      if (!same(m.dims.back(), k.dims[r - 2]))
        return c.error("attn_mask", "last dim " + std::to_string(m.dims.back()) + " must equal the key sequence length " +
                                        std::to_string(k.dims[r - 2]));
      Shape qb(q.dims.begin(), q.dims.end() - 1), mb(m.dims.begin(), m.dims.end() - 1);
      auto b = infer::broadcast_shapes(qb, mb);
      if (!b.ok()) return c.error("attn_mask", "shape " + shape_to_string(m.dims) + " does not broadcast to [" +
                                                    "query[:-1], S]: " + b.status().message());
      if (b->size() != qb.size())
        return c.error("attn_mask", "rank " + std::to_string(m.rank()) + " exceeds query's " + std::to_string(q.rank()));
      for (size_t i = 0; i < qb.size(); ++i)
        if (qb[i] >= 0 && (*b)[i] >= 0 && (*b)[i] != qb[i])
          return c.error("attn_mask", "shape " + shape_to_string(m.dims) + " would broadcast query's dims " +
                                          shape_to_string(q.dims));
    }
  }
  Shape out(q.dims.begin(), q.dims.end() - 1);
  out.push_back(v.dims.back());
  return std::vector<Type>{Type::tensor(q.dtype, out)};
}

}  // namespace

void register_attention_ops(OpRegistry& r) { r.mutable_schema("scaled_dot_product_attention")->infer = infer_sdpa; }

}  // namespace ironmill::mil
