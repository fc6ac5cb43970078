"""Op-eval cases for the reduction family (reduce_*, argmax/argmin, argsort, topk, cumsum).

Expectations from NumPy with the formulas of coremltools' iOS15 reduction.py value_inference; floats are
reduced in float64 and rounded once to the output dtype. fp16 cases: the fp16 inputs are reduced in
float32 and rounded once to fp16. int32 inputs keep int32 outputs: numpy's result `.astype(np.int32)`
(truncation toward zero for mean / l2_norm). Ordering ops use tie-free inputs."""
import numpy as np

from common import const, rng, tensor

F32, F16, I32 = np.float32, np.float16, np.int32


def uniform(seed, shape, lo, hi, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def distinct(seed, shape, dtype=F32, scale=0.25):
    """Tie-free values: a random permutation of 0..n-1, centred and scaled (exact in fp16 for n <= 512)."""
    n = int(np.prod(shape))
    v = (rng(seed).permutation(n) - n // 2) * scale
    return v.reshape(shape).astype(dtype)


def lse(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    r = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis)


REDUCE = {
    "reduce_sum": np.sum,
    "reduce_mean": np.mean,
    "reduce_max": np.max,
    "reduce_min": np.min,
    "reduce_prod": np.prod,
    "reduce_l1_norm": lambda x, axis=None, keepdims=False: np.sum(np.abs(x), axis=axis, keepdims=keepdims),
    "reduce_l2_norm": lambda x, axis=None, keepdims=False: np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims)),
    "reduce_sum_square": lambda x, axis=None, keepdims=False: np.sum(np.square(x), axis=axis, keepdims=keepdims),
    "reduce_log_sum": lambda x, axis=None, keepdims=False: np.log(np.sum(x, axis=axis, keepdims=keepdims)),
    "reduce_log_sum_exp": lse,
}

# Input ranges that keep each op well conditioned (log_sum needs positive sums, prod moderate values).
RANGE = {"reduce_log_sum": (0.1, 2.0), "reduce_prod": (0.5, 1.5)}


def reduce_expect(fn, x, axes, keep, out_dtype, work=np.float64):
    ax = None if axes is None else tuple(axes)
    r = np.asarray(fn(x.astype(work), axis=ax, keepdims=keep))
    if np.issubdtype(out_dtype, np.integer):
        return r.astype(np.int64).astype(out_dtype) if np.issubdtype(r.dtype, np.integer) else np.trunc(r).astype(out_dtype)
    return r.astype(out_dtype)


def gen_reduce(emit):
    for i, op in enumerate(sorted(REDUCE)):
        fn = REDUCE[op]
        lo, hi = RANGE.get(op, (-3.0, 3.0))
        x = uniform(100 + i, (2, 3, 4), lo, hi)
        emit(op, "axis1", {"x": tensor(x), "axes": const(np.array([1], I32))},
             [reduce_expect(fn, x, [1], False, F32)])
        emit(op, "neg_axes_keep_dims", {"x": tensor(x), "axes": const(np.array([-1, 0], I32)),
                                        "keep_dims": const(True)},
             [reduce_expect(fn, x, [-1, 0], True, F32)])
        emit(op, "all_axes", {"x": tensor(x)}, [reduce_expect(fn, x, None, False, F32)])
        emit(op, "all_axes_keep_dims", {"x": tensor(x), "keep_dims": const(True)},
             [reduce_expect(fn, x, None, True, F32)])
        xh = uniform(200 + i, (3, 5), lo, hi, F16)
        emit(op, "fp16", {"x": tensor(xh), "axes": const(np.array([1], I32))},
             [reduce_expect(fn, xh, [1], False, F16, work=np.float32)])
        x4 = uniform(300 + i, (2, 2, 3, 2), lo, hi)
        emit(op, "rank4_axes_0_2", {"x": tensor(x4), "axes": const(np.array([0, 2], I32))},
             [reduce_expect(fn, x4, [0, 2], False, F32)], opset="ios15")
    # int32 inputs: exact sums / products / extrema; mean truncates toward zero.
    xi = rng(400).integers(-9, 10, size=(3, 4)).astype(I32)
    for op in ("reduce_sum", "reduce_max", "reduce_min", "reduce_l1_norm", "reduce_sum_square", "reduce_mean"):
        emit(op, "int32", {"x": tensor(xi), "axes": const(np.array([1], I32))},
             [reduce_expect(REDUCE[op], xi, [1], False, I32)],
             note="int32 in, int32 out (numpy result .astype(int32): mean truncates toward zero)")
    xp = rng(401).integers(-3, 4, size=(2, 5)).astype(I32)
    emit("reduce_prod", "int32", {"x": tensor(xp), "axes": const(np.array([-1], I32))},
         [reduce_expect(np.prod, xp, [-1], False, I32)])
    xl = rng(402).integers(0, 20, size=(4, 3)).astype(I32)
    emit("reduce_l2_norm", "int32", {"x": tensor(xl), "axes": const(np.array([0], I32))},
         [reduce_expect(REDUCE["reduce_l2_norm"], xl, [0], False, I32)],
         note="sqrt in float64, truncated to int32")
    # log_sum_exp stays finite for large inputs (max-shifted).
    big = np.array([[1000.0, 999.0, 998.5], [-1000.0, -1001.0, -999.0]], F32)
    emit("reduce_log_sum_exp", "large_magnitude", {"x": tensor(big), "axes": const(np.array([1], I32))},
         [reduce_expect(lse, big, [1], False, F32)])


def gen_arg(emit):
    for op, fn in (("reduce_argmax", np.argmax), ("reduce_argmin", np.argmin)):
        x = distinct(500 if op == "reduce_argmax" else 501, (2, 3, 4))
        emit(op, "default_axis", {"x": tensor(x)}, [fn(x, axis=-1).astype(I32)])
        emit(op, "axis1_keep_dims", {"x": tensor(x), "axis": const(I32(1)), "keep_dims": const(True)},
             [np.expand_dims(fn(x, axis=1), 1).astype(I32)])
        emit(op, "axis0", {"x": tensor(x), "axis": const(I32(0))}, [fn(x, axis=0).astype(I32)], opset="ios15")
        xh = distinct(502, (3, 6), F16)
        emit(op, "fp16", {"x": tensor(xh), "axis": const(I32(-1))}, [fn(xh, axis=-1).astype(I32)])
        xi = distinct(503, (4, 5), I32, scale=1)
        emit(op, "int32", {"x": tensor(xi), "axis": const(I32(0))}, [fn(xi, axis=0).astype(I32)])
        emit(op, "uint16_output", {"x": tensor(x), "axis": const(I32(2)), "output_dtype": const("uint16")},
             [fn(x, axis=2).astype(np.uint16)], opset="ios17")
        v = distinct(504, (7,))
        emit(op, "rank1", {"x": tensor(v)}, [np.asarray(fn(v), I32).reshape(())])


def stable_argsort(x, axis, ascending):
    return np.argsort(x if ascending else -x, axis=axis, kind="stable").astype(I32)


def gen_argsort(emit):
    x = distinct(600, (3, 5))
    emit("argsort", "default_descending", {"x": tensor(x)}, [stable_argsort(x, -1, False)])
    emit("argsort", "ascending_axis0", {"x": tensor(x), "axis": const(I32(0)), "ascending": const(True)},
         [stable_argsort(x, 0, True)])
    x3 = distinct(601, (2, 4, 3))
    emit("argsort", "rank3_axis1", {"x": tensor(x3), "axis": const(I32(1))}, [stable_argsort(x3, 1, False)],
         opset="ios15")
    xh = distinct(602, (2, 8), F16)
    emit("argsort", "fp16", {"x": tensor(xh), "ascending": const(True)}, [stable_argsort(xh, -1, True)])
    xi = distinct(603, (4, 4), I32, scale=3)
    emit("argsort", "int32", {"x": tensor(xi), "axis": const(I32(-2))}, [stable_argsort(xi, -2, False)])


def topk_np(x, k, axis, ascending):
    idx = stable_argsort(x, axis, ascending)
    if k != -1:
        idx = np.take(idx, np.arange(k), axis=axis)
    return np.take_along_axis(x, idx, axis=axis), idx.astype(I32)


def gen_topk(emit):
    x = distinct(700, (3, 6))
    v, i = topk_np(x, 1, -1, False)
    emit("topk", "default_k1", {"x": tensor(x)}, [v, i])
    x3 = distinct(701, (2, 5, 3))
    v, i = topk_np(x3, 3, 1, False)
    emit("topk", "k3_axis1", {"x": tensor(x3), "k": const(I32(3)), "axis": const(I32(1))}, [v, i])
    v, i = topk_np(x3, 2, -1, True)
    emit("topk", "ascending", {"x": tensor(x3), "k": const(I32(2)), "ascending": const(True)}, [v, i])
    v, i = topk_np(x, 4, 1, False)
    emit("topk", "ios15", {"x": tensor(x), "k": const(I32(4)), "axis": const(I32(1))}, [v, i], opset="ios15")
    xh = distinct(702, (4, 7), F16)
    v, i = topk_np(xh, 3, -1, False)
    emit("topk", "fp16", {"x": tensor(xh), "k": const(I32(3))}, [v, i])
    xi = distinct(703, (3, 8), I32, scale=2)
    v, i = topk_np(xi, 5, -1, True)
    emit("topk", "int32", {"x": tensor(xi), "k": const(I32(5)), "ascending": const(True)}, [v, i])
    v, _ = topk_np(x, 2, -1, False)
    emit("topk", "values_only", {"x": tensor(x), "k": const(I32(2)), "return_indices": const(False)}, [v],
         opset="ios16")
    v, i = topk_np(x3, 2, 0, False)
    emit("topk", "uint16_indices", {"x": tensor(x3), "k": const(I32(2)), "axis": const(I32(0)),
                                    "output_indices_dtype": const("uint16")}, [v, i.astype(np.uint16)],
         opset="ios17")
    v, i = topk_np(x, -1, -1, True)
    emit("topk", "k_minus1_whole_axis", {"x": tensor(x), "k": const(I32(-1)), "ascending": const(True)}, [v, i],
         note="coremltools iOS17 docs: k = -1 selects all elements")
    xu = (rng(704).permutation(12).reshape(2, 6) * 7).astype(np.uint8)
    v, i = topk_np(xu.astype(np.int64), 3, -1, False)
    emit("topk", "uint8_k_int16", {"x": tensor(xu), "k": const(np.int16(3))}, [v.astype(np.uint8), i],
         opset="ios17")


def cumsum_np(x, axis, exclusive, reverse, work=np.float64):
    v = np.asarray(x).astype(work)
    if reverse:
        v = np.flip(v, axis)
    r = np.cumsum(v, axis=axis)
    if exclusive:
        r = r - v
    if reverse:
        r = np.flip(r, axis)
    return r


def gen_cumsum(emit):
    x = uniform(800, (3, 4), -2, 2)
    emit("cumsum", "default_axis0", {"x": tensor(x)}, [cumsum_np(x, 0, False, False).astype(F32)])
    x3 = uniform(801, (2, 3, 4), -2, 2)
    for excl in (False, True):
        for rev in (False, True):
            name = "axis_neg1" + ("_exclusive" if excl else "") + ("_reverse" if rev else "")
            emit("cumsum", name, {"x": tensor(x3), "axis": const(I32(-1)), "exclusive": const(excl),
                                  "reverse": const(rev)}, [cumsum_np(x3, -1, excl, rev).astype(F32)])
    emit("cumsum", "axis1", {"x": tensor(x3), "axis": const(I32(1))}, [cumsum_np(x3, 1, False, False).astype(F32)],
         opset="ios15")
    xh = uniform(802, (2, 6), -2, 2, F16)
    emit("cumsum", "fp16", {"x": tensor(xh), "axis": const(I32(1))},
         [cumsum_np(xh, 1, False, False, work=np.float32).astype(F16)])
    xi = rng(803).integers(-50, 50, size=(3, 5)).astype(I32)
    emit("cumsum", "int32_exclusive_reverse", {"x": tensor(xi), "axis": const(I32(1)), "exclusive": const(True),
                                               "reverse": const(True)},
         [cumsum_np(xi, 1, True, True, work=np.int64).astype(I32)])


def generate(emit):
    gen_reduce(emit)
    gen_arg(emit)
    gen_argsort(emit)
    gen_topk(emit)
    gen_cumsum(emit)
