"""Op-eval cases for the linalg family (matmul, linear, einsum).

Expectations from NumPy (np.matmul / np.einsum in float64, rounded once to the output dtype). fp16 cases:
the fp16 inputs are multiplied in float32 and rounded once to fp16. int32 cases are exact."""
import numpy as np

from common import const, rng, tensor, tup

F32, F16, I32 = np.float32, np.float16, np.int32


def uniform(seed, shape, lo=-1.0, hi=1.0, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def mm(x, y, tx=False, ty=False, work=np.float64):
    x = np.asarray(x).astype(work)
    y = np.asarray(y).astype(work)
    if tx:
        x = np.swapaxes(x, -1, -2)
    if ty and y.ndim > 1:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


def gen_matmul(emit):
    x, y = uniform(1, (4, 3)), uniform(2, (3, 5))
    emit("matmul", "2d", {"x": tensor(x), "y": tensor(y)}, [mm(x, y).astype(F32)])
    xt, yt = uniform(3, (3, 4)), uniform(4, (5, 3))
    emit("matmul", "transpose_x", {"x": tensor(xt), "y": tensor(y), "transpose_x": const(True)},
         [mm(xt, y, tx=True).astype(F32)])
    emit("matmul", "transpose_y", {"x": tensor(x), "y": tensor(yt), "transpose_y": const(True)},
         [mm(x, yt, ty=True).astype(F32)])
    emit("matmul", "transpose_both", {"x": tensor(xt), "y": tensor(yt), "transpose_x": const(True),
                                      "transpose_y": const(True)}, [mm(xt, yt, True, True).astype(F32)])
    xb, yb = uniform(5, (2, 1, 3, 4)), uniform(6, (5, 4, 2))
    emit("matmul", "batch_broadcast", {"x": tensor(xb), "y": tensor(yb)}, [mm(xb, yb).astype(F32)])
    xr, yr = uniform(7, (3, 2, 4)), uniform(8, (4, 6))
    emit("matmul", "batch_x_2d_y", {"x": tensor(xr), "y": tensor(yr)}, [mm(xr, yr).astype(F32)], opset="ios15")
    v, yb3 = uniform(9, (4,)), uniform(10, (2, 4, 3))
    emit("matmul", "1d_x", {"x": tensor(v), "y": tensor(yb3)}, [mm(v, yb3).astype(F32)])
    xb3, w = uniform(11, (2, 3, 4)), uniform(12, (4,))
    emit("matmul", "1d_y", {"x": tensor(xb3), "y": tensor(w)}, [mm(xb3, w).astype(F32)])
    a, b = uniform(13, (6,)), uniform(14, (6,))
    emit("matmul", "1d_1d_dot", {"x": tensor(a), "y": tensor(b)}, [np.asarray(mm(a, b), F32).reshape(())])
    xh, yh = uniform(15, (3, 16), dtype=F16), uniform(16, (2, 16, 5), dtype=F16)
    emit("matmul", "fp16", {"x": tensor(xh), "y": tensor(yh)}, [mm(xh, yh, work=np.float32).astype(F16)])
    xi, yi = rng(17).integers(-20, 20, (2, 3, 4)).astype(I32), rng(18).integers(-20, 20, (4, 2)).astype(I32)
    emit("matmul", "int32", {"x": tensor(xi), "y": tensor(yi)}, [mm(xi, yi, work=np.int64).astype(I32)])
    # iOS17: exactly one const operand may differ in dtype; the output takes the non-const one's dtype.
    xh2, yc = uniform(19, (3, 8), dtype=F16), uniform(20, (8, 4))
    emit("matmul", "ios17_fp16_x_const_fp32_y", {"x": tensor(xh2), "y": const(yc)},
         [mm(xh2, yc, work=np.float32).astype(F16)], opset="ios17",
         note="x fp16 (computed), y fp32 const -> fp16 output (coremltools iOS17 matmul)")
    xc, yh3 = uniform(21, (2, 8)), uniform(22, (8, 3), dtype=F16)
    emit("matmul", "ios17_const_fp32_x_fp16_y", {"x": const(xc), "y": tensor(yh3), "transpose_y": const(False)},
         [mm(xc, yh3, work=np.float32).astype(F16)], opset="ios17")


def lin(x, w, b=None, work=np.float64):
    r = np.matmul(np.asarray(x).astype(work), np.asarray(w).astype(work).T)
    if b is not None:
        r = r + np.asarray(b).astype(work)
    return r


def gen_linear(emit):
    w, b = uniform(30, (5, 4)), uniform(31, (5,))
    x2 = uniform(32, (3, 4))
    emit("linear", "2d_bias", {"x": tensor(x2), "weight": const(w), "bias": const(b)}, [lin(x2, w, b).astype(F32)])
    x1 = uniform(33, (4,))
    emit("linear", "1d_no_bias", {"x": tensor(x1), "weight": const(w)}, [lin(x1, w).astype(F32)])
    x3 = uniform(34, (2, 3, 4))
    emit("linear", "3d", {"x": tensor(x3), "weight": const(w), "bias": const(b)}, [lin(x3, w, b).astype(F32)],
         opset="ios15")
    xh, wh, bh = uniform(35, (3, 12), dtype=F16), uniform(36, (6, 12), dtype=F16), uniform(37, (6,), dtype=F16)
    emit("linear", "fp16", {"x": tensor(xh), "weight": const(wh), "bias": const(bh)},
         [lin(xh, wh, bh, work=np.float32).astype(F16)])
    wf, bf = uniform(38, (6, 12)), uniform(39, (6,))
    emit("linear", "ios17_fp16_x_fp32_weight", {"x": tensor(xh), "weight": const(wf), "bias": const(bf)},
         [lin(xh, wf, bf, work=np.float32).astype(F16)], opset="ios17")
    xi, wi, bi = (rng(40).integers(-9, 10, (2, 3)).astype(I32), rng(41).integers(-9, 10, (4, 3)).astype(I32),
                  rng(42).integers(-9, 10, (4,)).astype(I32))
    emit("linear", "int32", {"x": tensor(xi), "weight": const(wi), "bias": const(bi)},
         [lin(xi, wi, bi, work=np.int64).astype(I32)])


def es(eq, *ops, work=np.float64):
    return np.einsum(eq, *[np.asarray(o).astype(work) for o in ops])


def gen_einsum(emit):
    a, b = uniform(50, (2, 3, 4, 5)), uniform(51, (2, 5, 4, 6))
    emit("einsum", "nchw_nwhu", {"values": tup(tensor(a), tensor(b)), "equation": const("nchw,nwhu->nchu")},
         [es("nchw,nwhu->nchu", a, b).astype(F32)])
    # coremltools broadcasts size-1 B and H between the operands.
    a1, b1 = uniform(52, (1, 3, 4, 5)), uniform(53, (2, 5, 1, 6))
    ab, bb = np.broadcast_to(a1, (2, 3, 4, 5)), np.broadcast_to(b1, (2, 5, 4, 6))
    emit("einsum", "nchw_nwhu_broadcast", {"values": tup(tensor(a1), tensor(b1)), "equation": const("nchw,nwhu->nchu")},
         [es("nchw,nwhu->nchu", ab, bb).astype(F32)],
         note="size-1 n (first operand) and h (second operand) broadcast, as in coremltools' value_inference")
    c3, d3 = uniform(54, (3, 4, 5)), uniform(55, (5, 4, 2))
    emit("einsum", "chw_whr", {"values": tup(tensor(c3), tensor(d3)), "equation": const("chw,whr->chr")},
         [es("chw,whr->chr", c3, d3).astype(F32)], opset="ios15")
    # Equivalent spelling with other letters.
    emit("einsum", "abcd_adce_renamed", {"values": tup(tensor(a), tensor(b)), "equation": const("abcd,adce->abce")},
         [es("abcd,adce->abce", a, b).astype(F32)])
    m, n = uniform(56, (3, 4)), uniform(57, (4, 5))
    emit("einsum", "matmul_ij_jk", {"values": tup(tensor(m), tensor(n)), "equation": const("ij,jk->ik")},
         [es("ij,jk->ik", m, n).astype(F32)])
    emit("einsum", "implicit_output", {"values": tup(tensor(m), tensor(n)), "equation": const("ij,jk")},
         [es("ij,jk", m, n).astype(F32)], note="numpy implicit mode: output = letters seen once, sorted")
    q, k = uniform(58, (2, 3, 4, 8)), uniform(59, (2, 3, 5, 8))
    emit("einsum", "bhqd_bhkd", {"values": tup(tensor(q), tensor(k)), "equation": const("bhqd,bhkd->bhqk")},
         [es("bhqd,bhkd->bhqk", q, k).astype(F32)])
    u, v = uniform(60, (4,)), uniform(61, (3,))
    emit("einsum", "outer", {"values": tup(tensor(u), tensor(v)), "equation": const("i,j->ij")},
         [es("i,j->ij", u, v).astype(F32)])
    p, r = uniform(62, (3, 4)), uniform(63, (3, 4))
    emit("einsum", "elementwise_then_sum_rows", {"values": tup(tensor(p), tensor(r)), "equation": const("ij,ij->i")},
         [es("ij,ij->i", p, r).astype(F32)])
    t = uniform(64, (2, 3, 4))
    emit("einsum", "single_operand_transpose_sum", {"values": tup(tensor(t)), "equation": const("abc->ca")},
         [es("abc->ca", t).astype(F32)])
    sq = uniform(65, (2, 4, 4))
    emit("einsum", "diagonal", {"values": tup(tensor(sq)), "equation": const("bii->bi")},
         [es("bii->bi", sq).astype(F32)], note="repeated index within one operand takes the diagonal")
    ah, bh = uniform(66, (1, 2, 3, 16), dtype=F16), uniform(67, (1, 16, 3, 4), dtype=F16)
    emit("einsum", "fp16", {"values": tup(tensor(ah), tensor(bh)), "equation": const("nchw,nwhu->nchu")},
         [es("nchw,nwhu->nchu", ah, bh, work=np.float32).astype(F16)])


def generate(emit):
    gen_matmul(emit)
    gen_linear(emit)
    gen_einsum(emit)
