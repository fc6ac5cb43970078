"""Op-eval cases for the attention family (scaled_dot_product_attention, iOS18).

PyTorch 1.13 has no F.scaled_dot_product_attention, so the expectation is its documented definition
evaluated with torch in float64: softmax(Q·Kᵀ/sqrt(E) + mask, dim=-1)·V, where a bool mask becomes
0 / -inf (keep where true) and a float mask is added. fp16 cases: fp16 inputs, computed in float32,
rounded once to fp16. Every masked row keeps at least one position (no all -inf rows)."""
import math

import numpy as np
import torch

from common import rng, tensor

F32, F16 = np.float32, np.float16


def uniform(seed, shape, lo=-1.0, hi=1.0, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def sdpa(q, k, v, mask=None, work=torch.float64):
    q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)).to(work) for a in (q, k, v))
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        m = torch.from_numpy(np.asarray(mask))
        if m.dtype == torch.bool:
            s = s.masked_fill(~m, float("-inf"))
        else:
            s = s + m.to(work)
    return (torch.softmax(s, dim=-1) @ v).numpy()


def generate(emit):
    op = "scaled_dot_product_attention"
    q, k, v = uniform(1, (2, 3, 4)), uniform(2, (2, 5, 4)), uniform(3, (2, 5, 6))
    emit(op, "rank3_no_mask", {"query": tensor(q), "key": tensor(k), "value": tensor(v)},
         [sdpa(q, k, v).astype(F32)], oracle="torch")
    q4, k4, v4 = uniform(4, (2, 2, 5, 8)), uniform(5, (2, 2, 6, 8)), uniform(6, (2, 2, 6, 4))
    emit(op, "rank4_no_mask", {"query": tensor(q4), "key": tensor(k4), "value": tensor(v4)},
         [sdpa(q4, k4, v4).astype(F32)], oracle="torch")
    causal = np.tril(np.ones((5, 6), dtype=bool))
    emit(op, "bool_causal_mask_broadcast", {"query": tensor(q4), "key": tensor(k4), "value": tensor(v4),
                                            "attn_mask": tensor(causal)},
         [sdpa(q4, k4, v4, causal).astype(F32)], oracle="torch", note="bool mask: keep where true")
    rm = rng(7).random((2, 1, 5, 6)) < 0.6
    rm[..., 0] = True  # every row keeps one key
    emit(op, "bool_random_mask_per_batch", {"query": tensor(q4), "key": tensor(k4), "value": tensor(v4),
                                            "attn_mask": tensor(rm)},
         [sdpa(q4, k4, v4, rm).astype(F32)], oracle="torch")
    fm = uniform(8, (2, 2, 5, 6), -2.0, 2.0)
    emit(op, "float_mask_added", {"query": tensor(q4), "key": tensor(k4), "value": tensor(v4),
                                  "attn_mask": tensor(fm)},
         [sdpa(q4, k4, v4, fm).astype(F32)], oracle="torch", note="float mask is added to the scores")
    fm1 = uniform(9, (6,), -3.0, 0.0)
    emit(op, "float_mask_rank1", {"query": tensor(q), "key": tensor(k), "value": tensor(v),
                                  "attn_mask": tensor(fm1[:5])},
         [sdpa(q, k, v, fm1[:5]).astype(F32)], oracle="torch")
    qh, kh, vh = uniform(10, (1, 2, 4, 16), dtype=F16), uniform(11, (1, 2, 7, 16), dtype=F16), uniform(
        12, (1, 2, 7, 8), dtype=F16)
    emit(op, "fp16", {"query": tensor(qh), "key": tensor(kh), "value": tensor(vh)},
         [sdpa(qh, kh, vh, work=torch.float32).astype(F16)], oracle="torch")
    cm = np.tril(np.ones((4, 7), dtype=bool), k=3)
    emit(op, "fp16_bool_mask", {"query": tensor(qh), "key": tensor(kh), "value": tensor(vh),
                                "attn_mask": tensor(cm)},
         [sdpa(qh, kh, vh, cm, work=torch.float32).astype(F16)], oracle="torch")
    fmf = uniform(13, (4, 7), -1.0, 1.0)
    emit(op, "fp16_qkv_fp32_mask", {"query": tensor(qh), "key": tensor(kh), "value": tensor(vh),
                                    "attn_mask": tensor(fmf)},
         [sdpa(qh, kh, vh, fmf, work=torch.float32).astype(F16)], oracle="torch",
         note="mask dtype (domain M) is independent of the q/k/v dtype")
    q5, k5, v5 = uniform(14, (1, 2, 2, 3, 4)), uniform(15, (1, 2, 2, 3, 4)), uniform(16, (1, 2, 2, 3, 2))
    emit(op, "rank5", {"query": tensor(q5), "key": tensor(k5), "value": tensor(v5)},
         [sdpa(q5, k5, v5).astype(F32)], oracle="torch")
    big = uniform(17, (1, 3, 4), -30.0, 30.0)
    emit(op, "large_scores_stable_softmax", {"query": tensor(big), "key": tensor(big), "value": tensor(q[:1])},
         [sdpa(big, big, q[:1]).astype(F32)], oracle="torch")
