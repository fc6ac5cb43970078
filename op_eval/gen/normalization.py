"""Op-eval cases for the normalization family (batch_norm, instance_norm, layer_norm, l2_norm,
local_response_norm).

Expectations from torch.nn.functional (batch_norm in eval mode, instance_norm, layer_norm,
local_response_norm) evaluated in float64; NumPy with coremltools' formulas where torch has no direct
equivalent (layer_norm over non-trailing axes, l2_norm). fp16 cases: fp16 inputs (and fp16 or fp32
parameters) computed in float32, rounded once to fp16."""
import numpy as np
import torch
import torch.nn.functional as F

from common import const, rng, tensor

F32, F16, I32 = np.float32, np.float16, np.int32


def uniform(seed, shape, lo=-1.0, hi=1.0, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def t(a, work=torch.float64):
    return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64)).to(work)


def bn(x, mean, var, gamma=None, beta=None, eps=1e-5, work=torch.float64):
    return F.batch_norm(t(x, work), t(mean, work), t(var, work), t(gamma, work), t(beta, work), training=False,
                        eps=float(eps)).numpy()


def gen_batch_norm(emit):
    x = uniform(1, (2, 3, 4, 5), -3, 3)
    mean, var = uniform(2, (3,)), uniform(3, (3,), 0.2, 2.0)
    gamma, beta = uniform(4, (3,), 0.5, 1.5), uniform(5, (3,))
    emit("batch_norm", "rank4_gamma_beta", {"x": tensor(x), "mean": const(mean), "variance": const(var),
                                            "gamma": const(gamma), "beta": const(beta)},
         [bn(x, mean, var, gamma, beta).astype(F32)], oracle="torch")
    x3 = uniform(6, (2, 3, 7), -3, 3)
    emit("batch_norm", "rank3_no_affine", {"x": tensor(x3), "mean": const(mean), "variance": const(var)},
         [bn(x3, mean, var).astype(F32)], oracle="torch")
    x5 = uniform(7, (1, 3, 2, 3, 4), -3, 3)
    emit("batch_norm", "rank5_epsilon", {"x": tensor(x5), "mean": const(mean), "variance": const(var),
                                         "gamma": const(gamma), "beta": const(beta), "epsilon": const(F32(0.1))},
         [bn(x5, mean, var, gamma, beta, 0.1).astype(F32)], oracle="torch")
    emit("batch_norm", "ios15", {"x": tensor(x3), "mean": const(mean), "variance": const(var),
                                 "gamma": const(gamma)}, [bn(x3, mean, var, gamma).astype(F32)], oracle="torch",
         opset="ios15")
    xh = uniform(8, (2, 3, 3, 3), -3, 3, F16)
    p16 = [a.astype(F16) for a in (mean, var, gamma, beta)]
    emit("batch_norm", "fp16", {"x": tensor(xh), "mean": const(p16[0]), "variance": const(p16[1]),
                                "gamma": const(p16[2]), "beta": const(p16[3])},
         [bn(xh, *p16, work=torch.float32).astype(F16)], oracle="torch")
    emit("batch_norm", "ios17_fp16_x_fp32_params", {"x": tensor(xh), "mean": const(mean), "variance": const(var),
                                                    "gamma": const(gamma), "beta": const(beta)},
         [bn(xh, mean, var, gamma, beta, work=torch.float32).astype(F16)], oracle="torch", opset="ios17")


def inorm(x, gamma=None, beta=None, eps=1e-5, work=torch.float64):
    return F.instance_norm(t(x, work), weight=t(gamma, work), bias=t(beta, work), eps=float(eps)).numpy()


def gen_instance_norm(emit):
    x = uniform(20, (2, 3, 4, 5), -3, 3)
    gamma, beta = uniform(21, (3,), 0.5, 1.5), uniform(22, (3,))
    emit("instance_norm", "rank4_gamma_beta", {"x": tensor(x), "gamma": const(gamma), "beta": const(beta)},
         [inorm(x, gamma, beta).astype(F32)], oracle="torch")
    x3 = uniform(23, (2, 3, 6), -3, 3)
    emit("instance_norm", "rank3_no_affine", {"x": tensor(x3)}, [inorm(x3).astype(F32)], oracle="torch",
         opset="ios15")
    emit("instance_norm", "epsilon", {"x": tensor(x3), "gamma": const(gamma), "epsilon": const(F32(0.5))},
         [inorm(x3, gamma, None, 0.5).astype(F32)], oracle="torch")
    xh = uniform(24, (1, 3, 4, 4), -3, 3, F16)
    emit("instance_norm", "fp16", {"x": tensor(xh), "gamma": const(gamma.astype(F16)), "beta": const(beta.astype(F16))},
         [inorm(xh, gamma.astype(F16), beta.astype(F16), work=torch.float32).astype(F16)], oracle="torch")
    emit("instance_norm", "ios17_fp16_x_fp32_params", {"x": tensor(xh), "gamma": const(gamma), "beta": const(beta)},
         [inorm(xh, gamma, beta, work=torch.float32).astype(F16)], oracle="torch", opset="ios17")


def layer_norm_np(x, axes, gamma=None, beta=None, eps=1e-5, work=np.float64):
    """coremltools' np_layer_norm (iOS15 normalization.py value_inference)."""
    x = np.asarray(x).astype(work)
    rank = x.ndim
    axes = sorted(a + rank if a < 0 else a for a in axes)
    norm_shape = [x.shape[i] if i in axes else 1 for i in range(rank)]
    g = np.ones(norm_shape, work) if gamma is None else np.reshape(np.asarray(gamma).astype(work), norm_shape)
    b = np.zeros(norm_shape, work) if beta is None else np.reshape(np.asarray(beta).astype(work), norm_shape)
    num = x - np.mean(x, axis=tuple(axes), keepdims=True)
    den = np.sqrt(np.mean(np.square(num), axis=tuple(axes), keepdims=True) + work(eps))
    return num / den * g + b


def gen_layer_norm(emit):
    x = uniform(40, (2, 3, 8), -3, 3)
    g, b = uniform(41, (8,), 0.5, 1.5), uniform(42, (8,))
    ref = F.layer_norm(t(x), (8,), t(g), t(b), eps=1e-5).numpy()
    emit("layer_norm", "last_axis_torch", {"x": tensor(x), "axes": const(np.array([-1], I32)), "gamma": const(g),
                                           "beta": const(b)}, [ref.astype(F32)], oracle="torch")
    ref2 = F.layer_norm(t(x), (3, 8), eps=1e-5).numpy()
    emit("layer_norm", "last_two_axes_no_affine", {"x": tensor(x), "axes": const(np.array([1, 2], I32))},
         [ref2.astype(F32)], oracle="torch", opset="ios15")
    emit("layer_norm", "default_all_axes", {"x": tensor(x)}, [layer_norm_np(x, [0, 1, 2]).astype(F32)])
    x4 = uniform(43, (2, 3, 4, 5), -3, 3)
    g4, b4 = uniform(44, (2, 4), 0.5, 1.5), uniform(45, (2, 4))
    emit("layer_norm", "non_contiguous_axes", {"x": tensor(x4), "axes": const(np.array([2, 0], I32)),
                                               "gamma": const(g4), "beta": const(b4)},
         [layer_norm_np(x4, [2, 0], g4, b4).astype(F32)],
         note="gamma/beta shaped x.shape[sorted(axes)] = [2, 4]")
    g1 = uniform(46, (3,), 0.5, 1.5)
    emit("layer_norm", "middle_axis_epsilon", {"x": tensor(x4), "axes": const(np.array([-3], I32)),
                                               "gamma": const(g1), "epsilon": const(F32(0.01))},
         [layer_norm_np(x4, [1], g1, None, 0.01).astype(F32)])
    xh = uniform(47, (3, 16), -3, 3, F16)
    gh, bh = uniform(48, (16,), 0.5, 1.5, F16), uniform(49, (16,), dtype=F16)
    refh = F.layer_norm(t(xh, torch.float32), (16,), t(gh, torch.float32), t(bh, torch.float32), eps=1e-5).numpy()
    emit("layer_norm", "fp16", {"x": tensor(xh), "axes": const(np.array([1], I32)), "gamma": const(gh),
                                "beta": const(bh)}, [refh.astype(F16)], oracle="torch")
    gf, bf = uniform(50, (16,), 0.5, 1.5), uniform(51, (16,))
    reff = F.layer_norm(t(xh, torch.float32), (16,), t(gf, torch.float32), t(bf, torch.float32), eps=1e-5).numpy()
    emit("layer_norm", "ios17_fp16_x_fp32_params", {"x": tensor(xh), "axes": const(np.array([1], I32)),
                                                    "gamma": const(gf), "beta": const(bf)},
         [reff.astype(F16)], oracle="torch", opset="ios17")


def l2n(x, eps=1e-6, work=np.float64):
    """coremltools l2_norm value_inference: x / sqrt(sum(x^2) + eps) over the last three dims."""
    x = np.asarray(x).astype(work)
    ss = np.sum(x * x, axis=(-3, -2, -1), keepdims=True)
    return x / np.sqrt(ss + work(eps))


def gen_l2_norm(emit):
    x3 = uniform(60, (2, 3, 4), -2, 2)
    emit("l2_norm", "rank3", {"x": tensor(x3)}, [l2n(x3).astype(F32)])
    x5 = uniform(61, (2, 2, 2, 3, 2), -2, 2)
    emit("l2_norm", "rank5_batched", {"x": tensor(x5)}, [l2n(x5).astype(F32)], opset="ios15")
    small = uniform(62, (1, 2, 2, 2), -1e-3, 1e-3)
    emit("l2_norm", "epsilon_dominates", {"x": tensor(small), "epsilon": const(F32(1e-4))},
         [l2n(small, 1e-4).astype(F32)])
    xh = uniform(63, (2, 2, 3, 3), -2, 2, F16)
    emit("l2_norm", "fp16", {"x": tensor(xh)}, [l2n(xh, np.float32(F16(1e-6)), np.float32).astype(F16)],
         note="default epsilon 1e-6 materialised in fp16")
    emit("l2_norm", "ios17_fp16_x_fp32_eps", {"x": tensor(xh), "epsilon": const(F32(1e-3))},
         [l2n(xh, 1e-3, np.float32).astype(F16)], opset="ios17")


def lrn(x, size, alpha=1e-4, beta=0.75, k=1.0, work=torch.float64):
    return F.local_response_norm(t(x, work), size, alpha=float(alpha), beta=float(beta), k=float(k)).numpy()


def gen_lrn(emit):
    op = "local_response_norm"
    x = uniform(80, (2, 6, 3, 3), -3, 3)
    emit(op, "size3_defaults", {"x": tensor(x), "size": const(I32(3))}, [lrn(x, 3).astype(F32)], oracle="torch")
    emit(op, "size5_params", {"x": tensor(x), "size": const(I32(5)), "alpha": const(F32(0.5)),
                              "beta": const(F32(0.6)), "k": const(F32(2.0))},
         [lrn(x, 5, 0.5, 0.6, 2.0).astype(F32)], oracle="torch")
    x3 = uniform(81, (2, 5, 4), -3, 3)
    emit(op, "rank3_even_size", {"x": tensor(x3), "size": const(I32(4)), "alpha": const(F32(1.0))},
         [lrn(x3, 4, 1.0).astype(F32)], oracle="torch", opset="ios15",
         note="window [c - size/2, c + (size-1)/2] as in torch.nn.functional.local_response_norm")
    xh = uniform(82, (1, 4, 3, 3), -3, 3, F16)
    emit(op, "fp16", {"x": tensor(xh), "size": const(I32(3)), "alpha": const(F16(0.25)), "beta": const(F16(0.75)),
                      "k": const(F16(1.0))},
         [lrn(xh, 3, float(F16(0.25)), 0.75, 1.0, work=torch.float32).astype(F16)], oracle="torch")
    emit(op, "ios17_fp16_x_fp32_params", {"x": tensor(xh), "size": const(I32(2)), "alpha": const(F32(0.3)),
                                          "beta": const(F32(0.5)), "k": const(F32(1.5))},
         [lrn(xh, 2, 0.3, 0.5, 1.5, work=torch.float32).astype(F16)], oracle="torch", opset="ios17")


def generate(emit):
    gen_batch_norm(emit)
    gen_instance_norm(emit)
    gen_layer_norm(emit)
    gen_l2_norm(emit)
    gen_lrn(emit)
