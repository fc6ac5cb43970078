"""Op-eval cases for the elementwise family. Expectations come from NumPy (coremltools' own value
inference for these ops is NumPy: np.abs, operator.floordiv, operator.mod, np.round, astype, ...).

fp16 cases: the op is evaluated in float32 on the fp16 input values and rounded to fp16 once."""
import numpy as np

from common import const, rng, tensor

F32, F16, I32 = np.float32, np.float16, np.int32


def f16(fn, *arrs):
    """fn evaluated in float32 on fp16 inputs, rounded once to fp16."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(*[np.asarray(a, dtype=F32) for a in arrs]), dtype=F32).astype(F16)


def f32(fn, *arrs):
    with np.errstate(all="ignore"):
        return np.asarray(fn(*[np.asarray(a, dtype=F32) for a in arrs]), dtype=F32)


def uniform(seed, shape, lo, hi, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


# op -> (numpy function, input range, allows int32)
UNARY = {
    "abs": (np.abs, (-4, 4), True),
    "acos": (np.arccos, (-0.99, 0.99), False),
    "asin": (np.arcsin, (-0.99, 0.99), False),
    "atan": (np.arctan, (-5, 5), False),
    "atanh": (np.arctanh, (-0.95, 0.95), False),
    "ceil": (np.ceil, (-5, 5), False),
    "cos": (np.cos, (-4, 4), False),
    "cosh": (np.cosh, (-3, 3), False),
    "erf": (None, (-3, 3), False),  # math.erf, vectorised below (as coremltools does)
    "exp": (np.exp, (-4, 4), False),
    "exp2": (np.exp2, (-4, 4), True),
    "floor": (np.floor, (-5, 5), False),
    "round": (np.round, (-5, 5), False),
    "sign": (np.sign, (-3, 3), True),
    "sin": (np.sin, (-4, 4), False),
    "sinh": (np.sinh, (-3, 3), False),
    "sqrt": (np.sqrt, (0, 9), False),
    "square": (np.square, (-4, 4), True),
    "tan": (np.tan, (-1.3, 1.3), False),
    "tanh": (np.tanh, (-4, 4), False),
}


def _erf(x):
    import math
    return np.vectorize(math.erf)(x)


def gen_unary(emit):
    for i, (op, (fn, (lo, hi), with_int)) in enumerate(sorted(UNARY.items())):
        fn = fn or _erf
        x = uniform(100 + i, (2, 3, 4), lo, hi)
        if op in ("ceil", "floor", "round", "sign"):
            # exact halves and zeros exercise ties (round: half to even) and sign(0).
            x.reshape(-1)[:8] = [-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.5]
        emit(op, "fp32", {"x": tensor(x)}, [f32(fn, x)])
        xh = uniform(200 + i, (3, 5), lo, hi, F16)
        if op in ("ceil", "floor", "round", "sign"):
            xh.reshape(-1)[:6] = [-2.5, -0.5, 0.0, 0.5, 1.5, 4.5]
        emit(op, "fp16", {"x": tensor(xh)}, [f16(fn, xh)])
        # rank 0
        emit(op, "scalar_fp32", {"x": tensor(F32(x.reshape(-1)[9]))}, [f32(fn, F32(x.reshape(-1)[9]))])
        if with_int:
            xi = rng(300 + i).integers(-6, 7, size=(4, 5)).astype(I32)
            if op == "exp2":
                # np.exp2 of int32 is float64; the int32 output truncates toward zero (2**-k -> 0).
                want = np.exp2(xi).astype(I32)
            else:
                want = fn(xi).astype(I32)
            emit(op, "int32", {"x": tensor(xi)}, [want])
    # int32 abs / square wrap like numpy int32 arithmetic.
    xi = np.array([-2147483647, 46341, -46340, 7], dtype=I32)
    emit("abs", "int32_extremes", {"x": tensor(xi)}, [np.abs(xi)])
    with np.errstate(all="ignore"):
        emit("square", "int32_wrap", {"x": tensor(xi)}, [np.square(xi)])
    # special values
    xs = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=F32)
    with np.errstate(all="ignore"):
        emit("exp", "special", {"x": tensor(xs)}, [np.exp(xs)])
        emit("sqrt", "negative_is_nan", {"x": tensor(np.array([-1.0, 4.0, 0.0], F32))},
             [np.sqrt(np.array([-1.0, 4.0, 0.0], F32))])
        emit("tanh", "saturation", {"x": tensor(np.array([-30, -10, 10, 30, np.nan], F32))},
             [np.tanh(np.array([-30, -10, 10, 30, np.nan], F32))])


def gen_eps_ops(emit):
    # inverse: 1 / (x + eps), default eps 1e-4 in x's dtype.
    x = uniform(1, (3, 4), 0.2, 3.0) * np.where(uniform(2, (3, 4), 0, 1) > 0.5, 1, -1).astype(F32)
    emit("inverse", "default_eps", {"x": tensor(x)}, [f32(lambda v: 1.0 / (v + F32(1e-4)), x)])
    emit("inverse", "eps_0p5", {"x": tensor(np.abs(x)), "epsilon": const(F32(0.5))},
         [f32(lambda v: 1.0 / (v + F32(0.5)), np.abs(x))])
    xh = np.abs(x).astype(F16)
    emit("inverse", "fp16_default_eps", {"x": tensor(xh)}, [f16(lambda v: 1.0 / (v + F32(F16(1e-4))), xh)])
    # iOS17+: epsilon may have another float dtype than x.
    emit("inverse", "fp16_x_fp32_eps", {"x": tensor(xh), "epsilon": const(F32(0.25))},
         [f16(lambda v: 1.0 / (v + F32(0.25)), xh)])
    emit("inverse", "ios15_fp32", {"x": tensor(np.abs(x)), "epsilon": const(F32(1e-3))},
         [f32(lambda v: 1.0 / (v + F32(1e-3)), np.abs(x))], opset="ios15")

    # log: log(x + eps), default eps 1e-45 in x's dtype (a denormal in fp32, 0 in fp16).
    xl = uniform(3, (2, 5), 0.01, 20.0)
    xl[0, 0] = 0.0
    emit("log", "default_eps", {"x": tensor(xl)}, [f32(lambda v: np.log(v + F32(1e-45)), xl)])
    emit("log", "eps_1", {"x": tensor(xl), "epsilon": const(F32(1.0))}, [f32(lambda v: np.log(v + F32(1.0)), xl)])
    xlh = xl.astype(F16)
    emit("log", "fp16_zero_is_neg_inf", {"x": tensor(xlh)}, [f16(lambda v: np.log(v + F32(F16(1e-45))), xlh)])
    emit("log", "fp16_x_fp32_eps", {"x": tensor(xlh), "epsilon": const(F32(1e-3))},
         [f16(lambda v: np.log(v + F32(1e-3)), xlh)])

    # rsqrt: 1 / sqrt(x + eps), default eps 1e-12.
    xr = uniform(4, (4, 3), 0.05, 10.0)
    emit("rsqrt", "default_eps", {"x": tensor(xr)}, [f32(lambda v: 1.0 / np.sqrt(v + F32(1e-12)), xr)])
    emit("rsqrt", "eps_0p1", {"x": tensor(xr), "epsilon": const(F32(0.1))},
         [f32(lambda v: 1.0 / np.sqrt(v + F32(0.1)), xr)])
    xrh = xr.astype(F16)
    emit("rsqrt", "fp16", {"x": tensor(xrh)}, [f16(lambda v: 1.0 / np.sqrt(v + F32(F16(1e-12))), xrh)])
    emit("rsqrt", "ios16_fp16_eps", {"x": tensor(xrh), "epsilon": const(F16(0.5))},
         [f16(lambda v: 1.0 / np.sqrt(v + F32(F16(0.5))), xrh)], opset="ios16")


def gen_threshold_clip(emit):
    x = uniform(10, (3, 4), -3, 3)
    emit("threshold", "fp32", {"x": tensor(x), "alpha": const(F32(0.5))}, [np.maximum(x, F32(0.5))])
    xh = x.astype(F16)
    emit("threshold", "fp16", {"x": tensor(xh), "alpha": const(F16(-1.25))}, [f16(np.maximum, xh, F16(-1.25))])
    xi = rng(11).integers(-10, 10, size=(2, 6)).astype(I32)
    emit("threshold", "int32", {"x": tensor(xi), "alpha": const(I32(2))}, [np.maximum(xi, I32(2))])

    clip = lambda v, a, b: np.minimum(np.maximum(v, a), b)  # noqa: E731 (coremltools value_inference)
    emit("clip", "fp32", {"x": tensor(x), "alpha": const(F32(-1.0)), "beta": const(F32(1.5))},
         [clip(x, F32(-1.0), F32(1.5))])
    emit("clip", "fp16", {"x": tensor(xh), "alpha": const(F16(0.0)), "beta": const(F16(6.0))},
         [f16(lambda v: clip(v, F32(0), F32(6)), xh)])
    emit("clip", "rank4", {"x": tensor(uniform(12, (1, 2, 3, 2), -5, 5)), "alpha": const(F32(-2.0)),
                           "beta": const(F32(2.0))}, [clip(uniform(12, (1, 2, 3, 2), -5, 5), F32(-2), F32(2))])
    # iOS15 clip accepts alpha > beta: min(max(x, 2), 1) == 1 everywhere (iOS17 rejects it).
    emit("clip", "ios15_alpha_gt_beta", {"x": tensor(x), "alpha": const(F32(2.0)), "beta": const(F32(1.0))},
         [clip(x, F32(2.0), F32(1.0))], opset="ios15")


BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "real_div": np.true_divide,
    "floor_div": np.floor_divide, "mod": np.mod, "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
}
COMPARE = {
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
}


def gen_binary(emit):
    for i, (op, fn) in enumerate(sorted(BINARY.items())):
        s = 1000 + 10 * i
        lo, hi = (0.5, 3.0) if op == "pow" else (-6, 6)
        x = uniform(s, (2, 3, 4), lo, hi)
        y = uniform(s + 1, (2, 3, 4), -3, 3)
        if op in ("real_div", "floor_div", "mod"):
            y = np.where(np.abs(y) < 0.3, F32(0.75), y).astype(F32)
        emit(op, "fp32_same_shape", {"x": tensor(x), "y": tensor(y)}, [f32(fn, x, y)])
        # broadcast [2,3,4] with [3,1] and a rank-0 y
        yb = uniform(s + 2, (3, 1), 0.5, 2.5)
        emit(op, "fp32_broadcast", {"x": tensor(x), "y": tensor(yb)}, [f32(fn, x, yb)])
        ys = F32(1.75)
        emit(op, "fp32_scalar_y", {"x": tensor(x), "y": tensor(ys)}, [f32(fn, x, ys)])
        # two-sided broadcast [4,1] x [1,3]
        xa, ya = uniform(s + 3, (4, 1), lo, hi), uniform(s + 4, (1, 3), 0.5, 2.0)
        emit(op, "fp32_outer_broadcast", {"x": tensor(xa), "y": tensor(ya)}, [f32(fn, xa, ya)])
        xh, yh = x.astype(F16), yb.astype(F16)
        emit(op, "fp16_broadcast", {"x": tensor(xh), "y": tensor(yh)}, [f16(fn, xh, yh)])
        # int32
        xi = rng(s + 5).integers(-20, 21, size=(3, 4)).astype(I32)
        if op == "pow":
            xi = rng(s + 5).integers(-5, 6, size=(3, 4)).astype(I32)
            yi = rng(s + 6).integers(0, 6, size=(3, 4)).astype(I32)
        else:
            yi = rng(s + 6).integers(-7, 8, size=(3, 4)).astype(I32)
            yi[yi == 0] = 3
        if op == "real_div":
            # real_div on int32 (coremltools declares an int32 output): the true quotient truncated
            # toward zero, i.e. numpy's astype(int32) of x / y.
            want = np.trunc(xi.astype(np.float64) / yi).astype(I32)
        else:
            want = fn(xi, yi).astype(I32)
        emit(op, "int32", {"x": tensor(xi), "y": tensor(yi)}, [want])
        yib = np.array([[3], [-2], [5]], dtype=I32)
        if op != "pow":
            emit(op, "int32_broadcast", {"x": tensor(xi), "y": tensor(yib)},
                 [(np.trunc(xi.astype(np.float64) / yib).astype(I32) if op == "real_div" else fn(xi, yib).astype(I32))])
    # Sign conventions: floor_div rounds toward -inf, mod takes the divisor's sign (Python / numpy).
    xs = np.array([7, -7, 7, -7, 6, -6, 0, 1], dtype=I32)
    ys = np.array([2, 2, -2, -2, 3, -3, 5, -4], dtype=I32)
    emit("floor_div", "int32_signs", {"x": tensor(xs), "y": tensor(ys)}, [np.floor_divide(xs, ys)])
    emit("mod", "int32_signs", {"x": tensor(xs), "y": tensor(ys)}, [np.mod(xs, ys)])
    xf, yf = xs.astype(F32) + F32(0.5), ys.astype(F32)
    emit("floor_div", "fp32_signs", {"x": tensor(xf), "y": tensor(yf)}, [np.floor_divide(xf, yf)])
    emit("mod", "fp32_signs", {"x": tensor(xf), "y": tensor(yf)}, [np.mod(xf, yf)])
    # int32 overflow wraps like numpy
    xo = np.array([2147483647, -2147483648, 65536], dtype=I32)
    yo = np.array([1, -1, 65536], dtype=I32)
    with np.errstate(all="ignore"):
        emit("add", "int32_wrap", {"x": tensor(xo), "y": tensor(yo)}, [np.add(xo, yo)])
        emit("mul", "int32_wrap", {"x": tensor(xo), "y": tensor(yo)}, [np.multiply(xo, yo)])
    # maximum / minimum propagate NaN
    xn = np.array([1.0, np.nan, -2.0, np.inf], F32)
    yn = np.array([np.nan, 0.0, -3.0, 1.0], F32)
    emit("maximum", "nan", {"x": tensor(xn), "y": tensor(yn)}, [np.maximum(xn, yn)])
    emit("minimum", "nan", {"x": tensor(xn), "y": tensor(yn)}, [np.minimum(xn, yn)])
    # real_div by zero in float -> inf / nan
    with np.errstate(all="ignore"):
        xz, yz = np.array([1.0, -1.0, 0.0], F32), np.array([0.0, 0.0, 0.0], F32)
        emit("real_div", "fp32_by_zero", {"x": tensor(xz), "y": tensor(yz)}, [np.true_divide(xz, yz)])


def gen_compare(emit):
    for i, (op, fn) in enumerate(sorted(COMPARE.items())):
        s = 2000 + 10 * i
        x = np.round(uniform(s, (3, 4), -3, 3))  # integers-valued floats, so ties occur
        y = np.round(uniform(s + 1, (3, 4), -3, 3))
        emit(op, "fp32", {"x": tensor(x), "y": tensor(y)}, [fn(x, y)])
        yb = np.round(uniform(s + 2, (1, 4), -2, 2))
        emit(op, "fp32_broadcast", {"x": tensor(x), "y": tensor(yb)}, [fn(x, yb)])
        xh, yh = x.astype(F16), yb.astype(F16)
        emit(op, "fp16", {"x": tensor(xh), "y": tensor(yh)}, [fn(xh, yh)])
        xi = rng(s + 3).integers(-3, 4, size=(2, 3, 2)).astype(I32)
        yi = rng(s + 4).integers(-3, 4, size=(3, 1)).astype(I32)
        emit(op, "int32_broadcast", {"x": tensor(xi), "y": tensor(yi)}, [fn(xi, yi)])
    xn = np.array([np.nan, 1.0, np.inf], F32)
    yn = np.array([np.nan, np.nan, np.inf], F32)
    emit("equal", "nan", {"x": tensor(xn), "y": tensor(yn)}, [np.equal(xn, yn)])
    emit("not_equal", "nan", {"x": tensor(xn), "y": tensor(yn)}, [np.not_equal(xn, yn)])


def gen_logical(emit):
    a = rng(3000).integers(0, 2, size=(2, 3, 4)).astype(bool)
    b = rng(3001).integers(0, 2, size=(2, 3, 4)).astype(bool)
    bb = rng(3002).integers(0, 2, size=(3, 1)).astype(bool)
    for op, fn in (("logical_and", np.logical_and), ("logical_or", np.logical_or),
                   ("logical_xor", np.logical_xor)):
        emit(op, "same_shape", {"x": tensor(a), "y": tensor(b)}, [fn(a, b)])
        emit(op, "broadcast", {"x": tensor(a), "y": tensor(bb)}, [fn(a, bb)])
    emit("logical_not", "rank3", {"x": tensor(a)}, [np.logical_not(a)])
    emit("logical_not", "scalar", {"x": tensor(np.bool_(True))}, [np.logical_not(np.bool_(True))])


def gen_select(emit):
    cond = rng(4000).integers(0, 2, size=(2, 1, 4)).astype(bool)
    a = uniform(4001, (2, 3, 4), -2, 2)
    b = uniform(4002, (3, 4), -2, 2)
    emit("select", "fp32_broadcast", {"cond": tensor(cond), "a": tensor(a), "b": tensor(b)}, [np.where(cond, a, b)])
    emit("select", "fp16", {"cond": tensor(cond), "a": tensor(a.astype(F16)), "b": tensor(b.astype(F16))},
         [np.where(cond, a.astype(F16), b.astype(F16))])
    ai = rng(4003).integers(-100, 100, size=(2, 3, 4)).astype(I32)
    bi = I32(-1)
    emit("select", "int32_scalar_b", {"cond": tensor(cond), "a": tensor(ai), "b": tensor(bi)}, [np.where(cond, ai, bi)])
    ab = rng(4004).integers(0, 2, size=(4,)).astype(bool)
    bb = rng(4005).integers(0, 2, size=(2, 3, 4)).astype(bool)
    emit("select", "bool", {"cond": tensor(cond), "a": tensor(ab), "b": tensor(bb)}, [np.where(cond, ab, bb)])
    c2 = rng(4006).integers(0, 2, size=(3, 4)).astype(bool)
    emit("select", "cond_broadcast_up", {"cond": tensor(c2), "a": tensor(F32(1.0)), "b": tensor(F32(-1.0))},
         [np.where(c2, F32(1.0), F32(-1.0)).astype(F32)])


def gen_cast(emit):
    x = np.array([-2.7, -1.5, -0.5, -0.0, 0.4, 1.5, 2.5, 100.9, 65519.0, 1e-8, 3.14159265, -7.99], dtype=F32)
    # float -> int truncates toward zero (numpy astype)
    emit("cast", "fp32_to_int32", {"x": tensor(x), "dtype": const("int32")}, [x.astype(I32)])
    emit("cast", "fp32_to_fp16", {"x": tensor(x), "dtype": const("fp16")}, [x.astype(F16)])
    emit("cast", "fp32_to_bool", {"x": tensor(x), "dtype": const("bool")}, [x.astype(bool)])
    xr = uniform(5000, (2, 3, 4), -100, 100)
    emit("cast", "fp32_to_fp16_rounding", {"x": tensor(xr), "dtype": const("fp16")}, [xr.astype(F16)], compare="exact")
    xh = xr.astype(F16)
    emit("cast", "fp16_to_fp32", {"x": tensor(xh), "dtype": const("fp32")}, [xh.astype(F32)], compare="exact")
    emit("cast", "fp16_to_int32", {"x": tensor(xh), "dtype": const("int32")}, [xh.astype(I32)])
    xi = np.array([[-5, 0, 7, 2049, 2051, -65504], [16777217, 1, -1, 123456, 3, 65520]], dtype=I32)
    emit("cast", "int32_to_fp32", {"x": tensor(xi), "dtype": const("fp32")}, [xi.astype(F32)], compare="exact")
    # 2049 -> 2048 (round half to even), 65520 -> inf
    emit("cast", "int32_to_fp16", {"x": tensor(xi), "dtype": const("fp16")}, [xi.astype(F16)], compare="exact")
    emit("cast", "int32_to_bool", {"x": tensor(xi), "dtype": const("bool")}, [xi.astype(bool)])
    xb = rng(5001).integers(0, 2, size=(3, 3)).astype(bool)
    emit("cast", "bool_to_fp32", {"x": tensor(xb), "dtype": const("fp32")}, [xb.astype(F32)])
    emit("cast", "bool_to_int32", {"x": tensor(xb), "dtype": const("int32")}, [xb.astype(I32)])
    emit("cast", "bool_to_fp16", {"x": tensor(xb), "dtype": const("fp16")}, [xb.astype(F16)])
    emit("cast", "ios15_fp32_to_int32", {"x": tensor(x), "dtype": const("int32")}, [x.astype(I32)], opset="ios15")
    emit("cast", "scalar_fp32_to_int32", {"x": tensor(F32(-3.9)), "dtype": const("int32")},
         [np.asarray(F32(-3.9)).astype(I32)])
    # iOS17 small integer types
    xs = np.array([-128, -1, 0, 1, 127, 42], dtype=I32)
    emit("cast", "int32_to_int8", {"x": tensor(xs), "dtype": const("int8")}, [xs.astype(np.int8)])
    emit("cast", "int32_to_int16", {"x": tensor(xs * 200), "dtype": const("int16")}, [(xs * 200).astype(np.int16)])
    xu = np.array([0, 1, 200, 255, 17], dtype=I32)
    emit("cast", "int32_to_uint8", {"x": tensor(xu), "dtype": const("uint8")}, [xu.astype(np.uint8)])
    emit("cast", "int32_to_uint16", {"x": tensor(xu * 250), "dtype": const("uint16")}, [(xu * 250).astype(np.uint16)])
    # out-of-range int -> narrower int wraps (numpy astype)
    xw = np.array([128, 255, 256, -129, 1000], dtype=I32)
    emit("cast", "int32_to_int8_wrap", {"x": tensor(xw), "dtype": const("int8")}, [xw.astype(np.int8)])
    xf = np.array([-100.7, -0.9, 0.9, 100.7, 12.5], dtype=F32)
    emit("cast", "fp32_to_int8", {"x": tensor(xf), "dtype": const("int8")}, [xf.astype(np.int8)])
    emit("cast", "fp16_to_uint8", {"x": tensor(np.abs(xf).astype(F16)), "dtype": const("uint8")},
         [np.abs(xf).astype(F16).astype(np.uint8)])
    x8 = np.array([-128, -3, 0, 5, 127], dtype=np.int8)
    emit("cast", "int8_to_fp32", {"x": tensor(x8), "dtype": const("fp32")}, [x8.astype(F32)])
    emit("cast", "int8_to_int32", {"x": tensor(x8), "dtype": const("int32")}, [x8.astype(I32)])
    emit("cast", "int8_to_bool", {"x": tensor(x8), "dtype": const("bool")}, [x8.astype(bool)])
    x16u = np.array([0, 1, 2049, 65535], dtype=np.uint16)
    emit("cast", "uint16_to_fp16", {"x": tensor(x16u), "dtype": const("fp16")}, [x16u.astype(F16)], compare="exact")
    xu8 = np.array([0, 7, 255], dtype=np.uint8)
    emit("cast", "uint8_to_int16", {"x": tensor(xu8), "dtype": const("int16")}, [xu8.astype(np.int16)])


def generate(emit):
    np.seterr(all="ignore")  # overflow to inf in the fp16 casts is intended
    gen_unary(emit)
    gen_eps_ops(emit)
    gen_threshold_clip(emit)
    gen_binary(emit)
    gen_compare(emit)
    gen_logical(emit)
    gen_select(emit)
    gen_cast(emit)
