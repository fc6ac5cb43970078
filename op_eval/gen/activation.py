"""Op-eval cases for the activation family. Expectations from PyTorch (torch.nn.functional) where it
has the op, else NumPy with the formulas of coremltools' iOS15/activation.py docstrings.

fp16 cases: evaluated in float32 on the fp16 inputs (and parameters), rounded once to fp16."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from common import const, rng, tensor

F32, F16 = np.float32, np.float16


def uniform(seed, shape, lo, hi, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def torch32(fn, x, *args):
    """fn on a float32 torch tensor made from x (which may be fp16); float32 numpy result."""
    return fn(torch.from_numpy(np.asarray(x, dtype=F32)), *args).numpy().astype(F32)


def np32(fn, x, *args):
    with np.errstate(all="ignore"):
        return np.asarray(fn(np.asarray(x, dtype=F32), *args), dtype=F32)


def sigmoid_np(v):
    return 1.0 / (1.0 + np.exp(-v))


# op -> (oracle, fn(x float32) -> float32)
SIMPLE = {
    "relu": ("torch", lambda x: torch32(F.relu, x)),
    "relu6": ("torch", lambda x: torch32(F.relu6, x)),
    "sigmoid": ("torch", lambda x: torch32(torch.sigmoid, x)),
    "silu": ("torch", lambda x: torch32(F.silu, x)),
    "softplus": ("torch", lambda x: torch32(F.softplus, x)),
    "softsign": ("torch", lambda x: torch32(F.softsign, x)),
}


def gen_simple(emit):
    for i, (op, (oracle, fn)) in enumerate(sorted(SIMPLE.items())):
        x = uniform(10 + i, (2, 3, 4), -8, 8)
        emit(op, "fp32", {"x": tensor(x)}, [fn(x)], oracle=oracle)
        xh = uniform(20 + i, (4, 5), -8, 8, F16)
        emit(op, "fp16", {"x": tensor(xh)}, [fn(xh).astype(F16)], oracle=oracle)
        xs = F32(-0.75)
        emit(op, "scalar", {"x": tensor(xs)}, [fn(np.asarray(xs)).reshape(())], oracle=oracle)
    # large magnitudes: softplus must not overflow, sigmoid / silu saturate cleanly.
    big = np.array([-100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0], F32)
    for op in ("softplus", "sigmoid", "silu"):
        oracle, fn = SIMPLE[op]
        emit(op, "large_magnitude", {"x": tensor(big)}, [fn(big)], oracle=oracle)
    x6 = np.array([-1.0, 0.0, 3.0, 6.0, 6.5, 100.0], F32)
    emit("relu6", "bounds", {"x": tensor(x6)}, [torch32(F.relu6, x6)], oracle="torch")


def gen_alpha(emit):
    x = uniform(100, (2, 3, 4), -4, 4)
    xh = uniform(101, (3, 6), -4, 4, F16)
    cases = {
        # coremltools: x >= 0 ? x : alpha * x
        "leaky_relu": ("torch", lambda v, a: torch32(F.leaky_relu, v, float(a)), 0.15),
        # x > 0 ? x : alpha * (e^x - 1)
        "elu": ("torch", lambda v, a: torch32(F.elu, v, float(a)), 1.3),
        # x >= alpha ? x : 0
        "thresholded_relu": ("numpy", lambda v, a: np32(lambda t: np.where(t >= F32(a), t, F32(0)), v), 0.5),
    }
    for op, (oracle, fn, a) in sorted(cases.items()):
        emit(op, "fp32", {"x": tensor(x), "alpha": const(F32(a))}, [fn(x, F32(a))], oracle=oracle)
        emit(op, "fp16", {"x": tensor(xh), "alpha": const(F16(a))}, [fn(xh, F32(F16(a))).astype(F16)], oracle=oracle)
        # iOS17+: alpha may be fp32 while x is fp16.
        emit(op, "fp16_x_fp32_alpha", {"x": tensor(xh), "alpha": const(F32(a))}, [fn(xh, F32(a)).astype(F16)],
             oracle=oracle)
        emit(op, "ios15_fp32", {"x": tensor(x), "alpha": const(F32(a))}, [fn(x, F32(a))], oracle=oracle,
             opset="ios15")
    # thresholded_relu: x == alpha is kept.
    xt = np.array([0.25, 0.5, 0.75, -1.0], F32)
    emit("thresholded_relu", "at_threshold", {"x": tensor(xt), "alpha": const(F32(0.5))},
         [np.where(xt >= F32(0.5), xt, F32(0))])
    emit("leaky_relu", "negative_alpha", {"x": tensor(x), "alpha": const(F32(-0.5))},
         [torch32(F.leaky_relu, x, -0.5)], oracle="torch")


def gen_alpha_beta(emit):
    x = uniform(200, (2, 3, 4), -5, 5)
    xh = uniform(201, (4, 4), -5, 5, F16)
    cases = {
        # min(beta, x >= 0 ? x : alpha * x)
        "clamped_relu": (lambda v, a, b: np.minimum(np.where(v >= 0, v, a * v), b), 0.1, 3.0),
        "linear_activation": (lambda v, a, b: a * v + b, 1.5, -0.25),
        "scaled_tanh": (lambda v, a, b: a * np.tanh(b * v), 2.0, 0.6),
        # min(max(alpha * x + beta, 0), 1)
        "sigmoid_hard": (lambda v, a, b: np.minimum(np.maximum(a * v + b, 0), 1), 0.2, 0.5),
    }
    for op, (fn, a, b) in sorted(cases.items()):
        emit(op, "fp32", {"x": tensor(x), "alpha": const(F32(a)), "beta": const(F32(b))},
             [np32(fn, x, F32(a), F32(b))])
        emit(op, "fp16", {"x": tensor(xh), "alpha": const(F16(a)), "beta": const(F16(b))},
             [np32(fn, xh, F32(F16(a)), F32(F16(b))).astype(F16)])
        emit(op, "fp16_x_fp32_params", {"x": tensor(xh), "alpha": const(F32(a)), "beta": const(F32(b))},
             [np32(fn, xh, F32(a), F32(b)).astype(F16)])
        emit(op, "ios15_fp32", {"x": tensor(x), "alpha": const(F32(a)), "beta": const(F32(b))},
             [np32(fn, x, F32(a), F32(b))], opset="ios15")
    # clamped_relu with a negative beta clamps both halves.
    fn = cases["clamped_relu"][0]
    emit("clamped_relu", "negative_beta", {"x": tensor(x), "alpha": const(F32(0.5)), "beta": const(F32(-1.0))},
         [np32(fn, x, F32(0.5), F32(-1.0))])


def gen_gelu(emit):
    x = uniform(300, (2, 3, 5), -4, 4)
    xh = uniform(301, (3, 7), -4, 4, F16)
    exact = lambda v: torch32(F.gelu, v)  # noqa: E731
    tanh = lambda v: torch32(lambda t: F.gelu(t, approximate="tanh"), v)  # noqa: E731
    sig = lambda v: np32(lambda t: t * sigmoid_np(F32(1.702) * t), v)  # noqa: E731
    emit("gelu", "default_exact", {"x": tensor(x)}, [exact(x)], oracle="torch")
    emit("gelu", "exact", {"x": tensor(x), "mode": const("EXACT")}, [exact(x)], oracle="torch")
    emit("gelu", "tanh_approximation", {"x": tensor(x), "mode": const("TANH_APPROXIMATION")}, [tanh(x)],
         oracle="torch")
    emit("gelu", "sigmoid_approximation", {"x": tensor(x), "mode": const("SIGMOID_APPROXIMATION")}, [sig(x)])
    emit("gelu", "fp16_exact", {"x": tensor(xh)}, [exact(xh).astype(F16)], oracle="torch")
    emit("gelu", "fp16_tanh", {"x": tensor(xh), "mode": const("TANH_APPROXIMATION")}, [tanh(xh).astype(F16)],
         oracle="torch")
    emit("gelu", "fp16_sigmoid", {"x": tensor(xh), "mode": const("SIGMOID_APPROXIMATION")}, [sig(xh).astype(F16)])
    # math.erf formula, as coremltools' value_inference writes it
    xe = np.array([-3.0, -1.0, -0.1, 0.0, 0.1, 1.0, 3.0], F32)
    want = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in xe.astype(np.float64)], F32)
    emit("gelu", "exact_points", {"x": tensor(xe)}, [want])


def gen_prelu(emit):
    x = uniform(400, (2, 3, 4, 5), -3, 3)
    alpha = np.array([0.1, -0.5, 2.0], F32)
    prelu = lambda v, a: torch32(lambda t: F.prelu(t, torch.from_numpy(np.asarray(a, F32))), v)  # noqa: E731
    emit("prelu", "rank4", {"x": tensor(x), "alpha": const(alpha)}, [prelu(x, alpha)], oracle="torch")
    xh = x.astype(F16)
    emit("prelu", "rank4_fp16", {"x": tensor(xh), "alpha": const(alpha.astype(F16))},
         [prelu(xh, alpha.astype(F16)).astype(F16)], oracle="torch")
    emit("prelu", "rank4_fp16_x_fp32_alpha", {"x": tensor(xh), "alpha": const(alpha)},
         [prelu(xh, alpha).astype(F16)], oracle="torch")
    # rank 3 / 5: coremltools requires all alpha values equal
    x3 = uniform(401, (2, 4, 6), -3, 3)
    a3 = np.full((4,), 0.25, F32)
    emit("prelu", "rank3_uniform_alpha", {"x": tensor(x3), "alpha": const(a3)}, [prelu(x3, a3)], oracle="torch")
    x5 = uniform(402, (1, 2, 2, 3, 2), -3, 3)
    a5 = np.full((2,), 0.3, F32)
    emit("prelu", "rank5_uniform_alpha", {"x": tensor(x5), "alpha": const(a5)}, [prelu(x5, a5)], oracle="torch")
    emit("prelu", "ios15_rank4", {"x": tensor(x), "alpha": const(alpha)}, [prelu(x, alpha)], oracle="torch",
         opset="ios15")


def gen_softplus_parametric(emit):
    def spp(v, a, b):
        # alpha_c * log(1 + exp(beta_c * x)), parameters broadcast over dim 1
        shape = [1] * v.ndim
        shape[1] = -1
        a = np.asarray(a, F32).reshape(shape)
        b = np.asarray(b, F32).reshape(shape)
        return np32(lambda t: a * np.log1p(np.exp(b * t)), v)

    x = uniform(500, (2, 3, 4, 2), -4, 4)
    a = np.array([1.0, 0.5, 2.0], F32)
    b = np.array([1.0, 2.0, -0.5], F32)
    emit("softplus_parametric", "rank4", {"x": tensor(x), "alpha": const(a), "beta": const(b)}, [spp(x, a, b)])
    x3 = uniform(501, (2, 3, 5), -4, 4)
    emit("softplus_parametric", "rank3", {"x": tensor(x3), "alpha": const(a), "beta": const(b)}, [spp(x3, a, b)])
    xh = x.astype(F16)
    emit("softplus_parametric", "fp16", {"x": tensor(xh), "alpha": const(a.astype(F16)), "beta": const(b.astype(F16))},
         [spp(xh, a.astype(F16), b.astype(F16)).astype(F16)])
    emit("softplus_parametric", "fp16_x_fp32_params", {"x": tensor(xh), "alpha": const(a), "beta": const(b)},
         [spp(xh, a, b).astype(F16)])


def gen_softmax(emit):
    sm = lambda v, axis: torch32(lambda t: torch.softmax(t.double(), dim=axis).float(), v)  # noqa: E731
    x = uniform(600, (2, 3, 5), -5, 5)
    emit("softmax", "default_axis", {"x": tensor(x)}, [sm(x, -1)], oracle="torch")
    for axis in (0, 1, -2):
        emit("softmax", f"axis_{axis}".replace("-", "m"), {"x": tensor(x), "axis": const(np.int32(axis))},
             [sm(x, axis)], oracle="torch")
    xl = uniform(601, (3, 4), -1, 1) * F32(1000)  # needs max subtraction
    emit("softmax", "large_values", {"x": tensor(xl)}, [sm(xl, -1)], oracle="torch")
    xh = uniform(602, (2, 8), -6, 6, F16)
    emit("softmax", "fp16", {"x": tensor(xh)}, [sm(xh, -1).astype(F16)], oracle="torch")
    x1 = uniform(603, (5,), -2, 2)
    emit("softmax", "rank1", {"x": tensor(x1)}, [sm(x1, 0)], oracle="torch")
    x4 = uniform(604, (1, 3, 2, 2), -3, 3)
    emit("softmax", "rank4_channels", {"x": tensor(x4), "axis": const(np.int32(1))}, [sm(x4, 1)], oracle="torch")


def generate(emit):
    gen_simple(emit)
    gen_alpha(emit)
    gen_alpha_beta(emit)
    gen_gelu(emit)
    gen_prelu(emit)
    gen_softplus_parametric(emit)
    gen_softmax(emit)
