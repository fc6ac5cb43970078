"""Op-eval cases for the quantization family (quantize, dequantize and the constexpr_* decompression ops).

Expected values are computed here with NumPy from the coremltools definitions (iOS17 quantization_ops.py,
iOS16 constexpr_ops.py, iOS18 compression.py docstrings):
  quantize    q = clip(np.around(x / scale) + zp)  (np.around = round half to even), x / scale in x's dtype
  dequantize  x = scale * (q - zp)
  constexpr_lut_to_dense iOS16: indices bit-packed LSB first (coreml-format.md §4.4); iOS18: per-group,
  vector palettization along vector_axis; constexpr_sparse_to_dense: mask bits set -> next nonzero value;
  constexpr_blockwise_shift_scale: scale[block] * (data - offset[block]).
iOS16/17 constexpr params are op attributes (opset ios16/ios17); iOS18 ones are const inputs.
Sub-byte dtypes are passed one value per element with a dtype override (common.const(a, dtype="uint4")).
"""
import numpy as np

from common import const, rng, tensor

ORACLE = "numpy"


# ---- helpers (independent of ironmill) --------------------------------------------------------------

def pack_lsb_first(values, nbits):
    """Packs unsigned ints of `nbits` each into bytes, element i at bits [i*n, i*n+n), LSB first."""
    bits = []
    for v in np.asarray(values).reshape(-1):
        v = int(v)
        bits.extend((v >> b) & 1 for b in range(nbits))
    return np.packbits(np.array(bits, dtype=np.uint8), bitorder="little")


def per_axis(param, rank, axis):
    """Reshapes a scalar / vector parameter to broadcast along `axis` of a rank-`rank` tensor."""
    p = np.asarray(param)
    if p.ndim == 0:
        return p.reshape([1] * rank)
    shape = [1] * rank
    shape[axis] = p.size
    return p.reshape(shape)


def np_quantize(x, scale, zp, axis, out_dtype):
    info = np.iinfo(out_dtype)
    sc = per_axis(scale, x.ndim, axis if axis is not None else 0)
    z = per_axis(np.zeros((), out_dtype) if zp is None else zp, x.ndim, axis if axis is not None else 0)
    q = np.around(x / sc.astype(x.dtype)) + z.astype(np.float32)
    return np.clip(q, info.min, info.max).astype(out_dtype)


def np_dequantize(q, scale, zp, axis):
    sc = per_axis(scale, q.ndim, axis if axis is not None else 0).astype(np.float64)
    z = per_axis(np.zeros(()) if zp is None else zp, q.ndim, axis if axis is not None else 0).astype(np.float64)
    return (sc * (q.astype(np.float64) - z)).astype(np.asarray(scale).dtype)


def lut18(indices, lut, vector_axis=None):
    """iOS18 LUT: each index picks a VS-vector from its group's table; vectors run along vector_axis."""
    k = indices.ndim
    groups = lut.shape[:k]
    full = lut
    for d in range(k):
        full = np.repeat(full, indices.shape[d] // groups[d], axis=d)  # table per element: S + [P, VS]
    picked = np.take_along_axis(full, indices.astype(np.int64)[..., None, None], axis=k)[..., 0, :]  # S + [VS]
    vs = lut.shape[-1]
    if vs == 1:
        return picked[..., 0]
    va = vector_axis % k
    moved = np.moveaxis(picked, -1, va + 1)  # S[:va+1] + [VS] + S[va+1:]
    shape = list(indices.shape)
    shape[va] *= vs
    return moved.reshape(shape)


def sparse_dense(mask, nonzero, dtype):
    out = np.zeros(mask.shape, dtype=dtype)
    out[mask != 0] = nonzero
    return out


def blockwise(data, scale, offset):
    d = data.astype(np.float64)
    s = scale.astype(np.float64)
    o = None if offset is None else offset.astype(np.float64)
    for ax in range(d.ndim):
        b = d.shape[ax] // s.shape[ax]
        s = np.repeat(s, b, axis=ax)
        if o is not None:
            o = np.repeat(o, b, axis=ax)
    if o is not None:
        d = d - o
    return (s * d).astype(scale.dtype)


# ---- cases ---------------------------------------------------------------------------------------------

def gen_quantize(emit):
    # Half-way quotients check round-half-to-even (np.around): 2.5 -> 2, 3.5 -> 4, -0.5 -> -0, -1.5 -> -2.
    x = np.array([[1.25, 1.75, -0.25, -0.75], [0.0, 100.0, -100.0, 3.3]], np.float32)
    scale = np.float32(0.5)
    zp = np.uint8(10)
    emit("quantize", "per_tensor_uint8_half_even_clip",
         {"input": tensor(x), "scale": const(scale), "zero_point": const(zp), "output_dtype": const("uint8")},
         [np_quantize(x, scale, zp, None, np.uint8)], oracle=ORACLE, opset="ios17")

    x = rng(1).normal(0, 60, size=(3, 5)).astype(np.float32)
    scale = np.float32(0.4)
    emit("quantize", "per_tensor_int8_no_zero_point",
         {"input": tensor(x), "scale": const(scale), "output_dtype": const("int8")},
         [np_quantize(x, scale, None, None, np.int8)], oracle=ORACLE, opset="ios17")

    x = rng(2).normal(0, 2, size=(2, 3, 4)).astype(np.float32)
    scale = np.array([0.02, 0.05, 0.1], np.float32)
    zp = np.array([-3, 0, 5], np.int8)
    emit("quantize", "per_axis1_int8",
         {"input": tensor(x), "scale": const(scale), "zero_point": const(zp), "axis": const(np.int32(1)),
          "output_dtype": const("int8")},
         [np_quantize(x, scale, zp, 1, np.int8)], oracle=ORACLE, opset="ios17")

    x = rng(3).uniform(-1, 4, size=(4, 3)).astype(np.float16)
    scale = np.array([0.03125, 0.0625, 0.015625], np.float16)
    zp = np.array([32, 64, 128], np.uint8)
    emit("quantize", "fp16_per_axis_neg1_uint8",
         {"input": tensor(x), "scale": const(scale), "zero_point": const(zp), "axis": const(np.int32(-1)),
          "output_dtype": const("uint8")},
         [np_quantize(x, scale, zp, 1, np.uint8)], oracle=ORACLE, opset="ios18")

    x = rng(4).normal(0, 1, size=(3, 2)).astype(np.float32)
    scale = np.array([0.01, 0.02, 0.03], np.float32)
    emit("quantize", "per_axis0_uint8_no_zero_point",
         {"input": tensor(x), "scale": const(scale), "axis": const(np.int32(0)), "output_dtype": const("uint8")},
         [np_quantize(x, scale, None, 0, np.uint8)], oracle=ORACLE, opset="ios17")


def gen_dequantize(emit):
    q = rng(5).integers(0, 256, size=(2, 5)).astype(np.uint8)
    scale = np.float32(0.1)
    zp = np.uint8(128)
    emit("dequantize", "per_tensor_uint8",
         {"input": tensor(q), "scale": const(scale), "zero_point": const(zp)},
         [np_dequantize(q, scale, zp, None)], oracle=ORACLE, opset="ios17")

    q = rng(6).integers(-128, 128, size=(3, 4)).astype(np.int8)
    scale = np.array([0.5, 0.25, 0.125], np.float16)
    zp = np.array([1, -2, 3], np.int8)
    emit("dequantize", "per_axis0_int8_fp16",
         {"input": tensor(q), "scale": const(scale), "zero_point": const(zp), "axis": const(np.int32(0))},
         [np_dequantize(q, scale, zp, 0)], oracle=ORACLE, opset="ios17")

    q = rng(7).integers(-128, 128, size=(6,)).astype(np.int8)
    scale = np.float32(0.03)
    emit("dequantize", "per_tensor_int8_no_zero_point",
         {"input": tensor(q), "scale": const(scale)},
         [np_dequantize(q, scale, None, None)], oracle=ORACLE, opset="ios18")

    q = rng(8).integers(0, 256, size=(2, 2, 3)).astype(np.uint8)
    scale = np.array([0.2, 0.4, 0.8], np.float32)
    zp = np.array([0, 100, 255], np.uint8)
    emit("dequantize", "per_axis_neg1_uint8",
         {"input": tensor(q), "scale": const(scale), "zero_point": const(zp), "axis": const(np.int32(-1))},
         [np_dequantize(q, scale, zp, 2)], oracle=ORACLE, opset="ios17")


def gen_affine(emit):
    q = rng(9).integers(0, 256, size=(3, 4)).astype(np.uint8)
    scale = np.array([0.01, 0.02, 0.04], np.float16)
    zp = np.uint8(127)
    emit("constexpr_affine_dequantize", "ios16_vector_scale_scalar_zp_fp16", {},
         [np_dequantize(q, scale, zp, 0)], oracle=ORACLE, opset="ios16",
         attributes={"quantized_data": tensor(q), "scale": tensor(scale), "zero_point": tensor(zp),
                     "axis": tensor(np.int32(0))})

    q = rng(10).integers(-128, 128, size=(2, 3)).astype(np.int8)
    scale = np.float32(0.05)
    zp = np.array([0.5, -1.5, 2.0], np.float32)
    emit("constexpr_affine_dequantize", "ios17_fp32_zero_point_axis_neg1", {},
         [np_dequantize(q, scale, zp, 1)], oracle=ORACLE, opset="ios17",
         attributes={"quantized_data": tensor(q), "scale": tensor(scale), "zero_point": tensor(zp),
                     "axis": tensor(np.int32(-1))})

    q = rng(11).integers(-128, 128, size=(4, 2)).astype(np.int8)
    scale = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    zp = np.array([1, 2, 3, 4], np.int8)
    emit("constexpr_affine_dequantize", "ios18_inputs_per_axis",
         {"quantized_data": const(q), "scale": const(scale), "zero_point": const(zp), "axis": const(np.int32(0))},
         [np_dequantize(q, scale, zp, 0)], oracle=ORACLE, opset="ios18")


def gen_cast(emit):
    x = np.array([[1.0, -2.5, 65504.0], [6.1e-5, 0.333, -0.0]], np.float16)
    emit("constexpr_cast", "ios16_fp16_to_fp32", {}, [x.astype(np.float32)], oracle=ORACLE, opset="ios16",
         attributes={"source_val": tensor(x), "output_dtype": tensor("fp32")})
    x = rng(12).normal(size=(2, 2, 3)).astype(np.float16)
    emit("constexpr_cast", "ios18_inputs", {"source_val": const(x), "output_dtype": const("fp32")},
         [x.astype(np.float32)], oracle=ORACLE, opset="ios18")


def gen_lut_to_dense(emit):
    # The coremltools docstring example: nbits = 2, shape (5,) -> 2 bytes.
    idx = np.array([0, 3, 2, 1, 3])
    lut = np.array([-1.0, 0.5, 2.0, 4.0], np.float32)
    shape = np.array([5], np.uint32)
    emit("constexpr_lut_to_dense", "ios16_2bit_doc_example", {}, [lut[idx]], oracle=ORACLE, opset="ios16",
         attributes={"indices": tensor(pack_lsb_first(idx, 2)), "lut": tensor(lut), "shape": tensor(shape)})

    idx = rng(13).integers(0, 16, size=(3, 4))
    lut = rng(14).normal(size=16).astype(np.float16)
    emit("constexpr_lut_to_dense", "ios16_4bit_fp16", {}, [lut[idx]], oracle=ORACLE, opset="ios16",
         attributes={"indices": tensor(pack_lsb_first(idx, 4)), "lut": tensor(lut),
                     "shape": tensor(np.array([3, 4], np.uint32))})

    idx = rng(15).integers(0, 64, size=(2, 5))  # 6-bit fields straddle bytes
    lut = rng(16).integers(-128, 128, size=64).astype(np.int8)
    emit("constexpr_lut_to_dense", "ios17_6bit_int8_straddling", {}, [lut[idx]], oracle=ORACLE, opset="ios17",
         attributes={"indices": tensor(pack_lsb_first(idx, 6)), "lut": tensor(lut),
                     "shape": tensor(np.array([2, 5], np.uint32))})

    idx = rng(17).integers(0, 2, size=(1, 11))
    lut = np.array([7, 200], np.uint8)
    emit("constexpr_lut_to_dense", "ios16_1bit_uint8", {}, [lut[idx]], oracle=ORACLE, opset="ios16",
         attributes={"indices": tensor(pack_lsb_first(idx, 1)), "lut": tensor(lut),
                     "shape": tensor(np.array([1, 11], np.uint32))})

    # iOS18: per-tensor 4-bit scalar palettization.
    idx = rng(18).integers(0, 16, size=(4, 6))
    lut = rng(19).normal(size=(1, 1, 16, 1)).astype(np.float16)
    emit("constexpr_lut_to_dense", "ios18_uint4_per_tensor",
         {"indices": const(idx.astype(np.uint8), dtype="uint4"), "lut": const(lut)},
         [lut18(idx, lut)], oracle=ORACLE, opset="ios18")

    # The coremltools docstring's per-group example (two tables along axis 0).
    idx = np.array([2, 3, 3, 0, 1, 0, 3, 0, 2, 1, 0, 3]).reshape(6, 2)
    lut = np.array([1.0, 5.0, 9.0, 13.0, 2.0, 10.0, 18.0, 26.0], np.float16).reshape(2, 1, 4, 1)
    expected = lut18(idx, lut)
    assert expected[0, 0] == 9.0 and expected[3, 0] == 26.0 and expected[5, 1] == 26.0  # docstring values
    emit("constexpr_lut_to_dense", "ios18_uint2_per_group_doc_example",
         {"indices": const(idx.astype(np.uint8), dtype="uint2"), "lut": const(lut)},
         [expected], oracle=ORACLE, opset="ios18")

    # The docstring's vector palettization example (uint1, VS = 3) along axis 1 and axis 2.
    idx = np.array([[[0, 0], [1, 0]], [[1, 1], [0, 0]]])
    lut = np.array([1, 2, 3, -4, -5, -6], np.int8).reshape(1, 1, 1, 2, 3)
    for va, name in ((1, "ios18_uint1_vector_axis1_doc_example"), (-1, "ios18_uint1_vector_axis_neg1")):
        emit("constexpr_lut_to_dense", name,
             {"indices": const(idx.astype(np.uint8), dtype="uint1"), "lut": const(lut),
              "vector_axis": const(np.int32(va))},
             [lut18(idx, lut, va)], oracle=ORACLE, opset="ios18")

    # Groups on both axes, 3-bit indices, VS = 2 along axis 0.
    idx = rng(20).integers(0, 8, size=(4, 6))
    lut = rng(21).normal(size=(2, 3, 8, 2)).astype(np.float32)
    emit("constexpr_lut_to_dense", "ios18_uint3_grouped_vector_axis0",
         {"indices": const(idx.astype(np.uint8), dtype="uint3"), "lut": const(lut),
          "vector_axis": const(np.int32(0))},
         [lut18(idx, lut, 0)], oracle=ORACLE, opset="ios18")

    idx = rng(22).integers(0, 64, size=(3, 2))
    lut = rng(23).integers(0, 256, size=(1, 2, 64, 1)).astype(np.uint8)
    emit("constexpr_lut_to_dense", "ios18_uint6_per_column_uint8",
         {"indices": const(idx.astype(np.uint8), dtype="uint6"), "lut": const(lut)},
         [lut18(idx, lut)], oracle=ORACLE, opset="ios18")


def gen_sparse_to_dense(emit):
    mask = rng(24).integers(0, 2, size=(2, 5))
    nz = rng(25).normal(size=int(mask.sum())).astype(np.float16)
    emit("constexpr_sparse_to_dense", "ios16_fp16_2x5", {}, [sparse_dense(mask, nz, np.float16)], oracle=ORACLE,
         opset="ios16",
         attributes={"nonzero_data": tensor(nz), "mask": tensor(np.packbits(mask.reshape(-1).astype(np.uint8),
                                                                             bitorder="little")),
                     "shape": tensor(np.array([2, 5], np.uint32))})

    mask = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]])
    nz = np.array([-5, 7, 100, -128, 1], np.int8)
    emit("constexpr_sparse_to_dense", "ios17_int8_3x3", {}, [sparse_dense(mask, nz, np.int8)], oracle=ORACLE,
         opset="ios17",
         attributes={"nonzero_data": tensor(nz), "mask": tensor(np.packbits(mask.reshape(-1).astype(np.uint8),
                                                                             bitorder="little")),
                     "shape": tensor(np.array([3, 3], np.uint32))})

    mask = rng(26).integers(0, 2, size=(4, 4))
    nz = rng(27).normal(size=int(mask.sum())).astype(np.float32)
    emit("constexpr_sparse_to_dense", "ios18_uint1_mask_fp32",
         {"nonzero_data": const(nz), "mask": const(mask.astype(np.uint8), dtype="uint1")},
         [sparse_dense(mask, nz, np.float32)], oracle=ORACLE, opset="ios18")

    mask = rng(28).integers(0, 2, size=(2, 3, 2))
    nz = rng(29).integers(-8, 8, size=int(mask.sum())).astype(np.int8)
    emit("constexpr_sparse_to_dense", "ios18_int4_rank3",
         {"nonzero_data": const(nz, dtype="int4"), "mask": const(mask.astype(np.uint8), dtype="uint1")},
         [tensor(sparse_dense(mask, nz, np.int8), dtype="int4")], oracle=ORACLE, opset="ios18")


def gen_blockwise(emit):
    data = rng(30).integers(-8, 8, size=(4, 8)).astype(np.int8)
    scale = rng(31).uniform(0.01, 0.1, size=(1, 2)).astype(np.float32)
    offset = np.array([[-2, 3]], np.int8)
    emit("constexpr_blockwise_shift_scale", "int4_blocks_of_4_with_offset",
         {"data": const(data, dtype="int4"), "scale": const(scale), "offset": const(offset, dtype="int4")},
         [blockwise(data, scale, offset)], oracle=ORACLE, opset="ios18")

    data = rng(32).integers(0, 256, size=(4, 6)).astype(np.uint8)
    scale = rng(33).uniform(0.001, 0.01, size=(2, 3)).astype(np.float16)
    emit("constexpr_blockwise_shift_scale", "uint8_2x2_blocks_fp16_no_offset",
         {"data": const(data), "scale": const(scale)},
         [blockwise(data, scale, None)], oracle=ORACLE, opset="ios18")

    data = rng(34).integers(-128, 128, size=(4, 3)).astype(np.int8)
    scale = rng(35).uniform(0.01, 0.05, size=(4, 1)).astype(np.float32)
    offset = rng(36).normal(size=(4, 1)).astype(np.float32)
    emit("constexpr_blockwise_shift_scale", "int8_per_channel_fp32_offset",
         {"data": const(data), "scale": const(scale), "offset": const(offset)},
         [blockwise(data, scale, offset)], oracle=ORACLE, opset="ios18")

    data = rng(37).normal(size=(2, 4)).astype(np.float16)
    scale = np.array([[0.5, 2.0]], np.float16)
    offset = np.array([[0.25, -1.0]], np.float16)
    emit("constexpr_blockwise_shift_scale", "fp16_data_fp16_offset",
         {"data": const(data), "scale": const(scale), "offset": const(offset)},
         [blockwise(data, scale, offset)], oracle=ORACLE, opset="ios18")

    data = rng(38).integers(0, 16, size=(2, 4, 6)).astype(np.uint8)
    scale = rng(39).uniform(0.05, 0.2, size=(1, 2, 3)).astype(np.float32)
    offset = rng(40).integers(0, 16, size=(1, 2, 3)).astype(np.uint8)
    emit("constexpr_blockwise_shift_scale", "uint4_rank3",
         {"data": const(data, dtype="uint4"), "scale": const(scale), "offset": const(offset, dtype="uint4")},
         [blockwise(data, scale, offset)], oracle=ORACLE, opset="ios18")


def gen_lut_to_sparse(emit):
    # The coremltools docstring example, scalar then vector palettization.
    mask = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 1], [0, 1, 1, 0, 1, 0], [0, 0, 0, 1, 0, 0]])
    nz = np.array([0, 1, 1, 0, 1, 1, 0, 0, 1])
    lut = np.array([2.0, 3.0], np.float16).reshape(1, 1, 2, 1)
    dense = lut18(sparse_dense(mask, nz, np.int64), lut)
    expected_vals = dense[mask != 0]
    assert list(expected_vals) == [2.0, 3.0, 3.0, 2.0, 3.0, 3.0, 2.0, 2.0, 3.0]  # docstring
    emit("constexpr_lut_to_sparse", "scalar_doc_example",
         {"indices_mask": const(mask.astype(np.uint8), dtype="uint1"),
          "indices_nonzero_data": const(nz.astype(np.uint8), dtype="uint1"), "lut": const(lut)},
         [tensor(mask.astype(np.uint8), dtype="uint1"), expected_vals], oracle=ORACLE, opset="ios18")

    lut = np.array([[2.0, 2.5], [3.0, 3.5]], np.float16).reshape(1, 1, 2, 2)
    dense = lut18(sparse_dense(mask, nz, np.int64), lut, 0)
    out_mask = np.repeat(mask, 2, axis=0)
    emit("constexpr_lut_to_sparse", "vector_axis0_doc_example",
         {"indices_mask": const(mask.astype(np.uint8), dtype="uint1"),
          "indices_nonzero_data": const(nz.astype(np.uint8), dtype="uint1"), "lut": const(lut),
          "vector_axis": const(np.int32(0))},
         [tensor(out_mask.astype(np.uint8), dtype="uint1"), dense[out_mask != 0]], oracle=ORACLE, opset="ios18")

    mask = rng(41).integers(0, 2, size=(2, 4))
    nz = rng(42).integers(0, 4, size=int(mask.sum()))
    lut = rng(43).normal(size=(2, 1, 4, 1)).astype(np.float32)
    dense = lut18(sparse_dense(mask, nz, np.int64), lut)
    emit("constexpr_lut_to_sparse", "uint2_per_group_fp32",
         {"indices_mask": const(mask.astype(np.uint8), dtype="uint1"),
          "indices_nonzero_data": const(nz.astype(np.uint8), dtype="uint2"), "lut": const(lut)},
         [tensor(mask.astype(np.uint8), dtype="uint1"), dense[mask != 0]], oracle=ORACLE, opset="ios18")


def gen_sparse_blockwise(emit):
    # The coremltools docstring example (per-column scale / offset).
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0]])
    nz = np.array([10, 11, 3, 4, 5, 6, 7, 8, 9], np.int8)
    scale = np.array([[0.1, 0.2, 0.3, 0.4]], np.float32)
    offset = np.array([[1, 2, 3, 4]], np.int8)
    dense = blockwise(sparse_dense(mask, nz, np.int8), scale, offset)
    emit("constexpr_sparse_blockwise_shift_scale", "int8_per_column_doc_example",
         {"data_mask": const(mask.astype(np.uint8), dtype="uint1"), "nonzero_data": const(nz),
          "scale": const(scale), "offset": const(offset)},
         [tensor(mask.astype(np.uint8), dtype="uint1"), dense[mask != 0]], oracle=ORACLE, opset="ios18")

    mask = rng(44).integers(0, 2, size=(4, 4))
    nz = rng(45).integers(-8, 8, size=int(mask.sum())).astype(np.int8)
    scale = rng(46).uniform(0.1, 1.0, size=(2, 2)).astype(np.float16)
    dense = blockwise(sparse_dense(mask, nz, np.int8), scale, None)
    emit("constexpr_sparse_blockwise_shift_scale", "int4_2x2_blocks_fp16",
         {"data_mask": const(mask.astype(np.uint8), dtype="uint1"), "nonzero_data": const(nz, dtype="int4"),
          "scale": const(scale)},
         [tensor(mask.astype(np.uint8), dtype="uint1"), dense[mask != 0]], oracle=ORACLE, opset="ios18")


def generate(emit):
    gen_quantize(emit)
    gen_dequantize(emit)
    gen_affine(emit)
    gen_cast(emit)
    gen_lut_to_dense(emit)
    gen_sparse_to_dense(emit)
    gen_blockwise(emit)
    gen_lut_to_sparse(emit)
    gen_sparse_blockwise(emit)
