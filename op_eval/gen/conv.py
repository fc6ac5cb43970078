"""Op-eval cases for the conv family (conv, conv_quantized, conv_transpose, avg_pool, max_pool, l2_pool).

Expectations from torch.nn.functional (conv1d/2d/3d, conv_transpose1d/2d/3d, avg_pool, max_pool) in
float64. MIL padding (coremltools _utils.aggregated_pad: total = max(0, s*ceil(D/s) - D + K_eff - s),
"same" puts the odd element after, "same_lower" before; "custom" = explicit [before, after] pairs) is
applied with F.pad before a padding-free torch call where torch cannot express it (asymmetric pads).
conv_transpose pad_type "same" follows TF: output D*s, cropping floor(max(0, full - D*s)/2) in front.
conv_quantized "linear": W = W_q * quant_scale + quant_bias (coremltools docstring), dequantized in NumPy.
l2_pool = sqrt(sum of squares over the window) via avg_pool(x^2, divisor_override=1).
fp16 cases: fp16 inputs computed in float32, rounded once to fp16. ceil_mode cases use kernel >= stride
(coremltools and torch agree on the output size there)."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from common import const, rng, tensor

F32, F16, I32 = np.float32, np.float16, np.int32


def uniform(seed, shape, lo=-1.0, hi=1.0, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def t(a, work=torch.float64):
    return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64)).to(work)


def ints(v):
    return const(np.array(v, I32))


def mil_pads(pad_type, spatial, k, s, d=None, custom=None):
    """[(before, after)] per spatial dim, as coremltools computes them."""
    d = d or [1] * len(k)
    out = []
    for i, (D, K, S, Dl) in enumerate(zip(spatial, k, s, d)):
        keff = (K - 1) * Dl + 1
        if pad_type == "valid":
            out.append((0, 0))
        elif pad_type == "custom":
            out.append((custom[2 * i], custom[2 * i + 1]))
        else:
            total = max(0, S * math.ceil(D / S) - D + keff - S)
            small, big = total // 2, total - total // 2
            out.append((small, big) if pad_type == "same" else (big, small))
    return out


def torch_pad(x, pads, value=0.0):
    flat = []
    for b, a in reversed(pads):
        flat += [b, a]
    return F.pad(x, flat, value=value)


CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def conv_ref(x, w, b=None, strides=None, pad_type="valid", pad=None, dil=None, groups=1, work=torch.float64):
    n = np.asarray(x).ndim - 2
    strides = strides or [1] * n
    dil = dil or [1] * n
    pads = mil_pads(pad_type, np.asarray(x).shape[2:], np.asarray(w).shape[2:], strides, dil, pad)
    xt = torch_pad(t(x, work), pads)
    return CONV[n](xt, t(w, work), t(b, work), stride=strides, dilation=dil, groups=groups).numpy()


def conv_inputs(x, w, b=None, strides=None, pad_type=None, pad=None, dil=None, groups=None, w_const=True):
    d = {"x": tensor(x), "weight": const(w) if w_const else tensor(w)}
    if b is not None:
        d["bias"] = const(b)
    if strides is not None:
        d["strides"] = ints(strides)
    if pad_type is not None:
        d["pad_type"] = const(pad_type)
    if pad is not None:
        d["pad"] = ints(pad)
    if dil is not None:
        d["dilations"] = ints(dil)
    if groups is not None:
        d["groups"] = const(I32(groups))
    return d


def gen_conv(emit):
    x = uniform(1, (1, 3, 6, 7))
    w, b = uniform(2, (4, 3, 3, 3)), uniform(3, (4,))
    emit("conv", "2d_valid_bias", conv_inputs(x, w, b), [conv_ref(x, w, b).astype(F32)], oracle="torch")
    emit("conv", "2d_same_stride2", conv_inputs(x, w, b, strides=[2, 2], pad_type="same"),
         [conv_ref(x, w, b, [2, 2], "same").astype(F32)], oracle="torch")
    w2 = uniform(4, (4, 3, 2, 4))
    emit("conv", "2d_same_even_kernel", conv_inputs(x, w2, pad_type="same"),
         [conv_ref(x, w2, None, None, "same").astype(F32)], oracle="torch",
         note="odd total padding: the extra row/col goes after")
    emit("conv", "2d_same_lower_even_kernel", conv_inputs(x, w2, pad_type="same_lower"),
         [conv_ref(x, w2, None, None, "same_lower").astype(F32)], oracle="torch", opset="ios16",
         note="odd total padding: the extra row/col goes before")
    emit("conv", "2d_custom_asymmetric", conv_inputs(x, w, b, pad_type="custom", pad=[1, 0, 2, 1]),
         [conv_ref(x, w, b, None, "custom", [1, 0, 2, 1]).astype(F32)], oracle="torch")
    emit("conv", "2d_dilation2_stride_1x2", conv_inputs(x, w, strides=[1, 2], dil=[2, 1], pad_type="custom",
                                                      pad=[2, 2, 1, 1]),
         [conv_ref(x, w, None, [1, 2], "custom", [2, 2, 1, 1], [2, 1]).astype(F32)], oracle="torch")
    x4 = uniform(5, (2, 4, 5, 5))
    wg = uniform(6, (6, 2, 3, 3))
    emit("conv", "2d_groups2", conv_inputs(x4, wg, uniform(7, (6,)), groups=2, pad_type="same"),
         [conv_ref(x4, wg, uniform(7, (6,)), None, "same", groups=2).astype(F32)], oracle="torch")
    wd = uniform(8, (8, 1, 3, 3))
    emit("conv", "2d_depthwise_multiplier2", conv_inputs(x4, wd, groups=4, strides=[2, 2]),
         [conv_ref(x4, wd, None, [2, 2], groups=4).astype(F32)], oracle="torch")
    x1 = uniform(9, (2, 3, 10))
    w1 = uniform(10, (5, 3, 3))
    emit("conv", "1d_same_stride2", conv_inputs(x1, w1, uniform(11, (5,)), strides=[2], pad_type="same"),
         [conv_ref(x1, w1, uniform(11, (5,)), [2], "same").astype(F32)], oracle="torch")
    emit("conv", "1d_ios15_valid_dilation3", conv_inputs(x1, w1, dil=[3]),
         [conv_ref(x1, w1, None, None, "valid", None, [3]).astype(F32)], oracle="torch", opset="ios15")
    x3 = uniform(12, (1, 2, 4, 5, 4))
    w3 = uniform(13, (3, 2, 2, 3, 2))
    emit("conv", "3d_custom", conv_inputs(x3, w3, uniform(14, (3,)), strides=[1, 2, 1], pad_type="custom",
                                          pad=[1, 1, 0, 1, 1, 0]),
         [conv_ref(x3, w3, uniform(14, (3,)), [1, 2, 1], "custom", [1, 1, 0, 1, 1, 0]).astype(F32)], oracle="torch")
    xh, wh, bh = uniform(15, (1, 4, 6, 6), dtype=F16), uniform(16, (3, 4, 3, 3), dtype=F16), uniform(17, (3,), dtype=F16)
    emit("conv", "fp16", conv_inputs(xh, wh, bh, pad_type="same"),
         [conv_ref(xh, wh, bh, None, "same", work=torch.float32).astype(F16)], oracle="torch")
    wf, bf = uniform(18, (3, 4, 3, 3)), uniform(19, (3,))
    emit("conv", "ios17_fp16_x_fp32_weight", conv_inputs(xh, wf, bf, strides=[2, 1]),
         [conv_ref(xh, wf, bf, [2, 1], work=torch.float32).astype(F16)], oracle="torch", opset="ios17")
    emit("conv", "dynamic_weight", conv_inputs(x, w, pad_type="custom", pad=[1, 1, 1, 1], w_const=False),
         [conv_ref(x, w, None, None, "custom", [1, 1, 1, 1]).astype(F32)], oracle="torch",
         note="weight is a function input (not const)")


def gen_conv_quantized(emit):
    op = "conv_quantized"
    x = uniform(30, (1, 3, 5, 5))
    wq = rng(31).integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    scale, qbias = F32(0.01), F32(-1.2)
    w = wq.astype(np.float64) * float(scale) + float(qbias)
    base = {"x": tensor(x), "weight": tensor(wq), "quantization_type": const("linear"),
            "quant_scale": const(scale), "quant_bias": const(qbias)}
    emit(op, "linear_scalar", dict(base), [conv_ref(x, w).astype(F32)], oracle="torch",
         note="W = W_q * quant_scale + quant_bias")
    sc, qb = uniform(32, (4,), 0.005, 0.02), uniform(33, (4,), -1.5, -0.5)
    wc = wq.astype(np.float64) * sc.astype(np.float64)[:, None, None, None] + qb.astype(np.float64)[:, None, None, None]
    d = dict(base, quant_scale=const(sc), quant_bias=const(qb), strides=ints([2, 2]), pad_type=const("same"))
    emit(op, "linear_per_channel_same_stride2", d, [conv_ref(x, wc, None, [2, 2], "same").astype(F32)], oracle="torch")
    wq4 = rng(34).integers(0, 16, (4, 1, 3, 3)).astype(np.uint8)
    w4 = wq4.astype(np.float64) * float(scale) + float(qbias)
    d4 = dict(base, weight=tensor(wq4), nbits=const(I32(4)), groups=const(I32(2)))
    x2 = uniform(35, (1, 2, 5, 5))
    d4["x"] = tensor(x2)
    emit(op, "nbits4_groups2", d4, [conv_ref(x2, w4, None, groups=2).astype(F32)], oracle="torch", opset="ios15")
    xh = uniform(36, (1, 3, 4, 4), dtype=F16)
    sh, bh = F16(0.02), F16(-2.0)
    wh = wq.astype(np.float32) * np.float32(sh) + np.float32(bh)
    dh = dict(base, x=tensor(xh), quant_scale=const(sh), quant_bias=const(bh), pad_type=const("custom"),
              pad=ints([1, 1, 1, 1]))
    emit(op, "fp16", dh, [conv_ref(xh, wh, None, None, "custom", [1, 1, 1, 1], work=torch.float32).astype(F16)],
         oracle="torch")


def convt_ref(x, w, b=None, strides=None, pad_type="valid", pad=None, dil=None, groups=1, out_spatial=None,
              work=torch.float64):
    """Full transposed conv via torch, then MIL cropping / zero extension."""
    n = np.asarray(x).ndim - 2
    strides = strides or [1] * n
    dil = dil or [1] * n
    full = CONVT[n](t(x, work), t(w, work), None, stride=strides, dilation=dil, groups=groups)
    ins = np.asarray(x).shape[2:]
    ks = np.asarray(w).shape[2:]
    crops, sizes = [], []
    for i in range(n):
        fs = full.shape[2 + i]
        keff = (ks[i] - 1) * dil[i] + 1
        assert fs == strides[i] * (ins[i] - 1) + keff
        if pad_type == "valid":
            c, o = 0, fs
        elif pad_type == "custom":
            c, o = pad[2 * i], fs - pad[2 * i] - pad[2 * i + 1]
        else:  # same
            o = strides[i] * ins[i]
            if out_spatial is not None:
                o = out_spatial[i]
            c = max(0, fs - o) // 2
        if out_spatial is not None:
            o = out_spatial[i]
        crops.append(c)
        sizes.append(o)
    res = torch.zeros(full.shape[:2] + tuple(sizes), dtype=work)
    src = full
    idx_dst, idx_src = [slice(None), slice(None)], [slice(None), slice(None)]
    for i in range(n):
        lo = crops[i]
        hi = min(full.shape[2 + i], lo + sizes[i])
        idx_src.append(slice(lo, hi))
        idx_dst.append(slice(0, hi - lo))
    res[tuple(idx_dst)] = src[tuple(idx_src)]
    if b is not None:
        res = res + t(b, work).reshape([1, -1] + [1] * n)
    return res.numpy()


def convt_inputs(x, w, b=None, strides=None, pad_type=None, pad=None, dil=None, groups=None, output_shape=None,
                 w_const=True):
    d = conv_inputs(x, w, b, strides, pad_type, pad, dil, groups, w_const)
    if output_shape is not None:
        d["output_shape"] = ints(output_shape)
    return d


def gen_conv_transpose(emit):
    op = "conv_transpose"
    x = uniform(40, (1, 3, 4, 5))
    w, b = uniform(41, (3, 2, 3, 3)), uniform(42, (2,))
    emit(op, "2d_valid_stride2_bias", convt_inputs(x, w, b, strides=[2, 2]),
         [convt_ref(x, w, b, [2, 2]).astype(F32)], oracle="torch")
    emit(op, "2d_custom_symmetric", convt_inputs(x, w, strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1]),
         [convt_ref(x, w, None, [2, 2], "custom", [1, 1, 1, 1]).astype(F32)], oracle="torch",
         note="equals torch conv_transpose2d(padding=1)")
    emit(op, "2d_custom_asymmetric", convt_inputs(x, w, strides=[1, 2], pad_type="custom", pad=[0, 1, 2, 0]),
         [convt_ref(x, w, None, [1, 2], "custom", [0, 1, 2, 0]).astype(F32)], oracle="torch")
    emit(op, "2d_same_stride2", convt_inputs(x, w, b, strides=[2, 2], pad_type="same"),
         [convt_ref(x, w, b, [2, 2], "same").astype(F32)], oracle="torch", note="TF SAME: out = D*s")
    w4 = uniform(43, (3, 2, 4, 4))
    emit(op, "2d_same_stride2_even_kernel", convt_inputs(x, w4, strides=[2, 2], pad_type="same"),
         [convt_ref(x, w4, None, [2, 2], "same").astype(F32)], oracle="torch")
    # output_shape with custom pad [p, p] = torch's output_padding.
    ref = F.conv_transpose2d(t(x), t(w), t(b), stride=2, padding=1, output_padding=1).numpy()
    emit(op, "output_shape_as_output_padding", convt_inputs(x, w, b, strides=[2, 2], pad_type="custom",
                                                            pad=[1, 1, 1, 1], output_shape=list(ref.shape)),
         [ref.astype(F32)], oracle="torch", note="custom pad 1 + output_shape one larger = torch output_padding=1")
    x4 = uniform(44, (2, 4, 3, 3))
    wg = uniform(45, (4, 3, 2, 3))
    emit(op, "groups2_dilation2", convt_inputs(x4, wg, uniform(46, (6,)), strides=[2, 1], dil=[2, 2], groups=2),
         [convt_ref(x4, wg, uniform(46, (6,)), [2, 1], "valid", None, [2, 2], 2).astype(F32)], oracle="torch")
    x1 = uniform(47, (1, 2, 6))
    w1 = uniform(48, (2, 3, 3))
    emit(op, "1d_stride3", convt_inputs(x1, w1, strides=[3]), [convt_ref(x1, w1, None, [3]).astype(F32)],
         oracle="torch", opset="ios15")
    emit(op, "1d_same_kernel_smaller_than_stride", convt_inputs(x1, uniform(49, (2, 3, 2)), strides=[3],
                                                                pad_type="same"),
         [convt_ref(x1, uniform(49, (2, 3, 2)), None, [3], "same").astype(F32)], oracle="torch",
         note="K < s: the same-padded output is longer than the full result; the tail is zeros")
    x3 = uniform(50, (1, 2, 2, 3, 2))
    w3 = uniform(51, (2, 2, 2, 2, 3))
    emit(op, "3d_stride2", convt_inputs(x3, w3, uniform(52, (2,)), strides=[2, 2, 2]),
         [convt_ref(x3, w3, uniform(52, (2,)), [2, 2, 2]).astype(F32)], oracle="torch")
    xh, wh = uniform(53, (1, 4, 3, 3), dtype=F16), uniform(54, (4, 2, 3, 3), dtype=F16)
    emit(op, "fp16", convt_inputs(xh, wh, uniform(55, (2,), dtype=F16), strides=[2, 2], pad_type="custom",
                                  pad=[1, 1, 1, 1]),
         [convt_ref(xh, wh, uniform(55, (2,), dtype=F16), [2, 2], "custom", [1, 1, 1, 1],
                    work=torch.float32).astype(F16)], oracle="torch")
    wf = uniform(56, (4, 2, 3, 3))
    emit(op, "ios17_fp16_x_dynamic_fp32_weight", convt_inputs(xh, wf, strides=[1, 1], w_const=False),
         [convt_ref(xh, wf, work=torch.float32).astype(F16)], oracle="torch", opset="ios17",
         note="iOS17: weight may be non-const and of another float dtype")


def pool_ref(kind, x, k, s, pad_type, pad=None, ceil_mode=False, exclude=False, work=torch.float64):
    n = np.asarray(x).ndim - 2
    xt = t(x, work)
    if n == 1:  # run 1-D pools as 2-D with a unit height
        r = pool_ref(kind, np.asarray(x)[:, :, None, :], [1] + list(k), [1] + list(s), pad_type,
                     None if pad is None else [0, 0] + list(pad), ceil_mode, exclude, work)
        return r[:, :, 0, :]
    avg = F.avg_pool2d if n == 2 else F.avg_pool3d
    mx = F.max_pool2d if n == 2 else F.max_pool3d
    pads = mil_pads(pad_type, np.asarray(x).shape[2:], k, s, None, pad)
    sym = all(b == a for b, a in pads)
    if ceil_mode:
        assert sym
        p = [b for b, _ in pads]
        if kind == "max":
            return mx(xt, k, s, p, ceil_mode=True).numpy()
        if kind == "avg":
            return avg(xt, k, s, p, ceil_mode=True, count_include_pad=not exclude).numpy()
        return torch.sqrt(avg(xt * xt, k, s, p, ceil_mode=True, divisor_override=1)).numpy()
    if kind == "max":
        return mx(torch_pad(xt, pads, float("-inf")), k, s).numpy()
    if kind == "l2":
        return torch.sqrt(avg(torch_pad(xt * xt, pads), k, s, divisor_override=1)).numpy()
    total = avg(torch_pad(xt, pads), k, s, divisor_override=1)
    count = avg(torch_pad(torch.ones_like(xt), pads), k, s, divisor_override=1)
    denom = count if exclude else torch.full_like(count, float(np.prod(k)))
    return (total / denom).numpy()


def pool_inputs(x, k, s=None, pad_type="valid", pad=None, ceil_mode=None, exclude=None):
    d = {"x": tensor(x), "kernel_sizes": ints(k), "pad_type": const(pad_type)}
    if s is not None:
        d["strides"] = ints(s)
    if pad is not None:
        d["pad"] = ints(pad)
    if ceil_mode is not None:
        d["ceil_mode"] = const(ceil_mode)
    if exclude is not None:
        d["exclude_padding_from_average"] = const(exclude)
    return d


def gen_pools(emit):
    x = uniform(60, (1, 2, 7, 6), -3, 3)
    x1 = uniform(61, (2, 3, 9), -3, 3)
    x3 = uniform(62, (1, 2, 4, 5, 3), -3, 3)
    xh = uniform(63, (1, 3, 6, 5), -3, 3, F16)
    for kind in ("avg", "max", "l2"):
        op = kind + "_pool"
        emit(op, "2d_valid_stride2", pool_inputs(x, [2, 2], [2, 2]),
             [pool_ref(kind, x, [2, 2], [2, 2], "valid").astype(F32)], oracle="torch")
        emit(op, "2d_same_k3_stride2", pool_inputs(x, [3, 3], [2, 2], "same"),
             [pool_ref(kind, x, [3, 3], [2, 2], "same").astype(F32)], oracle="torch")
        emit(op, "2d_same_lower_k2", pool_inputs(x, [2, 2], [1, 1], "same_lower"),
             [pool_ref(kind, x, [2, 2], [1, 1], "same_lower").astype(F32)], oracle="torch", opset="ios16")
        emit(op, "2d_custom_asymmetric", pool_inputs(x, [3, 2], [2, 1], "custom", [1, 0, 0, 1]),
             [pool_ref(kind, x, [3, 2], [2, 1], "custom", [1, 0, 0, 1]).astype(F32)], oracle="torch")
        emit(op, "2d_ceil_mode", pool_inputs(x, [3, 3], [2, 2], "valid", ceil_mode=True),
             [pool_ref(kind, x, [3, 3], [2, 2], "valid", ceil_mode=True).astype(F32)], oracle="torch")
        emit(op, "2d_ceil_mode_custom_pad", pool_inputs(x, [3, 2], [2, 2], "custom", [1, 1, 1, 1], ceil_mode=True),
             [pool_ref(kind, x, [3, 2], [2, 2], "custom", [1, 1, 1, 1], ceil_mode=True).astype(F32)], oracle="torch")
        emit(op, "1d_same_stride2", pool_inputs(x1, [3], [2], "same"),
             [pool_ref(kind, x1, [3], [2], "same").astype(F32)], oracle="torch", opset="ios15")
        emit(op, "fp16", pool_inputs(xh, [2, 3], [1, 2], "custom", [1, 1, 1, 1]),
             [pool_ref(kind, xh, [2, 3], [1, 2], "custom", [1, 1, 1, 1], work=torch.float32).astype(F16)],
             oracle="torch")
        if kind != "l2":  # l2_pool supports 1-D and 2-D only
            emit(op, "3d_custom", pool_inputs(x3, [2, 3, 2], [2, 1, 1], "custom", [0, 1, 1, 1, 0, 0]),
                 [pool_ref(kind, x3, [2, 3, 2], [2, 1, 1], "custom", [0, 1, 1, 1, 0, 0]).astype(F32)], oracle="torch")
    # avg_pool: padding excluded from / included in the divisor.
    for excl in (True, False):
        name = "exclude_padding" if excl else "include_padding"
        emit("avg_pool", "2d_same_" + name, pool_inputs(x, [3, 3], [1, 1], "same", exclude=excl),
             [pool_ref("avg", x, [3, 3], [1, 1], "same", exclude=excl).astype(F32)], oracle="torch")
        emit("avg_pool", "2d_ceil_custom_" + name,
             pool_inputs(x, [3, 3], [2, 2], "custom", [1, 1, 1, 1], ceil_mode=True, exclude=excl),
             [pool_ref("avg", x, [3, 3], [2, 2], "custom", [1, 1, 1, 1], True, excl).astype(F32)], oracle="torch",
             note="ceil-mode windows past the padding count only up to the padded edge (torch count_include_pad)")
    emit("avg_pool", "1d_ceil_exclude", pool_inputs(x1, [2], [2], "custom", [1, 1], ceil_mode=True, exclude=True),
         [pool_ref("avg", x1, [2], [2], "custom", [1, 1], True, True).astype(F32)], oracle="torch")


def generate(emit):
    gen_conv(emit)
    gen_conv_quantized(emit)
    gen_conv_transpose(emit)
    gen_pools(emit)
